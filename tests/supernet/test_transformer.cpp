// The elastic transformer and the MLFS pieces on tiny synthetic models:
// maxnet = dense model, subnet = dense model of its sliced weights,
// extraction through model directories, importance permutation, the
// supernet step's gradient scaling, distillation losses, masked LM, and the
// held-out guarantee of the classification task.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "error_message.h"
#include "loom/adapters/lora.h"
#include "loom/core/atomic_file.h"
#include "loom/core/tokenizer.h"
#include "loom/dist/communicator.h"
#include "loom/models/model_dir.h"
#include "loom/supernet/distill.h"
#include "loom/supernet/extract.h"
#include "loom/supernet/importance.h"
#include "loom/supernet/mlfs.h"
#include "loom/supernet/step.h"
#include "loom/supernet/transformer_task.h"
#include "loom/tensor/batch.h"
#include "loom/train/trainer.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using loom::testing::error_of;

namespace {

LlamaConfig tiny() {
  LlamaConfig c = loom::testing::tiny_config(/*kv_heads=*/2);  // 4 heads in groups of 2, hidden 32, ffn 48
  c.num_hidden_layers = 3;
  return c;
}

BatchTensors random_batch(std::vector<int64_t> lengths, uint64_t seed) {
  std::vector<Example> examples;
  for (size_t i = 0; i < lengths.size(); ++i) examples.push_back(loom::testing::random_example(lengths[i], seed + i));
  std::vector<const Example*> group;
  for (auto& e : examples) group.push_back(&e);
  return to_tensors(collate(group, Packing::PaddingFree, 0));
}

// Random, non-zero adapters so that merging them matters.
void attach_random_lora(torch::nn::Module& model, uint64_t seed) {
  LoraConfig cfg;
  cfg.r = 4;
  cfg.target_modules = parse_lora_targets("all", "test");
  attach_lora(model, cfg, seed);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed + 1);
  for (auto& [name, lora] : lora_adapters(model)) lora->lora_B->weight.normal_(0.0, 0.05, gen);
}

// A dense model of `spec` whose weights this test slices itself, by name
// and shape (independently of sliced_state).
CausalLM dense_by_hand(ElasticTransformerImpl& super, const TransformerSpec& spec) {
  ElasticTransformerConfig cfg = super.config();
  cfg.llama.hidden_size = spec.hidden_size;
  cfg.llama.head_dim = super.shape().head_dim;
  cfg.llama.num_hidden_layers = static_cast<int64_t>(spec.layers.size());
  cfg.llama.num_attention_heads = *std::max_element(spec.heads.begin(), spec.heads.end());
  cfg.llama.num_key_value_heads = cfg.llama.num_attention_heads / super.shape().kv_group;
  cfg.llama.intermediate_size = *std::max_element(spec.ffn.begin(), spec.ffn.end());
  cfg.layer_heads = spec.heads;
  cfg.layer_intermediate_sizes = spec.ffn;
  ElasticTransformer dense(cfg);
  auto source = super.named_parameters();
  torch::NoGradGuard no_grad;
  for (auto& p : dense->named_parameters()) {
    std::string name = p.key();
    // model.layers.i.  ->  model.layers.<spec.layers[i]>.
    const std::string prefix = "model.layers.";
    if (name.rfind(prefix, 0) == 0) {
      size_t dot = name.find('.', prefix.size());
      int64_t i = std::stoll(name.substr(prefix.size(), dot - prefix.size()));
      name = prefix + std::to_string(spec.layers[static_cast<size_t>(i)]) + name.substr(dot);
    }
    auto t = source[name];
    for (int64_t d = 0; d < t.dim(); ++d) t = t.narrow(d, 0, p.value().size(d));
    p.value().copy_(t);
  }
  return dense.ptr();
}

}  // namespace

TEST(SupernetTransformer, MaxnetSpecComputesExactlyWhatTheDenseLlamaDoes) {
  LlamaForCausalLM llama(tiny());
  llama->reset_parameters(3);
  ElasticTransformer elastic = elastic_from_llama(*llama);
  auto batch = random_batch({7, 4, 9}, 1);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(llama->forward(batch), elastic->forward(batch)));
  attach_random_lora(*llama, 5);
  attach_random_lora(*elastic, 5);
  EXPECT_TRUE(torch::equal(llama->forward(batch), elastic->forward(batch)));
}

TEST(SupernetTransformer, SubnetEqualsTheDenseModelOfItsSlicedWeights) {
  for (bool encoder : {false, true}) {
    SCOPED_TRACE(encoder ? "encoder" : "decoder");
    ElasticTransformerConfig cfg;
    cfg.llama = tiny();
    cfg.encoder = encoder;
    cfg.num_labels = encoder ? 3 : 0;
    ElasticTransformer super(cfg);
    super->reset_parameters(7);
    attach_random_lora(*super, 9);
    const TransformerSpec spec = parse_transformer_spec(
        {{"hidden_size", 20}, {"layers", {0, 2}}, {"heads", {2, 4}}, {"ffn", {30, 12}}}, super->shape(), "spec");
    auto batch = random_batch({6, 8}, 4);
    torch::NoGradGuard no_grad;
    // The merged adapter is part of the dense weights: merge a copy by hand.
    CausalLM dense = dense_by_hand(*super, spec);
    // dense_by_hand copied only the base weights: add s·B[:o]A[:, :i] per layer.
    for (auto& [name, lora] : lora_adapters(*super)) {
      std::string dense_name = name;
      const std::string prefix = "model.layers.";
      size_t dot = name.find('.', prefix.size());
      int64_t l = std::stoll(name.substr(prefix.size(), dot - prefix.size()));
      auto it = std::find(spec.layers.begin(), spec.layers.end(), l);
      if (it == spec.layers.end()) continue;
      dense_name = prefix + std::to_string(it - spec.layers.begin()) + name.substr(dot);
      auto target = linear_layer_named(*dense, dense_name, "test");
      const int64_t o = target->out_features(), i = target->in_features();
      target->weight.add_(torch::matmul(lora->lora_B->weight.narrow(0, 0, o), lora->lora_A->weight.narrow(1, 0, i)) *
                          lora->config().scaling());
    }
    auto dense_e = as_elastic_transformer(dense, "dense");
    auto expected = dense_e->hidden_states(dense_e->full_spec(), batch);
    auto got = super->hidden_states(spec, batch);
    EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5)) << (got - expected).abs().max().item<double>();
    if (encoder) {
      EXPECT_TRUE(
          torch::allclose(super->classify(spec, batch), dense_e->classify(dense_e->full_spec(), batch), 1e-5, 1e-5));
    }
    // And extraction builds the same model (sliced_state + merge).
    CausalLM extracted = extract_transformer(*super, spec);
    auto ex = as_elastic_transformer(extracted, "extracted");
    EXPECT_TRUE(torch::allclose(ex->hidden_states(ex->full_spec(), batch), got, 1e-5, 1e-5));
    EXPECT_EQ(super->parameter_count(spec), static_cast<int64_t>([&] {
                int64_t n = 0;
                for (auto& [k, t] : model_state(*extracted)) n += t.numel();
                return n;
              }()));
  }
}

TEST(SupernetTransformer, ExtractedSubnetLoadsInTheCoreAndReproducesTheSupernetLogits) {
  register_supernet_model_families();
  const std::string dir = loom::testing::fresh_temp_dir("extract");
  LlamaForCausalLM llama(tiny());
  llama->reset_parameters(11);
  ElasticTransformer super = elastic_from_llama(*llama);
  attach_random_lora(*super, 12);
  std::vector<std::string> texts = {"alpha beta gamma delta", "the quick brown fox", "loom supernet"};
  TokenizerTrainOptions topts;
  topts.vocab_size = 280;
  Tokenizer tok = Tokenizer::train(texts, topts);
  auto batch = random_batch({5, 9}, 8);
  torch::NoGradGuard no_grad;
  for (auto json : {nlohmann::json{{"hidden_size", 24}, {"num_layers", 2}, {"heads", 2}, {"ffn", 32}},
                    nlohmann::json{{"hidden_size", 24}, {"layers", {0, 2}}, {"heads", {2, 4}}, {"ffn", {32, 16}}}}) {
    const TransformerSpec spec = parse_transformer_spec(json, super->shape(), "spec");
    super->set_active(spec);
    auto expected = super->forward(batch);
    save_model_dir(dir, *extract_transformer(*super, spec), tok);
    LoadedModel m = load_model_dir(dir);
    EXPECT_EQ(m.model->model_type(), spec.uniform() ? "llama" : "loom_elastic_llama");
    EXPECT_TRUE(torch::allclose(m.model->forward(batch), expected, 1e-5, 1e-5))
        << json.dump() << " " << (m.model->forward(batch) - expected).abs().max().item<double>();
    // It generates like any model: greedy continuation from the supernet and the dense copy agree.
    KVCache a, b;
    auto ids = torch::tensor(std::vector<int64_t>{1, 5, 9}, torch::kLong);
    EXPECT_TRUE(torch::allclose(super->forward_cached(ids, &a), m.model->forward_cached(ids, &b), 1e-5, 1e-5));
  }
  // An encoder subnet with its classification head: the same class logits.
  ElasticTransformerConfig ecfg;
  ecfg.llama = tiny();
  ecfg.encoder = true;
  ecfg.num_labels = 3;
  ElasticTransformer encoder(ecfg);
  encoder->reset_parameters(13);
  attach_random_lora(*encoder, 14);
  const TransformerSpec spec = parse_transformer_spec(
      {{"hidden_size", 16}, {"layers", {1, 2}}, {"heads", {4, 2}}, {"ffn", {24, 48}}}, encoder->shape(), "spec");
  auto expected = encoder->classify(spec, batch);
  save_model_dir(dir, *extract_transformer(*encoder, spec), tok);
  LoadedModel m = load_model_dir(dir);
  EXPECT_EQ(m.model->model_type(), "loom_encoder");
  auto dense = as_elastic_transformer(m.model, dir);
  EXPECT_TRUE(torch::allclose(dense->classify(dense->full_spec(), batch), expected, 1e-5, 1e-5));
  std::filesystem::remove_all(dir);
}

TEST(SupernetTransformer, ImportancePermutationLeavesOutputsUnchangedAndRanksFirst) {
  for (bool encoder : {false, true}) {
    ElasticTransformerConfig cfg;
    cfg.llama = tiny();
    cfg.encoder = encoder;
    cfg.num_labels = encoder ? 2 : 0;
    ElasticTransformer model(cfg);
    model->reset_parameters(21);
    {  // Unequal channels, so that the ranking is not the identity.
      torch::NoGradGuard no_grad;
      for (int64_t l = 0; l < 3; ++l)
        dynamic_cast<SwiGluImpl*>(model->layer(l).mlp.get())->up_proj->weight.mul_(torch::rand({48, 1}) * 3);
    }
    std::vector<BatchTensors> calibration = {random_batch({12, 7}, 30), random_batch({9}, 40)};
    auto batch = random_batch({8, 5}, 50);
    torch::NoGradGuard no_grad;
    // Hidden states come out in the permuted channel order; what the model
    // computes (logits, class scores) does not change.
    auto outputs = [&] { return encoder ? model->classify(model->full_spec(), batch) : model->forward(batch); };
    auto before = outputs();
    ImportanceOrder order = reorder_by_importance(*model, calibration);
    bool identity = true;
    for (size_t i = 0; i < order.ffn[0].size(); ++i) identity &= order.ffn[0][i] == static_cast<int64_t>(i);
    EXPECT_FALSE(identity);
    auto after = outputs();
    EXPECT_TRUE(torch::allclose(before, after, 1e-5, 1e-5)) << (before - after).abs().max().item<double>();
    // After the permutation the statistics are in descending order.
    ActivationStats stats = collect_activation_stats(*model, calibration);
    auto f = stats.ffn_abs[1];
    EXPECT_TRUE(torch::all(f.narrow(0, 0, 47) >= f.narrow(0, 1, 47)).item<bool>());
    auto h = stats.hidden_abs;
    EXPECT_TRUE(torch::all(h.narrow(0, 0, 31) >= h.narrow(0, 1, 31) - 1e-9).item<bool>());
  }
  ElasticTransformerConfig cfg;
  cfg.llama = tiny();
  ElasticTransformer with_lora(cfg);
  attach_random_lora(*with_lora, 1);
  EXPECT_NE(error_of([&] { reorder_by_importance(*with_lora, {random_batch({4}, 1)}); }).find("before attaching"),
            std::string::npos);
}

TEST(SupernetTransformer, EncoderAttendsBothWaysDecoderOnlyBack) {
  ElasticTransformerConfig cfg;
  cfg.llama = tiny();
  auto batch = random_batch({6}, 2);
  auto changed = batch;
  changed.input_ids = batch.input_ids.clone();
  changed.input_ids[5] = (changed.input_ids[5].item<int64_t>() + 1) % 60 + 1;
  torch::NoGradGuard no_grad;
  for (bool encoder : {false, true}) {
    cfg.encoder = encoder;
    ElasticTransformer m(cfg);
    m->reset_parameters(1);
    auto a = m->hidden_states(m->full_spec(), batch)[0], b = m->hidden_states(m->full_spec(), changed)[0];
    EXPECT_EQ(torch::allclose(a, b), !encoder);
  }
  EXPECT_NE(error_of([&] {
              KVCache c;
              ElasticTransformer(cfg)->forward_cached(torch::ones({2}, torch::kLong), &c);
            }).find("does not generate"),
            std::string::npos);
}

TEST(SupernetTransformer, ConfigErrorsNameTheField) {
  ElasticTransformerConfig cfg;
  cfg.llama = tiny();
  nlohmann::json j = cfg.to_json();
  j["layer_heads"] = {4, 3, 4};
  EXPECT_NE(error_of([&] {
              ElasticTransformerConfig::from_json(j, "config.json");
            }).find("config.json: layer_heads[1]: 3 must lie in 1..4 and be a multiple of 2"),
            std::string::npos);
  j["layer_heads"] = {4, 4};
  EXPECT_NE(error_of([&] { ElasticTransformerConfig::from_json(j, "config.json"); }).find("one size per layer"),
            std::string::npos);
  ElasticTransformer m(cfg);
  EXPECT_NE(error_of([&] {
              m->set_active(parse_transformer_spec({{"ffn", 49}}, m->shape(), "spec.json"));
            }).find("spec.json: ffn[0]: 49 is outside 1..48"),
            std::string::npos);
}

// Two subnets, α = β = 0: the accumulated gradient is ∇L_max + (n_max/n_j)^γ ∇L_j.
TEST(SupernetStep, GradientIsTheHandComputedScaledSum) {
  ElasticTransformerConfig cfg;
  cfg.llama = tiny();
  cfg.encoder = true;
  cfg.num_labels = 3;
  ElasticTransformer model(cfg);
  model->reset_parameters(2);
  attach_random_lora(*model, 3);
  for (auto& p : model->score->parameters()) p.set_requires_grad(true);
  TaskSplit split;
  for (int i = 0; i < 4; ++i) {
    split.examples.push_back(loom::testing::random_example(5 + i, 60 + i));
    split.labels.push_back(i % 3);
  }
  TaskBatch batch = task_batch(split, {0, 1, 2, 3}, 0);
  const TransformerSpec full = model->full_spec();
  const TransformerSpec small = parse_transformer_spec(
      {{"hidden_size", 16}, {"num_layers", 2}, {"heads", 2}, {"ffn", 24}}, model->shape(), "spec");
  std::vector<torch::Tensor> params;
  for (auto& p : model->parameters())
    if (p.requires_grad()) params.push_back(p);
  auto grads = [&] {
    std::vector<torch::Tensor> g;
    for (auto& p : params) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    for (auto& p : params)
      if (p.grad().defined()) p.mutable_grad().zero_();
    return g;
  };
  auto loss_of = [&](const TransformerSpec& s) {
    return transformer_pass(*model, TaskKind::Classify, s, batch, {}, LayerMapping::Same).task_loss;
  };
  loss_of(full).backward();
  auto g_max = grads();
  loss_of(small).backward();
  auto g_small = grads();
  const int64_t n_max = model->trainable_count(full), n_small = model->trainable_count(small);
  ASSERT_GT(n_max, n_small);
  for (double gamma : {0.0, 0.5, 1.0}) {
    DistillOptions d;
    d.alpha = 0;
    d.beta = 0;
    d.gamma = gamma;
    std::map<Genome, TransformerSpec> specs = {{{1}, full}, {{0}, small}};
    StepReport r = supernet_step(
        {{1}, {0}},
        [&](const Genome& g, const PassRequest& q) {
          return transformer_pass(*model, TaskKind::Classify, specs[g], batch, q, LayerMapping::Same);
        },
        d, [&](const Genome& g) { return model->trainable_count(specs[g]); });
    const double scale = std::pow(static_cast<double>(n_max) / static_cast<double>(n_small), gamma);
    EXPECT_NEAR(r.subnets[1].scale, scale, 1e-12);
    auto g = grads();
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_TRUE(torch::allclose(g[i], g_max[i] + scale * g_small[i], 1e-5, 1e-7)) << "parameter " << i;
  }
}

TEST(SupernetStep, WithAlphaAndBetaZeroTrainingIsPlainSupervisedTraining) {
  // One plain step on the maxnet's loss vs a supernet step that samples only the maxnet.
  ElasticTransformerConfig cfg;
  cfg.llama = tiny();
  ElasticTransformer a(cfg), b(cfg);
  a->reset_parameters(4);
  b->reset_parameters(4);
  auto batch = random_batch({9, 6}, 70);
  TaskBatch tb{batch, {}};
  torch::optim::SGD oa(a->parameters(), 0.1), ob(b->parameters(), 0.1);
  (a->loss_sum(batch) / static_cast<double>(batch.num_label_tokens)).backward();
  oa.step();
  DistillOptions d;
  d.alpha = 0;
  d.beta = 0;
  supernet_step({{0}},
                [&](const Genome&, const PassRequest& q) {
                  return transformer_pass(*b, TaskKind::LanguageModel, b->full_spec(), tb, q, LayerMapping::Same);
                },
                d, {});
  ob.step();
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-6, 1e-7)) << i;
}

// Only the shared adapter trains: the optimizer holds moments of the adapter
// alone, and the super-weights do not move (decoders through the core trainer).
TEST(SupernetStep, LoraSupernetTrainsOnlyTheAdapterThroughTheTrainer) {
  ElasticTransformerConfig cfg;
  cfg.llama = tiny();
  ElasticTransformer model(cfg);
  model->reset_parameters(5);
  LoraConfig lcfg;
  lcfg.r = 2;
  lcfg.target_modules = parse_lora_targets("all", "test");
  attach_lora(*model, lcfg, 6);
  std::vector<Example> train;
  for (int i = 0; i < 16; ++i) train.push_back(loom::testing::random_example(8, 100 + i));
  TrainOptions t;
  t.max_steps = 2;
  t.micro_batch_size = 4;
  t.log_every = 1;
  t.eval_every = 0;
  t.checkpoint_every = 0;
  t.progress = false;
  Tokenizer tok = Tokenizer::train({"a b c"}, TokenizerTrainOptions{});
  auto comm = Communicator::create(DistOptions{});
  const std::string dir = loom::testing::fresh_temp_dir("lora_trainer");
  Trainer trainer(t, model.ptr(), tok, train, {train[0]}, comm.get(), dir);
  const TransformerSpec small =
      parse_transformer_spec({{"hidden_size", 16}, {"num_layers", 2}, {"heads", 2}, {"ffn", 24}}, model->shape(), "s");
  trainer.set_micro_batch_step([&](const BatchTensors& b, double normalizer) {
    TaskBatch tb{b, {}};
    std::map<Genome, TransformerSpec> specs = {{{1}, model->full_spec()}, {{0}, small}};
    return supernet_step(
               {{1}, {0}},
               [&](const Genome& g, const PassRequest& q) {
                 return transformer_pass(*model, TaskKind::LanguageModel, specs[g], tb, q, LayerMapping::Same,
                                         normalizer);
               },
               DistillOptions{}, [&](const Genome& g) { return model->trainable_count(specs[g]); },
               [&](int64_t l) { return model->lora_projection(l); })
        .total;
  });
  auto base_before = model->layer(0).self_attn->q_proj->weight.clone();
  auto b_before = lora_adapters(*model)[0].second->lora_B->weight.clone();
  trainer.train_step();
  trainer.train_step();
  int64_t adapter = 0;
  for (auto& [name, lora] : lora_adapters(*model))
    adapter += lora->lora_A->weight.numel() + lora->lora_B->weight.numel();
  EXPECT_EQ(trainer.trainable_parameters(), adapter);
  EXPECT_EQ(trainer.optimizer_state_bytes(), 2 * 4 * adapter);
  EXPECT_TRUE(torch::equal(base_before, model->layer(0).self_attn->q_proj->weight));
  EXPECT_FALSE(torch::equal(b_before, lora_adapters(*model)[0].second->lora_B->weight));
  std::filesystem::remove_all(dir);
}

TEST(SupernetMlm, MaskingKeepsSpecialTokensAndLabelsOnlyWhatItChose) {
  Tokenizer tok = Tokenizer::train({"alpha beta gamma", "delta epsilon"}, TokenizerTrainOptions{});
  auto batch = random_batch({40, 30}, 90);
  batch.input_ids[0] = tok.bos_id();
  auto original = batch.input_ids.clone();
  auto gen = at::detail::createCPUGenerator(3);
  const int64_t chosen = mask_for_mlm(&batch, tok, /*mask_id=*/2, 0.3, gen);
  EXPECT_GT(chosen, 5);
  EXPECT_LT(chosen, 40);
  auto labelled = batch.labels.ne(kIgnoreLabel);
  EXPECT_EQ(labelled.sum().item<int64_t>(), chosen);
  EXPECT_TRUE(torch::equal(batch.labels.masked_select(labelled), original.masked_select(labelled)));
  EXPECT_TRUE(torch::equal(batch.input_ids.masked_select(labelled.logical_not()),
                           original.masked_select(labelled.logical_not())));
  EXPECT_EQ(batch.labels[0].item<int64_t>(), kIgnoreLabel);  // BOS is never masked
  EXPECT_GT(batch.input_ids.eq(2).logical_and(labelled).sum().item<int64_t>(), chosen / 2);
}

// Validation and test quotations never reach the training split or the
// masked-LM pretraining texts, even as part of a longer document or
// re-spaced; quotations filed under two topics are dropped.
TEST(SupernetTopics, HeldOutItemsNeverReachTrainingOrPretraining) {
  const std::string dir = loom::testing::fresh_temp_dir("topics");
  std::filesystem::create_directories(dir + "/fortunes");
  auto topic = [&](const std::string& name, int n, const std::string& extra) {
    std::string text;
    for (int i = 0; i < n; ++i) text += name + " quotation number " + std::to_string(i) + " about " + name + "\n%\n";
    write_file_atomic(dir + "/fortunes/" + name, text + extra);
  };
  topic("cats", 12, "Shared wisdom of everything.\n%\n");
  topic("dogs", 12, "Shared wisdom of everything.\n%\n");
  EncoderPretrainOptions o;
  o.topics.fortunes_dir = dir + "/fortunes";
  o.topics.topics = {"cats", "dogs"};
  o.topics.train_per_topic = 6;
  o.topics.valid_per_topic = 2;
  o.topics.test_per_topic = 3;
  TopicDataset d = build_topic_dataset(o.topics);
  EXPECT_EQ(d.train.size(), 12u);
  EXPECT_EQ(d.test.size(), 6u);
  for (const auto* split : {&d.train, &d.valid, &d.test})
    for (const auto& item : *split) EXPECT_EQ(item.text.find("Shared wisdom"), std::string::npos);
  const auto held = d.held_out();
  for (const auto& item : d.train) EXPECT_EQ(held.count(normalize_for_overlap(item.text)), 0u);
  // A corpus with a test item verbatim, re-spaced, and inside a longer document.
  const std::string test_text = d.test[0].text, valid_text = d.valid[1].text;
  std::string respaced = test_text;
  for (auto& c : respaced)
    if (c == ' ') c = '\n';
  std::vector<nlohmann::json> rows = {{{"text", test_text}},
                                      {{"text", "  " + respaced + "  "}},
                                      {{"text", "Once upon a time. " + valid_text + " The end."}},
                                      {{"text", d.train[0].text}},
                                      {{"text", "unrelated text"}}};
  o.corpus = dir + "/corpus.jsonl";
  std::string jsonl;
  for (auto& r : rows) jsonl += r.dump() + "\n";
  write_file_atomic(o.corpus, jsonl);
  size_t removed = 0;
  auto texts = mlm_pretraining_texts(o, &removed);
  EXPECT_EQ(removed, 3u);
  ASSERT_EQ(texts.size(), 2u);
  for (const auto& t : texts)
    for (const auto& h : held) EXPECT_EQ(normalize_for_overlap(t).find(h), std::string::npos) << t;
  o.topics.test_per_topic = 20;
  EXPECT_NE(error_of([&] { build_topic_dataset(o.topics); }).find("'cats' has 12 distinct quotations"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}
