// Declared parameters: each command or method lists its parameters once (name,
// type, default, help). The YAML config loader, the command-line flags, the
// error on unknown keys, --dump-config and the docs' tables all come from that
// one declaration.
//
//   loom::Params params({{"lr", loom::ParamType::Float, "3e-4", "peak learning rate"}});
//   params.load_yaml_file("configs/quickstart.yaml");
//   double lr = params.get_float("lr");
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace loom {

enum class ParamType { Int, Float, Bool, String };

// The closed range a numeric parameter must lie in.
struct ParamBounds {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

struct ParamSpec {
  std::string name;  // YAML key; on the command line '_' becomes '-'
  ParamType type;
  std::string default_value;  // as written in YAML; "" = empty string, or no default for other types
  std::string help;
  std::vector<std::string> choices = {};  // for String parameters: the allowed values, if any
  ParamBounds bounds = {};                // for Int and Float parameters
  // Int parameters: the range of the C++ type the value is read into, also
  // checked (threads: 4294967297 would wrap to 1 in an int); not shown in help.
  ParamBounds representable = {};
};

class Params {
 public:
  explicit Params(std::vector<ParamSpec> specs);

  // Loads a YAML mapping of key: scalar. Unknown keys, wrong types and bad
  // choices are errors naming the file, line and key, and listing valid keys.
  void load_yaml_file(const std::string& path);
  void load_yaml_string(const std::string& text, const std::string& origin);
  // Sets one value from text (a command-line flag); `origin` names it in errors.
  void set(const std::string& name, const std::string& value, const std::string& origin);

  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  bool is_set(const std::string& name) const;

  // The merged configuration, as YAML that load_yaml_file accepts.
  std::string dump_yaml() const;
  // A Markdown table of the parameters, for the docs.
  std::string markdown_table() const;
  const std::vector<ParamSpec>& specs() const { return specs_; }

 private:
  const ParamSpec& spec(const std::string& name) const;
  std::string valid_keys() const;
  std::vector<ParamSpec> specs_;
  std::map<std::string, std::string> values_;
};

const char* param_type_name(ParamType type);

// Shortest decimal text that reads back as exactly `value` ("0.0003", not
// "0.00029999999999999997"), so defaults print as they were written.
std::string shortest_decimal(double value);

// List-valued parameters are written as one comma-separated string:
// "a, b,c" -> {"a", "b", "c"} (blank items dropped).
std::vector<std::string> split_list(const std::string& text);

}  // namespace loom
