#include <gtest/gtest.h>

#include <filesystem>

#include "error_message.h"
#include "loom/core/jsonl.h"
#include "loom/knowledge/harness.h"
#include "loom/moe/mix.h"
#include "loom/moe/moe_train.h"
#include "loom/moe/routing.h"
#include "moe_fixture.h"

using namespace loom;
using namespace loom::testing;
namespace fs = std::filesystem;

namespace {

std::vector<Example> tiny_examples(int n, uint64_t seed) {
  std::vector<Example> out;
  for (int i = 0; i < n; ++i) out.push_back(random_example(4 + i % 5, seed + static_cast<uint64_t>(i)));
  return out;
}

MoeTrainOptions quick_training() {
  MoeTrainOptions o;
  o.train.max_steps = 3;
  o.train.micro_batch_size = 4;
  o.train.lr = 0.05;
  o.train.warmup_steps = 0;
  o.train.eval_every = 0;
  o.train.checkpoint_every = 0;
  o.train.progress = false;
  return o;
}

}  // namespace

TEST(MoeTrain, RouterOnlyTrainingChangesOnlyTheRouters) {
  TinyModels models("moe_train", 3);
  MixOptions mo;
  mo.experts = models.dirs;
  mo.modules = {"mlp", "v_proj"};
  MixResult r = mix_models(mo);
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : r.model->named_parameters()) before[p.key()] = p.value().detach().clone();
  MoeTrainOptions o = quick_training();
  o.load_balance_coef = 0.1;
  train_moe_model(r.model.ptr(), models.tokenizer, tiny_examples(12, 1), tiny_examples(4, 50), o, models.dir + "/run",
                  false);
  const auto names = r.model->router_parameter_names();
  const std::set<std::string> routers(names.begin(), names.end());
  ASSERT_EQ(routers.size(), 4u);  // per layer: the MLP gate and v_proj's router
  int changed = 0;
  for (const auto& p : r.model->named_parameters()) {
    const bool moved = !torch::equal(before.at(p.key()), p.value());
    if (routers.count(p.key())) {
      changed += moved;
    } else {
      EXPECT_FALSE(moved) << p.key();
    }
  }
  EXPECT_EQ(changed, 4);
  // The trained mixture is saved as it was made: Mixtral layout unless it does not fit.
  auto saved = load_model_dir(models.dir + "/run/model");
  EXPECT_EQ(saved.model->model_type(), "loom_moe");
  EXPECT_TRUE(torch::equal(model_state(*saved.model)[0].second, model_state(*r.model)[0].second));
  // routers_attention also trains the attention, the v_proj experts included.
  set_moe_trainable(*r.model, "routers_attention");
  for (const auto& p : r.model->named_parameters())
    EXPECT_EQ(p.value().requires_grad(), routers.count(p.key()) > 0 || p.key().find(".self_attn.") != std::string::npos)
        << p.key();
}

TEST(MoeTrain, LoadBalancingTermIsTheWeightedLossOfTheRecordedLogits) {
  auto logits = torch::tensor({{2.0f, 0.0f, -1.0f}, {0.5f, 1.5f, 0.0f}, {0.0f, 0.0f, 3.0f}, {1.0f, 1.1f, 0.9f}});
  ModelOutput out;
  out.hidden = torch::zeros({4, 2});
  out.record.router_logits = {logits.narrow(0, 0, 2), logits.narrow(0, 2, 2)};
  BatchTensors batch;
  batch.num_label_tokens = 6;
  LlamaForCausalLM model(tiny_config());
  LossContext c{batch, *model, out, 24.0};
  auto term = load_balancing_term(0.5, 2);
  EXPECT_NEAR(term(c).item<double>(), 0.5 * load_balancing_loss({logits}, 2).item<double>() * 6.0 / 24.0, 1e-7);
}

TEST(MoeTrain, GatelessMixturesHaveNoRouterToTrain) {
  TinyModels models("moe_train_gateless", 2);
  MixOptions mo;
  mo.experts = models.dirs;
  mo.gateless = true;
  MixResult r = mix_models(mo);
  EXPECT_NE(error_of([&] { set_moe_trainable(*r.model, "routers"); }).find("gate-less: it has no router to train"),
            std::string::npos);
}

namespace {

// Two small user domains beside the tiny base, as the knowledge tests do.
KnowledgeOptions moe_knowledge_options(const TinyModels& models) {
  for (const char* d : {"colours", "sums"}) {
    std::vector<nlohmann::json> train, test;
    for (int i = 0; i < 12; ++i) {
      nlohmann::json row = {{"prompt", std::string(d) + " " + std::to_string(i) + ":"},
                            {"completion", " " + std::to_string(i * 7 % 10)}};
      (i < 9 ? train : test).push_back(row);
    }
    make_dirs(models.dir + "/" + d);
    write_jsonl_atomic(models.dir + "/" + d + "/train.jsonl", train);
    write_jsonl_atomic(models.dir + "/" + d + "/test.jsonl", test);
  }
  Params p(knowledge_param_specs());
  p.set("base_model", models.dirs[0], "test");
  p.set("domains", "colours=" + models.dir + "/colours, sums=" + models.dir + "/sums", "test");
  p.set("strategy", "moe_mix", "test");
  p.set("steps_per_round", "3", "test");
  p.set("micro_batch_size", "4", "test");
  p.set("lora_r", "2", "test");
  p.set("progress", "false", "test");
  p.set("checkpoint_every", "0", "test");
  p.set("domain_max_test", "3", "test");
  p.set("moe_router_steps", "2", "test");
  p.set("moe_router_examples", "6", "test");
  return knowledge_options_from_params(p);
}

}  // namespace

TEST(MoeMix, SemiCooperativeRunsRefuseATrainedRouter) {
  TinyModels models("moe_mix_refuse", 1);
  register_moe();
  KnowledgeOptions o;
  Params p(strategy_param_specs());
  p.set("moe_router", "trained", "test");
  o.strategy_params = std::make_shared<Params>(p);
  o.setting = Setting::SemiCooperative;
  EXPECT_NE(error_of([&] { make_strategy("moe_mix", o); }).find("moe_router trained needs every domain's data"),
            std::string::npos);
  o.setting = Setting::FullyCooperative;
  EXPECT_TRUE(make_strategy("moe_mix", o)->needs_past_data());
  p.set("moe_router", "noisy", "test");
  o.strategy_params = std::make_shared<Params>(p);
  o.setting = Setting::SemiCooperative;
  EXPECT_FALSE(make_strategy("moe_mix", o)->needs_past_data());
}

TEST(MoeMixSlow, EachRoundMixesTheExpertsSoFar) {
  TinyModels models("moe_mix_run", 1);
  KnowledgeOptions o = moe_knowledge_options(models);
  for (const char* tuning : {"full", "lora"}) {
    SCOPED_TRACE(tuning);
    o.tuning.tuning = tuning_from_name(tuning, "test");
    const std::string out = models.dir + "/run-" + tuning;
    auto r = run_knowledge(o, out);
    ASSERT_EQ(r["matrix"].size(), 2u);
    auto round2 = load_model_dir(out + "/round-2/model");
    auto moe = as_moe(round2.model, "round 2");
    // Full tuning: the base and two domain experts; LoRA: two adapter experts on the base.
    EXPECT_EQ(moe->moe_config().num_experts, std::string(tuning) == "full" ? 3 : 2);
    EXPECT_EQ(moe->moe_config().adapters, std::string(tuning) == "lora");
    EXPECT_TRUE(moe->moe_config().gateless);
  }
  // A trained router in a fully-cooperative run.
  o.setting = Setting::FullyCooperative;
  o.tuning.tuning = Tuning::Full;
  auto p = *o.strategy_params;
  p.set("moe_router", "trained", "test");
  o.strategy_params = std::make_shared<Params>(p);
  run_knowledge(o, models.dir + "/run-trained");
  EXPECT_TRUE(fs::exists(models.dir + "/run-trained/round-2/router/model/config.json"));
  auto round2 = as_moe(load_model_dir(models.dir + "/run-trained/round-2/model").model, "round 2");
  EXPECT_FALSE(round2->routers().empty());
}
