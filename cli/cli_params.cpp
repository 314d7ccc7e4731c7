#include "cli_params.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace loom::cli {

ParamFlags::ParamFlags(CLI::App* app, std::vector<ParamSpec> specs)
    : specs_(std::move(specs)), overrides_(std::make_shared<std::map<std::string, std::string>>()) {
  app->add_option("--config", config_path_, "YAML file of parameters (flags override it)");
  app->add_flag("--dump-config", dump_config_, "print the merged configuration as YAML and exit");
  app->add_flag("--params-markdown", markdown_, "print the parameter table (for the docs) and exit");
  for (const auto& spec : specs_) {
    std::string flag = "--" + spec.name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    std::string help = spec.help + " [" + param_type_name(spec.type) +
                       (spec.default_value.empty() ? "" : ", default " + spec.default_value) + "]";
    auto overrides = overrides_;
    std::string name = spec.name;
    const bool is_bool = spec.type == ParamType::Bool;
    auto* option = app->add_option_function<std::string>(
                          flag,
                          [overrides, name, is_bool](const std::string& value) {
                            (*overrides)[name] = is_bool && value.empty() ? "true" : value;
                          },
                          help)
                       ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                       ->type_name(param_type_name(spec.type));
    // A bool flag alone means true: --greedy, --greedy false, --greedy=false.
    if (spec.type == ParamType::Bool) option->expected(0, 1)->default_str("true");
  }
}

Params ParamFlags::resolve() const {
  Params params(specs_);
  if (markdown_) {
    std::cout << params.markdown_table();
    std::exit(0);
  }
  if (!config_path_.empty()) params.load_yaml_file(config_path_);
  for (const auto& [name, value] : *overrides_) {
    std::string flag = "--" + name;
    std::replace(flag.begin(), flag.end(), '_', '-');
    params.set(name, value, "command line " + flag);
  }
  return params;
}

void run_with_params(CLI::App* sub, std::vector<ParamSpec> specs, std::function<void(const Params&)> run) {
  auto flags = std::make_shared<ParamFlags>(sub, std::move(specs));
  sub->callback([flags, run] {
    Params p = flags->resolve();
    if (flags->dump_requested()) {
      std::cout << p.dump_yaml();
      return;
    }
    run(p);
  });
}

}  // namespace loom::cli
