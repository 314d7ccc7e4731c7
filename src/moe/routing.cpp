#include "loom/moe/routing.h"

#include <torch/torch.h>

#include "loom/core/error.h"

namespace loom {

Routing route(const torch::Tensor& logits, int64_t top_k, GateNormalization normalization) {
  if (logits.dim() != 2) throw Error("route: router logits must be [tokens, experts]");
  const int64_t n = logits.size(1);
  if (top_k < 0 || top_k > n)
    throw Error("route: top_k " + std::to_string(top_k) + " outside 0.." + std::to_string(n) + " experts");
  const bool dense = top_k == 0 || top_k == n;
  Routing r;
  r.dense = dense;
  if (normalization == GateNormalization::Softmax) {
    // Mixtral: softmax over all experts in (at least) float32, top-k, renormalised.
    auto probs = torch::softmax(logits.scalar_type() == torch::kDouble ? logits : logits.to(torch::kFloat), 1);
    if (dense) {
      r.weights = probs;
    } else {
      auto top = probs.topk(top_k, 1);
      r.weights = std::get<0>(top) / std::get<0>(top).sum(1, true);
      r.experts = std::get<1>(top);
    }
  } else {
    // Adapter mixtures: top-k on the raw logits, then each selected logit normalised.
    torch::Tensor selected = logits;
    if (!dense) {
      auto top = logits.topk(top_k, 1);
      selected = std::get<0>(top);
      r.experts = std::get<1>(top);
    }
    r.weights = normalization == GateNormalization::Sigmoid ? torch::sigmoid(selected)
                                                            : selected / (selected.sum(1, true) + 1e-6);
  }
  if (dense) r.experts = torch::arange(n, torch::kLong).unsqueeze(0).expand({logits.size(0), n});
  r.weights = r.weights.to(logits.scalar_type());
  return r;
}

Routing uniform_routing(int64_t tokens, int64_t num_experts, const torch::TensorOptions& options) {
  Routing r;
  r.dense = true;
  r.experts = torch::arange(num_experts, torch::kLong).unsqueeze(0).expand({tokens, num_experts});
  r.weights = torch::full({tokens, num_experts}, 1.0 / static_cast<double>(num_experts), options);
  return r;
}

Routing with_always_on_expert(const Routing& routed) {
  const int64_t t = routed.experts.size(0);
  Routing r;
  r.dense = routed.dense;
  r.experts = torch::cat({torch::zeros({t, 1}, torch::kLong), routed.experts + 1}, 1);
  r.weights = torch::cat({torch::ones({t, 1}, routed.weights.options()), routed.weights}, 1);
  return r;
}

DispatchPlan plan_dispatch(const Routing& routing, int64_t num_experts) {
  const int64_t k = routing.experts.size(1);
  auto flat = routing.experts.reshape({-1});
  if (flat.numel() > 0 && (flat.min().item<int64_t>() < 0 || flat.max().item<int64_t>() >= num_experts))
    throw Error("dispatch: an expert id lies outside 0.." + std::to_string(num_experts - 1));
  // A stable sort keeps each expert's tokens in stream order.
  auto order = std::get<1>(flat.sort(/*stable=*/true, 0, false));
  DispatchPlan plan;
  plan.tokens = order.div(k, "floor");
  plan.weights = routing.weights.reshape({-1}).index_select(0, order).unsqueeze(1);
  auto counts = torch::bincount(flat, {}, num_experts);
  plan.offsets.assign(static_cast<size_t>(num_experts) + 1, 0);
  auto c = counts.accessor<int64_t, 1>();
  for (int64_t e = 0; e < num_experts; ++e) plan.offsets[e + 1] = plan.offsets[e] + c[e];
  return plan;
}

torch::Tensor dispatch(const torch::Tensor& x, const Routing& routing, int64_t num_experts, int64_t out_features,
                       const ExpertFunction& expert) {
  const int64_t t = x.size(0);
  if (routing.dense) {
    // Every token uses every expert: no gather or scatter.
    torch::Tensor out;
    for (int64_t e = 0; e < num_experts; ++e) {
      auto y = expert(e, x) * routing.weights.select(1, e).unsqueeze(1);
      out = out.defined() ? out + y : y;
    }
    return out;
  }
  const DispatchPlan plan = plan_dispatch(routing, num_experts);
  auto out = torch::zeros({t, out_features}, x.options());
  for (int64_t e = 0; e < num_experts; ++e) {
    const int64_t begin = plan.offsets[e], count = plan.offsets[e + 1] - begin;
    if (count == 0) continue;
    auto tokens = plan.tokens.narrow(0, begin, count);
    auto y = expert(e, x.index_select(0, tokens)) * plan.weights.narrow(0, begin, count);
    out.index_add_(0, tokens, y);
  }
  return out;
}

torch::Tensor load_balancing_loss(const std::vector<torch::Tensor>& router_logits, int64_t top_k) {
  if (router_logits.empty()) throw Error("load-balancing loss: the model recorded no router logits");
  auto logits = torch::cat(router_logits, 0);
  const int64_t n = logits.size(1);
  const int64_t k = top_k == 0 ? n : top_k;
  auto probs = torch::softmax(logits.to(torch::kFloat), 1);
  auto selected = std::get<1>(probs.topk(k, 1));              // [T, k]
  auto mask = torch::one_hot(selected, n).to(torch::kFloat);  // [T, k, N]
  auto tokens_per_expert = mask.mean(0);                      // [k, N]
  auto prob_per_expert = probs.mean(0);                       // [N]
  return (tokens_per_expert * prob_per_expert.unsqueeze(0)).sum() * static_cast<double>(n);
}

}  // namespace loom
