#include "loom/rl/marl/marl.h"

#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "algorithms/algorithms.h"
#include "loom/core/atomic_file.h"
#include "loom/core/error.h"

namespace loom::rl::marl {

const ParamSchema<MarlOptions>& marl_options_schema() {
  using O = MarlOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.include<EnvironmentOptions>(environment_options_schema(), [](O& o) -> EnvironmentOptions& { return o.env; })
        .add("algorithm", &O::algorithm, "on_policy (Algorithm 1) or off_policy (Algorithm 2)")
        .add_choice("critic_sharing", &O::critic_sharing, {"consensus", "central", "independent"},
                    "consensus over the graph; central (one critic of the mean reward: upper reference); "
                    "independent (no consensus: lower reference)")
        .add_enum<FeatureKind>("features", &O::features,
                               {{FeatureKind::Generic, "generic"}, {FeatureKind::Compatible, "compatible"}},
                               "critic features: generic (quadratic in the action) or compatible (linear actors)")
        .add_enum<ActorKind>("actor", &O::actor, {{ActorKind::Neural, "neural"}, {ActorKind::Linear, "linear"}},
                             "actor: neural (MLP, tanh head) or linear in [1, s]")
        .add("actor_hidden", &O::actor_hidden, "hidden layer sizes of neural actors, comma-separated")
        .add("seed", &O::seed, "run seed (initial actors, exploration, rewards' noise, graph draws)")
        .add("steps", &O::steps, "training steps", {1, 1e9})
        .add("eval_every", &O::eval_every, "steps between evaluations", {1, 1e9})
        .add("eval_episodes", &O::eval_episodes, "evaluation episodes (fixed seeds apart from training)", {1, 1e6})
        .add("exploration_sigma", &O::exploration_sigma, "on-policy: Gaussian exploration around mu^i(s)", {0, 10})
        .add("behaviour_sigma", &O::behaviour_sigma, "off-policy: behaviour policy mu^i(s) + N(0, sigma^2)", {0, 10})
        .add_nested<double>(
            "critic_step_scale", [](O& o) -> double& { return o.step_sizes.critic.scale; },
            "critic step size beta_omega at step 0")
        .add_nested<double>(
            "critic_step_power", [](O& o) -> double& { return o.step_sizes.critic.power; },
            "beta_omega(t) = scale / (1 + t / horizon)^power; Robbins-Monro: 0.5 < power <= 1")
        .add_nested<double>(
            "critic_step_horizon", [](O& o) -> double& { return o.step_sizes.critic.horizon; },
            "steps over which beta_omega stays near its scale")
        .add_nested<double>(
            "actor_step_scale", [](O& o) -> double& { return o.step_sizes.actor.scale; },
            "actor step size beta_theta at step 0")
        .add_nested<double>(
            "actor_step_power", [](O& o) -> double& { return o.step_sizes.actor.power; },
            "beta_theta's power; must exceed critic_step_power (actor on the slower timescale)")
        .add_nested<double>(
            "actor_step_horizon", [](O& o) -> double& { return o.step_sizes.actor.horizon; },
            "steps over which beta_theta stays near its scale")
        .add("allow_constant_steps", &O::allow_constant_steps,
             "accept power 0 (constant steps), which breaks the convergence conditions (ablations)")
        .add("graph", &O::graph, "communication graph: ring, line, star, complete or random")
        .add("graph_density", &O::graph_density, "random graph: edge probability", {0, 1})
        .add("link_drop", &O::link_drop, "probability that a link of the graph is down at a step", {0, 1})
        .add("threads", &O::threads, "torch threads per process", {1, 256})
        .add("out", &O::out, "directory for metrics.json and params.json")
        .add("fault_agent", &O::fault_agent, "testing: the agent that fails (-1: none; process mode)", {-1, 65535})
        .add("fault_step", &O::fault_step, "testing: the step at which it fails", {0, 1e12})
        .add_choice("fault", &O::fault, {"crash", "hang"}, "testing: how the agent fails");
    return s;
  }();
  return schema;
}

namespace {
void register_all_marl_algorithms(Registry<MarlAlgorithmEntry>& r) {
  register_on_policy(r);
  register_off_policy(r);
}
}  // namespace

Registry<MarlAlgorithmEntry>& marl_algorithms() {
  static Registry<MarlAlgorithmEntry> registry("marl algorithm", register_all_marl_algorithms);
  return registry;
}

void validate_marl_options(const MarlOptions& o) {
  marl_algorithms().get(o.algorithm, "algorithm");
  marl_environments().get(o.env.environment, "environment");
  check_two_timescale(o.step_sizes, o.allow_constant_steps);
  if (o.features == FeatureKind::Compatible && o.actor != ActorKind::Linear)
    throw Error(
        "features: compatible features need actor: linear (a neural actor's compatible features are its "
        "parameter Jacobian, which agents do not share)");
  GraphProcess(base_graph(o.graph, o.env.agents, o.seed, o.graph_density), o.link_drop, o.seed);
  if (o.eval_every > o.steps) throw Error("eval_every " + std::to_string(o.eval_every) + " exceeds steps");
}

namespace {

struct LocalAgent {
  int id = 0;
  std::unique_ptr<LocalActor> actor;
  AverageRewardTd critic{0};
  std::mt19937_64 rng;
};

std::vector<double> concat(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> out(x);
  out.insert(out.end(), y.begin(), y.end());
  return out;
}

// Evaluation seeds lie apart from the training seeds (which are the run seed).
constexpr uint64_t kEvaluationSeed = 0xE7A100000000ULL;

class Trainer {
 public:
  Trainer(const MarlOptions& o, Exchange& exchange)
      : o_(o),
        ex_(exchange),
        algorithm_(marl_algorithms().get(o.algorithm, "algorithm")),
        env_(make_marl_environment(o.env)),
        n_(env_->agents()),
        d_(env_->action_dim()),
        features_(o.features, env_->state_size(), n_, d_),
        graphs_(base_graph(o.graph, n_, o.seed, o.graph_density), o.link_drop, o.seed) {
    for (int id : ex_.local_agents()) {
      LocalAgent a;
      a.id = id;
      a.actor = make_local_actor(o.actor, env_->state_size(), d_, env_->action_low(), env_->action_high(),
                                 o.actor_hidden, o.seed * 1000003ULL + static_cast<uint64_t>(id));
      a.critic = AverageRewardTd(features_.size());
      a.rng.seed(o.seed * 7919ULL + static_cast<uint64_t>(id) + 1);
      agents_.push_back(std::move(a));
    }
  }

  MarlResult run() {
    MarlResult result;
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    std::vector<double> s = env_->reset(o_.seed);
    std::vector<double> phi_prev, rewards_prev;
    const size_t joint = static_cast<size_t>(n_ * d_);
    for (int64_t t = 0; t <= o_.steps; ++t) {
      if (t % o_.eval_every == 0 || t == o_.steps) {
        result.curve.push_back(evaluate(t));
        result.curve.back().seconds = elapsed();
      }
      if (t == o_.steps) break;
      maybe_fail(t);
      // 1. act, and see the joint action and targets.
      std::vector<std::vector<double>> mine;
      for (auto& a : agents_) {
        auto mu = a.actor->act(s);
        mine.push_back(concat(algorithm_.behaviour(mu, o_, a.rng), mu));
      }
      auto everyone = ex_.gather(mine);
      std::vector<double> taken, mu;
      for (const auto& v : everyone) {
        taken.insert(taken.end(), v.begin(), v.begin() + d_);
        mu.insert(mu.end(), v.begin() + d_, v.end());
      }
      taken = clip_joint_action(*env_, taken);
      if (mu.size() != joint) throw Error("marl: gathered " + std::to_string(mu.size()) + " target components");
      // 2-3. the critic on the transition that ended here, then consensus.
      auto phi = features_.features(s, taken, mu);
      if (!phi_prev.empty()) {
        const double beta = o_.step_sizes.critic.at(t);
        double team = 0;
        for (double r : rewards_prev) team += r / n_;
        for (auto& a : agents_) {
          const double r = o_.critic_sharing == "central" ? team : rewards_prev[static_cast<size_t>(a.id)];
          algorithm_.critic_step(a.critic, phi_prev, r, phi, beta);
        }
        mix_critics(t);
      }
      // 4. the actors, on the slower timescale.
      const double beta_theta = o_.step_sizes.actor.at(t);
      for (auto& a : agents_) {
        auto point = algorithm_.gradient_point(taken, mu, a.id, d_);
        auto g = features_.action_gradient(s, point, mu, a.critic.weights, a.id);
        a.actor->ascend(s, g, beta_theta);
      }
      auto next = env_->step(taken);
      rewards_prev = next.rewards;
      phi_prev = std::move(phi);
      s = std::move(next.state);
    }
    result.seconds = elapsed();
    std::vector<std::vector<double>> actors, critics;
    for (auto& a : agents_) {
      actors.push_back(a.actor->parameters());
      critics.push_back(concat(a.critic.weights, {a.critic.average_reward}));
    }
    result.actor_parameters = ex_.gather(actors);
    result.critic_parameters = ex_.gather(critics);
    return result;
  }

 private:
  void mix_critics(int64_t t) {
    std::vector<std::vector<double>> mine;
    for (auto& a : agents_) mine.push_back(a.critic.weights);
    if (o_.critic_sharing == "independent") return;
    if (o_.critic_sharing == "central") {
      auto all = ex_.gather(mine);
      std::vector<double> mean(all[0].size(), 0.0);
      for (const auto& w : all)
        for (size_t k = 0; k < w.size(); ++k) mean[k] += w[k] / n_;
      for (auto& a : agents_) a.critic.weights = mean;
      return;
    }
    const Graph g = graphs_.at(t);
    auto seen = ex_.swap_with_neighbours(g, mine);
    for (auto& a : agents_) {
      std::vector<double> mixed(a.critic.weights.size(), 0.0);
      for (const auto& [j, c] : metropolis_row(g, a.id)) {
        const auto& w = seen[static_cast<size_t>(j)];
        for (size_t k = 0; k < mixed.size(); ++k) mixed[k] += c * w[k];
      }
      a.critic.weights = std::move(mixed);
    }
  }

  // Every agent's μ^i(s), joined.
  std::vector<double> joint_target(const std::vector<double>& s) {
    std::vector<std::vector<double>> mine;
    for (auto& a : agents_) mine.push_back(a.actor->act(s));
    std::vector<double> out;
    for (const auto& v : ex_.gather(mine)) out.insert(out.end(), v.begin(), v.end());
    return out;
  }

  MarlEvaluation evaluate(int64_t t) {
    MarlEvaluation e;
    e.step = t;
    auto env = make_marl_environment(o_.env);
    double reward = 0, distance = 0;
    int64_t counted = 0;
    bool known = true;
    for (int64_t episode = 0; episode < o_.eval_episodes; ++episode) {
      auto s = env->reset(kEvaluationSeed + static_cast<uint64_t>(episode));
      for (int64_t k = 0; k < env->evaluation_steps(); ++k, ++counted) {
        auto a = clip_joint_action(*env, joint_target(s));
        reward += env->team_reward(s, a);
        auto best = env->optimal_action(s);
        if (best) {
          double sq = 0;
          for (size_t c = 0; c < a.size(); ++c) sq += (a[c] - (*best)[c]) * (a[c] - (*best)[c]);
          distance += std::sqrt(sq / static_cast<double>(a.size()));
        } else {
          known = false;
        }
        if (env->evaluation_steps() > 1) s = env->step(a).state;
      }
    }
    e.team_reward = reward / static_cast<double>(counted);
    e.distance = known ? distance / static_cast<double>(counted) : -1;
    std::vector<std::vector<double>> mine, js;
    for (auto& a : agents_) {
      mine.push_back(a.critic.weights);
      js.push_back({a.critic.average_reward});
    }
    e.consensus_error = consensus_error(ex_.gather(mine));
    for (const auto& j : ex_.gather(js)) e.average_reward += j[0] / n_;
    return e;
  }

  void maybe_fail(int64_t t) {
    if (o_.fault_agent < 0 || t != o_.fault_step) return;
    for (auto& a : agents_)
      if (a.id == o_.fault_agent) {
        if (o_.fault == "crash") std::_Exit(3);
        std::this_thread::sleep_for(std::chrono::hours(1));
      }
  }

  const MarlOptions& o_;
  Exchange& ex_;
  const MarlAlgorithmEntry& algorithm_;
  std::unique_ptr<MultiAgentEnvironment> env_;
  int n_, d_;
  CriticFeatures features_;
  GraphProcess graphs_;
  std::vector<LocalAgent> agents_;
};

}  // namespace

MarlResult train_marl(const MarlOptions& options, Exchange& exchange) {
  validate_marl_options(options);
  if (options.fault_agent >= 0 && exchange.local_agents().size() > 1)
    throw Error("fault_agent: fault injection needs one agent per process (the process mode)");
  Trainer trainer(options, exchange);
  return trainer.run();
}

void write_marl_result(const std::string& dir, const MarlOptions& options, const MarlResult& result) {
  nlohmann::json curve = nlohmann::json::array();
  for (const auto& e : result.curve)
    curve.push_back({{"step", e.step},
                     {"team_reward", e.team_reward},
                     {"distance", e.distance},
                     {"consensus_error", e.consensus_error},
                     {"average_reward", e.average_reward},
                     {"seconds", e.seconds}});
  nlohmann::json metrics = {{"format", "loom-marl-metrics-1"},
                            {"algorithm", options.algorithm},
                            {"environment", options.env.environment},
                            {"critic_sharing", options.critic_sharing},
                            {"agents", options.env.agents},
                            {"seed", options.seed},
                            {"link_drop", options.link_drop},
                            {"seconds", result.seconds},
                            {"curve", curve}};
  make_dirs(dir);
  write_file_atomic(dir + "/metrics.json", metrics.dump(1) + "\n");
  nlohmann::json params = {
      {"format", "loom-marl-params-1"}, {"actors", result.actor_parameters}, {"critics", result.critic_parameters}};
  write_file_atomic(dir + "/params.json", params.dump() + "\n");
}

}  // namespace loom::rl::marl
