// loom eval: loss and perplexity of a model directory on a JSONL file.
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/adapters/lora.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/param_schema.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/threads.h"
#include "loom/train/trainer.h"

namespace loom::cli {

namespace {

struct EvalCommandOptions {
  std::string model, data, adapter;
  int64_t max_seq_len = 0, micro_batch_size = 8;
  int threads = 0;
};

const ParamSchema<EvalCommandOptions>& eval_schema() {
  using O = EvalCommandOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("model", &O::model, "model directory")
        .add("data", &O::data, "JSONL of {\"text\"} or {\"prompt\",\"completion\"} rows")
        .add("adapter", &O::adapter, "PEFT LoRA adapter directory to apply to the model")
        .add("max_seq_len", &O::max_seq_len, "split longer examples; 0 = max_position_embeddings", {0, 1 << 24})
        .add("micro_batch_size", &O::micro_batch_size, "examples per forward", {1, 1 << 20})
        .add("threads", &O::threads, "compute threads; 0 = all cores", {0, 1024});
    return s;
  }();
  return schema;
}

}  // namespace

void setup_eval(CLI::App* sub) {
  run_with_options<EvalCommandOptions>(sub, eval_schema(), [](const EvalCommandOptions& o) {
    if (o.model.empty()) throw Error("--model is required");
    if (o.data.empty()) throw Error("--data is required");
    warn_if_reference_blas();
    set_compute_threads(o.threads);
    LoadedModel m = load_model_dir(o.model);
    if (!o.adapter.empty()) apply_peft_adapter(*m.model, load_peft_adapter(o.adapter));
    m.model->eval();
    DatasetOptions opts;
    opts.max_seq_len = o.max_seq_len > 0 ? o.max_seq_len : m.model->max_positions();
    opts.empty = EmptyPolicy::Skip;
    auto examples = load_jsonl_examples(o.data, m.tokenizer, opts);
    LossStats s = evaluate_loss(*m.model, examples, m.tokenizer.pad_id(), o.micro_batch_size);
    nlohmann::json j = {
        {"loss", s.loss}, {"perplexity", s.perplexity}, {"tokens", s.label_tokens}, {"examples", examples.size()}};
    std::cout << j.dump() << "\n";
  });
}

}  // namespace loom::cli
