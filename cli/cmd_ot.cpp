// loom ot: order-constrained optimal transport from the command line.
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/ot/io.h"

namespace loom::cli {

void setup_ot(CLI::App* sub) {
  sub->require_subcommand(1);
  auto solve = sub->add_subcommand("solve", "solve one problem given as JSON or binary (.otb)");
  struct Args {
    std::string input, method, binary_out;
    double reg = -1;
  };
  auto a = std::make_shared<Args>();
  solve->add_option("--input", a->input, "problem file: JSON {cost, a, b, order, method} or binary .otb")->required();
  solve->add_option("--method", a->method, "overrides the file's method: exact, flow, lp, admm, sinkhorn");
  solve->add_option("--reg", a->reg, "entropic regularisation for sinkhorn");
  solve->add_option("--write-binary", a->binary_out, "also write the problem in the binary format to this path");
  solve->callback([a] {
    ot::Problem p = ot::read_problem(a->input);
    if (!a->method.empty()) p.method = a->method;
    if (a->reg > 0) p.reg = a->reg;
    if (!a->binary_out.empty()) ot::write_problem_binary(a->binary_out, p);
    ot::Result r = ot::solve(p);
    nlohmann::json plan = nlohmann::json::array();
    for (int64_t i = 0; i < r.plan.rows; ++i)
      plan.push_back(std::vector<double>(r.plan.data.begin() + i * r.plan.cols,
                                         r.plan.data.begin() + (i + 1) * r.plan.cols));
    nlohmann::json out = {{"plan", plan},       {"cost", r.cost},
                          {"status", r.status}, {"iterations", r.iterations},
                          {"method", p.method}, {"marginal_error", r.marginal_error}};
    if (!r.u.empty()) out["u"] = r.u, out["v"] = r.v;
    std::cout << out.dump() << "\n";
  });
}

}  // namespace loom::cli
