#include "loom/core/corpus.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "loom/core/atomic_file.h"
#include "loom/core/dataset.h"
#include "loom/core/dictd.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/core/utf8.h"

namespace loom {
namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> sorted_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::vector<std::string> split_paragraphs(const std::string& text, size_t max_chars) {
  std::vector<std::string> chunks;
  std::string current;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find("\n\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string para = trim(text.substr(pos, end - pos));
    pos = end + 2;
    if (para.empty()) continue;
    if (!current.empty() && current.size() + 2 + para.size() > max_chars) {
      chunks.push_back(current);
      current.clear();
    }
    while (para.size() > max_chars) {
      size_t cut = max_chars;  // back up to a UTF-8 character boundary
      while (cut > 1 && (static_cast<unsigned char>(para[cut]) & 0xC0) == 0x80) --cut;
      chunks.push_back(para.substr(0, cut));
      para = para.substr(cut);
    }
    current += (current.empty() ? "" : "\n\n") + para;
  }
  if (!current.empty()) chunks.push_back(current);
  return chunks;
}

std::vector<std::string> read_fortune_file(const std::string& path) {
  if (!fs::is_regular_file(path)) throw Error(path + ": no such fortune file (install Debian's 'fortunes')");
  std::vector<std::string> quotes;
  std::string text = read_file_text(path);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find("\n%\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string quote = trim(text.substr(pos, end - pos));
    if (quote.size() > 1 && quote != "%") quotes.push_back(quote);
    pos = end + 3;
  }
  return quotes;
}

std::vector<std::string> read_fortunes(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(dir + ": no fortunes directory (install Debian's 'fortunes')");
  std::vector<std::string> quotes;
  for (const auto& path : sorted_files(dir)) {
    if (fs::path(path).has_extension()) continue;  // .dat indexes, .u8 links
    for (auto& quote : read_fortune_file(path)) quotes.push_back(std::move(quote));
  }
  return quotes;
}

CorpusStats build_default_corpus(const CorpusOptions& options, const std::string& out_dir) {
  std::vector<std::string> docs;
  CorpusStats stats;
  auto add = [&](const std::string& source, std::vector<std::string> texts) {
    for (auto& t : texts)
      for (auto& chunk : split_paragraphs(sanitize_utf8(t), options.max_doc_chars)) docs.push_back(std::move(chunk));
    stats.docs_per_source[source] = texts.size();
  };
  add("fortunes", read_fortunes(options.fortunes_dir));
  for (const auto& name : options.dictionaries) {
    std::string base = options.dictd_dir + "/" + name;
    if (!fs::exists(base + ".index"))
      throw Error(base + ".index: dictionary not found (install Debian's 'dict-" + name + "')");
    std::vector<std::string> texts;
    for (auto& e : read_dictd(base)) texts.push_back(trim(e.headword) + ": " + trim(e.definition));
    add("dictd:" + name, std::move(texts));
  }
  if (!options.licenses_dir.empty()) {
    if (!fs::is_directory(options.licenses_dir)) throw Error(options.licenses_dir + ": no licences directory");
    std::vector<std::string> texts;
    for (const auto& path : sorted_files(options.licenses_dir)) texts.push_back(read_file_text(path));
    add("common-licenses", std::move(texts));
  }
  // The dataset's own shuffle, so the split is the same with any standard library.
  const std::vector<size_t> order = shuffled_indices(docs.size(), options.seed, 0);
  size_t valid = static_cast<size_t>(static_cast<double>(docs.size()) * options.valid_fraction);
  std::vector<nlohmann::json> train_rows, valid_rows;
  for (size_t k = 0; k < order.size(); ++k) {
    const std::string& doc = docs[order[k]];
    stats.bytes += doc.size();
    (k < valid ? valid_rows : train_rows).push_back({{"text", doc}});
  }
  stats.train_docs = train_rows.size();
  stats.valid_docs = valid_rows.size();
  make_dirs(out_dir);
  write_jsonl_atomic(out_dir + "/train.jsonl", train_rows);
  write_jsonl_atomic(out_dir + "/valid.jsonl", valid_rows);
  return stats;
}

}  // namespace loom
