// The named OT solvers ("exact", "flow", "lp", "admm", "sinkhorn") in one
// explicit registry, filled once by register_all_solvers(). Each solver
// declares its options once, through a ParamSchema over its options struct;
// the option names carry the solver's name ("admm_rho"), so the options of
// every solver fit in one Params (YAML config, command-line flags,
// --dump-config, the docs' table). An unknown method is an error that lists
// the valid ones, whatever the problem.
//
//   loom::ot::Problem p = loom::ot::read_problem("problem.json");
//   loom::Params options(loom::ot::solver_param_specs());
//   options.set("admm_tolerance", "1e-6", "--admm-tolerance");
//   p.method = "admm";
//   loom::ot::Result r = loom::ot::solve(p, options);
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/core/params.h"
#include "loom/core/registry.h"
#include "loom/ot/io.h"
#include "loom/ot/ot.h"

namespace loom::ot {

struct Solver {
  std::string help;
  std::vector<ParamSpec> params;  // its options, names prefixed with the solver's name
  // Solves `problem` (its method is this solver), reading the solver's own
  // options from a Params over solver_param_specs().
  std::function<Result(const Problem& problem, const Params& options)> run;
};

// A solver whose options are the struct `Options`, declared by `schema`.
template <typename Options>
Solver make_solver(std::string help, ParamSchema<Options> schema,
                   std::function<Result(const Problem&, const Options&)> run) {
  Solver s;
  s.help = std::move(help);
  s.params = schema.specs();
  s.run = [schema = std::move(schema), run = std::move(run)](const Problem& p, const Params& options) {
    return run(p, schema.read(options));
  };
  return s;
}

// A solver without options.
inline Solver make_solver(std::string help, std::function<Result(const Problem&)> run) {
  return {std::move(help), {}, [run = std::move(run)](const Problem& p, const Params&) { return run(p); }};
}

// The registry (kind "method"), filled on first use.
Registry<Solver>& solvers();
// The one list of solvers: adding one is its file plus a line here.
void register_all_solvers(Registry<Solver>& registry);

// Every solver's options, in registration order, for one Params.
std::vector<ParamSpec> solver_param_specs();

// Solves by problem.method with default options, or with `options` (a
// Params over solver_param_specs()). An unknown method is an error naming
// `origin` and listing the valid methods.
Result solve(const Problem& problem);
Result solve(const Problem& problem, const Params& options, const std::string& origin = "ot");

// The option schemas, for callers that fill the structs directly.
const ParamSchema<AdmmOptions>& admm_option_schema();
const ParamSchema<SinkhornOptions>& sinkhorn_option_schema();

}  // namespace loom::ot
