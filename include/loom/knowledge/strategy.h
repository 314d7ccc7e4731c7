// Continual knowledge addition: a run adds domains one round at a time, and a
// named strategy decides how each round's model is made. Strategies see the
// data only through a RoundContext, which enforces the setting:
//
//   semi_cooperative   a round reads only its own domain's data (earlier
//                      rounds' models and adapters stay readable)
//   fully_cooperative  every earlier domain's data is readable too
//
// Strategies live in a registry (strategies()), one file each under
// src/knowledge/strategies/, and declare their own parameters (replay's
// replay_w_hist, O-LoRA's olora_lambda, ...), which join the knowledge
// commands' configuration keys. Modules built on this one (MoE mixing) add
// theirs with strategies().add(...).
//
//   auto s = loom::make_strategy("replay", options);
//   CausalLM next = s->run_round(context);
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loom/adapters/tuning.h"
#include "loom/core/dataset.h"
#include "loom/core/params.h"
#include "loom/core/registry.h"
#include "loom/core/tokenizer.h"
#include "loom/knowledge/domains.h"
#include "loom/models/causal_lm.h"
#include "loom/train/train_options.h"
#include "loom/train/trainer.h"

namespace loom {

enum class Setting { SemiCooperative, FullyCooperative };
Setting setting_from_name(const std::string& name, const std::string& origin);
const char* setting_name(Setting s);

// The per-round training loop's defaults follow the paper: constant learning
// rate, no warmup, no weight decay.
TrainOptions knowledge_round_defaults();

// Everything a run is configured with (see knowledge_param_specs()).
// LoRA's defaults in the knowledge harness: r 16, alpha 32, dropout 0.05 on
// every linear layer (the paper is silent; the command line's are r 8, alpha 16).
LoraConfig knowledge_lora_defaults();
// The harness's domain sizes: 50 training facts per domain, 20 scored (the
// general DomainOptions keep every usable item up to 1500 / 100).
DomainOptions knowledge_domain_defaults();

struct KnowledgeOptions {
  std::string base_model;      // model directory pretrained with the core
  std::string base_eval_data;  // held-out base-corpus text (JSONL) for perplexity
  int64_t base_eval_max_batches = 20;
  // The base's pretraining text (JSONL): domain items found in it (or in
  // base_eval_data) are refused or dropped (knowledge/contamination.h).
  std::vector<std::string> pretrain_data;
  std::string contamination = "refuse";  // refuse | drop
  std::vector<std::string> domains = {"elements", "eng_fra", "eng_spa"};
  DomainOptions domain_options = knowledge_domain_defaults();
  std::string eval_on = "train";  // train: recall of trained items; test: held-out items
  // General ability beyond perplexity: four-way definition choice from a
  // dictionary that is no domain, scored by log-likelihood; "" = off.
  std::string choice_dictionary = "jargon";
  int64_t choice_items = 60;
  std::string strategy = "sequential";
  Setting setting = Setting::SemiCooperative;
  TuningOptions tuning{Tuning::Lora, knowledge_lora_defaults()};
  TrainOptions train = knowledge_round_defaults();  // per-round training loop (lr replaced per tuning)
  // Chosen so that full tuning recalls >= 0.8 of each round's facts
  // (docs/knowledge.md, "Choices"); the paper's 2e-5 is for billion-parameter models.
  double lora_lr = 2e-3, full_lr = 1e-3;
  int64_t steps_per_round = 80;
  uint64_t seed = 0;
  // knowledge compare's grid
  std::vector<std::string> strategies = {"sequential", "replay"};
  std::vector<std::string> tunings = {"lora", "full"};
  std::vector<std::string> seeds = {"0"};
  // The resolved parameters of the run, from which each strategy reads its
  // own; null = every strategy's defaults.
  std::shared_ptr<const Params> strategy_params;

  bool eval_on_train() const { return eval_on == "train"; }
};

class RoundContext {
 public:
  virtual ~RoundContext() = default;
  virtual int round() const = 0;  // 0-based
  virtual const KnowledgeOptions& options() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;
  // Training examples of domain j. Earlier domains (j < round) throw in a
  // semi-cooperative run; later ones always throw.
  virtual const std::vector<Example>& training_data(int j) const = 0;
  virtual CausalLM base_model() const = 0;      // a fresh copy
  virtual CausalLM previous_model() const = 0;  // after round-1 (the base in round 0)
  // Directory of round t's artefacts (t <= round): t's trainer writes
  // DIR/train/{model,adapter} there.
  virtual std::string round_dir(int t) const = 0;
  // Trains `start` on `data` with the run's tuning mode and loop settings
  // into round_dir(round)/train (resumable); with LoRA the adapter is still
  // attached on return. `configure` may add regularisers before training.
  virtual CausalLM train(CausalLM start, std::vector<Example> data, int64_t steps,
                         const std::function<void(Trainer&)>& configure = {}) = 0;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // True when a round reads earlier domains' data: refused in semi-cooperative runs.
  virtual bool needs_past_data() const = 0;
  // Throws if the strategy cannot run with these options (e.g. O-LoRA with full tuning).
  virtual void check(const KnowledgeOptions&) const {}
  // The dense model after this round (adapters merged).
  virtual CausalLM run_round(RoundContext& context) = 0;
};

struct StrategyEntry {
  std::string help;
  // The strategy's own parameters (configuration keys).
  std::vector<ParamSpec> params;
  // Builds the strategy; `params` holds at least its own parameters.
  std::function<std::unique_ptr<Strategy>(const Params& params, const KnowledgeOptions& options)> make;
};
Registry<StrategyEntry>& strategies();
// Every registered strategy's parameters, each name once.
std::vector<ParamSpec> strategy_param_specs();

using StrategyFactory = std::function<std::unique_ptr<Strategy>(const KnowledgeOptions&)>;
// A strategy without parameters of its own.
void register_strategy(const std::string& name, const std::string& help, StrategyFactory factory);
// Unknown names are an error listing the valid ones; refuses strategies that
// cannot run in the options' setting.
std::unique_ptr<Strategy> make_strategy(const std::string& name, const KnowledgeOptions& options);

// Replay's resampling: n examples drawn from `data`, cycling through seeded
// shuffles so that every example is used before any repeats.
std::vector<Example> resample_examples(const std::vector<Example>& data, size_t n, uint64_t seed);

// O-LoRA's penalty Σ_modules Σ |A_new · A_prevᵀ| (elementwise L1), where each
// A_prev stacks earlier rounds' A matrices along the rank dimension.
torch::Tensor olora_penalty(const std::vector<torch::Tensor>& a_new, const std::vector<torch::Tensor>& a_prev);

}  // namespace loom
