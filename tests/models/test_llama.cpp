#include <gtest/gtest.h>

#include "loom/models/generate.h"
#include "loom/models/llama/llama.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;

TEST(Llama, ShapesAndHuggingFaceParameterNames) {
  for (bool tied : {false, true}) {
    LlamaConfig c = tiny_config(2, tied);
    LlamaForCausalLM m(c);
    std::map<std::string, std::vector<int64_t>> shapes;
    int64_t count = 0;
    for (auto& p : m->named_parameters()) {
      shapes[p.key()] = p.value().sizes().vec();
      count += p.value().numel();
    }
    EXPECT_EQ(count, c.num_parameters());
    EXPECT_EQ(shapes["model.embed_tokens.weight"], (std::vector<int64_t>{300, 32}));
    EXPECT_EQ(shapes["model.layers.1.self_attn.q_proj.weight"], (std::vector<int64_t>{32, 32}));
    EXPECT_EQ(shapes["model.layers.1.self_attn.k_proj.weight"], (std::vector<int64_t>{16, 32}));  // 2 kv heads x 8
    EXPECT_EQ(shapes["model.layers.0.mlp.down_proj.weight"], (std::vector<int64_t>{32, 48}));
    EXPECT_EQ(shapes["model.layers.0.post_attention_layernorm.weight"], (std::vector<int64_t>{32}));
    EXPECT_EQ(shapes["model.norm.weight"], (std::vector<int64_t>{32}));
    EXPECT_EQ(shapes.count("lm_head.weight"), tied ? 0u : 1u);
    Example e = random_example(7, 1);
    auto logits = m->forward(to_tensors(collate({&e}, Packing::PaddingFree, 0)));
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{7, 300}));
  }
}

TEST(Llama, RotaryEmbeddingRotatesHalvesByPosition) {
  // head_dim 4: pairs (x0, x2) and (x1, x3) rotate by p*theta^0 and p*theta^-1/2.
  RotaryEmbedding rope(4, 16, 100.0);
  auto x = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}).view({1, 1, 4});
  auto y = rope.apply(x, torch::tensor({3}, torch::kLong)).view({4});
  EXPECT_NEAR(y[0].item<float>(), std::cos(3.0), 1e-6);
  EXPECT_NEAR(y[2].item<float>(), std::sin(3.0), 1e-6);
  auto x2 = torch::tensor({0.0f, 1.0f, 0.0f, 0.0f}).view({1, 1, 4});
  auto y2 = rope.apply(x2, torch::tensor({3}, torch::kLong)).view({4});
  EXPECT_NEAR(y2[1].item<float>(), std::cos(3.0 / 10.0), 1e-6);
  EXPECT_NEAR(y2[3].item<float>(), std::sin(3.0 / 10.0), 1e-6);
}

TEST(Llama, PositionIdsDriveTheOutput) {
  LlamaForCausalLM m(tiny_config());
  Example a = random_example(5, 2), b = random_example(5, 2);
  PackedBatch packed = collate({&a, &b}, Packing::PaddingFree, 0);
  auto logits = m->forward(to_tensors(packed));
  // Identical examples at restarted positions produce identical logits.
  EXPECT_TRUE(torch::allclose(logits.narrow(0, 0, 5), logits.narrow(0, 5, 5), 1e-5, 1e-5));
  // RoPE is relative: shifting a whole segment changes nothing...
  auto shifted = to_tensors(packed);
  shifted.position_ids.narrow(0, 5, 5).add_(3);
  EXPECT_TRUE(torch::allclose(m->forward(shifted).narrow(0, 5, 5), logits.narrow(0, 5, 5), 1e-4, 1e-4));
  // ...but spreading the positions apart does.
  auto spread = to_tensors(packed);
  spread.position_ids.narrow(0, 5, 5).mul_(2);
  EXPECT_FALSE(torch::allclose(m->forward(spread).narrow(0, 5, 5), logits.narrow(0, 5, 5), 1e-4, 1e-4));
}

namespace {

struct PackCase {
  const char* name;
  std::vector<int64_t> lengths;
  Packing packing;
};

// Loss (sum over label tokens) and all gradients of the packed batch, and the
// same computed one example at a time.
void expect_packed_equals_per_example(const PackCase& c) {
  SCOPED_TRACE(c.name);
  LlamaForCausalLM m(tiny_config());
  m->reset_parameters(5);
  std::vector<Example> examples;
  for (size_t i = 0; i < c.lengths.size(); ++i) examples.push_back(random_example(c.lengths[i], 10 + i));
  std::vector<const Example*> ptrs;
  for (auto& e : examples) ptrs.push_back(&e);

  m->zero_grad();
  double separate_loss = 0;
  for (auto& e : examples) {
    auto loss = m->loss_sum(to_tensors(collate({&e}, Packing::PaddingFree, 0)));
    loss.backward();
    separate_loss += loss.item<double>();
  }
  auto separate_grads = grads_of(*m);

  m->zero_grad();
  auto loss = m->loss_sum(to_tensors(collate(ptrs, c.packing, 0)));
  loss.backward();
  auto packed_grads = grads_of(*m);
  EXPECT_NEAR(loss.item<double>(), separate_loss, 1e-5 * std::abs(separate_loss));
  for (size_t i = 0; i < packed_grads.size(); ++i) {
    double scale = separate_grads[i].abs().max().item<double>() + 1e-12;
    EXPECT_LE((packed_grads[i] - separate_grads[i]).abs().max().item<double>() / scale, 1e-5) << "parameter " << i;
  }
}

}  // namespace

TEST(Packing, PackedLossAndGradientsEqualPerExample) {
  const std::vector<PackCase> cases = {
      {"one example", {9}, Packing::PaddingFree},
      {"many examples", {4, 7, 3, 9, 5}, Packing::PaddingFree},
      {"one long among short", {3, 60, 2, 4}, Packing::PaddingFree},
      {"length-1 examples", {1, 5, 1, 1, 3}, Packing::PaddingFree},
      {"padded baseline", {4, 7, 3}, Packing::None},
      {"bin rows", {6, 2, 5, 3}, Packing::Bin},
  };
  for (const auto& c : cases) expect_packed_equals_per_example(c);
}

TEST(Packing, NaiveConcatenationDiffersMeasurably) {
  LlamaForCausalLM m(tiny_config());
  m->reset_parameters(5);
  Example a = random_example(6, 1), b = random_example(6, 2);
  double separate = m->loss_sum(to_tensors(collate({&a}, Packing::PaddingFree, 0))).item<double>() +
                    m->loss_sum(to_tensors(collate({&b}, Packing::PaddingFree, 0))).item<double>();
  auto naive = collate({&a, &b}, Packing::Naive, 0);
  // Score only the tokens both paths train on, so any gap is attention leakage.
  auto t = to_tensors(naive);
  t.labels[5] = kIgnoreLabel;
  double leaked = m->loss_sum(t).item<double>();
  EXPECT_GT(std::abs(leaked - separate), 1e-3 * std::abs(separate));
}

TEST(Generate, KvCacheMatchesFullRecomputation) {
  LlamaForCausalLM m(tiny_config());
  m->reset_parameters(9);
  std::vector<int32_t> prompt = {3, 17, 5};
  GenerateOptions opts;
  opts.max_new_tokens = 8;
  opts.stop_at_eos = false;
  auto cached = generate_tokens(*m, prompt, opts, -1);
  std::vector<int32_t> seq = prompt;
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 8; ++i) {
    Example e;
    e.tokens = seq;
    e.target.assign(seq.size(), 1);
    auto logits = m->forward(to_tensors(collate({&e}, Packing::PaddingFree, 0)));
    seq.push_back(static_cast<int32_t>(logits[-1].argmax().item<int64_t>()));
  }
  EXPECT_EQ(cached, std::vector<int32_t>(seq.begin() + 3, seq.end()));
  opts.temperature = 0.8;
  opts.top_p = 0.9;
  opts.seed = 4;
  EXPECT_EQ(generate_tokens(*m, prompt, opts, -1), generate_tokens(*m, prompt, opts, -1));
}
