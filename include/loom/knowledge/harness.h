// The acquisition/retention harness. `run_knowledge` adds a sequence of
// domains to a base model under one strategy and tuning mode and scores every
// domain after every round:
//
//   R[t][j]  score on domain j after round t (row "base" = before): on a fixed
//            sample of its trained items (eval_on: train, recall of the added
//            knowledge) or on its held-out test split (eval_on: test)
//   average_accuracy  mean_j R[T][j]
//   backward_transfer mean_{j<T} (R[T][j] - R[j][j])     (negative = forgetting)
//   newest_acquisition R[T][T]; mean_acquisition mean_t R[t][t]
//   min_acquisition   min_t R[t][t]
//   the same on P, the same facts asked in a held-out template (paraphrase)
//   choice_accuracy   four-way definition choice (general ability), per round
//   base_perplexity   on held-out base-corpus text, per round
//
// It writes OUT/results.json, OUT/matrix.csv, OUT/heatmap.png, OUT/curves.png.
// Every round is resumable: OUT/round-N/scores.json marks a finished round,
// and an interrupted round continues from its trainer's checkpoint.
//
//   loom::Params p(loom::knowledge_param_specs());
//   p.load_yaml_file("configs/knowledge-quick.yaml");
//   auto results = loom::run_knowledge(loom::knowledge_options_from_params(p), "runs/k");
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/params.h"
#include "loom/knowledge/strategy.h"

namespace loom {

std::vector<ParamSpec> knowledge_param_specs();
KnowledgeOptions knowledge_options_from_params(const Params& params);

nlohmann::json run_knowledge(const KnowledgeOptions& options, const std::string& out_dir);

// Every strategy x tuning x seed on the same domains and splits, each run in
// OUT/<strategy>-<tuning>-seed<k>. Writes OUT/compare.json and OUT/compare.md
// and returns the Markdown table (means and spreads over seeds).
std::string compare_knowledge(const KnowledgeOptions& options, const std::vector<std::string>& strategies,
                              const std::vector<Tuning>& tunings, const std::vector<uint64_t>& seeds,
                              const std::string& out_dir);

// lm-eval's acc_norm on multiple-choice items: the share of items whose
// right choice has the highest log-likelihood per byte given the prompt
// (no end-of-text token after a choice).
double choice_accuracy(CausalLMImpl& model, const Tokenizer& tokenizer, const std::vector<MultipleChoiceItem>& items,
                       DatasetOptions dataset);

// Summary numbers from R (rows = rounds, columns = domains).
nlohmann::json summarize_matrix(const std::vector<std::vector<double>>& matrix);

}  // namespace loom
