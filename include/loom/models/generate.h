// Text generation with a KV cache: greedy (temperature 0) or sampled with
// temperature and nucleus (top-p) filtering.
//
//   loom::GenerateOptions opts{.max_new_tokens = 40, .temperature = 0.8, .top_p = 0.95};
//   std::string text = loom::generate_text(model, tokenizer, "Q: why?", opts);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/core/tokenizer.h"
#include "loom/models/causal_lm.h"

namespace loom {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;
  uint64_t seed = 0;
  bool stop_at_eos = true;
};

// Returns only the new tokens.
std::vector<int32_t> generate_tokens(CausalLMImpl& model, const std::vector<int32_t>& prompt,
                                     const GenerateOptions& options, int32_t eos_id);

// Encodes the prompt with BOS, generates, and decodes the new tokens.
std::string generate_text(CausalLMImpl& model, const Tokenizer& tokenizer, const std::string& prompt,
                          const GenerateOptions& options);

}  // namespace loom
