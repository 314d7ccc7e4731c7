// The generic distillation losses and gradient scale on planted tensors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "loom/supernet/distill.h"

using namespace loom;

TEST(SupernetDistill, LossesHaveTheirKnownValuesOnPlantedTensors) {
  auto s = torch::tensor({{0.0, 0.0}, {1.0, -1.0}}, torch::kDouble);
  auto t = torch::tensor({{std::log(3.0), 0.0}, {1.0, -1.0}}, torch::kDouble);
  // Row 0: p = (3/4, 1/4) vs q = (1/2, 1/2): KL = 3/4 log(3/2) + 1/4 log(1/2); row 1: 0.
  const double kl = 0.75 * std::log(1.5) + 0.25 * std::log(0.5);
  EXPECT_NEAR(kd_kl_sum(s, t, 1.0).item<double>(), kl, 1e-12);
  EXPECT_NEAR(kd_kl_sum(t, t, 2.0).item<double>(), 0.0, 1e-12);
  // Hidden: student [2, 1], teacher [2, 2], projection [1, 2] = (1, 2).
  auto hs = torch::tensor({{1.0}, {0.0}}, torch::kDouble), ht = torch::tensor({{1.0, 1.0}, {2.0, 0.0}}, torch::kDouble);
  auto proj = torch::tensor({{1.0, 2.0}}, torch::kDouble);
  // Student projections (1, 0), teacher (3, 2): MSE = (4 + 4) / 2 = 4.
  EXPECT_NEAR(hidden_distill_loss(hs, ht, proj).item<double>(), 4.0, 1e-12);
  // Without projection: (1 - 1)^2, (0 - 2)^2 -> 2.
  EXPECT_NEAR(hidden_distill_loss(hs, ht, torch::Tensor()).item<double>(), 2.0, 1e-12);
  // Consistency: teacher confident (0.95+) on row 0 only.
  auto teacher = torch::tensor({{5.0, 0.0}, {0.2, 0.0}}), student = torch::tensor({{0.0, 0.0}, {3.0, -3.0}});
  auto pl = pseudo_labels(teacher, 0.95);
  EXPECT_EQ(pl.labels[0].item<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(pl.kept_fraction(), 0.5);
  EXPECT_NEAR(consistency_loss(student, pl).item<double>(), std::log(2.0) / 2, 1e-6);
  EXPECT_EQ(consistency_loss(student, pseudo_labels(teacher, 0.999)).item<double>(), 0.0);
  EXPECT_NEAR(gradient_scale(400, 100, 0.5), 2.0, 1e-12);
  EXPECT_EQ(gradient_scale(400, 100, 0.0), 1.0);
}
