#include "loom/moe/router.h"

#include <torch/torch.h>

#include "loom/core/error.h"

namespace loom {

namespace {

// weight [outputs, in]; registered as the router module's own parameter so
// that Mixtral's name is `block_sparse_moe.gate.weight`.
class LinearRouterImpl : public RouterImpl {
 public:
  explicit LinearRouterImpl(const RouterOptions& o) {
    weight = register_parameter("weight", torch::zeros({o.outputs, o.in_features}));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return torch::nn::functional::linear(x, weight); }
  void init_random(double std, at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    weight.normal_(0.0, std, gen);
  }
  torch::Tensor* logit_rows() override { return &weight; }
  torch::Tensor weight;
};

// The toolkit's deep router, scoring per token (not per output feature: that
// would run every expert on nearly every token; docs/moe.md).
class DeepRouterImpl : public RouterImpl {
 public:
  explicit DeepRouterImpl(const RouterOptions& o) {
    const int64_t hidden = o.hidden > 0 ? o.hidden : std::max<int64_t>(1, o.in_features / 4);
    auto linear = [](int64_t i, int64_t n) { return torch::nn::Linear(torch::nn::LinearOptions(i, n).bias(false)); };
    fc1 = register_module("fc1", linear(o.in_features, hidden));
    fc2 = register_module("fc2", linear(hidden, o.outputs));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return fc2(torch::hardswish(fc1(x))); }
  void init_random(double std, at::Generator& gen) override {
    torch::NoGradGuard no_grad;
    fc1->weight.normal_(0.0, std, gen);
    fc2->weight.normal_(0.0, std, gen);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

// The one place router types are listed.
void register_all_router_types(Registry<RouterType>& r) {
  r.add("linear", {"Linear(in, experts, bias=False), Mixtral's gate",
                   [](const RouterOptions& o) { return std::make_shared<LinearRouterImpl>(o); }});
  r.add("deep", {"Linear(in, h) -> Hardswish -> Linear(h, experts), h = router_hidden or in/4",
                 [](const RouterOptions& o) { return std::make_shared<DeepRouterImpl>(o); }});
}

}  // namespace

Registry<RouterType>& router_types() {
  static Registry<RouterType> registry("router type", register_all_router_types);
  return registry;
}

std::shared_ptr<RouterImpl> make_router(const std::string& type, const RouterOptions& options,
                                        const std::string& origin) {
  if (options.in_features < 1 || options.outputs < 1)
    throw Error(origin + ": a router needs positive input and output sizes");
  return router_types().get(type, origin).make(options);
}

}  // namespace loom
