#include "loom/train/checkpoint.h"

#include <unistd.h>

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

namespace {

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%06lld", static_cast<long long>(step));
  return buf;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

std::string save_checkpoint(const std::string& run_dir, const CheckpointState& state, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, int64_t keep) {
  const std::string root = run_dir + "/checkpoints";
  const std::string name = step_name(state.step);
  const std::string staging = root + "/." + name + ".tmp." + std::to_string(::getpid());
  fs::remove_all(staging);
  make_dirs(staging);
  NamedTensors params;
  for (const auto& p : module.named_parameters()) params.push_back({p.key(), p.value()});
  save_tensors(staging + "/parameters.safetensors", params);
  // Fault injection for the resume tests: die by SIGKILL half-way through
  // writing this checkpoint, as a user's kill -9 could.
  if (const char* kill_at = std::getenv("LOOM_FAULT_KILL_IN_CHECKPOINT"))
    if (std::to_string(state.step) == kill_at) ::raise(SIGKILL);
  torch::save(optimizer, staging + "/optimizer.pt");
  nlohmann::json j = {{"step", state.step},   {"epoch", state.epoch},        {"cursor", state.cursor},
                      {"extra", state.extra}, {"format", "loom-checkpoint"}, {"version", 1}};
  write_file_atomic(staging + "/state.json", j.dump(2));
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
  if (!fs::exists(root + "/latest")) return std::nullopt;
  const std::string dir = root + "/" + trim(read_file_text(root + "/latest"));
  for (const char* f : {"parameters.safetensors", "optimizer.pt", "state.json"})
    if (!fs::exists(dir + "/" + f)) throw Error(dir + ": checkpoint is missing " + f);
  const std::string weights = dir + "/parameters.safetensors";
  auto tensors = load_tensors(weights);
  {
    torch::NoGradGuard no_grad;
    std::set<std::string> seen;
    for (auto& p : module.named_parameters()) {
      auto it = tensors.find(p.key());
      if (it == tensors.end()) throw Error(weights + ": missing tensor '" + p.key() + "'");
      if (it->second.sizes() != p.value().sizes())
        throw Error(weights + ": tensor '" + p.key() + "' has shape " + c10::str(it->second.sizes()) +
                    ", the model has " + c10::str(p.value().sizes()));
      p.value().copy_(it->second);
      seen.insert(p.key());
    }
    for (const auto& [n, t] : tensors)
      if (!seen.count(n)) throw Error(weights + ": unexpected tensor '" + n + "'");
  }
  try {
    torch::load(optimizer, dir + "/optimizer.pt");
  } catch (const c10::Error& e) {
    throw Error(dir + "/optimizer.pt: cannot load optimizer state: " + e.what_without_backtrace());
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file_text(dir + "/state.json"));
    CheckpointState s;
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.cursor = j.at("cursor").get<int64_t>();
    if (j.contains("extra")) s.extra = j["extra"];
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error(dir + "/state.json: " + e.what());
  }
}

}  // namespace loom
