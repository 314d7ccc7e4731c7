// The training loop's options, each declared once beside its field
// (train_options_schema()), so that YAML configs, command-line flags, the
// struct's defaults and the docs agree.
//
//   loom::Params params(loom::train_options_schema().specs());
//   params.load_yaml_file("configs/quickstart.yaml");
//   loom::TrainOptions opts = loom::train_options_schema().read(params);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/core/collate.h"
#include "loom/core/dataset.h"
#include "loom/core/param_schema.h"

namespace loom {

struct TrainOptions {
  // data
  std::string train_data, valid_data;
  double valid_fraction = 0.02;
  DatasetOptions dataset;
  Packing packing = Packing::PaddingFree;
  int64_t bin_tokens = 0;  // 0 = micro_batch_size * max_seq_len
  // optimisation
  int64_t max_steps = 100;
  int64_t micro_batch_size = 8;
  int64_t grad_accum = 1;
  double lr = 3e-4, min_lr_ratio = 0.1, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  int64_t warmup_steps = 10;
  double grad_clip = 1.0;
  uint64_t seed = 0;
  // One-pass fused ops instead of LibTorch's separate passes (docs/core.md);
  // off runs LibTorch's composition, for comparison.
  bool fused_cross_entropy = true, fused_swiglu = true, fused_rope = true, fused_adamw = true;
  // 1 is fastest on the 2-core reference machine (docs/core.md); 0 = all cores.
  int threads = 1;
  // bookkeeping
  int64_t log_every = 10, eval_every = 50, eval_max_batches = 20, checkpoint_every = 50, keep_checkpoints = 2;
  std::string sample_prompt;
  int64_t sample_tokens = 40;
  bool progress = true;
};

const ParamSchema<TrainOptions>& train_options_schema();

}  // namespace loom
