#include <omp.h>

#include <algorithm>
#include <cmath>

#include "loom/core/error.h"
#include "loom/ot/ot.h"
#include "solver_entries.h"

namespace loom::ot {

namespace {

// The two products, compiled for the widest vector unit the CPU has (loom
// builds for the baseline x86-64 otherwise; BLAS libraries dispatch the same
// way at run time).
__attribute__((target_clones("avx512f", "avx2", "default"))) double dot(const double* x, const double* y, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += x[j] * y[j];
  return s;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void axpy(const double* x, double alpha, double* y,
                                                                       int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) y[j] += alpha * x[j];
}

}  // namespace

// Sinkhorn in the scaling domain with log-domain absorption (Schmitzer 2019;
// POT's sinkhorn_stabilized): the kernel K_ij = exp((f_i + g_j - C_ij) / reg)
// carries the log potentials f, g; when a scaling grows past 1e30 (or below
// 1e-30) it is absorbed into f, g and K is rebuilt. Iterations are then plain
// matrix-vector products, and no value overflows for any reg > 0.
Result sinkhorn(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost, double reg,
                const SinkhornOptions& options) {
  validate(a, b, cost);
  if (!(reg > 0) || !std::isfinite(reg)) throw Error("ot: sinkhorn needs reg > 0");
  const int64_t m = cost.rows, n = cost.cols;
  std::vector<double> f(static_cast<size_t>(m), 0.0), g(static_cast<size_t>(n), 0.0);
  std::vector<double> u(static_cast<size_t>(m), 1.0), v(static_cast<size_t>(n), 1.0), ktu(static_cast<size_t>(n));
  // Start from potentials that make the kernel's largest entry per row 1.
  for (int64_t i = 0; i < m; ++i) {
    double lo = cost(i, 0);
    for (int64_t j = 1; j < n; ++j) lo = std::min(lo, cost(i, j));
    f[static_cast<size_t>(i)] = lo;
  }
  Matrix K(m, n);
  // Threads only pay off on large kernels: on small ones (and on a loaded
  // machine) the fork/join barriers cost more than the products.
  const bool parallel = m * n >= (int64_t{1} << 16);
  auto rebuild = [&] {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        K(i, j) = std::exp((f[static_cast<size_t>(i)] + g[static_cast<size_t>(j)] - cost(i, j)) / reg);
  };
  auto absorb = [&] {
    for (int64_t i = 0; i < m; ++i) f[static_cast<size_t>(i)] += reg * std::log(u[static_cast<size_t>(i)]);
    for (int64_t j = 0; j < n; ++j) g[static_cast<size_t>(j)] += reg * std::log(v[static_cast<size_t>(j)]);
    std::fill(u.begin(), u.end(), 1.0);
    std::fill(v.begin(), v.end(), 1.0);
    rebuild();
  };
  rebuild();
  Result r;
  r.status = "max_iterations";
  double err = 0;
  // One pass over the kernel per iteration: row i gives (K v)_i, hence the
  // new u_i, and at once adds K_i u_i into K^T u for the next iteration's v
  // (and for this iteration's column error). Threads take row ranges and
  // sum their own K^T u, added up in thread order afterwards.
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> partial(static_cast<size_t>(threads) * static_cast<size_t>(n));
  auto kernel_t_times_u = [&] {  // K^T u from scratch (at the start and after an absorption)
    std::fill(ktu.begin(), ktu.end(), 0.0);
    for (int64_t i = 0; i < m; ++i) axpy(&K.data[static_cast<size_t>(i * n)], u[static_cast<size_t>(i)], ktu.data(), n);
  };
  kernel_t_times_u();
  const bool pot_rule = options.stop == "pot";
  for (int64_t it = 1; it <= options.max_iterations; ++it) {
    // POT's order: v = b / K^T u, then u = a / K v, so that the rows are
    // exact and the columns carry the error.
    for (int64_t j = 0; j < n; ++j)
      v[static_cast<size_t>(j)] = b[static_cast<size_t>(j)] / std::max(ktu[static_cast<size_t>(j)], 1e-300);
    const double* vp = v.data();
#pragma omp parallel num_threads(threads) if (parallel)
    {
      const int64_t t = omp_get_thread_num(), count = omp_get_num_threads();
      double* mine = partial.data() + static_cast<size_t>(t) * static_cast<size_t>(n);
      std::fill(mine, mine + n, 0.0);
      for (int64_t i = m * t / count; i < m * (t + 1) / count; ++i) {
        const double* row = &K.data[static_cast<size_t>(i * n)];
        const double s = dot(row, vp, n);
        const double ui = a[static_cast<size_t>(i)] / std::max(s, 1e-300);
        u[static_cast<size_t>(i)] = ui;
        axpy(row, ui, mine, n);
      }
    }
    std::copy(partial.begin(), partial.begin() + n, ktu.begin());
    for (int t = 1; t < threads; ++t)
      for (int64_t j = 0; j < n; ++j) ktu[static_cast<size_t>(j)] += partial[static_cast<size_t>(t * n + j)];
    r.iterations = it;
    // POT checks after iterations 1, 11, 21, ...; the default rule at 10, 20, ...
    const bool check = pot_rule ? it % 10 == 1 : it % 10 == 0;
    if (check || it == options.max_iterations) {
      // The column error (K^T u) v - b: its L2 norm (POT's rule) or its
      // largest entry (the default; with exact rows, the marginal error).
      err = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double e = ktu[static_cast<size_t>(j)] * v[static_cast<size_t>(j)] - b[static_cast<size_t>(j)];
        err = pot_rule ? err + e * e : std::max(err, std::abs(e));
      }
      if (pot_rule) err = std::sqrt(err);
      if (!std::isfinite(err)) throw Error("ot: sinkhorn diverged (reg too small for double precision?)");
      if (err < options.tolerance) {
        r.status = "converged";
        break;
      }
    }
    double big = 0;
    for (double x : v) big = std::max(big, std::abs(std::log(std::max(x, 1e-300))));
    for (double x : u) big = std::max(big, std::abs(std::log(std::max(x, 1e-300))));
    if (big > 69.0) {  // e^69 ~ 1e30
      absorb();
      kernel_t_times_u();
    }
  }
  r.plan = Matrix(m, n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) r.plan(i, j) = u[static_cast<size_t>(i)] * K(i, j) * v[static_cast<size_t>(j)];
  for (int64_t i = 0; i < m; ++i) r.u.push_back(f[static_cast<size_t>(i)] + reg * std::log(u[static_cast<size_t>(i)]));
  for (int64_t j = 0; j < n; ++j) r.v.push_back(g[static_cast<size_t>(j)] + reg * std::log(v[static_cast<size_t>(j)]));
  r.cost = transport_cost(cost, r.plan);
  r.marginal_error = marginal_error(a, b, r.plan);
  return r;
}

const ParamSchema<SinkhornOptions>& sinkhorn_option_schema() {
  static const ParamSchema<SinkhornOptions> schema = [] {
    ParamSchema<SinkhornOptions> s;
    s.add("sinkhorn_tolerance", &SinkhornOptions::tolerance, "stop when the column error is below this", {0, 1})
        .add("sinkhorn_max_iterations", &SinkhornOptions::max_iterations, "iteration cap", {1, 1e9})
        .add_choice("sinkhorn_stop", &SinkhornOptions::stop, {"max", "pot"},
                    "the column error's largest entry (every 10th iteration), or POT's rule: its L2 norm after "
                    "iterations 1, 11, 21, ...");
    return s;
  }();
  return schema;
}

namespace detail {

Solver sinkhorn_solver() {
  return make_solver<SinkhornOptions>(
      "entropic OT (log-stabilised Sinkhorn) with the problem's reg; no order constraints", sinkhorn_option_schema(),
      [](const Problem& p, const SinkhornOptions& o) {
        if (!p.order.empty()) throw Error("ot: sinkhorn does not take order constraints (use admm, lp, flow or exact)");
        return sinkhorn(p.a, p.b, p.cost, p.reg, o);
      });
}

}  // namespace detail

}  // namespace loom::ot
