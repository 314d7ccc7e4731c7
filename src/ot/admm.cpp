#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "loom/core/error.h"
#include "loom/ot/order_projection.h"
#include "solver_entries.h"

namespace loom::ot {

void project_order(std::vector<double>* w, const std::vector<int64_t>& chain, std::vector<int64_t>* scratch) {
  std::vector<double>& x = *w;
  const size_t K = chain.size();
  // Only other entries above the final tail level get pooled, and that level
  // is a weighted mean of chain values and pooled entries above it, so it is
  // at least the smallest chain value. For K = 1 it is even at least
  // (x_d + max other) / 2 whenever the largest other entry must be pooled.
  // One O(mn) pass collects the entries above that floor; only they are sorted.
  // Designated entries are hidden behind -inf during the scans.
  std::vector<double> saved;
  for (int64_t c : chain) saved.push_back(x[static_cast<size_t>(c)]);
  double floor_level = *std::min_element(saved.begin(), saved.end());
  for (int64_t c : chain) x[static_cast<size_t>(c)] = -std::numeric_limits<double>::infinity();
  if (K == 1) {
    double largest = *std::max_element(x.begin(), x.end());
    if (largest > floor_level) floor_level = 0.5 * (floor_level + largest);
  }
  std::vector<int64_t>& candidates = *scratch;
  candidates.clear();
  for (size_t e = 0; e < x.size(); ++e)
    if (x[e] > floor_level) candidates.push_back(static_cast<int64_t>(e));
  for (size_t k = 0; k < K; ++k) x[static_cast<size_t>(chain[k])] = saved[k];
  // Candidates are revealed largest-first by partial sorting, since usually
  // only a few of them end up pooled.
  size_t sorted = 0;
  auto reveal = [&](size_t need) {
    if (need <= sorted || sorted == candidates.size()) return;
    size_t k = std::min(candidates.size(), std::max(need, 2 * sorted + 16));
    std::partial_sort(candidates.begin() + static_cast<long>(sorted), candidates.begin() + static_cast<long>(k),
                      candidates.end(),
                      [&](int64_t p, int64_t q) { return x[static_cast<size_t>(p)] > x[static_cast<size_t>(q)]; });
    sorted = k;
  };
  const std::vector<int64_t>& others = candidates;
  // Pool-adjacent-violators on the chain x[c1] >= ... >= x[cK], where the last
  // block also absorbs every other entry above its level (its cost is convex).
  struct Block {
    double sum;
    int64_t count;
    size_t first;  // index into chain
  };
  std::vector<Block> blocks;
  size_t pooled_others = 0;
  auto tail_level = [&](const Block& blk) {
    // Scan from j = 0 while the next other entry lies above the level (a merge
    // can raise the level, so earlier pooling is not reused).
    pooled_others = 0;
    double pooled_sum = 0;
    double level = blk.sum / static_cast<double>(blk.count);
    while (pooled_others < others.size()) {
      reveal(pooled_others + 1);
      double next = x[static_cast<size_t>(others[pooled_others])];
      if (next <= level) break;
      pooled_sum += next;
      ++pooled_others;
      level = (blk.sum + pooled_sum) / static_cast<double>(blk.count + static_cast<int64_t>(pooled_others));
    }
    return level;
  };
  for (size_t k = 0; k < K; ++k) {
    blocks.push_back({x[static_cast<size_t>(chain[k])], 1, k});
    const bool tail = k + 1 == K;
    while (blocks.size() > 1) {
      Block& last = blocks.back();
      Block& prev = blocks[blocks.size() - 2];
      double last_level = tail ? tail_level(last) : last.sum / static_cast<double>(last.count);
      if (prev.sum / static_cast<double>(prev.count) >= last_level) break;
      prev.sum += last.sum;
      prev.count += last.count;
      blocks.pop_back();
    }
  }
  // Write the levels back; the tail level caps the pooled others.
  for (size_t bi = 0; bi < blocks.size(); ++bi) {
    const bool tail = bi + 1 == blocks.size();
    double level = tail ? tail_level(blocks[bi]) : blocks[bi].sum / static_cast<double>(blocks[bi].count);
    size_t end = tail ? K : blocks[bi + 1].first;
    for (size_t k = blocks[bi].first; k < end; ++k) x[static_cast<size_t>(chain[k])] = level;
    if (tail)
      for (size_t e = 0; e < pooled_others; ++e) x[static_cast<size_t>(others[e])] = level;
  }
}

Result order_constrained_admm(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const std::vector<Cell>& order, const AdmmOptions& options) {
  validate(a, b, cost, order);
  if (order.empty()) throw Error("ot: order-constrained ADMM needs at least one order cell");
  if (!(options.rho > 0)) throw Error("ot: ADMM rho must be positive");
  const int64_t m = cost.rows, n = cost.cols;
  const size_t size = static_cast<size_t>(m * n);
  std::vector<int64_t> chain;
  for (auto [i, j] : order) chain.push_back(i * n + j);
  std::vector<double> X(size), Z(size, 0.0), U(size, 0.0), Z_prev(size), W(size), row(static_cast<size_t>(m)),
      col(static_cast<size_t>(n));
  std::vector<int64_t> scratch;
  // Start Z from the independent coupling a b^T / total.
  double total = std::accumulate(a.begin(), a.end(), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      Z[static_cast<size_t>(i * n + j)] = a[static_cast<size_t>(i)] * b[static_cast<size_t>(j)] / total;
  Result r;
  r.status = "max_iterations";
  const double inv_rho = 1.0 / options.rho;
  const double* C = cost.data.data();
  for (int64_t it = 1; it <= options.max_iterations; ++it) {
    // 1. X = affine projection of Z - U - C / rho onto {X 1 = a, X^T 1 = b}:
    //    X = Y + (r / n) 1^T + 1 ((c - S / n) / m)^T with r, c the residuals.
    std::fill(col.begin(), col.end(), 0.0);
    double* colp = col.data();
    for (int64_t i = 0; i < m; ++i) {
      const size_t base = static_cast<size_t>(i * n);
      double* x = X.data() + base;
      const double *z = Z.data() + base, *u = U.data() + base, *c = C + base;
      double row_sum = 0;
#pragma omp simd reduction(+ : row_sum)
      for (int64_t j = 0; j < n; ++j) {
        double y = z[j] - u[j] - c[j] * inv_rho;
        x[j] = y;
        colp[j] += y;
        row_sum += y;
      }
      row[static_cast<size_t>(i)] = (a[static_cast<size_t>(i)] - row_sum) / static_cast<double>(n);
    }
    double S = 0;
    for (int64_t i = 0; i < m; ++i) S += row[static_cast<size_t>(i)] * static_cast<double>(n);
    for (int64_t j = 0; j < n; ++j)
      colp[j] = (b[static_cast<size_t>(j)] - colp[j] - S / static_cast<double>(n)) / static_cast<double>(m);
    // 2. Z = max(0, P_order(X + U)).
    for (int64_t i = 0; i < m; ++i) {
      const size_t base = static_cast<size_t>(i * n);
      double* x = X.data() + base;
      double* w = W.data() + base;
      const double* u = U.data() + base;
      const double ri = row[static_cast<size_t>(i)];
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        x[j] += ri + colp[j];
        w[j] = x[j] + u[j];
      }
    }
    Z_prev.swap(Z);
    project_order(&W, chain, &scratch);
    // 3. U += X - Z, and the stopping rule of the reference code.
    double primal = 0, dual = 0;
    {
      double *z = Z.data(), *u = U.data();
      const double *x = X.data(), *w = W.data(), *zp = Z_prev.data();
#pragma omp simd reduction(+ : primal, dual)
      for (size_t k = 0; k < size; ++k) {
        z[k] = w[k] > 0.0 ? w[k] : 0.0;
        u[k] += x[k] - z[k];
        primal += (x[k] - z[k]) * (x[k] - z[k]);
        dual += (z[k] - zp[k]) * (z[k] - zp[k]);
      }
    }
    r.iterations = it;
    if (std::max(std::sqrt(primal), options.rho * std::sqrt(dual)) <= options.tolerance) {
      r.status = "converged";
      break;
    }
  }
  r.plan = Matrix(m, n);
  r.plan.data = Z;
  r.cost = transport_cost(cost, r.plan);
  r.marginal_error = marginal_error(a, b, r.plan);
  return r;
}

const ParamSchema<AdmmOptions>& admm_option_schema() {
  static const ParamSchema<AdmmOptions> schema = [] {
    ParamSchema<AdmmOptions> s;
    s.add("admm_rho", &AdmmOptions::rho, "ADMM penalty", {1e-12, 1e12})
        .add("admm_tolerance", &AdmmOptions::tolerance, "stop when max(‖X − Z‖_F, ρ‖Z_t − Z_{t−1}‖_F) is below", {0, 1})
        .add("admm_max_iterations", &AdmmOptions::max_iterations, "iteration cap", {1, 1e9});
    return s;
  }();
  return schema;
}

namespace detail {

Solver admm_solver() {
  return make_solver<AdmmOptions>(
      "ADMM (affine projection, order projection, dual update)", admm_option_schema(),
      [](const Problem& p, const AdmmOptions& o) { return order_constrained_admm(p.a, p.b, p.cost, p.order, o); });
}

}  // namespace detail

}  // namespace loom::ot
