// NP and its baselines as named decision methods, and the held-out metrics.
#include "loom/rl/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>

#include "loom/core/error.h"
#include "loom/rl/portfolio.h"
#include "ph_engine.h"

namespace loom::rl {
namespace {

Policy& require_policy(MethodContext& ctx, const char* method) {
  if (!ctx.policy) throw Error(std::string("method '") + method + "' needs a policy (--policy DIR)");
  return *ctx.policy;
}

const PortfolioEnv& require_portfolio(const Environment& env, const char* method) {
  const auto* p = dynamic_cast<const PortfolioEnv*>(&env);
  if (!p)
    throw Error(std::string("method '") + method + "' is an online-portfolio strategy; env is '" + env.name() + "'");
  return *p;
}

// The one place the built-in methods are listed.
void register_all_methods(Registry<MethodEntry>& r) {
  r.add("policy", {"the trained policy's action, unchanged (DDPG, TD3, PPO-Lagrangian)", true,
                   [](Environment& env, MethodContext& ctx, uint64_t) {
                     return require_policy(ctx, "policy").act(env.observe());
                   }});
  r.add("policy_h", {"DDPG-H: the policy's action projected onto the heuristic set (mean + 3 sd of demand in cash)",
                     true, [](Environment& env, MethodContext& ctx, uint64_t) {
                       return project(env.heuristic_constraints(), require_policy(ctx, "policy_h").act(env.observe()));
                     }});
  r.add("np", {"neural-progressive hedging guided by the policy (Algorithm 1)", true,
               [](Environment& env, MethodContext& ctx, uint64_t seed) {
                 return decide_progressive_hedging(env, &require_policy(ctx, "np"), ctx.tree, ctx.ph, seed,
                                                   ctx.communicator)
                     .action;
               }});
  r.add("sp", {"the pure stochastic program: progressive hedging with κ = 0", false,
               [](Environment& env, MethodContext& ctx, uint64_t seed) {
                 PhOptions o = ctx.ph;
                 o.kappa = KappaSchedule::Zero;
                 return decide_progressive_hedging(env, nullptr, ctx.tree, o, seed, ctx.communicator).action;
               }});
  r.add("ef", {"the extensive form of the same scenario tree, solved whole by Clp", false,
               [](Environment& env, MethodContext& ctx, uint64_t seed) {
                 return decide_extensive_form(env, ctx.tree, ctx.ph.cvar_alpha, seed).action;
               }});
  r.add("ucrp", {"uniform constant rebalancing over the assets and cash (portfolio)", false,
                 [](Environment& env, MethodContext&, uint64_t) {
                   return make_ucrp_policy(require_portfolio(env, "ucrp"))->act(env.observe());
                 }});
  r.add("olmar", {"OLMAR moving-average mean reversion (Li & Hoi 2012; portfolio)", false,
                  [](Environment& env, MethodContext& ctx, uint64_t) {
                    return make_olmar_policy(require_portfolio(env, "olmar"), ctx.olmar_window, ctx.olmar_epsilon)
                        ->act(env.observe());
                  }});
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

Registry<MethodEntry>& methods() {
  static Registry<MethodEntry> registry("method", register_all_methods);
  return registry;
}

Metrics summarize(const std::vector<EpisodeTrace>& episodes, bool exponential) {
  Metrics m;
  if (episodes.empty()) throw Error("metrics of no episodes");
  std::vector<double> rewards, seconds;
  int64_t infeasible = 0;
  double cost = 0;
  for (const auto& e : episodes) {
    const double total = std::accumulate(e.rewards.begin(), e.rewards.end(), 0.0);
    m.total_reward += total / static_cast<double>(episodes.size());
    m.cumulative_return += (exponential ? std::expm1(total) : total) / static_cast<double>(episodes.size());
    rewards.insert(rewards.end(), e.rewards.begin(), e.rewards.end());
    seconds.insert(seconds.end(), e.decision_seconds.begin(), e.decision_seconds.end());
    for (bool f : e.feasible) infeasible += f ? 0 : 1;
    cost += std::accumulate(e.costs.begin(), e.costs.end(), 0.0);
  }
  m.steps = static_cast<int64_t>(rewards.size());
  if (m.steps == 0) throw Error("metrics of episodes without steps");
  const double mean = mean_of(rewards);
  double var = 0;
  for (double r : rewards) var += (r - mean) * (r - mean);
  var = m.steps > 1 ? var / static_cast<double>(m.steps - 1) : 0.0;
  m.sharpe = var > 0 ? mean / std::sqrt(var) * std::sqrt(252.0) : 0.0;
  std::vector<double> losses;
  for (double r : rewards) losses.push_back(-r);
  m.cvar95 = empirical_cvar(losses, 0.95);
  m.violation_rate = static_cast<double>(infeasible) / static_cast<double>(m.steps);
  m.mean_cost = cost / static_cast<double>(m.steps);
  m.decision_seconds = mean_of(seconds);
  return m;
}

nlohmann::json metrics_json(const Metrics& m) {
  return {{"cumulative_return", m.cumulative_return},
          {"total_reward", m.total_reward},
          {"sharpe", m.sharpe},
          {"cvar95", m.cvar95},
          {"violation_rate", m.violation_rate},
          {"mean_cost", m.mean_cost},
          {"decision_seconds", m.decision_seconds},
          {"steps", m.steps}};
}

MethodRun run_method(Environment& env, const std::string& method, MethodContext& ctx, uint64_t seed) {
  const MethodEntry& entry = methods().get(method, "method");
  if (entry.needs_policy) require_policy(ctx, method.c_str());
  MethodRun run;
  run.method = method;
  for (int64_t k = 0; k < env.episodes(); ++k) {
    EpisodeTrace e;
    e.episode = k;
    env.reset(seed, k);
    for (int64_t t = 0;; ++t) {
      const auto start = std::chrono::steady_clock::now();
      // Decision t of episode k: its own tree seed, the same for every method.
      const uint64_t tree_seed = seed * 1000003ULL + static_cast<uint64_t>(k) * 10007ULL + static_cast<uint64_t>(t);
      std::vector<double> action = entry.decide(env, ctx, tree_seed);
      e.decision_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      StepResult r = env.step(action);
      e.rewards.push_back(r.reward);
      e.costs.push_back(r.cost);
      e.feasible.push_back(r.feasibility.feasible);
      e.actions.push_back(std::move(action));
      if (r.done) break;
    }
    run.episodes.push_back(std::move(e));
  }
  run.metrics = summarize(run.episodes, dynamic_cast<const PortfolioEnv*>(&env) != nullptr);
  return run;
}

}  // namespace loom::rl

namespace loom::rl {

DecisionBenchmark benchmark_decision(const Environment& env, Policy* policy, const ScenarioOptions& tree,
                                     const PhOptions& ph, uint64_t seed, Communicator* communicator) {
  DecisionBenchmark b;
  const ExtensiveFormResult ef = decide_extensive_form(env, tree, ph.cvar_alpha, seed);
  b.ef_objective = ef.objective;
  b.ef_seconds = ef.seconds;
  b.ef_status = ef.status;
  const PhResult r = decide_progressive_hedging(env, policy, tree, ph, seed, communicator);
  b.ph_seconds = r.seconds;
  b.ph_iterations = r.iterations;
  b.ph_converged = r.converged;
  b.ph_residual = r.residual;
  auto program = env.stochastic_program(tree, seed);  // the same tree: same seed
  // The consensus root; where a scenario has no recourse for it (the
  // barrier's consensus can miss a root-only equality row by more than
  // Clp's tolerance: seen on the bikes), the executed, projected action's.
  if (!try_loss_at_root(*program, r.root, ph.cvar_alpha, &b.ph_loss_at_root)) {
    b.gap_at = "executed action";
    b.ph_loss_at_root = loss_at_root(*program, program->root_from_action(r.action), ph.cvar_alpha);
  }
  b.relative_gap = (b.ph_loss_at_root - b.ef_objective) / std::max(1.0, std::fabs(b.ef_objective));
  return b;
}

nlohmann::json benchmark_json(const DecisionBenchmark& b) {
  return {{"ef_objective", b.ef_objective},
          {"ef_seconds", b.ef_seconds},
          {"ef_status", b.ef_status},
          {"ph_loss_at_root", b.ph_loss_at_root},
          {"ph_seconds", b.ph_seconds},
          {"ph_residual", b.ph_residual},
          {"ph_iterations", b.ph_iterations},
          {"ph_converged", b.ph_converged},
          {"relative_gap", b.relative_gap},
          {"processes", b.processes},
          {"gap_at", b.gap_at}};
}

}  // namespace loom::rl
