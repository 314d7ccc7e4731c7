// The strategy registry and what the strategies share; each strategy is a
// small policy over RoundContext in its own file under strategies/, while
// training, saving and resuming live in the harness.
#include "strategies/strategies.h"

#include <map>
#include <mutex>
#include <set>

#include "loom/core/error.h"
#include "loom/knowledge/strategy.h"

namespace loom {

Setting setting_from_name(const std::string& name, const std::string& origin) {
  if (name == "semi_cooperative") return Setting::SemiCooperative;
  if (name == "fully_cooperative") return Setting::FullyCooperative;
  throw Error(origin + ": unknown setting '" + name + "'; valid: semi_cooperative, fully_cooperative");
}

const char* setting_name(Setting s) { return s == Setting::SemiCooperative ? "semi_cooperative" : "fully_cooperative"; }

std::vector<Example> resample_examples(const std::vector<Example>& data, size_t n, uint64_t seed) {
  std::vector<Example> out;
  if (data.empty()) return out;
  out.reserve(n);
  for (uint64_t pass = 0; out.size() < n; ++pass)
    for (size_t i : shuffled_indices(data.size(), seed, pass)) {
      if (out.size() == n) break;
      out.push_back(data[i]);
    }
  return out;
}

int64_t steps_for_same_passes(const RoundContext& ctx, size_t total, size_t current) {
  return static_cast<int64_t>(static_cast<double>(ctx.options().steps_per_round) * static_cast<double>(total) /
                                  static_cast<double>(current) +
                              0.5);
}

namespace {

// The one place the built-in strategies are listed.
void register_all_strategies(Registry<StrategyEntry>& r) {
  register_sequential(r);
  register_replay(r);
  register_joint(r);
  register_olora(r);
  register_merges(r);
}

}  // namespace

Registry<StrategyEntry>& strategies() {
  static Registry<StrategyEntry> registry("strategy", register_all_strategies);
  return registry;
}

std::vector<ParamSpec> strategy_param_specs() {
  std::vector<ParamSpec> out;
  std::set<std::string> seen;
  for (const auto& [name, entry] : strategies().entries())
    for (const auto& spec : entry.params)
      if (seen.insert(spec.name).second) out.push_back(spec);
  return out;
}

void register_strategy(const std::string& name, const std::string& help, StrategyFactory factory) {
  strategies().add(name, {help, {}, [factory](const Params&, const KnowledgeOptions& o) { return factory(o); }});
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, const KnowledgeOptions& options) {
  const StrategyEntry& entry = strategies().get(name);
  std::shared_ptr<const Params> params = options.strategy_params;
  if (!params) params = std::make_shared<Params>(strategy_param_specs());
  auto strategy = entry.make(*params, options);
  strategy->check(options);
  if (strategy->needs_past_data() && options.setting == Setting::SemiCooperative) {
    std::string without;
    for (const auto& n : strategies().names()) {
      KnowledgeOptions probe = options;
      probe.setting = Setting::FullyCooperative;
      auto s = strategies().get(n).make(*params, probe);
      if (!s->needs_past_data()) without += (without.empty() ? "" : ", ") + n;
    }
    throw Error("strategy '" + name +
                "' trains on earlier domains' data, which a semi_cooperative run does not keep; "
                "use setting: fully_cooperative, or a strategy that needs no old data (" +
                without + ")");
  }
  return strategy;
}

}  // namespace loom
