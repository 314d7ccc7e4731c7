#include "loom/supernet/loop.h"

#include <time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "loom/core/atomic_file.h"
#include "loom/core/dataset.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/train/checkpoint.h"
#include "loom/train/schedule.h"

namespace loom {

ParamSchema<LoopOptions> loop_options_schema(const std::string& prefix) {
  using O = LoopOptions;
  ParamSchema<O> s;
  s.add(prefix + "steps", &O::steps, "optimizer steps", {0, 1e9})
      .add(prefix + "batch_size", &O::batch_size, "examples per step", {1, 1e7})
      .add(prefix + "lr", &O::lr, "peak learning rate (AdamW)", {0, 10})
      .add(prefix + "min_lr_ratio", &O::min_lr_ratio, "final learning rate / peak (cosine)", {0, 1})
      .add(prefix + "weight_decay", &O::weight_decay, "decoupled weight decay of matrices", {0, 10})
      .add(prefix + "warmup_steps", &O::warmup_steps, "linear warm-up steps", {0, 1e9})
      .add(prefix + "grad_clip", &O::grad_clip, "gradient norm clip; 0 = off", {0, 1e9})
      .add(prefix + "log_every", &O::log_every, "steps between metric lines", {1, 1e9})
      .add(prefix + "checkpoint_every", &O::checkpoint_every, "steps between checkpoints; 0 = none before the end",
           {0, 1e9});
  return s;
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

StepBatches::StepBatches(size_t n, int64_t batch_size, uint64_t seed) : n_(n), batch_size_(batch_size), seed_(seed) {
  if (n_ == 0) throw Error("training data is empty");
  if (batch_size_ < 1) throw Error("batch_size must be at least 1");
}

std::vector<size_t> StepBatches::batch(int64_t step) const {
  std::vector<size_t> out;
  const uint64_t begin = static_cast<uint64_t>(step) * static_cast<uint64_t>(batch_size_);
  uint64_t epoch = begin / n_;
  std::vector<size_t> order = shuffled_indices(n_, seed_, epoch);
  for (uint64_t k = begin; k < begin + static_cast<uint64_t>(batch_size_); ++k) {
    if (k / n_ != epoch) {
      epoch = k / n_;
      order = shuffled_indices(n_, seed_, epoch);
    }
    out.push_back(order[k % n_]);
  }
  return out;
}

LoopResult run_training_loop(const LoopOptions& o, torch::nn::Module& module, const std::string& out_dir, bool resume,
                             const std::function<nlohmann::json(int64_t step)>& step_fn,
                             const std::function<nlohmann::json()>& evaluate, int64_t eval_every) {
  const bool files = !out_dir.empty();
  if (files) make_dirs(out_dir);
  std::vector<torch::Tensor> params, decay, no_decay;
  for (auto& p : module.parameters()) {
    if (!p.requires_grad()) continue;
    params.push_back(p);
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  if (params.empty()) throw Error("the model has no trainable parameters");
  auto make_opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty()) groups.emplace_back(decay, make_opts(o.weight_decay));
  if (!no_decay.empty()) groups.emplace_back(no_decay, make_opts(0.0));
  torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(o.lr));

  LoopResult result;
  int64_t step = 0;
  const std::string metrics = out_dir + "/metrics.jsonl";
  if (resume && files) {
    if (auto state = load_latest_checkpoint(out_dir, module, optimizer)) {
      step = state->step;
      result.resumed = true;
      truncate_jsonl_to_step(metrics, step);  // the resumed log reads like an uninterrupted one
    }
  }
  if (files && !result.resumed) write_file_atomic(metrics, "");
  const double cpu0 = process_cpu_seconds();
  const auto wall0 = std::chrono::steady_clock::now();
  std::ofstream log;
  if (files) log.open(metrics, std::ios::app);
  while (step < o.steps) {
    const double lr = warmup_cosine_lr(step, o.steps, o.warmup_steps, o.lr, o.min_lr_ratio);
    for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
    optimizer.zero_grad();
    nlohmann::json record = step_fn(step);
    const double grad_norm = torch::nn::utils::clip_grad_norm_(params, o.grad_clip > 0 ? o.grad_clip : 1e30);
    optimizer.step();
    ++step;
    ++result.steps;
    const bool eval_now = evaluate && ((eval_every > 0 && step % eval_every == 0) || step == o.steps);
    if (eval_now) record.update(evaluate());
    if (files && (step % o.log_every == 0 || step == o.steps || eval_now)) {
      record["step"] = step;
      record["lr"] = lr;
      record["grad_norm"] = grad_norm;
      log << record.dump() << "\n" << std::flush;
    }
    if (files && o.checkpoint_every > 0 && step % o.checkpoint_every == 0 && step != o.steps)
      save_checkpoint(out_dir, {step, 0, 0, {}, ""}, module, optimizer, 1);
  }
  if (files && result.steps > 0) save_checkpoint(out_dir, {step, 0, 0, {}, ""}, module, optimizer, 1);
  result.cpu_seconds = process_cpu_seconds() - cpu0;
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return result;
}

}  // namespace loom
