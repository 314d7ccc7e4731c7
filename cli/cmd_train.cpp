// loom pretrain / loom finetune: one training path; they differ in defaults
// (pretrain may start from nothing, finetune needs --init-model).
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/tensor/threads.h"
#include "loom/adapters/lora.h"
#include "loom/models/model_dir.h"
#include "loom/train/trainer.h"

namespace loom::cli {
namespace {

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

// The tokenizer of a run: the init model's, a given file, the one this run
// already trained (on resume), or a new one trained on the training data.
Tokenizer run_tokenizer(const Params& p, const std::string& out) {
  if (!p.get_string("tokenizer").empty()) return Tokenizer::load(p.get_string("tokenizer"));
  const std::string saved = out + "/tokenizer.json";
  if (std::filesystem::exists(saved)) return Tokenizer::load(saved);
  TokenizerTrainOptions topts;
  topts.vocab_size = static_cast<int>(p.get_int("vocab_size"));
  Tokenizer tok = Tokenizer::train(read_texts(p.get_string("train_data")), topts);
  return tok;
}

LlamaConfig new_model_config(const Params& p, const Tokenizer& tok) {
  LlamaConfig c;
  c.vocab_size = tok.vocab_size();
  c.hidden_size = p.get_int("hidden_size");
  c.intermediate_size = p.get_int("intermediate_size");
  c.num_hidden_layers = p.get_int("num_layers");
  c.num_attention_heads = p.get_int("num_heads");
  c.num_key_value_heads = p.get_int("num_kv_heads");
  c.tie_word_embeddings = p.get_bool("tie_embeddings");
  c.rope_theta = p.get_float("rope_theta");
  c.max_position_embeddings = std::max<int64_t>(2048, p.get_int("max_seq_len"));
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
  if (out.empty()) throw Error("--out is required");
  if (p.get_string("train_data").empty()) throw Error("train_data is required (--train-data or in --config)");
  if (require_init && p.get_string("init_model").empty()) throw Error("finetune needs init_model (--init-model DIR)");
  const int nproc = static_cast<int>(p.get_int("nproc"));
  if (nproc > 1) {
    std::vector<std::string> args = program_args();
    std::exit(launch_local_workers(args, nproc, static_cast<int>(p.get_int("master_port"))));
  }
  warn_if_reference_blas();
  TrainOptions opts = TrainOptions::from_params(p);
  set_compute_threads(opts.threads);
  DistOptions dist{static_cast<int>(p.get_int("rank")), static_cast<int>(p.get_int("world_size")),
                   p.get_string("master_addr"), static_cast<int>(p.get_int("master_port")), p.get_string("interface")};
  auto comm = Communicator::create(dist);

  make_dirs(out);
  if (comm->rank() == 0) write_file_atomic(out + "/config.yaml", p.dump_yaml());
  LlamaForCausalLM model{nullptr};
  Tokenizer tokenizer;
  if (!p.get_string("init_model").empty()) {
    LoadedModel m = load_model_dir(p.get_string("init_model"));
    model = m.model;
    tokenizer = m.tokenizer;
  } else {
    tokenizer = run_tokenizer(p, out);
    if (comm->rank() == 0) tokenizer.save(out + "/tokenizer.json");
    model = LlamaForCausalLM(new_model_config(p, tokenizer));
    model->reset_parameters(opts.seed);
  }
  if (opts.use_lora) {
    LoraConfig lora = opts.lora;
    lora.base_model_name_or_path = p.get_string("init_model");
    attach_lora(model, lora, opts.seed);  // OUT/adapter is written in PEFT's format at the end
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
  if (comm->rank() == 0)
    std::cerr << "loom: " << model->config().num_parameters() << " parameters, " << train.size()
              << " training examples, " << valid.size() << " validation examples, packing "
              << packing_name(opts.packing) << ", " << comm->world_size() << " process(es) x "
              << torch::get_num_threads() << " thread(s)\n";
  Trainer trainer(opts, model, tokenizer, std::move(train), std::move(valid), comm.get(), out);
  trainer.run(resume);
}

void setup_training(CLI::App* sub, bool require_init) {
  struct Args {
    std::string out;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  auto flags = std::make_shared<ParamFlags>(sub, training_param_specs());
  sub->add_option("--out", a->out, "run directory: metrics.jsonl, checkpoints/, model/");
  sub->add_flag("--resume", a->resume, "continue from OUT/checkpoints/latest if it exists");
  sub->callback([a, flags, require_init] { run_training(*flags, a->out, a->resume, require_init); });
}

}  // namespace

void setup_pretrain(CLI::App* sub) { setup_training(sub, false); }
void setup_finetune(CLI::App* sub) { setup_training(sub, true); }

}  // namespace loom::cli
