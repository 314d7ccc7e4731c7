// Aggregation time per aggregator for K parties x d parameters, beside the
// memory-bandwidth bound measured in the same run: a plain pass that reads
// the same [K, d] buffer once. FedAvg must read every update once, so
// bound / time is its share of the machine's bandwidth, and every other
// aggregator's time is also given as a multiple of FedAvg's on the same
// buffer in the same run.
// Usage: bench_fl_aggregate [max_bytes]   (default 1 GiB of updates per case)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "loom/core/cpu_setup.h"
#include "loom/fl/aggregate.h"

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Best of `reps` timings of f.
template <typename F>
double best_time(int reps, F f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t = Clock::now();
    f();
    best = std::min(best, seconds_since(t));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  loom::ensure_optimised_blas(argc, argv);
  const double max_bytes = argc > 1 ? std::atof(argv[1]) : double(1 << 30);
  torch::set_num_threads(1);
  std::cout << "| K | d | bandwidth GB/s | aggregator | time ms | vs bandwidth bound | vs fedavg |\n"
               "|---|---|---|---|---|---|---|\n";
  for (int64_t K : {10, 100, 1000}) {
    for (int64_t d : {int64_t(1e4), int64_t(1e5), int64_t(1e6), int64_t(1e7)}) {
      const double bytes = 4.0 * double(K) * double(d);
      if (bytes > max_bytes) continue;
      loom::fl::RoundUpdates r;
      r.updates = torch::randn({K, d});
      r.sample_counts.assign(size_t(K), 100.0);
      r.layer_sizes = {d};
      r.reference = torch::randn({d});  // fltrust's server-side update
      // zeno's reference loss: a quadratic stand-in (one pass over d values);
      // a real server pays K + 1 forward passes of its model instead.
      r.reference_loss = [&](const torch::Tensor& u) { return (u - r.reference).pow(2).sum().item<double>(); };
      const float* data = r.updates.data_ptr<float>();
      const int64_t n = K * d;
      volatile float sink = 0;
      const double t_read = best_time(3, [&] {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int64_t i = 0; i + 3 < n; i += 4) s0 += data[i], s1 += data[i + 1], s2 += data[i + 2], s3 += data[i + 3];
        sink = s0 + s1 + s2 + s3;
      });
      const double bandwidth = bytes / t_read;
      auto fedavg = loom::fl::make_aggregator("fedavg");
      const double t_fedavg = best_time(3, [&] { fedavg->aggregate(r); });
      for (const auto& name : loom::fl::aggregators().names()) {
        // Sorting-based and pairwise aggregators are far slower: only on cases up to a quarter of max_bytes.
        const bool heavy = name != "fedavg";
        if (heavy && bytes > max_bytes / 4) continue;
        auto agg = loom::fl::make_aggregator(name);
        const double t = heavy ? best_time(3, [&] { agg->aggregate(r); }) : t_fedavg;
        std::printf("| %lld | %.0e | %.1f | %s | %.2f | %.0f%% | %.1f× |\n", (long long)K, double(d), bandwidth / 1e9,
                    name.c_str(), t * 1e3, 100.0 * t_read / t, t / t_fedavg);
        std::cout << std::flush;
      }
    }
  }
  return 0;
}
