#include <algorithm>
#include <cmath>
#include <numeric>

#include "loom/core/error.h"
#include "loom/ot/order_projection.h"

namespace loom::ot {

void project_order(std::vector<double>* w, const std::vector<int64_t>& chain, std::vector<int64_t>* scratch) {
  std::vector<double>& x = *w;
  const size_t K = chain.size();
  // The other entries, largest first, revealed lazily: most projections pool
  // only a few of them, so a partial sort of the top k beats a full sort.
  std::vector<int64_t>& others = *scratch;
  others.clear();
  {
    std::vector<bool> designated(x.size(), false);
    for (int64_t c : chain) designated[static_cast<size_t>(c)] = true;
    for (size_t e = 0; e < x.size(); ++e)
      if (!designated[e]) others.push_back(static_cast<int64_t>(e));
  }
  size_t sorted = 0;
  auto reveal = [&](size_t need) {
    if (need <= sorted || sorted == others.size()) return;
    size_t k = std::min(others.size(), std::max(need, 2 * sorted + 16));
    std::partial_sort(others.begin() + static_cast<long>(sorted), others.begin() + static_cast<long>(k), others.end(),
                      [&](int64_t p, int64_t q) { return x[static_cast<size_t>(p)] > x[static_cast<size_t>(q)]; });
    sorted = k;
  };
  // Pool-adjacent-violators on the chain x[c1] >= ... >= x[cK], where the last
  // block also absorbs every other entry above its level (its cost is convex).
  struct Block {
    double sum;
    int64_t count;
    size_t first;  // index into chain
  };
  std::vector<Block> blocks;
  size_t pooled_others = 0;
  double pooled_sum = 0;
  auto tail_level = [&](const Block& blk) {
    // Level of the last block with the j largest others: scan from j = 0
    // while the next other entry lies above the level (a merge can raise the
    // level, so earlier pooling is not reused).
    pooled_others = 0;
    pooled_sum = 0;
    double level = (blk.sum + pooled_sum) / static_cast<double>(blk.count + static_cast<int64_t>(pooled_others));
    while (true) {
      reveal(pooled_others + 1);
      if (pooled_others >= others.size()) break;
      double next = x[static_cast<size_t>(others[pooled_others])];
      if (next <= level) break;
      pooled_sum += next;
      ++pooled_others;
      level = (blk.sum + pooled_sum) / static_cast<double>(blk.count + static_cast<int64_t>(pooled_others));
    }
    return level;
  };
  auto level_of = [&](const Block& blk, bool is_tail) {
    return is_tail ? tail_level(blk) : blk.sum / static_cast<double>(blk.count);
  };
  for (size_t k = 0; k < K; ++k) {
    blocks.push_back({x[static_cast<size_t>(chain[k])], 1, k});
    const bool tail = k + 1 == K;
    while (blocks.size() > 1) {
      Block& last = blocks.back();
      Block& prev = blocks[blocks.size() - 2];
      double last_level = level_of(last, tail);
      double prev_level = prev.sum / static_cast<double>(prev.count);
      if (prev_level >= last_level) break;
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
    for (int64_t j = 0; j < n; ++j) Z[static_cast<size_t>(i * n + j)] = a[static_cast<size_t>(i)] * b[static_cast<size_t>(j)] / total;
  Result r;
  r.status = "max_iterations";
  for (int64_t it = 1; it <= options.max_iterations; ++it) {
    // 1. X = affine projection of Z - U - C / rho onto {X 1 = a, X^T 1 = b}:
    //    X = Y + (r / n) 1^T + 1 ((c - S / n) / m)^T with r, c the residuals.
    std::fill(row.begin(), row.end(), 0.0);
    std::fill(col.begin(), col.end(), 0.0);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        size_t k = static_cast<size_t>(i * n + j);
        double y = Z[k] - U[k] - cost.data[k] / options.rho;
        X[k] = y;
        row[static_cast<size_t>(i)] += y;
        col[static_cast<size_t>(j)] += y;
      }
    double S = 0;
    for (int64_t i = 0; i < m; ++i) {
      row[static_cast<size_t>(i)] = (a[static_cast<size_t>(i)] - row[static_cast<size_t>(i)]) / static_cast<double>(n);
      S += row[static_cast<size_t>(i)] * static_cast<double>(n);
    }
    for (int64_t j = 0; j < n; ++j)
      col[static_cast<size_t>(j)] = (b[static_cast<size_t>(j)] - col[static_cast<size_t>(j)] - S / static_cast<double>(n)) /
                                    static_cast<double>(m);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) X[static_cast<size_t>(i * n + j)] += row[static_cast<size_t>(i)] + col[static_cast<size_t>(j)];
    // 2. Z = max(0, P_order(X + U)).
    Z_prev.swap(Z);
    for (size_t k = 0; k < size; ++k) W[k] = X[k] + U[k];
    project_order(&W, chain, &scratch);
    for (size_t k = 0; k < size; ++k) Z[k] = std::max(0.0, W[k]);
    // 3. U += X - Z, and the stopping rule of the reference code.
    double primal = 0, dual = 0;
    for (size_t k = 0; k < size; ++k) {
      U[k] += X[k] - Z[k];
      primal += (X[k] - Z[k]) * (X[k] - Z[k]);
      dual += (Z[k] - Z_prev[k]) * (Z[k] - Z_prev[k]);
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

}  // namespace loom::ot
