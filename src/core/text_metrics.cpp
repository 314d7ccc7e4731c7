#include "loom/core/text_metrics.h"

#include <algorithm>
#include <cctype>

#include "loom/core/error.h"
#include "loom/core/utf8.h"

namespace loom {

Metric metric_from_name(const std::string& name, const std::string& origin) {
  if (name == "exact_match") return Metric::ExactMatch;
  if (name == "rouge_l") return Metric::RougeL;
  if (name == "edit_similarity") return Metric::EditSimilarity;
  throw Error(origin + ": unknown metric '" + name + "'; valid: exact_match, rouge_l, edit_similarity");
}

const char* metric_name(Metric metric) {
  switch (metric) {
    case Metric::ExactMatch: return "exact_match";
    case Metric::RougeL: return "rouge_l";
    case Metric::EditSimilarity: return "edit_similarity";
  }
  return "?";
}

namespace {

std::string normalized(const std::string& text) {
  std::string out;
  bool space = false;
  for (unsigned char c : text) {
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

std::vector<uint32_t> code_points(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0, len = 0; i < s.size(); i += len) out.push_back(utf8_next(s, i, &len));
  return out;
}

}  // namespace

std::vector<std::string> word_tokens(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      cur += static_cast<char>(std::tolower(c));
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

double exact_match(const std::string& prediction, const std::string& reference) {
  return normalized(prediction) == normalized(reference) ? 1.0 : 0.0;
}

double rouge_l(const std::string& prediction, const std::string& reference) {
  auto p = word_tokens(prediction), r = word_tokens(reference);
  if (p.empty() || r.empty()) return p.empty() && r.empty() ? 1.0 : 0.0;
  // Longest common subsequence, one row at a time.
  std::vector<size_t> prev(r.size() + 1, 0), cur(r.size() + 1, 0);
  for (size_t i = 1; i <= p.size(); ++i) {
    for (size_t j = 1; j <= r.size(); ++j)
      cur[j] = p[i - 1] == r[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  const double lcs = static_cast<double>(prev[r.size()]);
  if (lcs == 0) return 0.0;
  const double precision = lcs / static_cast<double>(p.size()), recall = lcs / static_cast<double>(r.size());
  return 2 * precision * recall / (precision + recall);
}

double edit_similarity(const std::string& prediction, const std::string& reference) {
  auto a = code_points(normalized(prediction)), b = code_points(normalized(reference));
  if (a.empty() && b.empty()) return 1.0;
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return 1.0 - static_cast<double>(prev[b.size()]) / static_cast<double>(std::max(a.size(), b.size()));
}

double score_answer(Metric metric, const std::string& prediction, const std::string& reference) {
  switch (metric) {
    case Metric::ExactMatch: return exact_match(prediction, reference);
    case Metric::RougeL: return rouge_l(prediction, reference);
    case Metric::EditSimilarity: return edit_similarity(prediction, reference);
  }
  return 0.0;
}

}  // namespace loom
