// Bridges declared parameters (core/params.h) and CLI11: one flag per
// parameter (underscores become dashes), plus --config FILE and --dump-config.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>

#include "loom/core/params.h"

namespace loom::cli {

class ParamFlags {
 public:
  ParamFlags(CLI::App* app, std::vector<ParamSpec> specs);
  // The YAML config (if any) with the command-line flags applied over it.
  Params resolve() const;
  // True when --dump-config was given: the caller prints and exits.
  bool dump_requested() const { return dump_config_; }

 private:
  std::vector<ParamSpec> specs_;
  std::string config_path_;
  bool dump_config_ = false;
  bool markdown_ = false;
  std::shared_ptr<std::map<std::string, std::string>> overrides_;
};

}  // namespace loom::cli
