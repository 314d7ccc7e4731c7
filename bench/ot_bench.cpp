// Times loom's OT solvers on random instances (uniform points in the unit
// square, Euclidean cost, uniform marginals, one order cell on a costly
// pair) and writes each instance as .otb so that bench/ot_baseline.py runs
// POT, scipy's HiGHS and a numpy ADMM on exactly the same problems.
//
//   build/bench/bench_ot OUT_DIR n1 n2 ...    -> JSON lines on stdout
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "loom/ot/io.h"

using namespace loom::ot;
using Clock = std::chrono::steady_clock;

namespace {

Problem instance(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> xs(2 * n), ys(2 * n);
  for (auto& x : xs) x = u(rng);
  for (auto& y : ys) y = u(rng);
  Problem p;
  p.a.assign(static_cast<size_t>(n), 1.0 / static_cast<double>(n));
  p.b = p.a;
  p.cost = Matrix(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) p.cost(i, j) = std::hypot(xs[2 * i] - ys[2 * j], xs[2 * i + 1] - ys[2 * j + 1]);
  // The order cell: a mid-cost pair, so the constraint binds.
  p.order = {{0, n / 2}};
  return p;
}

template <typename F>
nlohmann::json timed(const std::string& solver, int64_t n, F f) {
  auto start = Clock::now();
  Result r = f();
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  return {{"impl", "loom"},    {"solver", solver}, {"n", n},
          {"seconds", s},      {"cost", r.cost},   {"iterations", r.iterations},
          {"status", r.status}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_ot OUT_DIR n...\n";
    return 2;
  }
  std::string out = argv[1];
  std::filesystem::create_directories(out);
  for (int k = 2; k < argc; ++k) {
    int64_t n = std::atoll(argv[k]);
    Problem p = instance(n, static_cast<uint64_t>(n));
    write_problem_binary(out + "/n" + std::to_string(n) + ".otb", p);
    std::cout << timed("emd", n, [&] { return emd(p.a, p.b, p.cost); }).dump() << std::endl;
    std::cout << timed("sinkhorn", n,
                       [&] {
                         return sinkhorn(p.a, p.b, p.cost, 0.05, {1e-9, 100000});
                       })
                     .dump()
              << std::endl;
    if (n <= 400) {
      std::cout << timed("oc_flow", n, [&] { return order_constrained_flow(p.a, p.b, p.cost, p.order); }).dump()
                << std::endl;
      std::cout << timed("oc_admm", n, [&] { return order_constrained_admm(p.a, p.b, p.cost, p.order); }).dump()
                << std::endl;
    }
    if (n <= 200)
      std::cout << timed("oc_lp_clp", n, [&] { return order_constrained_lp(p.a, p.b, p.cost, p.order); }).dump()
                << std::endl;
  }
  return 0;
}
