// Scores of a generated answer against a reference, each in [0, 1]:
// exact match (after trimming and collapsing whitespace, case-insensitive),
// ROUGE-L F1 over lower-cased word tokens, and edit similarity
// 1 - Levenshtein / max length over Unicode code points.
//
//   double s = loom::score_answer(loom::Metric::RougeL, "a red fox", "the red fox");
#pragma once
#include <string>
#include <vector>

namespace loom {

enum class Metric { ExactMatch, RougeL, EditSimilarity };

Metric metric_from_name(const std::string& name, const std::string& origin);  // exact_match | rouge_l | edit_similarity
const char* metric_name(Metric metric);

double exact_match(const std::string& prediction, const std::string& reference);
double rouge_l(const std::string& prediction, const std::string& reference);
double edit_similarity(const std::string& prediction, const std::string& reference);
double score_answer(Metric metric, const std::string& prediction, const std::string& reference);

// Lower-cased word tokens: runs of letters/digits (any non-ASCII byte counts as a letter).
std::vector<std::string> word_tokens(const std::string& text);

}  // namespace loom
