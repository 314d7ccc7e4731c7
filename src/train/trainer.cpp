#include "loom/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/jsonl.h"
#include "loom/models/generate.h"
#include "loom/models/model_dir.h"
#include "loom/nn/fused_ops.h"
#include "loom/tensor/eval_mode.h"
#include "loom/train/checkpoint.h"
#include "loom/train/fused_adamw.h"
#include "loom/train/schedule.h"

namespace loom {
namespace fs = std::filesystem;

// ---------- DataCursor ----------

DataCursor::DataCursor(const std::vector<Example>* examples, const Packing& packing, int64_t batch_size,
                       int64_t token_budget, uint64_t seed)
    : examples_(examples), packing_(packing), batch_size_(batch_size), token_budget_(token_budget), seed_(seed) {
  if (examples_->empty()) throw Error("training data is empty");
  plan();
}

void DataCursor::plan() {
  groups_ = plan_micro_batches(*examples_, shuffled_indices(examples_->size(), seed_, static_cast<uint64_t>(epoch_)),
                               packing_, batch_size_, token_budget_);
}

std::vector<size_t> DataCursor::next() {
  if (cursor_ >= static_cast<int64_t>(groups_.size())) {
    ++epoch_;
    cursor_ = 0;
    plan();
  }
  return groups_[static_cast<size_t>(cursor_++)];
}

void DataCursor::seek(int64_t epoch, int64_t cursor) {
  if (epoch < 0) throw Error("data epoch " + std::to_string(epoch) + " is negative");
  const int64_t old_epoch = epoch_;
  epoch_ = epoch;
  plan();
  // cursor == the epoch's length is where a finished epoch stops.
  if (cursor < 0 || cursor > static_cast<int64_t>(groups_.size())) {
    epoch_ = old_epoch;
    plan();
    throw Error("data cursor " + std::to_string(cursor) + " is outside epoch " + std::to_string(epoch) +
                ", which has " + std::to_string(groups_.size()) +
                " micro-batches (was the checkpoint taken with other data or batch settings?)");
  }
  cursor_ = cursor;
}

// ---------- Trainer ----------

namespace {

std::string format_duration(double seconds) {
  int s = static_cast<int>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%dh%02dm", s / 3600, (s / 60) % 60);
  else
    std::snprintf(buf, sizeof(buf), "%dm%02ds", s / 60, s % 60);
  return buf;
}

std::vector<const Example*> pointers(const std::vector<Example>& examples, const std::vector<size_t>& group) {
  std::vector<const Example*> out;
  for (size_t i : group) out.push_back(&examples[i]);
  return out;
}

}  // namespace

Trainer::Trainer(TrainOptions options, CausalLM model, const Tokenizer& tokenizer, std::vector<Example> train,
                 std::vector<Example> valid, Communicator* comm, std::string out_dir)
    : options_(std::move(options)),
      model_(std::move(model)),
      tokenizer_(tokenizer),
      train_(std::move(train)),
      valid_(std::move(valid)),
      comm_(comm),
      out_dir_(std::move(out_dir)),
      cursor_(&train_, options_.packing, options_.micro_batch_size,
              options_.bin_tokens > 0 ? options_.bin_tokens : options_.micro_batch_size * options_.dataset.max_seq_len,
              options_.seed) {
  if (options_.grad_accum < 1) throw Error("grad_accum must be at least 1");
  if (options_.max_steps < 0) throw Error("max_steps must be non-negative");
  // Decoupled weight decay on matrices only; norms' gains are not decayed.
  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model_->parameters()) {
    if (!p.requires_grad()) continue;
    params_.push_back(p);
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  if (params_.empty()) throw Error("the model has no trainable parameters");
  auto make_opts = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(options_.lr)
                                                            .betas({options_.beta1, options_.beta2})
                                                            .eps(options_.eps)
                                                            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty()) groups.emplace_back(decay, make_opts(options_.weight_decay));
  if (!no_decay.empty()) groups.emplace_back(no_decay, make_opts(0.0));
  optimizer_ = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(options_.lr));
  // Process-wide: evaluation and generation after training use the same ops.
  set_fused_ops({options_.fused_cross_entropy, options_.fused_swiglu, options_.fused_rope});
  // Every rank starts from rank 0's weights, whatever each initialised.
  comm_->broadcast_from_root(params_);
}

int64_t Trainer::trainable_parameters() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.numel();
  return n;
}

int64_t Trainer::optimizer_state_bytes() const {
  int64_t bytes = 0;
  for (const auto& [key, state] : optimizer_->state()) {
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*state);
    for (const auto& t : {s.exp_avg(), s.exp_avg_sq(), s.max_exp_avg_sq()})
      if (t.defined()) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  }
  return bytes;
}

StepResult Trainer::train_step() {
  auto start = std::chrono::steady_clock::now();
  const int world = comm_->world_size(), rank = comm_->rank();
  // Dropout draws from LibTorch's global generator, which Debian's LibTorch
  // seeds from the clock at start-up: seeding it per step from (seed, step,
  // rank) makes runs repeatable and resume exact without storing generator
  // state in checkpoints.
  torch::manual_seed((options_.seed * 0x9E3779B97F4A7C15ULL) ^ (static_cast<uint64_t>(step_) * 0xBF58476D1CE4E5B9ULL) ^
                     static_cast<uint64_t>(rank));
  const int64_t micro_batches = options_.grad_accum * world;
  // Every rank plans the whole global step, so each knows the global label
  // count without communicating, and takes micro-batches rank, rank+world, ...
  std::vector<PackedBatch> batches;
  int64_t global_labels = 0, global_tokens = 0;
  for (int64_t i = 0; i < micro_batches; ++i) {
    PackedBatch b = collate(pointers(train_, cursor_.next()), options_.packing, tokenizer_.pad_id());
    global_labels += b.num_label_tokens;
    global_tokens += b.num_real_tokens;
    if (i % world == rank) batches.push_back(std::move(b));
  }
  const double lr =
      warmup_cosine_lr(step_, options_.max_steps, options_.warmup_steps, options_.lr, options_.min_lr_ratio);
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
  optimizer_->zero_grad();
  for (auto& p : params_)
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
  double local_loss = 0;
  const double normalizer = static_cast<double>(std::max<int64_t>(global_labels, 1));
  for (const auto& b : batches) {
    const BatchTensors t = to_tensors(b);
    local_loss += micro_batch_step_ ? micro_batch_step_(t, normalizer) : default_micro_batch_step(t, normalizer);
  }
  if (rank == 0) {
    for (auto& term : regularizers_) {
      auto extra = term();
      extra.backward();
      local_loss += extra.item<double>();
    }
  }
  auto loss_tensor = torch::tensor({local_loss}, torch::kFloat);
  std::vector<torch::Tensor> grads;
  for (auto& p : params_) grads.push_back(p.mutable_grad());
  grads.push_back(loss_tensor);
  comm_->all_reduce_sum(grads);
  double grad_norm = options_.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(params_, options_.grad_clip)
                                            : torch::nn::utils::clip_grad_norm_(params_, 1e30);
  if (options_.fused_adamw)
    fused_adamw_step(*optimizer_);
  else
    optimizer_->step();
  ++step_;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {step_, loss_tensor.item<double>(), lr, grad_norm, static_cast<double>(global_tokens) / seconds};
}

void Trainer::add_loss_term(LossTerm term, bool keep_layer_hidden) {
  loss_terms_.push_back(std::move(term));
  keep_layer_hidden_ |= keep_layer_hidden;
}

double Trainer::default_micro_batch_step(const BatchTensors& batch, double label_normalizer) {
  ModelOutput out = model_->forward_hidden(batch, keep_layer_hidden_);
  auto loss = lm_loss_sum(out.hidden, model_->output_weight(), batch.labels) / label_normalizer;
  if (!loss_terms_.empty()) {
    LossContext context{batch, *model_, out, label_normalizer};
    for (auto& term : loss_terms_) loss = loss + term(context);
  }
  loss.backward();
  return loss.item<double>();
}

LossStats evaluate_loss(CausalLMImpl& model, const std::vector<Example>& examples, int32_t pad_id,
                        int64_t micro_batch_size, int64_t max_batches, Communicator* comm) {
  LossStats stats;
  if (examples.empty()) return stats;
  torch::NoGradGuard no_grad;
  EvalModeScope eval_mode(model);
  const int world = comm ? comm->world_size() : 1, rank = comm ? comm->rank() : 0;
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto groups = plan_micro_batches(examples, order, Packing::PaddingFree, micro_batch_size, 0);
  if (max_batches > 0 && static_cast<int64_t>(groups.size()) > max_batches)
    groups.resize(static_cast<size_t>(max_batches));
  auto totals = torch::zeros({2}, torch::kDouble);  // loss sum, label count
  for (size_t i = static_cast<size_t>(rank); i < groups.size(); i += static_cast<size_t>(world)) {
    PackedBatch b = collate(pointers(examples, groups[i]), Packing::PaddingFree, pad_id);
    totals[0] += model.loss_sum(to_tensors(b)).item<double>();
    totals[1] += static_cast<double>(b.num_label_tokens);
  }
  if (comm) comm->all_reduce_sum({totals});
  stats.label_tokens = static_cast<int64_t>(totals[1].item<double>());
  stats.loss = totals[0].item<double>() / std::max(1.0, totals[1].item<double>());
  stats.perplexity = std::exp(stats.loss);
  return stats;
}

double Trainer::evaluate() {
  return evaluate_loss(*model_, valid_, tokenizer_.pad_id(), options_.micro_batch_size, options_.eval_max_batches,
                       comm_)
      .loss;
}

void Trainer::log_metrics(const nlohmann::json& record) {
  if (comm_->rank() != 0) return;
  std::ofstream out(out_dir_ + "/metrics.jsonl", std::ios::app);
  out << record.dump() << "\n";
}

void Trainer::save(bool final_model) {
  CheckpointState state;
  state.step = step_;
  state.epoch = cursor_.epoch();
  state.cursor = cursor_.cursor();
  if (comm_->rank() == 0) {
    save_checkpoint(out_dir_, state, *model_, *optimizer_, options_.keep_checkpoints);
    if (final_model) {
      // Extension weights (LoRA factors) are not part of the model
      // directory; artifact writers store them beside it.
      save_model_dir(out_dir_ + "/model", *model_, tokenizer_);
      for (auto& write : artifact_writers_) write(out_dir_);
    }
  }
  comm_->barrier();
}

void Trainer::run(bool resume) {
  make_dirs(out_dir_);
  if (resume) {
    if (auto state = load_latest_checkpoint(out_dir_, *model_, *optimizer_)) {
      if (state->step > options_.max_steps)
        throw Error(state->source + ": step " + std::to_string(state->step) + " is beyond max_steps " +
                    std::to_string(options_.max_steps));
      try {
        cursor_.seek(state->epoch, state->cursor);
      } catch (const Error& e) {
        throw Error(state->source + ": " + e.what());
      }
      step_ = state->step;
      // Drop metric lines written after the checkpoint, so that the resumed
      // log reads exactly like an uninterrupted one.
      if (comm_->rank() == 0) truncate_jsonl_to_step(out_dir_ + "/metrics.jsonl", step_);
      if (comm_->rank() == 0) std::cerr << "loom: resumed from step " << step_ << "\n";
    }
  } else if (comm_->rank() == 0) {
    write_file_atomic(out_dir_ + "/metrics.jsonl", "");
  }
  const bool tty = options_.progress && isatty(STDERR_FILENO);
  auto run_start = std::chrono::steady_clock::now();
  const int64_t first_step = step_;
  double loss_window = 0;
  int64_t window_steps = 0;
  while (step_ < options_.max_steps) {
    StepResult r = train_step();
    loss_window += r.loss;
    ++window_steps;
    bool log_now = r.step % std::max<int64_t>(options_.log_every, 1) == 0 || r.step == options_.max_steps;
    bool eval_now = (options_.eval_every > 0 && r.step % options_.eval_every == 0) || r.step == options_.max_steps;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    double eta = elapsed / static_cast<double>(r.step - first_step) * static_cast<double>(options_.max_steps - r.step);
    if (comm_->rank() == 0 && (tty || log_now)) {
      char line[200];
      std::snprintf(line, sizeof(line), "step %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s",
                    static_cast<long long>(r.step), static_cast<long long>(options_.max_steps), r.loss, r.lr,
                    r.tokens_per_s, format_duration(eta).c_str());
      std::cerr << (tty ? "\r" : "") << line << (tty ? "\033[K" : "\n") << std::flush;
    }
    if (log_now || eval_now) {
      nlohmann::json record = {{"step", r.step},
                               {"loss", r.loss},
                               {"lr", r.lr},
                               {"grad_norm", r.grad_norm},
                               {"tokens_per_s", r.tokens_per_s}};
      if (window_steps > 0) record["loss_avg"] = loss_window / static_cast<double>(window_steps);
      if (eval_now) {
        double v = evaluate();
        record["val_loss"] = v;
        record["val_ppl"] = std::exp(v);
        if (comm_->rank() == 0)
          std::cerr << (tty ? "\n" : "") << "step " << r.step << "  val_loss " << v << "  val_ppl " << std::exp(v)
                    << "\n";
      }
      log_metrics(record);
      loss_window = 0;
      window_steps = 0;
    }
    bool checkpoint_now = options_.checkpoint_every > 0 && r.step % options_.checkpoint_every == 0;
    if (checkpoint_now && r.step != options_.max_steps) save(false);
  }
  if (tty && comm_->rank() == 0) std::cerr << "\n";
  save(true);
  if (comm_->rank() == 0 && !options_.sample_prompt.empty()) {
    GenerateOptions g;
    g.max_new_tokens = options_.sample_tokens;
    std::cout << "sample: " << options_.sample_prompt << generate_text(*model_, tokenizer_, options_.sample_prompt, g)
              << "\n";
  }
}

}  // namespace loom
