// loom pretrain / loom finetune: one training path; they differ in defaults
// (pretrain may start from nothing, finetune needs --init-model).
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/adapters/lora.h"
#include "loom/adapters/tuning.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/threads.h"
#include "loom/train/trainer.h"

namespace loom::cli {
namespace {

// What a new model is made of when there is no init_model.
struct NewModelOptions {
  std::string init_model;  // model directory to start from; empty = a new model
  std::string tokenizer;   // tokenizer.json for a new model; empty = train one
  int vocab_size = 4096;
  LlamaConfig shape;
};

struct TrainCommandOptions {
  TrainOptions train;
  NewModelOptions model;
  TuningOptions tuning;
  DistOptions dist;
};

const ParamSchema<TrainCommandOptions>& train_command_schema() {
  using O = TrainCommandOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<NewModelOptions> m;
    auto shape = [](auto member) {
      return [member](NewModelOptions & o) -> auto& { return o.shape.*member; };
    };
    m.add("init_model", &NewModelOptions::init_model, "model directory to start from; empty = a new model (pretrain)")
        .add("tokenizer", &NewModelOptions::tokenizer,
             "tokenizer.json for a new model; empty = train one on train_data")
        .add("vocab_size", &NewModelOptions::vocab_size, "vocabulary size of a newly trained tokenizer", {259, 1 << 20})
        .add_nested<int64_t>("hidden_size", shape(&LlamaConfig::hidden_size), "new model: hidden size", {2, 1 << 16})
        .add_nested<int64_t>("intermediate_size", shape(&LlamaConfig::intermediate_size),
                             "new model: SwiGLU inner size", {1, 1 << 18})
        .add_nested<int64_t>("num_layers", shape(&LlamaConfig::num_hidden_layers), "new model: decoder layers",
                             {1, 1024})
        .add_nested<int64_t>("num_heads", shape(&LlamaConfig::num_attention_heads), "new model: attention heads",
                             {1, 1024})
        .add_nested<int64_t>("num_kv_heads", shape(&LlamaConfig::num_key_value_heads),
                             "new model: key/value heads (grouped-query attention when fewer)", {1, 1024})
        .add_nested<bool>("tie_embeddings", shape(&LlamaConfig::tie_word_embeddings),
                          "new model: share input embedding and output projection")
        .add_nested<double>("rope_theta", shape(&LlamaConfig::rope_theta), "new model: rotary embedding base",
                            {1, 1e12});
    ParamSchema<O> s;
    s.include<TrainOptions>(train_options_schema(), [](O& o) -> TrainOptions& { return o.train; })
        .include<NewModelOptions>(m, [](O& o) -> NewModelOptions& { return o.model; })
        .include<TuningOptions>(tuning_schema(), [](O& o) -> TuningOptions& { return o.tuning; })
        .include<DistOptions>(dist_options_schema(), [](O& o) -> DistOptions& { return o.dist; });
    return s;
  }();
  return schema;
}

std::vector<std::string> read_texts(const std::string& path) {
  std::vector<std::string> texts;
  for_each_jsonl(path, [&](const nlohmann::json& row, size_t line) {
    if (row.is_object() && row.contains("text"))
      texts.push_back(jsonl_string_field(row, "text", path, line));
    else if (row.is_object() && row.contains("prompt")) {
      texts.push_back(jsonl_string_field(row, "prompt", path, line));
      texts.push_back(jsonl_string_field(row, "completion", path, line));
    }
  });
  return texts;
}

// The tokenizer of a run: a given file, the one this run already trained
// (on resume), or a new one trained on the training data.
Tokenizer run_tokenizer(const TrainCommandOptions& o, const std::string& out) {
  if (!o.model.tokenizer.empty()) return Tokenizer::load(o.model.tokenizer);
  const std::string saved = out + "/tokenizer.json";
  if (std::filesystem::exists(saved)) return Tokenizer::load(saved);
  TokenizerTrainOptions topts;
  topts.vocab_size = o.model.vocab_size;
  return Tokenizer::train(read_texts(o.train.train_data), topts);
}

LlamaConfig new_model_config(const TrainCommandOptions& o, const Tokenizer& tok) {
  LlamaConfig c = o.model.shape;
  c.vocab_size = tok.vocab_size();
  c.max_position_embeddings = std::max<int64_t>(2048, o.train.dataset.max_seq_len);
  c.bos_token_id = tok.bos_id();
  c.eos_token_id = tok.eos_id();
  c.pad_token_id = tok.pad_id();
  c.validate("model settings");
  return c;
}

void run_training(const ParamFlags& flags, const std::string& out, bool resume, bool require_init) {
  Params p = flags.resolve();
  if (flags.dump_requested()) {
    std::cout << p.dump_yaml();
    return;
  }
  const TrainCommandOptions o = train_command_schema().read(p);
  if (out.empty()) throw Error("--out is required");
  if (o.train.train_data.empty()) throw Error("train_data is required (--train-data or in --config)");
  if (require_init && o.model.init_model.empty()) throw Error("finetune needs init_model (--init-model DIR)");
  validate_tuning(o.tuning);
  if (o.dist.nproc > 1) std::exit(launch_local_workers(program_args(), o.dist.nproc, o.dist.master_port));
  warn_if_reference_blas();
  const TrainOptions& opts = o.train;
  set_compute_threads(opts.threads);
  auto comm = Communicator::create(o.dist);

  make_dirs(out);
  if (comm->rank() == 0) write_file_atomic(out + "/config.yaml", p.dump_yaml());
  CausalLM model;
  Tokenizer tokenizer;
  if (!o.model.init_model.empty()) {
    LoadedModel m = load_model_dir(o.model.init_model);
    model = m.model;
    tokenizer = m.tokenizer;
  } else {
    tokenizer = run_tokenizer(o, out);
    if (comm->rank() == 0) tokenizer.save(out + "/tokenizer.json");
    model = LlamaForCausalLM(new_model_config(o, tokenizer)).ptr();
    model->reset_parameters(opts.seed);
  }
  const bool lora = o.tuning.tuning == Tuning::Lora;
  if (lora) {
    LoraConfig config = o.tuning.lora;
    config.base_model_name_or_path = o.model.init_model;
    attach_lora(*model, config, opts.seed);
  }
  auto examples = load_jsonl_examples(opts.train_data, tokenizer, opts.dataset);
  std::vector<Example> train, valid;
  if (!opts.valid_data.empty()) {
    train = std::move(examples);
    DatasetOptions vopts = opts.dataset;
    vopts.empty = EmptyPolicy::Skip;
    valid = load_jsonl_examples(opts.valid_data, tokenizer, vopts);
  } else {
    split_train_valid(std::move(examples), opts.valid_fraction, opts.seed, &train, &valid);
  }
  if (comm->rank() == 0) {
    int64_t parameters = 0;
    for (auto& [name, t] : model_state(*model)) parameters += t.numel();
    std::cerr << "loom: " << parameters << " parameters, " << train.size() << " training examples, " << valid.size()
              << " validation examples, packing " << packing_name(opts.packing) << ", " << comm->world_size()
              << " process(es) x " << torch::get_num_threads() << " thread(s)\n";
  }
  Trainer trainer(opts, model, tokenizer, std::move(train), std::move(valid), comm.get(), out);
  // With LoRA OUT/model holds the frozen base and OUT/adapter the adapter, in PEFT's format.
  if (lora)
    trainer.add_artifact_writer([model](const std::string& dir) { save_peft_adapter(dir + "/adapter", *model); });
  trainer.run(resume);
}

void setup_training(CLI::App* sub, bool require_init) {
  struct Args {
    std::string out;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  auto flags = std::make_shared<ParamFlags>(sub, train_command_schema().specs());
  sub->add_option("--out", a->out, "run directory: metrics.jsonl, checkpoints/, model/");
  sub->add_flag("--resume", a->resume, "continue from OUT/checkpoints/latest if it exists");
  sub->callback([a, flags, require_init] { run_training(*flags, a->out, a->resume, require_init); });
}

}  // namespace

void setup_pretrain(CLI::App* sub) { setup_training(sub, false); }
void setup_finetune(CLI::App* sub) { setup_training(sub, true); }

}  // namespace loom::cli
