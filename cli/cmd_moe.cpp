// loom moe mix|blend|train|score|data: mixtures of domain experts (see docs/moe.md).
#include <filesystem>
#include <iostream>

#include "cli_params.h"
#include "commands.h"
#include "loom/adapters/lora.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/jsonl.h"
#include "loom/knowledge/strategy.h"
#include "loom/models/model_dir.h"
#include "loom/moe/mix.h"
#include "loom/moe/moe_train.h"
#include "loom/moe/score.h"
#include "loom/tensor/threads.h"
#include "loom/train/trainer.h"

namespace loom::cli {
namespace {

// The options a command ran with, as YAML (its --dump-config).
template <typename O>
std::string options_yaml(const ParamSchema<O>& schema, const O& options) {
  return Params(schema.specs(options)).dump_yaml();
}

void save_mixture(const std::string& out, MixResult r, const std::string& options_yaml) {
  save_model_dir(out, *r.model, r.tokenizer, r.generation);
  write_file_atomic(out + "/moe_options.yaml", options_yaml);
  nlohmann::json summary = {{"out", out},
                            {"model_type", r.model->model_type()},
                            {"experts", r.model->moe_config().num_experts},
                            {"active_experts", r.model->moe_config().active_experts()},
                            {"total_parameters", r.model->total_parameters()},
                            {"active_parameters", r.model->active_parameters()}};
  std::cerr << "loom: wrote a " << r.model->model_type() << " mixture of " << r.model->moe_config().num_experts
            << " experts to " << out << ": " << r.model->total_parameters() << " parameters, "
            << r.model->active_parameters() << " active per token\n";
  std::cout << summary.dump() << "\n";
}

void setup_moe_mix(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "output model directory (Mixtral layout when it fits, else loom_moe)");
  run_with_options<MixOptions>(sub, mix_schema(), [out](const MixOptions& o) {
    if (out->empty()) throw Error("--out is required");
    set_compute_threads(o.threads);
    save_mixture(*out, mix_models(o), options_yaml(mix_schema(), o));
  });
}

void setup_moe_blend(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "output model directory (loom_moe with adapter experts)");
  run_with_options<BlendOptions>(sub, blend_schema(), [out](const BlendOptions& o) {
    if (out->empty()) throw Error("--out is required");
    set_compute_threads(o.threads);
    save_mixture(*out, blend_adapters(o), options_yaml(blend_schema(), o));
  });
}

void setup_moe_train(CLI::App* sub) {
  struct Args {
    std::string out;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--out", a->out, "run directory: metrics.jsonl, checkpoints/, model/");
  sub->add_flag("--resume", a->resume, "continue from OUT/checkpoints/latest if it exists");
  run_with_options<MoeTrainOptions>(sub, moe_train_schema(), [a](const MoeTrainOptions& o) {
    if (a->out.empty()) throw Error("--out is required");
    warn_if_reference_blas();
    set_compute_threads(o.train.threads);
    make_dirs(a->out);
    write_file_atomic(a->out + "/config.yaml", options_yaml(moe_train_schema(), o));
    train_moe(o, a->out, a->resume);
  });
}

// Which domains and how they are split, shared by score and data.
struct DomainArgs {
  std::vector<std::string> domains = {"elements", "eng_fra", "foldoc"};
  DomainOptions options;
};

template <typename O>
void add_domain_options(ParamSchema<O>& s) {
  auto d = [](auto member) {
    return [member](O & o) -> auto& { return o.domains.options.*member; };
  };
  s.template add_nested<std::vector<std::string>>(
       "domains", [](O& o) -> std::vector<std::string>& { return o.domains.domains; },
       "domains, comma-separated: elements, eng_fra, foldoc, fortunes, or NAME=DIR[@METRIC]")
      .template add_nested<size_t>("domain_max_train", d(&DomainOptions::max_train),
                                   "training items kept per domain; 0 = all", {0, 1e9})
      .template add_nested<size_t>("domain_max_test", d(&DomainOptions::max_test),
                                   "held-out items kept per domain; 0 = all", {0, 1e9})
      .template add_nested<double>("domain_test_fraction", d(&DomainOptions::test_fraction),
                                   "share of each domain's items held out", {0, 0.99})
      .template add_nested<uint64_t>("domain_seed", d(&DomainOptions::seed), "seed of the train/test split", {0, 1e15})
      .template add_nested<std::string>("dictd_dir", d(&DomainOptions::dictd_dir), "dict-* dictionaries")
      .template add_nested<std::string>("fortunes_dir", d(&DomainOptions::fortunes_dir), "fortune files");
}

struct ScoreOptions {
  std::string model, adapter, split = "test", base_eval_data;
  DomainArgs domains;
  int64_t max_items = 0, max_new_tokens = 0;
  int threads = 0;
};

const ParamSchema<ScoreOptions>& score_schema() {
  using O = ScoreOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("model", &O::model, "model directory (any family)")
        .add("adapter", &O::adapter, "PEFT LoRA adapter directory to apply first")
        .add_choice("split", &O::split, {"test", "train"}, "which split to score (test = held out)")
        .add("max_items", &O::max_items, "items scored per domain; 0 = all of the split", {0, 1e9})
        .add("max_new_tokens", &O::max_new_tokens, "answer length; 0 = longest reference + 4", {0, 1 << 20})
        .add("base_eval_data", &O::base_eval_data, "held-out text JSONL for a general-ability perplexity")
        .add("threads", &O::threads, "compute threads; 0 = all cores", {0, 1024});
    add_domain_options(s);
    return s;
  }();
  return schema;
}

void setup_moe_score(CLI::App* sub) {
  run_with_options<ScoreOptions>(sub, score_schema(), [](const ScoreOptions& o) {
    if (o.model.empty()) throw Error("--model is required");
    warn_if_reference_blas();
    set_compute_threads(o.threads);
    LoadedModel m = load_model_dir(o.model);
    if (!o.adapter.empty()) apply_peft_adapter(*m.model, load_peft_adapter(o.adapter));
    m.model->eval();
    // Parameters stored, and those one token uses (the routed experts only).
    int64_t total = 0, adapter = 0;
    for (auto& [name, t] : model_state(*m.model)) total += t.numel();
    for (auto& [name, lora] : lora_adapters(*m.model))
      adapter += lora->lora_A->weight.numel() + lora->lora_B->weight.numel();
    auto moe = std::dynamic_pointer_cast<MoeForCausalLMImpl>(m.model);
    const int64_t active = (moe ? moe->active_parameters() : total) + adapter;
    nlohmann::json result = {{"model", o.model},
                             {"model_type", m.model->model_type()},
                             {"split", o.split},
                             {"total_parameters", total + adapter},
                             {"active_parameters", active}};
    for (const auto& spec : o.domains.domains) {
      Domain d = build_domain(spec, o.domains.options);
      auto items = o.split == "test" ? d.test : d.train;
      if (o.max_items > 0 && static_cast<int64_t>(items.size()) > o.max_items)
        items.resize(static_cast<size_t>(o.max_items));
      DomainScore s = score_domain(*m.model, m.tokenizer, items, d.metric, o.max_new_tokens);
      result["domains"][d.name] = {{"metric", metric_name(d.metric)},
                                   {"score", s.score},
                                   {"completion_loss", s.completion_loss},
                                   {"items", s.items},
                                   {"generate_tokens_per_s", s.generate_tokens_per_s},
                                   {"loss_tokens_per_s", s.loss_tokens_per_s}};
    }
    if (!o.base_eval_data.empty()) {
      DatasetOptions opts;
      opts.max_seq_len = std::min<int64_t>(256, m.model->max_positions());
      opts.empty = EmptyPolicy::Skip;
      auto examples = load_jsonl_examples(o.base_eval_data, m.tokenizer, opts);
      result["base_perplexity"] = evaluate_loss(*m.model, examples, m.tokenizer.pad_id(), 8, 40).perplexity;
    }
    std::cout << result.dump() << "\n";
  });
}

struct DataOptions {
  DomainArgs domains;
  int64_t mixed_per_domain = 100;
  uint64_t seed = 0;
};

const ParamSchema<DataOptions>& data_schema() {
  using O = DataOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    add_domain_options(s);
    s.add("mixed_per_domain", &O::mixed_per_domain,
          "rows of each domain's training split in OUT/mixed.jsonl (router training data)", {0, 1e9})
        .add("seed", &O::seed, "seed of the sample in mixed.jsonl", {0, 1e15});
    return s;
  }();
  return schema;
}

void setup_moe_data(CLI::App* sub) {
  auto out = std::make_shared<std::string>();
  sub->add_option("--out", *out, "directory: NAME/train.jsonl, NAME/test.jsonl per domain, mixed.jsonl");
  run_with_options<DataOptions>(sub, data_schema(), [out](const DataOptions& o) {
    if (out->empty()) throw Error("--out is required");
    std::vector<nlohmann::json> mixed;
    nlohmann::json summary = {{"out", *out}};
    for (const auto& spec : o.domains.domains) {
      Domain d = build_domain(spec, o.domains.options);
      auto rows = [](const std::vector<PromptCompletion>& items) {
        std::vector<nlohmann::json> out;
        for (const auto& pc : items) out.push_back({{"prompt", pc.prompt}, {"completion", pc.completion}});
        return out;
      };
      make_dirs(*out + "/" + d.name);
      write_jsonl_atomic(*out + "/" + d.name + "/train.jsonl", rows(d.train));
      write_jsonl_atomic(*out + "/" + d.name + "/test.jsonl", rows(d.test));
      auto order = shuffled_indices(d.train.size(), o.seed, 0);
      for (size_t i = 0; i < order.size() && static_cast<int64_t>(i) < o.mixed_per_domain; ++i)
        mixed.push_back(rows({d.train[order[i]]})[0]);
      summary["domains"][d.name] = {
          {"metric", metric_name(d.metric)}, {"train", d.train.size()}, {"test", d.test.size()}};
    }
    std::vector<nlohmann::json> shuffled;
    for (size_t i : shuffled_indices(mixed.size(), o.seed, 1)) shuffled.push_back(mixed[i]);
    write_jsonl_atomic(*out + "/mixed.jsonl", shuffled);
    summary["mixed"] = shuffled.size();
    std::cout << summary.dump() << "\n";
  });
}

}  // namespace

void setup_moe(CLI::App* sub) {
  sub->require_subcommand(1);
  setup_moe_mix(
      sub->add_subcommand("mix", "an MoE from N dense models of one architecture (Mixtral layout when it fits)"));
  setup_moe_blend(
      sub->add_subcommand("blend", "an MoE of N LoRA adapters (or SVD adapters of full models) on one base"));
  setup_moe_train(sub->add_subcommand("train", "train a mixture's routers (optionally with attention) on mixed data"));
  setup_moe_score(sub->add_subcommand("score", "per-domain scores and completion loss of a model on held-out items"));
  setup_moe_data(sub->add_subcommand("data", "write domains' train/test splits and a mixed router set as JSONL"));
}

}  // namespace loom::cli
