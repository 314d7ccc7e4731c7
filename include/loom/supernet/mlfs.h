// MLFS (Multistage Low-rank Fine-tuning of Super-transformers, arXiv
// 2404.01353): one training run that yields a palette of smaller models.
//
//   stage 0  fine-tune the teacher (the maxnet) on the task;
//   stage 1  freeze it, attach one shared LoRA (rank 8), and train subnets
//            sampled by width only;
//   stage 2  the same adapter, subnets sampled by width and depth.
//
// Every step samples the maxnet first, then subnets by the sampler (sandwich
// by default), distils the maxnet's logits (α) and hidden states (β,
// through the maxnet's LoRA down-projection sliced per subnet) into each,
// scales subnet j's gradient by (n_max / n_j)^γ, and takes one optimizer
// step (supernet/step.h). Before stage 1 the teacher's heads, FFN channels
// and hidden channels can be reordered by importance (Minitron), so that
// first-k slices keep the most important. Each stage is resumable; a run
// directory holds stage-0/, stage-1/, stage-2/ (model/, adapter/,
// metrics.jsonl, checkpoints/, done.json) and config.yaml.
//
// Encoders train through the supernet loop (loop.h) on topic classification;
// decoders through loom::Trainer with set_micro_batch_step on language
// modelling. pretrain_encoder() makes the small encoder teacher by masked-LM
// pretraining on the default corpus, with the classification task's
// evaluation items held out.
//
//   loom::MlfsOptions o = loom::mlfs_options_schema().read(params);
//   loom::train_mlfs(o, "runs/mlfs", /*resume=*/true);
//   loom::Supernet s = loom::load_supernet("runs/mlfs");
//   auto best = loom::search_subnet(s, loom::parse_budgets("params=2e5", "--budget"), {}, nullptr);
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/adapters/lora_config.h"
#include "loom/core/param_schema.h"
#include "loom/core/tokenizer.h"
#include "loom/supernet/elastic_transformer.h"
#include "loom/supernet/latency_table.h"
#include "loom/supernet/loop.h"
#include "loom/supernet/search.h"
#include "loom/supernet/step.h"
#include "loom/supernet/topics.h"
#include "loom/supernet/transformer_task.h"

namespace loom {

// ---------- masked-LM pretraining of the encoder teacher ----------

struct EncoderPretrainOptions {
  std::string corpus = "data/corpus/train.jsonl";  // `loom data --out data/corpus`
  TopicDataOptions topics;                         // whose valid/test items are held out
  int vocab_size = 2048;
  int64_t hidden_size = 64, intermediate_size = 128, num_layers = 4, num_heads = 4, num_kv_heads = 2;
  int64_t max_seq_len = 64;
  int64_t max_docs = 0;  // 0 = the whole corpus
  double mask_probability = 0.15;
  LoopOptions loop{600, 32, 2e-3, 0.1, 0.01, 0.9, 0.999, 30, 1.0, 50, 200, 0};
  uint64_t seed = 0;
  int threads = 1;
};
const ParamSchema<EncoderPretrainOptions>& encoder_pretrain_schema();

// The corpus documents pretraining uses: every one that neither equals nor
// contains a held-out item of the classification task.
std::vector<std::string> mlm_pretraining_texts(const EncoderPretrainOptions& options, size_t* removed);

// BERT's masking, in place: each maskable token (not BOS/EOS/PAD) is chosen
// with `probability`; of those 80 % become the mask token, 10 % a random
// token, 10 % stay. labels = the original token where chosen, -100
// elsewhere. Returns the number chosen (at least one per batch).
int64_t mask_for_mlm(BatchTensors* batch, const Tokenizer& tokenizer, int64_t mask_id, double probability,
                     at::Generator& gen);

// Trains a tokenizer (with <|mask|>) and a loom_encoder on the corpus minus
// the held-out items; writes OUT/model and OUT/pretrain.json.
nlohmann::json pretrain_encoder(const EncoderPretrainOptions& options, const std::string& out_dir, bool resume);

// ---------- MLFS ----------

enum class SupernetTuning { Lora, Full };
const EnumNames<SupernetTuning>& supernet_tuning_names();
enum class HiddenProjectionKind { LoraA, Slice };
const EnumNames<HiddenProjectionKind>& hidden_projection_names();

// Where the paper is silent, loom chooses (docs/supernet.md, "Choices"),
// and every choice is a key:
//  - stage lengths, learning rates and batch sizes: not given; stages 1-2
//    use a higher LR than stage 0 (only the adapter trains) and no weight
//    decay on it;
//  - lora_alpha = 2r (PEFT's common default) and LoRA on every projection;
//  - the task head (encoders) is new and trains beside the adapter in
//    stages 1-2 (PEFT's modules_to_save); the frozen teacher's weights
//    never move;
//  - hidden_projection: the "maxnet's low-dimensional projections" are
//    read as the shared adapter's A of each layer's q_proj ([r, hidden],
//    first-k columns for a subnet, detached); `slice` compares first-k
//    channels instead;
//  - layer_mapping: a subnet layer is compared with the maxnet layer it
//    was sliced from (same) or the one at the same relative depth;
//  - gamma (the gradient-scale exponent) is not given: tuned on seed 0's
//    validation score by the experiment, 0 = off by default;
//  - importance reordering (Minitron) before stage 1 is loom's addition,
//    on by default, an ablation in the docs.
struct MlfsOptions {
  TaskKind task = TaskKind::Classify;
  std::string teacher;  // model directory: a loom_encoder (classify) or a llama decoder (lm)
  TopicDataOptions topics;
  std::string train_data = "data/corpus/train.jsonl", valid_data = "data/corpus/valid.jsonl";
  int64_t max_train_examples = 0, max_valid_examples = 200;
  int64_t max_seq_len = 64;

  LoopOptions stage0{200, 16, 1e-3, 0.1, 0.01, 0.9, 0.999, 20, 1.0, 25, 100, 0};
  LoopOptions stage1{150, 16, 3e-3, 0.1, 0.0, 0.9, 0.999, 10, 1.0, 25, 100, 0};
  LoopOptions stage2{150, 16, 3e-3, 0.1, 0.0, 0.9, 0.999, 10, 1.0, 25, 100, 0};
  bool multistage = true;  // false: no stage 1; stage 2 takes stage1_steps + stage2_steps
  SupernetTuning tuning = SupernetTuning::Lora;
  int64_t lora_r = 8;  // MLFS: 8
  double lora_alpha = 16;
  std::string lora_targets = "all";
  bool importance_reorder = true;
  int64_t calibration_examples = 128;

  std::string sampler = "sandwich";  // MLFS is silent; Once-for-All's sandwich rule
  int64_t num_random = 2;
  TransformerSpaceOptions space;
  LayerMapping layer_mapping = LayerMapping::Same;
  HiddenProjectionKind hidden_projection = HiddenProjectionKind::LoraA;
  DistillOptions distill;  // α = 0.9, β = 0.1 (MLFS); T = 1 and γ = 0 where it is silent
  int64_t eval_batch_size = 32;
  uint64_t seed = 0;
  int threads = 1;
};
const ParamSchema<MlfsOptions>& mlfs_options_schema();

// What train_mlfs did, per stage: steps, CPU and wall seconds, maxnet and
// smallest-subnet validation scores. last_stage 0 trains the teacher only.
nlohmann::json train_mlfs(const MlfsOptions& options, const std::string& run_dir, bool resume, int last_stage = 2);

// The task's splits, tokenised with `tokenizer` (the teacher's).
TransformerTaskData mlfs_task_data(const MlfsOptions& options, const Tokenizer& tokenizer);

// A trained supernet: the model of the last stage with its adapter
// attached, its tokenizer, its options, search space and task data.
struct Supernet {
  MlfsOptions options;
  ElasticTransformer model{nullptr};
  Tokenizer tokenizer;
  ElasticSpace space;
  TransformerTaskData data;
  std::string run_dir;
  TransformerSpec spec_of(const Genome& genome) const;
};
Supernet load_supernet(const std::string& run_dir);

// Params, FLOPs (one sequence of max_seq_len tokens) and, with a table,
// latency: per layer configuration and for the embedding + head, measured
// on a dense layer of that shape (batch of one sequence, this thread count).
SubnetCost transformer_cost(ElasticTransformerImpl& model, const TransformerSpec& spec, int64_t seq_len,
                            LatencyTable* latency);

struct SubnetChoice {
  TransformerSpec spec;
  Genome genome;
  SubnetCost cost;
  double score = 0;  // the validation score searched on
  TaskScore valid;   // validation accuracy / loss
  int64_t scored = 0;
  nlohmann::json to_json() const;
};
// The best subnet under the budgets by evolutionary search on the
// validation score (accuracy, loss as tie-break; minus loss for LM).
SubnetChoice search_subnet(Supernet& supernet, const std::vector<Budget>& budgets, const SearchOptions& options,
                           LatencyTable* latency);

// Writes the dense model of `spec` (LoRA merged) as a model directory, with
// spec.json beside config.json.
void extract_subnet_dir(Supernet& supernet, const TransformerSpec& spec, const std::string& out_dir);

}  // namespace loom
