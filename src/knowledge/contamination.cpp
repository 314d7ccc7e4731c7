#include "loom/knowledge/contamination.h"

#include <algorithm>
#include <cctype>

#include "loom/core/error.h"
#include "loom/core/jsonl.h"

namespace loom {

namespace {

uint64_t mix(uint64_t h, const std::string& word) {
  // FNV-1a over the word, then a separator, chained across words.
  for (unsigned char c : word) h = (h ^ c) * 1099511628211ull;
  return (h ^ 0x1F) * 1099511628211ull;
}

constexpr uint64_t kSeed = 14695981039346656037ull;

uint64_t hash_words(const std::vector<std::string>& words, size_t begin, size_t n) {
  uint64_t h = kSeed;
  for (size_t i = begin; i < begin + n; ++i) h = mix(h, words[i]);
  return h;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

std::vector<std::string> corpus_words(const std::string& text) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) {
      cur += static_cast<char>(std::tolower(c));
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

void NgramIndex::add_text(const std::string& text) {
  const auto words = corpus_words(text);
  for (size_t i = 0; i < words.size(); ++i) {
    uint64_t h = mix(kSeed, words[i]);
    for (size_t n = 2; n <= kMaxNgram && i + n <= words.size(); ++n) {
      h = mix(h, words[i + n - 1]);
      hashes_.push_back(h);
    }
  }
  finished_ = false;
}

void NgramIndex::finish() {
  std::sort(hashes_.begin(), hashes_.end());
  hashes_.erase(std::unique(hashes_.begin(), hashes_.end()), hashes_.end());
  hashes_.shrink_to_fit();
  finished_ = true;
}

bool NgramIndex::contains(const std::vector<std::string>& words) const {
  if (!finished_) throw Error("NgramIndex::contains called before finish()");
  if (words.size() < 2 || words.size() > kMaxNgram) return false;
  return std::binary_search(hashes_.begin(), hashes_.end(), hash_words(words, 0, words.size()));
}

bool appears_in(const PromptCompletion& item, const NgramIndex& corpus) {
  const auto subject = corpus_words(item.subject.empty() ? item.prompt : item.subject);
  const auto answer = corpus_words(item.completion);
  if (answer.empty()) return false;
  if (subject.size() + answer.size() <= NgramIndex::kMaxNgram)
    return corpus.contains(concat(subject, answer)) || corpus.contains(concat(answer, subject));
  // Longer items: any 8 consecutive words of subject + answer that include
  // at least one word of the answer (a quote's start and its continuation).
  const auto text = concat(subject, answer);
  const size_t n = NgramIndex::kMaxNgram;
  for (size_t i = subject.size() >= n ? subject.size() - n + 1 : 0; i + n <= text.size(); ++i)
    if (corpus.contains(
            {text.begin() + static_cast<std::ptrdiff_t>(i), text.begin() + static_cast<std::ptrdiff_t>(i + n)}))
      return true;
  return false;
}

ContaminationReport check_contamination(const Domain& domain, const NgramIndex& corpus) {
  ContaminationReport r;
  r.domain = domain.name;
  for (const auto* split : {&domain.train, &domain.test})
    for (const auto& item : *split) {
      ++r.checked;
      if (appears_in(item, corpus)) r.hits.push_back(item);
    }
  return r;
}

ContaminationReport drop_contaminated(Domain* domain, const NgramIndex& corpus) {
  ContaminationReport r = check_contamination(*domain, corpus);
  auto found = [&](const PromptCompletion& pc) { return appears_in(pc, corpus); };
  for (auto* split : {&domain->train, &domain->test})
    split->erase(std::remove_if(split->begin(), split->end(), found), split->end());
  return r;
}

NgramIndex index_jsonl_texts(const std::vector<std::string>& paths) {
  NgramIndex index;
  for (const auto& path : paths)
    for_each_jsonl(path, [&](const nlohmann::json& row, size_t line) {
      index.add_text(jsonl_string_field(row, "text", path, line));
    });
  index.finish();
  return index;
}

}  // namespace loom
