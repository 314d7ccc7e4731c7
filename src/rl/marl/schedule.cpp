#include "loom/rl/marl/schedule.h"

#include <cmath>
#include <string>

#include "loom/core/error.h"

namespace loom::rl::marl {

double StepSchedule::at(int64_t step) const {
  return scale / std::pow(1.0 + static_cast<double>(step) / horizon, power);
}

namespace {

void check_one(const StepSchedule& s, const std::string& who, bool allow_constant) {
  if (!(s.scale > 0) || !std::isfinite(s.scale))
    throw Error(who + "_step_scale " + std::to_string(s.scale) + " must be positive");
  if (!(s.horizon > 0) || !std::isfinite(s.horizon))
    throw Error(who + "_step_horizon " + std::to_string(s.horizon) + " must be positive");
  if (allow_constant && s.power == 0) return;
  if (!(s.power > 0.5))
    throw Error(who + "_step_power " + std::to_string(s.power) +
                " breaks the Robbins-Monro condition sum beta^2 < infinity (needs power > 0.5)");
  if (!(s.power <= 1))
    throw Error(who + "_step_power " + std::to_string(s.power) +
                " breaks the Robbins-Monro condition sum beta = infinity (needs power <= 1)");
}

}  // namespace

void check_two_timescale(const TwoTimescale& steps, bool allow_constant_steps) {
  check_one(steps.critic, "critic", allow_constant_steps);
  check_one(steps.actor, "actor", allow_constant_steps);
  if (allow_constant_steps && (steps.critic.power == 0 || steps.actor.power == 0)) return;
  if (!(steps.actor.power > steps.critic.power))
    throw Error("actor_step_power " + std::to_string(steps.actor.power) + " must exceed critic_step_power " +
                std::to_string(steps.critic.power) +
                ": the actor must run on the slower timescale (beta_theta / beta_omega -> 0)");
}

}  // namespace loom::rl::marl
