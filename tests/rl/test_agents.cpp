// DDPG, TD3 and PPO-Lagrangian through the trainer: same seed, same
// trajectory; a resumed run equals an uninterrupted one; they learn a
// continuous bandit on the simplex; policy directories round-trip.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/rl/agent.h"
#include "loom/rl/networks.h"
#include "loom/rl/portfolio.h"
#include "loom/rl/trainer.h"
#include "loom/tensor/tensor_io.h"
#include "loom/tensor/threads.h"
#include "temp_dir.h"

namespace loom::rl {
namespace {

// A scratch directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() : path_(loom::testing::fresh_temp_dir("rl_" + std::to_string(counter()++))) { make_dirs(path_); }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string path_;
};

Params agent_params(const std::string& algorithm) {
  std::vector<ParamSpec> specs = network_options_schema().specs();
  for (const auto& s : algorithm_param_specs()) specs.push_back(s);
  Params p(specs);
  p.set("hidden", "16,16", "test");
  p.set("batch_size", "16", "test");
  p.set("warmup_steps", "20", "test");
  p.set("ppo_rollout_steps", "32", "test");
  p.set("ppo_minibatch", "16", "test");
  p.set("ppo_epochs", "2", "test");
  (void)algorithm;
  return p;
}

PortfolioOptions tiny_portfolio() {
  PortfolioOptions o;
  o.synthetic_assets = 3;
  o.synthetic_days = 300;
  o.episode_days = 8;
  o.history = 5;
  o.liquidity = true;
  return o;
}

std::map<std::string, torch::Tensor> actor_of(const std::string& dir) {
  return load_tensors(dir + "/actor.safetensors");
}

bool same_tensors(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a)
    if (!b.count(k) || !torch::equal(v, b.at(k))) return false;
  return true;
}

RlTrainOptions train_options(const std::string& algorithm, int64_t steps) {
  RlTrainOptions o;
  o.algorithm = algorithm;
  o.steps = steps;
  o.eval_every = 0;
  o.checkpoint_every = 30;
  o.log_every = 20;
  o.progress = false;
  o.seed = 5;
  return o;
}

class AgentsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { set_compute_threads(1); }
};

TEST_P(AgentsTest, SameSeedSameTrajectoryAndResumeContinuesIt) {
  const std::string algorithm = GetParam();
  TempDir dir;
  const Params p = agent_params(algorithm);
  const int64_t steps = 60;
  auto run = [&](const std::string& out, int64_t stop_after) {
    auto env = make_portfolio(tiny_portfolio(), Split::Train);
    auto tune = make_portfolio(tiny_portfolio(), Split::Tune);
    RlTrainOptions o = train_options(algorithm, steps);
    if (stop_after > 0) {
      o.stop_after = stop_after;
      train_agent(*env, tune.get(), p, o, out, false);
      // A fresh process: new environment objects, state from the checkpoint only.
      env = make_portfolio(tiny_portfolio(), Split::Train);
      o.stop_after = 0;
      return train_agent(*env, tune.get(), p, o, out, true);
    }
    return train_agent(*env, tune.get(), p, o, out, false);
  };
  run(dir.path() + "/a", 0);
  run(dir.path() + "/b", 0);
  run(dir.path() + "/c", 30);  // interrupted at step 30 (a checkpoint), resumed
  EXPECT_TRUE(same_tensors(actor_of(dir.path() + "/a/policy"), actor_of(dir.path() + "/b/policy")));
  EXPECT_EQ(loom::read_file_text(dir.path() + "/a/metrics.jsonl"),
            loom::read_file_text(dir.path() + "/b/metrics.jsonl"));
  EXPECT_TRUE(same_tensors(actor_of(dir.path() + "/a/policy"), actor_of(dir.path() + "/c/policy")))
      << algorithm << ": resumed run differs";
  EXPECT_EQ(loom::read_file_text(dir.path() + "/a/metrics.jsonl"),
            loom::read_file_text(dir.path() + "/c/metrics.jsonl"));
  // And training moved the weights at all.
  auto env = make_portfolio(tiny_portfolio(), Split::Train);
  Params q = p;
  auto fresh = make_agent(algorithm, q, env->observation_spec(), env->action_spec(), 5);
  TempDir init;
  save_policy(init.path(), fresh->actor(), network_options_schema().read(q), algorithm);
  EXPECT_FALSE(same_tensors(actor_of(init.path()), actor_of(dir.path() + "/a/policy")));
}

INSTANTIATE_TEST_SUITE_P(Algorithms, AgentsTest, ::testing::Values("ddpg", "td3", "ppo_lagrangian"));

TEST(Agents, UnknownAlgorithmListsTheValidOnes) {
  auto env = make_portfolio(tiny_portfolio(), Split::Train);
  try {
    make_agent("sac", agent_params("sac"), env->observation_spec(), env->action_spec(), 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ddpg, td3, ppo_lagrangian"), std::string::npos) << e.what();
  }
}

TEST(Agents, PolicyDirectoryRoundTripsAndRefusesOtherSpaces) {
  set_compute_threads(1);
  auto env = make_portfolio(tiny_portfolio(), Split::Train);
  Params p = agent_params("ddpg");
  p.set("encoder", "lstm", "test");
  auto agent = make_agent("ddpg", p, env->observation_spec(), env->action_spec(), 1);
  TempDir dir;
  save_policy(dir.path(), agent->actor(), network_options_schema().read(p), "ddpg");
  auto loaded = load_policy(dir.path(), env->observation_spec(), env->action_spec());
  const Observation o = env->reset(3);
  const auto a = agent->policy()->act(o), b = loaded->act(o);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_DOUBLE_EQ(a[i], b[i]);
  double sum = 0;
  for (double v : b) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-12);
  PortfolioOptions other = tiny_portfolio();
  other.synthetic_assets = 4;
  auto env4 = make_portfolio(other, Split::Train);
  EXPECT_THROW(load_policy(dir.path(), env4->observation_spec(), env4->action_spec()), Error);
}

// A continuous bandit on the simplex: reward v.x for a fixed v, one step per
// episode; the best allocation puts everything on argmax v.
class SimplexBandit : public Environment {
 public:
  std::string name() const override { return "bandit"; }
  ObservationSpec observation_spec() const override { return {0, 0, 2}; }
  ActionSpec action_spec() const override {
    ActionSpec a;
    a.size = 4;
    a.kind = ActionKind::Simplex;
    return a;
  }
  int64_t max_episode_steps() const override { return 1; }
  Observation reset(uint64_t, int64_t) override { return observe(); }
  ConstraintSet constraints() const override { return ConstraintSet::simplex(4); }
  StepResult step(const std::vector<double>& x) override {
    check_action_space(action_spec(), x, "bandit");
    StepResult r;
    const double v[4] = {0.1, 0.3, 1.0, 0.2};
    for (int i = 0; i < 4; ++i) r.reward += v[i] * x[static_cast<size_t>(i)];
    r.cost = x[2] > 0.5 ? x[2] - 0.5 : 0;  // PPO-Lagrangian's constraint: at most half on the best arm
    r.done = true;
    r.observation = observe();
    return r;
  }
  Observation observe() const override { return {1.0f, 0.5f}; }
  nlohmann::json state() const override { return nlohmann::json::object(); }
  void set_state(const nlohmann::json&) override {}
};

TEST(AgentsSlow, DdpgAndTd3LearnTheBandit) {
  set_compute_threads(1);
  for (const std::string algorithm : {"ddpg", "td3"}) {
    SimplexBandit env;
    TempDir dir;
    Params p = agent_params(algorithm);
    p.set("actor_lr", "0.003", "test");
    RlTrainOptions o = train_options(algorithm, 1500);
    o.checkpoint_every = 1500;
    train_agent(env, nullptr, p, o, dir.path(), false);
    auto policy = load_policy(dir.path() + "/policy", env.observation_spec(), env.action_spec());
    const auto x = policy->act(env.observe());
    EXPECT_GT(x[2], 0.8) << algorithm << " puts " << x[2] << " on the best arm";
  }
}

TEST(AgentsSlow, PpoLagrangianLearnsTheBanditWithinItsConstraint) {
  set_compute_threads(1);
  SimplexBandit env;
  TempDir dir;
  Params p = agent_params("ppo_lagrangian");
  p.set("ppo_rollout_steps", "256", "test");
  p.set("ppo_minibatch", "64", "test");
  p.set("ppo_epochs", "8", "test");
  p.set("ppo_lr", "0.003", "test");
  p.set("ppo_lambda_lr", "2", "test");
  RlTrainOptions o = train_options("ppo_lagrangian", 6000);
  o.checkpoint_every = 6000;
  train_agent(env, nullptr, p, o, dir.path(), false);
  auto policy = load_policy(dir.path() + "/policy", env.observation_spec(), env.action_spec());
  const auto x = policy->act(env.observe());
  // Most of the weight goes to the best arm, held near the constraint's 0.5.
  EXPECT_GT(x[2], 0.35) << x[2];
  EXPECT_LT(x[2], 0.65) << x[2];
}

}  // namespace
}  // namespace loom::rl
