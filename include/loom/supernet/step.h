// One supernet training step over several subnets, for any family and task:
// the maxnet runs first on the batch and learns from its task loss; every
// other subnet learns from (1 − α)·task + α·KD(logits) + β·Σ KD(hidden), with
// the maxnet's outputs of the same step as the teacher; subnet j's loss (so
// its gradient) is scaled by (n_max / n_j)^γ (MLFS); each subnet's backward
// runs right after its forward, so gradients accumulate and only one graph
// is alive at a time. The caller then takes one optimizer step.
//
//   loom::StepReport r = loom::supernet_step(subnets, [&](const loom::Genome& g, const loom::PassRequest& q) {
//     loom::SubnetPass p;  // run subnet g on the batch
//     ...
//     return p;
//   }, distill, trainable_count, projection);
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/supernet/space.h"

namespace loom {

struct DistillOptions {
  double alpha = 0.9;        // subnets: (1 − α)·task + α·KD on logits (MLFS: 0.9)
  double beta = 0.1;         // hidden-state distillation, per mapped layer (MLFS: 0.1)
  double temperature = 1.0;  // softening of both distributions (MLFS is silent: 1)
  double gamma = 0.0;        // gradient scale (n_max / n_j)^γ; 0 = off (MLFS does not give γ)
};
const ParamSchema<DistillOptions>& distill_options_schema();

// What the step asks of a subnet's forward pass.
struct PassRequest {
  bool is_maxnet = false;
  bool keep_hidden = false;  // β > 0: return hidden states
};

// What a subnet's forward pass returns.
struct SubnetPass {
  torch::Tensor task_loss;  // supervised loss, already normalised; undefined = none
  torch::Tensor logits;     // rows compared with the maxnet's rows in logit distillation
  double kd_rows = 0;       // divisor of the summed KL; 0 = the number of rows
  // The maxnet returns one hidden state per maxnet layer; a subnet returns
  // its own, and in hidden_teacher_layers the maxnet layer each one is
  // compared with (the layer mapping).
  std::vector<torch::Tensor> hidden;
  std::vector<int64_t> hidden_teacher_layers;
  torch::Tensor extra_loss;  // added to this subnet's loss as is (TOFA's consistency term)
};

struct SubnetStepReport {
  Genome genome;
  double loss = 0, task = 0, kd = 0, hidden = 0, extra = 0, scale = 1;
};
struct StepReport {
  std::vector<SubnetStepReport> subnets;
  double total = 0;  // Σ of the scaled losses
  nlohmann::json to_json() const;
};

using SubnetForward = std::function<SubnetPass(const Genome& genome, const PassRequest& request)>;
using TrainableCount = std::function<int64_t(const Genome& genome)>;
// The [r, d_max] projection used to distil maxnet layer `layer`'s hidden
// state; an undefined tensor (or an empty function) compares first-k channels.
using HiddenProjection = std::function<torch::Tensor(int64_t layer)>;

// subnets[0] must be the maxnet. Gradients accumulate into the parameters
// the passes use; nothing is zeroed or stepped here.
StepReport supernet_step(const std::vector<Genome>& subnets, const SubnetForward& forward,
                         const DistillOptions& options, const TrainableCount& trainable,
                         const HiddenProjection& projection = {});

}  // namespace loom
