// Training checkpoints: parameters (safetensors), optimizer state, and the
// trainer's position (step, data cursor, RNG). Each checkpoint is written into
// a staging directory and renamed into place; then a `latest` file is replaced
// atomically. kill -9 at any moment leaves the previous checkpoint usable.
//
//   RUN/checkpoints/step-000050/{parameters.safetensors, optimizer.pt, state.json}
//   RUN/checkpoints/latest  ->  "step-000050"
#pragma once
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace loom {

struct CheckpointState {
  int64_t step = 0;
  int64_t epoch = 0;     // data epoch the cursor is in
  int64_t cursor = 0;    // next micro-batch index within that epoch
  nlohmann::json extra;  // anything else a caller wants restored
};

// Writes RUN/checkpoints/step-N and points `latest` at it; keeps the newest
// `keep` checkpoints. Returns the checkpoint's directory.
std::string save_checkpoint(const std::string& run_dir, const CheckpointState& state, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, int64_t keep);

// Restores the checkpoint `latest` names, if any. Parameter names and shapes
// must match exactly; errors name the file and tensor.
std::optional<CheckpointState> load_latest_checkpoint(const std::string& run_dir, torch::nn::Module& module,
                                                      torch::optim::Optimizer& optimizer);

}  // namespace loom
