#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <fstream>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/merge/merge.h"
#include "loom/models/model_dir.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;

namespace {

torch::Tensor merged(const std::string& method, const std::vector<torch::Tensor>& t, std::vector<double> w,
                     std::vector<double> density, bool frequency = false) {
  MergeOptions o;
  o.method = method;
  o.sign_by_frequency = frequency;
  auto gen = at::detail::createCPUGenerator(0);
  return merge_task_tensors(t, w, density, o, gen);
}

PeftAdapter random_adapter(const LlamaConfig& cfg, int64_t r, uint64_t seed, const std::string& name) {
  LlamaForCausalLM m(cfg);
  LoraConfig lc;
  lc.r = r;
  lc.alpha = 2.0 * r;
  lc.target_modules = {"q_proj", "down_proj"};
  attach_lora(*m, lc, seed);
  torch::NoGradGuard g;
  torch::manual_seed(seed);
  for (auto& [n, lora] : lora_adapters(*m)) lora->lora_B->weight.normal_(0, 0.3);
  auto a = peft_adapter_of(*m);
  a.origin = name;
  return a;
}

}  // namespace

TEST(Merge, TiesTrimsElectsSignAndAveragesAgreeingEntries) {
  auto t1 = torch::tensor({4.0, -1.0, 0.5, 3.0});
  auto t2 = torch::tensor({-2.0, -3.0, 0.25, 1.0});
  auto t3 = torch::tensor({-1.0, 2.0, 0.1, -5.0});
  // density 0.5 keeps the top 2 magnitudes: t1 -> [4,0,0,3], t2 -> [-2,-3,0,0], t3 -> [0,2,0,-5].
  // Signs of the sums: [+, -, 0(+), -]; agreeing entries averaged.
  auto m = merged("ties", {t1, t2, t3}, {1, 1, 1}, {0.5, 0.5, 0.5});
  EXPECT_TRUE(torch::allclose(m, torch::tensor({4.0, -3.0, 0.0, -5.0}))) << m;
  // "frequency" counts signs instead: entries 1 and 3 tie (one + , one -), and a tie elects +.
  auto f = merged("ties", {t1, t2, t3}, {1, 1, 1}, {0.5, 0.5, 0.5}, true);
  EXPECT_TRUE(torch::allclose(f, torch::tensor({4.0, 2.0, 0.0, 3.0}))) << f;
}

TEST(Merge, LinearAndTaskArithmetic) {
  auto a = torch::tensor({1.0, 2.0}), b = torch::tensor({3.0, -2.0});
  EXPECT_TRUE(torch::allclose(merged("linear", {a, b}, {1, 3}, {1, 1}), torch::tensor({2.5, -1.0})));
  EXPECT_TRUE(torch::allclose(merged("task_arithmetic", {a, b}, {1, 3}, {1, 1}), torch::tensor({10.0, -4.0})));
}

TEST(Merge, DareDropsAndRescalesSoTheExpectationIsKept) {
  auto t = torch::full({20000}, 2.0);
  auto m = merged("dare_linear", {t}, {1}, {0.2});
  auto kept = m.ne(0);
  EXPECT_NEAR(kept.to(torch::kDouble).mean().item<double>(), 0.2, 0.02);
  EXPECT_TRUE(torch::allclose(m.masked_select(kept), torch::full({kept.sum().item<int64_t>()}, 10.0)));
  EXPECT_NEAR(m.mean().item<double>(), 2.0, 0.1);
}

TEST(Merge, AveragingModelsIsThePlainMeanOfWeights) {
  LlamaForCausalLM base(tiny_config()), a(tiny_config()), b(tiny_config());
  base->reset_parameters(1);
  a->reset_parameters(2);
  b->reset_parameters(3);
  merge_models_into(*base, {a.ptr(), b.ptr()}, {{0.5, 1}, {0.5, 1}}, MergeOptions{"linear"});
  auto sa = model_state(*a), sb = model_state(*b), sm = model_state(*base);
  for (size_t i = 0; i < sm.size(); ++i)
    EXPECT_TRUE(torch::allclose(sm[i].second, (sa[i].second + sb[i].second) / 2, 1e-6, 1e-6)) << sm[i].first;
}

TEST(Merge, ModelsOfAnotherArchitectureAreRefused) {
  LlamaForCausalLM base(tiny_config()), other(tiny_config(4));
  auto e = error_of([&] { merge_models_into(*base, {other.ptr()}, {{1, 1}}, {}); });
  EXPECT_NE(e.find("num_key_value_heads"), std::string::npos) << e;
}

TEST(Merge, ExactDeltaMergeAddsTheMergedProducts) {
  const auto cfg = tiny_config();
  auto a1 = random_adapter(cfg, 4, 1, "a1"), a2 = random_adapter(cfg, 4, 2, "a2");
  LlamaForCausalLM base(cfg), merged_model(cfg);
  merge_adapter_deltas_into(*merged_model, {a1, a2}, {{0.5, 1}, {0.5, 1}}, MergeOptions{"linear"});
  const std::string m = "model.layers.1.self_attn.q_proj";
  auto delta = [&](const PeftAdapter& a) {
    return torch::matmul(a.factor(m, 'B'), a.factor(m, 'A')) * a.config.scaling();
  };
  auto expected = base->layer(1).self_attn->q_proj->weight + (delta(a1) + delta(a2)) / 2;
  auto got = merged_model->layer(1).self_attn->q_proj->weight;
  EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-6));
}

TEST(Merge, PeftFactorMergeHasCrossTermsExactMergeDoesNot) {
  const auto cfg = tiny_config();
  auto a1 = random_adapter(cfg, 4, 1, "a1"), a2 = random_adapter(cfg, 4, 2, "a2");
  MergeOptions o{"task_arithmetic"};
  PeftAdapter p = merge_adapters_peft({a1, a2}, {{1, 1}, {1, 1}}, o);
  EXPECT_DOUBLE_EQ(p.config.scaling(), 1.0);  // lora_alpha = r
  const std::string m = "model.layers.0.mlp.down_proj";
  const double s = a1.config.scaling();
  // PEFT: A = Σ sqrt(w s) A_i, B = Σ sqrt(w s) B_i, so B A = s (B1 + B2)(A1 + A2).
  auto peft_delta = torch::matmul(p.factor(m, 'B'), p.factor(m, 'A'));
  auto expected = s * torch::matmul(a1.factor(m, 'B') + a2.factor(m, 'B'), a1.factor(m, 'A') + a2.factor(m, 'A'));
  EXPECT_TRUE(torch::allclose(peft_delta, expected, 1e-5, 1e-6));
  auto exact =
      s * (torch::matmul(a1.factor(m, 'B'), a1.factor(m, 'A')) + torch::matmul(a2.factor(m, 'B'), a2.factor(m, 'A')));
  EXPECT_GT((peft_delta - exact).abs().max().item<double>(), 1e-3);
  // With one adapter the two agree.
  PeftAdapter one = merge_adapters_peft({a1}, {{1, 1}}, o);
  EXPECT_TRUE(torch::allclose(torch::matmul(one.factor(m, 'B'), one.factor(m, 'A')),
                              s * torch::matmul(a1.factor(m, 'B'), a1.factor(m, 'A')), 1e-5, 1e-6));
  auto r8 = random_adapter(cfg, 8, 3, "r8");
  EXPECT_NE(error_of([&] { merge_adapters_peft({a1, r8}, {{1, 1}, {1, 1}}, o); }).find("r=8"), std::string::npos);
}

TEST(Merge, YamlDescriptionsAreValidatedWithLineNumbers) {
  const std::string dir = fresh_temp_dir("merge_yaml");
  make_dirs(dir);
  auto load = [&](const std::string& text) {
    write_file_atomic(dir + "/m.yaml", text);
    return error_of([&] { MergeSpec::load(dir + "/m.yaml"); });
  };
  std::string good =
      "merge_method: ties\nbase_model: base\nparameters: {density: 0.3}\nmodels:\n"
      "  - model: a\n    parameters: {weight: 2.0}\n  - model: b\nlora_merge: peft\n";
  write_file_atomic(dir + "/m.yaml", good);
  auto spec = MergeSpec::load(dir + "/m.yaml");
  ASSERT_EQ(spec.sources.size(), 2u);
  EXPECT_EQ(spec.sources[0].input.weight, 2.0);
  EXPECT_EQ(spec.sources[0].input.density, 0.3);
  EXPECT_EQ(spec.sources[1].input.weight, 1.0);
  EXPECT_EQ(spec.lora_merge, LoraMergeMode::Peft);
  EXPECT_NE(load("merge_method: slerp\nbase_model: b\nmodels: [{model: a}]\n")
                .find("m.yaml:1: unknown merge_method 'slerp'; valid: task_arithmetic, linear, average, ties"),
            std::string::npos);
  EXPECT_NE(
      load("merge_method: ties\nbase_model: b\nmodels: [{model: a}]\nfoo: 1\n").find("m.yaml:4: unknown key 'foo'"),
      std::string::npos);
  EXPECT_NE(load("merge_method: ties\nbase_model: b\nmodels:\n  - model: a\n    parameters: {density: 2}\n")
                .find("density must lie in (0, 1]"),
            std::string::npos);
  EXPECT_NE(load("merge_method: ties\nbase_model: b\n").find("'models'"), std::string::npos);
  EXPECT_NE(load("merge_method: ties\nbase_model: b\nmodels: [{model: a, weight: 1}]\n").find("unknown key 'weight'"),
            std::string::npos);
  EXPECT_NE(load("merge_method: [ties\n").find("m.yaml:"), std::string::npos);
  // A key given twice is refused (yaml-cpp keeps the last silently), and deep nesting is named.
  EXPECT_NE(load("merge_method: ties\nbase_model: b\nmodels: [{model: a}]\nbase_model: c\n")
                .find("m.yaml:4: key 'base_model' is given twice in one mapping (first on line 2)"),
            std::string::npos);
  EXPECT_NE(load("merge_method: ties\nbase_model: " + std::string(3000, '[') + std::string(3000, ']') + "\n")
                .find("m.yaml:2: YAML nested too deeply"),
            std::string::npos);
  // Each method declares the keys it takes.
  EXPECT_NE(load("merge_method: linear\nbase_model: b\nmodels:\n  - model: a\n    parameters: {density: 0.5}\n")
                .find("m.yaml:5: merge_method linear takes no parameter 'density'; valid: weight"),
            std::string::npos);
  EXPECT_NE(load("merge_method: linear\nbase_model: b\nmodels: [{model: a}]\nmajority_sign: total\n")
                .find("m.yaml:4: 'majority_sign' does not apply to merge_method linear"),
            std::string::npos);
  // --dump-config's YAML reads back to the same description.
  write_file_atomic(dir + "/m.yaml", spec.to_yaml());
  auto again = MergeSpec::load(dir + "/m.yaml");
  EXPECT_EQ(again.to_yaml(), spec.to_yaml());
  EXPECT_EQ(again.sources[0].input.density, 0.3);
  EXPECT_EQ(again.lora_merge, LoraMergeMode::Peft);
}

TEST(Merge, EveryRegisteredMethodMergesOneTensorAsDocumented) {
  // One table-driven check: with a single task vector of weight 1 and
  // density 1, every method returns that vector.
  auto t = torch::tensor({1.5, -2.0, 0.25});
  for (const auto& name : merge_methods().names()) EXPECT_TRUE(torch::allclose(merged(name, {t}, {1}, {1}), t)) << name;
}
