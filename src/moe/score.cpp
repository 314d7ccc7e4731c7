#include "loom/moe/score.h"

#include <algorithm>
#include <chrono>

#include "loom/core/dataset.h"
#include "loom/core/error.h"
#include "loom/core/utf8.h"
#include "loom/models/generate.h"
#include "loom/train/trainer.h"

namespace loom {

DomainScore score_domain(CausalLMImpl& model, const Tokenizer& tokenizer, const std::vector<PromptCompletion>& items,
                         Metric metric, int64_t max_new_tokens) {
  if (items.empty()) throw Error("score: no items to score");
  using Clock = std::chrono::steady_clock;
  DomainScore s;
  s.items = static_cast<int64_t>(items.size());
  if (max_new_tokens <= 0) {
    size_t longest = 0;
    for (const auto& pc : items) longest = std::max(longest, tokenizer.encode(pc.completion).size());
    max_new_tokens = static_cast<int64_t>(longest) + 4;
  }
  GenerateOptions g;
  g.max_new_tokens = max_new_tokens;
  double total = 0;
  int64_t generated = 0;
  auto start = Clock::now();
  for (const auto& pc : items) {
    auto ids = tokenizer.encode(pc.prompt, tokenizer.bos_id() >= 0, false);
    auto out = generate_tokens(model, ids, g, tokenizer.eos_id());
    generated += static_cast<int64_t>(out.size());
    std::string answer = tokenizer.decode(out);
    // Answers are one line; byte-level tokens may stop inside a character.
    answer = sanitize_utf8(answer.substr(0, answer.find('\n')));
    total += score_answer(metric, answer, pc.completion);
  }
  const double gen_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  s.score = total / static_cast<double>(items.size());
  s.generate_tokens_per_s = static_cast<double>(generated) / std::max(gen_seconds, 1e-9);
  DatasetOptions opts;
  opts.max_seq_len = model.max_positions();
  opts.overlong = OverlongPolicy::Truncate;
  opts.empty = EmptyPolicy::Skip;
  std::vector<Example> examples;
  int64_t tokens = 0;
  for (const auto& pc : items) {
    examples.push_back(make_prompt_example(tokenizer, pc.prompt, pc.completion, opts));
    tokens += static_cast<int64_t>(examples.back().size());
  }
  start = Clock::now();
  LossStats loss = evaluate_loss(model, examples, tokenizer.pad_id(), 16);
  s.loss_tokens_per_s =
      static_cast<double>(tokens) / std::max(std::chrono::duration<double>(Clock::now() - start).count(), 1e-9);
  s.completion_loss = loss.loss;
  return s;
}

}  // namespace loom
