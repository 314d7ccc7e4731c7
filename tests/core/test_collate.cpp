#include <gtest/gtest.h>

#include "loom/core/collate.h"
#include "loom/core/error.h"

using namespace loom;

namespace {

Example ex(std::vector<int32_t> tokens) {
  Example e;
  e.tokens = tokens;
  e.target.assign(tokens.size(), 1);
  e.target[0] = 0;
  return e;
}

}  // namespace

TEST(Collate, PaddingFreeRestartsPositionsAndMasksBoundaries) {
  Example a = ex({1, 2, 3}), b = ex({4, 5});
  PackedBatch p = collate({&a, &b}, Packing::PaddingFree, 0);
  EXPECT_EQ(p.input_ids, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(p.position_ids, (std::vector<int32_t>{0, 1, 2, 0, 1}));
  EXPECT_EQ(p.cu_seqlens, (std::vector<int32_t>{0, 3, 5}));
  // The last token of each example predicts nothing: no cross-example target.
  EXPECT_EQ(p.labels, (std::vector<int32_t>{2, 3, kIgnoreLabel, 5, kIgnoreLabel}));
  EXPECT_EQ(p.num_label_tokens, 3);
  EXPECT_EQ(p.max_seqlen, 3);
}

TEST(Collate, NonePadsEveryExampleToTheLongest) {
  Example a = ex({1, 2, 3}), b = ex({4});
  PackedBatch p = collate({&a, &b}, Packing::None, 9);
  EXPECT_EQ(p.input_ids, (std::vector<int32_t>{1, 2, 3, 4, 9, 9}));
  EXPECT_EQ(p.cu_seqlens, (std::vector<int32_t>{0, 3, 6}));
  EXPECT_EQ(p.labels, (std::vector<int32_t>{2, 3, kIgnoreLabel, kIgnoreLabel, kIgnoreLabel, kIgnoreLabel}));
  EXPECT_EQ(p.num_real_tokens, 4);
  EXPECT_THROW(collate({&a}, Packing::None, -1), Error);
}

TEST(Collate, NaiveIsOneSegmentThatPredictsAcrossExamples) {
  Example a = ex({1, 2}), b = ex({3, 4});
  PackedBatch p = collate({&a, &b}, Packing::Naive, 0);
  EXPECT_EQ(p.cu_seqlens, (std::vector<int32_t>{0, 4}));
  EXPECT_EQ(p.position_ids, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(p.labels, (std::vector<int32_t>{2, 3, 4, kIgnoreLabel}));
}

TEST(Collate, BestFitDecreasingPacksTightly) {
  auto bins = best_fit_decreasing({5, 4, 3, 3, 2, 1}, 6);
  // 5+1, 4+2, 3+3: three full bins.
  ASSERT_EQ(bins.size(), 3u);
  for (const auto& bin : bins) {
    int64_t sum = 0;
    for (size_t i : bin) sum += std::vector<int64_t>{5, 4, 3, 3, 2, 1}[i];
    EXPECT_EQ(sum, 6);
  }
  EXPECT_THROW(best_fit_decreasing({7}, 6), Error);
}

TEST(Collate, PlansCoverEveryExampleOnce) {
  std::vector<Example> examples;
  for (int i = 1; i <= 20; ++i) examples.push_back(ex(std::vector<int32_t>(static_cast<size_t>(i % 7 + 2), 1)));
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (Packing mode : {Packing::None, Packing::PaddingFree, Packing::Bin}) {
    auto groups = plan_micro_batches(examples, order, mode, 3, 16);
    std::vector<int> seen(examples.size(), 0);
    for (const auto& g : groups) {
      int64_t tokens = 0;
      for (size_t i : g) {
        ++seen[i];
        tokens += static_cast<int64_t>(examples[i].size());
      }
      if (mode == Packing::Bin) {
        EXPECT_LE(tokens, 16);
      }
    }
    for (int s : seen) EXPECT_EQ(s, 1);
  }
}

TEST(Collate, RejectsUnknownModeWithTheValidList) {
  try {
    packing_from_name("pad");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("padding_free"), std::string::npos);
  }
}
