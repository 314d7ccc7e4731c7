#include <gtest/gtest.h>

#include "error_message.h"
#include "loom/merge/merge.h"
#include "loom/moe/mix.h"
#include "moe_fixture.h"

using namespace loom;
using namespace loom::testing;

namespace {

// A LoRA adapter on the base with random (non-zero) factors, saved in PEFT's format.
std::string random_adapter(const TinyModels& models, int64_t r, uint64_t seed, const std::vector<std::string>& targets,
                           const std::string& name) {
  auto m = load_model_dir(models.dirs[0]).model;
  LoraConfig lc;
  lc.r = r;
  lc.alpha = 3.0 * static_cast<double>(r);
  lc.target_modules = targets;
  attach_lora(*m, lc, seed);
  {
    torch::NoGradGuard g;
    torch::manual_seed(seed);
    for (auto& [n, lora] : lora_adapters(*m)) lora->lora_B->weight.normal_(0, 0.3);
  }
  const std::string dir = models.dir + "/" + name;
  save_peft_adapter(dir, *m);
  return dir;
}

torch::Tensor logits_of(CausalLMImpl& m, const BatchTensors& b) {
  torch::NoGradGuard no_grad;
  return m.forward(b);
}

}  // namespace

TEST(Blend, GatelessIsTheBasePlusTheMeanAdapterDelta) {
  TinyModels models("blend_gateless", 1);
  const std::vector<std::string> targets = {"q_proj", "v_proj", "down_proj"};
  auto a = random_adapter(models, 4, 1, targets, "a"), b = random_adapter(models, 2, 2, targets, "b");
  BlendOptions o;
  o.base_model = models.dirs[0];
  o.adapters = {a, b};
  o.gateless = true;
  MixResult r = blend_adapters(o);
  EXPECT_EQ(r.model->adapter_blends().size(), 6u);
  // W₀ + (ΔW_a + ΔW_b) / 2, merged exactly.
  auto merged = load_model_dir(models.dirs[0]).model;
  merge_adapter_deltas_into(*merged, {load_peft_adapter(a), load_peft_adapter(b)}, {{0.5, 1}, {0.5, 1}},
                            MergeOptions{"task_arithmetic"});
  auto batch = tiny_batch();
  EXPECT_LT(max_abs_diff(logits_of(*r.model, batch), logits_of(*merged, batch)), 1e-4);
  // One adapter, one expert: exactly the adapter applied to its base.
  o.adapters = {a};
  MixResult one = blend_adapters(o);
  auto tuned = load_model_dir(models.dirs[0]).model;
  apply_peft_adapter(*tuned, load_peft_adapter(a));
  EXPECT_LT(max_abs_diff(logits_of(*one.model, batch), logits_of(*tuned, batch)), 1e-5);
}

TEST(Blend, TopKUsesTheRawLogitsAndSigmoidGates) {
  TinyModels models("blend_topk", 1);
  auto a = random_adapter(models, 3, 1, {"q_proj"}, "a"), b = random_adapter(models, 3, 2, {"q_proj"}, "b");
  BlendOptions o;
  o.base_model = models.dirs[0];
  o.adapters = {a, b};
  o.top_k = 1;
  o.init.std = 1.0;
  MixResult r = blend_adapters(o);
  auto blend = r.model->adapter_blends().at("model.layers.0.self_attn.q_proj");
  torch::NoGradGuard no_grad;
  auto x = torch::randn({13, models.config.hidden_size});
  auto base = torch::randn({13, models.config.hidden_size});
  auto logits = torch::matmul(x, blend->router->logit_rows()->t());
  auto choice = logits.argmax(1);
  auto gate = torch::sigmoid(std::get<0>(logits.max(1))).unsqueeze(1);
  auto delta = [&](int64_t e) {
    return torch::matmul(torch::matmul(x, blend->lora_A(e).t()), blend->lora_B(e).t()) * blend->scaling(e);
  };
  auto expected = base + gate * torch::where(choice.eq(0).unsqueeze(1), delta(0), delta(1));
  EXPECT_LT(max_abs_diff(blend->forward(x, base), expected), 1e-5);
  EXPECT_GT(choice.sum().item<int64_t>(), 0);
  EXPECT_LT(choice.sum().item<int64_t>(), 13);  // both experts are used
  // Saved and loaded back: the same logits.
  save_model_dir(models.dir + "/blend", *r.model, r.tokenizer);
  auto loaded = load_model_dir(models.dir + "/blend").model;
  auto batch = tiny_batch();
  EXPECT_TRUE(torch::equal(logits_of(*loaded, batch), logits_of(*r.model, batch)));
}

TEST(Blend, SvdExpertReconstructsTheDeltaWithinItsSingularValueTail) {
  TinyModels models("blend_svd", 2);
  auto base = load_model_dir(models.dirs[0]).model, expert = load_model_dir(models.dirs[1]).model;
  for (int64_t rank : {3, 32}) {
    PeftAdapter a = svd_adapter(*base, *expert, rank, {"q_proj", "down_proj"});
    ASSERT_EQ(a.config.scaling(), 1.0);
    for (const std::string name : {"model.layers.1.self_attn.q_proj", "model.layers.0.mlp.down_proj"}) {
      auto delta = (linear_layer_named(*expert, name, "t")->weight - linear_layer_named(*base, name, "t")->weight)
                       .detach()
                       .to(torch::kDouble);
      auto approx = torch::matmul(a.factor(name, 'B'), a.factor(name, 'A')).to(torch::kDouble);
      auto s = torch::linalg_svdvals(delta);
      const double tail = s.size(0) > rank ? s.narrow(0, rank, s.size(0) - rank).pow(2).sum().item<double>() : 0.0;
      const double error = (delta - approx).pow(2).sum().item<double>();
      // Eckart–Young: the best rank-r error is exactly the tail energy.
      EXPECT_NEAR(error, tail, 1e-4 * delta.pow(2).sum().item<double>()) << name << " rank " << rank;
      if (rank == 32) {
        EXPECT_LT(error, 1e-8 * delta.pow(2).sum().item<double>());
      }
    }
  }
}

TEST(Blend, BadInputIsAClearError) {
  TinyModels models("blend_bad", 1);
  auto a = random_adapter(models, 2, 1, {"q_proj"}, "a"), b = random_adapter(models, 2, 2, {"v_proj"}, "b");
  BlendOptions o;
  o.base_model = models.dirs[0];
  o.adapters = {a, b};
  EXPECT_NE(error_of([&] { blend_adapters(o); }).find("adapters[1] (" + b + "): covers other modules than adapters[0]"),
            std::string::npos);
  o.adapters = {a};
  o.top_k = 2;
  EXPECT_NE(error_of([&] { blend_adapters(o); }).find("top_k 2 exceeds the 1 experts"), std::string::npos);
  o.adapters = {};
  EXPECT_NE(error_of([&] { blend_adapters(o); }).find("give the experts as adapters"), std::string::npos);
}
