// The registration functions of the multi-agent environments (one file each).
#pragma once
#include "loom/rl/marl/environment.h"

namespace loom::rl::marl {

void register_bandit(Registry<MarlEnvironmentEntry>& r);
void register_resource_allocation(Registry<MarlEnvironmentEntry>& r);
void register_navigation(Registry<MarlEnvironmentEntry>& r);

}  // namespace loom::rl::marl
