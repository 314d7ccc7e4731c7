// YAML from files others may write (configs, merge descriptions, token
// files), read strictly: a key given twice in one mapping is an error naming
// both lines (yaml-cpp keeps the last silently), and input nested deeper than
// yaml-cpp's recursion guard is reported as such, not as "bad file".
// Users of this header link yaml-cpp themselves.
//
//   YAML::Node root = loom::load_yaml(text, "configs/run.yaml");
//   YAML::Node spec = loom::load_yaml_file("merge.yaml");
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>

namespace loom {

// Errors are loom::Error "<origin>:<line>: ...".
YAML::Node load_yaml(const std::string& text, const std::string& origin);
YAML::Node load_yaml_file(const std::string& path);

}  // namespace loom
