// What an elastic transformer is trained and scored on in MLFS: topic
// classification with an encoder (topics.h), or language modelling with a
// decoder. One forward-pass function per task turns a subnet and a batch
// into the SubnetPass that supernet_step combines (loss, distilled logits,
// hidden states mapped to maxnet layers), and one evaluation scores a
// subnet (accuracy and loss, or loss) on a split.
//
//   loom::TransformerTaskData data = loom::classification_data(topics, tokenizer, 64);
//   auto pass = loom::transformer_pass(*model, loom::TaskKind::Classify, spec, batch, request,
//   loom::LayerMapping::Same); loom::TaskScore s = loom::evaluate_subnet(*model, loom::TaskKind::Classify, spec,
//   data.test, 32);
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/dataset.h"
#include "loom/core/tokenizer.h"
#include "loom/supernet/elastic_transformer.h"
#include "loom/supernet/step.h"
#include "loom/supernet/topics.h"

namespace loom {

enum class TaskKind { Classify, LanguageModel };
const EnumNames<TaskKind>& task_kind_names();

// A split: token examples and, for classification, one label per example.
struct TaskSplit {
  std::vector<Example> examples;
  std::vector<int64_t> labels;
  size_t size() const { return examples.size(); }
};
struct TransformerTaskData {
  TaskKind kind = TaskKind::Classify;
  TaskSplit train, valid, test;
  std::vector<std::string> label_names;
};

// Quotations encoded with BOS, cut to max_seq_len tokens.
TransformerTaskData classification_data(const TopicDataset& topics, const Tokenizer& tokenizer, int64_t max_seq_len);
// Text JSONL for training; the validation file split in half into
// validation (search) and test (reported). Caps of 0 keep everything.
TransformerTaskData language_model_data(const std::string& train_jsonl, const std::string& valid_jsonl,
                                        const Tokenizer& tokenizer, int64_t max_seq_len, int64_t max_train,
                                        int64_t max_valid);

// One packed batch (padding-free) of the split's examples at `indices`,
// with the class labels of a classification split.
struct TaskBatch {
  BatchTensors tensors;
  torch::Tensor labels;  // int64 [examples], classification only
};
TaskBatch task_batch(const TaskSplit& split, const std::vector<size_t>& indices, int32_t pad_id);

// The pass of subnet `spec` on `batch`. Language modelling divides its
// token sums by `label_normalizer` (0 = this batch's label tokens).
SubnetPass transformer_pass(ElasticTransformerImpl& model, TaskKind kind, const TransformerSpec& spec,
                            const TaskBatch& batch, const PassRequest& request, LayerMapping mapping,
                            double label_normalizer = 0);

struct TaskScore {
  double accuracy = 0;  // classification
  double loss = 0;      // mean cross-entropy (per example, or per label token)
  int64_t count = 0;
  nlohmann::json to_json() const;
};
TaskScore evaluate_subnet(ElasticTransformerImpl& model, TaskKind kind, const TransformerSpec& spec,
                          const TaskSplit& split, int64_t batch_size);

}  // namespace loom
