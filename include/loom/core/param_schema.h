// Parameters declared once, with the struct field they fill. A schema lists
// each option's name, help text and bounds beside an accessor for its field;
// the default is whatever the struct's default member initialiser says, so
// there is exactly one default per option. The schema yields the ParamSpecs
// that YAML configs, command-line flags, --dump-config and the docs' tables
// use (core/params.h), and reads a resolved Params back into the struct.
//
//   struct Opts { int64_t steps = 100; double lr = 3e-4; Packing packing = Packing::Bin; };
//   ParamSchema<Opts> schema;
//   schema.add("steps", &Opts::steps, "optimizer steps", {1, 1e9})
//         .add("lr", &Opts::lr, "peak learning rate", {0, 10})
//         .add_enum("packing", &Opts::packing, packing_names(), "how batches are packed");
//   Params p(schema.specs());
//   p.load_yaml_file("cfg.yaml");
//   Opts opts = schema.read(p);
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "loom/core/error.h"
#include "loom/core/params.h"

namespace loom {

// Enum <-> name tables, shared by schemas and by the code that parses names.
template <typename E>
using EnumNames = std::vector<std::pair<E, std::string>>;

template <typename S>
class ParamSchema {
 public:
  // Fields of any supported type: bool, int64_t, int, uint64_t, size_t,
  // double, std::string, std::vector<std::string> (comma-separated).
  // `bounds` is the closed range a number must lie in, checked on every set.
  template <typename T>
  ParamSchema& add(std::string name, T S::*member, std::string help, ParamBounds bounds = {}) {
    return add_field<T>(std::move(name), [member](S& s) -> T& { return s.*member; }, std::move(help), bounds, {});
  }
  // String fields restricted to `choices`.
  ParamSchema& add_choice(std::string name, std::string S::*member, std::vector<std::string> choices,
                          std::string help) {
    return add_field<std::string>(
        std::move(name), [member](S& s) -> std::string& { return s.*member; }, std::move(help), {}, std::move(choices));
  }
  // Nested fields, through a lambda: [](Opts& o) -> int64_t& { return o.data.max_len; }.
  template <typename T>
  ParamSchema& add_nested(std::string name, std::function<T&(S&)> access, std::string help, ParamBounds bounds = {}) {
    return add_field<T>(std::move(name), std::move(access), std::move(help), bounds, {});
  }
  // Enum fields, written as their names.
  template <typename E>
  ParamSchema& add_enum(std::string name, std::function<E&(S&)> access, EnumNames<E> names, std::string help) {
    std::vector<std::string> choices;
    for (const auto& [value, text] : names) choices.push_back(text);
    Field f;
    f.spec = {name, ParamType::String, "", std::move(help), choices};
    f.default_text = [access, names](const S& defaults) {
      S copy = defaults;
      for (const auto& [value, text] : names)
        if (value == access(copy)) return text;
      throw Error("enum default of a parameter has no name");
    };
    f.read = [access, names, name](const Params& p, S& s) {
      const std::string& text = p.get_string(name);
      for (const auto& [value, t] : names)
        if (t == text) access(s) = value;
    };
    fields_.push_back(std::move(f));
    return *this;
  }
  template <typename E>
  ParamSchema& add_enum(std::string name, E S::*member, EnumNames<E> names, std::string help) {
    return add_enum<E>(std::move(name), std::function<E&(S&)>([member](S& s) -> E& { return s.*member; }),
                       std::move(names), std::move(help));
  }

  // Restricts the field added last to `choices` (string fields).
  ParamSchema& one_of(std::vector<std::string> choices) {
    if (fields_.empty()) throw Error("one_of() before any field was added");
    fields_.back().spec.choices = std::move(choices);
    return *this;
  }

  // Every field of `sub` (or only those named in `only`), reached through
  // `access`. Defaults come from S's default of that sub-struct, so an outer
  // struct may give its nested options other defaults.
  template <typename Sub>
  ParamSchema& include(const ParamSchema<Sub>& sub, std::function<Sub&(S&)> access,
                       const std::set<std::string>& only = {}) {
    for (const auto& field : sub.fields()) {
      if (!only.empty() && !only.count(field.spec.name)) continue;
      Field f;
      f.spec = field.spec;
      auto sub_default = field.default_text;
      auto sub_read = field.read;
      f.default_text = [access, sub_default](const S& defaults) {
        S copy = defaults;
        return sub_default(access(copy));
      };
      f.read = [access, sub_read](const Params& p, S& s) { sub_read(p, access(s)); };
      fields_.push_back(std::move(f));
    }
    return *this;
  }

  // The declarations, with defaults taken from `defaults` (S{} by default).
  std::vector<ParamSpec> specs(const S& defaults = S{}) const {
    std::vector<ParamSpec> out;
    for (const auto& f : fields_) {
      ParamSpec spec = f.spec;
      spec.default_value = f.default_text(defaults);
      out.push_back(std::move(spec));
    }
    return out;
  }

  // Fills a struct from resolved parameters, starting from `start`.
  S read(const Params& params, S start = S{}) const {
    for (const auto& f : fields_) f.read(params, start);
    return start;
  }

  struct Field {
    ParamSpec spec;
    std::function<std::string(const S&)> default_text;
    std::function<void(const Params&, S&)> read;
  };
  const std::vector<Field>& fields() const { return fields_; }

 private:
  template <typename T>
  ParamSchema& add_field(std::string name, std::function<T&(S&)> access, std::string help, ParamBounds bounds,
                         std::vector<std::string> choices) {
    Field f;
    f.spec = {name, type_of<T>(), "", std::move(help), std::move(choices), bounds};
    // An integer field also lies in its type's range, so that no value from
    // a file wraps around (threads: 4294967297 is not 1).
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
      f.spec.representable = {static_cast<double>(std::numeric_limits<T>::min()),
                              static_cast<double>(std::numeric_limits<T>::max())};
    f.default_text = [access](const S& defaults) {
      S copy = defaults;
      return to_text(access(copy));
    };
    f.read = [access, name](const Params& p, S& s) { from_params(p, name, &access(s)); };
    fields_.push_back(std::move(f));
    return *this;
  }

  template <typename T>
  static constexpr ParamType type_of() {
    if constexpr (std::is_same_v<T, bool>)
      return ParamType::Bool;
    else if constexpr (std::is_integral_v<T>)
      return ParamType::Int;
    else if constexpr (std::is_floating_point_v<T>)
      return ParamType::Float;
    else
      return ParamType::String;  // std::string, or a comma-separated list
  }

  template <typename T>
  static std::string to_text(const T& value) {
    if constexpr (std::is_same_v<T, bool>)
      return value ? "true" : "false";
    else if constexpr (std::is_integral_v<T>)
      return std::to_string(value);
    else if constexpr (std::is_floating_point_v<T>)
      return shortest_decimal(static_cast<double>(value));
    else if constexpr (std::is_same_v<T, std::string>)
      return value;
    else {
      std::string out;  // std::vector<std::string>
      for (const auto& item : value) out += (out.empty() ? "" : ",") + item;
      return out;
    }
  }

  template <typename T>
  static void from_params(const Params& p, const std::string& name, T* out) {
    if constexpr (std::is_same_v<T, bool>)
      *out = p.get_bool(name);
    else if constexpr (std::is_integral_v<T>)
      *out = static_cast<T>(p.get_int(name));
    else if constexpr (std::is_floating_point_v<T>)
      *out = static_cast<T>(p.get_float(name));
    else if constexpr (std::is_same_v<T, std::string>)
      *out = p.get_string(name);
    else
      *out = split_list(p.get_string(name));
  }

  std::vector<Field> fields_;
};

}  // namespace loom
