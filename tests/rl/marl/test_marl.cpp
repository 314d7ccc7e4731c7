// Decentralised multi-agent actor-critic (rl/marl): consensus weights and
// their limit, the critics' fixed points against exact solutions, the
// action gradients against finite differences, the bandit optimum for both
// algorithms, the per-process run against the in-process one, and bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/rl/marl/marl.h"
#include "loom_cli_run.h"
#include "temp_dir.h"

using namespace loom::rl::marl;
using loom::testing::error_of;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

loom::testing::CliRun loom_marl(const std::string& args, const std::string& dir) {
  return loom::testing::run_loom("marl " + args, dir + ".log");
}

}  // namespace

TEST(MarlGraph, MetropolisWeightsAreRowStochasticSymmetricAndZeroOffTheGraph) {
  std::vector<Graph> graphs;
  for (const auto& kind : graph_kinds()) graphs.push_back(base_graph(kind, 7, 3));
  graphs.push_back(GraphProcess(base_graph("complete", 6, 1), 0.5, 9).at(4));  // a graph with dropped links
  for (const auto& g : graphs) {
    auto c = metropolis_weights(g);
    for (int i = 0; i < g.n; ++i) {
      double row = 0;
      for (int j = 0; j < g.n; ++j) {
        const double w = c[static_cast<size_t>(i * g.n + j)];
        row += w;
        EXPECT_GE(w, 0);
        EXPECT_DOUBLE_EQ(w, c[static_cast<size_t>(j * g.n + i)]);
        if (i != j && !g.has_edge(i, j)) {
          EXPECT_EQ(w, 0.0) << i << "," << j;
        } else if (i != j) {
          EXPECT_GT(w, 0.0) << i << "," << j;
        }
      }
      EXPECT_NEAR(row, 1.0, 1e-12);
    }
  }
}

TEST(MarlGraph, ConsensusOverTheTimeVaryingGraphConvergesToTheAverage) {
  const int n = 8;
  GraphProcess graphs(base_graph("ring", n, 0), 0.4, 5);
  std::mt19937_64 rng(2);
  std::normal_distribution<double> draw(0, 3);
  std::vector<std::vector<double>> x(n, std::vector<double>(5));
  std::vector<double> mean(5, 0.0);
  for (auto& v : x)
    for (size_t k = 0; k < v.size(); ++k) mean[k] += (v[k] = draw(rng)) / n;
  const double before = consensus_error(x);
  int64_t dropped = 0;
  for (int64_t t = 0; t < 600; ++t) {
    Graph g = graphs.at(t);
    dropped += graphs.base().edges() - g.edges();
    x = consensus_round(g, x);
  }
  EXPECT_GT(dropped, 600);  // links did go down
  EXPECT_GT(before, 1.0);
  EXPECT_LT(consensus_error(x), 1e-8);
  for (const auto& v : x)
    for (size_t k = 0; k < v.size(); ++k) EXPECT_NEAR(v[k], mean[k], 1e-8);
  // The same step draws the same graph, whoever asks.
  EXPECT_EQ(graphs.at(17).neighbours, graphs.at(17).neighbours);
}

TEST(MarlGraph, DisconnectedGraphsAndCertainDropsAreRefused) {
  Graph two_parts(4);
  two_parts.add_edge(0, 1);
  two_parts.add_edge(2, 3);
  EXPECT_TRUE(contains(error_of([&] { GraphProcess(two_parts, 0.1, 0); }), "disconnected"));
  EXPECT_TRUE(contains(error_of([&] { GraphProcess(base_graph("ring", 4, 0), 1.0, 0); }), "link_drop"));
  EXPECT_TRUE(contains(error_of([&] { base_graph("torus", 4, 0); }), "valid: ring, line, star, complete, random"));
}

TEST(MarlSchedule, RobbinsMonroAndTimescaleConditionsAreCheckedAtStartUp) {
  struct Case {
    double critic_power, actor_power;
    std::string error;  // "" = valid
  };
  for (const Case& c : std::vector<Case>{{0.6, 0.9, ""},
                                         {0.4, 0.9, "critic_step_power"},
                                         {0.6, 1.5, "actor_step_power"},
                                         {0.8, 0.7, "slower timescale"},
                                         {0.7, 0.7, "slower timescale"}}) {
    MarlOptions o;
    o.step_sizes.critic.power = c.critic_power;
    o.step_sizes.actor.power = c.actor_power;
    const std::string e = error_of([&] { validate_marl_options(o); });
    if (c.error.empty())
      EXPECT_EQ(e, "") << c.critic_power << " " << c.actor_power;
    else
      EXPECT_TRUE(contains(e, c.error)) << e;
  }
  MarlOptions constant;
  constant.step_sizes.critic.power = 0;
  EXPECT_TRUE(contains(error_of([&] { validate_marl_options(constant); }), "Robbins-Monro"));
  constant.allow_constant_steps = true;
  EXPECT_EQ(error_of([&] { validate_marl_options(constant); }), "");
}

// A 3-state, 2-action MDP under a fixed stochastic policy, with features of
// (s, a) that do not span the constant vector. Average-reward TD's limit is
// the solution of the projected Bellman equation
//   Φᵀ D (r − J 1 + P Φ ω − Φ ω) = 0,
// D the stationary distribution of (s, a), P the (s, a) → (s', a') kernel.
TEST(MarlCritic, TdFixedPointIsTheProjectedBellmanSolution) {
  const int S = 3, A = 2, K = S * A;
  const double p_next[3][2][3] = {
      {{0.7, 0.2, 0.1}, {0.1, 0.6, 0.3}}, {{0.3, 0.3, 0.4}, {0.5, 0.1, 0.4}}, {{0.2, 0.5, 0.3}, {0.6, 0.2, 0.2}}};
  const double policy[3][2] = {{0.4, 0.6}, {0.7, 0.3}, {0.5, 0.5}};
  const double reward[3][2] = {{1.0, -0.5}, {0.3, 2.0}, {-1.0, 0.4}};
  const double feature[6][2] = {{0.8, 0.1}, {0.9, 0.9}, {-1.0, 0.9}, {0.3, 0.2}, {0.5, 0.7}, {-0.4, 0.3}};
  auto P = torch::zeros({K, K}, torch::kDouble), Phi = torch::zeros({K, 2}, torch::kDouble),
       r = torch::zeros({K}, torch::kDouble);
  for (int s = 0; s < S; ++s)
    for (int a = 0; a < A; ++a) {
      r[s * A + a] = reward[s][a];
      for (int f = 0; f < 2; ++f) Phi[s * A + a][f] = feature[s * A + a][f];
      for (int s2 = 0; s2 < S; ++s2)
        for (int a2 = 0; a2 < A; ++a2) P[s * A + a][s2 * A + a2] = p_next[s][a][s2] * policy[s2][a2];
    }
  auto d = torch::full({K}, 1.0 / K, torch::kDouble);
  for (int k = 0; k < 2000; ++k) d = torch::matmul(d, P);
  const double J = torch::dot(d, r).item<double>();
  auto D = torch::diag(d);
  auto A_mat = torch::matmul(Phi.t(), torch::matmul(D, Phi - torch::matmul(P, Phi)));
  auto b = torch::matmul(Phi.t(), torch::matmul(D, r - J));
  auto exact = torch::linalg_solve(A_mat, b.view({2, 1})).view({2});
  // Least squares on the reward alone: the off-policy (regression) target.
  auto regression = torch::linalg_solve(torch::matmul(Phi.t(), torch::matmul(D, Phi)),
                                        torch::matmul(Phi.t(), torch::matmul(D, r)).view({2, 1}))
                        .view({2});

  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  auto draw = [&](const double* probs, int count) {
    double x = u(rng), total = 0;
    for (int i = 0; i < count; ++i)
      if (x < (total += probs[i])) return i;
    return count - 1;
  };
  auto phi_of = [&](int k) { return std::vector<double>{feature[k][0], feature[k][1]}; };
  AverageRewardTd td(2);
  std::vector<double> regressed(2, 0.0);
  StepSchedule steps{0.05, 0.75, 5000};
  int s = 0, a = draw(policy[0], A);
  std::vector<double> td_mean(2, 0.0), regressed_mean(2, 0.0);
  double j_mean = 0;
  const int64_t total = 600000;
  for (int64_t t = 0; t < total; ++t) {
    const int s2 = draw(p_next[s][a], S), a2 = draw(policy[s2], A);
    td.update(phi_of(s * A + a), reward[s][a], phi_of(s2 * A + a2), steps.at(t));
    reward_regression_update(regressed, phi_of(s * A + a), reward[s][a], steps.at(t));
    if (t >= total / 2) j_mean += td.average_reward / (total / 2);
    if (t >= total / 2)  // Polyak average of the second half, to see the limit through the noise
      for (size_t f = 0; f < 2; ++f) {
        td_mean[f] += td.weights[f] / (total / 2);
        regressed_mean[f] += regressed[f] / (total / 2);
      }
    s = s2;
    a = a2;
  }
  EXPECT_NEAR(j_mean, J, 0.01);
  for (int f = 0; f < 2; ++f) {
    EXPECT_NEAR(td_mean[static_cast<size_t>(f)], exact[f].item<double>(), 0.05) << "feature " << f;
    EXPECT_NEAR(regressed_mean[static_cast<size_t>(f)], regression[f].item<double>(), 0.05) << "feature " << f;
  }
  // The two targets differ here, so the comparison above tells them apart.
  EXPECT_GT((exact - regression).abs().max().item<double>(), 1.0);
}

TEST(MarlCritic, ActionGradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(4);
  std::normal_distribution<double> draw(0, 1);
  for (FeatureKind kind : {FeatureKind::Generic, FeatureKind::Compatible}) {
    CriticFeatures phi(kind, /*state_size=*/3, /*agents=*/3, /*action_dim=*/2);
    std::vector<double> s(3), a(6), mu(6), w(static_cast<size_t>(phi.size()));
    for (auto* v : {&s, &a, &mu, &w})
      for (auto& x : *v) x = draw(rng);
    for (int agent = 0; agent < 3; ++agent) {
      auto g = phi.action_gradient(s, a, mu, w, agent);
      ASSERT_EQ(g.size(), 2u);
      for (int c = 0; c < 2; ++c) {
        auto up = a, down = a;
        up[static_cast<size_t>(agent * 2 + c)] += 1e-6;
        down[static_cast<size_t>(agent * 2 + c)] -= 1e-6;
        const double fd = (dot(phi.features(s, up, mu), w) - dot(phi.features(s, down, mu), w)) / 2e-6;
        EXPECT_NEAR(g[static_cast<size_t>(c)], fd, 1e-6) << "agent " << agent << " component " << c;
      }
    }
  }
}

namespace {
MarlOptions bandit_options(const std::string& algorithm) {
  MarlOptions o;
  o.env.environment = "bandit";
  o.env.agents = 3;
  o.env.action_dim = 1;
  o.algorithm = algorithm;
  o.actor = ActorKind::Linear;
  o.steps = 6000;
  o.eval_every = 6000;
  o.eval_episodes = 1;
  return o;
}
}  // namespace

TEST(MarlBandit, BothAlgorithmsReachTheOptimumAndIndependentLearnersDoNot) {
  for (const std::string algorithm : {"on_policy", "off_policy"}) {
    MarlOptions o = bandit_options(algorithm);
    auto exchange = make_in_process_exchange(o.env.agents);
    auto result = train_marl(o, *exchange);
    EXPECT_LT(result.curve.back().distance, 0.05) << algorithm;
    EXPECT_LT(result.curve.back().consensus_error, 0.05) << algorithm;
    EXPECT_GT(result.curve.front().distance, 0.1) << algorithm;
    o.critic_sharing = "independent";
    auto alone = train_marl(o, *exchange);
    EXPECT_GT(alone.curve.back().distance, 0.1) << algorithm << ": selfish critics should miss the team optimum";
  }
}

TEST(MarlBandit, NeuralActorsWithCompatibleFeaturesAreRefused) {
  MarlOptions o = bandit_options("on_policy");
  o.actor = ActorKind::Neural;
  o.features = FeatureKind::Compatible;
  EXPECT_TRUE(contains(error_of([&] { validate_marl_options(o); }), "actor: linear"));
}

TEST(MarlEnvironments, OptimaBeatPerturbedActionsAndBadActionsAreRefused) {
  for (const std::string name : {"bandit", "resource"}) {
    EnvironmentOptions o;
    o.environment = name;
    o.agents = 4;
    auto env = make_marl_environment(o);
    auto s = env->reset(3);
    auto best = *env->optimal_action(s);
    std::mt19937_64 rng(1);
    std::normal_distribution<double> draw(0, 0.05);
    for (int k = 0; k < 50; ++k) {
      auto other = best;
      for (auto& v : other) v += draw(rng);
      EXPECT_GE(env->team_reward(s, best), env->team_reward(s, other) - 1e-12) << name;
    }
    EXPECT_TRUE(contains(error_of([&] { env->step({0.1}); }), "4 agents")) << name;
    auto nan = best;
    nan[2] = std::nan("");
    EXPECT_TRUE(contains(error_of([&] { env->step(nan); }), "agent 2")) << name;
  }
  EnvironmentOptions o;
  o.environment = "soccer";
  EXPECT_TRUE(contains(error_of([&] { make_marl_environment(o); }), "valid: bandit, resource, navigation"));
}

TEST(MarlProcessesSlow, ProcessRunGivesTheInProcessParameters) {
  torch::set_num_threads(1);
  const std::string dir = loom::testing::fresh_temp_dir("marl_procs");
  const std::string args =
      " --environment resource --agents 3 --steps 300 --eval-every 100 --eval-episodes 2 --link-drop 0.3 --seed 4";
  auto run = loom_marl(args + " --processes true --out " + dir, dir);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  MarlOptions o;
  o.env.environment = "resource";
  o.env.agents = 3;
  o.steps = 300;
  o.eval_every = 100;
  o.eval_episodes = 2;
  o.link_drop = 0.3;
  o.seed = 4;
  auto exchange = make_in_process_exchange(3);
  auto in_process = train_marl(o, *exchange);
  auto params = nlohmann::json::parse(loom::read_file_text(dir + "/params.json"));
  EXPECT_EQ(params.at("actors").get<std::vector<std::vector<double>>>(), in_process.actor_parameters);
  EXPECT_EQ(params.at("critics").get<std::vector<std::vector<double>>>(), in_process.critic_parameters);
  EXPECT_GT(in_process.curve.back().consensus_error, 0);  // agents did hold different critics
}

TEST(MarlProcessesSlow, CrashedOrSilentNeighbourIsAnErrorNotAHang) {
  const std::string dir = loom::testing::fresh_temp_dir("marl_fault");
  const std::string args =
      " --environment bandit --agents 3 --steps 400 --eval-every 400 --processes true"
      " --dist-timeout-s 2 --fault-agent 1 --fault-step 50";
  auto crash = loom_marl(args + " --fault crash", dir + "_crash");
  EXPECT_NE(crash.exit_code, 0);
  EXPECT_TRUE(contains(crash.output, "an agent process failed")) << crash.output;
  EXPECT_TRUE(contains(crash.output, "exit code 3")) << crash.output;  // the crashed agent's own code
  EXPECT_LT(crash.seconds, 30);
  auto hang = loom_marl(args + " --fault hang", dir + "_hang");
  EXPECT_NE(hang.exit_code, 0);
  // Neighbours' send/recv name the silent rank; the all-gather cannot, and says what failed.
  EXPECT_TRUE(contains(hang.output, "could not receive from rank 1") ||
              contains(hang.output, "could not send to rank 1") ||
              contains(hang.output, "marl: agent 0: the all-gather"))
      << hang.output;
  EXPECT_LT(hang.seconds, 30);
}

TEST(MarlCliSlow, BadInputIsAClearError) {
  const std::string dir = loom::testing::fresh_temp_dir("marl_bad");
  struct Case {
    std::string args, error;
  };
  for (const Case& c : std::vector<Case>{{"--critic-step-power 0.3", "critic_step_power"},
                                         {"--actor-step-power 0.55", "slower timescale"},
                                         {"--graph hexagon", "valid: ring"},
                                         {"--algorithm sarsa", "valid: on_policy, off_policy"},
                                         {"--features compatible", "actor: linear"}}) {
    auto run = loom_marl(c.args + " --steps 10 --eval-every 10", dir);
    EXPECT_EQ(run.exit_code, 2) << c.args << "\n" << run.output;
    EXPECT_TRUE(contains(run.output, c.error)) << c.args << "\n" << run.output;
  }
}
