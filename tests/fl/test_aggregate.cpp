#include <gtest/gtest.h>

#include <map>
#include <set>

#include "error_message.h"
#include "loom/fl/aggregate.h"
#include "loom/fl/round.h"
#include "loom/fl/simulate.h"

using namespace loom;
using namespace loom::fl;
using loom::testing::error_of;

namespace {

struct Planted {
  RoundUpdates round;
  torch::Tensor truth;
  std::vector<bool> bad;
};

// K parties report truth + N(0, 0.1²) noise; the bad ones report `attack(truth)`.
Planted planted(int64_t K, int64_t d, const std::vector<int>& bad_set,
                const std::function<torch::Tensor(const torch::Tensor&)>& attack, uint64_t seed = 0) {
  torch::manual_seed(static_cast<int64_t>(seed));
  Planted p;
  p.truth = torch::randn({d});
  p.bad.assign(static_cast<size_t>(K), false);
  for (int k : bad_set) p.bad[static_cast<size_t>(k)] = true;
  std::vector<torch::Tensor> rows;
  for (int64_t k = 0; k < K; ++k) {
    rows.push_back(p.bad[static_cast<size_t>(k)] ? attack(p.truth) : p.truth + 0.1 * torch::randn({d}));
    p.round.party_ids.push_back("p" + std::to_string(k));
  }
  p.round.updates = torch::stack(rows);
  p.round.sample_counts.assign(static_cast<size_t>(K), 100.0);
  p.round.layer_sizes = {d / 2, d - d / 2};
  return p;
}

double error_of_update(const Aggregate& a, const torch::Tensor& truth) {
  return ((a.update - truth).norm() / truth.norm()).item<double>();
}

}  // namespace

TEST(Aggregate, EveryAggregatorWeighsCleanPartiesEqually) {
  auto p = planted(8, 4000, {}, nullptr);
  p.round.reference = p.truth + 0.1 * torch::randn({4000});  // fltrust's server-side update
  p.round.reference_loss = [&](const torch::Tensor& u) { return (u - p.truth).pow(2).sum().item<double>(); };  // zeno's
  for (const auto& name : aggregators().names()) {
    auto a = make_aggregator(name)->aggregate(p.round);
    ASSERT_EQ(a.weights.size(), 8u) << name;
    double total = 0;
    for (double w : a.weights) total += w;
    EXPECT_NEAR(total, 1.0, 1e-9) << name;
    EXPECT_LT(error_of_update(a, p.truth), 0.12) << name;
    if (name == "krum" || name == "multi_krum" || name == "bulyan" || name == "zeno")
      continue;  // selection rules, not weightings
    for (double w : a.weights) EXPECT_NEAR(w, 1.0 / 8, 0.3 / 8) << name;
  }
}

TEST(Aggregate, BayesianAggregatorsRecoverThePlantedBadSet) {
  const std::vector<int> bad = {1, 4, 6};
  for (auto attack : std::vector<std::function<torch::Tensor(const torch::Tensor&)>>{
           [](const torch::Tensor& t) { return t + 3.0 * torch::randn(t.sizes()); },  // noisy
           [](const torch::Tensor& t) { return -4.0 * t; },                           // sign-flipped, scaled
           [](const torch::Tensor& t) { return torch::zeros_like(t); }}) {            // free rider
    auto p = planted(10, 3000, bad, attack);
    const double fedavg_error = error_of_update(make_aggregator("fedavg")->aggregate(p.round), p.truth);
    for (const char* name : {"bayes", "bayes_layer", "bayes_carry", "bayes_cf"}) {
      auto a = make_aggregator(name)->aggregate(p.round);
      auto d = detect_bad(a.weights, p.bad);
      EXPECT_EQ(d.precision, 1.0) << name;
      EXPECT_EQ(d.recall, 1.0) << name;
      EXPECT_LT(error_of_update(a, p.truth), 0.05) << name;
      EXPECT_LT(error_of_update(a, p.truth), fedavg_error) << name;
    }
  }
}

TEST(Aggregate, RobustBaselinesOnPlantedAttacks) {
  auto p = planted(10, 2000, {0, 3}, [](const torch::Tensor& t) { return -10.0 * t; });
  auto krum = make_aggregator("krum")->aggregate(p.round);
  EXPECT_EQ(krum.weights[0] + krum.weights[3], 0.0);
  auto multi = make_aggregator("multi_krum")->aggregate(p.round);
  EXPECT_EQ(multi.weights[0] + multi.weights[3], 0.0);
  EXPECT_LT(error_of_update(multi, p.truth), 0.1);
  for (const char* name : {"median", "trimmed_mean", "geomed"})
    EXPECT_LT(error_of_update(make_aggregator(name)->aggregate(p.round), p.truth), 0.1) << name;
  EXPECT_GT(error_of_update(make_aggregator("fedavg")->aggregate(p.round), p.truth), 1.0);
}

TEST(Aggregate, KnownValues) {
  RoundUpdates r;
  r.updates = torch::tensor({{1.0f}, {2.0f}, {3.0f}, {40.0f}});
  r.sample_counts = {1, 1, 1, 1};
  EXPECT_FLOAT_EQ(make_aggregator("median")->aggregate(r).update.item<float>(), 2.5f);
  Params p(aggregator_param_specs());
  p.set("trim_beta", "0.25", "test");
  EXPECT_FLOAT_EQ(make_aggregator("trimmed_mean", p)->aggregate(r).update.item<float>(), 2.5f);
  r.sample_counts = {1, 1, 1, 3};
  EXPECT_FLOAT_EQ(make_aggregator("fedavg")->aggregate(r).update.item<float>(), (1 + 2 + 3 + 120) / 6.0f);
}

TEST(Aggregate, CarriedPosteriorsRememberAPartyAndSurviveAStateRoundTrip) {
  // Round 1: party 2 is noisy. Round 2: everyone is clean. A carried
  // posterior still doubts party 2; a fresh one (bayes, or bayes_carry with
  // nothing carried) weighs it like the others.
  auto noisy = planted(6, 1000, {2}, [](const torch::Tensor& t) { return t + 2.0 * torch::randn(t.sizes()); });
  auto clean = planted(6, 1000, {}, nullptr, 1);
  auto a = make_aggregator("bayes_carry");
  a->aggregate(noisy.round);
  auto b = make_aggregator("bayes_carry");
  b->restore(nlohmann::json::parse(a->state().dump()));
  auto ra = a->aggregate(clean.round), rb = b->aggregate(clean.round);
  EXPECT_TRUE(torch::equal(ra.update, rb.update));
  EXPECT_EQ(ra.weights, rb.weights);
  const auto fresh = make_aggregator("bayes_carry")->aggregate(clean.round);
  EXPECT_NEAR(fresh.weights[2], 1.0 / 6, 0.02);
  EXPECT_LT(ra.weights[2], 0.5 * fresh.weights[2]);
  // Carrying none of the evidence is the plain model.
  Params p(aggregator_param_specs());
  p.set("bayes_carry", "0", "test");
  auto forgetful = make_aggregator("bayes_carry", p);
  forgetful->aggregate(noisy.round);
  EXPECT_EQ(forgetful->aggregate(clean.round).weights, make_aggregator("bayes")->aggregate(clean.round).weights);
  EXPECT_NE(error_of([&] {
              b->restore(nlohmann::json{{"p0", "x"}});
            }).find("party 'p0' needs [alpha, beta]"),
            std::string::npos);
}

TEST(Aggregate, BadInputIsRefused) {
  RoundUpdates r;
  r.updates = torch::tensor({{1.0f, NAN}, {2.0f, 0.0f}});
  r.sample_counts = {1, 1};
  EXPECT_NE(error_of([&] { make_aggregator("bayes")->aggregate(r); }).find("NaN"), std::string::npos);
  r.updates = torch::ones({2, 2});
  r.sample_counts = {1};
  EXPECT_NE(error_of([&] { make_aggregator("fedavg")->aggregate(r); }).find("one sample count"), std::string::npos);
  EXPECT_NE(error_of([] { make_aggregator("best"); }).find("unknown aggregator 'best'; valid: fedavg, median"),
            std::string::npos);
  Params p(aggregator_param_specs());
  p.set("trim_beta", "0.5", "test");
  EXPECT_NE(error_of([&] { make_aggregator("trimmed_mean", p); }).find("trim_beta must be below 0.5"),
            std::string::npos);
  p.set("trim_beta", "0.2", "test");
  p.set("bayes_alpha0", "0", "test");
  EXPECT_NE(error_of([&] { make_aggregator("bayes", p); }).find("bayes_alpha0 must be positive"), std::string::npos);
}

TEST(Aggregate, EachAggregatorDeclaresItsOwnParameters) {
  auto keys = [](const std::string& name) {
    std::set<std::string> out;
    for (const auto& spec : aggregators().get(name).params) out.insert(spec.name);
    return out;
  };
  EXPECT_EQ(keys("fedavg"), std::set<std::string>{});
  EXPECT_EQ(keys("trimmed_mean"), std::set<std::string>{"trim_beta"});
  EXPECT_EQ(keys("krum"), (std::set<std::string>{"krum_f", "multi_krum_m"}));
  EXPECT_TRUE(keys("bayes_carry").count("bayes_carry"));
  EXPECT_FALSE(keys("bayes_cf").count("bayes_carry"));
  EXPECT_TRUE(keys("bayes_cf").count("cf_rank"));
  // The union lists each key once, with the default its declaration gives.
  std::map<std::string, std::string> defaults;
  for (const auto& spec : aggregator_param_specs()) EXPECT_TRUE(defaults.emplace(spec.name, spec.default_value).second);
  EXPECT_EQ(defaults.at("trim_beta"), "0.2");
  EXPECT_EQ(defaults.at("bayes_alpha0"), "1");
}

TEST(Screen, FiniteButHugeUpdatesAreSetAsideBeforeAggregation) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> updates;
  for (int k = 0; k < 5; ++k) updates.push_back(torch::randn({1000}) * 0.05);  // norms ~1.6
  updates.push_back(torch::full({1000}, 3e38f));                               // FLT_MAX-scale, finite
  updates.push_back(updates[0] * 40);                                          // 40x the median
  updates.push_back(updates[1] * 5);                                           // 5x: within the ratio
  auto s = screen_by_norm(updates, {1000, 10});
  EXPECT_EQ(s.kept, (std::vector<size_t>{0, 1, 2, 3, 4, 7}));
  ASSERT_EQ(s.rejected.size(), 2u);
  EXPECT_EQ(s.rejected[0].first, 5u);
  EXPECT_NE(s.rejected[0].second.find("above max_update_norm 1000"), std::string::npos);
  EXPECT_EQ(s.rejected[1].first, 6u);
  EXPECT_NE(s.rejected[1].second.find("above max_norm_ratio 10"), std::string::npos);
  EXPECT_TRUE(std::isfinite(s.norms[5]));  // 9.5e39 in double precision, not an overflow
  // FedAvg of what was kept is an ordinary step; of everything, the one
  // party moves every parameter by ~4e37.
  std::vector<torch::Tensor> kept;
  for (size_t k : s.kept) kept.push_back(updates[k]);
  RoundUpdates r{torch::stack(kept), std::vector<double>(kept.size(), 1.0), {}, {}, {}, {}};
  EXPECT_LT(make_aggregator("fedavg")->aggregate(r).update.abs().max().item<double>(), 1.0);
  RoundUpdates all{torch::stack(updates), std::vector<double>(updates.size(), 1.0), {}, {}, {}, {}};
  EXPECT_GT(make_aggregator("fedavg")->aggregate(all).update.abs().min().item<double>(), 1e37);
  // Without bounds only what is not finite is set aside.
  updates.push_back(torch::full({1000}, NAN));
  auto unbounded = screen_by_norm(updates, {0, 0});
  EXPECT_EQ(unbounded.kept.size(), 8u);
  EXPECT_EQ(unbounded.rejected.size(), 1u);
}

TEST(Screen, AFailedAggregationFailsOnlyItsRound) {
  struct Throwing : Aggregator {
    Aggregate aggregate(const RoundUpdates&) override { throw std::runtime_error("planted failure"); }
  };
  auto p = planted(4, 100, {}, nullptr);
  const torch::Tensor global = torch::ones({100});
  Throwing throwing;
  auto failed = apply_round(global, p.round, throwing, {});
  EXPECT_NE(failed.failure.find("aggregation failed: planted failure"), std::string::npos);
  EXPECT_TRUE(torch::equal(failed.global, global));
  // One FLT_MAX-scale party, bounds off: the geometric median's distances
  // overflow and its result is NaN, which is never applied.
  RoundUpdates r = p.round;
  r.updates = torch::cat({r.updates, torch::full({1, 100}, 3e38f)});
  r.sample_counts.push_back(100);
  r.party_ids.push_back("huge");
  auto unbounded = apply_round(global, r, *make_aggregator("geomed"), {0, 0});
  EXPECT_EQ(unbounded.failure, "the aggregate is not finite");
  EXPECT_TRUE(torch::equal(unbounded.global, global));
  // With the default bounds the party is set aside and the round goes through.
  auto bounded = apply_round(global, r, *make_aggregator("geomed"), {});
  EXPECT_EQ(bounded.failure, "");
  ASSERT_EQ(bounded.screened.rejected.size(), 1u);
  EXPECT_EQ(bounded.screened.rejected[0].first, 4u);
  EXPECT_EQ(bounded.weights.size(), 4u);
  EXPECT_LT(((bounded.global - global - p.truth).norm() / p.truth.norm()).item<double>(), 0.1);
}

TEST(Aggregate, BulyanSelectsThenTrimsAndRefusesTooManyAssumedBad) {
  // K = 11 tolerates f = 2: two parties sending -10 t and one sending 50 t
  // (three bad, one more than assumed) still leave the result near the truth.
  // (Identical colluders would be each other's nearest neighbour and win Krum's selection.)
  auto p = planted(11, 2000, {2, 5, 9}, [](const torch::Tensor& t) { return -10.0 * t + torch::randn(t.sizes()); });
  p.round.updates[9] = p.truth * 50;
  auto bulyan = make_aggregator("bulyan")->aggregate(p.round);
  EXPECT_LT(error_of_update(bulyan, p.truth), 0.1);
  EXPECT_GT(error_of_update(make_aggregator("fedavg")->aggregate(p.round), p.truth), 1.0);
  for (int k : {2, 5, 9}) EXPECT_EQ(bulyan.weights[static_cast<size_t>(k)], 0.0) << k;
  Params params(aggregator_param_specs());
  params.set("bulyan_f", "3", "test");
  EXPECT_NE(error_of([&] {
              make_aggregator("bulyan", params)->aggregate(p.round);
            }).find("bulyan_f = 3 needs at least 15 parties, the round has 11"),
            std::string::npos);
}

TEST(Aggregate, FlTrustNeedsItsReferenceAndDropsUpdatesPointingAway) {
  auto p = planted(10, 3000, {0, 3, 7}, [](const torch::Tensor& t) { return -4.0 * t; });
  auto fltrust = make_aggregator("fltrust");
  EXPECT_TRUE(fltrust->needs_reference());
  EXPECT_NE(error_of([&] { fltrust->aggregate(p.round); }).find("fltrust: needs the server's update"),
            std::string::npos);
  // The server's own update is noisier than any party's, but points the right way.
  p.round.reference = p.truth + 0.5 * torch::randn({3000});
  auto a = fltrust->aggregate(p.round);
  for (int k : {0, 3, 7}) EXPECT_EQ(a.weights[static_cast<size_t>(k)], 0.0) << k;
  // Every update is rescaled to the reference's norm, so the result has its length.
  EXPECT_NEAR(a.update.norm().item<double>(), p.round.reference.norm().item<double>(),
              0.05 * p.truth.norm().item<double>());
  auto d = detect_bad(a.weights, p.bad);
  EXPECT_EQ(d.precision, 1.0);
  EXPECT_EQ(d.recall, 1.0);
}

TEST(Aggregate, BayesUsesSampleCountsOnlyWhenAsked) {
  auto p = planted(6, 3000, {}, nullptr);
  p.round.sample_counts = {100, 200, 300, 400, 500, 600};
  auto plain = make_aggregator("bayes")->aggregate(p.round);
  for (double w : plain.weights) EXPECT_NEAR(w, 1.0 / 6, 0.2 / 6);
  Params params(aggregator_param_specs());
  params.set("bayes_sample_counts", "true", "test");
  auto counted = make_aggregator("bayes", params)->aggregate(p.round);
  for (size_t k = 0; k < 6; ++k) EXPECT_NEAR(counted.weights[k], (k + 1) / 21.0, 0.2 / 21) << k;
  // Counts are claims: a sign flipper claiming 100x the samples gets a small
  // precision but a large count, which is why the server bounds counts.
  auto liar = planted(6, 3000, {5}, [](const torch::Tensor& t) { return -1.0 * t; });
  liar.round.sample_counts = {100, 100, 100, 100, 100, 1e4};
  EXPECT_LT(make_aggregator("bayes")->aggregate(liar.round).weights[5], 0.05);
  EXPECT_GT(make_aggregator("bayes", params)->aggregate(liar.round).weights[5],
            make_aggregator("bayes")->aggregate(liar.round).weights[5]);
}

TEST(Aggregate, BayesMixSeparatesACoherentMinorityAndLeavesHonestNoiseWhole) {
  // Three parties agree on another direction: a cluster of its own.
  torch::manual_seed(11);
  const torch::Tensor other = torch::randn({3000});
  auto p = planted(10, 3000, {1, 4, 8}, [&](const torch::Tensor&) { return other + 0.1 * torch::randn({3000}); });
  auto mix = make_aggregator("bayes_mix")->aggregate(p.round);
  for (int k : {1, 4, 8}) EXPECT_LT(mix.weights[static_cast<size_t>(k)], 1e-6) << k;
  EXPECT_LT(error_of_update(mix, p.truth), 0.05);
  // Honest parties only: the split does not pay for its second mean.
  auto clean = planted(10, 3000, {}, nullptr);
  auto whole = make_aggregator("bayes_mix")->aggregate(clean.round);
  for (double w : whole.weights) EXPECT_DOUBLE_EQ(w, 0.1);
}

TEST(Aggregate, ZenoKeepsTheUpdatesThatLowerTheReferenceLossEvenAtABadMajority) {
  // Six of ten parties are bad: four flip the sign, two send nothing. The
  // server's reference loss is ‖w − truth‖² with w = 0 now, so the honest
  // updates lower it, the flips raise it and the free riders leave it.
  auto p = planted(10, 3000, {0, 2, 3, 5, 7, 9}, [](const torch::Tensor& t) { return -1.0 * t; });
  p.round.updates[5].zero_();
  p.round.updates[9].zero_();
  auto zeno = make_aggregator("zeno");
  EXPECT_TRUE(zeno->needs_reference());
  EXPECT_NE(error_of([&] { zeno->aggregate(p.round); }).find("zeno: needs the server's loss"), std::string::npos);
  p.round.reference_loss = [&](const torch::Tensor& u) { return (u - p.truth).pow(2).sum().item<double>(); };
  Params params(aggregator_param_specs());
  params.set("zeno_b", "6", "test");
  auto a = make_aggregator("zeno", params)->aggregate(p.round);
  auto d = detect_bad(a.weights, p.bad);
  EXPECT_EQ(d.precision, 1.0);
  EXPECT_EQ(d.recall, 1.0);
  EXPECT_LT(error_of_update(a, p.truth), 0.1);
  EXPECT_GT(error_of_update(make_aggregator("median")->aggregate(p.round), p.truth), 0.5);
  // The default drops floor(K/2) = 5: one bad party is kept.
  auto defaults = make_aggregator("zeno")->aggregate(p.round);
  int kept_bad = 0;
  for (size_t k = 0; k < 10; ++k) kept_bad += p.bad[k] && defaults.weights[k] > 0;
  EXPECT_EQ(kept_bad, 1);
  params.set("zeno_b", "10", "test");
  EXPECT_NE(error_of([&] {
              make_aggregator("zeno", params)->aggregate(p.round);
            }).find("zeno: zeno_b = 10 drops every update of a round of 10"),
            std::string::npos);
}
