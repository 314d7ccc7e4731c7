// Aggregation strategies for federated learning, behind one interface (in
// Flower's sense): the server hands a round's updates and their metadata to
// a strategy, which returns the new global update and a weight per party.
//
// Updates are deltas from the current global model, stacked as a [K, d]
// float tensor; `layer_sizes` splits d into the model's tensors (per-layer
// variants use it).
//
// Aggregators live in a registry (aggregators()), one file each under
// src/fl/aggregators/, and declare their own parameters (trimmed_mean's
// trim_beta, the Bayesian variants' priors, ...), which join the FL
// commands' configuration keys. docs/fl.md describes each rule; the
// Bayesian model is stated in src/fl/aggregators/bayes.cpp.
//
//   auto agg = loom::fl::make_aggregator("trimmed_mean");        // defaults
//   loom::Params p(loom::fl::aggregator_param_specs());
//   p.set("trim_beta", "0.3", "example");
//   auto tuned = loom::fl::make_aggregator("trimmed_mean", p);
//   loom::fl::Aggregate a = tuned->aggregate(round);
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/params.h"
#include "loom/core/registry.h"

namespace loom::fl {

struct RoundUpdates {
  torch::Tensor updates;               // [K, d] float32
  std::vector<double> sample_counts;   // K
  std::vector<int64_t> layer_sizes;    // sums to d
  std::vector<std::string> party_ids;  // stable across rounds (carried posteriors use them)
  // The server's own update on a small clean reference set, for aggregators
  // that need one (fltrust); undefined otherwise.
  torch::Tensor reference;
  // The server's loss on that reference set at the current global model
  // plus `update` ([d]), for aggregators that score updates by it (zeno);
  // empty otherwise.
  std::function<double(const torch::Tensor& update)> reference_loss;
};

struct Aggregate {
  torch::Tensor update;         // [d]
  std::vector<double> weights;  // K, summing to 1: each party's share of the result
};

class Aggregator {
 public:
  virtual ~Aggregator() = default;
  virtual Aggregate aggregate(const RoundUpdates& round) = 0;
  // True when aggregate() needs round.reference or round.reference_loss (the
  // server holds data of its own).
  virtual bool needs_reference() const { return false; }
  // State carried across rounds (only bayes_carry has any), for the server's
  // persisted round state.
  virtual nlohmann::json state() const { return nullptr; }
  virtual void restore(const nlohmann::json& /*state*/) {}
};

struct AggregatorEntry {
  std::string help;
  // The aggregator's own parameters (configuration keys).
  std::vector<ParamSpec> params;
  // Builds the aggregator; `params` holds at least its own parameters. Bad
  // values are a loom::Error naming the key.
  std::function<std::unique_ptr<Aggregator>(const Params& params)> make;
};
Registry<AggregatorEntry>& aggregators();
// Every registered aggregator's parameters, each name once.
std::vector<ParamSpec> aggregator_param_specs();

// Unknown names are an error naming `origin` and listing the valid ones.
std::unique_ptr<Aggregator> make_aggregator(const std::string& name, const Params& params,
                                            const std::string& origin = "");
// With every parameter at its default.
std::unique_ptr<Aggregator> make_aggregator(const std::string& name);

// Variational EM for the Bayesian model on already-scaled updates; prior
// (alpha0, beta0) per party. Returns the posteriors and sets *mean.
// `sample_scale` (empty = all 1) multiplies each party's precision where the
// mean is formed (n_k / mean n when sample counts are used).
struct PrecisionPosterior {
  std::vector<double> alpha, beta;
  std::vector<double> expected_precision() const;
};
PrecisionPosterior infer_precisions(const torch::Tensor& updates, const std::vector<double>& alpha0,
                                    const std::vector<double>& beta0, double lambda0, int64_t iterations,
                                    torch::Tensor* mean, bool leave_one_out = true, bool cap_at_median = false,
                                    const std::vector<double>& sample_scale = {});

}  // namespace loom::fl
