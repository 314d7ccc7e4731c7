#include "loom/rl/env.h"

#include <cmath>
#include <set>

#include "envs/envs.h"
#include "loom/core/error.h"
#include "stochastic_program.h"

namespace loom::rl {

const char* split_name(Split split) {
  switch (split) {
    case Split::Train: return "train";
    case Split::Tune: return "tune";
    case Split::Test: return "test";
  }
  return "?";
}

std::unique_ptr<StochasticProgram> Environment::stochastic_program(const ScenarioOptions&, uint64_t) const {
  return nullptr;
}

void check_action_space(const ActionSpec& spec, const std::vector<double>& action, const std::string& origin) {
  if (static_cast<int64_t>(action.size()) != spec.size)
    throw Error(origin + ": action has " + std::to_string(action.size()) + " components, the action space " +
                std::to_string(spec.size));
  auto name = [&](size_t i) { return i < spec.names.size() ? spec.names[i] : "component " + std::to_string(i); };
  double sum = 0;
  for (size_t i = 0; i < action.size(); ++i) {
    const double a = action[i];
    if (!std::isfinite(a)) throw Error(origin + ": action " + name(i) + " is not finite");
    if (spec.kind == ActionKind::Simplex && (a < -1e-9 || a > 1 + 1e-9))
      throw Error(origin + ": allocation " + name(i) + " = " + std::to_string(a) + " lies outside [0, 1]");
    if (spec.kind == ActionKind::Box && (a < spec.low[i] - 1e-9 || a > spec.high[i] + 1e-9))
      throw Error(origin + ": action " + name(i) + " = " + std::to_string(a) + " lies outside [" +
                  std::to_string(spec.low[i]) + ", " + std::to_string(spec.high[i]) + "]");
    sum += a;
  }
  if (spec.kind == ActionKind::Simplex && std::fabs(sum - 1) > 1e-9)
    throw Error(origin + ": allocation sums to " + std::to_string(sum) + ", not 1");
}

namespace {

// The one place the built-in environments are listed.
void register_all_environments(Registry<EnvironmentEntry>& r) {
  register_portfolio_environment(r);
  register_bikes_environment(r);
}

}  // namespace

Registry<EnvironmentEntry>& environments() {
  static Registry<EnvironmentEntry> registry("environment", register_all_environments);
  return registry;
}

std::unique_ptr<Environment> make_environment(const std::string& name, const Params& params, Split split) {
  return environments().get(name, "env").make(params, split);
}

std::vector<ParamSpec> environment_param_specs() {
  std::vector<ParamSpec> out;
  std::set<std::string> seen;
  for (const auto& [name, entry] : environments().entries())
    for (const auto& spec : entry.params)
      if (seen.insert(spec.name).second) out.push_back(spec);
  return out;
}

}  // namespace loom::rl
