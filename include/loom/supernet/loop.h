// The optimisation loop of supernet training on data that is not a packed
// token stream of a causal LM (encoder classification, masked-LM
// pretraining, images): AdamW with warmup + cosine (train/schedule.h),
// gradient clipping, JSONL metrics, and atomic checkpoints of the module and
// the optimizer (train/checkpoint.h) with exact resume. Batches and subnets
// are functions of the step number (StepBatches, step_rng), so a resumed run
// draws exactly what an uninterrupted one would. Decoder LM supernets use
// loom::Trainer with set_micro_batch_step instead.
//
//   loom::LoopResult r = loom::run_training_loop(opts, *model, "runs/x/stage-1", /*resume=*/true,
//       [&](int64_t step) { /* forward + backward */ return nlohmann::json{{"loss", l}}; });
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"

namespace loom {

struct LoopOptions {
  int64_t steps = 300;
  int64_t batch_size = 16;
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.01, beta1 = 0.9, beta2 = 0.999;
  int64_t warmup_steps = 20;
  double grad_clip = 1.0;
  int64_t log_every = 25;
  int64_t checkpoint_every = 100;  // 0 = only at the end
  uint64_t seed = 0;
};
// Keys prefixed with `prefix` ("stage1_steps", ...), so that several loops share one config.
ParamSchema<LoopOptions> loop_options_schema(const std::string& prefix);

// Process CPU time in seconds (all threads): the cost measure of loom's
// supernet comparisons, robust to other work on a shared machine.
double process_cpu_seconds();

struct LoopResult {
  int64_t steps = 0;       // optimizer steps taken by this call
  double cpu_seconds = 0;  // process CPU time spent in them
  double wall_seconds = 0;
  bool resumed = false;
};

// Takes options.steps optimizer steps of the parameters of `module` that
// require gradients. step_fn(step) runs forward and backward of one step
// (gradients are zeroed before) and returns a metrics record; with
// `evaluate` and eval_every > 0, its record is merged in every eval_every
// steps and at the end. Writes OUT/metrics.jsonl and OUT/checkpoints/ (an
// empty out_dir writes nothing and cannot resume).
LoopResult run_training_loop(const LoopOptions& options, torch::nn::Module& module, const std::string& out_dir,
                             bool resume, const std::function<nlohmann::json(int64_t step)>& step_fn,
                             const std::function<nlohmann::json()>& evaluate = {}, int64_t eval_every = 0);

// The example indices of each step: consecutive batches of the epoch-seeded
// permutations of [0, n), epoch after epoch.
class StepBatches {
 public:
  StepBatches(size_t n, int64_t batch_size, uint64_t seed);
  std::vector<size_t> batch(int64_t step) const;

 private:
  size_t n_;
  int64_t batch_size_;
  uint64_t seed_;
};

}  // namespace loom
