// Reader for dictd dictionaries (`NAME.index` + `NAME.dict.dz` or `NAME.dict`),
// the format of Debian's dict-* packages under /usr/share/dictd.
// The index is tab-separated: headword, base64 offset, base64 length, using
// dictd's alphabet. dictzip is gzip-compatible, so the body is read with
// zlib's gzip reader: the index is read first, and the body is decompressed
// only as far as the last byte an entry needs (at most `max_body_bytes`), so a
// small dictionary file cannot inflate into gigabytes.
//
//   for (const auto& e : loom::read_dictd("/usr/share/dictd/elements")) ...
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/core/gzip.h"

namespace loom {

struct DictEntry {
  std::string headword;
  std::string definition;  // the raw body text of the entry
};

// `base` is the path without extension. Metadata entries ("00-database-*")
// are skipped. Errors name the index file and line.
std::vector<DictEntry> read_dictd(const std::string& base, uint64_t max_body_bytes = kMaxDecompressedBytes);

// dictd's base64 number encoding; throws loom::Error on a bad digit.
uint64_t decode_dictd_number(const std::string& text);

}  // namespace loom
