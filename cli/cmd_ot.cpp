// loom ot: order-constrained optimal transport from the command line.
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/ot/explain.h"
#include "loom/ot/io.h"

namespace loom::cli {

void setup_ot_explain(CLI::App* sub);

void setup_ot(CLI::App* sub) {
  sub->require_subcommand(1);
  setup_ot_explain(sub);
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

void setup_ot_explain(CLI::App* sub) {
  auto explain = sub->add_subcommand("explain", "alternative plans, each forcing one salient match (tree search)");
  struct Args {
    std::string input;
    ot::ExplainOptions options;
  };
  auto a = std::make_shared<Args>();
  explain->add_option("--input", a->input, "problem file (JSON or .otb); its order is ignored")->required();
  explain->add_option("--plans", a->options.plans, "alternative plans returned (k2)")->capture_default_str();
  explain->add_option("--nodes", a->options.nodes, "search nodes expanded (k1)")->capture_default_str();
  explain->add_option("--depth", a->options.depth, "forced cells per plan (k3)")->capture_default_str();
  explain->add_option("--tau-cell", a->options.tau_cell, "candidate: normalised mass at most this")
      ->capture_default_str();
  explain->add_option("--tau-line", a->options.tau_line, "candidate: its row or column maximum at most this")
      ->capture_default_str();
  explain->callback([a] {
    ot::Problem p = ot::read_problem(a->input);
    auto base = ot::emd(p.a, p.b, p.cost);
    auto alternatives = ot::explain_by_order(p.a, p.b, p.cost, a->options);
    nlohmann::json out = {{"base_cost", base.cost}, {"alternatives", nlohmann::json::array()}};
    for (const auto& alt : alternatives) {
      nlohmann::json order = nlohmann::json::array();
      for (auto [i, j] : alt.order) order.push_back({i, j});
      out["alternatives"].push_back({{"order", order},
                                     {"cost", alt.result.cost},
                                     {"cost_increase", alt.result.cost - base.cost},
                                     {"lower_bound", alt.lower_bound}});
    }
    std::cout << out.dump() << "\n";
  });
}

}  // namespace loom::cli
