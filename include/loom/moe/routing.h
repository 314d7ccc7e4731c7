// Routing and sparse dispatch, shared by every kind of mixture (MLP experts,
// projection experts, adapter experts):
//
//   route()     router logits [T, R] -> the experts each token uses and their weights
//   dispatch()  groups the tokens by expert, runs each expert once on its own
//               tokens (one matmul chain per expert), and scatters the weighted
//               outputs back. Only a dense routing (every expert for every token:
//               gate-less, or top_k = 0) runs the experts on all tokens.
//   load_balancing_loss()  the Switch/Mixtral auxiliary loss
//
//   auto r = loom::route(logits, /*top_k=*/2, loom::GateNormalization::Softmax);
//   auto y = loom::dispatch(x, r, n_experts, hidden, [&](int64_t e, const torch::Tensor& xe) { return experts[e](xe);
//   });
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "loom/moe/moe_config.h"

namespace loom {

struct Routing {
  torch::Tensor experts;  // [T, k] int64 expert ids
  torch::Tensor weights;  // [T, k] gate weights (differentiable in the router logits)
  // Every token uses every expert, column e being expert e.
  bool dense = false;
};

// Top-k of the logits [T, N] and their normalised weights (moe_config.h's
// GateNormalization). top_k 0 selects every expert (a dense routing).
Routing route(const torch::Tensor& logits, int64_t top_k, GateNormalization normalization);
// The fixed 1/N average over all N experts (gate-less).
Routing uniform_routing(int64_t tokens, int64_t num_experts, const torch::TensorOptions& options);
// Expert 0 with weight 1 beside a routing over experts 1..N-1 (ids shifted by one).
Routing with_always_on_expert(const Routing& routed);

// Tokens grouped by expert: rows offsets[e]..offsets[e+1] of `tokens` and
// `weights` are expert e's.
struct DispatchPlan {
  torch::Tensor tokens;          // [T·k] int64 token index of each (token, expert) pair
  torch::Tensor weights;         // [T·k, 1] its gate weight
  std::vector<int64_t> offsets;  // [N + 1]
};
DispatchPlan plan_dispatch(const Routing& routing, int64_t num_experts);

// expert(e, x_e) maps expert e's input rows [n, in] to [n, out_features].
using ExpertFunction = std::function<torch::Tensor(int64_t expert, const torch::Tensor& x)>;
// Σ over each token's experts of weight · expert(x): [T, out_features].
torch::Tensor dispatch(const torch::Tensor& x, const Routing& routing, int64_t num_experts, int64_t out_features,
                       const ExpertFunction& expert);

// The load-balancing loss of transformers' Mixtral (Switch Transformer form,
// top-k): with the logits of every routed module concatenated along tokens,
// p = softmax(logits), f[j][e] = share of tokens whose j-th choice is e,
// P[e] = mean p[:, e]:  N · Σ_j Σ_e f[j][e] · P[e]. Uniform routing gives top_k.
torch::Tensor load_balancing_loss(const std::vector<torch::Tensor>& router_logits, int64_t top_k);

}  // namespace loom
