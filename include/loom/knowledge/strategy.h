// Continual knowledge addition: a run adds domains one round at a time, and a
// named strategy decides how each round's model is made. Strategies see the
// data only through a RoundContext, which enforces the setting:
//
//   semi_cooperative   a round reads only its own domain's data (earlier
//                      rounds' models and adapters stay readable)
//   fully_cooperative  every earlier domain's data is readable too
//
// Built-in strategies: sequential, replay, joint, olora, merge_average,
// merge_ties, merge_dare. More (e.g. MoE mixing) join with register_strategy.
//
//   auto s = loom::make_strategy("replay", options);
//   LlamaForCausalLM next = s->run_round(context);
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loom/core/dataset.h"
#include "loom/core/tokenizer.h"
#include "loom/knowledge/domains.h"
#include "loom/merge/merge.h"
#include "loom/models/llama/llama.h"
#include "loom/adapters/lora_config.h"
#include "loom/train/train_options.h"
#include "loom/train/trainer.h"

namespace loom {

enum class Setting { SemiCooperative, FullyCooperative };
enum class Tuning { Lora, Full };
Setting setting_from_name(const std::string& name, const std::string& origin);
Tuning tuning_from_name(const std::string& name, const std::string& origin);
const char* setting_name(Setting s);
const char* tuning_name(Tuning t);

// Everything a run is configured with (see knowledge_param_specs()).
struct KnowledgeOptions {
  std::string base_model;      // model directory pretrained with the core
  std::string base_eval_data;  // held-out base-corpus text (JSONL) for perplexity
  int64_t base_eval_max_batches = 20;
  std::vector<std::string> domains;
  DomainOptions domain_options;
  bool eval_on_train = true;  // score a sample of trained items (recall) rather than held-out ones
  std::string strategy = "sequential";
  Setting setting = Setting::SemiCooperative;
  Tuning tuning = Tuning::Lora;
  LoraConfig lora;
  TrainOptions train;  // per-round training loop (lr replaced per tuning)
  double lora_lr = 1e-3, full_lr = 1e-4;
  int64_t steps_per_round = 200;
  double replay_w_hist = 0.5;
  bool joint_balanced = false;
  double olora_lambda = 0.1;
  LoraMergeMode lora_merge = LoraMergeMode::Delta;
  double merge_density = 0.2;
  uint64_t seed = 0;
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
  virtual LlamaForCausalLM base_model() const = 0;      // a fresh copy
  virtual LlamaForCausalLM previous_model() const = 0;  // after round-1 (the base in round 0)
  // Directory of round t's artefacts (t <= round): t's trainer writes
  // DIR/train/{model,adapter} there.
  virtual std::string round_dir(int t) const = 0;
  // Trains `start` on `data` with the run's tuning mode and loop settings
  // into round_dir(round)/train (resumable); with LoRA the adapter is still
  // attached on return. `configure` may add regularisers before training.
  virtual LlamaForCausalLM train(LlamaForCausalLM start, std::vector<Example> data, int64_t steps,
                                 const std::function<void(Trainer&)>& configure = {}) = 0;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // True when a round reads earlier domains' data: refused in semi-cooperative runs.
  virtual bool needs_past_data() const = 0;
  // Throws if the strategy cannot run with these options (e.g. O-LoRA with full tuning).
  virtual void check(const KnowledgeOptions& options) const {}
  // The dense model after this round (adapters merged).
  virtual LlamaForCausalLM run_round(RoundContext& context) = 0;
};

using StrategyFactory = std::function<std::unique_ptr<Strategy>(const KnowledgeOptions&)>;
void register_strategy(const std::string& name, const std::string& help, StrategyFactory factory);
std::vector<std::pair<std::string, std::string>> strategy_names_and_help();
// Unknown names are an error listing the valid ones.
std::unique_ptr<Strategy> make_strategy(const std::string& name, const KnowledgeOptions& options);

// Replay's resampling: n examples drawn from `data`, cycling through seeded
// shuffles so that every example is used before any repeats.
std::vector<Example> resample_examples(const std::vector<Example>& data, size_t n, uint64_t seed);

// O-LoRA's penalty Σ_modules Σ |A_new · A_prevᵀ| (elementwise L1), where each
// A_prev stacks earlier rounds' A matrices along the rank dimension.
torch::Tensor olora_penalty(const std::vector<torch::Tensor>& a_new, const std::vector<torch::Tensor>& a_prev);

}  // namespace loom
