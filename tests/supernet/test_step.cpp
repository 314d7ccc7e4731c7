// The generic supernet step on a model that is not a transformer: a linear
// classifier whose subnets read the first k input features (first-k
// slicing of one shared weight), so TOFA's and MLFS's families share it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "error_message.h"
#include "loom/supernet/distill.h"
#include "loom/supernet/step.h"

using namespace loom;
using loom::testing::error_of;

namespace {

struct Toy {
  torch::Tensor weight = torch::randn({3, 6}, torch::requires_grad());
  torch::Tensor x = torch::randn({5, 6});
  torch::Tensor y = torch::tensor({0, 1, 2, 1, 0}, torch::kLong);
  torch::Tensor logits(int64_t k) const { return torch::matmul(x.narrow(1, 0, k), weight.narrow(1, 0, k).t()); }
  // The hidden state of subnet k: its first k sliced features times the weight's columns.
  torch::Tensor hidden(int64_t k) const { return x.narrow(1, 0, k) * weight.narrow(1, 0, k).sum(0); }
  SubnetPass pass(const Genome& g, const PassRequest& q) const {
    SubnetPass p;
    p.logits = logits(g[0]);
    p.task_loss = torch::nn::functional::cross_entropy(p.logits, y);
    if (q.keep_hidden) {
      p.hidden = {hidden(g[0])};
      if (!q.is_maxnet) p.hidden_teacher_layers = {0};
    }
    return p;
  }
  torch::Tensor grad_of(const torch::Tensor& loss) const {
    return torch::autograd::grad({loss}, {weight}, {}, /*retain_graph=*/false, false, /*allow_unused=*/true)[0];
  }
};

}  // namespace

// ∇ = ∇L_max + (n_max/n_j)^γ ∇[(1 − α) CE_j + α KL_j / rows + β H_j], with
// the maxnet's logits and hidden states as constants in the subnet's terms.
TEST(SupernetStep, GenericStepGradientIsTheHandComputedScaledSum) {
  torch::manual_seed(1);
  Toy toy;
  DistillOptions d;
  d.alpha = 0.7;
  d.beta = 0.3;
  d.gamma = 0.5;
  d.temperature = 2.0;
  auto trainable = [](const Genome& g) { return 3 * g[0]; };
  StepReport r = supernet_step(
      {{6}, {2}}, [&](const Genome& g, const PassRequest& q) { return toy.pass(g, q); }, d, trainable);
  auto got = toy.weight.grad().clone();

  auto teacher_logits = toy.logits(6).detach();
  auto teacher_hidden = toy.hidden(6).detach();
  auto g_max = toy.grad_of(torch::nn::functional::cross_entropy(toy.logits(6), toy.y));
  auto s = toy.logits(2);
  auto sub_loss = (1 - d.alpha) * torch::nn::functional::cross_entropy(s, toy.y) +
                  d.alpha * kd_kl_sum(s, teacher_logits, d.temperature) / 5.0 +
                  d.beta * (toy.hidden(2) - teacher_hidden.narrow(1, 0, 2)).pow(2).mean();
  const double scale = std::pow(18.0 / 6.0, 0.5);
  auto g_sub = toy.grad_of(sub_loss);
  EXPECT_NEAR(r.subnets[1].scale, scale, 1e-12);
  EXPECT_NEAR(r.total, r.subnets[0].loss + scale * sub_loss.item<double>(), 1e-5);
  EXPECT_TRUE(torch::allclose(got, g_max + scale * g_sub, 1e-5, 1e-6));
  // The subnet's slice is the only part of the weight its terms reach.
  EXPECT_TRUE(torch::allclose(got.narrow(1, 2, 4), g_max.narrow(1, 2, 4), 1e-6, 1e-7));
}

TEST(SupernetStep, GenericStepRefusesWhatItCannotUse) {
  Toy toy;
  auto no_loss = [&](const Genome&, const PassRequest&) { return SubnetPass{}; };
  EXPECT_NE(error_of([&] { supernet_step({{6}}, no_loss, DistillOptions{}, {}); }).find("no task loss"),
            std::string::npos);
  EXPECT_NE(error_of([&] { supernet_step({}, no_loss, DistillOptions{}, {}); }).find("no subnets"), std::string::npos);
  auto bad_layer = [&](const Genome& g, const PassRequest& q) {
    SubnetPass p = toy.pass(g, q);
    if (!q.is_maxnet) p.hidden_teacher_layers = {3};
    return p;
  };
  EXPECT_NE(error_of([&] {
              supernet_step({{6}, {2}}, bad_layer, DistillOptions{}, [](const Genome& g) { return g[0]; });
            }).find("mapped to maxnet layer 3, but the maxnet returned 1"),
            std::string::npos);
}
