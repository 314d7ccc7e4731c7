#include <gtest/gtest.h>

#include "loom/core/error.h"
#include "loom/nn/varlen_attention.h"
#include "test_util.h"

using namespace loom;

namespace {

struct Case {
  const char* name;
  std::vector<int32_t> lengths;
  int64_t heads, kv_heads;
};

torch::Tensor cu_of(const std::vector<int32_t>& lengths) {
  std::vector<int32_t> cu = {0};
  for (int32_t l : lengths) cu.push_back(cu.back() + l);
  return torch::tensor(cu, torch::kInt32);
}

const std::vector<Case> kCases = {
    {"one segment", {9}, 4, 4},
    {"many segments", {3, 7, 1, 5}, 4, 2},
    {"one long among short", {2, 40, 1, 3, 2}, 2, 1},
    {"all length one", {1, 1, 1}, 4, 4},
    {"grouped query", {6, 6}, 8, 2},
};

}  // namespace

TEST(VarlenAttention, MatchesDenseMaskedReferenceForwardAndBackward) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    torch::manual_seed(1);
    auto cu = cu_of(c.lengths);
    int64_t T = cu[-1].item<int64_t>(), D = 8;
    auto q = torch::randn({T, c.heads, D}, torch::requires_grad());
    auto k = torch::randn({T, c.kv_heads, D}, torch::requires_grad());
    auto v = torch::randn({T, c.kv_heads, D}, torch::requires_grad());
    auto upstream = torch::randn({T, c.heads, D});
    int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());
    auto out = varlen_attention(q, k, v, cu, longest);
    (out * upstream).sum().backward();
    auto gq = q.grad().clone(), gk = k.grad().clone(), gv = v.grad().clone();
    q.mutable_grad().zero_();
    k.mutable_grad().zero_();
    v.mutable_grad().zero_();
    auto ref = dense_masked_attention(q, k, v, cu);
    (ref * upstream).sum().backward();
    EXPECT_TRUE(torch::allclose(out, ref, 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(gq, q.grad(), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(gk, k.grad(), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(gv, v.grad(), 1e-4, 1e-5));
  }
}

// Encoders (causal = false): every token of a segment sees the whole segment,
// and still nothing of the others; forward and backward against the dense
// bidirectional block mask.
TEST(VarlenAttention, BidirectionalMatchesDenseReferenceAndSeesLaterTokens) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    torch::manual_seed(4);
    auto cu = cu_of(c.lengths);
    int64_t T = cu[-1].item<int64_t>(), D = 8;
    auto q = torch::randn({T, c.heads, D}, torch::requires_grad());
    auto k = torch::randn({T, c.kv_heads, D}, torch::requires_grad());
    auto v = torch::randn({T, c.kv_heads, D}, torch::requires_grad());
    auto upstream = torch::randn({T, c.heads, D});
    int64_t longest = *std::max_element(c.lengths.begin(), c.lengths.end());
    auto out = varlen_attention(q, k, v, cu, longest, /*causal=*/false);
    (out * upstream).sum().backward();
    auto gq = q.grad().clone(), gk = k.grad().clone(), gv = v.grad().clone();
    q.mutable_grad().zero_();
    k.mutable_grad().zero_();
    v.mutable_grad().zero_();
    auto ref = dense_masked_attention(q, k, v, cu, /*causal=*/false);
    (ref * upstream).sum().backward();
    EXPECT_TRUE(torch::allclose(out, ref, 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(gq, q.grad(), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(gk, k.grad(), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(gv, v.grad(), 1e-4, 1e-5));
  }
  // The first token's output depends on the last token's value only without the causal mask.
  torch::manual_seed(5);
  auto q = torch::randn({4, 2, 4}), k = torch::randn({4, 2, 4}), v = torch::randn({4, 2, 4});
  auto v2 = v.clone();
  v2[3].add_(10.0);
  auto cu = cu_of({4});
  EXPECT_TRUE(torch::equal(varlen_attention(q, k, v, cu, 4)[0], varlen_attention(q, k, v2, cu, 4)[0]));
  EXPECT_FALSE(
      torch::allclose(varlen_attention(q, k, v, cu, 4, false)[0], varlen_attention(q, k, v2, cu, 4, false)[0]));
}

TEST(VarlenAttention, SegmentsDoNotSeeEachOther) {
  torch::manual_seed(2);
  auto q = torch::randn({6, 2, 4}), k = torch::randn({6, 2, 4}), v = torch::randn({6, 2, 4});
  auto separate = varlen_attention(q, k, v, cu_of({3, 3}), 3);
  auto v2 = v.clone();
  v2.narrow(0, 0, 3).add_(10.0);  // change only the first segment's values
  auto after = varlen_attention(q, k, v2, cu_of({3, 3}), 3);
  EXPECT_TRUE(torch::equal(separate.narrow(0, 3, 3), after.narrow(0, 3, 3)));
  auto joined = varlen_attention(q, k, v2, cu_of({6}), 6);  // one segment: contamination
  EXPECT_FALSE(torch::allclose(separate.narrow(0, 3, 3), joined.narrow(0, 3, 3)));
}

TEST(VarlenAttention, BackwardMatchesFiniteDifferences) {
  torch::manual_seed(3);
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto cu = cu_of({3, 4});
  auto q = torch::randn({7, 2, 3}, opts).requires_grad_(), k = torch::randn({7, 1, 3}, opts).requires_grad_(),
       v = torch::randn({7, 1, 3}, opts).requires_grad_();
  auto weights = torch::randn({7, 2, 3}, opts);
  auto f = [&] { return (varlen_attention(q, k, v, cu, 4) * weights).sum(); };
  loom::testing::expect_gradients_match_finite_differences(f, {&q, &k, &v});
}

TEST(VarlenAttention, RejectsBadBoundaries) {
  auto q = torch::randn({4, 2, 4}), k = torch::randn({4, 2, 4});
  EXPECT_THROW(varlen_attention(q, k, k, torch::tensor({0, 3}, torch::kInt32), 3), Error);        // not T
  EXPECT_THROW(varlen_attention(q, k, k, torch::tensor({0, 2, 2, 4}, torch::kInt32), 2), Error);  // empty
  EXPECT_THROW(varlen_attention(q, k, k, torch::tensor({0, 4}, torch::kLong), 4), Error);         // dtype
  EXPECT_THROW(varlen_attention(q, k, k, torch::tensor({0, 4}, torch::kInt32), 2), Error);        // max_seqlen
  EXPECT_THROW(
      varlen_attention(q, torch::randn({4, 3, 4}), torch::randn({4, 3, 4}), torch::tensor({0, 4}, torch::kInt32), 4),
      Error);  // 2 heads over 3 kv heads
}
