// Permutation-invariant multi-task RL: the networks' symmetry, the task
// sampler's distribution and weights, reproducible and resumable training,
// and the errors on bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/mtrl/mtrl.h"
#include "loom/tensor/tensor_io.h"
#include "loom_cli_run.h"
#include "temp_dir.h"

namespace loom::mtrl {
namespace {

constexpr int64_t kFeatures = 6, kGlobal = 3;

// [B, N F + G] observations and their resource-permuted copy.
std::pair<torch::Tensor, torch::Tensor> permuted_pair(int64_t batch, const std::vector<int64_t>& perm) {
  const auto n = static_cast<int64_t>(perm.size());
  auto x = torch::randn({batch, n * kFeatures + kGlobal});
  auto r = x.narrow(1, 0, n * kFeatures).reshape({batch, n, kFeatures});
  auto index = torch::tensor(perm, torch::kInt64);
  auto y =
      torch::cat({r.index_select(1, index).reshape({batch, n * kFeatures}), x.narrow(1, n * kFeatures, kGlobal)}, 1);
  return {x, y};
}

torch::Tensor permute_actions(const torch::Tensor& a, const std::vector<int64_t>& perm) {
  std::vector<int64_t> columns = {0};
  for (int64_t p : perm) columns.push_back(p + 1);
  return a.index_select(1, torch::tensor(columns, torch::kInt64));
}

struct SymmetryCase {
  Pooling pooling;
  const char* name;
};

TEST(MtrlNetworks, PermutingResourcesPermutesTheActorAndLeavesTheCriticUnchanged) {
  const std::vector<int64_t> perm = {3, 0, 4, 1, 2};
  for (const auto& c : {SymmetryCase{Pooling::None, "none"}, SymmetryCase{Pooling::Mean, "mean"},
                        SymmetryCase{Pooling::Max, "max"}, SymmetryCase{Pooling::MeanMax, "mean_max"}}) {
    SCOPED_TRACE(c.name);
    torch::manual_seed(3);
    AllocationNetworkOptions o;
    o.pooling = c.pooling;
    AllocationActor actor(kFeatures, kGlobal, o, 0);
    AllocationCritic critic(kFeatures, kGlobal, o, 0);
    auto [x, y] = permuted_pair(7, perm);
    torch::NoGradGuard no_grad;
    const auto a = actor->act(x), b = actor->act(y);
    // Exactly: the pooled mean sums in sorted order (src/mtrl/networks.cpp).
    EXPECT_TRUE(torch::equal(permute_actions(a, perm), b));
    EXPECT_TRUE(torch::equal(critic->forward(x, a), critic->forward(y, b)));
    // The critic does depend on which resource holds which weight.
    EXPECT_FALSE(torch::equal(critic->forward(x, a), critic->forward(y, a)));
  }
}

TEST(MtrlNetworks, TheMlpBaselineIsNotEquivariant) {
  torch::manual_seed(4);
  AllocationNetworkOptions o;
  o.architecture = Architecture::Mlp;
  AllocationActor actor(kFeatures, kGlobal, o, 6);
  const std::vector<int64_t> perm = {1, 2, 0, 4, 3};
  auto [x, y] = permuted_pair(4, perm);
  torch::NoGradGuard no_grad;
  EXPECT_GT((permute_actions(actor->act(x), perm) - actor->act(y)).abs().max().item<double>(), 1e-4);
}

TEST(MtrlNetworks, OneActorRunsOnAnyNumberOfResources) {
  torch::manual_seed(5);
  AllocationActor actor(kFeatures, kGlobal, AllocationNetworkOptions{}, 0);
  AllocationCritic critic(kFeatures, kGlobal, AllocationNetworkOptions{}, 0);
  torch::NoGradGuard no_grad;
  for (int64_t n : {1, 3, 12}) {
    auto x = torch::randn({2, n * kFeatures + kGlobal});
    auto a = actor->act(x);
    ASSERT_EQ(a.size(1), n + 1);
    EXPECT_NEAR(a.sum(1)[0].item<double>(), 1.0, 1e-6);
    EXPECT_EQ(critic->forward(x, a).size(1), 1);
  }
  AllocationNetworkOptions mlp;
  mlp.architecture = Architecture::Mlp;
  AllocationActor fixed(kFeatures, kGlobal, mlp, 4);
  try {
    fixed->act(torch::randn({1, 5 * kFeatures + kGlobal}));
    FAIL() << "an mlp with 4 slots took 5 resources";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_resources"), std::string::npos) << e.what();
  }
}

TEST(MtrlSampler, FrequenciesFollowThePrioritiesAndAlphaZeroIsUniform) {
  SamplerOptions o;
  o.alpha = 1;
  o.epsilon = 1e-12;
  TaskSampler sampler(4, o);
  for (size_t k = 0; k < 4; ++k) sampler.set_priority(k, static_cast<double>(k + 1));
  const std::vector<double> expected = {0.1, 0.2, 0.3, 0.4};
  const auto p = sampler.probabilities();
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(p[k], expected[k], 1e-9);
  std::mt19937_64 rng(11);
  const int draws = 40000;
  std::vector<int> count(4);
  for (int i = 0; i < draws; ++i) ++count[sampler.draw(rng)];
  for (size_t k = 0; k < 4; ++k) {
    const double sd = std::sqrt(expected[k] * (1 - expected[k]) / draws);
    EXPECT_NEAR(count[k] / static_cast<double>(draws), expected[k], 4 * sd) << "task " << k;
  }
  o.alpha = 0;
  TaskSampler uniform(4, o);
  for (size_t k = 0; k < 4; ++k) uniform.set_priority(k, static_cast<double>(k * k + 1));
  for (double v : uniform.probabilities()) EXPECT_DOUBLE_EQ(v, 0.25);
  // Ineligible tasks are never drawn, the others renormalised.
  const std::vector<bool> eligible = {true, false, true, false};
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(eligible[sampler.draw(rng, eligible)]);
  EXPECT_NEAR(sampler.probabilities(eligible)[2], 0.75, 1e-9);
}

TEST(MtrlSampler, ImportanceWeightsHaveTheirKnownValues) {
  SamplerOptions o;
  o.alpha = 1;
  o.epsilon = 1e-12;
  for (double beta : {1.0, 0.5, 0.0}) {
    o.beta = beta;
    TaskSampler sampler(4, o);
    for (size_t k = 0; k < 4; ++k) sampler.set_priority(k, static_cast<double>(k + 1));
    // P = 0.1 .. 0.4; w_k = (1/(K P_k))^β / max_j (1/(K P_j))^β = (0.1 / P_k)^β.
    for (size_t k = 0; k < 4; ++k)
      EXPECT_NEAR(sampler.importance_weight(k), std::pow(1.0 / static_cast<double>(k + 1), beta), 1e-9);
  }
  // A loss moves the priority by its moving average, the first one replaces the initial value.
  o.decay = 0.75;
  TaskSampler sampler(2, o);
  sampler.observe(0, 2.0);
  EXPECT_DOUBLE_EQ(sampler.priority(0), 2.0);
  sampler.observe(0, 6.0);
  EXPECT_DOUBLE_EQ(sampler.priority(0), 0.75 * 2.0 + 0.25 * 6.0);
  EXPECT_THROW(sampler.observe(1, std::nan("")), Error);
}

// A small synthetic run: 4 assets, three 2-asset tasks and one held out.
MtrlOptions tiny_run(const std::string& out) {
  MtrlOptions o;
  auto& env = o.domain.portfolio.env;
  env.synthetic_assets = 4;
  env.synthetic_days = 160;
  env.episode_days = 8;
  env.history = 4;
  env.test_windows = 1;
  o.tasks.subset_size = 2;
  o.tasks.train_tasks = 3;
  o.tasks.holdout_tasks = 1;
  o.network.encoder_hidden = {"8"};
  o.network.embedding = 4;
  o.network.head_hidden = {"8"};
  o.ddpg.batch_size = 8;
  o.ddpg.warmup_steps = 12;
  o.steps = 48;
  o.eval_every = 24;
  o.checkpoint_every = 24;
  o.progress = false;
  o.seed = 9;
  o.out = out;
  return o;
}

TEST(MtrlTraining, SameSeedSameTrajectoryAndResumeContinuesIt) {
  const std::string root = loom::testing::fresh_temp_dir("mtrl_resume");
  MtrlOptions o = tiny_run(root + "/a");
  const MtrlResult a = train_mtrl(o, o.out, false);
  const MtrlResult b = train_mtrl(o, root + "/b", false);
  const std::string log_a = loom::read_file_text(root + "/a/metrics.jsonl");
  ASSERT_NE(log_a.find("episode_return"), std::string::npos);
  EXPECT_EQ(log_a, loom::read_file_text(root + "/b/metrics.jsonl"));
  // Interrupted after 30 steps (checkpoint at 24), then resumed.
  MtrlOptions cut = o;
  cut.stop_after = 30;
  train_mtrl(cut, root + "/c", false);
  const MtrlResult c = train_mtrl(o, root + "/c", true);
  EXPECT_EQ(log_a, loom::read_file_text(root + "/c/metrics.jsonl"));
  ASSERT_EQ(a.curve.size(), c.curve.size());
  EXPECT_EQ(a.curve.back().returns, c.curve.back().returns);
  EXPECT_EQ(a.task_draws, c.task_draws);
  const auto wa = load_tensors(root + "/a/policy/actor.safetensors");
  const auto wc = load_tensors(root + "/c/policy/actor.safetensors");
  for (const auto& [name, t] : wa) EXPECT_TRUE(torch::equal(t, wc.at(name))) << name;
  // Another seed is another trajectory.
  MtrlOptions other = cut;
  other.seed = 10;
  train_mtrl(other, root + "/d", false);
  EXPECT_NE(loom::read_file_text(root + "/c/metrics.jsonl").substr(0, 200),
            loom::read_file_text(root + "/d/metrics.jsonl").substr(0, 200));
  // The saved policy runs zero-shot on a subset of another size.
  o.tasks.holdout = {"A0+A1+A2"};
  o.policy = root + "/a/policy";
  const auto returns = evaluate_mtrl(o);
  EXPECT_TRUE(std::isfinite(returns.at("h0")));
  std::filesystem::remove_all(root);
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(MtrlErrors, BadInputNamesTheField) {
  const std::vector<std::string> universe = {"A", "B", "C"};
  TaskSetOptions o;
  o.subset_size = 4;
  expect_error([&] { make_task_set(universe, o); }, {"subset_size", "4", "universe of 3"});
  o.subset_size = 2;
  o.train_tasks = 3;
  o.holdout_tasks = 1;
  expect_error([&] { make_task_set(universe, o); }, {"train_tasks", "distinct subsets"});
  o.tasks = {"A+D"};
  expect_error([&] { make_task_set(universe, o); }, {"tasks", "'D'"});
  o.tasks = {"A+B"};
  o.holdout = {"B+A"};
  expect_error([&] { make_task_set(universe, o); }, {"holdout", "also a training task"});
  o.holdout = {"B+C"};
  const TaskSet set = make_task_set(universe, o);
  expect_error([&] { set.find("t7", "eval_tasks"); }, {"eval_tasks", "unknown task 't7'", "t0, h0"});
  // A resource with a missing price in the universe's CSV.
  const std::string dir = loom::testing::fresh_temp_dir("mtrl_missing");
  std::filesystem::create_directories(dir);
  const std::string csv = dir + "/prices.csv";
  std::ofstream(csv) << "date,A,B\n2020-01-01,1,2\n2020-01-02,1.1,\n";
  DomainOptions d;
  d.portfolio.env.prices = csv;
  expect_error([&] { make_domain(d); }, {csv + ":3", "column 'B'", "missing price"});
  d.domain = "bogus";
  expect_error([&] { make_domain(d); }, {"domain", "unknown multi-task domain 'bogus'", "portfolio"});
  std::filesystem::remove_all(dir);
}

TEST(MtrlCli, BadInputFailsWithTheFieldNamed) {
  const std::string dir = loom::testing::fresh_temp_dir("mtrl_cli");
  std::filesystem::create_directories(dir);
  auto r =
      loom::testing::run_loom("mtrl train --subset-size 9 --synthetic-assets 4 --out " + dir + "/run", dir + "/log");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("subset_size: 9 is larger than the universe of 4"), std::string::npos) << r.output;
  r = loom::testing::run_loom(
      "mtrl evaluate --subset-size 2 --train-tasks 2 --holdout-tasks 1 --eval-tasks t0,t9 --out " + dir + "/run",
      dir + "/log");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("eval_tasks: unknown task 't9'; valid: t0, t1, h0"), std::string::npos) << r.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loom::mtrl
