// Times loom's OT solvers on seeded random instances and writes each one as
// .otb, listed in OUT_DIR/instances.jsonl, so that bench/ot_baseline.py runs
// POT, scipy's HiGHS and the reference's numpy ADMM on exactly the same
// problems. Every timed call is the solve alone (instance built beforehand).
//
//   build/bench/bench_ot OUT_DIR [--quick]   -> JSON lines on stdout
//
// Instance families:
//   points: n points uniform in the unit square on each side, Euclidean cost,
//           uniform marginals; order cells (k, n/2 + k), k < K (as before).
//   issue:  the ADMM issue's family, m x n, marginals 0.1 + U(0, 1)
//           normalised, costs 10 U(0, 1), K cells in random distinct rows
//           and columns.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>

#include "loom/core/error.h"
#include "loom/ot/io.h"

using namespace loom::ot;
using Clock = std::chrono::steady_clock;

namespace {

Problem points_instance(int64_t n, int64_t K, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> xs(static_cast<size_t>(2 * n)), ys(static_cast<size_t>(2 * n));
  for (auto& x : xs) x = u(rng);
  for (auto& y : ys) y = u(rng);
  Problem p;
  p.a.assign(static_cast<size_t>(n), 1.0 / static_cast<double>(n));
  p.b = p.a;
  p.cost = Matrix(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      p.cost(i, j) = std::hypot(xs[static_cast<size_t>(2 * i)] - ys[static_cast<size_t>(2 * j)],
                                xs[static_cast<size_t>(2 * i + 1)] - ys[static_cast<size_t>(2 * j + 1)]);
  for (int64_t k = 0; k < K; ++k) p.order.push_back({k, n / 2 + k});
  return p;
}

Problem issue_instance(int64_t m, int64_t n, int64_t K, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Problem p;
  p.a.resize(static_cast<size_t>(m));
  p.b.resize(static_cast<size_t>(n));
  double sa = 0, sb = 0;
  for (auto& x : p.a) sa += (x = 0.1 + u(rng));
  for (auto& x : p.b) sb += (x = 0.1 + u(rng));
  for (auto& x : p.a) x /= sa;
  for (auto& x : p.b) x /= sb;
  p.cost = Matrix(m, n);
  for (auto& c : p.cost.data) c = 10 * u(rng);
  std::vector<int64_t> rows(static_cast<size_t>(m)), cols(static_cast<size_t>(n));
  std::iota(rows.begin(), rows.end(), 0);
  std::iota(cols.begin(), cols.end(), 0);
  std::shuffle(rows.begin(), rows.end(), rng);
  std::shuffle(cols.begin(), cols.end(), rng);
  for (int64_t k = 0; k < K; ++k) p.order.push_back({rows[static_cast<size_t>(k)], cols[static_cast<size_t>(k)]});
  return p;
}

struct Instance {
  std::string id, family;
  int64_t m, n, K;
  uint64_t seed;
  Problem problem;
};

template <typename F>
nlohmann::json timed(const Instance& inst, const std::string& solver, F f) {
  auto start = Clock::now();
  Result r = f();
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  return {{"impl", "loom"},
          {"solver", solver},
          {"id", inst.id},
          {"family", inst.family},
          {"m", inst.m},
          {"n", inst.n},
          {"K", inst.K},
          {"seed", inst.seed},
          {"seconds", s},
          {"cost", r.cost},
          {"iterations", r.iterations},
          {"status", r.status},
          {"marginal_error", r.marginal_error},
          {"gap", r.gap}};
}

void emit(const nlohmann::json& row) { std::cout << row.dump() << std::endl; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_ot OUT_DIR [--quick]\n";
    return 2;
  }
  const std::string out = argv[1];
  const bool quick = argc > 2 && std::string(argv[2]) == "--quick";
  std::filesystem::create_directories(out);
  const std::vector<uint64_t> seeds = {1, 2, 3};
  const std::vector<int64_t> plain_sizes =
      quick ? std::vector<int64_t>{100, 200} : std::vector<int64_t>{100, 200, 400, 1000, 2000};
  const std::vector<int64_t> exact_sizes = quick ? std::vector<int64_t>{100} : std::vector<int64_t>{100, 200, 400};
  const std::vector<int64_t> admm_sizes = quick ? std::vector<int64_t>{50} : std::vector<int64_t>{100, 200};
  const std::vector<int64_t> admm_orders = {1, 3};
  std::vector<Instance> instances;
  for (int64_t n : plain_sizes)
    for (uint64_t seed : seeds)
      instances.push_back({"points-n" + std::to_string(n) + "-K0-s" + std::to_string(seed), "points", n, n, 0, seed,
                           points_instance(n, 0, 1000 * static_cast<uint64_t>(n) + seed)});
  for (int64_t n : exact_sizes)
    for (int64_t K : {1, 3})
      for (uint64_t seed : seeds)
        instances.push_back({"points-n" + std::to_string(n) + "-K" + std::to_string(K) + "-s" + std::to_string(seed),
                             "points", n, n, K, seed, points_instance(n, K, 1000 * static_cast<uint64_t>(n) + seed)});
  for (int64_t n : admm_sizes)
    for (int64_t K : admm_orders)
      for (uint64_t seed : seeds)
        instances.push_back({"issue-n" + std::to_string(n) + "-K" + std::to_string(K) + "-s" + std::to_string(seed),
                             "issue", n, n, K, seed,
                             issue_instance(n, n, K, 7000 + 100 * static_cast<uint64_t>(n) + 10 * K + seed)});
  {
    nlohmann::json manifest = nlohmann::json::array();
    for (const auto& inst : instances) {
      write_problem_binary(out + "/" + inst.id + ".otb", inst.problem);
      // What the baselines run on it: the same work as loom below.
      std::vector<std::string> runs;
      if (inst.K == 0) runs = {"emd", "sinkhorn"};
      if (inst.family == "points" && inst.K > 0) runs = {"oc_lp_highs"};
      if (inst.family == "issue") runs = {"oc_admm_numpy"};
      std::cout << nlohmann::json({{"manifest", inst.id},
                                   {"family", inst.family},
                                   {"m", inst.m},
                                   {"n", inst.n},
                                   {"K", inst.K},
                                   {"seed", inst.seed},
                                   {"runs", runs}})
                       .dump()
                << std::endl;
    }
  }
  SinkhornOptions pot_rule;  // POT's stopping rule and threshold, as in ot_baseline.py
  pot_rule.stop = "pot";
  pot_rule.tolerance = 1e-9;
  pot_rule.max_iterations = 100000;
  for (const auto& inst : instances) {
    const Problem& p = inst.problem;
    if (inst.K == 0) {
      emit(timed(inst, "emd", [&] { return emd(p.a, p.b, p.cost); }));
      emit(timed(inst, "sinkhorn", [&] { return sinkhorn(p.a, p.b, p.cost, 0.05, pot_rule); }));
      continue;
    }
    if (inst.family == "points") {
      emit(timed(inst, "oc_flow", [&] { return order_constrained_flow(p.a, p.b, p.cost, p.order); }));
      emit(timed(inst, "oc_lp_clp", [&] { return order_constrained_lp(p.a, p.b, p.cost, p.order); }));
      continue;
    }
    // ADMM: the exact optimum for reference, then the time to each certified
    // accuracy level (marginal error / mass, relative gap), tightest = the
    // default stopping rule.
    Result exact;
    emit(timed(inst, "oc_flow", [&] { return exact = order_constrained_flow(p.a, p.b, p.cost, p.order); }));
    const std::vector<std::pair<double, double>> levels = {{1e-3, 1e-2}, {1e-4, 1e-3}, {1e-5, 1e-4}, {1e-7, 1e-5}};
    for (auto [tol, gap] : levels) {
      AdmmOptions o;
      o.tolerance = tol;
      o.gap_tolerance = gap;
      nlohmann::json row = timed(inst, "oc_admm", [&] { return order_constrained_admm(p.a, p.b, p.cost, p.order, o); });
      row["level_tolerance"] = tol;
      row["level_gap"] = gap;
      row["relative_error"] = (row["cost"].get<double>() - exact.cost) / exact.cost;
      emit(row);
    }
  }
  return 0;
}
