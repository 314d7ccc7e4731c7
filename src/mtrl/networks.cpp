#include "loom/mtrl/networks.h"

#include <torch/torch.h>

#include "loom/core/error.h"
#include "loom/rl/networks.h"

namespace loom::mtrl {

const ParamSchema<AllocationNetworkOptions>& allocation_network_options_schema() {
  static const ParamSchema<AllocationNetworkOptions> schema = [] {
    using O = AllocationNetworkOptions;
    ParamSchema<O> s;
    s.add_enum<Architecture>("architecture", &O::architecture,
                             {{Architecture::Equivariant, "equivariant"}, {Architecture::Mlp, "mlp"}},
                             "actor/critic: equivariant (weight-tied per-resource encoder) or mlp (fixed slots)")
        .add_enum<Pooling>(
            "pooling", &O::pooling,
            {{Pooling::None, "none"}, {Pooling::Mean, "mean"}, {Pooling::Max, "max"}, {Pooling::MeanMax, "mean_max"}},
            "equivariant: Deep-Sets context pooled over the resources (the critic pools by mean "
            "when none)")
        .add("encoder_hidden", &O::encoder_hidden, "equivariant: hidden sizes of the per-resource encoder")
        .add("embedding", &O::embedding, "equivariant: per-resource embedding width", {1, 4096})
        .add("head_hidden", &O::head_hidden, "equivariant: hidden sizes of the score, cash and value heads")
        .add("mlp_hidden", &O::mlp_hidden, "mlp: hidden sizes of the baseline MLPs")
        .add("max_resources", &O::max_resources, "mlp: resource slots (0: the universe size)", {0, 4096})
        .add_enum<Activation>("activation", &O::activation,
                              {{Activation::ReLU, "relu"}, {Activation::Tanh, "tanh"}, {Activation::SiLU, "silu"}},
                              "hidden activation of every network");
    return s;
  }();
  return schema;
}

const char* architecture_name(Architecture a) { return a == Architecture::Mlp ? "mlp" : "equivariant"; }

namespace {

std::vector<int64_t> layer_sizes(const std::vector<std::string>& hidden, const std::string& key) {
  rl::NetworkOptions parse;  // rl's parser of layer-size lists
  parse.hidden = hidden;
  try {
    return parse.hidden_sizes();
  } catch (const Error& e) {
    throw Error(key + ": " + e.what());
  }
}

Mlp make_mlp(int64_t in, const std::vector<std::string>& hidden, const std::string& key, int64_t out,
             Activation activation, Activation output = Activation::None) {
  MlpOptions m;
  m.layer_sizes.push_back(in);
  for (int64_t h : layer_sizes(hidden, key)) m.layer_sizes.push_back(h);
  m.layer_sizes.push_back(out);
  m.hidden_activation = activation;
  m.output_activation = output;
  return Mlp(m);
}

int64_t pooled_width(Pooling p, int64_t embedding) {
  switch (p) {
    case Pooling::None: return 0;
    case Pooling::Mean:
    case Pooling::Max: return embedding;
    case Pooling::MeanMax: return 2 * embedding;
  }
  return 0;
}

// Pools [B, N, E] over the resources. The mean sums the values in sorted
// order, so the context is bit-for-bit the same for every order of the
// resources (a float sum depends on its order; our choice, for the exact
// equivariance the tests check).
torch::Tensor pool(const torch::Tensor& h, Pooling p) {
  std::vector<torch::Tensor> parts;
  if (p == Pooling::Mean || p == Pooling::MeanMax)
    parts.push_back(std::get<0>(h.sort(1)).sum(1) / static_cast<double>(h.size(1)));
  if (p == Pooling::Max || p == Pooling::MeanMax) parts.push_back(std::get<0>(h.max(1)));
  return torch::cat(parts, 1);
}

// The mlp baseline's fixed-slot input: [B, S F] features (zeros past N) and a
// [B, S] presence mask.
torch::Tensor slot_input(const ResourceBatch& x, int64_t slots) {
  const int64_t batch = x.resources.size(0), n = x.count(), f = x.resources.size(2);
  if (n > slots)
    throw Error("mlp network: a task with " + std::to_string(n) + " resources, the network has " +
                std::to_string(slots) + " slots (max_resources); the equivariant architecture takes any number");
  auto padded = torch::zeros({batch, slots, f}, x.resources.options());
  padded.narrow(1, 0, n).copy_(x.resources);
  auto mask = torch::zeros({batch, slots}, x.resources.options());
  mask.narrow(1, 0, n).fill_(1);
  return torch::cat({padded.reshape({batch, slots * f}), mask, x.global}, 1);
}

}  // namespace

torch::Tensor allocation_softmax(const torch::Tensor& scores) {
  auto e = (scores - std::get<0>(scores.max(-1, true))).exp();
  return e / std::get<0>(e.sort(-1)).sum(-1, true);
}

ResourceBatch split_resources(const torch::Tensor& x, int64_t features, int64_t global) {
  if (x.dim() != 2) throw Error("allocation network: observations must be [batch, width]");
  const int64_t width = x.size(1) - global;
  if (width < features || width % features != 0)
    throw Error("allocation network: an observation of " + std::to_string(x.size(1)) + " values is not N x " +
                std::to_string(features) + " resource features + " + std::to_string(global) + " global features");
  const int64_t n = width / features;
  return {x.narrow(1, 0, n * features).reshape({x.size(0), n, features}), x.narrow(1, n * features, global)};
}

AllocationActorImpl::AllocationActorImpl(int64_t features, int64_t global, const AllocationNetworkOptions& o,
                                         int64_t max_resources)
    : features_(features), global_(global), max_resources_(max_resources), options_(o) {
  if (features < 1) throw Error("allocation actor: resources need at least one feature");
  if (o.architecture == Architecture::Mlp) {
    if (max_resources < 1) throw Error("max_resources: the mlp architecture needs at least one resource slot");
    mlp_ = register_module("mlp", make_mlp(max_resources * (features + 1) + global, o.mlp_hidden, "mlp_hidden",
                                           max_resources + 1, o.activation));
    return;
  }
  const int64_t pooled = pooled_width(o.pooling, o.embedding);
  // φ ends in the hidden activation: the pooled context and the scores read features, not raw outputs.
  encoder_ = register_module(
      "encoder", make_mlp(features, o.encoder_hidden, "encoder_hidden", o.embedding, o.activation, o.activation));
  resource_head_ = register_module(
      "resource_head", make_mlp(o.embedding + pooled + global, o.head_hidden, "head_hidden", 1, o.activation));
  cash_head_ = register_module(
      "cash_head", make_mlp(std::max<int64_t>(pooled + global, 1), o.head_hidden, "head_hidden", 1, o.activation));
}

torch::Tensor AllocationActorImpl::forward(const torch::Tensor& observations) {
  const ResourceBatch x = split_resources(observations, features_, global_);
  const int64_t batch = observations.size(0), n = x.count();
  if (options_.architecture == Architecture::Mlp)
    return mlp_->forward(slot_input(x, max_resources_)).narrow(1, 0, n + 1);
  auto h = encoder_->forward(x.resources);  // [B, N, E], the same φ for every resource
  std::vector<torch::Tensor> per_resource = {h}, context;
  if (options_.pooling != Pooling::None) context.push_back(pool(h, options_.pooling));
  if (global_ > 0) context.push_back(x.global);
  torch::Tensor shared = context.empty() ? torch::zeros({batch, 1}, h.options()) : torch::cat(context, 1);
  if (!context.empty()) per_resource.push_back(shared.unsqueeze(1).expand({batch, n, shared.size(1)}));
  auto scores = resource_head_->forward(torch::cat(per_resource, 2)).squeeze(2);  // [B, N]
  return torch::cat({cash_head_->forward(shared), scores}, 1);
}

AllocationCriticImpl::AllocationCriticImpl(int64_t features, int64_t global, const AllocationNetworkOptions& o,
                                           int64_t max_resources)
    : features_(features), global_(global), max_resources_(max_resources), options_(o) {
  if (o.architecture == Architecture::Mlp) {
    if (max_resources < 1) throw Error("max_resources: the mlp architecture needs at least one resource slot");
    mlp_ = register_module(
        "mlp", make_mlp(max_resources * (features + 2) + global + 1, o.mlp_hidden, "mlp_hidden", 1, o.activation));
    return;
  }
  // A critic has to pool to be invariant: pooling none reads as mean here.
  if (options_.pooling == Pooling::None) options_.pooling = Pooling::Mean;
  encoder_ = register_module(
      "encoder", make_mlp(features + 1, o.encoder_hidden, "encoder_hidden", o.embedding, o.activation, o.activation));
  value_head_ = register_module("value_head", make_mlp(pooled_width(options_.pooling, o.embedding) + global + 1,
                                                       o.head_hidden, "head_hidden", 1, o.activation));
}

torch::Tensor AllocationCriticImpl::forward(const torch::Tensor& observations, const torch::Tensor& actions) {
  const ResourceBatch x = split_resources(observations, features_, global_);
  const int64_t batch = observations.size(0), n = x.count();
  if (actions.dim() != 2 || actions.size(0) != batch || actions.size(1) != n + 1)
    throw Error("allocation critic: actions must be [" + std::to_string(batch) + ", " + std::to_string(n + 1) +
                "] (cash + resources) for these observations");
  auto cash = actions.narrow(1, 0, 1);
  auto weights = actions.narrow(1, 1, n);
  if (options_.architecture == Architecture::Mlp) {
    auto padded = torch::zeros({batch, max_resources_}, actions.options());
    if (n > max_resources_) slot_input(x, max_resources_);  // the error naming max_resources
    padded.narrow(1, 0, n).copy_(weights);
    return mlp_->forward(torch::cat({slot_input(x, max_resources_), padded, cash}, 1));
  }
  auto z = encoder_->forward(torch::cat({x.resources, weights.unsqueeze(2)}, 2));  // [B, N, E]
  return value_head_->forward(torch::cat({pool(z, options_.pooling), x.global, cash}, 1));
}

}  // namespace loom::mtrl
