// The losses a supernet step combines, as plain functions on tensors:
// distillation of logits (KL from the teacher's softened distribution) and
// of hidden states (through a low-dimensional projection of the teacher's,
// sliced to the student's width), FixMatch's consistency term on unlabelled
// data, and MLFS's gradient scale for a subnet.
//
//   auto kd = loom::kd_kl_sum(student_logits, teacher_logits.detach(), /*temperature=*/1.0) / rows;
//   auto pl = loom::pseudo_labels(teacher_weak_logits, 0.95);
//   auto u = loom::consistency_loss(student_strong_logits, pl);
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace loom {

// Σ_rows T² · KL(softmax(teacher/T) ‖ softmax(student/T)); rows are the
// first dimension. Hinton's T² keeps gradients comparable across T.
torch::Tensor kd_kl_sum(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits, double temperature);

// Mean squared error between the student's hidden states [N, d_s] and the
// teacher's [N, d_t] (d_s <= d_t) after both are projected to r dimensions
// by `projection` [r, d_t] (the student sees its first d_s columns). An
// undefined projection compares the student with the teacher's first d_s
// channels (first-k slicing). The teacher side is detached.
torch::Tensor hidden_distill_loss(const torch::Tensor& student_hidden, const torch::Tensor& teacher_hidden,
                                  const torch::Tensor& projection);

// FixMatch: pseudo-labels are the teacher's argmax on weakly augmented
// inputs, kept where its top probability reaches `threshold`.
struct PseudoLabels {
  torch::Tensor labels;  // int64 [N]
  torch::Tensor mask;    // float [N], 1 where kept
  double kept_fraction() const;
};
PseudoLabels pseudo_labels(const torch::Tensor& teacher_logits, double threshold);
// (1/N) Σ mask_i · CE(student_i, label_i), N counting every unlabelled row:
// zero when no pseudo-label passes the threshold.
torch::Tensor consistency_loss(const torch::Tensor& student_logits, const PseudoLabels& targets);

// MLFS's scale for subnet j's gradient: (n_max / n_j)^γ, n = trainable
// parameters; γ = 0 turns scaling off.
double gradient_scale(int64_t max_trainable, int64_t subnet_trainable, double gamma);

}  // namespace loom
