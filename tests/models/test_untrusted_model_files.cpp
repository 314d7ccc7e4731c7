// Attacks on model directories from issue 17: a config.json that would
// allocate gigabytes, sizes outside any real model, nesting, NaN weights.
// Each must be a loom::Error naming the file and field or tensor.
#include <gtest/gtest.h>

#include <filesystem>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/models/generate.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/threads.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

Tokenizer tiny_tokenizer() {
  TokenizerTrainOptions opts;
  opts.vocab_size = 280;
  return Tokenizer::train({"abc abc abd abd the the then"}, opts);
}

// A saved tiny model whose config.json is then replaced by `edit(config)`.
std::string model_dir_with_config(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const std::string dir = fresh_temp_dir("untrusted_md_" + name);
  LlamaForCausalLM m(tiny_config());
  save_model_dir(dir, *m, tiny_tokenizer());
  nlohmann::json config = nlohmann::json::parse(read_file_text(dir + "/config.json"));
  edit(config);
  write_file_atomic(dir + "/config.json", config.dump());
  return dir;
}

}  // namespace

TEST(UntrustedModelDir, AConfigFarLargerThanItsWeightsIsRefusedBeforeAllocating) {
  // 500k x 1024 embeddings and head: 4 GB of float32 from a 300-byte edit.
  const std::string dir = model_dir_with_config("huge", [](nlohmann::json& c) {
    c["vocab_size"] = 500000;
    c["hidden_size"] = 1024;
    c["head_dim"] = 256;
  });
  const std::string e = error_of([&] { load_model_dir(dir); });
  // 2 x 500000 x 1024 embeddings and head, plus 2 layers of 3295232 (attention
  // 1024 x 256 x (4 + 2) x 2, MLP 3 x 1024 x 48, two norms) and the final norm.
  EXPECT_TRUE(contains(e, dir + "/config.json: describes a model of 1030591488 parameters")) << e;
  EXPECT_TRUE(contains(e, "model.safetensors holds only")) << e;
  EXPECT_TRUE(contains(e, "refusing to allocate it")) << e;
}

TEST(UntrustedModelDir, PositionTablesMayNotDwarfTheWeights) {
  const std::string dir =
      model_dir_with_config("positions", [](nlohmann::json& c) { c["max_position_embeddings"] = 1 << 24; });
  const std::string e = error_of([&] { load_model_dir(dir); });
  EXPECT_TRUE(contains(e,
                       "config.json: its position tables (2 x max_position_embeddings x head_dim) would take "
                       "268435456 values"))
      << e;
}

TEST(UntrustedModelDir, SizesOutsideEveryRealModelAreNamed) {
  struct Case {
    const char* field;
    nlohmann::json value;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"vocab_size", int64_t{1} << 40, "vocab_size must lie in [1, 16777216], got 1099511627776"},
      {"num_hidden_layers", 100000, "num_hidden_layers must lie in [1, 4096]"},
      {"hidden_size", -32, "hidden_size must lie in [1, 131072]"},
      {"head_dim", int64_t{1} << 20, "head_dim must lie in [0, 4096]"},
      {"max_position_embeddings", int64_t{1} << 40, "max_position_embeddings must lie in [1, 16777216]"},
      {"rope_theta", -1.0, "rope_theta must be positive and finite"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    const std::string dir = model_dir_with_config(c.field, [&](nlohmann::json& j) { j[c.field] = c.value; });
    const std::string e = error_of([&] { load_model_dir(dir); });
    EXPECT_TRUE(contains(e, dir + "/config.json: " + c.expected)) << e;
  }
}

TEST(UntrustedModelDir, DeeplyNestedConfigIsRefused) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string dir = model_dir_with_config("deep", [](nlohmann::json&) {});
  write_file_atomic(dir + "/config.json", "{\"rope_scaling\": " + deep + "}");
  std::string e = error_of([&] { LlamaConfig::load(dir + "/config.json"); });
  EXPECT_TRUE(contains(e, "config.json: JSON nested deeper than 64 levels")) << e;
  e = error_of([&] { load_model_dir(dir); });
  EXPECT_TRUE(contains(e, "config.json: JSON nested deeper than 64 levels")) << e;
}

TEST(UntrustedModelDir, NaNWeightsAreRefusedNamingTheFileAndTensor) {
  const std::string dir = fresh_temp_dir("untrusted_md_nan");
  LlamaForCausalLM m(tiny_config());
  save_model_dir(dir, *m, tiny_tokenizer());
  auto tensors = load_tensors(dir + "/model.safetensors");
  NamedTensors edited;
  for (auto& [name, t] : tensors) {
    if (name == "model.norm.weight") t[3] = std::nanf("");
    edited.push_back({name, t});
  }
  save_tensors(dir + "/model.safetensors", edited);
  const std::string e = error_of([&] { load_model_dir(dir); });
  EXPECT_TRUE(contains(e, dir + "/model.safetensors: tensor 'model.norm.weight' holds NaN or infinite values")) << e;
}

TEST(UntrustedModelDir, NonFiniteLogitsStopGenerationInsteadOfEmittingToken0) {
  // Finite weights can still overflow float32 inside the model; greedy
  // decoding used to read the NaN logits as token 0, a NUL byte.
  LlamaForCausalLM m(tiny_config());
  {
    torch::NoGradGuard no_grad;
    m->model->norm->weight.fill_(std::numeric_limits<float>::infinity());
  }
  GenerateOptions g;
  g.temperature = 0;
  g.max_new_tokens = 4;
  std::string e = error_of([&] { generate_tokens(*m, {1, 2, 3}, g, -1); });
  EXPECT_TRUE(contains(e, "generate: the model's logits are NaN or infinite")) << e;
  g.temperature = 0.7;
  e = error_of([&] { generate_tokens(*m, {1, 2, 3}, g, -1); });
  EXPECT_TRUE(contains(e, "generate: the model's logits are NaN or infinite")) << e;
}

TEST(Threads, MoreThanTheLimitIsRefused) {
  // threads: 100000 in a config used to start that many compute threads.
  const std::string e = error_of([] { set_compute_threads(100000); });
  EXPECT_TRUE(contains(e, "threads: 100000 is more than 1024")) << e;
  EXPECT_EQ(set_compute_threads(1), 1);
}
