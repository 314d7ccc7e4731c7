#include "loom/train/checkpoint.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/models/model_dir.h"

namespace loom {
namespace fs = std::filesystem;

std::string save_checkpoint(const std::string& run_dir, const CheckpointState& state, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, int64_t keep) {
  const std::string root = run_dir + "/checkpoints";
  const std::string name = checkpoint_dir_name(state.step);
  const std::string staging = make_temp_dir(root, "." + name + ".tmp.");
  NamedTensors params;
  for (const auto& p : module.named_parameters()) params.push_back({p.key(), p.value()});
  save_tensors(staging + "/parameters.safetensors", params);
  // Fault injection for the resume tests: die by SIGKILL half-way through
  // writing this checkpoint, as a user's kill -9 could.
  if (const char* kill_at = std::getenv("LOOM_FAULT_KILL_IN_CHECKPOINT"))
    if (std::to_string(state.step) == kill_at) ::raise(SIGKILL);
  torch::save(optimizer, staging + "/optimizer.pt");
  write_file_atomic(staging + "/state.json", checkpoint_state_json(state).dump(2));
  rename_dir_atomic(staging, root + "/" + name);
  write_file_atomic(root + "/latest", name + "\n");

  std::vector<std::string> existing;
  for (const auto& entry : fs::directory_iterator(root)) {
    std::string n = entry.path().filename().string();
    if (entry.is_directory() && n.rfind("step-", 0) == 0) existing.push_back(n);
    // Staging directories of runs that were killed mid-write.
    if (entry.is_directory() && n.rfind(".step-", 0) == 0 && entry.path() != fs::path(staging))
      fs::remove_all(entry.path());
  }
  std::sort(existing.begin(), existing.end());
  for (size_t i = 0; i + static_cast<size_t>(std::max<int64_t>(keep, 1)) < existing.size(); ++i)
    if (existing[i] != name) fs::remove_all(root + "/" + existing[i]);
  return root + "/" + name;
}

std::optional<CheckpointState> load_latest_checkpoint(const std::string& run_dir, torch::nn::Module& module,
                                                      torch::optim::Optimizer& optimizer) {
  const std::string root = run_dir + "/checkpoints";
  const std::string dir = latest_checkpoint_dir(root);
  if (dir.empty()) return std::nullopt;
  for (const char* f : {"parameters.safetensors", "optimizer.pt", "state.json"})
    if (!fs::exists(dir + "/" + f)) throw Error(dir + ": checkpoint is missing " + f);
  // The position first: it is cheap, and a bad one makes the rest moot.
  const std::string state_path = dir + "/state.json";
  CheckpointState state = parse_checkpoint_state(read_file_text(state_path), state_path);
  if (checkpoint_dir_name(state.step) != fs::path(dir).filename().string())
    throw Error(state_path + ": step " + std::to_string(state.step) + " does not match its directory " +
                fs::path(dir).filename().string());
  const std::string weights = dir + "/parameters.safetensors";
  copy_tensors_strict(module.named_parameters(), load_tensors(weights), weights);
  try {
    torch::load(optimizer, dir + "/optimizer.pt");
  } catch (const c10::Error& e) {
    throw Error(dir + "/optimizer.pt: cannot load optimizer state: " + e.what_without_backtrace());
  }
  return state;
}

}  // namespace loom
