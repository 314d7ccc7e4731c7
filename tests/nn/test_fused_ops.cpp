#include <gtest/gtest.h>
#include <torch/torch.h>

#include "loom/core/error.h"
#include "loom/nn/fused_ops.h"
#include "loom/nn/layers.h"
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

namespace {

torch::Tensor plain_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  return x * cos + torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1) * sin;
}

torch::Tensor plain_cross_entropy_sum(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(torch::matmul(h, w.t()), y,
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

// Per-token rotary tables as the model gathers them: [T, 1, D].
std::pair<torch::Tensor, torch::Tensor> rope_tables(int64_t T, int64_t D, torch::Dtype dtype) {
  RotaryEmbedding rope(D, 64, 10000.0);
  auto t = rope.tables(torch::randint(0, 64, {T}, torch::kLong));
  return {t.cos.to(dtype), t.sin.to(dtype)};
}

}  // namespace

// The float kernels against LibTorch's own kernels: the exp polynomial and
// the fused order of operations differ from LibTorch's by a few ulp, inside
// rtol 1e-5.
TEST(FusedOps, SwiGluMatchesTheComposition) {
  torch::manual_seed(2);
  // 3*5*700 elements: more than one vector block, with a remainder; inputs up
  // to +-30 reach the clamped ends of the exp polynomial.
  for (auto shape : {std::vector<int64_t>{7, 16}, std::vector<int64_t>{3, 5, 700}}) {
    expect_same_value_and_gradients([](auto& v) { return swiglu(v[0], v[1]); },
                                    [](auto& v) { return torch::silu(v[0]) * v[1]; },
                                    {torch::randn(shape) * 10, torch::randn(shape)});
  }
  EXPECT_THROW(swiglu(torch::zeros({2, 3}), torch::zeros({3, 2})), Error);
}

TEST(FusedOps, RopeMatchesTheComposition) {
  torch::manual_seed(4);
  auto [cos, sin] = rope_tables(9, 16, torch::kFloat);
  expect_same_value_and_gradients([&](auto& v) { return rope_rotate(v[0], cos, sin); },
                                  [&](auto& v) { return plain_rope(v[0], cos, sin); }, {torch::randn({9, 3, 16})});
  EXPECT_THROW(rope_rotate(torch::zeros({9, 3, 8}), cos, sin), Error);
}

TEST(FusedOps, ChunkedCrossEntropyMatchesLibTorch) {
  torch::manual_seed(5);
  // 37 rows in chunks of 5 (a short last chunk), of 64 (one), and auto;
  // logits of size ~100 check that the log-sum-exp is shifted by the row max.
  auto labels = torch::randint(0, 50, {37}, torch::kLong);
  for (int64_t chunk : {5, 64, 0})
    for (double scale : {1.0, 100.0}) {
      expect_same_value_and_gradients([&](auto& v) { return cross_entropy_sum(v[0], v[1], labels, chunk); },
                                      [&](auto& v) { return plain_cross_entropy_sum(v[0], v[1], labels); },
                                      {torch::randn({37, 8}) * scale, torch::randn({50, 8})});
    }
}

TEST(FusedOps, ChunkedCrossEntropyWithAFrozenHeadOrNoGradient) {
  torch::manual_seed(6);
  auto h = torch::randn({20, 8}).requires_grad_(), w = torch::randn({30, 8});
  auto y = torch::randint(0, 30, {20}, torch::kLong);
  auto loss = cross_entropy_sum(h, w, y, 7);
  loss.backward();
  auto h2 = h.detach().clone().requires_grad_();
  auto ref = plain_cross_entropy_sum(h2, w, y);
  ref.backward();
  EXPECT_NEAR(loss.item<double>(), ref.item<double>(), 1e-4);
  EXPECT_TRUE(torch::allclose(h.grad(), h2.grad(), 1e-5, 1e-6));
  EXPECT_FALSE(w.grad().defined());
  torch::NoGradGuard no_grad;
  EXPECT_NEAR(cross_entropy_sum(h, w, y, 7).item<double>(), ref.item<double>(), 1e-4);
}

TEST(FusedOps, ChunkedCrossEntropyRefusesBadLabelsAndKeepsNaN) {
  auto h = torch::randn({4, 8}), w = torch::randn({10, 8});
  EXPECT_THROW(cross_entropy_sum(h, w, torch::tensor({0, 1, 10, 2}, torch::kLong)), Error);
  EXPECT_THROW(cross_entropy_sum(h, w, torch::tensor({0, -100, 1, 2}, torch::kLong)), Error);
  EXPECT_THROW(cross_entropy_sum(h, w, torch::tensor({0, 1}, torch::kLong)), Error);
  h[2][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(
      std::isnan(cross_entropy_sum(h.requires_grad_(), w, torch::tensor({0, 1, 2, 3}, torch::kLong)).item<float>()));
}

// The double kernels share the float kernels' loops and gradient formulas.
TEST(FusedOps, FusedBackwardsMatchFiniteDifferences) {
  torch::manual_seed(8);
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto g = torch::randn({3, 5}, opts).requires_grad_(), u = torch::randn({3, 5}, opts).requires_grad_();
  auto wsw = torch::randn({3, 5}, opts);
  loom::testing::expect_gradients_match_finite_differences([&] { return (swiglu(g, u) * wsw).sum(); }, {&g, &u});

  auto [cos, sin] = rope_tables(4, 6, torch::kDouble);
  auto x = torch::randn({4, 2, 6}, opts).requires_grad_();
  auto wr = torch::randn({4, 2, 6}, opts);
  loom::testing::expect_gradients_match_finite_differences([&] { return (rope_rotate(x, cos, sin) * wr).sum(); }, {&x});

  auto h = torch::randn({5, 3}, opts).requires_grad_(), w = torch::randn({7, 3}, opts).requires_grad_();
  auto y = torch::tensor({0, 6, 3, 3, 1}, torch::kLong);
  loom::testing::expect_gradients_match_finite_differences([&] { return cross_entropy_sum(h, w, y, 2) * 0.7; },
                                                           {&h, &w});
}
