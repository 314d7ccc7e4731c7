#include "loom/core/dictd.h"

#include <zlib.h>

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

std::string read_gzip_file(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw Error(path + ": cannot open");
  std::string out;
  char buffer[1 << 16];
  while (true) {
    int n = gzread(file, buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      std::string why = gzerror(file, &code);
      gzclose(file);
      throw Error(path + ": corrupt compressed data: " + why);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  gzclose(file);
  return out;
}

std::vector<DictEntry> read_dictd(const std::string& base) {
  std::string index_path = base + ".index";
  std::string dict_path = base + ".dict.dz";
  if (!std::filesystem::exists(dict_path)) dict_path = base + ".dict";
  if (!std::filesystem::exists(index_path)) throw Error(index_path + ": no such dictionary index");
  std::string body = read_gzip_file(dict_path);
  std::string index = read_file_text(index_path);
  std::vector<DictEntry> entries;
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
    DictEntry entry;
    entry.headword = line.substr(0, t1);
    uint64_t offset, length;
    try {
      offset = decode_dictd_number(line.substr(t1 + 1, t2 - t1 - 1));
      length = decode_dictd_number(line.substr(t2 + 1, t3 == std::string::npos ? std::string::npos : t3 - t2 - 1));
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
    if (offset > body.size() || length > body.size() - offset)
      throw Error(where + ": entry '" + entry.headword + "' points past the end of " + dict_path);
    if (entry.headword.rfind("00-database", 0) == 0 || entry.headword.rfind("00database", 0) == 0) continue;
    entry.definition = body.substr(offset, length);
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace loom
