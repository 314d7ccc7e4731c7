// Training checkpoints: parameters (safetensors), optimizer state, and the
// trainer's position (step, data cursor, RNG). Each checkpoint is written into
// a staging directory and renamed into place; then a `latest` file is replaced
// atomically. kill -9 at any moment leaves the previous checkpoint usable.
//
//   RUN/checkpoints/step-000050/{parameters.safetensors, optimizer.pt, state.json}
//   RUN/checkpoints/latest  ->  "step-000050"
#pragma once
#include <torch/torch.h>

#include <optional>
#include <string>

#include "loom/train/checkpoint_state.h"

namespace loom {

// Writes RUN/checkpoints/step-N and points `latest` at it; keeps the newest
// `keep` checkpoints. Returns the checkpoint's directory.
std::string save_checkpoint(const std::string& run_dir, const CheckpointState& state, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, int64_t keep);

// Restores the checkpoint `latest` names, if any. `latest` must name a
// checkpoint directory inside RUN/checkpoints; state.json is range-checked
// and must be for the step its directory is named after; parameter names and
// shapes must match exactly. Errors name the file and field or tensor.
std::optional<CheckpointState> load_latest_checkpoint(const std::string& run_dir, torch::nn::Module& module,
                                                      torch::optim::Optimizer& optimizer);

}  // namespace loom
