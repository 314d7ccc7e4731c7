// Aggregation strategies for federated learning, behind one interface (in
// Flower's sense): the server hands a round's updates and their metadata to
// a strategy, which returns the new global update and a weight per party.
//
// Updates are deltas from the current global model, stacked as a [K, d]
// float tensor; `layer_sizes` splits d into the model's tensors (per-layer
// variants use it).
//
//   fedavg          Σ n_k u_k / Σ n_k
//   median          coordinate-wise median
//   trimmed_mean    coordinate-wise mean after dropping ⌊βK⌋ values at each end
//   krum, multi_krum  Blanchard et al.: score = Σ squared distances to the K-f-2
//                   nearest; Krum takes the best, Multi-Krum averages the best m
//   geomed          geometric median by Weiszfeld's iteration
//   bayes           per-party precision by variational EM (model below)
//   bayes_layer     the same with one precision per party and layer
//   bayes_carry     bayes whose Gamma posteriors become the next round's priors
//   bayes_cf        collaborative filtering: updates = low-rank + per-party noise
//
// The Bayesian model (the paper's exact equations are not public; this is
// the model PAPERS.md §10 states, in update space where μ₀ = previous model
// becomes 0): party k reports u_k = w + ε_k, ε_k ~ N(0, τ_k⁻¹ I),
// τ_k ~ Gamma(α₀, β₀), w ~ N(0, λ₀⁻¹ I). Mean-field updates, iterated:
//   Λ = λ₀ + Σ E[τ_k];  m = Σ E[τ_k] u_k / Λ
//   α_k = α₀ + d/2;  β_k = β₀ + ½(‖u_k − m‖² + d/Λ);  E[τ_k] = α_k / β_k
// Updates are first divided by a robust scale (the median over parties of
// ‖u_k − coordinate median‖ / √d) so that α₀, β₀, λ₀ are unit-free and
// carried posteriors stay meaningful while update norms shrink over rounds.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/params.h"

namespace loom::fl {

struct RoundUpdates {
  torch::Tensor updates;               // [K, d] float32
  std::vector<double> sample_counts;   // K
  std::vector<int64_t> layer_sizes;    // sums to d
  std::vector<std::string> party_ids;  // stable across rounds (carried posteriors use them)
};

struct Aggregate {
  torch::Tensor update;         // [d]
  std::vector<double> weights;  // K, summing to 1: each party's share of the result
};

struct AggregatorOptions {
  double trim_beta = 0.2;
  int64_t krum_f = -1;        // assumed bad parties; -1 = ⌊(K-3)/2⌋ (the most Krum tolerates)
  int64_t multi_krum_m = -1;  // parties averaged; -1 = K - f
  int64_t geomed_iters = 100;
  double bayes_alpha0 = 1.0, bayes_beta0 = 1.0, bayes_lambda0 = 1e-3;
  int64_t bayes_iters = 20;
  bool bayes_leave_one_out = true;  // residuals against the other parties' mean
  bool bayes_cap_at_median = true;  // no precision above the median one
  double bayes_carry = 0.5;         // share of last round's posterior evidence kept as prior
  int64_t cf_rank = 1;
};
std::vector<ParamSpec> aggregator_param_specs();
AggregatorOptions aggregator_options_from_params(const Params& p);

class Aggregator {
 public:
  virtual ~Aggregator() = default;
  virtual Aggregate aggregate(const RoundUpdates& round) = 0;
  // State carried across rounds (only bayes_carry has any), for the server's
  // persisted round state.
  virtual nlohmann::json state() const { return nullptr; }
  virtual void restore(const nlohmann::json& state) {}
};

const std::vector<std::string>& aggregator_names();
// Unknown names are an error listing the valid ones.
std::unique_ptr<Aggregator> make_aggregator(const std::string& name, const AggregatorOptions& options);

// Variational EM for the model above on already-scaled updates; prior
// (alpha0, beta0) per party. Returns E[τ_k] and sets *mean and the posteriors.
struct PrecisionPosterior {
  std::vector<double> alpha, beta;
  std::vector<double> expected_precision() const;
};
PrecisionPosterior infer_precisions(const torch::Tensor& updates, const std::vector<double>& alpha0,
                                    const std::vector<double>& beta0, double lambda0, int64_t iterations,
                                    torch::Tensor* mean, bool leave_one_out = true, bool cap_at_median = false);

}  // namespace loom::fl
