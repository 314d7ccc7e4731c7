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

// Appends one row to a JSONL log (a metrics file a run grows as it goes).
void append_jsonl(const std::string& path, const nlohmann::json& row);

// Keeps the rows of a metrics log whose "step" is at most `step`, dropping a
// torn last line and anything that is not an object, and rewrites the file
// atomically: a resumed run's log then reads like an uninterrupted one. A
// missing file stays missing.
void truncate_jsonl_to_step(const std::string& path, int64_t step);

// Returns row[key] as a string, or throws naming origin:line and the key.
std::string jsonl_string_field(const nlohmann::json& row, const std::string& key, const std::string& origin,
                               size_t line);

}  // namespace loom
