#include "loom/core/params.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/core/yaml.h"

namespace loom {
namespace {

bool parse_bool(const std::string& text, bool* out) {
  if (text == "true" || text == "True" || text == "1" || text == "yes") return *out = true, true;
  if (text == "false" || text == "False" || text == "0" || text == "no") return *out = false, true;
  return false;
}

bool parse_int(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_float(const std::string& text, double* out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

}  // namespace

std::string shortest_decimal(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<int64_t>(value));
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

const char* param_type_name(ParamType type) {
  switch (type) {
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::Bool: return "bool";
    case ParamType::String: return "string";
  }
  return "?";
}

Params::Params(std::vector<ParamSpec> specs) : specs_(std::move(specs)) {
  for (const auto& s : specs_)
    if (!s.default_value.empty() || s.type == ParamType::String)
      set(s.name, s.default_value, "default of '" + s.name + "'");
}

const ParamSpec& Params::spec(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return s;
  throw Error("unknown parameter '" + name + "' (valid: " + valid_keys() + ")");
}

std::string Params::valid_keys() const {
  std::string keys;
  for (const auto& s : specs_) keys += (keys.empty() ? "" : ", ") + s.name;
  return keys;
}

void Params::set(const std::string& name, const std::string& value, const std::string& origin) {
  const ParamSpec* found = nullptr;
  for (const auto& s : specs_)
    if (s.name == name) found = &s;
  if (!found) throw Error(origin + ": unknown key '" + name + "' (valid keys: " + valid_keys() + ")");
  bool ok = true;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  switch (found->type) {
    case ParamType::Int: ok = parse_int(value, &i); break;
    case ParamType::Float: ok = parse_float(value, &f); break;
    case ParamType::Bool: ok = parse_bool(value, &b); break;
    case ParamType::String: break;
  }
  if (!ok)
    throw Error(origin + ": key '" + name + "' expects " + param_type_name(found->type) + ", got '" + value + "'");
  if (found->type == ParamType::Int || found->type == ParamType::Float) {
    const double number = found->type == ParamType::Int ? static_cast<double>(i) : f;
    const ParamBounds range = {std::max(found->bounds.min, found->representable.min),
                               std::min(found->bounds.max, found->representable.max)};
    if (number < range.min || number > range.max)
      throw Error(origin + ": key '" + name + "' must lie in [" + shortest_decimal(range.min) + ", " +
                  shortest_decimal(range.max) + "], got " + value);
  }
  if (!found->choices.empty()) {
    bool allowed = false;
    std::string list;
    for (const auto& c : found->choices) {
      allowed |= (c == value);
      list += (list.empty() ? "" : ", ") + c;
    }
    if (!allowed) throw Error(origin + ": key '" + name + "' must be one of " + list + ", got '" + value + "'");
  }
  values_[name] = value;
}

void Params::load_yaml_file(const std::string& path) { load_yaml_string(read_file_text(path), path); }

void Params::load_yaml_string(const std::string& text, const std::string& origin) {
  const YAML::Node root = load_yaml(text, origin);
  if (root.IsNull()) return;
  if (!root.IsMap()) throw Error(origin + ": expected a mapping of key: value");
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string where = origin + ":" + std::to_string(it->first.Mark().line + 1);
    if (!it->first.IsScalar()) throw Error(where + ": keys must be plain names");
    std::string key = it->first.as<std::string>();
    if (!it->second.IsScalar() && !it->second.IsNull())
      throw Error(where + ": key '" + key + "' must have a single value");
    set(key, it->second.IsNull() ? "" : it->second.as<std::string>(), where);
  }
}

bool Params::is_set(const std::string& name) const {
  spec(name);
  return values_.count(name) > 0;
}

static const std::string& required(const std::map<std::string, std::string>& values, const std::string& name) {
  auto it = values.find(name);
  if (it == values.end()) throw Error("missing required parameter '" + name + "'");
  return it->second;
}

int64_t Params::get_int(const std::string& name) const {
  if (spec(name).type != ParamType::Int) throw Error("parameter '" + name + "' is not an int");
  int64_t v = 0;
  parse_int(required(values_, name), &v);
  return v;
}

double Params::get_float(const std::string& name) const {
  ParamType t = spec(name).type;
  if (t != ParamType::Float && t != ParamType::Int) throw Error("parameter '" + name + "' is not a number");
  double v = 0;
  parse_float(required(values_, name), &v);
  return v;
}

bool Params::get_bool(const std::string& name) const {
  if (spec(name).type != ParamType::Bool) throw Error("parameter '" + name + "' is not a bool");
  bool v = false;
  parse_bool(required(values_, name), &v);
  return v;
}

const std::string& Params::get_string(const std::string& name) const {
  spec(name);
  return required(values_, name);
}

std::string Params::dump_yaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& s : specs_) {
    auto it = values_.find(s.name);
    if (it == values_.end()) continue;
    out << YAML::Key << s.name << YAML::Value;
    if (s.type == ParamType::String)
      out << YAML::DoubleQuoted << it->second;
    else
      out << it->second;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string Params::markdown_table() const {
  std::ostringstream out;
  out << "| key | type | default | help |\n|---|---|---|---|\n";
  for (const auto& s : specs_) {
    std::string help = s.help;
    if (!s.choices.empty()) {
      help += " (one of:";
      for (const auto& c : s.choices) help += " `" + c + "`";
      help += ")";
    }
    if (std::isfinite(s.bounds.min) || std::isfinite(s.bounds.max))
      help += " (range [" + shortest_decimal(s.bounds.min) + ", " + shortest_decimal(s.bounds.max) + "])";
    out << "| `" << s.name << "` | " << param_type_name(s.type) << " | `" << s.default_value << "` | " << help
        << " |\n";
  }
  return out.str();
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t a = item.find_first_not_of(" \t"), b = item.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(item.substr(a, b - a + 1));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace loom
