// The environment-facing entry points of NP, the pure stochastic program and
// the extensive form, and their declared options.
#include "loom/rl/progressive_hedging.h"

#include <chrono>

#include "loom/core/error.h"
#include "ph_engine.h"

namespace loom::rl {

const ParamSchema<ScenarioOptions>& scenario_options_schema() {
  static const ParamSchema<ScenarioOptions> schema = [] {
    ParamSchema<ScenarioOptions> s;
    s.add("scenarios", &ScenarioOptions::scenarios, "scenarios sampled from the fitted transition model per decision",
          {1, 1e6})
        .add("horizon", &ScenarioOptions::horizon, "decision stages along each scenario, the root included", {1, 16});
    return s;
  }();
  return schema;
}

const ParamSchema<PhOptions>& ph_options_schema() {
  static const ParamSchema<PhOptions> schema = [] {
    ParamSchema<PhOptions> s;
    s.add_enum<KappaSchedule>("kappa", &PhOptions::kappa,
                              {{KappaSchedule::InverseSquare, "inverse_square"},
                               {KappaSchedule::WarmStart, "warm_start"},
                               {KappaSchedule::Zero, "zero"},
                               {KappaSchedule::One, "one"}},
                              "NP's blending schedule: inverse_square (κ_i = (1+i)^-2), warm_start (κ = 1 once), "
                              "zero (plain PH), one (the policy)")
        .add("kappa_zero_after", &PhOptions::kappa_zero_after, "iterations after which κ is set to 0", {0, 1e6})
        .add("nu_initial", &PhOptions::nu_initial, "the starting PH penalty ν", {1e-12, 1e12})
        .add("nu_adaptive", &PhOptions::nu_adaptive,
             "reset ν from the dual objective at the first iteration, then adapt it (Zehtabian–Bastin)")
        .add("nu_decrease", &PhOptions::nu_decrease, "factor that lowers ν when the averages move", {0.01, 1})
        .add("nu_increase", &PhOptions::nu_increase, "factor that raises ν when the scenarios disagree", {1, 100})
        .add("epsilon", &PhOptions::epsilon, "stop when |x_s - x̄| + |y_s - ȳ| falls below this", {0, 1})
        .add("max_iterations", &PhOptions::max_iterations, "PH iterations at most", {1, 1e6})
        .add("cvar_alpha", &PhOptions::cvar_alpha, "0: expected loss; in (0, 1): CVaR_α of the loss", {0, 0.9999})
        .add("nu_y_scale", &PhOptions::nu_y_scale,
             "CVaR runs: y's penalty is ν times this; 0 = spread(x) / (spread(y) (1 - α)) from the first solve",
             {0, 1e12})
        .add("scenarios_per_bundle", &PhOptions::scenarios_per_bundle,
             "scenarios per subproblem, sharing one root (1: the paper's per-scenario PH)", {1, 1e6})
        .add("guide_leaves", &PhOptions::guide_leaves,
             "also blend the policy's actions along each scenario beyond the root")
        .add_enum<ProximalTerm>("proximal", &PhOptions::proximal,
                                {{ProximalTerm::Quadratic, "quadratic"}, {ProximalTerm::Linearized, "linearized"}},
                                "the proximal term: quadratic (a QP on Clp's barrier) or linearized (tangent cuts: "
                                "LPs re-solved from the last basis)")
        .add("proximal_tolerance", &PhOptions::proximal_tolerance,
             "linearized: a cut is added where x is farther than this from its nearest cut point", {1e-12, 1})
        .add("proximal_rounds", &PhOptions::proximal_rounds, "linearized: cut-and-resolve rounds at most per solve",
             {1, 1e6});
    return s;
  }();
  return schema;
}

namespace {

std::unique_ptr<StochasticProgram> program_of(const Environment& env, const ScenarioOptions& tree, uint64_t seed) {
  auto program = env.stochastic_program(tree, seed);
  if (!program)
    throw Error("environment '" + env.name() + "' has no scenario model: NP, the stochastic program and the " +
                "extensive form need one");
  return program;
}

}  // namespace

PhResult decide_progressive_hedging(const Environment& env, Policy* policy, const ScenarioOptions& tree,
                                    const PhOptions& options, uint64_t seed, Communicator* communicator) {
  const auto start = std::chrono::steady_clock::now();
  const ConstraintSet constraints = env.constraints();
  constraints.require_nonempty(env.name() + ": the decision state");
  auto program = program_of(env, tree, seed);
  std::vector<double> policy_action, policy_root;
  if (options.kappa != KappaSchedule::Zero) {
    if (!policy) throw Error("NP with κ > 0 needs a policy");
    policy_action = policy->act(env.observe());
    policy_root = program->root_from_action(policy_action);
  }
  PhResult r = progressive_hedging(*program, policy_root, policy_action, policy, options, communicator);
  // The consensus is a mean of feasible scenario solutions once κ is 0; the
  // projection removes rounding (and the policy's share if κ never reached 0).
  r.action = project(constraints, r.action);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

ExtensiveFormResult decide_extensive_form(const Environment& env, const ScenarioOptions& tree, double cvar_alpha,
                                          uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  const ConstraintSet constraints = env.constraints();
  constraints.require_nonempty(env.name() + ": the decision state");
  auto program = program_of(env, tree, seed);
  ExtensiveFormResult r = extensive_form(*program, cvar_alpha);
  r.action = project(constraints, r.action);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace loom::rl
