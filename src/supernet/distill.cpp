#include "loom/supernet/distill.h"

#include <torch/torch.h>

#include <cmath>

#include "loom/core/error.h"

namespace loom {

torch::Tensor kd_kl_sum(const torch::Tensor& student_logits, const torch::Tensor& teacher_logits, double temperature) {
  if (student_logits.sizes() != teacher_logits.sizes())
    throw Error("distillation: student logits " + c10::str(student_logits.sizes()) + " and teacher logits " +
                c10::str(teacher_logits.sizes()) + " differ in shape");
  if (temperature <= 0) throw Error("distillation: temperature must be positive");
  auto log_p_student = torch::log_softmax(student_logits / temperature, -1);
  auto log_p_teacher = torch::log_softmax(teacher_logits / temperature, -1);
  auto kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum();
  return kl * (temperature * temperature);
}

torch::Tensor hidden_distill_loss(const torch::Tensor& student_hidden, const torch::Tensor& teacher_hidden,
                                  const torch::Tensor& projection) {
  const int64_t ds = student_hidden.size(-1), dt = teacher_hidden.size(-1);
  if (student_hidden.size(0) != teacher_hidden.size(0) || ds > dt)
    throw Error("hidden distillation: student " + c10::str(student_hidden.sizes()) + " does not fit teacher " +
                c10::str(teacher_hidden.sizes()));
  auto teacher = teacher_hidden.detach();
  if (!projection.defined()) return (student_hidden - teacher.narrow(-1, 0, ds)).pow(2).mean();
  if (projection.dim() != 2 || projection.size(1) != dt)
    throw Error("hidden distillation: projection " + c10::str(projection.sizes()) + " does not map " +
                std::to_string(dt) + " channels");
  auto p = projection.detach();
  auto s = torch::matmul(student_hidden, p.narrow(1, 0, ds).t());
  auto t = torch::matmul(teacher, p.t());
  return (s - t).pow(2).mean();
}

double PseudoLabels::kept_fraction() const { return mask.numel() ? mask.mean().item<double>() : 0.0; }

PseudoLabels pseudo_labels(const torch::Tensor& teacher_logits, double threshold) {
  torch::NoGradGuard no_grad;
  auto probs = torch::softmax(teacher_logits.detach(), -1);
  auto [top, labels] = probs.max(-1);
  return {labels, top.ge(threshold).to(torch::kFloat)};
}

torch::Tensor consistency_loss(const torch::Tensor& student_logits, const PseudoLabels& targets) {
  if (student_logits.size(0) != targets.labels.size(0))
    throw Error("consistency loss: " + std::to_string(student_logits.size(0)) + " rows of logits for " +
                std::to_string(targets.labels.size(0)) + " pseudo-labels");
  if (student_logits.size(0) == 0) return student_logits.sum() * 0.0;
  auto ce = torch::nn::functional::cross_entropy(
      student_logits, targets.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return (ce * targets.mask).sum() / static_cast<double>(student_logits.size(0));
}

double gradient_scale(int64_t max_trainable, int64_t subnet_trainable, double gamma) {
  if (gamma == 0) return 1.0;
  if (max_trainable <= 0 || subnet_trainable <= 0)
    throw Error("gradient scaling needs positive trainable-parameter counts");
  return std::pow(static_cast<double>(max_trainable) / static_cast<double>(subnet_trainable), gamma);
}

}  // namespace loom
