#include "loom/rl/agent.h"

#include <torch/torch.h>

#include <set>

#include "algorithms/algorithms.h"

namespace loom::rl {
namespace {

// The one place the built-in algorithms are listed.
void register_all_algorithms(Registry<AlgorithmEntry>& r) {
  register_ddpg(r);
  register_ppo_lagrangian(r);
}

}  // namespace

Registry<AlgorithmEntry>& algorithms() {
  static Registry<AlgorithmEntry> registry("RL algorithm", register_all_algorithms);
  return registry;
}

std::vector<ParamSpec> algorithm_param_specs() {
  std::vector<ParamSpec> out;
  std::set<std::string> seen;
  for (const auto& [name, entry] : algorithms().entries())
    for (const auto& spec : entry.params)
      if (seen.insert(spec.name).second) out.push_back(spec);
  return out;
}

std::unique_ptr<Agent> make_agent(const std::string& name, const Params& params, const ObservationSpec& observation,
                                  const ActionSpec& action, uint64_t seed) {
  const AlgorithmEntry& entry = algorithms().get(name, "algorithm");
  const NetworkOptions network = network_options_schema().read(params);
  network.hidden_sizes();  // validates
  return entry.make(params, observation, action, network, seed);
}

void clear_gradients(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.mutable_grad() = torch::Tensor();
}

void soft_update(torch::nn::Module& target, const torch::nn::Module& source, double tau) {
  torch::NoGradGuard no_grad;
  auto t = target.parameters();
  auto s = source.parameters();
  for (size_t i = 0; i < t.size(); ++i) t[i].mul_(1 - tau).add_(s[i], tau);
}

}  // namespace loom::rl
