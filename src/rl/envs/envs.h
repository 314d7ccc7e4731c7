// The built-in environments' registration functions (one file each).
#pragma once
#include "loom/rl/env.h"

namespace loom::rl {

void register_portfolio_environment(Registry<EnvironmentEntry>& registry);
void register_bikes_environment(Registry<EnvironmentEntry>& registry);

}  // namespace loom::rl
