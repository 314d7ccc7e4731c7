// JSON from untrusted files (config.json, tokenizer.json, adapter configs,
// checkpoint state, JSONL rows, network state) with limits: nesting depth
// and size are checked while parsing, so a file of ten thousand '[' cannot
// overflow the stack in the copy or dump() that would follow, and a huge
// file is refused before it is held twice in memory.
//
//   nlohmann::json j = loom::parse_json(read_file_text(path), path);
//   nlohmann::json k = loom::read_json_file(path);
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace loom {

struct JsonLimits {
  int max_depth = 64;                  // objects/arrays nested deeper are refused
  size_t max_bytes = size_t{1} << 30;  // 1 GiB
};

// Parses `text`; errors are loom::Error naming `origin` (a file, or file:line).
nlohmann::json parse_json(const std::string& text, const std::string& origin, const JsonLimits& limits = {});
nlohmann::json parse_json(const char* begin, const char* end, const std::string& origin, const JsonLimits& limits = {});
// Reads and parses a file (its size is checked before it is read).
nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits = {});

}  // namespace loom
