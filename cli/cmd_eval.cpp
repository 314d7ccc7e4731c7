// loom eval: loss and perplexity of a model directory on a JSONL file.
#include <iostream>

#include "commands.h"
#include "loom/core/cpu_setup.h"
#include "loom/tensor/threads.h"
#include "loom/adapters/lora.h"
#include "loom/models/model_dir.h"
#include "loom/train/trainer.h"

namespace loom::cli {

void setup_eval(CLI::App* sub) {
  struct Args {
    std::string model, data, adapter;
    int64_t max_seq_len = 0, micro_batch_size = 8;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--model", a->model, "model directory")->required();
  sub->add_option("--data", a->data, "JSONL of {\"text\"} or {\"prompt\",\"completion\"} rows")->required();
  sub->add_option("--adapter", a->adapter, "PEFT LoRA adapter directory to apply to the model");
  sub->add_option("--max-seq-len", a->max_seq_len, "split longer examples; 0 = max_position_embeddings");
  sub->add_option("--micro-batch-size", a->micro_batch_size, "examples per forward")->capture_default_str();
  sub->callback([a] {
    warn_if_reference_blas();
    set_compute_threads(0);
    LoadedModel m = load_model_dir(a->model);
    if (!a->adapter.empty()) apply_peft_adapter(m.model, load_peft_adapter(a->adapter));
    m.model->eval();
    DatasetOptions opts;
    opts.max_seq_len = a->max_seq_len > 0 ? a->max_seq_len : m.config.max_position_embeddings;
    opts.empty = EmptyPolicy::Skip;
    auto examples = load_jsonl_examples(a->data, m.tokenizer, opts);
    LossStats s = evaluate_loss(m.model, examples, m.tokenizer.pad_id(), a->micro_batch_size);
    nlohmann::json j = {
        {"loss", s.loss}, {"perplexity", s.perplexity}, {"tokens", s.label_tokens}, {"examples", examples.size()}};
    std::cout << j.dump() << "\n";
  });
}

}  // namespace loom::cli
