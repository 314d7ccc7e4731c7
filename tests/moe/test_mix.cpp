#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "error_message.h"
#include "loom/core/jsonl.h"
#include "loom/models/generate.h"
#include "loom/moe/mix.h"
#include "loom/tensor/tensor_io.h"
#include "moe_fixture.h"

using namespace loom;
using namespace loom::testing;

namespace {

MixOptions mix_of(const std::vector<std::string>& experts) {
  MixOptions o;
  o.experts = experts;
  o.init.seed = 5;
  o.init.std = 0.5;  // routers that actually separate tokens in a tiny model
  return o;
}

torch::Tensor logits_of(CausalLMImpl& m, const BatchTensors& b) {
  torch::NoGradGuard no_grad;
  return m.forward(b);
}

// The SwiGLU MLP of layer `l` of a dense model directory, applied to x.
torch::Tensor dense_mlp(const std::string& dir, int64_t l, const torch::Tensor& x) {
  auto m = as_llama(load_model_dir(dir).model, dir);
  return m->layer(l).mlp->forward(x, nullptr);
}

}  // namespace

TEST(Mix, OneExpertReproducesTheBaseModel) {
  TinyModels models("moe_one", 1);
  MixOptions o = mix_of({models.dirs[0]});
  o.top_k = 1;
  MixResult r = mix_models(o);
  EXPECT_EQ(r.model->model_type(), "mixtral");
  auto base = load_model_dir(models.dirs[0]).model;
  auto b = tiny_batch();
  EXPECT_LT(max_abs_diff(logits_of(*r.model, b), logits_of(*base, b)), 1e-5);
}

TEST(Mix, GatelessIsTheMeanOfTheExpertsMlpOutputs) {
  TinyModels models("moe_gateless", 3);
  MixOptions o = mix_of(models.dirs);
  o.gateless = true;
  MixResult r = mix_models(o);
  EXPECT_EQ(r.model->model_type(), "loom_moe");
  EXPECT_TRUE(r.model->routers().empty());
  torch::NoGradGuard no_grad;
  auto x = torch::randn({11, models.config.hidden_size});
  for (int64_t l = 0; l < models.config.num_hidden_layers; ++l) {
    auto mean =
        (dense_mlp(models.dirs[0], l, x) + dense_mlp(models.dirs[1], l, x) + dense_mlp(models.dirs[2], l, x)) / 3;
    EXPECT_LT(max_abs_diff(r.model->moe_block(l)->forward(x, nullptr), mean), 1e-6) << "layer " << l;
  }
}

TEST(Mix, TopKBlockEqualsTheMaskedMixOfTheSourceMlps) {
  TinyModels models("moe_topk", 3);
  MixResult r = mix_models(mix_of(models.dirs));
  torch::NoGradGuard no_grad;
  auto x = torch::randn({23, models.config.hidden_size});
  auto* block = r.model->moe_block(1);
  auto probs = torch::softmax(torch::matmul(x, block->gate->logit_rows()->t()), 1);
  auto top = probs.topk(2, 1);
  auto mask = torch::zeros_like(probs).scatter_(1, std::get<1>(top), 1.0);
  auto gates = probs * mask / (probs * mask).sum(1, true);
  auto expected = torch::zeros_like(x);
  for (int e = 0; e < 3; ++e)
    expected += dense_mlp(models.dirs[static_cast<size_t>(e)], 1, x) * gates.select(1, e).unsqueeze(1);
  EXPECT_LT(max_abs_diff(block->forward(x, nullptr), expected), 1e-6);
  EXPECT_GT(mask.sum(0).min().item<double>(), 0);  // every expert got tokens: the check covers all three
}

TEST(Mix, MixtralDirectoryHasHuggingFaceNamesAndLoadsBackIdentically) {
  TinyModels models("moe_mixtral", 3);
  MixResult r = mix_models(mix_of(models.dirs));
  const std::string out = models.dir + "/moe";
  save_model_dir(out, *r.model, r.tokenizer);
  auto cfg = nlohmann::json::parse(read_file_text(out + "/config.json"));
  EXPECT_EQ(cfg["model_type"], "mixtral");
  EXPECT_EQ(cfg["architectures"][0], "MixtralForCausalLM");
  EXPECT_EQ(cfg["num_local_experts"], 3);
  EXPECT_EQ(cfg["num_experts_per_tok"], 2);
  EXPECT_TRUE(cfg["sliding_window"].is_null());
  auto tensors = load_tensors(out + "/model.safetensors");
  const int64_t h = models.config.hidden_size, i = models.config.intermediate_size;
  EXPECT_EQ(tensors.at("model.layers.1.block_sparse_moe.gate.weight").sizes(), (std::vector<int64_t>{3, h}));
  EXPECT_EQ(tensors.at("model.layers.1.block_sparse_moe.experts.2.w1.weight").sizes(), (std::vector<int64_t>{i, h}));
  EXPECT_EQ(tensors.at("model.layers.1.block_sparse_moe.experts.2.w2.weight").sizes(), (std::vector<int64_t>{h, i}));
  EXPECT_EQ(tensors.count("model.layers.0.mlp.gate_proj.weight"), 0u);
  // Expert e is ingredient e's MLP, stored in full.
  auto source = load_tensors(models.dirs[2] + "/model.safetensors");
  EXPECT_TRUE(torch::equal(tensors.at("model.layers.0.block_sparse_moe.experts.2.w3.weight"),
                           source.at("model.layers.0.mlp.up_proj.weight")));
  auto loaded = load_model_dir(out).model;
  EXPECT_EQ(loaded->model_type(), "mixtral");
  auto b = tiny_batch();
  EXPECT_TRUE(torch::equal(logits_of(*loaded, b), logits_of(*r.model, b)));
  EXPECT_EQ(cfg["parameter_counts"]["total"].get<int64_t>(), as_moe(loaded, out)->total_parameters());
}

TEST(Mix, ActiveParametersCountOnlyTheRoutedExperts) {
  TinyModels models("moe_counts", 4);
  MixResult r = mix_models(mix_of(models.dirs));
  const auto& c = models.config;
  const int64_t expert = 3 * c.hidden_size * c.intermediate_size;
  EXPECT_EQ(r.model->total_parameters() - r.model->active_parameters(), 2 * expert * c.num_hidden_layers);
  // The stem, routers and every expert.
  EXPECT_EQ(r.model->total_parameters(),
            c.num_parameters() + (4 - 1) * expert * c.num_hidden_layers + 4 * c.hidden_size * c.num_hidden_layers);
}

namespace {

struct VariantCase {
  const char* name;
  std::function<void(MixOptions&)> set;
  std::function<void(const nlohmann::json& moe)> check;
};

const std::vector<VariantCase>& variant_cases() {
  static const std::vector<VariantCase> cases = {
      {"always_on",
       [](MixOptions& o) {
         o.always_on = true;
         o.top_k = 1;
       },
       [](const nlohmann::json& m) { EXPECT_TRUE(m["always_on"].get<bool>()); }},
      {"global_router", [](MixOptions& o) { o.global_router = true; },
       [](const nlohmann::json& m) { EXPECT_TRUE(m["global_router"].get<bool>()); }},
      {"deep_router",
       [](MixOptions& o) {
         o.router = "deep";
         o.router_hidden = 5;
       },
       [](const nlohmann::json& m) { EXPECT_EQ(m["router"], "deep"); }},
      {"mlp_and_qkv",
       [](MixOptions& o) {
         o.modules = {"mlp", "q_proj", "k_proj", "v_proj"};
       },
       [](const nlohmann::json& m) { EXPECT_EQ(m["modules"].size(), 4u); }},
      {"gate_up_down_routers",
       [](MixOptions& o) {
         o.modules = {"gate_proj", "up_proj", "down_proj"};
       },
       [](const nlohmann::json& m) { EXPECT_EQ(m["modules"][2], "down_proj"); }},
      {"layer_1_only", [](MixOptions& o) { o.layers = {"1"}; },
       [](const nlohmann::json& m) { EXPECT_EQ(m["layers"], nlohmann::json::array({1})); }},
      {"dense_sigmoid",
       [](MixOptions& o) {
         o.top_k = 0;
         o.gate_normalization = "sigmoid";
       },
       [](const nlohmann::json& m) { EXPECT_EQ(m["gate_normalization"], "sigmoid"); }},
      {"average_stem",
       [](MixOptions& o) {
         o.stem = "average";
         o.format = "loom";
       },
       [](const nlohmann::json& m) { EXPECT_EQ(m["num_experts"], 3); }},
  };
  return cases;
}

class MixVariant : public ::testing::TestWithParam<size_t> {};

}  // namespace

TEST_P(MixVariant, LoomLayoutRecordsTheChoiceAndLoadsBackIdentically) {
  const VariantCase& c = variant_cases()[GetParam()];
  TinyModels models(std::string("moe_variant_") + c.name, 3);
  MixOptions o = mix_of(models.dirs);
  c.set(o);
  MixResult r = mix_models(o);
  const std::string out = models.dir + "/variant";
  save_model_dir(out, *r.model, r.tokenizer);
  auto cfg = nlohmann::json::parse(read_file_text(out + "/config.json"));
  ASSERT_EQ(cfg["model_type"], "loom_moe");
  c.check(cfg["moe"]);
  auto loaded = load_model_dir(out).model;
  auto b = tiny_batch();
  auto ours = logits_of(*r.model, b);
  EXPECT_TRUE(torch::equal(logits_of(*loaded, b), ours));
  auto base = load_model_dir(models.dirs[0]).model;
  EXPECT_GT(max_abs_diff(ours, logits_of(*base, b)), 1e-3);  // the mixture is not the base
}

INSTANTIATE_TEST_SUITE_P(Variants, MixVariant, ::testing::Range<size_t>(0, 8),
                         [](const ::testing::TestParamInfo<size_t>& info) { return variant_cases()[info.param].name; });

TEST(Mix, KeyOnlyMixingMixesTheKeyProjection) {
  // The reference's attention check tests the query flag twice and never the
  // key flag, so mixing k_proj alone silently mixed nothing.
  TinyModels models("moe_key", 1);
  auto base = load_model_dir(models.dirs[0]);
  auto other = as_llama(clone_model(*base.model), "clone");
  {
    torch::NoGradGuard no_grad;
    for (int64_t l = 0; l < models.config.num_hidden_layers; ++l) other->layer(l).self_attn->k_proj->weight.mul_(-3.0);
  }
  save_model_dir(models.dir + "/k_changed", *other, base.tokenizer);
  MixOptions o = mix_of({models.dirs[0], models.dir + "/k_changed"});
  o.top_k = 1;
  auto b = tiny_batch();
  for (const std::string module : {"k_proj", "q_proj"}) {
    o.modules = {module};
    MixResult r = mix_models(o);
    const auto& mixtures = r.model->projection_mixtures();
    ASSERT_EQ(mixtures.size(), 2u);
    EXPECT_TRUE(mixtures.count("model.layers.0.self_attn." + module));
    const double moved = max_abs_diff(logits_of(*r.model, b), logits_of(*base.model, b));
    if (module == "k_proj")
      EXPECT_GT(moved, 1e-3);  // tokens routed to expert 1 see its keys
    else
      EXPECT_LT(moved, 1e-6);  // both q experts are the base's
  }
}

TEST(Mix, AlwaysOnStoresEveryExpertInFull) {
  // The reference stores always-on experts 2.. as differences from expert 1.
  TinyModels models("moe_always", 3);
  MixOptions o = mix_of(models.dirs);
  o.always_on = true;
  o.top_k = 1;
  MixResult r = mix_models(o);
  for (int e = 0; e < 3; ++e) {
    auto source = load_tensors(models.dirs[static_cast<size_t>(e)] + "/model.safetensors");
    EXPECT_TRUE(
        torch::equal(r.model->moe_block(0)->expert(e).w1->weight, source.at("model.layers.0.mlp.gate_proj.weight")))
        << "expert " << e;
  }
  // Output = expert 0 + the chosen one of experts 1..2, with its renormalised weight (1).
  torch::NoGradGuard no_grad;
  auto x = torch::randn({9, models.config.hidden_size});
  auto* block = r.model->moe_block(0);
  auto choice = torch::matmul(x, block->gate->logit_rows()->t()).argmax(1);
  auto y1 = dense_mlp(models.dirs[1], 0, x), y2 = dense_mlp(models.dirs[2], 0, x);
  auto expected = dense_mlp(models.dirs[0], 0, x) + torch::where(choice.eq(0).unsqueeze(1), y1, y2);
  EXPECT_LT(max_abs_diff(block->forward(x, nullptr), expected), 1e-6);
}

TEST(Mix, RouterInitialisations) {
  TinyModels models("moe_init", 2);
  MixOptions o = mix_of(models.dirs);
  o.init.init = "base";
  MixResult favour = mix_models(o);
  auto rows = favour.model->moe_block(0)->gate->logit_rows()->clone();
  EXPECT_TRUE(torch::all(rows[0].eq(1.0)).item<bool>());
  EXPECT_TRUE(torch::allclose(rows[1], torch::full_like(rows[1], 1e-6)));
  // Hidden-state rows: the normalised mean of what a router sees over each
  // expert's prompts. The global router and layer 0's residual see the token
  // embeddings, whose means are computable directly.
  const std::vector<std::vector<std::string>> texts = {{"a b", "c"}, {"bb", "ca", "ab c"}};
  for (int e = 0; e < 2; ++e) {
    std::vector<nlohmann::json> rows_json;
    for (const auto& t : texts[static_cast<size_t>(e)]) rows_json.push_back({{"text", t}});
    o.init.positive_prompts.push_back(models.dir + "/p" + std::to_string(e) + ".jsonl");
    write_jsonl_atomic(o.init.positive_prompts.back(), rows_json);
  }
  auto emb = as_llama(load_model_dir(models.dirs[0]).model, "base")->model->embed_tokens->weight.detach();
  auto expected_row = [&](int e) {
    auto sum = torch::zeros({models.config.hidden_size});
    for (const auto& t : texts[static_cast<size_t>(e)]) {
      auto ids = models.tokenizer.encode(t, true, false);
      sum += emb.index_select(0, torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()))).mean(0);
    }
    auto mean = sum / static_cast<double>(texts[static_cast<size_t>(e)].size());
    return mean / mean.norm();
  };
  o.init.init = "hidden";
  o.global_router = true;
  MixResult global = mix_models(o);
  for (int e = 0; e < 2; ++e)
    EXPECT_LT(max_abs_diff(global.model->global_router->logit_rows()->select(0, e), expected_row(e)), 1e-5);
  o.global_router = false;
  o.init.hidden_source = "residual";
  MixResult residual = mix_models(o);
  for (int e = 0; e < 2; ++e)
    EXPECT_LT(max_abs_diff(residual.model->moe_block(0)->gate->logit_rows()->select(0, e), expected_row(e)), 1e-5);
  // The default, router_input, averages the MLP's normed input instead: unit rows, not the embedding means.
  o.init.hidden_source = "router_input";
  auto own = mix_models(o).model->moe_block(0)->gate->logit_rows()->clone();
  EXPECT_NEAR(own[0].norm().item<double>(), 1.0, 1e-5);
  EXPECT_GT(max_abs_diff(own[0], expected_row(0)), 1e-3);
}

TEST(Mix, BadInputIsAClearError) {
  TinyModels models("moe_bad", 2);
  // Another architecture.
  LlamaConfig wide = models.config;
  wide.intermediate_size = 64;
  LlamaForCausalLM w(wide);
  save_model_dir(models.dir + "/wide", *w, models.tokenizer);
  EXPECT_NE(error_of([&] {
              mix_models(mix_of({models.dirs[0], models.dir + "/wide"}));
            }).find("experts[1] (" + models.dir + "/wide): architecture differs from the base in 'intermediate_size'"),
            std::string::npos);
  // Another vocabulary of the same size.
  TokenizerTrainOptions t;
  t.vocab_size = 259;
  t.special_tokens = {"<s>", "</s>", "<pad>"};
  Tokenizer other = Tokenizer::train({"abc"}, t);
  ASSERT_EQ(other.vocab_size(), models.tokenizer.vocab_size());
  LlamaForCausalLM v(models.config);
  save_model_dir(models.dir + "/vocab", *v, other);
  EXPECT_NE(error_of([&] {
              mix_models(mix_of({models.dirs[0], models.dir + "/vocab"}));
            }).find("experts[1] (" + models.dir + "/vocab): tokenizer differs from the base's at id"),
            std::string::npos);
  MixOptions o = mix_of(models.dirs);
  o.top_k = 3;
  EXPECT_NE(error_of([&] { mix_models(o); }).find("top_k 3 exceeds the 2 experts"), std::string::npos);
  o.top_k = 2;
  o.modules = {"mlp", "attention"};
  EXPECT_NE(error_of([&] { mix_models(o); }).find("unknown module 'attention' to mix; valid: mlp, q_proj"),
            std::string::npos);
  o.modules = {"o_proj"};
  EXPECT_NE(error_of([&] { mix_models(o); }).find("o_proj cannot be mixed"), std::string::npos);
  o.modules = {"mlp"};
  o.init.init = "hidden";
  o.init.positive_prompts = {models.dir + "/p.jsonl", models.dir + "/empty.jsonl"};
  write_jsonl_atomic(models.dir + "/p.jsonl", {{{"text", "a b"}}});
  write_file_atomic(models.dir + "/empty.jsonl", "");
  EXPECT_NE(error_of([&] { mix_models(o); }).find(models.dir + "/empty.jsonl: the positive-prompt file has no prompts"),
            std::string::npos);
  o.init.positive_prompts = {models.dir + "/p.jsonl"};
  EXPECT_NE(error_of([&] { mix_models(o); }).find("one JSONL file per expert (2), got 1"), std::string::npos);
  o.init.init = "random";
  o.layers = {"7"};
  EXPECT_NE(error_of([&] { mix_models(o); }).find("layer 7 is outside the model's 2 layers"), std::string::npos);
  o.layers = {};
  o.format = "mixtral";
  o.gateless = true;
  EXPECT_NE(error_of([&] { mix_models(o); }).find("does not fit Hugging Face's Mixtral layout"), std::string::npos);
}

TEST(Mix, GenerationWithTheKvCacheMatchesFullRecomputation) {
  TinyModels models("moe_generate", 3);
  for (bool global : {false, true}) {
    SCOPED_TRACE(global ? "global router" : "per-layer routers");
    MixOptions o = mix_of(models.dirs);
    o.global_router = global;
    o.modules = {"mlp", "q_proj", "v_proj"};
    MixResult r = mix_models(o);
    std::vector<int32_t> prompt = {3, 17, 5, 9};
    GenerateOptions g;
    g.max_new_tokens = 6;
    g.stop_at_eos = false;
    auto cached = generate_tokens(*r.model, prompt, g, -1);
    std::vector<int32_t> seq = prompt;
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 6; ++i) {
      Example e;
      e.tokens = seq;
      e.target.assign(seq.size(), 1);
      auto logits = r.model->forward(to_tensors(collate({&e}, Packing::PaddingFree, 0)));
      seq.push_back(static_cast<int32_t>(logits[-1].argmax().item<int64_t>()));
    }
    EXPECT_EQ(cached, std::vector<int32_t>(seq.begin() + 4, seq.end()));
  }
}
