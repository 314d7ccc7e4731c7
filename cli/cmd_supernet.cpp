// loom supernet pretrain-encoder|train|search|extract|eval|experiment|samplers|ablations:
// MLFS supernets for transformers (docs/supernet.md).
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/models/model_dir.h"
#include "loom/supernet/mlfs.h"
#include "loom/supernet/mlfs_experiment.h"
#include "loom/tensor/threads.h"

namespace loom::cli {
namespace {

// A YAML scalar or sequence of scalars (a subnet spec) as JSON.
nlohmann::json yaml_to_json(const YAML::Node& node, const std::string& origin) {
  if (node.IsMap()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& kv : node) j[kv.first.as<std::string>()] = yaml_to_json(kv.second, origin);
    return j;
  }
  if (node.IsSequence()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& item : node) j.push_back(yaml_to_json(item, origin));
    return j;
  }
  if (node.IsScalar()) {
    const std::string text = node.Scalar();
    try {
      size_t used = 0;
      long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    return text;
  }
  throw Error(origin + ": expected a mapping of dimension: value");
}

// --spec: a JSON or YAML file, or inline JSON / YAML.
nlohmann::json read_spec(const std::string& value) {
  const bool file = std::filesystem::is_regular_file(value);
  const std::string text = file ? read_file_text(value) : value, origin = file ? value : "--spec";
  if (!text.empty() && text.find_first_not_of(" \t\r\n") != std::string::npos &&
      text[text.find_first_not_of(" \t\r\n")] == '{') {
    try {
      return parse_json(text, origin);
    } catch (const Error&) {
      // flow-style YAML ({hidden_size: 64}) is not JSON; YAML reads it below
    }
  }
  try {
    return yaml_to_json(YAML::Load(text), origin);
  } catch (const YAML::Exception& e) {
    throw Error(origin + ": not a JSON or YAML subnet spec: " + e.what());
  }
}

void setup_pretrain_encoder(CLI::App* sub) {
  struct Args {
    std::string out;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--out", a->out, "run directory: model/, tokenizer.json, pretrain.json, metrics.jsonl");
  sub->add_flag("--resume", a->resume, "continue from OUT/checkpoints/latest if it exists");
  run_with_options<EncoderPretrainOptions>(sub, encoder_pretrain_schema(), [a](const EncoderPretrainOptions& o) {
    if (a->out.empty()) throw Error("--out is required");
    warn_if_reference_blas();
    set_compute_threads(o.threads);
    std::cout << pretrain_encoder(o, a->out, a->resume).dump() << "\n";
  });
}

void setup_train(CLI::App* sub) {
  struct Args {
    std::string out;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--out", a->out, "run directory: stage-0/, stage-1/, stage-2/, supernet.json, config.yaml");
  sub->add_flag("--resume", a->resume, "skip finished stages and continue the interrupted one");
  run_with_options<MlfsOptions>(sub, mlfs_options_schema(), [a](const MlfsOptions& o) {
    if (a->out.empty()) throw Error("--out is required");
    warn_if_reference_blas();
    set_compute_threads(o.threads);
    std::cout << train_mlfs(o, a->out, a->resume).dump() << "\n";
  });
}

void setup_search(CLI::App* sub) {
  struct Args {
    std::string run, budget, latency_table, out;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--run", a->run, "MLFS run directory (loom supernet train --out)")->required();
  sub->add_option("--budget", a->budget, "params=N, flops=N or latency_ms=X (comma-separated: all must hold)")
      ->required();
  sub->add_option("--latency-table", a->latency_table, "latency table file (default RUN/latency.json)");
  sub->add_option("--out", a->out, "write the chosen subnet's spec and scores here (JSON)");
  run_with_options<SearchOptions>(sub, search_options_schema(), [a](const SearchOptions& o) {
    const auto budgets = parse_budgets(a->budget, "--budget");
    Supernet s = load_supernet(a->run);
    set_compute_threads(s.options.threads);
    LatencyTable table(a->latency_table.empty() ? a->run + "/latency.json" : a->latency_table,
                       this_machine(s.options.threads));
    SubnetChoice c = search_subnet(s, budgets, o, &table);
    table.save();
    nlohmann::json j = c.to_json();
    j["budget"] = a->budget;
    if (!a->out.empty()) write_file_atomic(a->out, j.dump(2) + "\n");
    std::cout << j.dump() << "\n";
  });
}

void setup_extract(CLI::App* sub) {
  struct Args {
    std::string run, spec, out;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--run", a->run, "MLFS run directory")->required();
  sub->add_option("--spec", a->spec,
                  "subnet: JSON/YAML file or inline, e.g. '{\"hidden_size\": 48, \"num_layers\": 3, \"ffn\": 96}', "
                  "or the JSON a search wrote (its \"spec\")")
      ->required();
  sub->add_option("--out", a->out, "model directory to write")->required();
  sub->callback([a] {
    Supernet s = load_supernet(a->run);
    nlohmann::json j = read_spec(a->spec);
    if (j.is_object() && j.contains("spec") && j["spec"].is_object()) j = j["spec"];
    const TransformerSpec spec = parse_transformer_spec(j, s.model->shape(), a->spec);
    extract_subnet_dir(s, spec, a->out);
    std::cout << nlohmann::json({{"out", a->out}, {"spec", spec.to_json()}, {"params", s.model->parameter_count(spec)}})
                     .dump()
              << "\n";
  });
}

void setup_task_eval(CLI::App* sub) {
  struct Args {
    std::string run, model, split = "test";
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--run", a->run, "MLFS run directory (its task and data)")->required();
  sub->add_option("--model", a->model, "model directory to score (an extracted subnet); default: the maxnet");
  sub->add_option("--split", a->split, "valid or test")->check(CLI::IsMember({"valid", "test"}))->capture_default_str();
  sub->callback([a] {
    Supernet s = load_supernet(a->run);
    set_compute_threads(s.options.threads);
    const TaskSplit& split = a->split == "test" ? s.data.test : s.data.valid;
    ElasticTransformer model = s.model;
    if (!a->model.empty()) {
      LoadedModel m = load_model_dir(a->model);
      model = m.model->model_type() == "llama" ? elastic_from_llama(*as_llama(m.model, a->model))
                                               : ElasticTransformer(as_elastic_transformer(m.model, a->model));
    }
    TaskScore t = evaluate_subnet(*model, s.options.task, model->full_spec(), split, s.options.eval_batch_size);
    nlohmann::json j = t.to_json();
    j["params"] = model->parameter_count(model->full_spec());
    std::cout << j.dump() << "\n";
  });
}

void setup_experiment(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "directory: results.json, results.md, size.png, seed-N/");
  run_with_options<MlfsExperimentOptions>(sub, mlfs_experiment_schema(), [out](const MlfsExperimentOptions& o) {
    if (out->empty()) throw Error("--out is required");
    warn_if_reference_blas();
    set_compute_threads(o.mlfs.threads);
    nlohmann::json r = run_mlfs_experiment(o, *out);
    std::cout << r["table_markdown"].get<std::string>();
  });
}

}  // namespace

void setup_supernet(CLI::App* sub) {
  // Every command's setup runs at start-up, so from here on every loom
  // command (eval, generate, finetune, ...) loads loom_encoder and
  // loom_elastic_llama model directories.
  register_supernet_model_families();
  sub->require_subcommand(1);
  setup_pretrain_encoder(
      sub->add_subcommand("pretrain-encoder", "masked-LM pretraining of a small encoder teacher on the corpus"));
  setup_train(sub->add_subcommand("train", "MLFS: stage 0 teacher, stage 1 width, stage 2 width + depth"));
  setup_search(sub->add_subcommand("search", "the best subnet under a params / flops / latency budget"));
  setup_extract(sub->add_subcommand("extract", "write a subnet as a standalone model directory (LoRA merged)"));
  setup_task_eval(sub->add_subcommand("eval", "score a model (or the maxnet) on the run's task"));
  setup_experiment(sub->add_subcommand("experiment", "the docs' results: MLFS, ablations, baselines, cost"));
  sub->add_subcommand("samplers", "list the subnet samplers")->callback([] {
    for (const auto& [name, entry] : subnet_samplers().entries()) std::cout << name << "\t" << entry.help << "\n";
  });
  sub->add_subcommand("ablations", "list the MLFS ablations")->callback([] {
    for (const auto& [name, entry] : mlfs_ablations().entries()) std::cout << name << "\t" << entry.help << "\n";
  });
}

}  // namespace loom::cli
