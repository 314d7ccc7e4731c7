// moe_mix: each round trains the new domain's expert from the base, then
// mixes every expert so far (and the base as expert 0) into one MoE: whole
// MLPs of fully tuned experts (mix_models), or the LoRA adapters themselves
// on the frozen base (blend_adapters). With a gate-less or noisy (random,
// untrained) router no earlier data is read, so it runs semi-cooperatively;
// a trained router needs every domain's data and so a fully-cooperative run.
#include "strategy_moe_mix.h"

#include <ATen/CPUGeneratorImpl.h>

#include "loom/core/error.h"
#include "loom/moe/mix.h"
#include "loom/moe/moe_train.h"

namespace loom {

namespace {

struct MoeMixOptions {
  std::string router = "gateless";  // gateless | noisy | trained
  int64_t top_k = 2;
  bool base_expert = true;
  int64_t router_steps = 100;
  double router_lr = 5e-3;
  int64_t router_examples = 64;
  double load_balance = 0.0;
};

const ParamSchema<MoeMixOptions>& moe_mix_schema() {
  using O = MoeMixOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add_choice("moe_router", &O::router, {"gateless", "noisy", "trained"},
                 "moe_mix: gateless (1/N average), noisy (random router, untrained) or trained (router trained on "
                 "every domain so far; fully_cooperative only)")
        .add("moe_top_k", &O::top_k, "moe_mix: experts per token (capped at the experts so far); 0 = dense",
             {0, 1 << 20})
        .add("moe_base_expert", &O::base_expert,
             "moe_mix with full tuning: the base model is expert 0 beside the domain experts")
        .add("moe_router_steps", &O::router_steps, "moe_mix trained: router optimizer steps per round", {1, 1e9})
        .add("moe_router_lr", &O::router_lr, "moe_mix trained: router learning rate", {0, 100})
        .add("moe_router_examples", &O::router_examples,
             "moe_mix trained: examples drawn from each domain so far for the router", {1, 1e9})
        .add("moe_load_balance", &O::load_balance, "moe_mix trained: load-balancing loss coefficient; 0 = off",
             {0, 1e6});
    return s;
  }();
  return schema;
}

class MoeMix : public Strategy {
 public:
  explicit MoeMix(MoeMixOptions o) : o_(std::move(o)) {}
  bool needs_past_data() const override { return o_.router == "trained"; }
  void check(const KnowledgeOptions& options) const override {
    if (o_.router == "trained" && options.setting == Setting::SemiCooperative)
      throw Error(
          "moe_mix: moe_router trained needs every domain's data to train the router, which a "
          "semi_cooperative run does not keep; use moe_router gateless or noisy, or setting: "
          "fully_cooperative");
  }

  CausalLM run_round(RoundContext& ctx) override {
    const int t = ctx.round();
    const KnowledgeOptions& o = ctx.options();
    ctx.train(ctx.base_model(), ctx.training_data(t), o.steps_per_round);
    const bool lora = o.tuning.tuning == Tuning::Lora;
    const int64_t experts = t + 1 + (!lora && o_.base_expert ? 1 : 0);
    RouterInitOptions init;
    init.seed = o.seed * 1000 + static_cast<uint64_t>(t);
    const int64_t k = std::min(o_.top_k, experts);
    MixResult mixed;
    if (lora) {
      // W₀x always runs in a blend: the base needs no expert slot of its own.
      BlendOptions b;
      b.base_model = o.base_model;
      for (int j = 0; j <= t; ++j) b.adapters.push_back(ctx.round_dir(j) + "/train/adapter");
      b.top_k = k;
      b.gateless = o_.router == "gateless";
      b.init = init;
      mixed = blend_adapters(b);
    } else {
      MixOptions m;
      m.base_model = o.base_model;
      if (o_.base_expert) m.experts.push_back(o.base_model);
      for (int j = 0; j <= t; ++j) m.experts.push_back(ctx.round_dir(j) + "/train/model");
      m.top_k = k;
      m.gateless = o_.router == "gateless";
      m.init = init;
      mixed = mix_models(m);
    }
    if (o_.router == "trained") train_router(ctx, mixed);
    return mixed.model.ptr();
  }

 private:
  void train_router(RoundContext& ctx, const MixResult& mixed) const {
    const int t = ctx.round();
    std::vector<Example> data;
    for (int j = 0; j <= t; ++j) {
      auto part = resample_examples(ctx.training_data(j), static_cast<size_t>(o_.router_examples),
                                    ctx.options().seed * 7919 + static_cast<uint64_t>(t * 31 + j));
      data.insert(data.end(), part.begin(), part.end());
    }
    std::vector<Example> train, valid;
    split_train_valid(std::move(data), 0.1, ctx.options().seed, &train, &valid);
    MoeTrainOptions mo;
    mo.train = moe_train_defaults();
    mo.train.dataset = ctx.options().train.dataset;
    mo.train.micro_batch_size = ctx.options().train.micro_batch_size;
    mo.train.max_steps = o_.router_steps;
    mo.train.lr = o_.router_lr;
    mo.train.seed = ctx.options().seed * 1000 + static_cast<uint64_t>(t);
    mo.train.threads = ctx.options().train.threads;
    mo.train.progress = false;
    mo.train.eval_every = 0;
    mo.load_balance_coef = o_.load_balance;
    train_moe_model(mixed.model.ptr(), ctx.tokenizer(), std::move(train), std::move(valid), mo,
                    ctx.round_dir(t) + "/router", /*resume=*/true);
  }

  MoeMixOptions o_;
};

}  // namespace

void register_moe_mix_strategy(Registry<StrategyEntry>& r) {
  r.add("moe_mix", {"per-domain experts from the base, mixed into one MoE (full: MLP experts beside the base; LoRA: "
                    "adapter experts); router gateless, noisy or trained (moe_router)",
                    moe_mix_schema().specs(), [](const Params& p, const KnowledgeOptions&) {
                      return std::make_unique<MoeMix>(moe_mix_schema().read(p));
                    }});
}

}  // namespace loom
