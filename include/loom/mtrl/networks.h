// Allocation networks for permutation-invariant multi-task RL (docs/mtrl.md,
// PAPERS.md §9): an actor that maps the state of N resources to an
// allocation over cash + the N resources, and a critic Q(s, a), for any N at
// run time.
//
// Observations are in *resource layout*: N rows of F per-resource features
// (resource-major: resource 0's F values, then resource 1's, ...) followed by
// G global features. rl::ObservationSpec describes it with
// sequence_length = N, sequence_features = F, flat_features = G. Actions are
// cash first, then one weight per resource (rl::ActionKind::Simplex).
//
// Two architectures:
//   equivariant  a weight-tied per-resource encoder φ over each resource's
//                features, an optional Deep-Sets pooled context c = pool_i φ(x_i)
//                (mean, max, or both), per-resource scores ψ(φ(x_i), c, g), a
//                cash score χ(c, g), softmax over cash + resources (EIIE-like).
//                Relabelling the resources permutes the scores; the critic
//                ρ(pool_i φ'(x_i, a_i), g, a_cash) is invariant.
//   mlp          the non-invariant baseline: the task's resources in the
//                task's order in max_resources fixed slots (zeros and a
//                presence mask for empty slots), one MLP; the scores of empty
//                slots are dropped before the softmax.
//
//   loom::mtrl::AllocationNetworkOptions o;             // equivariant, mean pooling
//   loom::mtrl::AllocationActor actor(F, G, o, 0);
//   auto a = actor->act(observations);                  // [B, N + 1] for any N
//   loom::mtrl::AllocationCritic critic(F, G, o, 0);
//   auto q = critic(observations, a);                   // [B, 1]
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/nn/mlp.h"

namespace loom::mtrl {

enum class Architecture { Equivariant, Mlp };
enum class Pooling { None, Mean, Max, MeanMax };

struct AllocationNetworkOptions {
  Architecture architecture = Architecture::Equivariant;
  Pooling pooling = Pooling::Mean;
  std::vector<std::string> encoder_hidden = {"32"};  // φ's hidden layers
  int64_t embedding = 16;                            // φ's output width
  std::vector<std::string> head_hidden = {"32"};     // ψ, χ and the critic's ρ
  std::vector<std::string> mlp_hidden = {"64", "64"};
  int64_t max_resources = 0;  // mlp: resource slots (0: the domain's universe size)
  Activation activation = Activation::ReLU;
};
const ParamSchema<AllocationNetworkOptions>& allocation_network_options_schema();
const char* architecture_name(Architecture architecture);

// Splits a batch in resource layout into per-resource features [B, N, F] and
// global features [B, G]; N is read from the width, which must be N F + G.
struct ResourceBatch {
  torch::Tensor resources, global;
  int64_t count() const { return resources.size(1); }
};
ResourceBatch split_resources(const torch::Tensor& observations, int64_t features, int64_t global);

// Softmax over the last dimension whose normaliser sums in sorted order, so
// that permuting the scores permutes the result bit for bit.
torch::Tensor allocation_softmax(const torch::Tensor& scores);

class AllocationActorImpl : public torch::nn::Module {
 public:
  // `max_resources` is the mlp's slot count (ignored by the equivariant one).
  AllocationActorImpl(int64_t features, int64_t global, const AllocationNetworkOptions& options, int64_t max_resources);
  // Raw scores [B, N + 1] (cash first), before the softmax.
  torch::Tensor forward(const torch::Tensor& observations);
  torch::Tensor act(const torch::Tensor& observations) { return allocation_softmax(forward(observations)); }
  int64_t features() const { return features_; }
  int64_t global() const { return global_; }
  const AllocationNetworkOptions& options() const { return options_; }
  int64_t max_resources() const { return max_resources_; }

 private:
  int64_t features_, global_, max_resources_;
  AllocationNetworkOptions options_;
  Mlp encoder_{nullptr}, resource_head_{nullptr}, cash_head_{nullptr}, mlp_{nullptr};
};
TORCH_MODULE(AllocationActor);

class AllocationCriticImpl : public torch::nn::Module {
 public:
  AllocationCriticImpl(int64_t features, int64_t global, const AllocationNetworkOptions& options,
                       int64_t max_resources);
  torch::Tensor forward(const torch::Tensor& observations, const torch::Tensor& actions);  // [B, 1]

 private:
  int64_t features_, global_, max_resources_;
  AllocationNetworkOptions options_;
  Mlp encoder_{nullptr}, value_head_{nullptr}, mlp_{nullptr};
};
TORCH_MODULE(AllocationCritic);

}  // namespace loom::mtrl
