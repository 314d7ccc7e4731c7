#include "loom/moe/moe_train.h"

#include <iostream>
#include <set>

#include "loom/core/error.h"
#include "loom/models/model_dir.h"
#include "loom/moe/routing.h"

namespace loom {

// Where the paper is silent: routers start near zero (N(0, 0.02)), so they
// get a higher rate than fine-tuning's 3e-4, a short warm-up and no weight
// decay (docs/moe.md, "Choices"). Every value is a flag.
TrainOptions moe_train_defaults() {
  TrainOptions t;
  t.dataset.max_seq_len = 128;
  t.max_steps = 200;
  t.micro_batch_size = 16;
  t.lr = 5e-3;
  t.warmup_steps = 10;
  t.weight_decay = 0;
  t.eval_every = 50;
  t.checkpoint_every = 50;
  t.keep_checkpoints = 1;
  return t;
}

const ParamSchema<MoeTrainOptions>& moe_train_schema() {
  using O = MoeTrainOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("model", &O::model, "the mixture's model directory (loom moe mix or blend)")
        .add_choice("trainable", &O::trainable, {"routers", "routers_attention"},
                    "what trains: the routers only, or the routers and the attention layers")
        .add("load_balance_coef", &O::load_balance_coef,
             "load-balancing loss coefficient; 0 = off; negative = the mixture's router_aux_loss_coef", {-1, 1e6})
        .include<TrainOptions>(train_options_schema(), [](O& o) -> TrainOptions& { return o.train; });
    return s;
  }();
  return schema;
}

int64_t set_moe_trainable(MoeForCausalLMImpl& model, const std::string& trainable) {
  if (trainable != "routers" && trainable != "routers_attention")
    throw Error("trainable: unknown value '" + trainable + "'; valid: routers, routers_attention");
  const auto router_names = model.router_parameter_names();
  if (router_names.empty() && trainable == "routers")
    throw Error("the mixture is gate-less: it has no router to train (trainable: routers_attention trains attention)");
  std::set<std::string> routers(router_names.begin(), router_names.end());
  int64_t n = 0;
  for (auto& p : model.named_parameters()) {
    const bool on = routers.count(p.key()) ||
                    (trainable == "routers_attention" && p.key().find(".self_attn.") != std::string::npos);
    p.value().set_requires_grad(on);
    n += on ? p.value().numel() : 0;
  }
  return n;
}

LossTerm load_balancing_term(double coef, int64_t top_k) {
  return [coef, top_k](const LossContext& c) {
    const auto& logits = c.output.record.router_logits;
    if (logits.empty()) return c.output.hidden.sum() * 0.0;
    // A choice the paper leaves open: each micro-batch's term is weighted by its
    // share of the step's label tokens, so that gradient accumulation averages
    // it as it averages the language-model loss.
    const double share = static_cast<double>(c.batch.num_label_tokens) / c.label_normalizer;
    return load_balancing_loss(logits, top_k) * (coef * share);
  };
}

void train_moe_model(CausalLM model, const Tokenizer& tokenizer, std::vector<Example> train, std::vector<Example> valid,
                     const MoeTrainOptions& o, const std::string& out_dir, bool resume) {
  auto moe = as_moe(model, o.model.empty() ? "moe train" : o.model);
  const int64_t trainable = set_moe_trainable(*moe, o.trainable);
  const double coef = o.load_balance_coef < 0 ? moe->moe_config().router_aux_loss_coef : o.load_balance_coef;
  auto comm = Communicator::create(DistOptions{});
  Trainer trainer(o.train, model, tokenizer, std::move(train), std::move(valid), comm.get(), out_dir);
  if (coef > 0) trainer.add_loss_term(load_balancing_term(coef, moe->moe_config().top_k));
  std::cerr << "loom: training " << trainable << " of " << moe->total_parameters() << " parameters (" << o.trainable
            << "), load-balancing coefficient " << coef << "\n";
  trainer.run(resume);
}

void train_moe(const MoeTrainOptions& o, const std::string& out_dir, bool resume) {
  if (o.model.empty()) throw Error("model is required (a directory from loom moe mix or blend)");
  if (o.train.train_data.empty()) throw Error("train_data is required (a small mixed JSONL set)");
  LoadedModel m = load_model_dir(o.model);
  as_moe(m.model, o.model);
  auto examples = load_jsonl_examples(o.train.train_data, m.tokenizer, o.train.dataset);
  std::vector<Example> train, valid;
  if (!o.train.valid_data.empty()) {
    train = std::move(examples);
    DatasetOptions vopts = o.train.dataset;
    vopts.empty = EmptyPolicy::Skip;
    valid = load_jsonl_examples(o.train.valid_data, m.tokenizer, vopts);
  } else {
    split_train_valid(std::move(examples), o.train.valid_fraction, o.train.seed, &train, &valid);
  }
  train_moe_model(m.model, m.tokenizer, std::move(train), std::move(valid), o, out_dir, resume);
}

}  // namespace loom
