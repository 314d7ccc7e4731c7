// Tiny dense models on disk for the MoE tests: a base and experts of the same
// shape (different random weights), sharing one tokenizer.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "loom/core/atomic_file.h"
#include "loom/core/collate.h"
#include "loom/models/model_dir.h"
#include "loom/moe/register.h"
#include "temp_dir.h"
#include "test_util.h"

namespace loom::testing {

struct TinyModels {
  std::string dir;
  Tokenizer tokenizer;
  LlamaConfig config;
  std::vector<std::string> dirs;  // dirs[0] = the base, then the experts

  TinyModels(const std::string& name, int n, uint64_t seed = 1) : dir(fresh_temp_dir(name)) {
    register_moe();
    make_dirs(dir);
    TokenizerTrainOptions t;
    t.vocab_size = 259;
    tokenizer = Tokenizer::train({"abc"}, t);
    config = tiny_config();
    config.vocab_size = tokenizer.vocab_size();
    for (int i = 0; i < n; ++i) {
      LlamaForCausalLM m(config);
      m->reset_parameters(seed + static_cast<uint64_t>(i));
      dirs.push_back(dir + "/model" + std::to_string(i));
      save_model_dir(dirs.back(), *m, tokenizer);
    }
  }
  ~TinyModels() { std::filesystem::remove_all(dir); }
};

// A packed batch of a few random examples (token ids below 60).
inline BatchTensors tiny_batch(const std::vector<int64_t>& lengths = {5, 9, 3}, uint64_t seed = 3) {
  std::vector<Example> keep;
  for (size_t i = 0; i < lengths.size(); ++i) keep.push_back(random_example(lengths[i], seed + i));
  std::vector<const Example*> ptrs;
  for (auto& e : keep) ptrs.push_back(&e);
  return to_tensors(collate(ptrs, Packing::PaddingFree, 0));
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace loom::testing
