// Reading tokenizer.json fields with errors that name the field's path
// ("pre_tokenizer.pretokenizers[1].behavior: ..."). The file name is put in
// front by Tokenizer::from_json.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "loom/core/error.h"
#include "tokenizer_unicode.h"

namespace loom::tokenizer_detail {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

[[noreturn]] inline void fail(const std::string& path, const std::string& why) { throw Error(path + ": " + why); }

inline std::string type_of(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "";
  return j["type"].get<std::string>();
}

inline const json& field(const json& object, const char* key, const std::string& path) {
  if (!object.is_object()) fail(path, "expected an object");
  auto it = object.find(key);
  if (it == object.end()) fail(path + "." + key, "missing");
  return *it;
}

inline std::string string_field(const json& object, const char* key, const std::string& path,
                                std::optional<std::string> fallback = std::nullopt) {
  if (fallback && (!object.contains(key) || object[key].is_null())) return *fallback;
  const json& v = field(object, key, path);
  if (!v.is_string()) fail(path + "." + key, "expected a string");
  return v.get<std::string>();
}

inline bool bool_field(const json& object, const char* key, const std::string& path,
                       std::optional<bool> fallback = std::nullopt) {
  if (fallback && (!object.contains(key) || object[key].is_null())) return *fallback;
  const json& v = field(object, key, path);
  if (!v.is_boolean()) fail(path + "." + key, "expected true or false");
  return v.get<bool>();
}

inline int64_t int_field(const json& object, const char* key, const std::string& path, int64_t min, int64_t max,
                         std::optional<int64_t> fallback = std::nullopt) {
  if (fallback && (!object.contains(key) || object[key].is_null())) return *fallback;
  const json& v = field(object, key, path);
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max)
    fail(path + "." + key, "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v.get<int64_t>();
}

inline const json& array_field(const json& object, const char* key, const std::string& path) {
  const json& v = field(object, key, path);
  if (!v.is_array()) fail(path + "." + key, "expected an array");
  return v;
}

// A field holding one character (Metaspace's replacement, Strip's content).
inline std::string char_field(const json& object, const char* key, const std::string& path) {
  std::string s = string_field(object, key, path);
  size_t i = 0;
  if (s.empty() || valid_utf8_prefix(s, 0) != s.size() || (next_code_point(s, &i), i != s.size()))
    fail(path + "." + key, "expected exactly one character");
  return s;
}

}  // namespace loom::tokenizer_detail
