#include "loom/core/json.h"

#include <filesystem>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"

namespace loom {

nlohmann::json parse_json(const char* begin, const char* end, const std::string& origin, const JsonLimits& limits) {
  const auto bytes = static_cast<size_t>(end - begin);
  if (bytes > limits.max_bytes)
    throw Error(origin + ": JSON of " + std::to_string(bytes) + " bytes exceeds the limit of " +
                std::to_string(limits.max_bytes));
  // nlohmann's parser itself keeps an explicit stack, but copying, dumping
  // or comparing the result recurses once per level: refuse deep input here.
  auto check_depth = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) &&
        depth >= limits.max_depth)
      throw Error(origin + ": JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
    return true;
  };
  try {
    return nlohmann::json::parse(begin, end, check_depth);
  } catch (const nlohmann::json::exception& e) {
    throw Error(origin + ": invalid JSON: " + e.what());
  }
}

nlohmann::json parse_json(const std::string& text, const std::string& origin, const JsonLimits& limits) {
  return parse_json(text.data(), text.data() + text.size(), origin, limits);
}

nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > limits.max_bytes)
    throw Error(path + ": JSON of " + std::to_string(size) + " bytes exceeds the limit of " +
                std::to_string(limits.max_bytes));
  return parse_json(read_file_text(path), path, limits);
}

}  // namespace loom
