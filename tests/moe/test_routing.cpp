#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "loom/moe/routing.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;

TEST(Routing, SoftmaxTopKIsRenormalisedAsInMixtral) {
  auto logits = torch::tensor({1.0f, 2.0f, 3.0f, 0.0f}).view({1, 4});
  Routing r = route(logits, 2, GateNormalization::Softmax);
  EXPECT_EQ(r.experts[0][0].item<int64_t>(), 2);
  EXPECT_EQ(r.experts[0][1].item<int64_t>(), 1);
  const double a = std::exp(3.0), b = std::exp(2.0);
  EXPECT_NEAR(r.weights[0][0].item<double>(), a / (a + b), 1e-6);
  EXPECT_NEAR(r.weights[0][1].item<double>(), b / (a + b), 1e-6);
  EXPECT_FALSE(r.dense);
}

TEST(Routing, SigmoidAndSumNormaliseTheRawTopK) {
  auto logits = torch::tensor({0.5f, -1.0f, 2.0f}).view({1, 3});
  Routing s = route(logits, 2, GateNormalization::Sigmoid);
  EXPECT_EQ(s.experts[0][0].item<int64_t>(), 2);
  EXPECT_NEAR(s.weights[0][0].item<double>(), 1 / (1 + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(s.weights[0][1].item<double>(), 1 / (1 + std::exp(-0.5)), 1e-6);
  Routing u = route(logits, 2, GateNormalization::Sum);
  EXPECT_NEAR(u.weights[0][0].item<double>(), 2.0 / (2.5 + 1e-6), 1e-6);
  // top_k 0: every expert, in expert order.
  Routing d = route(logits, 0, GateNormalization::Sigmoid);
  EXPECT_TRUE(d.dense);
  EXPECT_NEAR(d.weights[0][1].item<double>(), 1 / (1 + std::exp(1.0)), 1e-6);
}

TEST(Routing, LoadBalancingLossHasItsKnownValue) {
  // Two experts, top-1, four tokens with logits (a, 0): p(e0) = sigmoid(a) =
  // 3/4, 3/4, 1/4, sigmoid(0.1); first choices e0, e0, e1, e0, so f = (3/4, 1/4);
  // P = (mean p0, 1 - mean p0); loss = 2 (3/4 P0 + 1/4 P1).
  const double l3 = std::log(3.0);
  auto logits = torch::tensor({l3, 0.0, l3, 0.0, -l3, 0.0, 0.1, 0.0}, torch::kFloat).view({4, 2});
  const double p0 = (0.75 + 0.75 + 0.25 + 1 / (1 + std::exp(-0.1))) / 4;
  const double expected = 2 * (0.75 * p0 + 0.25 * (1 - p0));
  EXPECT_NEAR(load_balancing_loss({logits}, 1).item<double>(), expected, 1e-6);
  // Modules are pooled along tokens, as transformers concatenates layers.
  EXPECT_NEAR(load_balancing_loss({logits.narrow(0, 0, 2), logits.narrow(0, 2, 2)}, 1).item<double>(), expected, 1e-6);
  // Uniform routing gives top_k.
  auto uniform = torch::zeros({6, 4});
  EXPECT_NEAR(load_balancing_loss({uniform}, 2).item<double>(), 2.0, 1e-6);
}

namespace {

struct DispatchCase {
  const char* name;
  int64_t experts, top_k;
  GateNormalization normalization;
  bool always_on;
};

// The gate matrix [T, N] computed without route(): every expert's weight,
// zero where it is not selected.
torch::Tensor reference_gates(const torch::Tensor& logits, const DispatchCase& c) {
  const int64_t routed = c.always_on ? c.experts - 1 : c.experts;
  const int64_t k = c.top_k == 0 ? routed : c.top_k;
  auto order = std::get<1>(logits.sort(1, /*descending=*/true));
  auto mask = torch::zeros_like(logits).scatter_(1, order.narrow(1, 0, k), 1.0);
  torch::Tensor g;
  if (c.normalization == GateNormalization::Softmax) {
    auto p = torch::softmax(logits, 1) * mask;
    g = p / p.sum(1, true);
  } else if (c.normalization == GateNormalization::Sigmoid) {
    g = torch::sigmoid(logits) * mask;
  } else {
    g = logits * mask / ((logits * mask).sum(1, true) + 1e-6);
  }
  if (c.always_on) g = torch::cat({torch::ones({logits.size(0), 1}, logits.options()), g}, 1);
  return g;
}

}  // namespace

TEST(Dispatch, TopKEqualsTheDenseMaskedReferenceInValueAndGradients) {
  const std::vector<DispatchCase> cases = {
      {"top-2 of 4, softmax", 4, 2, GateNormalization::Softmax, false},
      {"top-1 of 3, softmax", 3, 1, GateNormalization::Softmax, false},
      {"top-3 of 5, sigmoid", 5, 3, GateNormalization::Sigmoid, false},
      {"top-2 of 4, sum", 4, 2, GateNormalization::Sum, false},
      {"dense (k = 0), softmax", 3, 0, GateNormalization::Softmax, false},
      {"always-on + top-1 of 3", 4, 1, GateNormalization::Softmax, true},
      {"always-on + top-2 of 4", 5, 2, GateNormalization::Softmax, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    torch::manual_seed(7);
    const int64_t t = 17, in = 6, out = 5;
    const int64_t routed = c.always_on ? c.experts - 1 : c.experts;
    auto x = torch::randn({t, in}, torch::kDouble).requires_grad_();
    auto router = torch::randn({routed, in}, torch::kDouble).requires_grad_();
    auto w = torch::randn({c.experts, out, in}, torch::kDouble).requires_grad_();
    auto expert = [&](int64_t e, const torch::Tensor& xe) { return torch::tanh(torch::matmul(xe, w[e].t())); };
    auto sparse = [&] {
      auto logits = torch::matmul(x, router.t());
      Routing r = route(logits, c.top_k, c.normalization);
      if (c.always_on) r = with_always_on_expert(r);
      return dispatch(x, r, c.experts, out, expert);
    };
    auto dense = [&] {
      auto gates = reference_gates(torch::matmul(x, router.t()), c);
      torch::Tensor sum = torch::zeros({t, out}, torch::kDouble);
      for (int64_t e = 0; e < c.experts; ++e) sum = sum + expert(e, x) * gates.select(1, e).unsqueeze(1);
      return sum;
    };
    auto probe = torch::randn({t, out}, torch::kDouble);
    auto ys = sparse();
    (ys * probe).sum().backward();
    auto gx = x.grad().clone(), gr = router.grad().clone(), gw = w.grad().clone();
    x.mutable_grad().zero_();
    router.mutable_grad().zero_();
    w.mutable_grad().zero_();
    auto yd = dense();
    (yd * probe).sum().backward();
    EXPECT_LT((ys - yd).abs().max().item<double>(), 1e-12);
    EXPECT_LT((gx - x.grad()).abs().max().item<double>(), 1e-12);
    EXPECT_LT((gr - router.grad()).abs().max().item<double>(), 1e-12);
    EXPECT_LT((gw - w.grad()).abs().max().item<double>(), 1e-12);
    // The router is trained through the gates, except with one renormalised
    // softmax choice, whose weight is always 1 (only a load-balancing loss moves it then).
    if (c.top_k == 1 && c.normalization == GateNormalization::Softmax)
      EXPECT_LT(gr.abs().max().item<double>(), 1e-12);
    else
      EXPECT_GT(gr.abs().max().item<double>(), 1e-6);
  }
}

TEST(Dispatch, RunsEachExpertOnlyOnTheTokensRoutedToIt) {
  torch::manual_seed(3);
  const int64_t t = 40, n = 8, k = 2;
  auto x = torch::randn({t, 4});
  auto logits = torch::randn({t, n});
  Routing r = route(logits, k, GateNormalization::Softmax);
  std::vector<int64_t> rows(n, 0);
  dispatch(x, r, n, 4, [&](int64_t e, const torch::Tensor& xe) {
    rows[static_cast<size_t>(e)] += xe.size(0);
    return xe;
  });
  int64_t total = 0;
  for (int64_t e = 0; e < n; ++e) {
    const int64_t routed_here = r.experts.eq(e).sum().item<int64_t>();
    EXPECT_EQ(rows[static_cast<size_t>(e)], routed_here) << "expert " << e;
    total += rows[static_cast<size_t>(e)];
  }
  EXPECT_EQ(total, t * k);  // not t * n: no expert sees tokens it was not chosen for
}
