#include "loom/rl/replay_buffer.h"

#include <torch/torch.h>

#include "loom/core/error.h"

namespace loom::rl {

ReplayBufferImpl::ReplayBufferImpl(int64_t capacity, int64_t observation_size, int64_t action_size)
    : capacity_(capacity), observation_size_(observation_size), action_size_(action_size) {
  if (capacity < 1) throw Error("replay buffer: capacity must be positive");
  auto zeros = [&](int64_t width) { return torch::zeros({capacity, width}, torch::kFloat32); };
  observations_ = register_parameter("observations", zeros(observation_size), false);
  actions_ = register_parameter("actions", zeros(action_size), false);
  rewards_ = register_parameter("rewards", zeros(1), false);
  costs_ = register_parameter("costs", zeros(1), false);
  next_ = register_parameter("next_observations", zeros(observation_size), false);
  terminals_ = register_parameter("terminals", zeros(1), false);
}

void ReplayBufferImpl::add(const Observation& o, const std::vector<double>& a, double reward, double cost,
                           const Observation& next, bool terminal) {
  if (static_cast<int64_t>(o.size()) != observation_size_ || static_cast<int64_t>(next.size()) != observation_size_ ||
      static_cast<int64_t>(a.size()) != action_size_)
    throw Error("replay buffer: a transition of the wrong size");
  torch::NoGradGuard no_grad;
  const int64_t row = position_;
  std::copy(o.begin(), o.end(), observations_.data_ptr<float>() + row * observation_size_);
  std::copy(next.begin(), next.end(), next_.data_ptr<float>() + row * observation_size_);
  float* ap = actions_.data_ptr<float>() + row * action_size_;
  for (int64_t k = 0; k < action_size_; ++k) ap[k] = static_cast<float>(a[static_cast<size_t>(k)]);
  rewards_.data_ptr<float>()[row] = static_cast<float>(reward);
  costs_.data_ptr<float>()[row] = static_cast<float>(cost);
  terminals_.data_ptr<float>()[row] = terminal ? 1.0f : 0.0f;
  position_ = (position_ + 1) % capacity_;
  size_ = std::min(size_ + 1, capacity_);
}

TransitionBatch ReplayBufferImpl::sample(int64_t batch, std::mt19937_64& rng) const {
  if (size_ == 0) throw Error("replay buffer: sampling from an empty buffer");
  std::uniform_int_distribution<int64_t> pick(0, size_ - 1);
  std::vector<int64_t> rows(static_cast<size_t>(batch));
  for (auto& r : rows) r = pick(rng);
  auto index = torch::tensor(rows, torch::kInt64);
  return {observations_.index_select(0, index), actions_.index_select(0, index), rewards_.index_select(0, index),
          costs_.index_select(0, index),        next_.index_select(0, index),    terminals_.index_select(0, index)};
}

void ReplayBufferImpl::set_state(const nlohmann::json& state) {
  try {
    position_ = state.at("position").get<int64_t>();
    size_ = state.at("size").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("replay buffer state: ") + e.what());
  }
  if (position_ < 0 || position_ >= capacity_ || size_ < 0 || size_ > capacity_)
    throw Error("replay buffer state: position or size outside the capacity");
}

}  // namespace loom::rl
