// Are a domain's items new to the base model? An item counts as appearing in
// a corpus (the base's pretraining text, or the held-out text its general
// ability is measured on) when the corpus holds its fact as a phrase, on
// lower-cased alphanumeric words:
//
//   subject + answer, or answer + subject, as consecutive words when that is
//   at most 8 words ("bismuth bi", "hostel auberge"); for longer items, any
//   8 consecutive words of subject + answer that include a word of the
//   answer (the 8-gram rule of PaLM's contamination study; paper silent,
//   loom's choice, see docs/knowledge.md).
//
// Items without a subject (user domains) use their prompt in its place.
//
//   loom::NgramIndex corpus;
//   corpus.add_text(text);                    // every document
//   corpus.finish();
//   if (loom::appears_in(item, corpus)) ...
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/knowledge/domains.h"

namespace loom {

// Hashes of every run of 2..kMaxNgram consecutive words of a corpus.
class NgramIndex {
 public:
  static constexpr size_t kMaxNgram = 8;
  void add_text(const std::string& text);
  // Call once after the last add_text, before contains().
  void finish();
  bool contains(const std::vector<std::string>& words) const;  // 2..kMaxNgram words
  size_t size() const { return hashes_.size(); }

 private:
  std::vector<uint64_t> hashes_;
  bool finished_ = false;
};

// Lower-cased runs of ASCII letters and digits (other bytes, e.g. UTF-8
// accents, are kept inside words).
std::vector<std::string> corpus_words(const std::string& text);

bool appears_in(const PromptCompletion& item, const NgramIndex& corpus);

struct ContaminationReport {
  std::string domain;
  size_t checked = 0;
  std::vector<PromptCompletion> hits;  // items that appear in the corpus
};

// Checks a domain's train and test items.
ContaminationReport check_contamination(const Domain& domain, const NgramIndex& corpus);
// Removes the items check_contamination finds; returns what it found.
ContaminationReport drop_contaminated(Domain* domain, const NgramIndex& corpus);

// An index of every "text" field of JSONL files (the format of loom data).
NgramIndex index_jsonl_texts(const std::vector<std::string>& paths);

}  // namespace loom
