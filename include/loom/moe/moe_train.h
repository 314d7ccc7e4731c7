// Training a mixture's routers (`loom moe train`): every other weight is
// frozen (or, with trainable: routers_attention, all but the attention
// layers), the core's trainer runs with padding-free packing, checkpoints and
// exact resume, and an optional load-balancing loss (moe/routing.h) joins
// the language-model loss through the trainer's loss-term seam.
//
//   loom::MoeTrainOptions o;
//   o.model = "runs/moe"; o.train.train_data = "mixed.jsonl"; o.load_balance_coef = 0.01;
//   loom::train_moe(o, "runs/moe-trained", /*resume=*/true);   // writes runs/moe-trained/model
#pragma once
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/moe/moe_model.h"
#include "loom/train/trainer.h"

namespace loom {

// Router training's loop defaults: a higher learning rate than fine-tuning
// (routers start near zero), no weight decay. Chosen at our scale, see docs/moe.md.
TrainOptions moe_train_defaults();

struct MoeTrainOptions {
  std::string model;                  // the mixture's model directory
  std::string trainable = "routers";  // routers | routers_attention
  // < 0: the mixture's router_aux_loss_coef; 0 = off.
  double load_balance_coef = -1;
  TrainOptions train = moe_train_defaults();
};
const ParamSchema<MoeTrainOptions>& moe_train_schema();

// Freezes every parameter except the routers (and, with routers_attention,
// the attention layers, their experts included). Returns how many stay trainable.
int64_t set_moe_trainable(MoeForCausalLMImpl& model, const std::string& trainable);

// coef · load_balancing_loss(router logits of the micro-batch), weighted by
// the micro-batch's share of the optimizer step's label tokens so that
// gradient accumulation averages it.
LossTerm load_balancing_term(double coef, int64_t top_k);

// Trains a loaded mixture into OUT (OUT/model at the end; resumable).
void train_moe_model(CausalLM model, const Tokenizer& tokenizer, std::vector<Example> train, std::vector<Example> valid,
                     const MoeTrainOptions& options, const std::string& out_dir, bool resume);
// Loads options.model and options.train's data, then trains.
void train_moe(const MoeTrainOptions& options, const std::string& out_dir, bool resume);

}  // namespace loom
