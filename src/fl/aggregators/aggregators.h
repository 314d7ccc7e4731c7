// The built-in aggregators' registration functions (one file each in this
// folder) and the helpers they share; register_all_aggregators()
// (src/fl/aggregate.cpp) calls each.
#pragma once
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/fl/aggregate.h"

namespace loom::fl {

void register_fedavg(Registry<AggregatorEntry>& registry);
void register_median(Registry<AggregatorEntry>& registry);
void register_trimmed_mean(Registry<AggregatorEntry>& registry);
void register_krum(Registry<AggregatorEntry>& registry);  // krum, multi_krum
void register_geomed(Registry<AggregatorEntry>& registry);
void register_bulyan(Registry<AggregatorEntry>& registry);
void register_fltrust(Registry<AggregatorEntry>& registry);
void register_zeno(Registry<AggregatorEntry>& registry);
void register_bayes(Registry<AggregatorEntry>& registry);  // bayes, bayes_layer, bayes_carry
void register_bayes_cf(Registry<AggregatorEntry>& registry);
void register_bayes_mix(Registry<AggregatorEntry>& registry);

// The Gamma prior and EM budget every Bayesian variant shares (declared
// once, in bayes.cpp, and included by each variant's schema).
struct BayesPrior {
  double alpha0 = 1.0, beta0 = 1.0, lambda0 = 1e-3;
  int64_t iters = 20;
};
const ParamSchema<BayesPrior>& bayes_prior_schema();
// Refuses non-positive priors, naming the key.
BayesPrior checked(BayesPrior prior);

// Shape, sample-count and finiteness checks every aggregator starts with.
void require_shapes(const RoundUpdates& round);
void check_round(const RoundUpdates& round);
// Names the first party whose update is not finite.
[[noreturn]] void throw_non_finite(const RoundUpdates& round);
// The id of party k, or "party k" when the round names none.
std::string party_name(const RoundUpdates& round, int64_t k);

// w / Σw (uniform when Σw is 0).
std::vector<double> normalized(std::vector<double> w);
std::vector<double> to_vector(const torch::Tensor& t);
// Coordinate-wise median (mean of the two middle values for even K).
torch::Tensor coordinate_median(const torch::Tensor& u);
// Share of coordinates at which each party's value lies in the sorted window [lo, hi).
std::vector<double> window_shares(const torch::Tensor& u, int64_t lo, int64_t hi);
// The robust scale updates are divided by before Bayesian inference: the
// median over parties of ‖u_k − coordinate median‖ / √d.
double robust_scale(const torch::Tensor& u);

}  // namespace loom::fl
