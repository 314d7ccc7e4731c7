// JSON Lines input: one JSON value per line. Errors name the file and line.
//
//   loom::for_each_jsonl("train.jsonl", [](const nlohmann::json& row, size_t line) { ... });
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loom {

using JsonlVisitor = std::function<void(const nlohmann::json& row, size_t line)>;

// Blank lines are skipped. A line that is not valid JSON throws loom::Error
// "<origin>:<line>: ...". Exceptions thrown by `visit` that are loom::Error
// without a location get "<origin>:<line>: " prefixed.
void parse_jsonl(const std::string& text, const std::string& origin, const JsonlVisitor& visit);
void for_each_jsonl(const std::string& path, const JsonlVisitor& visit);
void write_jsonl_atomic(const std::string& path, const std::vector<nlohmann::json>& rows);

// Returns row[key] as a string, or throws naming origin:line and the key.
std::string jsonl_string_field(const nlohmann::json& row, const std::string& key, const std::string& origin,
                               size_t line);

}  // namespace loom
