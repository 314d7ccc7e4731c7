#include "loom/core/jsonl.h"

#include <fstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/json.h"

namespace loom {

void parse_jsonl(const std::string& text, const std::string& origin, const JsonlVisitor& visit) {
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    // Depth-limited: visitors copy rows and dump() values into messages.
    const nlohmann::json row =
        parse_json(line.data(), line.data() + line.size(), origin + ":" + std::to_string(line_no));
    visit(row, line_no);
  }
}

void for_each_jsonl(const std::string& path, const JsonlVisitor& visit) {
  parse_jsonl(read_file_text(path), path, visit);
}

void write_jsonl_atomic(const std::string& path, const std::vector<nlohmann::json>& rows) {
  std::string text;
  for (const auto& row : rows) text += row.dump() + "\n";
  write_file_atomic(path, text);
}

std::string jsonl_string_field(const nlohmann::json& row, const std::string& key, const std::string& origin,
                               size_t line) {
  std::string where = origin + ":" + std::to_string(line);
  if (!row.is_object()) throw Error(where + ": expected a JSON object");
  auto it = row.find(key);
  if (it == row.end()) throw Error(where + ": missing field '" + key + "'");
  if (!it->is_string()) throw Error(where + ": field '" + key + "' is not a string");
  return it->get<std::string>();
}

void append_jsonl(const std::string& path, const nlohmann::json& row) {
  std::ofstream out(path, std::ios::app);
  out << row.dump() << "\n";
  if (!out) throw Error(path + ": cannot append a line");
}

void truncate_jsonl_to_step(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      const nlohmann::json row = nlohmann::json::parse(line);
      if (row.is_object() && row.value("step", int64_t{0}) <= step) kept += line + "\n";
    } catch (const nlohmann::json::exception&) {
      // a torn last line of the interrupted run
    }
  }
  write_file_atomic(path, kept);
}

}  // namespace loom
