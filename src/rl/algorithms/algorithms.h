// The built-in RL algorithms' registration functions (one file each).
#pragma once
#include "loom/rl/agent.h"

namespace loom::rl {

void register_ddpg(Registry<AlgorithmEntry>& registry);  // ddpg and td3
void register_ppo_lagrangian(Registry<AlgorithmEntry>& registry);

}  // namespace loom::rl
