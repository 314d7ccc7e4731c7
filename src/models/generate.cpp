#include "loom/models/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include "loom/core/error.h"
#include "loom/tensor/eval_mode.h"

namespace loom {

namespace {

int32_t pick_token(const torch::Tensor& logits, const GenerateOptions& options, at::Generator& gen) {
  // argmax would read NaN as the largest logit and emit token 0 (a NUL byte
  // with byte-level vocabularies) forever; sampling would fail inside torch.
  if (!torch::isfinite(logits).all().item<bool>())
    throw Error("generate: the model's logits are NaN or infinite (its weights overflow float32?)");
  if (options.temperature <= 0) return static_cast<int32_t>(logits.argmax().item<int64_t>());
  auto probs = torch::softmax(logits.to(torch::kDouble) / options.temperature, -1);
  if (options.top_p < 1.0) {
    // Keep the smallest set of most likely tokens whose mass reaches top_p.
    auto sorted = probs.sort(-1, /*descending=*/true);
    auto values = std::get<0>(sorted), indices = std::get<1>(sorted);
    auto before = values.cumsum(-1) - values;  // mass strictly before each token
    values.masked_fill_(before.ge(options.top_p), 0.0);
    probs = torch::zeros_like(probs).scatter_(0, indices, values);
  }
  return static_cast<int32_t>(torch::multinomial(probs, 1, false, gen).item<int64_t>());
}

}  // namespace

std::vector<int32_t> generate_tokens(CausalLMImpl& model, const std::vector<int32_t>& prompt,
                                     const GenerateOptions& options, int32_t eos_id) {
  if (prompt.empty()) throw Error("generate: empty prompt");
  if (options.top_p <= 0 || options.top_p > 1) throw Error("generate: top_p must be in (0, 1]");
  const int64_t limit = model.max_positions();
  torch::NoGradGuard no_grad;
  EvalModeScope eval_mode(model);
  auto gen = at::detail::createCPUGenerator(options.seed);
  KVCache cache;
  std::vector<int32_t> out;
  auto input = torch::tensor(std::vector<int64_t>(prompt.begin(), prompt.end()), torch::kLong);
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    if (cache.length() + input.size(0) > limit) break;
    auto logits = model.forward_cached(input, &cache);
    int32_t next = pick_token(logits[-1], options, gen);
    if (options.stop_at_eos && next == eos_id) break;
    out.push_back(next);
    input = torch::tensor({static_cast<int64_t>(next)}, torch::kLong);
  }
  return out;
}

std::string generate_text(CausalLMImpl& model, const Tokenizer& tokenizer, const std::string& prompt,
                          const GenerateOptions& options) {
  auto ids = tokenizer.encode(prompt, tokenizer.bos_id() >= 0, false);
  return tokenizer.decode(generate_tokens(model, ids, options, tokenizer.eos_id()));
}

}  // namespace loom
