#include "loom/core/dictd.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"

namespace loom {

uint64_t decode_dictd_number(const std::string& text) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.empty() || text.size() > 10) throw Error("dictd: bad number '" + text + "'");
  uint64_t value = 0;
  for (char c : text) {
    size_t digit = alphabet.find(c);
    if (digit == std::string::npos) throw Error("dictd: bad base64 digit in '" + text + "'");
    value = value * 64 + digit;
  }
  return value;
}

std::vector<DictEntry> read_dictd(const std::string& base, uint64_t max_body_bytes) {
  std::string index_path = base + ".index";
  std::string dict_path = base + ".dict.dz";
  if (!std::filesystem::exists(dict_path)) dict_path = base + ".dict";
  if (!std::filesystem::exists(index_path)) throw Error(index_path + ": no such dictionary index");
  struct Ref {
    std::string headword, where;
    uint64_t offset, length;
  };
  std::vector<Ref> refs;
  uint64_t needed = 0;  // the body's bytes the entries reach
  {
    std::string index = read_file_text(index_path);
    std::istringstream lines(index);
    std::string line;
    size_t line_no = 0;
    while (std::getline(lines, line)) {
      ++line_no;
      if (line.empty()) continue;
      std::string where = index_path + ":" + std::to_string(line_no);
      size_t t1 = line.find('\t');
      size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
      if (t2 == std::string::npos) throw Error(where + ": expected headword<TAB>offset<TAB>length");
      size_t t3 = line.find('\t', t2 + 1);  // some indexes carry an extra column
      Ref ref{line.substr(0, t1), where, 0, 0};
      try {
        ref.offset = decode_dictd_number(line.substr(t1 + 1, t2 - t1 - 1));
        ref.length =
            decode_dictd_number(line.substr(t2 + 1, t3 == std::string::npos ? std::string::npos : t3 - t2 - 1));
      } catch (const Error& e) {
        throw Error(where + ": " + e.what());
      }
      if (ref.offset > max_body_bytes || ref.length > max_body_bytes - ref.offset)
        throw Error(where + ": entry '" + ref.headword + "' reaches past byte " + std::to_string(max_body_bytes) +
                    ", the limit on the dictionary body");
      needed = std::max(needed, ref.offset + ref.length);
      refs.push_back(std::move(ref));
    }
  }
  const std::string body = read_gzip_prefix(dict_path, needed, false);
  std::vector<DictEntry> entries;
  for (auto& ref : refs) {
    if (ref.offset + ref.length > body.size())
      throw Error(ref.where + ": entry '" + ref.headword + "' points past the end of " + dict_path);
    if (ref.headword.rfind("00-database", 0) == 0 || ref.headword.rfind("00database", 0) == 0) continue;
    entries.push_back({std::move(ref.headword), body.substr(ref.offset, ref.length)});
  }
  return entries;
}

}  // namespace loom
