// Cooperative navigation in the manner of PettingZoo MPE's simple_spread,
// with continuous velocity actions: N agents and N landmarks in [−1, 1]²;
// the state is every agent's and landmark's position; an action moves its
// agent by 0.1·a (a ∈ [−1, 1]², positions clipped to the arena). Agent i's
// local reward is its landmark's coverage, −min_k ‖p_k − l_i‖, less
// collision_penalty for each other agent within 0.15 of it (computed on the
// positions after the move). Episodes last navigation_episode steps and then
// restart from fresh random positions (the average-reward task runs on).
// MPE uses forces and damping; a kinematic step is our simplification
// (docs/marl.md).
#include <cmath>
#include <random>

#include "envs.h"
#include "loom/core/error.h"

namespace loom::rl::marl {
namespace {

constexpr double kSpeed = 0.1;
constexpr double kCollisionRadius = 0.15;

class Navigation : public MultiAgentEnvironment {
 public:
  explicit Navigation(const EnvironmentOptions& o)
      : n_(o.agents),
        episode_(o.navigation_episode),
        noise_(o.reward_noise),
        collision_(o.navigation_collision_penalty) {}
  int agents() const override { return n_; }
  int action_dim() const override { return 2; }
  int64_t state_size() const override { return 4 * n_; }
  int64_t evaluation_steps() const override { return episode_; }
  std::vector<double> reset(uint64_t seed) override {
    rng_.seed(seed);
    restart();
    return state_;
  }
  MarlStep step(const std::vector<double>& joint_action) override {
    MarlStep out;
    state_ = move(state_, joint_action);
    std::normal_distribution<double> noise(0, 1);
    for (int i = 0; i < n_; ++i) out.rewards.push_back(local_reward(i, state_) + noise_ * noise(rng_));
    if (++t_ >= episode_) restart();
    out.state = state_;
    return out;
  }
  double team_reward(const std::vector<double>& s, const std::vector<double>& joint_action) const override {
    if (static_cast<int64_t>(s.size()) != state_size())
      throw Error("navigation: state has " + std::to_string(s.size()) + " values; expected " +
                  std::to_string(state_size()));
    auto next = move(s, joint_action);
    double total = 0;
    for (int i = 0; i < n_; ++i) total += local_reward(i, next);
    return total / n_;
  }

 private:
  // state: agents' x,y (2N values), then landmarks' x,y (2N values).
  size_t agent(int k) const { return static_cast<size_t>(2 * k); }
  size_t landmark(int k) const { return static_cast<size_t>(2 * n_ + 2 * k); }
  void restart() {
    std::uniform_real_distribution<double> pos(-1, 1);
    state_.assign(static_cast<size_t>(state_size()), 0.0);
    for (auto& v : state_) v = pos(rng_);
    t_ = 0;
  }
  std::vector<double> move(const std::vector<double>& s, const std::vector<double>& joint_action) const {
    auto a = clip_joint_action(*this, joint_action);
    std::vector<double> next(s);
    for (size_t k = 0; k < a.size(); ++k) next[k] = std::min(1.0, std::max(-1.0, s[k] + kSpeed * a[k]));
    return next;
  }
  double local_reward(int i, const std::vector<double>& s) const {
    double nearest = 1e9;
    for (int k = 0; k < n_; ++k)
      nearest = std::min(nearest, std::hypot(s[agent(k)] - s[landmark(i)], s[agent(k) + 1] - s[landmark(i) + 1]));
    double r = -nearest;
    for (int j = 0; j < n_; ++j)
      if (j != i && std::hypot(s[agent(i)] - s[agent(j)], s[agent(i) + 1] - s[agent(j) + 1]) < kCollisionRadius)
        r -= collision_;
    return r;
  }
  int n_;
  int64_t episode_, t_ = 0;
  double noise_, collision_;
  std::vector<double> state_;
  std::mt19937_64 rng_;
};

}  // namespace

void register_navigation(Registry<MarlEnvironmentEntry>& r) {
  r.add("navigation", {"cooperative navigation (MPE simple_spread style), continuous velocities",
                       [](const EnvironmentOptions& o) { return std::make_unique<Navigation>(o); }});
}

}  // namespace loom::rl::marl
