#include <lemon/network_simplex.h>
#include <lemon/static_graph.h>

#include <algorithm>
#include <cmath>

#include "loom/core/error.h"
#include "network_flow.h"

namespace loom::ot {
namespace detail {

namespace {

// Integer masses summing exactly to `units`, each within one unit of the real value.
std::vector<int64_t> to_units(const std::vector<double>& mass, double total, int64_t units) {
  std::vector<int64_t> out(mass.size());
  int64_t sum = 0;
  size_t largest = 0;
  for (size_t i = 0; i < mass.size(); ++i) {
    out[i] = static_cast<int64_t>(std::llround(mass[i] / total * static_cast<double>(units)));
    sum += out[i];
    if (mass[i] > mass[largest]) largest = i;
  }
  out[largest] += units - sum;
  return out;
}

}  // namespace

FlowResult transport_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost, double cap,
                          std::optional<Cell> skip) {
  // A static graph: built once from the sorted arc list, compact and fast.
  using Graph = lemon::StaticDigraph;
  const int64_t m = cost.rows, n = cost.cols;
  double total = 0;
  for (double x : a) total += x;
  const int64_t units = int64_t{1} << 40;
  const double scale = static_cast<double>(units) / total;
  auto supply_a = to_units(a, total, units), supply_b = to_units(b, total, units);
  std::vector<std::pair<int, int>> arc_list;
  arc_list.reserve(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) arc_list.push_back({static_cast<int>(i), static_cast<int>(m + j)});
  Graph g;
  g.build(static_cast<int>(m + n), arc_list.begin(), arc_list.end());
  Graph::ArcMap<double> arc_cost(g);
  Graph::ArcMap<int64_t> upper(g);
  Graph::NodeMap<int64_t> supply(g);
  const int64_t cap_units = cap < 0 ? units : static_cast<int64_t>(std::floor(cap * scale + 0.5));
  for (int64_t i = 0; i < m; ++i) supply[g.node(static_cast<int>(i))] = supply_a[static_cast<size_t>(i)];
  for (int64_t j = 0; j < n; ++j) supply[g.node(static_cast<int>(m + j))] = -supply_b[static_cast<size_t>(j)];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      Graph::Arc arc = g.arc(static_cast<int>(i * n + j));
      arc_cost[arc] = cost(i, j);
      upper[arc] = (skip && skip->first == i && skip->second == j) ? 0 : cap_units;
    }
  lemon::NetworkSimplex<Graph, int64_t, double> simplex(g);
  simplex.costMap(arc_cost).upperMap(upper).supplyMap(supply);
  FlowResult out;
  if (simplex.run(lemon::NetworkSimplex<Graph, int64_t, double>::BLOCK_SEARCH) !=
      lemon::NetworkSimplex<Graph, int64_t, double>::OPTIMAL)
    return out;
  out.feasible = true;
  out.plan = Matrix(m, n);
  for (int64_t k = 0; k < m * n; ++k)
    out.plan.data[static_cast<size_t>(k)] = static_cast<double>(simplex.flow(g.arc(static_cast<int>(k)))) / scale;
  out.cost = transport_cost(cost, out.plan);
  // LEMON's reduced cost is c_ij + pi_i - pi_j >= 0 on usable arcs, so
  // u = -pi(row), v = pi(col) satisfy u_i + v_j <= c_ij.
  for (int64_t i = 0; i < m; ++i) out.u.push_back(-simplex.potential(g.node(static_cast<int>(i))));
  for (int64_t j = 0; j < n; ++j) out.v.push_back(simplex.potential(g.node(static_cast<int>(m + j))));
  return out;
}

}  // namespace detail

Result emd(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost) {
  validate(a, b, cost);
  auto flow = detail::transport_flow(a, b, cost, -1.0);
  if (!flow.feasible) throw Error("ot: network simplex found no feasible plan");
  Result r;
  r.plan = std::move(flow.plan);
  r.cost = flow.cost;
  r.u = std::move(flow.u);
  r.v = std::move(flow.v);
  r.status = "optimal";
  r.marginal_error = marginal_error(a, b, r.plan);
  return r;
}

}  // namespace loom::ot
