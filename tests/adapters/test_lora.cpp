#include <gtest/gtest.h>

#include <fstream>

#include "error_message.h"
#include "loom/adapters/lora.h"
#include "loom/core/atomic_file.h"
#include "loom/core/safetensors.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/tensor_io.h"
#include "loom/train/trainer.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;

namespace {

BatchTensors tiny_batch() {
  std::vector<Example> ex = {random_example(9, 1), random_example(5, 2)};
  std::vector<const Example*> ptrs = {&ex[0], &ex[1]};
  return to_tensors(collate(ptrs, Packing::PaddingFree, 0));
}

bool is_lora_parameter(const std::string& name) { return name.find(".lora_") != std::string::npos; }

LoraConfig tiny_lora(std::vector<std::string> targets = {"all"}) {
  LoraConfig c;
  c.r = 4;
  c.alpha = 8;
  c.dropout = 0;
  c.target_modules = std::move(targets);
  return c;
}

// Gives every B a random value so the adapter actually changes the model.
void randomize_b(torch::nn::Module& m, uint64_t seed) {
  torch::NoGradGuard g;
  torch::manual_seed(seed);
  for (auto& [name, lora] : lora_adapters(m)) lora->lora_B->weight.normal_(0, 0.5);
}

// A short constant-rate run without evaluation or checkpoints.
TrainOptions quick_options(int64_t steps, double lr) {
  TrainOptions opts;
  opts.max_steps = steps;
  opts.lr = lr;
  opts.micro_batch_size = 4;
  opts.warmup_steps = 0;
  opts.min_lr_ratio = 1.0;
  opts.weight_decay = 0;
  opts.eval_every = 0;
  opts.checkpoint_every = 0;
  opts.progress = false;
  return opts;
}

Tokenizer byte_tokenizer() {
  TokenizerTrainOptions o;
  o.vocab_size = 259;
  return Tokenizer::train({"abc"}, o);
}

}  // namespace

TEST(Lora, AttachLeavesOutputUnchangedAndFreezesTheBase) {
  LlamaForCausalLM m(tiny_config());
  auto batch = tiny_batch();
  auto before = m->forward(batch).detach().clone();
  attach_lora(*m, tiny_lora(), 1);
  EXPECT_TRUE(torch::allclose(m->forward(batch), before));
  int64_t trainable = 0, expected = 0;
  for (auto& p : m->named_parameters())
    if (p.value().requires_grad()) {
      EXPECT_TRUE(is_lora_parameter(p.key())) << p.key();
      trainable += p.value().numel();
    }
  for (auto& [name, layer] : linear_layers(*m)) expected += 4 * (layer->out_features() + layer->in_features());
  EXPECT_EQ(trainable, expected);
  EXPECT_NE(error_of([&] { attach_lora(*m, tiny_lora(), 1); }).find("already carries"), std::string::npos);
}

TEST(Lora, MergeAndUnloadGivesTheSameModelAsTheAdapter) {
  LlamaForCausalLM m(tiny_config());
  attach_lora(*m, tiny_lora({"q_proj", "v_proj", "down_proj"}), 1);
  randomize_b(*m, 2);
  auto batch = tiny_batch();
  auto with_adapter = m->forward(batch).detach().clone();
  merge_lora(*m);
  EXPECT_FALSE(has_lora(*m));
  for (auto& p : m->named_parameters()) {
    EXPECT_FALSE(is_lora_parameter(p.key())) << p.key();
    EXPECT_TRUE(p.value().requires_grad());
  }
  EXPECT_TRUE(torch::allclose(m->forward(batch), with_adapter, 1e-5, 1e-5));
}

TEST(Lora, PeftFilesRoundTripWithPeftKeyNames) {
  const std::string dir = fresh_temp_dir("peft_rt");
  LlamaForCausalLM m(tiny_config());
  m->reset_parameters(5);
  LoraConfig cfg = tiny_lora({"q_proj", "up_proj"});
  cfg.use_rslora = true;
  attach_lora(*m, cfg, 3);
  randomize_b(*m, 4);
  save_peft_adapter(dir, *m);
  auto file = safetensors::File::read(dir + "/adapter_model.safetensors");
  EXPECT_TRUE(file.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
  EXPECT_TRUE(file.contains("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"));
  EXPECT_EQ(file.tensors().size(), 2u * 2u * 2u);  // 2 layers x 2 targets x (A, B)
  auto config = nlohmann::json::parse(read_file_text(dir + "/adapter_config.json"));
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["lora_alpha"], 8.0);
  EXPECT_EQ(config["use_rslora"], true);
  EXPECT_EQ(config["target_modules"], nlohmann::json({"q_proj", "up_proj"}));

  LlamaForCausalLM fresh(tiny_config());
  fresh->reset_parameters(5);
  apply_peft_adapter(*fresh, load_peft_adapter(dir));
  auto batch = tiny_batch();
  EXPECT_TRUE(torch::allclose(fresh->forward(batch), m->forward(batch), 1e-6, 1e-6));
  EXPECT_DOUBLE_EQ(lora_adapters(*fresh).front().second->config().scaling(), 8.0 / 2.0);  // rsLoRA: alpha / sqrt(r)
}

TEST(Lora, AdapterForAnotherBaseIsRefusedNamingTheTensor) {
  const std::string dir = fresh_temp_dir("peft_bad");
  LlamaForCausalLM m(tiny_config());
  attach_lora(*m, tiny_lora({"down_proj"}), 1);
  save_peft_adapter(dir, *m);
  LlamaConfig other = tiny_config();
  other.intermediate_size = 40;
  LlamaForCausalLM o(other);
  auto e = error_of([&] { apply_peft_adapter(*o, load_peft_adapter(dir)); });
  EXPECT_NE(e.find("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"), std::string::npos) << e;
  EXPECT_FALSE(has_lora(*o));  // a failed load leaves the model as it was
  for (auto& p : o->parameters()) EXPECT_TRUE(p.requires_grad());

  LlamaConfig deeper = tiny_config();
  deeper.num_hidden_layers = 3;
  LlamaForCausalLM d(deeper);
  e = error_of([&] { apply_peft_adapter(*d, load_peft_adapter(dir)); });
  EXPECT_NE(e.find("model.layers.2.mlp.down_proj.lora_A.weight"), std::string::npos) << e;
}

TEST(Lora, MalformedAdapterFilesGetClearErrors) {
  const std::string dir = fresh_temp_dir("peft_malformed");
  LlamaForCausalLM m(tiny_config());
  attach_lora(*m, tiny_lora({"q_proj"}), 1);
  save_peft_adapter(dir, *m);
  auto good = nlohmann::json::parse(read_file_text(dir + "/adapter_config.json"));
  auto with = [&](const std::string& key, const nlohmann::json& value) {
    auto j = good;
    j[key] = value;
    write_file_atomic(dir + "/adapter_config.json", j.dump());
    return error_of([&] { load_peft_adapter(dir); });
  };
  EXPECT_NE(with("use_dora", true).find("DoRA"), std::string::npos);
  EXPECT_NE(with("r", 2).find("has rank 4 but r is 2"), std::string::npos);
  EXPECT_NE(with("target_modules", {"q_proj", "lm head"}).find("'lm head' is not a module name"), std::string::npos);
  with("target_modules", {"q_proj", "lm_head"});
  auto e = error_of([&] { apply_peft_adapter(*m, load_peft_adapter(dir)); });
  EXPECT_NE(e.find("'lm_head' selects no linear layer of this model; its linear layers: q_proj, k_proj, v_proj, "
                   "o_proj, gate_proj, up_proj, down_proj"),
            std::string::npos)
      << e;
  EXPECT_NE(with("peft_type", "IA3").find("peft_type"), std::string::npos);
  write_file_atomic(dir + "/adapter_config.json", "{not json");
  EXPECT_NE(error_of([&] { load_peft_adapter(dir); }).find("adapter_config.json"), std::string::npos);
  EXPECT_NE(error_of([&] { load_peft_adapter(dir + "/missing"); }).find("not a PEFT adapter directory"),
            std::string::npos);
}

TEST(Lora, TrainerUpdatesOnlyTheAdapterAndItsOptimizerStateIsAdapterSized) {
  const std::string dir = fresh_temp_dir("lora_train");
  Tokenizer tok = byte_tokenizer();
  LlamaConfig cfg = tiny_config();
  cfg.vocab_size = tok.vocab_size();
  std::vector<Example> data;
  for (int i = 0; i < 16; ++i) data.push_back(random_example(12, static_cast<uint64_t>(i)));
  TrainOptions opts = quick_options(3, 1e-2);
  auto comm = Communicator::create(DistOptions{});

  LlamaForCausalLM full(cfg);
  Trainer full_trainer(opts, full.ptr(), tok, data, {}, comm.get(), dir + "/full");
  full_trainer.train_step();

  LlamaForCausalLM m(cfg);
  std::map<std::string, torch::Tensor> base;
  for (auto& [n, t] : model_state(*m)) base[n] = t.clone();
  attach_lora(*m, tiny_lora(), 0);
  Trainer trainer(opts, m.ptr(), tok, data, {}, comm.get(), dir + "/lora");
  trainer.add_artifact_writer([&](const std::string& out) { save_peft_adapter(out + "/adapter", *m); });
  trainer.run(false);
  for (auto& [n, t] : model_state(*m)) EXPECT_TRUE(torch::equal(t, base[n])) << n << " changed";
  int64_t lora_params = 0;
  for (auto& p : m->named_parameters())
    if (is_lora_parameter(p.key())) lora_params += p.value().numel();
  EXPECT_EQ(trainer.trainable_parameters(), lora_params);
  EXPECT_EQ(trainer.optimizer_state_bytes(), 2 * 4 * lora_params);  // AdamW's two float moments
  EXPECT_EQ(full_trainer.optimizer_state_bytes(), 2 * 4 * cfg.num_parameters());
  EXPECT_EQ(cfg.num_parameters(), [&] {
    int64_t n = 0;
    for (auto& [name, t] : model_state(*full)) n += t.numel();
    return n;
  }());
  // The B matrices moved away from zero, and the run wrote the adapter.
  EXPECT_GT(lora_delta_weights(*m).begin()->second.abs().max().item<double>(), 0.0);
  auto saved = load_peft_adapter(dir + "/lora/adapter");
  EXPECT_EQ(saved.modules().size(), 2u * 7u);
}

TEST(LoraSlow, AdapterAloneCanFitASmallBatch) {
  const std::string dir = fresh_temp_dir("lora_fit");
  Tokenizer tok = byte_tokenizer();
  LlamaConfig cfg = tiny_config();
  cfg.vocab_size = tok.vocab_size();
  // Output rows of a trained model's size: with HF's 0.02 init the final
  // RMSNorm bounds every logit near zero and no adapter could fit anything.
  cfg.initializer_range = 0.3;
  std::vector<Example> data;
  for (int i = 0; i < 4; ++i) data.push_back(random_example(10, static_cast<uint64_t>(i)));
  TrainOptions opts = quick_options(150, 1e-2);
  auto comm = Communicator::create(DistOptions{});
  LlamaForCausalLM m(cfg);
  m->reset_parameters(1);
  attach_lora(*m, tiny_lora(), 0);
  Trainer trainer(opts, m.ptr(), tok, data, {}, comm.get(), dir);
  const double first = trainer.train_step().loss;
  double last = first;
  for (int s = 1; s < opts.max_steps; ++s) last = trainer.train_step().loss;
  std::cerr << "LoRA fit: " << first << " -> " << last << "\n";
  EXPECT_LT(last, 0.1 * first);
}

namespace {

// A model of another family: two loom::Linear layers in a plain module.
struct TwoLayerNet : torch::nn::Module {
  TwoLayerNet() {
    first = register_module("first", Linear(6, 5));
    second = register_module("second", Linear(5, 3, /*bias=*/true));
    torch::NoGradGuard g;
    torch::manual_seed(3);
    for (auto& p : parameters()) p.normal_();
  }
  torch::Tensor forward(const torch::Tensor& x) { return second(torch::relu(first(x))); }
  Linear first{nullptr}, second{nullptr};
};

}  // namespace

TEST(Lora, AdaptsAnyModelWithLinearLayersByName) {
  TwoLayerNet net;
  auto x = torch::randn({4, 6});
  auto before = net.forward(x).detach().clone();
  attach_lora(net, tiny_lora({"second"}), 1);
  EXPECT_TRUE(torch::allclose(net.forward(x), before));
  EXPECT_FALSE(net.first->weight.requires_grad());
  EXPECT_TRUE(net.second->named_children().size() == 2);  // lora_A, lora_B
  randomize_b(net, 2);
  auto adapted = net.forward(x).detach().clone();
  EXPECT_FALSE(torch::allclose(adapted, before));
  EXPECT_EQ(peft_adapter_of(net).modules(), std::vector<std::string>{"second"});
  merge_lora(net);
  EXPECT_TRUE(torch::allclose(net.forward(x), adapted, 1e-5, 1e-5));
  EXPECT_FALSE(has_lora(net));
  EXPECT_NE(error_of([&] { attach_lora(net, tiny_lora({"third"}), 1); }).find("'third' selects no linear layer"),
            std::string::npos);
}

TEST(Lora, ModulesToSaveTrainBesideTheAdapterAndRoundTripInPeftsLayout) {
  const std::string dir = fresh_temp_dir("peft_mts");
  LlamaForCausalLM m(tiny_config());
  m->reset_parameters(5);
  LoraConfig cfg = tiny_lora({"q_proj"});
  cfg.modules_to_save = {"lm_head", "embed_tokens"};
  attach_lora(*m, cfg, 3);
  // lm_head and the embeddings train; the rest of the base stays frozen.
  for (const auto& p : m->named_parameters()) {
    const bool saved = p.key() == "lm_head.weight" || p.key() == "model.embed_tokens.weight";
    EXPECT_EQ(p.value().requires_grad(), saved || is_lora_parameter(p.key())) << p.key();
  }
  randomize_b(*m, 4);
  {
    torch::NoGradGuard g;
    m->lm_head->weight.add_(0.1);
    m->model->embed_tokens->weight.mul_(1.5);
  }
  save_peft_adapter(dir, *m);
  // PEFT's get_peft_model_state_dict strips "modules_to_save." and ".default".
  auto file = safetensors::File::read(dir + "/adapter_model.safetensors");
  EXPECT_TRUE(file.contains("base_model.model.lm_head.weight"));
  EXPECT_TRUE(file.contains("base_model.model.model.embed_tokens.weight"));
  EXPECT_EQ(file.tensors().size(), 2u * 2u + 2u);
  auto config = nlohmann::json::parse(read_file_text(dir + "/adapter_config.json"));
  EXPECT_EQ(config["modules_to_save"], nlohmann::json({"lm_head", "embed_tokens"}));

  LlamaForCausalLM fresh(tiny_config());
  fresh->reset_parameters(5);
  auto batch = tiny_batch();
  const auto before = fresh->forward(batch);
  PeftAdapter loaded = load_peft_adapter(dir);
  EXPECT_EQ(loaded.saved_tensors().size(), 2u);
  EXPECT_EQ(loaded.modules().size(), 2u);  // the q_proj of each layer
  apply_peft_adapter(*fresh, loaded);
  EXPECT_TRUE(torch::allclose(fresh->forward(batch), m->forward(batch), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(fresh->forward(batch), before, 1e-3, 1e-3));
  // Merging keeps the trained modules (merge_and_unload).
  merge_lora(*fresh);
  EXPECT_TRUE(torch::allclose(fresh->forward(batch), m->forward(batch), 1e-5, 1e-5));

  // A file without the listed module's tensor is refused, naming the key.
  auto tensors = load_tensors(dir + "/adapter_model.safetensors");
  tensors.erase("base_model.model.lm_head.weight");
  save_tensors(dir + "/adapter_model.safetensors", NamedTensors(tensors.begin(), tensors.end()), {{"format", "pt"}});
  LlamaForCausalLM other(tiny_config());
  auto e = error_of([&] { apply_peft_adapter(*other, load_peft_adapter(dir)); });
  EXPECT_NE(e.find("no 'base_model.model.lm_head.weight'"), std::string::npos) << e;
  EXPECT_FALSE(has_lora(*other));  // nothing half-applied
  // A name that selects nothing is an error naming it.
  cfg.modules_to_save = {"lm_hed"};
  LlamaForCausalLM third(tiny_config());
  e = error_of([&] { attach_lora(*third, cfg, 0); });
  EXPECT_NE(e.find("modules_to_save entry 'lm_hed' selects no module"), std::string::npos) << e;
}
