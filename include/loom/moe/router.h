// Routers: the module that scores each token against the experts. Router
// types live in a registry (router_types()), one entry each:
//
//   linear  Linear(in, R, bias=False): Mixtral's gate and the paper's router
//   deep    a small MLP, Linear(in, h) -> Hardswish -> Linear(h, R), h = in/4
//           by default (the toolkit's deep router; routed per token, see docs/moe.md)
//
// and three initialisations (moe/mix.h's router_init): random N(0, std),
// favour-the-base (row 0 = 1, the rest 1e-6) and hidden-state rows, the last
// two for routers that have one row per expert (linear).
//
//   auto router = loom::make_router("linear", {.in_features = 256, .outputs = 4});
//   torch::Tensor logits = router->forward(x);   // [T, 4]
#pragma once
#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>

#include "loom/core/registry.h"

namespace loom {

struct RouterOptions {
  int64_t in_features = 0;
  int64_t outputs = 0;  // experts it scores
  int64_t hidden = 0;   // inner width of a deep router; 0 = in_features / 4
};

class RouterImpl : public torch::nn::Module {
 public:
  // x [T, in] -> logits [T, outputs].
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // Every weight N(0, std).
  virtual void init_random(double std, at::Generator& generator) = 0;
  // The logit matrix [outputs, in] (favour-base and hidden-state initialisation);
  // null when the router has none.
  virtual torch::Tensor* logit_rows() { return nullptr; }
};

struct RouterType {
  std::string help;
  std::function<std::shared_ptr<RouterImpl>(const RouterOptions&)> make;
};
Registry<RouterType>& router_types();
// Unknown names are an error listing the registered types.
std::shared_ptr<RouterImpl> make_router(const std::string& type, const RouterOptions& options,
                                        const std::string& origin = "router");

}  // namespace loom
