// Reader for dictd dictionaries (`NAME.index` + `NAME.dict.dz` or `NAME.dict`),
// the format of Debian's dict-* packages under /usr/share/dictd.
// The index is tab-separated: headword, base64 offset, base64 length, using
// dictd's alphabet. dictzip is gzip-compatible, so the whole body is read with
// zlib's gzip reader.
//
//   for (const auto& e : loom::read_dictd("/usr/share/dictd/elements")) ...
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loom {

struct DictEntry {
  std::string headword;
  std::string definition;  // the raw body text of the entry
};

// `base` is the path without extension. Metadata entries ("00-database-*")
// are skipped. Errors name the index file and line.
std::vector<DictEntry> read_dictd(const std::string& base);

// dictd's base64 number encoding; throws loom::Error on a bad digit.
uint64_t decode_dictd_number(const std::string& text);

// Reads a gzip (or dictzip) file whole, or a plain file if not compressed.
std::string read_gzip_file(const std::string& path);

}  // namespace loom
