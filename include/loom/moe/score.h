// Per-domain scores of any model on prompt/completion items, for comparing
// experts, merges and mixtures (`loom moe score`, docs/moe.md):
//
//   score            mean metric of the greedy answer (cut at the first
//                    newline) against the reference: exact match, ROUGE-L or
//                    edit similarity, as the domain says
//   completion_loss  mean cross-entropy (nats per token) of the reference
//                    completion given the prompt: finer-grained than the
//                    metric, and defined where a small model's answers are
//                    all wrong
//   generate_tokens_per_s, loss_tokens_per_s  the model's speed on this work
//
//   loom::DomainScore s = loom::score_domain(*model, tokenizer, domain.test, domain.metric, 16);
#pragma once
#include <cstdint>
#include <vector>

#include "loom/core/text_metrics.h"
#include "loom/core/tokenizer.h"
#include "loom/knowledge/domains.h"
#include "loom/models/causal_lm.h"

namespace loom {

struct DomainScore {
  double score = 0;
  double completion_loss = 0;
  int64_t items = 0;
  double generate_tokens_per_s = 0;
  double loss_tokens_per_s = 0;
};

// max_new_tokens 0 = the longest reference completion plus 4 tokens.
DomainScore score_domain(CausalLMImpl& model, const Tokenizer& tokenizer, const std::vector<PromptCompletion>& items,
                         Metric metric, int64_t max_new_tokens = 0);

}  // namespace loom
