#include "loom/ot/explain.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "loom/core/error.h"

namespace loom::ot {

std::vector<Alternative> explain_by_order(const std::vector<double>& a, const std::vector<double>& b,
                                          const Matrix& cost, const ExplainOptions& options) {
  if (options.plans < 1 || options.nodes < 1 || options.depth < 1)
    throw Error("ot explain: nodes, plans and depth must be positive");
  Result base = emd(a, b, cost);
  const int64_t m = cost.rows, n = cost.cols;
  // Normalised plan and the largest entry per row and column.
  Matrix y(m, n);
  std::vector<double> row_max(static_cast<size_t>(m), 0.0), col_max(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double cap = std::min(a[static_cast<size_t>(i)], b[static_cast<size_t>(j)]);
      y(i, j) = cap > 0 ? base.plan(i, j) / cap : 0.0;
      row_max[static_cast<size_t>(i)] = std::max(row_max[static_cast<size_t>(i)], y(i, j));
      col_max[static_cast<size_t>(j)] = std::max(col_max[static_cast<size_t>(j)], y(i, j));
    }
  std::vector<Cell> candidates;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (y(i, j) > options.tau_cell) continue;
      // The largest *other* entry of the line; if (i, j) is the line's maximum
      // it is already at most tau_cell, so the line maximum is a safe bound.
      double line = std::min(row_max[static_cast<size_t>(i)], col_max[static_cast<size_t>(j)]);
      if (line <= options.tau_line) candidates.push_back({i, j});
    }

  struct Node {
    std::vector<Cell> order;
    double bound;
  };
  auto worse = [](const Node& p, const Node& q) { return p.bound > q.bound; };
  std::priority_queue<Node, std::vector<Node>, decltype(worse)> frontier(worse);
  auto push_children = [&](const std::vector<Cell>& order) {
    if (static_cast<int64_t>(order.size()) >= options.depth) return;
    for (const Cell& c : candidates) {
      bool clash = false;
      for (const Cell& o : order) clash |= (o.first == c.first || o.second == c.second);
      if (clash) continue;
      std::vector<Cell> child = order;
      child.push_back(c);
      double bound = order_constrained_lower_bound(a, b, cost, child);
      if (std::isfinite(bound)) frontier.push({child, bound});  // infinite: no plan can honour it
    }
  };
  push_children({});
  std::vector<Alternative> best;
  int64_t expanded = 0;
  while (!frontier.empty() && expanded < options.nodes) {
    Node node = frontier.top();
    frontier.pop();
    const bool full = static_cast<int64_t>(best.size()) >= options.plans;
    if (full && node.bound >= best.back().result.cost) break;  // best-first: nothing left can beat it
    ++expanded;
    Alternative alt{node.order, {}, node.bound};
    try {
      alt.result = order_constrained(a, b, cost, node.order, options.method);
    } catch (const Error&) {
      continue;  // infeasible although the relaxation was not
    }
    best.push_back(std::move(alt));
    std::sort(best.begin(), best.end(),
              [](const Alternative& p, const Alternative& q) { return p.result.cost < q.result.cost; });
    if (static_cast<int64_t>(best.size()) > options.plans) best.pop_back();
    push_children(node.order);
  }
  return best;
}

}  // namespace loom::ot
