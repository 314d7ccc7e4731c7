// Running decision methods on an environment's held-out episodes: NP and
// every baseline of the paper behind one registry of named methods, and the
// metrics docs/np.md reports (cumulative return, annualised Sharpe ratio,
// CVaR of the per-step loss, constraint-violation rate, decision time).
//
// Methods (methods(), filled once by register_all_methods() in
// src/rl/evaluate.cpp):
//   policy    the trained policy's action, as it is (DDPG, TD3, PPO-Lagrangian)
//   policy_h  the policy's action projected onto the heuristic set (DDPG-H:
//             the expected demand plus 3 sd kept in cash)
//   np        neural-progressive hedging guided by the policy (Algorithm 1)
//   sp        the pure stochastic program: PH with κ = 0
//   ef        the extensive form of the same tree, solved whole by Clp
//   ucrp      uniform constant rebalancing (portfolio only)
//   olmar     OLMAR mean reversion (portfolio only)
//
//   loom::rl::MethodContext ctx;  ctx.policy = policy.get();
//   auto r = loom::rl::run_method(*test_env, "np", ctx, /*seed=*/0);
//   r.metrics.cumulative_return, r.metrics.violation_rate, ...
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/registry.h"
#include "loom/rl/env.h"
#include "loom/rl/policy.h"
#include "loom/rl/progressive_hedging.h"

namespace loom {
class Communicator;
}

namespace loom::rl {

struct MethodContext {
  Policy* policy = nullptr;  // the guiding / executed policy (null for methods that need none)
  ScenarioOptions tree;
  PhOptions ph;  // np's options (sp forces κ = 0; ef reads cvar_alpha)
  Communicator* communicator = nullptr;
  int64_t olmar_window = 5;
  double olmar_epsilon = 10;
};

struct MethodEntry {
  std::string help;
  bool needs_policy = false;
  // The action at the environment's current state; `seed` seeds the
  // scenario tree of this decision.
  std::function<std::vector<double>(Environment& env, MethodContext& ctx, uint64_t seed)> decide;
};
Registry<MethodEntry>& methods();

struct EpisodeTrace {
  int64_t episode = 0;
  std::vector<double> rewards;
  std::vector<double> costs;
  std::vector<bool> feasible;
  std::vector<double> decision_seconds;
  std::vector<std::vector<double>> actions;  // executed
};

struct Metrics {
  double cumulative_return = 0;  // mean over episodes of exp(Σ reward) - 1 (portfolio), or Σ reward
  double total_reward = 0;       // mean over episodes of Σ reward
  double sharpe = 0;             // mean / sd of the per-step reward, × sqrt(252) (daily steps)
  double cvar95 = 0;             // CVaR_0.95 of the per-step loss (−reward), all steps pooled
  double violation_rate = 0;     // share of steps whose executed action missed the state's constraint set
  double mean_cost = 0;          // mean violation cost per step
  double decision_seconds = 0;   // mean wall time of one decision
  int64_t steps = 0;
};
// `exponential`: the reward is a log return, and the cumulative return is
// exp(Σ r) − 1 (portfolio); otherwise the sum of rewards (bikes).
Metrics summarize(const std::vector<EpisodeTrace>& episodes, bool exponential);
nlohmann::json metrics_json(const Metrics& metrics);

struct MethodRun {
  std::string method;
  std::vector<EpisodeTrace> episodes;
  Metrics metrics;
};
// Every episode of the environment's split (episode k reset with `seed`,
// decision t's tree seeded from seed, k and t).
MethodRun run_method(Environment& env, const std::string& method, MethodContext& ctx, uint64_t seed);

}  // namespace loom::rl

namespace loom::rl {

// One decision at the environment's current state, timed: the extensive
// form (one LP, solved whole on this process) against progressive hedging
// with `ph` (split over `communicator`'s ranks), and how close PH's root
// comes to the optimum: the expected loss (or CVaR) with the root fixed at
// PH's consensus and every scenario's best recourse, relative to the
// extensive form's optimum.
struct DecisionBenchmark {
  double ef_objective = 0, ef_seconds = 0;
  std::string ef_status;
  double ph_loss_at_root = 0, ph_seconds = 0, ph_residual = 0;
  int64_t ph_iterations = 0;
  bool ph_converged = false;
  double relative_gap = 0;                // (ph_loss_at_root - ef_objective) / max(1, |ef_objective|)
  std::string gap_at = "consensus root";  // or "executed action", where the consensus root has no recourse
  int processes = 1;
};
DecisionBenchmark benchmark_decision(const Environment& env, Policy* policy, const ScenarioOptions& tree,
                                     const PhOptions& ph, uint64_t seed, Communicator* communicator);
nlohmann::json benchmark_json(const DecisionBenchmark& b);

}  // namespace loom::rl
