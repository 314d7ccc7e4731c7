// The built-in strategies' registration functions (one file each in this
// folder) and the helpers they share; register_all_strategies()
// (src/knowledge/strategies.cpp) calls each.
#pragma once
#include "loom/adapters/lora.h"
#include "loom/knowledge/strategy.h"

namespace loom {

void register_sequential(Registry<StrategyEntry>& registry);
void register_replay(Registry<StrategyEntry>& registry);
void register_joint(Registry<StrategyEntry>& registry);
void register_olora(Registry<StrategyEntry>& registry);
void register_merges(Registry<StrategyEntry>& registry);

// Steps for a round on `total` examples that give the new domain (`current`
// examples) as many passes as sequential training gives it.
int64_t steps_for_same_passes(const RoundContext& ctx, size_t total, size_t current);

// The round's model with its adapters merged into the weights.
inline CausalLM merged(CausalLM model) {
  merge_lora(*model);
  return model;
}

}  // namespace loom
