#include "loom/moe/blocks.h"

#include <torch/torch.h>

#include "loom/core/error.h"
#include "loom/nn/fused_ops.h"

namespace loom {

// ---------- Gate ----------

Gate::Gate(const MoeConfig& config, std::shared_ptr<RouterImpl> router, std::shared_ptr<RoutingContext> context)
    : config_(config), router_(std::move(router)), context_(std::move(context)) {
  if (!config_.gateless && !config_.global_router && !router_)
    throw Error("a routed mixture needs a router (or global_router)");
  if (config_.global_router && !context_) throw Error("a global router needs the model's routing context");
}

Routing Gate::decide(const torch::Tensor& x, ForwardRecord* record) const {
  const int64_t t = x.size(0);
  if (config_.gateless) return uniform_routing(t, config_.num_experts, x.options());
  torch::Tensor logits;
  if (config_.global_router) {
    logits = context_->global_logits;
    if (!logits.defined() || logits.size(0) != t)
      throw Error("global router: the model did not route this batch's tokens before the layer ran");
  } else {
    logits = router_->forward(x);
    if (record)
      record->router_logits.push_back(logits);
    else if (context_ && context_->record)
      context_->recorded.push_back(logits);
  }
  Routing r = route(logits, config_.top_k, config_.normalization);
  return config_.always_on ? with_always_on_expert(r) : r;
}

std::shared_ptr<RouterImpl> make_module_router(const MoeConfig& config, int64_t in) {
  if (config.gateless || config.global_router) return nullptr;
  return make_router(config.router, {in, config.router_outputs(), config.router_hidden}, "moe router");
}

// ---------- whole-MLP experts ----------

MixtralExpertImpl::MixtralExpertImpl(int64_t hidden_size, int64_t intermediate_size) {
  w1 = register_module("w1", Linear(hidden_size, intermediate_size));
  w2 = register_module("w2", Linear(intermediate_size, hidden_size));
  w3 = register_module("w3", Linear(hidden_size, intermediate_size));
}

torch::Tensor MixtralExpertImpl::forward(const torch::Tensor& x) { return w2(swiglu_as_configured(w1(x), w3(x))); }

SparseMoeBlockImpl::SparseMoeBlockImpl(int64_t hidden_size, int64_t intermediate_size, const MoeConfig& config,
                                       std::shared_ptr<RoutingContext> context)
    : hidden_size_(hidden_size) {
  gate = make_module_router(config, hidden_size);
  if (gate) register_module("gate", gate);
  experts = register_module("experts", torch::nn::ModuleList());
  for (int64_t e = 0; e < config.num_experts; ++e) experts->push_back(MixtralExpert(hidden_size, intermediate_size));
  routing_ = std::make_unique<Gate>(config, gate, std::move(context));
}

MixtralExpertImpl& SparseMoeBlockImpl::expert(int64_t e) {
  return *experts->ptr(static_cast<size_t>(e))->as<MixtralExpertImpl>();
}

torch::Tensor SparseMoeBlockImpl::forward(const torch::Tensor& x, ForwardRecord* record) {
  const Routing routing = routing_->decide(x, record);
  return dispatch(x, routing, routing_->num_experts(), hidden_size_,
                  [this](int64_t e, const torch::Tensor& xe) { return expert(e).forward(xe); });
}

// ---------- projection experts ----------

WeightImpl::WeightImpl(std::vector<int64_t> shape) { weight = register_parameter("weight", torch::zeros(shape)); }

ProjectionMixtureImpl::ProjectionMixtureImpl(int64_t in_features, int64_t out_features, const MoeConfig& config,
                                             std::shared_ptr<RoutingContext> context)
    : num_experts_(config.num_experts), gateless_(config.gateless) {
  router = make_module_router(config, in_features);
  if (router) register_module("router", router);
  auto experts = register_module("experts", std::make_shared<torch::nn::Module>());
  for (int64_t e = 1; e < num_experts_; ++e)
    weights_.push_back(
        experts->register_module(std::to_string(e), Weight(std::vector<int64_t>{out_features, in_features})));
  routing_ = std::make_unique<Gate>(config, router, std::move(context));
}

torch::Tensor& ProjectionMixtureImpl::expert_weight(int64_t e) {
  if (e < 1 || e >= num_experts_) throw Error("projection mixture: no stored expert " + std::to_string(e));
  return weights_[static_cast<size_t>(e - 1)]->weight;
}

torch::Tensor ProjectionMixtureImpl::forward(const torch::Tensor& host_weight, const torch::Tensor& x) {
  auto weight_of = [&](int64_t e) -> const torch::Tensor& {
    return e == 0 ? host_weight : weights_[static_cast<size_t>(e - 1)]->weight;
  };
  if (gateless_) {
    // A fixed average of linear maps is the linear map of the averaged weight: one matmul.
    auto mean = host_weight;
    for (const auto& w : weights_) mean = mean + w->weight;
    return torch::nn::functional::linear(x, mean / static_cast<double>(num_experts_));
  }
  const Routing routing = routing_->decide(x);
  return dispatch(x, routing, num_experts_, host_weight.size(0),
                  [&](int64_t e, const torch::Tensor& xe) { return torch::nn::functional::linear(xe, weight_of(e)); });
}

// ---------- adapter experts ----------

AdapterBlendImpl::AdapterBlendImpl(int64_t in_features, int64_t out_features, const MoeConfig& config,
                                   std::shared_ptr<RoutingContext> context)
    : out_features_(out_features), scalings_(config.adapter_scalings) {
  if (!config.adapters) throw Error("an adapter blend needs a MoeConfig with adapters: true");
  router = make_module_router(config, in_features);
  if (router) register_module("router", router);
  auto adapters = register_module("adapters", std::make_shared<torch::nn::Module>());
  for (int64_t e = 0; e < config.num_experts; ++e) {
    const int64_t r = config.adapter_ranks[static_cast<size_t>(e)];
    auto expert = adapters->register_module(std::to_string(e), std::make_shared<torch::nn::Module>());
    a_.push_back(expert->register_module("lora_A", Weight(std::vector<int64_t>{r, in_features})));
    b_.push_back(expert->register_module("lora_B", Weight(std::vector<int64_t>{out_features, r})));
  }
  routing_ = std::make_unique<Gate>(config, router, std::move(context));
}

torch::Tensor& AdapterBlendImpl::lora_A(int64_t e) { return a_.at(static_cast<size_t>(e))->weight; }
torch::Tensor& AdapterBlendImpl::lora_B(int64_t e) { return b_.at(static_cast<size_t>(e))->weight; }

torch::Tensor AdapterBlendImpl::forward(const torch::Tensor& x, const torch::Tensor& base) {
  namespace F = torch::nn::functional;
  const Routing routing = routing_->decide(x);
  auto delta = dispatch(x, routing, routing_->num_experts(), out_features_, [&](int64_t e, const torch::Tensor& xe) {
    const size_t i = static_cast<size_t>(e);
    return F::linear(F::linear(xe, a_[i]->weight), b_[i]->weight) * scalings_[i];
  });
  return base + delta;
}

// ---------- the extension ----------

torch::Tensor MixtureExtension::forward(LinearImpl& host, const torch::Tensor& x, const torch::Tensor& base) {
  if (blend_) return blend_->forward(x, base);
  auto y = projection_->forward(host.weight, x);
  return host.bias.defined() ? y + host.bias : y;
}

}  // namespace loom
