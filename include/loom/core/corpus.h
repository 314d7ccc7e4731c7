// The default pretraining corpus, assembled from text that Debian packages
// ship: fortunes (one document per quotation), dictd dictionaries (one document
// per entry, "headword: definition") and the common licences (split into
// paragraph chunks). `loom data` writes it as train/valid JSONL of {"text": ...}.
//
//   loom::CorpusOptions options;  // Debian's default paths
//   auto stats = loom::build_default_corpus(options, "data/corpus");
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace loom {

struct CorpusOptions {
  std::string fortunes_dir = "/usr/share/games/fortunes";
  std::string dictd_dir = "/usr/share/dictd";
  std::string licenses_dir = "/usr/share/common-licenses";
  // Dictionaries are kept out of the default so that the knowledge-addition
  // domains (elements, freedict, foldoc) are new to a base model; see docs/core.md.
  std::vector<std::string> dictionaries = {"jargon"};
  double valid_fraction = 0.02;
  uint64_t seed = 0;
  size_t max_doc_chars = 2000;  // longer documents are split at paragraph breaks
};

struct CorpusStats {
  size_t train_docs = 0, valid_docs = 0, bytes = 0;
  std::map<std::string, size_t> docs_per_source;
};

// Quotations from a fortune directory (files without an extension, '%' lines as separators).
std::vector<std::string> read_fortunes(const std::string& dir);
// Quotations of one fortune file (one topic, e.g. .../fortunes/computers).
std::vector<std::string> read_fortune_file(const std::string& path);

// Writes OUT_DIR/train.jsonl and OUT_DIR/valid.jsonl atomically. Missing
// sources are an error naming the path and the Debian package to install.
CorpusStats build_default_corpus(const CorpusOptions& options, const std::string& out_dir);

// Splits text at blank lines into chunks of at most max_chars (a single longer
// paragraph is cut at max_chars).
std::vector<std::string> split_paragraphs(const std::string& text, size_t max_chars);

}  // namespace loom
