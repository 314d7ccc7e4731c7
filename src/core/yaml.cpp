#include "loom/core/yaml.h"

#include <yaml-cpp/depthguard.h>

#include <filesystem>
#include <map>
#include <vector>

#include "loom/core/atomic_file.h"
#include "loom/core/error.h"

namespace loom {

namespace {

std::string line_of(const YAML::Node& node) { return std::to_string(node.Mark().line + 1); }

// Aliases share nodes, so a few lines can stand for billions of them
// ("billion laughs"); loom's files are small, and a walk stops here.
constexpr size_t kMaxNodes = 1'000'000;

// Every mapping, at any depth (an explicit stack: no recursion on input).
void refuse_duplicate_keys(const YAML::Node& root, const std::string& origin) {
  std::vector<YAML::Node> pending{root};
  size_t visited = 0;
  while (!pending.empty()) {
    if (++visited > kMaxNodes)
      throw Error(origin + ": YAML expands to more than " + std::to_string(kMaxNodes) +
                  " nodes (through aliases?); loom's files are far smaller");
    YAML::Node node = pending.back();
    pending.pop_back();
    if (node.IsMap()) {
      std::map<std::string, YAML::Node> seen;
      for (auto it = node.begin(); it != node.end(); ++it) {
        // Scalar keys compare by text; complex keys are left to the caller
        // (loom's formats refuse them anyway).
        if (it->first.IsScalar()) {
          auto [previous, fresh] = seen.emplace(it->first.Scalar(), it->first);
          if (!fresh)
            throw Error(origin + ":" + line_of(it->first) + ": key '" + it->first.Scalar() +
                        "' is given twice in one mapping (first on line " + line_of(previous->second) + ")");
        }
        pending.push_back(it->second);
      }
    } else if (node.IsSequence()) {
      for (auto it = node.begin(); it != node.end(); ++it) pending.push_back(*it);
    }
  }
}

}  // namespace

YAML::Node load_yaml(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    throw Error(origin + ":" + std::to_string(e.mark.line + 1) +
                ": YAML nested too deeply (the parser stops at a few hundred levels; loom's files use a handful)");
  } catch (const YAML::Exception& e) {
    throw Error(origin + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  refuse_duplicate_keys(root, origin);
  return root;
}

YAML::Node load_yaml_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": cannot read (no such file)");
  return load_yaml(read_file_text(path), path);
}

}  // namespace loom
