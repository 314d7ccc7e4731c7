// The generic supernet pieces: search spaces and samplers, budgets, the
// budgeted evolutionary search, latency tables, the accuracy predictor.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/supernet/latency_table.h"
#include "loom/supernet/predictor.h"
#include "loom/supernet/search.h"
#include "loom/supernet/space.h"
#include "temp_dir.h"

using namespace loom;
using loom::testing::error_of;

namespace {

ElasticSpace two_layer_space() {
  return ElasticSpace({{"width", GeneKind::Width, {8, 16, 32}},
                       {"depth", GeneKind::Depth, {1, 2}},
                       {"ffn.0", GeneKind::Width, {4, 8}, 1, 0},
                       {"ffn.1", GeneKind::Width, {4, 8}, 1, 1}});
}

// Cost rises with every gene: params = width * (Σ active ffn).
SubnetCost toy_cost(const ElasticSpace& space, const Genome& g) {
  double ffn = 0;
  for (size_t i = 2; i < g.size(); ++i)
    if (space.active(g, i)) ffn += static_cast<double>(g[i]);
  SubnetCost c;
  c.params = static_cast<double>(g[0]) * ffn;
  c.latency_ms = c.params / 100.0;
  return c;
}

}  // namespace

TEST(SupernetSpace, SamplersStartWithTheMaxnetAndHoldFixedKindsAtTheirLargest) {
  auto space = two_layer_space();
  SubnetRng rng(3);
  auto sandwich = subnet_samplers().get("sandwich").sample(space, {3, {GeneKind::Width}}, rng);
  ASSERT_EQ(sandwich.size(), 5u);
  EXPECT_EQ(sandwich[0], (Genome{32, 2, 8, 8}));
  EXPECT_EQ(sandwich[1], (Genome{8, 2, 4, 4}));  // width-only stage: depth stays 2
  for (const auto& g : sandwich) EXPECT_EQ(g[1], 2);
  auto with_depth = subnet_samplers().get("sandwich").sample(space, {0, {GeneKind::Width, GeneKind::Depth}}, rng);
  EXPECT_EQ(with_depth[1], (Genome{8, 1, 4, 4}));
  EXPECT_EQ(subnet_samplers().get("largest").sample(space, {}, rng).size(), 1u);
  EXPECT_NE(error_of([&] { subnet_samplers().get("sandwhich", "config.yaml:4"); }).find("valid: sandwich, random"),
            std::string::npos);
}

TEST(SupernetSpace, InactiveGenesDoNotDistinguishSubnets) {
  auto space = two_layer_space();
  EXPECT_FALSE(space.active({8, 1, 4, 4}, 3));
  EXPECT_TRUE(space.active({8, 2, 4, 4}, 3));
  EXPECT_EQ(space.canonical({8, 1, 4, 4}), space.canonical({8, 1, 4, 8}));
  EXPECT_EQ(space.features({8, 1, 4, 4}), space.features({8, 1, 4, 8}));
  EXPECT_EQ(space.to_json({8, 1, 4, 4}).size(), 3u);
  EXPECT_EQ(space.from_json(space.to_json({16, 2, 8, 4}), "spec"), (Genome{16, 2, 8, 4}));
  EXPECT_NE(error_of([&] {
              space.from_json({{"width", 8}, {"depth", 1}, {"ffn.0", 4}, {"heads", 2}}, "s.json");
            }).find("s.json: unknown elastic dimension 'heads'; valid: width, depth, ffn.0, ffn.1"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              space.check({12, 2, 4, 4}, "subnet");
            }).find("width = 12 is not one of"),
            std::string::npos);
}

TEST(SupernetSearch, BudgetsParseAndRefuseWhatTheyCannotRead) {
  auto b = parse_budgets("params=1.5e3, latency_ms=2", "--budget");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].metric, CostMetric::Params);
  EXPECT_DOUBLE_EQ(b[0].limit, 1500);
  EXPECT_EQ(b[1].text(), "latency_ms=2");
  for (auto [text, message] : std::vector<std::pair<const char*, const char*>>{
           {"params", "is not metric=limit"},
           {"lat=3", "unknown budget metric 'lat'; valid: params, flops, latency_ms"},
           {"flops=abc", "'abc' is not a number"},
           {"flops=1e3x", "is not a number"},
           {"params=-4", "must be positive"},
           {"params=1,params=2", "given twice"},
           {"", "empty budget"}})
    EXPECT_NE(error_of([&] { parse_budgets(text, "--budget"); }).find(message), std::string::npos) << text;
}

TEST(SupernetSearch, NeverReturnsASubnetOverBudgetAndFindsTheBestWithin) {
  auto space = two_layer_space();
  // Score = params: the best subnet is the largest that fits.
  auto cost = [&](const Genome& g) { return toy_cost(space, g); };
  auto score = [&](const Genome& g) { return toy_cost(space, g).params; };
  SearchOptions o;
  o.population = 12;
  o.generations = 6;
  for (double limit : {40.0, 100.0, 250.0, 1000.0}) {
    SCOPED_TRACE(limit);
    auto r = evolutionary_search(space, parse_budgets("params=" + std::to_string(limit), "b"), cost, score, o);
    EXPECT_LE(r.best.cost.params, limit);
    // Exhaustive check of the optimum under the budget.
    double best = 0;
    for (int64_t w : {8, 16, 32})
      for (int64_t d : {1, 2})
        for (int64_t f0 : {4, 8})
          for (int64_t f1 : {4, 8}) {
            double p = toy_cost(space, {w, d, f0, f1}).params;
            if (p <= limit) best = std::max(best, p);
          }
    EXPECT_DOUBLE_EQ(r.best.score, best);
    for (size_t g = 1; g < r.best_score_per_generation.size(); ++g)
      EXPECT_GE(r.best_score_per_generation[g], r.best_score_per_generation[g - 1]);
  }
  // The smallest subnet costs 8 * 4 = 32 parameters: below that is impossible.
  std::string e = error_of([&] { evolutionary_search(space, parse_budgets("params=20", "b"), cost, score, o); });
  EXPECT_NE(e.find("no subnet fits the budget params=20 (the cheapest subnet found needs 32)"), std::string::npos) << e;
}

TEST(SupernetSearch, AccuracyPredictorRecoversAnAdditiveModel) {
  auto space = two_layer_space();
  SubnetRng rng(5);
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  auto truth = [&](const Genome& g) {
    return 0.5 + 0.01 * static_cast<double>(g[0]) + (g[1] == 2 ? 0.05 : 0.0) + 0.002 * static_cast<double>(g[2]);
  };
  for (int i = 0; i < 40; ++i) {
    Genome g = space.random(rng, all_gene_kinds());
    x.push_back(space.features(g));
    y.push_back(truth(g));
  }
  auto p = AccuracyPredictor::fit(x, y, 1e-6);
  std::vector<double> predicted, actual;
  for (int i = 0; i < 20; ++i) {
    Genome g = space.random(rng, all_gene_kinds());
    predicted.push_back(p.predict(space.features(g)));
    actual.push_back(truth(g));
    EXPECT_NEAR(predicted.back(), actual.back(), 1e-4);
  }
  EXPECT_GT(spearman_correlation(predicted, actual), 0.99);
  auto back = AccuracyPredictor::from_json(p.to_json(), "p.json");
  EXPECT_DOUBLE_EQ(back.predict(x[0]), p.predict(x[0]));
  EXPECT_NE(error_of([&] {
              AccuracyPredictor::from_json({{"weights", 3}}, "p.json");
            }).find("p.json"),
            std::string::npos);
}

TEST(SupernetLatency, TableMeasuresOnceCachesAndRefusesAnotherMachine) {
  const std::string dir = loom::testing::fresh_temp_dir("latency");
  const std::string path = dir + "/table.json";
  int runs = 0;
  {
    LatencyTable t(path, this_machine(1), {1, 3});
    double ms = t.get("block a", [&] { ++runs; });
    EXPECT_GE(ms, 0.0);
    EXPECT_EQ(runs, 4);
    t.get("block a", [&] { ++runs; });
    EXPECT_EQ(runs, 4);  // cached
    t.save();
  }
  LatencyTable again(path, this_machine(1));
  ASSERT_TRUE(again.find("block a").has_value());
  EXPECT_EQ(again.measured(), 0);
  EXPECT_NE(error_of([&] { LatencyTable other(path, this_machine(2)); }).find("measured on"), std::string::npos);
  write_file_atomic(path, "{\"machine\": 1}");
  EXPECT_NE(error_of([&] { LatencyTable bad(path, this_machine(1)); }).find("not a latency table"), std::string::npos);
  std::filesystem::remove_all(dir);
}
