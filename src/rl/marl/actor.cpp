#include "loom/rl/marl/actor.h"

#include <torch/torch.h>

#include <algorithm>

#include "loom/core/error.h"
#include "loom/rl/networks.h"

namespace loom::rl::marl {
namespace {

// μ = Θψ̃ kept in the box: the output is clipped, and a step that would push
// a clipped component further out is dropped (projected ascent), so that an
// early overshoot cannot strand an action component outside the box, where
// its compatible features would be constant.
class LinearActor : public LocalActor {
 public:
  LinearActor(int64_t state_size, int action_dim, double low, double high)
      : inputs_(static_cast<size_t>(state_size + 1)),
        low_(low),
        high_(high),
        theta_(static_cast<size_t>(action_dim) * inputs_, 0.0) {
    // Bias at the middle of the box; the state weights at zero.
    for (size_t c = 0; c < static_cast<size_t>(action_dim); ++c) theta_[c * inputs_] = (low + high) / 2;
  }
  std::vector<double> act(const std::vector<double>& s) override {
    auto mu = raw(s);
    for (auto& v : mu) v = std::min(high_, std::max(low_, v));
    return mu;
  }
  void ascend(const std::vector<double>& s, const std::vector<double>& g, double beta) override {
    const auto mu = raw(s);
    for (size_t c = 0; c < g.size(); ++c) {
      if ((mu[c] >= high_ && g[c] > 0) || (mu[c] <= low_ && g[c] < 0)) continue;
      theta_[c * inputs_] += beta * g[c];
      for (size_t m = 1; m < inputs_; ++m) theta_[c * inputs_ + m] += beta * g[c] * s[m - 1];
    }
  }
  std::vector<double> parameters() const override { return theta_; }

 private:
  std::vector<double> raw(const std::vector<double>& s) const {
    if (s.size() + 1 != inputs_)
      throw Error("actor: state of " + std::to_string(s.size()) + " values; expected " + std::to_string(inputs_ - 1));
    std::vector<double> mu(theta_.size() / inputs_, 0.0);
    for (size_t c = 0; c < mu.size(); ++c) {
      double v = theta_[c * inputs_];
      for (size_t m = 1; m < inputs_; ++m) v += theta_[c * inputs_ + m] * s[m - 1];
      mu[c] = v;
    }
    return mu;
  }
  size_t inputs_;
  double low_, high_;
  std::vector<double> theta_;
};

// rl::Actor over ψ̃ = [1, s] (a stateless task still has the constant input).
class NeuralActor : public LocalActor {
 public:
  NeuralActor(int64_t state_size, int action_dim, double low, double high, const std::vector<std::string>& hidden,
              uint64_t seed)
      : state_size_(state_size) {
    ObservationSpec observation;
    observation.flat_features = state_size + 1;
    ActionSpec action;
    action.size = action_dim;
    action.kind = ActionKind::Box;
    action.low.assign(static_cast<size_t>(action_dim), low);
    action.high.assign(static_cast<size_t>(action_dim), high);
    NetworkOptions options;
    options.hidden = hidden;
    options.activation = Activation::Tanh;
    // Initial weights from the agent's own seed, so that every process that
    // builds agent i's actor builds the same one.
    torch::manual_seed(seed);
    actor_ = Actor(observation, action, options);
    actor_->to(torch::kDouble);
  }
  // The forward pass keeps its graph, so that ascend() at the same state
  // (the training loop acts, then steps the actor there) need not redo it.
  std::vector<double> act(const std::vector<double>& s) override {
    last_state_ = s;
    last_output_ = actor_->act(input(s));
    auto out = last_output_.detach();
    return {out.data_ptr<double>(), out.data_ptr<double>() + out.numel()};
  }
  void ascend(const std::vector<double>& s, const std::vector<double>& g, double beta) override {
    for (auto& p : actor_->parameters())
      if (p.grad().defined()) p.mutable_grad().zero_();
    auto direction = torch::tensor(g, torch::kDouble).view({1, -1});
    auto output = last_output_.defined() && s == last_state_ ? last_output_ : actor_->act(input(s));
    (output * direction).sum().backward();
    last_output_ = torch::Tensor();
    torch::NoGradGuard no_grad;
    for (auto& p : actor_->parameters()) p.add_(p.grad(), beta);  // θ ← θ + β J_θᵀ g: ascent, no optimiser state
  }
  std::vector<double> parameters() const override {
    std::vector<double> out;
    for (const auto& p : actor_->parameters()) {
      auto flat = p.detach().reshape({-1}).contiguous();
      out.insert(out.end(), flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
    }
    return out;
  }

 private:
  torch::Tensor input(const std::vector<double>& s) const {
    std::vector<double> x{1.0};
    x.insert(x.end(), s.begin(), s.end());
    if (static_cast<int64_t>(s.size()) != state_size_)
      throw Error("actor: state of " + std::to_string(s.size()) + " values; expected " + std::to_string(state_size_));
    return torch::tensor(x, torch::kDouble).view({1, -1});
  }
  int64_t state_size_;
  Actor actor_{nullptr};
  std::vector<double> last_state_;
  torch::Tensor last_output_;
};

}  // namespace

std::unique_ptr<LocalActor> make_local_actor(ActorKind kind, int64_t state_size, int action_dim, double low,
                                             double high, const std::vector<std::string>& hidden, uint64_t seed) {
  if (kind == ActorKind::Linear) return std::make_unique<LinearActor>(state_size, action_dim, low, high);
  return std::make_unique<NeuralActor>(state_size, action_dim, low, high, hidden, seed);
}

}  // namespace loom::rl::marl
