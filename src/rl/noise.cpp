#include "loom/rl/noise.h"

#include <sstream>

#include "loom/core/error.h"

namespace loom::rl {

const ParamSchema<NoiseOptions>& noise_options_schema() {
  static const ParamSchema<NoiseOptions> schema = [] {
    using O = NoiseOptions;
    ParamSchema<O> s;
    s.add_enum<NoiseKind>("noise", &O::kind, {{NoiseKind::Gaussian, "gaussian"}, {NoiseKind::OrnsteinUhlenbeck, "ou"}},
                          "exploration noise on the actor's raw output: gaussian or ou (Ornstein-Uhlenbeck)")
        .add("noise_sigma", &O::sigma, "exploration noise scale σ", {0, 100})
        .add("noise_theta", &O::theta, "OU mean reversion θ", {0, 1})
        .add("noise_sigma_final", &O::sigma_final, "σ after decay_steps (linear decay)", {0, 100})
        .add("noise_decay_steps", &O::decay_steps, "steps over which σ decays to noise_sigma_final (0: constant)",
             {0, 1e12});
    return s;
  }();
  return schema;
}

ExplorationNoise::ExplorationNoise(const NoiseOptions& options, int64_t size)
    : options_(options), state_(static_cast<size_t>(size), 0.0) {}

double ExplorationNoise::sigma_at(int64_t step) const {
  if (options_.decay_steps <= 0) return options_.sigma;
  const double f = std::min(1.0, static_cast<double>(step) / static_cast<double>(options_.decay_steps));
  return options_.sigma + f * (options_.sigma_final - options_.sigma);
}

std::vector<double> ExplorationNoise::sample(std::mt19937_64& rng, int64_t step) {
  std::normal_distribution<double> normal(0.0, 1.0);
  const double sigma = sigma_at(step);
  for (double& x : state_) {
    const double z = normal(rng);
    x = options_.kind == NoiseKind::Gaussian ? sigma * z : x - options_.theta * x + sigma * z;
  }
  return state_;
}

void ExplorationNoise::reset() { std::fill(state_.begin(), state_.end(), 0.0); }

void ExplorationNoise::set_state(const nlohmann::json& state) {
  auto v = state.get<std::vector<double>>();
  if (v.size() != state_.size()) throw Error("noise state has the wrong size");
  state_ = v;
}

std::string rng_state(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

void set_rng_state(std::mt19937_64& rng, const std::string& state) {
  std::istringstream in(state);
  in >> rng;
  if (in.fail()) throw Error("checkpoint: a random generator's state does not parse");
}

}  // namespace loom::rl
