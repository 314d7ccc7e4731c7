// Bridges declared parameters (core/params.h) and CLI11: one flag per
// parameter (underscores become dashes), plus --config FILE and --dump-config.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "loom/core/param_schema.h"
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

// A subcommand whose options are declared parameters (from one schema or
// several that share a config file): their flags, --config, --dump-config
// (prints the merged options and returns without running) and
// --params-markdown; `run` gets the merged parameters.
void run_with_params(CLI::App* sub, std::vector<ParamSpec> specs, std::function<void(const Params&)> run);

// The same for one declared struct; `run` gets it resolved.
//
//   run_with_options(sub, my_schema(), [](const MyOptions& o) { ... });
template <typename S>
void run_with_options(CLI::App* sub, const ParamSchema<S>& schema, std::function<void(const S&)> run) {
  run_with_params(sub, schema.specs(), [&schema, run](const Params& p) { run(schema.read(p)); });
}

}  // namespace loom::cli
