// Decentralised deterministic multi-agent actor-critic (Grosnit, Cai and
// Wynter, arXiv 2102.09745; docs/marl.md). Every agent i keeps a neural (or
// linear) actor μ^i and a linear critic φ(s, a)ᵀω^i; each step it
//   1. acts (on-policy: μ^i(s) plus exploration; off-policy: a behaviour policy),
//   2. updates its critic from its own reward r^i (average-reward TD or
//      reward regression: the algorithm registry, marl_algorithms()),
//   3. mixes critics with its current neighbours, ω^i ← Σ_j c^ij ω̃^j
//      (Metropolis weights on a time-varying random graph, rl/marl/graph.h),
//   4. ascends θ^i += β_θ ∇_θ μ^i(s) ∇_{a^i} Q̂ (two timescales, rl/marl/schedule.h).
// The same code runs all agents in one process (in-process exchange) or one
// agent per process (c10d send/recv with deadlines, only between current
// neighbours; the joint action and targets μ^j(s) go to all by all-gather,
// as every agent observes the joint action). critic_sharing = central
// (every agent learns the team-mean reward with one shared critic: the
// upper reference) or independent (no consensus: the lower one) gives the
// baselines.
//
//   MarlOptions o;  o.env.environment = "bandit";  o.algorithm = "off_policy";
//   auto exchange = make_in_process_exchange(o.env.agents);
//   MarlResult r = train_marl(o, *exchange);
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/core/registry.h"
#include "loom/rl/marl/actor.h"
#include "loom/rl/marl/critic.h"
#include "loom/rl/marl/environment.h"
#include "loom/rl/marl/graph.h"
#include "loom/rl/marl/schedule.h"

namespace loom {
class Communicator;
}

namespace loom::rl::marl {

struct MarlOptions {
  EnvironmentOptions env;
  std::string algorithm = "on_policy";
  std::string critic_sharing = "consensus";  // consensus | central | independent
  FeatureKind features = FeatureKind::Generic;
  ActorKind actor = ActorKind::Neural;
  std::vector<std::string> actor_hidden = {"16"};
  uint64_t seed = 0;
  int64_t steps = 20000;
  int64_t eval_every = 1000;
  int64_t eval_episodes = 16;
  double exploration_sigma = 0.2;  // on-policy: Gaussian noise on μ^i(s)
  double behaviour_sigma = 0.5;    // off-policy: behaviour = μ^i(s) + N(0, σ²) (wider than on-policy's)
  TwoTimescale step_sizes{{0.05, 0.6, 2000}, {0.02, 0.9, 2000}};
  bool allow_constant_steps = false;
  std::string graph = "ring";
  double graph_density = 0.5;
  double link_drop = 0.2;
  int threads = 1;
  std::string out;  // metrics.json and params.json (empty: none written)
  // Fault injection for the failure tests: agent `fault_agent` crashes (exit
  // code 3) or hangs at step fault_step (one agent per process only).
  int fault_agent = -1;
  int64_t fault_step = 0;
  std::string fault = "crash";
};
const ParamSchema<MarlOptions>& marl_options_schema();
// Checks what a run needs before it starts: step-size conditions, a
// connected base graph, compatible features only with linear actors, ...
void validate_marl_options(const MarlOptions& options);

struct MarlAlgorithmEntry {
  std::string help;
  // The executed action, from μ^i(s).
  std::function<std::vector<double>(const std::vector<double>& mu, const MarlOptions& options, std::mt19937_64& rng)>
      behaviour;
  // ω̃ from ω on one transition; returns the error δ.
  std::function<double(AverageRewardTd& critic, const std::vector<double>& phi, double reward,
                       const std::vector<double>& phi_next, double beta)>
      critic_step;
  // The joint action at which agent i reads ∇_{a^i} Q̂.
  std::function<std::vector<double>(const std::vector<double>& taken, const std::vector<double>& mu, int agent,
                                    int action_dim)>
      gradient_point;
};
Registry<MarlAlgorithmEntry>& marl_algorithms();

// How agents see each other's numbers.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual std::vector<int> local_agents() const = 0;
  // Each local agent's vector (equal sizes everywhere) -> every agent's, in agent order.
  virtual std::vector<std::vector<double>> gather(const std::vector<std::vector<double>>& local) = 0;
  // Each local agent's vector goes to its neighbours on `graph`; the result,
  // indexed by agent, holds the local agents' and their neighbours' vectors
  // (others empty).
  virtual std::vector<std::vector<double>> swap_with_neighbours(const Graph& graph,
                                                                const std::vector<std::vector<double>>& local) = 0;
};
std::unique_ptr<Exchange> make_in_process_exchange(int agents);
// Agent = rank; neighbours exchange by send/recv in a global edge order
// (deadlock-free), every call bounded by the communicator's timeout.
std::unique_ptr<Exchange> make_process_exchange(Communicator& communicator);

struct MarlEvaluation {
  int64_t step = 0;
  double team_reward = 0;      // noise-free mean reward of μ over the evaluation episodes
  double distance = -1;        // RMS distance of μ(s) to the optimal joint action (-1: unknown)
  double consensus_error = 0;  // sqrt(mean_i ‖ω^i − ω̄‖²)
  double average_reward = 0;   // the agents' mean Ĵ
  double seconds = 0;          // wall time since the start of training
};

struct MarlResult {
  std::vector<MarlEvaluation> curve;
  std::vector<std::vector<double>> actor_parameters;   // per agent
  std::vector<std::vector<double>> critic_parameters;  // per agent
  double seconds = 0;
};

MarlResult train_marl(const MarlOptions& options, Exchange& exchange);
// metrics.json (options, curve) and params.json (per-agent parameters), atomically.
void write_marl_result(const std::string& dir, const MarlOptions& options, const MarlResult& result);

}  // namespace loom::rl::marl
