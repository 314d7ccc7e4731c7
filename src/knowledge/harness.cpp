#include "loom/knowledge/harness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "loom/adapters/lora.h"
#include "loom/core/atomic_file.h"
#include "loom/core/cpu_setup.h"
#include "loom/core/error.h"
#include "loom/core/json.h"
#include "loom/core/jsonl.h"
#include "loom/core/plot.h"
#include "loom/core/utf8.h"
#include "loom/knowledge/contamination.h"
#include "loom/models/generate.h"
#include "loom/models/model_dir.h"
#include "loom/tensor/batch.h"
#include "loom/tensor/eval_mode.h"
#include "loom/train/trainer.h"

namespace loom {
namespace fs = std::filesystem;

// ---------- parameters ----------

LoraConfig knowledge_lora_defaults() {
  LoraConfig c = default_cli_lora();
  c.r = 16;
  c.alpha = 32;
  return c;
}

DomainOptions knowledge_domain_defaults() {
  DomainOptions d;
  d.max_train = 50;
  d.max_test = 20;
  return d;
}

TrainOptions knowledge_round_defaults() {
  TrainOptions t;
  t.dataset.max_seq_len = 128;
  t.micro_batch_size = 16;
  t.min_lr_ratio = 1.0;
  t.warmup_steps = 0;
  t.weight_decay = 0;
  t.beta2 = 0.999;
  t.log_every = 50;
  t.eval_every = 0;
  t.eval_max_batches = 4;
  t.checkpoint_every = 100;
  t.keep_checkpoints = 1;
  return t;
}

namespace {

// The per-round training loop's keys a knowledge config may set.
const std::set<std::string>& inherited_training_keys() {
  static const std::set<std::string> keys = {"max_seq_len",  "packing",          "micro_batch_size", "grad_accum",
                                             "min_lr_ratio", "warmup_steps",     "weight_decay",     "beta1",
                                             "beta2",        "grad_clip",        "threads",          "log_every",
                                             "eval_every",   "eval_max_batches", "checkpoint_every", "keep_checkpoints",
                                             "progress"};
  return keys;
}

const ParamSchema<KnowledgeOptions>& knowledge_schema() {
  using O = KnowledgeOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    auto domain = [](auto member) {
      return [member](O & o) -> auto& { return o.domain_options.*member; };
    };
    s.add("base_model", &O::base_model, "model directory pretrained with the core (loom pretrain)")
        .add("base_eval_data", &O::base_eval_data,
             "held-out base-corpus JSONL for perplexity (e.g. data/corpus/valid.jsonl)")
        .add("base_eval_max_batches", &O::base_eval_max_batches,
             "micro-batches of base_eval_data scored per round; 0 = all", {0, 1e9})
        .add("pretrain_data", &O::pretrain_data,
             "the base's pretraining JSONL (e.g. data/corpus/train.jsonl), comma-separated: domain items found in "
             "it or in base_eval_data are refused or dropped (see contamination)")
        .add_choice("contamination", &O::contamination, {"refuse", "drop"},
                    "what a domain item found in pretrain_data/base_eval_data does: refuse = the run stops naming "
                    "it; drop = it leaves the domain (results.json counts them)")
        .add("domains", &O::domains,
             "domains in order, comma-separated: elements, eng_fra, eng_spa, foldoc, fortunes, or "
             "NAME=DIR[@METRIC]")
        .add("choice_dictionary", &O::choice_dictionary,
             "general ability: four-way definition choice (log-likelihood) from this dictd dictionary, "
             "which must be no domain; empty = off")
        .add("choice_items", &O::choice_items, "definition-choice items scored per round", {1, 1e6})
        .add("strategy", &O::strategy, "knowledge run: the strategy (see `loom knowledge strategies`)")
        .add("strategies", &O::strategies, "knowledge compare: strategies, comma-separated")
        .add_enum("setting", &O::setting,
                  EnumNames<Setting>{{Setting::SemiCooperative, "semi_cooperative"},
                                     {Setting::FullyCooperative, "fully_cooperative"}},
                  "semi_cooperative: a round cannot read earlier rounds' data; fully_cooperative: it can")
        .add("tunings", &O::tunings, "knowledge compare: tuning modes, comma-separated")
        .add("seed", &O::seed, "knowledge run: seed of adapter initialisation and data order", {0, 1e15})
        .add("seeds", &O::seeds, "knowledge compare: seeds, comma-separated")
        .add("steps_per_round", &O::steps_per_round,
             "optimizer steps per round (replay/joint scale it with their data)", {1, 1e9})
        .add("lora_lr", &O::lora_lr, "learning rate with tuning: lora", {0, 100})
        .add("full_lr", &O::full_lr, "learning rate with tuning: full", {0, 100})
        .add_nested<size_t>("domain_max_train", domain(&DomainOptions::max_train),
                            "training examples kept per domain; 0 = all", {0, 1e9})
        .add_nested<size_t>("domain_max_test", domain(&DomainOptions::max_test),
                            "examples scored per domain (of the eval_on split); 0 = all", {0, 1e9})
        .add_choice("eval_on", &O::eval_on, {"train", "test"},
                    "what R[t][j] scores: train = recall of a fixed sample of domain j's trained items (was the "
                    "knowledge added, is it kept); test = held-out items (generalisation; near zero for facts a "
                    "small model cannot infer)")
        .add_nested<double>("domain_test_fraction", domain(&DomainOptions::test_fraction),
                            "share of each domain's items held out for testing", {0, 0.99})
        .add_nested<uint64_t>("domain_seed", domain(&DomainOptions::seed),
                              "seed of the train/test splits (shared by every run that is compared)", {0, 1e15})
        .add_nested<std::string>("dictd_dir", domain(&DomainOptions::dictd_dir),
                                 "where the dict-* packages put their dictionaries")
        .add_nested<std::string>("fortunes_dir", domain(&DomainOptions::fortunes_dir),
                                 "where the fortunes package puts its files")
        .include<TrainOptions>(
            train_options_schema(), [](O& o) -> TrainOptions& { return o.train; }, inherited_training_keys())
        .include<TuningOptions>(tuning_schema(), [](O& o) -> TuningOptions& { return o.tuning; });
    return s;
  }();
  return schema;
}

}  // namespace

std::vector<ParamSpec> knowledge_param_specs() {
  std::vector<ParamSpec> specs = knowledge_schema().specs();
  for (auto& s : strategy_param_specs()) specs.push_back(s);
  return specs;
}

KnowledgeOptions knowledge_options_from_params(const Params& p) {
  KnowledgeOptions o = knowledge_schema().read(p);
  if (o.base_model.empty()) throw Error("base_model is required (a model directory from loom pretrain)");
  if (o.domains.empty()) throw Error("domains is empty");
  validate_tuning(o.tuning);
  o.tuning.lora.base_model_name_or_path = o.base_model;
  o.strategy_params = std::make_shared<Params>(p);
  return o;
}

// ---------- summary ----------

nlohmann::json summarize_matrix(const std::vector<std::vector<double>>& R) {
  nlohmann::json s;
  if (R.empty()) return s;
  const size_t T = R.size() - 1;
  double avg = 0, bwt = 0, acq = 0;
  for (double x : R[T]) avg += x;
  avg /= static_cast<double>(R[T].size());
  for (size_t j = 0; j < T; ++j) bwt += R[T][j] - R[j][j];
  for (size_t t = 0; t <= T; ++t) acq += R[t][t];
  s["average_accuracy"] = avg;
  s["backward_transfer"] = T > 0 ? nlohmann::json(bwt / static_cast<double>(T)) : nlohmann::json(nullptr);
  s["newest_acquisition"] = R[T][T];
  s["mean_acquisition"] = acq / static_cast<double>(T + 1);
  double least = R[0][0];
  for (size_t t = 0; t <= T; ++t) least = std::min(least, R[t][t]);
  s["min_acquisition"] = least;
  return s;
}

// ---------- one run ----------

namespace {

struct DomainData {
  Domain domain;
  std::vector<Example> train;
  std::vector<PromptCompletion> eval;        // what R[t][j] scores
  std::vector<PromptCompletion> paraphrase;  // the same facts in the held-out template (empty: none)
  int64_t max_new_tokens = 16;
};

// The dictd dictionary a built-in domain is made from (its source must not
// double as the general-ability test).
std::string domain_dictionary(const std::string& domain) {
  static const std::map<std::string, std::string> source = {
      {"elements", "elements"}, {"eng_fra", "freedict-eng-fra"}, {"eng_spa", "freedict-eng-spa"}, {"foldoc", "foldoc"}};
  auto it = source.find(domain);
  return it == source.end() ? "" : it->second;
}

}  // namespace

double choice_accuracy(CausalLMImpl& model, const Tokenizer& tok, const std::vector<MultipleChoiceItem>& items,
                       DatasetOptions d) {
  if (items.empty()) return std::nan("");
  d.add_eos = false;
  torch::NoGradGuard no_grad;
  EvalModeScope eval_mode(model);
  size_t right = 0;
  for (const auto& item : items) {
    size_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < item.choices.size(); ++c) {
      Example e = make_prompt_example(tok, item.prompt, item.choices[c], d);
      // Longer than the context: the front goes, as lm-eval truncates the
      // context from the left (long dictionary definitions on small models).
      const size_t max_len = static_cast<size_t>(std::max<int64_t>(d.max_seq_len, 2));
      if (e.tokens.size() > max_len) {
        const auto drop = static_cast<std::ptrdiff_t>(e.tokens.size() - max_len);
        e.tokens.erase(e.tokens.begin(), e.tokens.begin() + drop);
        e.target.erase(e.target.begin(), e.target.begin() + drop);
        e.target[0] = 0;  // nothing before it to predict it from
      }
      const double log_likelihood =
          -model.loss_sum(to_tensors(collate({&e}, Packing::PaddingFree, tok.pad_id()))).item<double>();
      const double score = log_likelihood / static_cast<double>(item.choices[c].size());
      if (score > best_score) best_score = score, best = c;
    }
    right += best == item.answer;
  }
  return static_cast<double>(right) / static_cast<double>(items.size());
}

namespace {

// Σ_modules Σ |A_t A_prevᵀ| between round t's adapter and every earlier
// round's: how far the new adapter leaves the earlier subspaces (what
// O-LoRA's penalty lowers).
double adapter_overlap(const std::string& adapter_dir, const std::vector<std::string>& earlier_dirs) {
  PeftAdapter now = load_peft_adapter(adapter_dir);
  double total = 0;
  for (const auto& dir : earlier_dirs) {
    PeftAdapter before = load_peft_adapter(dir);
    for (const auto& m : now.modules())
      total += torch::matmul(now.factor(m, 'A'), before.factor(m, 'A').t()).abs().sum().item<double>();
  }
  return total;
}

class KnowledgeRun : public RoundContext {
 public:
  KnowledgeRun(const KnowledgeOptions& options, std::string out_dir) : options_(options), out_(std::move(out_dir)) {
    strategy_ = make_strategy(options_.strategy, options_);  // refuses bad combinations before any work
    tokenizer_ = load_model_dir(options_.base_model).tokenizer;
    DatasetOptions dopts = options_.train.dataset;
    dopts.overlong = OverlongPolicy::Truncate;
    dopts.empty = EmptyPolicy::Skip;
    // Knowledge must be new to the base: no item may appear in the text it
    // was pretrained on, nor in the text its general ability is measured on.
    std::vector<std::string> corpus_files = options_.pretrain_data;
    if (!options_.base_eval_data.empty()) corpus_files.push_back(options_.base_eval_data);
    NgramIndex corpus;
    if (!corpus_files.empty()) corpus = index_jsonl_texts(corpus_files);
    std::string corpus_names;
    for (const auto& f : corpus_files) corpus_names += (corpus_names.empty() ? "" : ", ") + f;
    for (const auto& spec : options_.domains) {
      DomainData d;
      d.domain = build_domain(spec, options_.domain_options);
      if (!options_.choice_dictionary.empty() && domain_dictionary(d.domain.name) == options_.choice_dictionary)
        throw Error("choice_dictionary '" + options_.choice_dictionary + "' is the source of domain '" + d.domain.name +
                    "': general ability must be measured on knowledge that is no domain");
      if (!corpus_files.empty()) {
        ContaminationReport report = options_.contamination == "refuse" ? check_contamination(d.domain, corpus)
                                                                        : drop_contaminated(&d.domain, corpus);
        contamination_[d.domain.name] = {{"checked", report.checked}, {"found", report.hits.size()}};
        if (!report.hits.empty() && options_.contamination == "refuse")
          throw Error("domain '" + d.domain.name + "': " + std::to_string(report.hits.size()) + " of " +
                      std::to_string(report.checked) + " items appear in " + corpus_names + " (e.g. " +
                      nlohmann::json(report.hits.front().prompt + report.hits.front().completion).dump() +
                      "), so they are not new to the base; choose another domain or contamination: drop");
        if (d.domain.train.empty() || d.domain.test.empty())
          throw Error("domain '" + d.domain.name + "': nothing is left after dropping the items found in " +
                      corpus_names);
      }
      for (const auto& pc : d.domain.train)
        d.train.push_back(make_prompt_example(tokenizer_, pc.prompt, pc.completion, dopts));
      d.train = fit_examples(std::move(d.train), dopts);
      if (options_.eval_on_train()) {
        // The split is shuffled, so the first items are a seeded random sample.
        const size_t n = options_.domain_options.max_test ? options_.domain_options.max_test : d.domain.train.size();
        d.eval.assign(d.domain.train.begin(), d.domain.train.begin() + std::min(n, d.domain.train.size()));
      } else {
        d.eval = d.domain.test;
      }
      for (const auto& pc : d.eval)
        if (!pc.paraphrase.empty()) d.paraphrase.push_back({pc.paraphrase, pc.completion});
      if (d.paraphrase.size() != d.eval.size()) d.paraphrase.clear();  // only a full set is comparable
      size_t longest = 0;
      for (const auto& pc : d.eval) longest = std::max(longest, tokenizer_.encode(pc.completion).size());
      d.max_new_tokens = static_cast<int64_t>(longest) + 4;
      domains_.push_back(std::move(d));
    }
    if (!options_.base_eval_data.empty()) {
      DatasetOptions eopts = options_.train.dataset;
      eopts.empty = EmptyPolicy::Skip;
      base_eval_ = load_jsonl_examples(options_.base_eval_data, tokenizer_, eopts);
    }
    if (!options_.choice_dictionary.empty())
      choices_ = definition_choice_items(options_.choice_dictionary, options_.domain_options,
                                         static_cast<size_t>(options_.choice_items), options_.domain_options.seed);
  }

  int round() const override { return round_; }
  const KnowledgeOptions& options() const override { return options_; }
  const Tokenizer& tokenizer() const override { return tokenizer_; }

  const std::vector<Example>& training_data(int j) const override {
    if (j < 0 || j > round_)
      throw Error("round " + std::to_string(round_ + 1) + " cannot read domain " + std::to_string(j + 1) +
                  ": it has not arrived yet");
    if (j < round_ && options_.setting == Setting::SemiCooperative)
      throw Error("round " + std::to_string(round_ + 1) + " asked for the data of earlier domain '" +
                  domains_[static_cast<size_t>(j)].domain.name + "', which a semi_cooperative run does not keep");
    return domains_[static_cast<size_t>(j)].train;
  }

  CausalLM base_model() const override { return load_model_dir(options_.base_model).model; }
  CausalLM previous_model() const override {
    return round_ == 0 ? base_model() : load_model_dir(round_dir(round_ - 1) + "/model").model;
  }
  std::string round_dir(int t) const override { return out_ + "/round-" + std::to_string(t + 1); }

  CausalLM train(CausalLM start, std::vector<Example> data, int64_t steps,
                 const std::function<void(Trainer&)>& configure) override {
    TrainOptions opts = options_.train;
    const bool lora = options_.tuning.tuning == Tuning::Lora;
    opts.lr = lora ? options_.lora_lr : options_.full_lr;
    opts.max_steps = steps;
    opts.seed = options_.seed * 1000 + static_cast<uint64_t>(round_);
    if (lora) attach_lora(*start, options_.tuning.lora, opts.seed);
    // Validation = held-out base text: the trainer's val_loss then tracks forgetting.
    std::vector<Example> valid(base_eval_.begin(), base_eval_.begin() + std::min<size_t>(base_eval_.size(), 64));
    auto comm = Communicator::create(DistOptions{});
    Trainer trainer(opts, start, tokenizer_, std::move(data), std::move(valid), comm.get(),
                    round_dir(round_) + "/train");
    // With LoRA the round's model directory holds the frozen base; the
    // adapter goes beside it in PEFT's format.
    if (lora)
      trainer.add_artifact_writer(
          [model = start](const std::string& dir) { save_peft_adapter(dir + "/adapter", *model); });
    if (configure) configure(trainer);
    auto t0 = std::chrono::steady_clock::now();
    trainer.run(/*resume=*/true);
    stats_["train_seconds"] = stats_.value("train_seconds", 0.0) +
                              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stats_["train_steps"] = stats_.value("train_steps", int64_t{0}) + steps;
    stats_["trainable_parameters"] = trainer.trainable_parameters();
    stats_["optimizer_state_bytes"] = trainer.optimizer_state_bytes();
    return trainer.model();
  }

  // Scores on every domain (recall in the trained template, the same facts
  // in the held-out template), general ability (definition choice, base
  // perplexity).
  nlohmann::json evaluate(CausalLMImpl& model) const {
    nlohmann::json scores = nlohmann::json::object(), paraphrase = nlohmann::json::object(),
                   samples = nlohmann::json::object();
    auto score = [&](const DomainData& d, const std::vector<PromptCompletion>& items, const std::string& kind) {
      GenerateOptions g;
      g.max_new_tokens = d.max_new_tokens;
      double total = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        const auto& pc = items[i];
        std::string answer = generate_text(model, tokenizer_, pc.prompt, g);
        // Answers are one line; anything after a newline is the model rambling on.
        // Byte-level tokens may stop inside a character: keep the text valid UTF-8.
        answer = sanitize_utf8(answer.substr(0, answer.find('\n')));
        total += score_answer(d.domain.metric, answer, pc.completion);
        if (i < 3)
          samples[d.domain.name + kind].push_back(
              {{"prompt", pc.prompt}, {"reference", pc.completion}, {"answer", answer}});
      }
      return total / static_cast<double>(items.size());
    };
    for (const auto& d : domains_) {
      scores[d.domain.name] = score(d, d.eval, "");
      if (!d.paraphrase.empty()) paraphrase[d.domain.name] = score(d, d.paraphrase, " (paraphrase)");
    }
    nlohmann::json out = {{"scores", scores}, {"paraphrase_scores", paraphrase}, {"samples", samples}};
    if (!choices_.empty())
      out["choice_accuracy"] = choice_accuracy(model, tokenizer_, choices_, options_.train.dataset);
    if (!base_eval_.empty()) {
      auto loss = evaluate_loss(model, base_eval_, tokenizer_.pad_id(), options_.train.micro_batch_size,
                                options_.base_eval_max_batches);
      out["base_perplexity"] = loss.perplexity;
    }
    return out;
  }

  nlohmann::json run() {
    make_dirs(out_);
    nlohmann::json base_scores = cached(out_ + "/base_scores.json", [&] {
      CausalLM base = base_model();
      return evaluate(*base);
    });
    nlohmann::json rounds = nlohmann::json::array();
    for (round_ = 0; round_ < static_cast<int>(domains_.size()); ++round_) {
      const std::string dir = round_dir(round_);
      rounds.push_back(cached(dir + "/scores.json", [&] {
        std::cerr << "loom: round " << round_ + 1 << "/" << domains_.size() << ": " << options_.strategy << " ("
                  << tuning_name(options_.tuning.tuning) << ") adds '"
                  << domains_[static_cast<size_t>(round_)].domain.name << "'\n";
        stats_ = nlohmann::json::object();
        auto t0 = std::chrono::steady_clock::now();
        CausalLM model = strategy_->run_round(*this);
        const double round_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        save_model_dir(dir + "/model", *model, tokenizer_);
        nlohmann::json r = evaluate(*model);
        r["round"] = round_ + 1;
        r["domain"] = domains_[static_cast<size_t>(round_)].domain.name;
        r["round_seconds"] = round_seconds;
        r["peak_rss_mb"] = static_cast<double>(peak_rss_kb()) / 1024.0;
        r.update(stats_);
        if (round_ > 0 && fs::exists(dir + "/train/adapter/adapter_config.json")) {
          std::vector<std::string> earlier;
          for (int j = 0; j < round_; ++j)
            if (fs::exists(round_dir(j) + "/train/adapter/adapter_config.json"))
              earlier.push_back(round_dir(j) + "/train/adapter");
          if (earlier.size() == static_cast<size_t>(round_))
            r["adapter_overlap"] = adapter_overlap(dir + "/train/adapter", earlier);
        }
        fs::remove_all(dir + "/train/checkpoints");  // the round is final; its checkpoints only cost disk
        return r;
      }));
    }
    return write_results(base_scores, rounds);
  }

 private:
  // Returns the JSON stored at `path`, or computes it and stores it atomically.
  template <typename F>
  nlohmann::json cached(const std::string& path, F compute) {
    if (fs::exists(path)) {
      try {
        return read_json_file(path);
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (delete it to recompute that round)");
      }
    }
    nlohmann::json j = compute();
    make_dirs(fs::path(path).parent_path().string());
    write_file_atomic(path, j.dump(2));
    return j;
  }

  nlohmann::json write_results(const nlohmann::json& base_scores, const nlohmann::json& rounds) {
    std::vector<std::string> names;
    for (const auto& d : domains_) names.push_back(d.domain.name);
    std::vector<std::vector<double>> R, P;
    bool paraphrased = true;
    for (const auto& r : rounds) {
      std::vector<double> row, prow;
      for (const auto& n : names) {
        row.push_back(r["scores"][n].get<double>());
        const auto& p = r.value("paraphrase_scores", nlohmann::json::object());
        if (p.contains(n))
          prow.push_back(p[n].get<double>());
        else
          paraphrased = false;
      }
      R.push_back(row);
      P.push_back(prow);
    }
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& d : domains_) metrics[d.domain.name] = metric_name(d.domain.metric);
    nlohmann::json base_row = nlohmann::json::array();
    for (const auto& n : names) base_row.push_back(base_scores["scores"][n]);
    nlohmann::json ppl = nlohmann::json::array(), choice = nlohmann::json::array();
    for (const auto& r : rounds) {
      ppl.push_back(r.value("base_perplexity", std::nan("")));
      choice.push_back(r.value("choice_accuracy", std::nan("")));
    }
    nlohmann::json results = {{"strategy", options_.strategy},
                              {"tuning", tuning_name(options_.tuning.tuning)},
                              {"setting", setting_name(options_.setting)},
                              {"seed", options_.seed},
                              {"eval_on", options_.eval_on_train() ? "train" : "test"},
                              {"domains", names},
                              {"metrics", metrics},
                              {"base_scores", base_row},
                              {"base_model_perplexity", base_scores.value("base_perplexity", std::nan(""))},
                              {"matrix", R},
                              {"base_perplexity", ppl},
                              {"base_model_choice_accuracy", base_scores.value("choice_accuracy", std::nan(""))},
                              {"choice_accuracy", choice},
                              {"contamination", contamination_},
                              {"summary", summarize_matrix(R)},
                              {"rounds", rounds}};
    results["summary"]["final_base_perplexity"] = ppl.back();
    results["summary"]["final_choice_accuracy"] = choice.back();
    if (rounds.back().contains("adapter_overlap"))
      results["summary"]["final_adapter_overlap"] = rounds.back()["adapter_overlap"];
    if (paraphrased) {
      nlohmann::json base_p = nlohmann::json::array();
      for (const auto& n : names) base_p.push_back(base_scores["paraphrase_scores"][n]);
      results["paraphrase_base_scores"] = base_p;
      results["paraphrase_matrix"] = P;
      results["paraphrase_summary"] = summarize_matrix(P);
    }
    write_file_atomic(out_ + "/results.json", results.dump(2));
    std::ostringstream csv;
    csv << "round";
    for (const auto& n : names) csv << "," << n;
    csv << ",base_perplexity\nbase";
    for (const auto& v : base_row) csv << "," << v.get<double>();
    csv << "," << results["base_model_perplexity"].get<double>() << "\n";
    for (size_t t = 0; t < R.size(); ++t) {
      csv << t + 1;
      for (double v : R[t]) csv << "," << v;
      csv << "," << ppl[t].get<double>() << "\n";
    }
    write_file_atomic(out_ + "/matrix.csv", csv.str());
    plot(names, base_row, R);
    return results;
  }

  void plot(const std::vector<std::string>& names, const nlohmann::json& base_row,
            const std::vector<std::vector<double>>& R) const {
    std::ostringstream data, labels;
    for (size_t t = 0; t < R.size(); ++t) {
      for (double v : R[t]) data << v << " ";
      data << "\n";
    }
    write_file_atomic(out_ + "/matrix.dat", data.str());
    for (size_t j = 0; j < names.size(); ++j) labels << (j ? ", " : "") << "\"" << names[j] << "\" " << j;
    const std::string title = options_.strategy + std::string(" (") + tuning_name(options_.tuning.tuning) + ")";
    std::ostringstream heat;
    std::ostringstream rounds;
    for (size_t t = 0; t < R.size(); ++t) rounds << (t ? ", " : "") << "\"" << t + 1 << "\" " << t;
    heat << "set terminal pngcairo size 640,480 noenhanced\nset output '" << out_ << "/heatmap.png'\n"
         << "set title 'R[t][j]: " << title << "'\nset xlabel 'domain j'\nset ylabel 'after round t'\n"
         << "set xtics (" << labels.str() << ")\nset ytics (" << rounds.str() << ")\n"
         << "set yrange [" << R.size() - 0.5 << ":-0.5]\n"
         << "set cbrange [0:1]\nset palette rgbformulae 33,13,10\n"
         << "plot '" << out_ << "/matrix.dat' matrix with image notitle, '' matrix using 1:2:(sprintf('%.2f',$3)) "
         << "with labels notitle\n";
    run_gnuplot(heat.str(), out_ + "/heatmap.png");
    std::ostringstream curves;
    curves << "set terminal pngcairo size 640,480 noenhanced\nset output '" << out_ << "/curves.png'\n"
           << "set title 'score per domain: " << title << "'\nset xlabel 'round (0 = base)'\nset ylabel 'score'\n"
           << "set key outside\nset xtics 1\nplot ";
    for (size_t j = 0; j < names.size(); ++j) {
      curves << (j ? ", " : "") << "'-' with linespoints title '" << names[j] << "'";
    }
    curves << "\n";
    for (size_t j = 0; j < names.size(); ++j) {
      curves << "0 " << base_row[j].get<double>() << "\n";
      for (size_t t = 0; t < R.size(); ++t) curves << t + 1 << " " << R[t][j] << "\n";
      curves << "e\n";
    }
    run_gnuplot(curves.str(), out_ + "/curves.png");
  }

  KnowledgeOptions options_;
  std::string out_;
  std::unique_ptr<Strategy> strategy_;
  Tokenizer tokenizer_;
  std::vector<DomainData> domains_;
  std::vector<Example> base_eval_;
  std::vector<MultipleChoiceItem> choices_;
  nlohmann::json contamination_ = nlohmann::json::object();
  int round_ = 0;
  nlohmann::json stats_ = nlohmann::json::object();
};

}  // namespace

nlohmann::json run_knowledge(const KnowledgeOptions& options, const std::string& out_dir) {
  KnowledgeRun run(options, out_dir);
  return run.run();
}

// ---------- compare ----------

std::string compare_knowledge(const KnowledgeOptions& options, const std::vector<std::string>& strategies,
                              const std::vector<Tuning>& tunings, const std::vector<uint64_t>& seeds,
                              const std::string& out_dir) {
  // Refuse bad names and settings before hours of training.
  for (const auto& s : strategies)
    for (Tuning t : tunings) {
      KnowledgeOptions o = options;
      o.strategy = s;
      o.tuning.tuning = t;
      try {
        make_strategy(s, o);
      } catch (const Error& e) {
        // O-LoRA has no full-tuning form: that cell of the grid is skipped, not an error.
        if (s == "olora" && t == Tuning::Full) continue;
        throw;
      }
    }
  make_dirs(out_dir);
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& s : strategies)
    for (Tuning t : tunings) {
      if (s == "olora" && t == Tuning::Full) continue;
      for (uint64_t seed : seeds) {
        KnowledgeOptions o = options;
        o.strategy = s;
        o.tuning.tuning = t;
        o.seed = seed;
        const std::string dir = out_dir + "/" + s + "-" + tuning_name(t) + "-seed" + std::to_string(seed);
        nlohmann::json r = run_knowledge(o, dir);
        double seconds = 0;
        for (const auto& round : r["rounds"]) seconds += round.value("round_seconds", 0.0);
        runs.push_back({{"strategy", s},
                        {"tuning", tuning_name(t)},
                        {"seed", seed},
                        {"dir", dir},
                        {"summary", r["summary"]},
                        {"paraphrase_summary", r.value("paraphrase_summary", nlohmann::json())},
                        {"matrix", r["matrix"]},
                        {"seconds", seconds}});
      }
    }
  // Mean and half-range over seeds per (strategy, tuning).
  auto stat = [](const std::vector<double>& v) {
    if (v.empty() || std::isnan(v.front())) return std::string("–");
    double mean = 0, lo = v.front(), hi = v.front();
    for (double x : v) mean += x, lo = std::min(lo, x), hi = std::max(hi, x);
    mean /= static_cast<double>(v.size());
    char buf[48];
    if (v.size() > 1)
      std::snprintf(buf, sizeof(buf), "%.3f ± %.3f", mean, (hi - lo) / 2);
    else
      std::snprintf(buf, sizeof(buf), "%.3f", mean);
    return std::string(buf);
  };
  std::ostringstream md;
  md << "| strategy | tuning | recall: final average | recall: backward transfer | recall: mean acquisition | "
        "recall: min acquisition | paraphrase: final average | paraphrase: mean acquisition | definition choice "
        "(acc_norm) | base ppl | adapter overlap | time/run (s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::map<std::pair<std::string, std::string>, std::vector<const nlohmann::json*>> groups;
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& r : runs) {
    auto key = std::make_pair(r["strategy"].get<std::string>(), r["tuning"].get<std::string>());
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(&r);
  }
  for (const auto& key : order) {
    std::map<std::string, std::vector<double>> cols;
    for (const auto* r : groups[key]) {
      const auto& s = (*r)["summary"];
      const auto& p = (*r)["paraphrase_summary"];
      auto number = [](const nlohmann::json& j, const char* k) {
        return j.is_object() && j.contains(k) && j[k].is_number() ? j[k].get<double>() : std::nan("");
      };
      cols["avg"].push_back(s["average_accuracy"]);
      cols["bwt"].push_back(s["backward_transfer"].is_null() ? 0.0 : s["backward_transfer"].get<double>());
      cols["acq"].push_back(s["mean_acquisition"]);
      cols["min"].push_back(s["min_acquisition"]);
      cols["pavg"].push_back(number(p, "average_accuracy"));
      cols["pacq"].push_back(number(p, "mean_acquisition"));
      cols["mc"].push_back(number(s, "final_choice_accuracy"));
      cols["ppl"].push_back(number(s, "final_base_perplexity"));
      cols["ovl"].push_back(number(s, "final_adapter_overlap"));
      cols["sec"].push_back((*r)["seconds"]);
    }
    md << "| " << key.first << " | " << key.second;
    for (const char* c : {"avg", "bwt", "acq", "min", "pavg", "pacq", "mc", "ppl", "ovl", "sec"})
      md << " | " << stat(cols[c]);
    md << " |\n";
  }
  nlohmann::json summary = {{"setting", setting_name(options.setting)},
                            {"domains", options.domains},
                            {"seeds", seeds},
                            {"runs", runs},
                            {"table_markdown", md.str()}};
  write_file_atomic(out_dir + "/compare.json", summary.dump(2));
  write_file_atomic(out_dir + "/compare.md", md.str());
  return md.str();
}

}  // namespace loom
