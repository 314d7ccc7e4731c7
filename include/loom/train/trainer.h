// The training loop: AdamW, warmup + cosine schedule, gradient clipping,
// gradient accumulation with the loss normalised by the label-token count of
// the whole accumulated (and, with data parallelism, global) batch, periodic
// validation, metrics JSONL, atomic checkpoints with exact resume. It trains
// any CausalLM, and only the parameters that require gradients.
//
// Seams for methods built on it:
//   add_loss_term      a differentiable term per micro-batch that sees the
//                      batch and the model's outputs (distillation, router
//                      load balancing)
//   set_micro_batch_step  replaces forward/loss/backward of a micro-batch
//                      (several passes per batch, e.g. sandwich sampling)
//   add_regularizer    a term once per optimizer step (O-LoRA's penalty)
//   add_artifact_writer  writes more files beside OUT/model at the end
//                      (a PEFT adapter)
//
//   loom::Trainer trainer(opts, model, tokenizer, train, valid, comm.get(), "runs/x");
//   trainer.add_loss_term([](const loom::LossContext& c) { return 0.01 * c.output.hidden.pow(2).mean(); });
//   trainer.run(/*resume=*/true);
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loom/core/dataset.h"
#include "loom/core/tokenizer.h"
#include "loom/dist/communicator.h"
#include "loom/models/causal_lm.h"
#include "loom/train/train_options.h"

namespace loom {

// Yields micro-batch groups in a deterministic order, epoch after epoch; its
// (epoch, cursor) pair is all a checkpoint needs to continue exactly.
class DataCursor {
 public:
  DataCursor(const std::vector<Example>* examples, const Packing& packing, int64_t batch_size, int64_t token_budget,
             uint64_t seed);
  std::vector<size_t> next();
  int64_t epoch() const { return epoch_; }
  int64_t cursor() const { return cursor_; }
  void seek(int64_t epoch, int64_t cursor);

 private:
  void plan();
  const std::vector<Example>* examples_;
  Packing packing_;
  int64_t batch_size_, token_budget_;
  uint64_t seed_;
  int64_t epoch_ = 0, cursor_ = 0;
  std::vector<std::vector<size_t>> groups_;
};

struct LossStats {
  double loss = std::nan("");  // mean cross-entropy per label token
  double perplexity = std::nan("");
  int64_t label_tokens = 0;
};

// Mean token loss of `model` on `examples` (padding-free batches). With a
// communicator, ranks split the batches and sum. max_batches 0 = all.
LossStats evaluate_loss(CausalLMImpl& model, const std::vector<Example>& examples, int32_t pad_id,
                        int64_t micro_batch_size, int64_t max_batches = 0, Communicator* comm = nullptr);

struct StepResult {
  int64_t step;
  double loss, lr, grad_norm, tokens_per_s;
};

// What a loss term sees for one micro-batch.
struct LossContext {
  const BatchTensors& batch;
  CausalLMImpl& model;
  const ModelOutput& output;
  // The label-token count of the whole optimizer step (all micro-batches,
  // all ranks): the language-model loss of this micro-batch is its token
  // sum divided by this.
  double label_normalizer;
};
using LossTerm = std::function<torch::Tensor(const LossContext&)>;
// Forward, loss and backward of one micro-batch; returns the loss value it
// added (for the logs).
using MicroBatchStep = std::function<double(const BatchTensors& batch, double label_normalizer)>;

class Trainer {
 public:
  Trainer(TrainOptions options, CausalLM model, const Tokenizer& tokenizer, std::vector<Example> train,
          std::vector<Example> valid, Communicator* comm, std::string out_dir);

  // Trains to max_steps. With `resume`, continues from OUT/checkpoints/latest
  // when one exists. Rank 0 writes metrics, checkpoints and OUT/model.
  void run(bool resume);
  // Mean token loss over (up to eval_max_batches of) the validation set.
  double evaluate();
  // One optimizer step on the next data; exposed for tests.
  StepResult train_step();

  // Extra differentiable terms added to the loss of every step (e.g. the
  // O-LoRA orthogonality penalty); each is added once per optimizer step.
  void add_regularizer(std::function<torch::Tensor()> term) { regularizers_.push_back(std::move(term)); }
  // Terms added to every micro-batch's loss (already normalised as the term
  // wants). With keep_layer_hidden, the outputs carry every layer's hidden state.
  void add_loss_term(LossTerm term, bool keep_layer_hidden = false);
  // Replaces the default step (forward, language-model loss + loss terms,
  // backward) for every micro-batch.
  void set_micro_batch_step(MicroBatchStep step) { micro_batch_step_ = std::move(step); }
  // The default step, for a custom step that wraps it.
  double default_micro_batch_step(const BatchTensors& batch, double label_normalizer);
  // Called with OUT/ after OUT/model is written at the end of training.
  void add_artifact_writer(std::function<void(const std::string& out_dir)> writer) {
    artifact_writers_.push_back(std::move(writer));
  }
  int64_t step() const { return step_; }
  // Parameters the optimizer updates, and the bytes of its state (AdamW's
  // two moments): with LoRA both shrink to the adapter's size.
  int64_t trainable_parameters() const;
  int64_t optimizer_state_bytes() const;
  const CausalLM& model() const { return model_; }

 private:
  void log_metrics(const nlohmann::json& record);
  void save(bool final_model);

  TrainOptions options_;
  CausalLM model_;
  const Tokenizer& tokenizer_;
  std::vector<Example> train_, valid_;
  Communicator* comm_;
  std::string out_dir_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  DataCursor cursor_;
  std::vector<std::function<torch::Tensor()>> regularizers_;
  std::vector<LossTerm> loss_terms_;
  bool keep_layer_hidden_ = false;
  MicroBatchStep micro_batch_step_;
  std::vector<std::function<void(const std::string&)>> artifact_writers_;
  int64_t step_ = 0;
};

}  // namespace loom
