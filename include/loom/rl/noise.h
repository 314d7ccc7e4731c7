// Exploration noise for continuous actions, added to the actor's raw output
// (before the action head): Gaussian, or Ornstein–Uhlenbeck
// (x ← x + θ(0 - x) + σ N(0, 1), temporally correlated, as in DDPG's paper).
// Draws come from the caller's generator; the OU state is saved with the
// agent, so a resumed run explores exactly as an uninterrupted one.
//
//   loom::rl::ExplorationNoise noise(options, action_size);
//   auto n = noise.sample(rng);   // one value per action component
//   noise.reset();                // at each episode start
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "loom/core/param_schema.h"

namespace loom::rl {

enum class NoiseKind { Gaussian, OrnsteinUhlenbeck };

struct NoiseOptions {
  NoiseKind kind = NoiseKind::OrnsteinUhlenbeck;
  double sigma = 0.2;
  double theta = 0.15;  // OU mean reversion
  // σ decays linearly to sigma_final over decay_steps (0: constant).
  double sigma_final = 0.05;
  int64_t decay_steps = 0;
};
const ParamSchema<NoiseOptions>& noise_options_schema();

class ExplorationNoise {
 public:
  ExplorationNoise(const NoiseOptions& options, int64_t size);
  std::vector<double> sample(std::mt19937_64& rng, int64_t step);
  void reset();
  nlohmann::json state() const { return state_; }
  void set_state(const nlohmann::json& state);
  double sigma_at(int64_t step) const;

 private:
  NoiseOptions options_;
  std::vector<double> state_;
};

// A generator's state as text and back, for checkpoints.
std::string rng_state(const std::mt19937_64& rng);
void set_rng_state(std::mt19937_64& rng, const std::string& state);

}  // namespace loom::rl
