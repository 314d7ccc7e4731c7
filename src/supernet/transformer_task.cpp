#include "loom/supernet/transformer_task.h"

#include <algorithm>

#include "loom/core/collate.h"
#include "loom/core/error.h"
#include "loom/tensor/batch.h"
#include "loom/tensor/eval_mode.h"

namespace loom {

namespace F = torch::nn::functional;

const EnumNames<TaskKind>& task_kind_names() {
  static const EnumNames<TaskKind> names = {{TaskKind::Classify, "classify"}, {TaskKind::LanguageModel, "lm"}};
  return names;
}

TransformerTaskData classification_data(const TopicDataset& topics, const Tokenizer& tokenizer, int64_t max_seq_len) {
  TransformerTaskData d;
  d.kind = TaskKind::Classify;
  d.label_names = topics.topics;
  auto encode = [&](const std::vector<LabelledText>& items, TaskSplit* split) {
    for (const auto& item : items) {
      Example e;
      e.tokens = tokenizer.encode(item.text, /*add_bos=*/true);
      if (static_cast<int64_t>(e.tokens.size()) > max_seq_len) e.tokens.resize(static_cast<size_t>(max_seq_len));
      e.target.assign(e.tokens.size(), 0);
      split->examples.push_back(std::move(e));
      split->labels.push_back(item.label);
    }
  };
  encode(topics.train, &d.train);
  encode(topics.valid, &d.valid);
  encode(topics.test, &d.test);
  return d;
}

TransformerTaskData language_model_data(const std::string& train_jsonl, const std::string& valid_jsonl,
                                        const Tokenizer& tokenizer, int64_t max_seq_len, int64_t max_train,
                                        int64_t max_valid) {
  TransformerTaskData d;
  d.kind = TaskKind::LanguageModel;
  DatasetOptions o;
  o.max_seq_len = max_seq_len;
  o.empty = EmptyPolicy::Skip;
  d.train.examples = load_jsonl_examples(train_jsonl, tokenizer, o);
  if (max_train > 0 && static_cast<int64_t>(d.train.examples.size()) > max_train)
    d.train.examples.resize(static_cast<size_t>(max_train));
  auto valid = load_jsonl_examples(valid_jsonl, tokenizer, o);
  if (max_valid > 0 && static_cast<int64_t>(valid.size()) > max_valid) valid.resize(static_cast<size_t>(max_valid));
  if (valid.size() < 2) throw Error(valid_jsonl + ": need at least two validation examples (validation and test)");
  const size_t half = valid.size() / 2;
  d.valid.examples.assign(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(half));
  d.test.examples.assign(valid.begin() + static_cast<std::ptrdiff_t>(half), valid.end());
  return d;
}

TaskBatch task_batch(const TaskSplit& split, const std::vector<size_t>& indices, int32_t pad_id) {
  std::vector<const Example*> group;
  std::vector<int64_t> labels;
  for (size_t i : indices) {
    group.push_back(&split.examples[i]);
    if (!split.labels.empty()) labels.push_back(split.labels[i]);
  }
  TaskBatch b;
  b.tensors = to_tensors(collate(group, Packing::PaddingFree, pad_id));
  if (!labels.empty()) b.labels = torch::tensor(labels, torch::kLong);
  return b;
}

SubnetPass transformer_pass(ElasticTransformerImpl& model, TaskKind kind, const TransformerSpec& spec,
                            const TaskBatch& batch, const PassRequest& request, LayerMapping mapping,
                            double label_normalizer) {
  SubnetPass p;
  ForwardRecord record;
  record.keep_layer_hidden = request.keep_hidden;
  auto hidden = model.hidden_states(spec, batch.tensors, &record);
  if (kind == TaskKind::Classify) {
    if (!batch.labels.defined()) throw Error("classification batch without labels");
    p.logits = model.classify_hidden(spec, hidden, batch.tensors.cu_seqlens);
    p.task_loss = F::cross_entropy(p.logits, batch.labels);
    p.kd_rows = static_cast<double>(batch.labels.size(0));
  } else {
    const auto& labels = batch.tensors.labels;
    auto keep = labels.ne(kIgnoreLabel).nonzero().squeeze(1);
    const double normalizer =
        label_normalizer > 0 ? label_normalizer : static_cast<double>(std::max<int64_t>(1, keep.numel()));
    p.logits = torch::matmul(hidden.index_select(0, keep), model.output_weight(spec).t());
    p.task_loss =
        F::cross_entropy(p.logits, labels.index_select(0, keep), F::CrossEntropyFuncOptions().reduction(torch::kSum)) /
        normalizer;
    p.kd_rows = normalizer;
  }
  if (request.keep_hidden) {
    p.hidden = std::move(record.layer_hidden);
    if (!request.is_maxnet) p.hidden_teacher_layers = map_layers(spec, model.shape().num_layers(), mapping);
  }
  return p;
}

nlohmann::json TaskScore::to_json() const { return {{"accuracy", accuracy}, {"loss", loss}, {"count", count}}; }

TaskScore evaluate_subnet(ElasticTransformerImpl& model, TaskKind kind, const TransformerSpec& spec,
                          const TaskSplit& split, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  EvalModeScope eval(model);
  TaskScore s;
  double loss_sum = 0, correct = 0, rows = 0;
  for (size_t begin = 0; begin < split.size(); begin += static_cast<size_t>(batch_size)) {
    std::vector<size_t> idx;
    for (size_t i = begin; i < std::min(split.size(), begin + static_cast<size_t>(batch_size)); ++i) idx.push_back(i);
    TaskBatch b = task_batch(split, idx, 0);
    SubnetPass p = transformer_pass(model, kind, spec, b, {}, LayerMapping::Same);
    if (kind == TaskKind::Classify) {
      loss_sum += p.task_loss.item<double>() * static_cast<double>(idx.size());
      correct += p.logits.argmax(1).eq(b.labels).sum().item<double>();
      rows += static_cast<double>(idx.size());
    } else {
      loss_sum += p.task_loss.item<double>() * p.kd_rows;
      rows += p.kd_rows;
    }
  }
  s.count = static_cast<int64_t>(rows);
  s.loss = rows > 0 ? loss_sum / rows : 0;
  s.accuracy = kind == TaskKind::Classify && rows > 0 ? correct / rows : 0;
  return s;
}

}  // namespace loom
