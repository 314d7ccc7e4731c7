#include "loom/core/error.h"
#include "network_flow.h"

namespace loom::ot {

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
  r.iterations = flow.pivots;
  r.marginal_error = marginal_error(a, b, r.plan);
  return r;
}

}  // namespace loom::ot
