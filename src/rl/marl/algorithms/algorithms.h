// The registration functions of the MARL algorithms (one file each).
#pragma once
#include "loom/rl/marl/marl.h"

namespace loom::rl::marl {

void register_on_policy(Registry<MarlAlgorithmEntry>& r);
void register_off_policy(Registry<MarlAlgorithmEntry>& r);

}  // namespace loom::rl::marl
