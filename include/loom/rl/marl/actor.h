// An agent's deterministic policy μ^i(s) and its local deterministic policy
// gradient step θ ← θ + β ∇_θ μ^i(s)ᵀ g, with g = ∇_{a^i} Q̂ from the critic.
// Two kinds: a neural actor (rl::Actor on loom::Mlp, a tanh head into the
// action box; the default) and a linear actor μ^i(s) = Θ ψ̃(s) with
// ψ̃ = [1, s] (the actor compatible features are exact for). Actors read the
// global state; torch stays in the implementation.
//
//   auto actor = make_local_actor(ActorKind::Neural, state_size, action_dim, low, high, {"16"}, seed);
//   auto mu = actor->act(s);
//   actor->ascend(s, g, beta_theta);
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace loom::rl::marl {

enum class ActorKind { Neural, Linear };

class LocalActor {
 public:
  virtual ~LocalActor() = default;
  virtual std::vector<double> act(const std::vector<double>& state) = 0;
  virtual void ascend(const std::vector<double>& state, const std::vector<double>& action_gradient, double beta) = 0;
  // Every parameter, flattened (for reports and the mode-equality test).
  virtual std::vector<double> parameters() const = 0;
};

// `seed` fixes the initial weights (the same in every process that builds
// agent i's actor). Linear actors start at the middle of the box.
std::unique_ptr<LocalActor> make_local_actor(ActorKind kind, int64_t state_size, int action_dim, double low,
                                             double high, const std::vector<std::string>& hidden, uint64_t seed);

}  // namespace loom::rl::marl
