// Puts a module in evaluation mode (dropout off) for one scope, restoring
// its training flag afterwards.
//
//   { loom::EvalModeScope eval(*model); ... }
#pragma once
#include <torch/nn/module.h>

namespace loom {

class EvalModeScope {
 public:
  explicit EvalModeScope(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvalModeScope() { module_.train(was_training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

}  // namespace loom
