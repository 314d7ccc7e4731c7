#include "loom/supernet/latency_table.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"

namespace loom {

double measure_latency_ms(const std::function<void()>& run, const LatencyOptions& options) {
  for (int64_t i = 0; i < options.warmup; ++i) run();
  std::vector<double> times;
  for (int64_t i = 0; i < std::max<int64_t>(1, options.repeats); ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

nlohmann::json this_machine(int threads) {
  std::string cpu = "unknown";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 1);
      while (!cpu.empty() && cpu.front() == ' ') cpu.erase(0, 1);
      break;
    }
  return {{"cpu", cpu}, {"threads", threads}};
}

LatencyTable::LatencyTable(std::string path, nlohmann::json machine, LatencyOptions options)
    : path_(std::move(path)), machine_(std::move(machine)), options_(options) {
  if (path_.empty() || !std::filesystem::exists(path_)) return;
  nlohmann::json j = read_json_file(path_);
  if (!j.is_object() || !j.contains("machine") || !j.contains("entries") || !j["entries"].is_object())
    throw Error(path_ + ": not a latency table (expected {\"machine\": ..., \"entries\": {...}})");
  if (j["machine"] != machine_)
    throw Error(path_ + ": latency table measured on " + j["machine"].dump() + ", but this run is " + machine_.dump() +
                "; remove the file or point to another one");
  for (const auto& [key, value] : j["entries"].items()) {
    if (!value.is_number() || value.get<double>() < 0)
      throw Error(path_ + ": entry '" + key + "' is not a non-negative number of milliseconds");
    entries_[key] = value.get<double>();
  }
}

double LatencyTable::get(const std::string& key, const std::function<void()>& run) {
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second;
  const double ms = measure_latency_ms(run, options_);
  entries_[key] = ms;
  ++measured_;
  return ms;
}

std::optional<double> LatencyTable::find(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void LatencyTable::set(const std::string& key, double ms) {
  if (!std::isfinite(ms) || ms < 0) throw Error("latency table: entry '" + key + "' must be a non-negative number");
  entries_[key] = ms;
}

void LatencyTable::save() const {
  if (path_.empty()) return;
  nlohmann::json entries = nlohmann::json::object();
  for (const auto& [key, ms] : entries_) entries[key] = ms;
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) make_dirs(parent.string());
  write_file_atomic(path_, nlohmann::json({{"machine", machine_}, {"entries", entries}}).dump(2));
}

}  // namespace loom
