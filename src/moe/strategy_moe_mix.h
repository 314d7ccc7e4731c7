// The moe_mix knowledge strategy's registration (private to the moe module;
// register_moe() calls it).
#pragma once
#include "loom/knowledge/strategy.h"

namespace loom {

void register_moe_mix_strategy(Registry<StrategyEntry>& registry);

}  // namespace loom
