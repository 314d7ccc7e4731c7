#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/safetensors.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/tensor_io.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;
namespace fs = std::filesystem;

namespace {

std::string fresh_dir(const std::string& name) { return fresh_temp_dir("md_" + name); }

Tokenizer tiny_tokenizer() {
  TokenizerTrainOptions opts;
  opts.vocab_size = 280;
  return Tokenizer::train({"abc abc abd abd the the then"}, opts);
}

}  // namespace

TEST(TensorIo, StrictCopyFillsEveryParameterAndRefusesMissingMisshapenOrExtraTensors) {
  torch::nn::Linear layer(3, 2);
  const auto weight = torch::arange(6, torch::kFloat32).view({2, 3}), bias = torch::tensor({7.f, 8.f});
  copy_tensors_strict(layer->named_parameters(), {{"weight", weight}, {"bias", bias}}, "w.safetensors");
  EXPECT_TRUE(torch::equal(layer->weight, weight));
  EXPECT_TRUE(torch::equal(layer->bias, bias));
  auto message = [&](const std::map<std::string, torch::Tensor>& tensors) {
    return error_of([&] { copy_tensors_strict(layer->named_parameters(), tensors, "w.safetensors"); });
  };
  EXPECT_EQ(message({{"weight", weight}}), "w.safetensors: missing tensor 'bias'");
  EXPECT_EQ(message({{"weight", weight.t()}, {"bias", bias}}),
            "w.safetensors: tensor 'weight' has shape [3, 2], expected [2, 3]");
  EXPECT_EQ(message({{"weight", weight}, {"bias", bias}, {"extra", bias}}), "w.safetensors: unexpected tensor 'extra'");
}

TEST(ModelDir, RoundTripWithHuggingFaceLayout) {
  std::string dir = fresh_dir("roundtrip");
  Tokenizer tok = tiny_tokenizer();
  LlamaForCausalLM m(tiny_config(2, false));
  m->reset_parameters(3);
  save_model_dir(dir, *m, tok);
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  auto cfg = nlohmann::json::parse(read_file_text(dir + "/config.json"));
  EXPECT_EQ(cfg["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(cfg["num_key_value_heads"], 2);
  EXPECT_EQ(cfg["eos_token_id"], tok.eos_id());
  auto file = safetensors::File::read(dir + "/model.safetensors");
  EXPECT_TRUE(file.contains("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(file.contains("lm_head.weight"));
  EXPECT_EQ(file.metadata().at("format"), "pt");

  LoadedModel back = load_model_dir(dir);
  Example e = random_example(6, 1);
  auto batch = to_tensors(collate({&e}, Packing::PaddingFree, 0));
  EXPECT_TRUE(torch::equal(m->forward(batch), back.model->forward(batch)));
  EXPECT_EQ(back.tokenizer.encode("abc the"), tok.encode("abc the"));
}

TEST(ModelDir, TiedEmbeddingsSkipLmHeadAndLoadFp16) {
  std::string dir = fresh_dir("tied");
  LlamaForCausalLM m(tiny_config(4, true));
  save_model_dir(dir, *m, tiny_tokenizer());
  EXPECT_FALSE(safetensors::File::read(dir + "/model.safetensors").contains("lm_head.weight"));
  // Re-save the weights in half precision, as many hub checkpoints are.
  auto tensors = load_tensors(dir + "/model.safetensors");
  NamedTensors half;
  for (auto& [n, t] : tensors) half.push_back({n, t.to(torch::kHalf)});
  save_tensors(dir + "/model.safetensors", half);
  LoadedModel back = load_model_dir(dir);
  EXPECT_TRUE(torch::allclose(as_llama(back.model, dir)->model->embed_tokens->weight, m->model->embed_tokens->weight,
                              1e-3, 1e-3));
}

TEST(ModelDir, ErrorsNameTheMissingFileOrTensor) {
  std::string dir = fresh_dir("errors");
  LlamaForCausalLM m(tiny_config());
  save_model_dir(dir, *m, tiny_tokenizer());
  fs::rename(dir + "/tokenizer.json", dir + "/tokenizer.bak");
  EXPECT_NE(error_of([&] { load_model_dir(dir); }).find("missing tokenizer.json"), std::string::npos);
  fs::rename(dir + "/tokenizer.bak", dir + "/tokenizer.json");

  auto tensors = load_tensors(dir + "/model.safetensors");
  NamedTensors edited;
  for (auto& [n, t] : tensors)
    if (n != "model.layers.1.mlp.up_proj.weight") edited.push_back({n, t});
  save_tensors(dir + "/model.safetensors", edited);
  EXPECT_NE(error_of([&] { load_model_dir(dir); }).find("'model.layers.1.mlp.up_proj.weight'"), std::string::npos);

  edited.push_back({"model.layers.1.mlp.up_proj.weight", torch::zeros({3, 3})});
  save_tensors(dir + "/model.safetensors", edited);
  std::string e = error_of([&] { load_model_dir(dir); });
  EXPECT_NE(e.find("up_proj"), std::string::npos) << e;
  EXPECT_NE(e.find("shape"), std::string::npos) << e;

  auto bytes = read_file_bytes(dir + "/model.safetensors");
  bytes.resize(bytes.size() / 2);
  write_file_atomic(dir + "/model.safetensors", bytes.data(), bytes.size());
  e = error_of([&] { load_model_dir(dir); });
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;

  write_file_atomic(dir + "/config.json", R"({"model_type": "llama", "vocab_size": 300, "hidden_size": 32})");
  e = error_of([&] { load_model_dir(dir); });
  EXPECT_NE(e.find("intermediate_size"), std::string::npos) << e;
  // Directories dispatch on model_type, or else on architectures; anything else is named.
  write_file_atomic(dir + "/config.json", R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 300})");
  e = error_of([&] { load_model_dir(dir); });
  EXPECT_NE(e.find("missing field 'hidden_size'"), std::string::npos) << e;
  write_file_atomic(dir + "/config.json", R"({"model_type": "gpt2", "vocab_size": 300})");
  e = error_of([&] { load_model_dir(dir); });
  EXPECT_NE(e.find("config.json: model_type: unknown model_type 'gpt2'; valid: llama"), std::string::npos) << e;
  write_file_atomic(dir + "/config.json", R"({"vocab_size": 300})");
  e = error_of([&] { load_model_dir(dir); });
  EXPECT_NE(e.find("no model_type (and no known entry in architectures)"), std::string::npos) << e;
}
