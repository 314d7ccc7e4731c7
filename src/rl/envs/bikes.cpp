#include "envs.h"
namespace loom::rl {
void register_bikes_environment(Registry<EnvironmentEntry>&) {}
}  // namespace loom::rl
