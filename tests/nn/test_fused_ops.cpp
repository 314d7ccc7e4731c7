#include <gtest/gtest.h>
#include <torch/torch.h>

#include "loom/nn/fused_ops.h"
#include "test_util.h"

using namespace loom;

namespace {

// Value and gradients of f(inputs) . weights for the fused op and its plain
// autograd composition.
template <typename Fused, typename Plain>
void expect_same_value_and_gradients(Fused fused, Plain plain, std::vector<torch::Tensor> inputs) {
  auto run = [&](auto op) {
    std::vector<torch::Tensor> leaves;
    for (auto& t : inputs) leaves.push_back(t.clone().requires_grad_(true));
    auto out = op(leaves);
    torch::manual_seed(7);
    auto weights = torch::randn_like(out);
    (out * weights).sum().backward();
    std::vector<torch::Tensor> result = {out.detach()};
    for (auto& l : leaves) result.push_back(l.grad());
    return result;
  };
  auto a = run(fused), b = run(plain);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6)) << "output/grad " << i;
}

}  // namespace

TEST(FusedOps, RmsNormMatchesTheComposition) {
  torch::manual_seed(1);
  for (auto shape : {std::vector<int64_t>{7, 16}, std::vector<int64_t>{3, 5, 8}}) {
    expect_same_value_and_gradients(
        [](auto& v) { return rms_norm(v[0], v[1], 1e-5); },
        [](auto& v) { return v[1] * (v[0] * torch::rsqrt(v[0].pow(2).mean(-1, true) + 1e-5)); },
        {torch::randn(shape), torch::randn({shape.back()})});
  }
}

TEST(FusedOps, BackwardMatchesFiniteDifferences) {
  torch::manual_seed(3);
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto x = torch::randn({3, 4}, opts).requires_grad_(), w = torch::randn({4}, opts).requires_grad_(),
       g = torch::randn({3, 4}, opts).requires_grad_();
  auto f = [&] { return (rms_norm(x, w, 1e-5) * g).sum(); };
  loom::testing::expect_gradients_match_finite_differences(f, {&x, &w, &g});
}
