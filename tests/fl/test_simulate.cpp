#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "error_message.h"
#include "loom/core/idx.h"
#include "loom/fl/simulate.h"

using namespace loom;
using namespace loom::fl;
using loom::testing::error_of;

namespace {

std::string idx_bytes(const std::vector<uint32_t>& shape, size_t data_bytes, uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(shape.size())};
  for (uint32_t n : shape)
    for (int b = 3; b >= 0; --b) s += static_cast<char>((n >> (8 * b)) & 0xFF);
  return s + std::string(data_bytes, '\x07');
}

}  // namespace

TEST(Idx, ParsesAndRejectsMalformedFiles) {
  auto a = parse_idx(idx_bytes({3, 2, 2}, 12), "x");
  EXPECT_EQ(a.shape, (std::vector<uint32_t>{3, 2, 2}));
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.item_size(), 4u);
  EXPECT_NE(error_of([] {
              parse_idx(idx_bytes({3, 2, 2}, 11), "f.gz");
            }).find("f.gz: IDX header promises 12 bytes"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_idx(idx_bytes({3}, 3, 0x0D), "f"); }).find("not unsigned byte"), std::string::npos);
  EXPECT_NE(error_of([] { parse_idx("\x01\x02", "f"); }).find("too short"), std::string::npos);
  EXPECT_NE(error_of([] { parse_idx(std::string("\x00\x00\x08\x02\x00\x00", 6), "f"); }).find("header truncated"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_idx(idx_bytes({0xFFFFFFFF, 0xFFFFFFFF}, 0), "f");
            }).find("implausibly large"),
            std::string::npos);
}

TEST(Simulation, DirichletSplitIsAPartitionAndSkewedForSmallAlpha) {
  std::vector<int64_t> labels;
  for (int i = 0; i < 5000; ++i) labels.push_back(i % 10);
  for (double alpha : {0.1, 100.0}) {
    auto parts = dirichlet_split(labels, 5, alpha, 3);
    std::vector<int> seen(labels.size(), 0);
    double max_share = 0;
    for (const auto& p : parts) {
      std::vector<int> per_class(10, 0);
      for (int64_t i : p) {
        seen[static_cast<size_t>(i)]++;
        per_class[static_cast<size_t>(labels[static_cast<size_t>(i)])]++;
      }
      if (!p.empty())
        max_share = std::max(max_share, *std::max_element(per_class.begin(), per_class.end()) / double(p.size()));
    }
    for (int s : seen) ASSERT_EQ(s, 1);
    if (alpha < 1)
      EXPECT_GT(max_share, 0.4);  // some party is dominated by one class
    else
      EXPECT_LT(max_share, 0.2);  // near 1/10 everywhere
  }
  EXPECT_EQ(dirichlet_split(labels, 5, 0.5, 1), dirichlet_split(labels, 5, 0.5, 1));
}

TEST(Simulation, DetectionPrecisionAndRecall) {
  // Uniform weight 0.25; flagged = below 0.125.
  auto d = detect_bad({0.01, 0.3, 0.05, 0.64}, {true, false, false, true});
  EXPECT_DOUBLE_EQ(d.precision, 0.5);  // flagged {0, 2}, of which 0 is bad
  EXPECT_DOUBLE_EQ(d.recall, 0.5);     // bad {0, 3}, found 0
}

TEST(Simulation, OptionsAreValidated) {
  Params p(simulation_param_specs());
  p.set("aggregators", "fedavg,best", "t");
  EXPECT_NE(error_of([&] { SimulationOptions::from_params(p); }).find("unknown aggregator 'best'; valid: fedavg"),
            std::string::npos);
  p.set("aggregators", "fedavg", "t");
  EXPECT_NE(error_of([&] { p.set("corruption", "evil", "t"); }).find("none, label_flip"), std::string::npos);
  EXPECT_NE(error_of([&] { p.set("trim_beta", "0.7", "t"); }).find("trim_beta"), std::string::npos);
  p.set("aggregators", "fedavg,trimmed_mean", "t");
  p.set("trim_beta", "0.5", "t");  // trimmed_mean's own key, checked when it is built
  EXPECT_NE(error_of([&] { SimulationOptions::from_params(p); }).find("trim_beta must be below 0.5"),
            std::string::npos);
  p.set("trim_beta", "0.1", "t");
  p.set("bad_fraction", "1", "t");
  EXPECT_NE(error_of([&] { SimulationOptions::from_params(p); }).find("bad_fraction must lie in [0, 1)"),
            std::string::npos);
}

TEST(Simulation, CorruptionsDoWhatTheySay) {
  auto gen = at::detail::createCPUGenerator(1);
  auto u = torch::randn({1000});
  auto mean = torch::randn({1000});
  auto labels = torch::arange(10, torch::kLong);
  Params p(corruption_param_specs());
  p.set("corruption_scale", "2", "t");
  EXPECT_TRUE(torch::equal(make_corruption("label_flip")->labels(labels, gen), 9 - labels));
  EXPECT_TRUE(torch::allclose(make_corruption("sign_flip", p)->update(u, {}, gen), -2 * u));
  EXPECT_TRUE(torch::allclose(make_corruption("scaled", p)->update(u, {}, gen), 2 * u));
  EXPECT_TRUE(torch::allclose(make_corruption("colluding", p)->update(u, mean, gen), -2 * mean));
  EXPECT_TRUE(torch::allclose(make_corruption("colluding", p)->update(u, {}, gen), -2 * u));  // acting alone
  EXPECT_EQ(make_corruption("free_rider")->update(u, {}, gen).abs().sum().item<double>(), 0.0);
  auto noise = make_corruption("gaussian", p)->update(u, {}, gen);
  EXPECT_NEAR(noise.std().item<double>(), 2 * u.norm().item<double>() / std::sqrt(1000.0), 0.1);
  EXPECT_LT(std::abs(torch::dot(noise, u).item<double>()) / (noise.norm() * u.norm()).item<double>(), 0.15);
  auto random = make_corruption("random_labels")->labels(torch::zeros({2000}, torch::kLong), gen);
  EXPECT_GT(random.ne(0).sum().item<int64_t>(), 1600);  // ~90 % differ from the honest label
  EXPECT_LE(random.max().item<int64_t>(), 9);
  EXPECT_FALSE(make_corruption("none")->makes_parties_bad());
  EXPECT_TRUE(torch::equal(make_corruption("none")->update(u, mean, gen), u));
}

TEST(SimulationSlow, BayesBeatsFedAvgUnderSignFlippingOnFashionMnist) {
  SimulationOptions o;
  if (!std::filesystem::exists(o.data_dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist missing";
  o.parties = 6;
  o.rounds = 4;
  o.samples_per_party = 300;
  o.corruption = "sign_flip";
  o.bad_fraction = 1.0 / 3;
  o.dirichlet_alpha = 10;
  o.aggregators = {"fedavg", "bayes"};
  auto r = simulate(o, ::testing::TempDir() + "/loom_fl_sim");
  const double fedavg = r["final_accuracy"]["fedavg"], bayes = r["final_accuracy"]["bayes"];
  EXPECT_GT(bayes, 0.6);
  EXPECT_GT(bayes, fedavg + 0.1);
  // The two sign-flippers get almost no weight.
  auto w = r["aggregators"]["bayes"]["weights"].back();
  for (int k : r["bad_parties"]) EXPECT_LT(w[static_cast<size_t>(k)].get<double>(), 0.05);
}
