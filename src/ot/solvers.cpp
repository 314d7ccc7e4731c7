#include "loom/ot/solvers.h"

#include "solver_entries.h"

namespace loom::ot {

void register_all_solvers(Registry<Solver>& registry) {
  // Cutting planes cost one network simplex solve each and need more of
  // them as K grows; past K = 5 the LP is the safer exact path (a choice,
  // docs/ot.md).
  registry.add("exact", make_solver("exact: network simplex without order cells, flow for up to 5, the LP for more",
                                    [](const Problem& p) {
                                      if (p.order.empty()) return emd(p.a, p.b, p.cost);
                                      if (p.order.size() <= 5) return order_constrained_flow(p.a, p.b, p.cost, p.order);
                                      return order_constrained_lp(p.a, p.b, p.cost, p.order);
                                    }));
  registry.add("flow", detail::flow_solver());
  registry.add("lp", detail::lp_solver());
  registry.add("admm", detail::admm_solver());
  registry.add("sinkhorn", detail::sinkhorn_solver());
}

Registry<Solver>& solvers() {
  static Registry<Solver> registry("method", register_all_solvers);
  return registry;
}

std::vector<ParamSpec> solver_param_specs() {
  std::vector<ParamSpec> out;
  for (const auto& [name, solver] : solvers().entries())
    out.insert(out.end(), solver.params.begin(), solver.params.end());
  return out;
}

Result solve(const Problem& problem) { return solve(problem, Params(solver_param_specs())); }

Result solve(const Problem& problem, const Params& options, const std::string& origin) {
  return solvers().get(problem.method, origin).run(problem, options);
}

Result order_constrained(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                         const std::vector<Cell>& order, const std::string& method) {
  Problem p;
  p.a = a;
  p.b = b;
  p.cost = cost;
  p.order = order;
  p.method = method;
  return solve(p);
}

}  // namespace loom::ot
