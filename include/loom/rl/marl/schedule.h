// Two-timescale step sizes: β(t) = scale / (1 + t / horizon)^power for the
// critic (β_ω) and the actor (β_θ). The paper's conditions (stochastic
// approximation on two timescales) are checked before a run starts:
//   Σ_t β(t) = ∞ and Σ_t β(t)² < ∞  ⇔  0.5 < power ≤ 1 (each schedule),
//   β_θ(t) / β_ω(t) → 0             ⇔  actor power > critic power.
// A constant schedule (power 0) breaks them and is refused unless the run
// asks for constant steps explicitly (allow_constant_steps, for ablations).
//
//   TwoTimescale steps{{0.05, 0.55, 1000}, {0.01, 0.8, 1000}};
//   check_two_timescale(steps);   // loom::Error naming the key that breaks a condition
//   double b = steps.critic.at(t);
#pragma once
#include <cstdint>

namespace loom::rl::marl {

struct StepSchedule {
  double scale = 0.05;
  double power = 0.6;
  double horizon = 1000;  // steps over which β stays near `scale`
  double at(int64_t step) const;
};

struct TwoTimescale {
  StepSchedule critic;
  StepSchedule actor;
};

// Throws loom::Error naming critic_step_power / actor_step_power (or the
// scale or horizon) when a Robbins–Monro or timescale condition fails.
void check_two_timescale(const TwoTimescale& steps, bool allow_constant_steps = false);

}  // namespace loom::rl::marl
