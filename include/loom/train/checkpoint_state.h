// The torch-free half of training checkpoints: the trainer's position
// (state.json) and the `latest` pointer, both read from files that a run
// directory copied from someone else may hold. Every field is range-checked
// and `latest` may only name a checkpoint directory inside checkpoints/, so a
// hostile state.json or `latest` is an error naming the file, never an
// out-of-bounds read or a directory outside the run.
//
//   loom::CheckpointState s = loom::parse_checkpoint_state(text, "RUN/checkpoints/step-000050/state.json");
//   std::string dir = loom::latest_checkpoint_dir("RUN/checkpoints");  // "" if there is none yet
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace loom {

struct CheckpointState {
  int64_t step = 0;
  int64_t epoch = 0;     // data epoch the cursor is in
  int64_t cursor = 0;    // next micro-batch index within that epoch
  nlohmann::json extra;  // anything else a caller wants restored
  std::string source;    // the state.json it was read from, for error messages (not saved)
};

// Counters larger than this are refused (2^53: exact in every JSON reader,
// and far from int64 overflow when the trainer adds to them).
constexpr int64_t kMaxCheckpointCounter = int64_t{1} << 53;

// "step-000050": the directory name of the checkpoint taken after `step`.
std::string checkpoint_dir_name(int64_t step);

nlohmann::json checkpoint_state_json(const CheckpointState& state);
// Parses state.json: format "loom-checkpoint" version 1; step, epoch and
// cursor integers in [0, kMaxCheckpointCounter]. Errors name `origin` and the field.
CheckpointState parse_checkpoint_state(const std::string& text, const std::string& origin);

// The checkpoint directory that ROOT/latest names, or "" if ROOT/latest does
// not exist. The name must be "step-" and digits (no path separators, no
// "..") and name a real directory in ROOT, not a symlink.
std::string latest_checkpoint_dir(const std::string& root);

}  // namespace loom
