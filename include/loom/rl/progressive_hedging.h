// Neural-progressive hedging (NP; Ghosh et al., UAI 2022, Algorithm 1) and
// the two baselines built from the same scenario tree: the pure stochastic
// program (PH with κ = 0) and the extensive form (every scenario in one LP,
// solved whole by Clp).
//
// At each decision step the environment's fitted transition model gives a
// two-layer tree (a shared root and one leaf path per scenario). Starting
// from the policy's actions x^π, each iteration
//   1. solves every scenario subproblem  min f_s(x) + λ_s.x + ν/2 |x - x̄|²
//      on Clp (a QP, hot-started from the previous basis),
//   2. blends  x̄ ← κ_i x^π + (1 - κ_i) E[x_s]  (κ_i = (1+i)^-2, 0 after 20),
//   3. updates  λ_s += ν (x_s - x̄)  and ν (reset from the dual objective at the
//      first iteration, then x0.95 or x1.09: the Zehtabian–Bastin rule),
// until |x_s - x̄| + |y_s - ȳ| < ε. With CVaR_α each scenario also carries y_s
// (the value at risk, with its own multiplier) and minimises
// y_s + max{0, f_s - y_s}/(1 - α) as linear rows. Only the root action is
// executed; it is the mean of feasible scenario solutions, and is projected
// onto the state's constraint set, so it is feasible by construction.
//
// Scenario subproblems can be split across processes over loom's c10d
// communicator: every rank gathers every bundle's solution and does the same
// arithmetic in the same order, so the answer is bit-identical to one
// process.
//
//   loom::rl::PhOptions ph;           // defaults are the paper's
//   loom::rl::ScenarioOptions tree;   // 100 scenarios, 2 stages
//   auto r = loom::rl::decide_progressive_hedging(env, &policy, tree, ph, seed);
//   env.step(r.action);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/rl/env.h"
#include "loom/rl/policy.h"

namespace loom {
class Communicator;
}

namespace loom::rl {

struct ScenarioOptions {
  int64_t scenarios = 100;  // scenarios sampled per decision (the paper: 1,000 portfolio, 200 bikes)
  int64_t horizon = 2;      // decision stages along each scenario, the root included
};
const ParamSchema<ScenarioOptions>& scenario_options_schema();

enum class KappaSchedule {
  InverseSquare,  // κ_i = (1+i)^-2, 0 from kappa_zero_after on (the paper)
  WarmStart,      // κ = 1 at the first iteration only, then 0 (the paper's warm-start variant)
  Zero,           // κ = 0: plain progressive hedging, the pure stochastic program
  One,            // κ = 1: the policy's action, unchanged
};

enum class ProximalTerm { Quadratic, Linearized };

struct PhOptions {
  KappaSchedule kappa = KappaSchedule::InverseSquare;
  int64_t kappa_zero_after = 20;
  double nu_initial = 0.001;  // the reference code's starting penalty
  bool nu_adaptive = true;    // reset from the dual objective at the first iteration, then the Z–B rule
  double nu_decrease = 0.95, nu_increase = 1.09;
  double epsilon = 1e-5;
  int64_t max_iterations = 300;
  double cvar_alpha = 0;  // 0: the expected loss; in (0, 1): CVaR_α of the loss
  // CVaR runs: y's penalty is ν times this; 0 = automatic, spread(x) /
  // (spread(y) (1 - α)) from the first solve (our choice; the paper is silent).
  double nu_y_scale = 0;
  // Scenarios per subproblem (sharing one root inside the subproblem); 1 is
  // the paper's per-scenario PH. A choice of ours, to amortise Clp's
  // per-solve overhead (mpi-sppy calls these bundles).
  int64_t scenarios_per_bundle = 1;
  bool guide_leaves = true;  // blend the policy's actions along each scenario too, not only at the root
  // How the proximal term ν/2 |x - x̄|² reaches Clp. Quadratic: a QP on Clp's
  // barrier, exact but not hot-started. Linearized (mpi-sppy's
  // linearize_proximal_terms): x_j² becomes a column q_j above tangent cuts
  // at chosen points, so every subproblem is an LP that the simplex re-solves
  // from the previous basis; after each solve a cut is added at any x_j
  // farther than proximal_tolerance from its nearest cut and the LP re-solved.
  // A tangent touches x² with slope 2a, so a consensus on a cut point is a
  // fixed point of the exact method too. Needs finite bounds on the
  // consensus and guided columns: the bikes have them; the portfolio's
  // holdings and CVaR's y do not (use quadratic there).
  ProximalTerm proximal = ProximalTerm::Quadratic;
  double proximal_tolerance = 1e-6;  // linearized: distance from x_j to its nearest cut point
  int64_t proximal_rounds = 20;      // linearized: cut-and-resolve rounds at most per solve
};
const ParamSchema<PhOptions>& ph_options_schema();
double kappa_at(const PhOptions& options, int64_t iteration);

struct PhResult {
  std::vector<double> action;  // executed: feasible for the state's constraint set
  std::vector<double> root;    // the consensus root columns
  double var = 0;              // the consensus y (CVaR runs)
  int64_t iterations = 0;
  bool converged = false;
  double residual = 0;
  std::vector<double> residuals;  // per iteration
  double objective = 0;           // expected subproblem objective (loss, or the CVaR objective) at the end
  double nu = 0;                  // the penalty at the end
  int64_t solves = 0;             // subproblem solves on this rank (cut rounds counted)
  int64_t proximal_cuts = 0;      // linearized proximal terms: tangent cuts added on this rank
  double seconds = 0;             // scenario sampling, policy rollouts and PH
};

// NP (or, with kappa = Zero, the pure stochastic program) at the
// environment's current state. `policy` may be null only with kappa = Zero.
// `communicator` (may be null) splits the subproblems across its ranks; every
// rank must make the same call.
PhResult decide_progressive_hedging(const Environment& env, Policy* policy, const ScenarioOptions& tree,
                                    const PhOptions& options, uint64_t seed, Communicator* communicator = nullptr);

struct ExtensiveFormResult {
  std::vector<double> action;  // feasible for the state's constraint set
  std::vector<double> root;
  double objective = 0;  // the optimal expected loss (or CVaR objective)
  std::string status;    // Clp's
  int64_t rows = 0, cols = 0;
  double seconds = 0;
};
// The extensive form of the same tree (same seed, same scenarios), one LP.
ExtensiveFormResult decide_extensive_form(const Environment& env, const ScenarioOptions& tree, double cvar_alpha,
                                          uint64_t seed);

}  // namespace loom::rl
