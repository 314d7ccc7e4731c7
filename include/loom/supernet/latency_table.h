// Latency tables (Once-for-All, HAT): the measured time of each block
// configuration on this machine, so that the latency of any subnet is a sum
// of table entries and a search can evaluate thousands of subnets without
// running them. Entries are measured on first use (warm-up runs, then the
// median of timed runs) and cached in a JSON file, written atomically. The
// file records the machine it was measured on (CPU model and thread count);
// a table from another machine or thread count is refused, not mixed in.
//
//   loom::LatencyTable table("runs/x/latency.json", loom::this_machine(1));
//   double ms = table.get("block k=5 e=4 c=24 hw=7", [&] { block->forward(x); });
//   table.save();
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace loom {

struct LatencyOptions {
  int64_t warmup = 3;
  int64_t repeats = 21;
};

// Median wall time of `run` in milliseconds, after `warmup` untimed runs.
double measure_latency_ms(const std::function<void()>& run, const LatencyOptions& options = {});

// {"cpu": model name from /proc/cpuinfo, "threads": threads}.
nlohmann::json this_machine(int threads);

class LatencyTable {
 public:
  // With a path, loads the table if the file exists (its machine must equal
  // `machine`, or the file is refused naming both); "" keeps it in memory.
  LatencyTable(std::string path, nlohmann::json machine, LatencyOptions options = {});

  // The entry for `key`, measuring `run` if the table has none.
  double get(const std::string& key, const std::function<void()>& run);
  std::optional<double> find(const std::string& key) const;
  // Stores an entry derived from measurements rather than measured itself
  // (TOFA's per-part overhead of a whole model over the sum of its parts).
  void set(const std::string& key, double ms);
  // Writes the file (atomically) when a path was given.
  void save() const;

  size_t size() const { return entries_.size(); }
  int64_t measured() const { return measured_; }  // entries measured by this object
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  nlohmann::json machine_;
  LatencyOptions options_;
  std::map<std::string, double> entries_;
  int64_t measured_ = 0;
};

}  // namespace loom
