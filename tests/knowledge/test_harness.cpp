#include <gtest/gtest.h>

#include <filesystem>

#include "error_message.h"
#include "loom/adapters/lora.h"
#include "loom/core/atomic_file.h"
#include "loom/core/json.h"
#include "loom/core/jsonl.h"
#include "loom/knowledge/harness.h"
#include "loom/merge/merge.h"
#include "loom/models/model_dir.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;
namespace fs = std::filesystem;

namespace {

// A tiny base model and two small user domains on disk.
struct Fixture {
  std::string dir;
  KnowledgeOptions options;

  explicit Fixture(const std::string& name) : dir(fresh_temp_dir(name)) {
    make_dirs(dir);
    TokenizerTrainOptions t;
    t.vocab_size = 259;
    Tokenizer tok = Tokenizer::train({"abc"}, t);
    LlamaConfig cfg = tiny_config();
    cfg.vocab_size = tok.vocab_size();
    LlamaForCausalLM base(cfg);
    base->reset_parameters(1);
    save_model_dir(dir + "/base", *base, tok);
    for (const char* d : {"colours", "sums"}) {
      std::vector<nlohmann::json> train, test;
      for (int i = 0; i < 12; ++i) {
        nlohmann::json row = {{"prompt", std::string(d) + " " + std::to_string(i) + ":"},
                              {"completion", " " + std::to_string(i * 7 % 10)},
                              {"paraphrase", "what is " + std::string(d) + " " + std::to_string(i) + "?"}};
        (i < 9 ? train : test).push_back(row);
      }
      make_dirs(dir + "/" + d);
      write_jsonl_atomic(dir + "/" + d + "/train.jsonl", train);
      write_jsonl_atomic(dir + "/" + d + "/test.jsonl", test);
    }
    write_jsonl_atomic(dir + "/base_eval.jsonl", {{{"text", "some held out text"}}, {{"text", "more of it"}}});
    Params p(knowledge_param_specs());
    p.set("base_model", dir + "/base", "test");
    p.set("base_eval_data", dir + "/base_eval.jsonl", "test");
    p.set("domains", "colours=" + dir + "/colours, sums=" + dir + "/sums@edit_similarity", "test");
    p.set("steps_per_round", "4", "test");
    p.set("micro_batch_size", "4", "test");
    p.set("lora_r", "2", "test");
    p.set("progress", "false", "test");
    p.set("log_every", "100", "test");
    p.set("checkpoint_every", "2", "test");
    p.set("choice_dictionary", "", "test");
    options = knowledge_options_from_params(p);
  }
};

}  // namespace

TEST(Knowledge, SummaryOfTheRetentionMatrix) {
  // Two rounds: domain 0 scored 0.8 after round 0 and 0.5 after round 1.
  auto s = summarize_matrix({{0.8, 0.1}, {0.5, 0.9}});
  EXPECT_DOUBLE_EQ(s["average_accuracy"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(s["backward_transfer"].get<double>(), -0.3);
  EXPECT_DOUBLE_EQ(s["newest_acquisition"].get<double>(), 0.9);
  EXPECT_DOUBLE_EQ(s["mean_acquisition"].get<double>(), 0.85);
  EXPECT_DOUBLE_EQ(s["min_acquisition"].get<double>(), 0.8);
}

TEST(Knowledge, ReplayResamplingUsesEveryExampleBeforeRepeating) {
  std::vector<Example> data;
  for (int i = 0; i < 5; ++i) data.push_back(random_example(3 + i, static_cast<uint64_t>(i)));
  auto out = resample_examples(data, 12, 3);
  ASSERT_EQ(out.size(), 12u);
  std::map<size_t, int> uses;
  for (const auto& e : out) uses[e.size()]++;
  for (const auto& [len, n] : uses) EXPECT_TRUE(n == 2 || n == 3) << len;  // 12 = 2 full passes + 2
  EXPECT_EQ(resample_examples(data, 3, 3).size(), 3u);
}

TEST(Knowledge, StrategyNamesAndSettingsAreChecked) {
  KnowledgeOptions o;
  auto e = error_of([&] { make_strategy("magic", o); });
  EXPECT_NE(e.find("unknown strategy 'magic'; valid: sequential, replay, joint, olora, merge_average, merge_ties, "
                   "merge_dare"),
            std::string::npos)
      << e;
  o.setting = Setting::SemiCooperative;
  for (const char* s : {"replay", "joint"})
    EXPECT_NE(error_of([&] { make_strategy(s, o); }).find("semi_cooperative run does not keep"), std::string::npos)
        << s;
  o.setting = Setting::FullyCooperative;
  EXPECT_NO_THROW(make_strategy("replay", o));
  o.tuning.tuning = Tuning::Full;
  EXPECT_NE(error_of([&] { make_strategy("olora", o); }).find("needs tuning: lora"), std::string::npos);
}

TEST(Knowledge, OLoraPenaltyIsTheL1NormOfCrossProducts) {
  auto a_new = torch::tensor({{1.0, -2.0}, {0.5, 0.0}}).requires_grad_(true);
  auto a_prev = torch::tensor({{3.0, 1.0}, {-1.0, 1.0}, {0.0, 2.0}});
  // A_new A_prevᵀ = [[1, -3, -4], [1.5, -0.5, 0]] -> L1 = 10.
  auto p = olora_penalty({a_new}, {a_prev});
  EXPECT_NEAR(p.item<double>(), 10.0, 1e-12);
  p.backward();
  // d/dA_new = sign(A_new A_prevᵀ) A_prev.
  auto expected = torch::matmul(torch::tensor({{1.0, -1.0, -1.0}, {1.0, -1.0, 0.0}}), a_prev);
  EXPECT_TRUE(torch::allclose(a_new.grad(), expected));
  EXPECT_NE(error_of([&] { olora_penalty({a_new}, {}); }).find("other modules"), std::string::npos);
}

// A strategy that claims to need no old data but reads it anyway is stopped
// by the round context, not trusted.
class Peeking : public Strategy {
 public:
  bool needs_past_data() const override { return false; }
  CausalLM run_round(RoundContext& ctx) override {
    if (ctx.round() > 0) ctx.training_data(0);
    return ctx.previous_model();
  }
};

TEST(KnowledgeSlow, SemiCooperativeRunsCannotReadEarlierData) {
  register_strategy("test_peeking", "reads old data",
                    [](const KnowledgeOptions&) { return std::make_unique<Peeking>(); });
  Fixture f("k_peek");
  f.options.strategy = "test_peeking";
  auto e = error_of([&] { run_knowledge(f.options, f.dir + "/run"); });
  EXPECT_NE(e.find("earlier domain 'colours', which a semi_cooperative run does not keep"), std::string::npos) << e;
  f.options.setting = Setting::FullyCooperative;
  EXPECT_NO_THROW(run_knowledge(f.options, f.dir + "/run2"));
}

TEST(KnowledgeSlow, SequentialLoraRunWritesTheMatrixAndResumesPerRound) {
  Fixture f("k_seq");
  const std::string out = f.dir + "/run";
  auto r = run_knowledge(f.options, out);
  ASSERT_EQ(r["matrix"].size(), 2u);
  ASSERT_EQ(r["matrix"][0].size(), 2u);
  EXPECT_EQ(r["domains"], nlohmann::json({"colours", "sums"}));
  EXPECT_EQ(r["metrics"]["sums"], "edit_similarity");
  for (const char* file : {"results.json", "matrix.csv", "base_scores.json", "round-1/scores.json",
                           "round-2/model/model.safetensors", "round-2/train/adapter/adapter_config.json"})
    EXPECT_TRUE(fs::exists(out + "/" + file)) << file;
  EXPECT_FALSE(fs::exists(out + "/round-1/train/checkpoints"));
  EXPECT_GT(r["rounds"][0]["optimizer_state_bytes"].get<int64_t>(), 0);
  EXPECT_LT(r["rounds"][0]["trainable_parameters"].get<int64_t>(), tiny_config().num_parameters() / 4);
  // The merged round-1 model differs from the base: the adapter did something.
  auto base = load_model_dir(f.dir + "/base").model, round1 = load_model_dir(out + "/round-1/model").model;
  EXPECT_FALSE(torch::equal(model_state(*base)[2].second, model_state(*round1)[2].second));
  // Rerunning with round 2 undone recomputes exactly that round, identically.
  const auto round1_time = fs::last_write_time(out + "/round-1/scores.json");
  fs::remove(out + "/round-2/scores.json");
  fs::remove_all(out + "/round-2/train");
  auto again = run_knowledge(f.options, out);
  EXPECT_EQ(fs::last_write_time(out + "/round-1/scores.json"), round1_time);
  EXPECT_EQ(again["matrix"], r["matrix"]);
  // The same facts in the held-out template are scored beside recall.
  ASSERT_EQ(r["paraphrase_matrix"].size(), 2u);
  EXPECT_EQ(r["paraphrase_matrix"][1].size(), 2u);
  EXPECT_TRUE(r["paraphrase_summary"].contains("mean_acquisition"));
  EXPECT_TRUE(r["rounds"][1].contains("adapter_overlap"));
  std::string csv = read_file_text(out + "/matrix.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "round,colours,sums,base_perplexity");
}

TEST(KnowledgeSlow, MergeAverageOfFullModelsIsTheMeanOfPerDomainModels) {
  Fixture f("k_merge");
  f.options.strategy = "merge_average";
  f.options.tuning.tuning = Tuning::Full;
  const std::string out = f.dir + "/run";
  run_knowledge(f.options, out);
  auto m1 = load_model_dir(out + "/round-1/train/model").model;
  auto m2 = load_model_dir(out + "/round-2/train/model").model;
  auto merged = load_model_dir(out + "/round-2/model").model;
  auto s1 = model_state(*m1), s2 = model_state(*m2), sm = model_state(*merged);
  for (size_t i = 0; i < sm.size(); ++i)
    EXPECT_TRUE(torch::allclose(sm[i].second, (s1[i].second + s2[i].second) / 2, 1e-5, 1e-6)) << sm[i].first;
}

TEST(KnowledgeSlow, ReplayAndJointRunInTheFullyCooperativeSetting) {
  Fixture f("k_replay");
  f.options.setting = Setting::FullyCooperative;
  for (const char* s : {"replay", "joint"}) {
    f.options.strategy = s;
    auto r = run_knowledge(f.options, f.dir + "/" + s);
    EXPECT_EQ(r["matrix"].size(), 2u) << s;
  }
  // Replay trains round 2 on 9 new + round(0.5 * 9) = 5 old examples: 4 * 14/9 -> 6 steps.
  auto replay = nlohmann::json::parse(read_file_text(f.dir + "/replay/round-2/scores.json"));
  EXPECT_EQ(replay["train_steps"], 6);
  auto joint = nlohmann::json::parse(read_file_text(f.dir + "/joint/round-2/scores.json"));
  EXPECT_EQ(joint["train_steps"], 8);
}

namespace {

// Σ |A_2 A_1ᵀ| over modules: how far round 2's adapter leaves round 1's subspace.
double cross_overlap(const std::string& run) {
  PeftAdapter a1 = load_peft_adapter(run + "/round-1/train/adapter"),
              a2 = load_peft_adapter(run + "/round-2/train/adapter");
  double total = 0;
  for (const auto& m : a1.modules())
    total += torch::matmul(a2.factor(m, 'A'), a1.factor(m, 'A').t()).abs().sum().item<double>();
  return total;
}

}  // namespace

TEST(KnowledgeSlow, OLoraPenaltyMakesRoundTwoMoreOrthogonalToRoundOne) {
  Fixture f("k_olora");
  f.options.strategy = "olora";
  f.options.steps_per_round = 8;
  // No dropout: its masks come from LibTorch's global generator, which the
  // first run would leave in another state for the second.
  f.options.tuning.lora.dropout = 0;
  auto params = std::make_shared<Params>(*f.options.strategy_params);
  params->set("olora_lambda", "0", "test");
  f.options.strategy_params = params;
  run_knowledge(f.options, f.dir + "/off");
  auto on = std::make_shared<Params>(*params);
  on->set("olora_lambda", "50", "test");
  f.options.strategy_params = on;
  run_knowledge(f.options, f.dir + "/on");
  // Round 1 has no earlier adapter: both runs train it identically.
  EXPECT_TRUE(torch::equal(load_peft_adapter(f.dir + "/off/round-1/train/adapter").tensors.begin()->second,
                           load_peft_adapter(f.dir + "/on/round-1/train/adapter").tensors.begin()->second));
  const double off = cross_overlap(f.dir + "/off"), with_penalty = cross_overlap(f.dir + "/on");
  // The harness reports the same overlap in every LoRA run's results.
  auto reported = read_json_file(f.dir + "/on/results.json")["rounds"][1]["adapter_overlap"].get<double>();
  EXPECT_NEAR(reported, with_penalty, 1e-6 * with_penalty);
  std::cerr << "O-LoRA overlap: lambda 0 -> " << off << ", lambda 50 -> " << with_penalty << "\n";
  EXPECT_LT(with_penalty, 0.8 * off);
}

TEST(KnowledgeSlow, MergeTiesRoundIsTheTiesMergeOfThePerDomainAdapters) {
  Fixture f("k_ties");
  f.options.strategy = "merge_ties";
  // The default is PEFT's factor-wise merge (the paper's call): round 2 is
  // add_weighted_adapter's TIES of the two adapters, merged into the base.
  run_knowledge(f.options, f.dir + "/peft");
  {
    const std::string out = f.dir + "/peft";
    std::vector<PeftAdapter> adapters = {load_peft_adapter(out + "/round-1/train/adapter"),
                                         load_peft_adapter(out + "/round-2/train/adapter")};
    MergeOptions mo;
    mo.method = "ties";
    CausalLM expected = load_model_dir(f.dir + "/base").model;
    apply_peft_adapter(*expected, merge_adapters_peft(adapters, {{1.0, 0.2}, {1.0, 0.2}}, mo));
    merge_lora(*expected);
    auto got = model_state(*load_model_dir(out + "/round-2/model").model), want = model_state(*expected);
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE(torch::allclose(got[i].second, want[i].second, 1e-6, 1e-7)) << want[i].first;
  }
  // The variant: the exact ΔW = s·B·A of each adapter, TIES-merged.
  auto params = std::make_shared<Params>(*f.options.strategy_params);
  params->set("lora_merge", "delta", "test");
  f.options.strategy_params = params;
  const std::string out = f.dir + "/run";
  run_knowledge(f.options, out);
  // Recompute round 2 from its two adapters with the merge module directly.
  CausalLM expected = load_model_dir(f.dir + "/base").model;
  std::vector<PeftAdapter> adapters = {load_peft_adapter(out + "/round-1/train/adapter"),
                                       load_peft_adapter(out + "/round-2/train/adapter")};
  MergeOptions mo;
  mo.method = "ties";
  merge_adapter_deltas_into(*expected, adapters, {{1.0, 0.2}, {1.0, 0.2}}, mo);
  auto got = model_state(*load_model_dir(out + "/round-2/model").model), want = model_state(*expected);
  bool any_changed = false;
  auto base = model_state(*load_model_dir(f.dir + "/base").model);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(torch::equal(got[i].second, want[i].second)) << want[i].first;
    any_changed |= !torch::equal(got[i].second, base[i].second);
  }
  EXPECT_TRUE(any_changed);
  // And it is not simply the average.
  CausalLM average = load_model_dir(f.dir + "/base").model;
  mo.method = "linear";
  merge_adapter_deltas_into(*average, adapters, {{0.5, 1}, {0.5, 1}}, mo);
  EXPECT_FALSE(torch::equal(model_state(*average)[2].second, got[2].second));
}

TEST(KnowledgeSlow, ADomainItemInThePretrainingCorpusIsRefusedOrDropped) {
  Fixture f("k_contam");
  // "colours 10: 0" is a test item of the colours domain; plant it in the corpus.
  write_jsonl_atomic(f.dir + "/pretrain.jsonl",
                     {{{"text", "unrelated text"}}, {{"text", "and then: colours 10: 0, they said"}}});
  f.options.pretrain_data = {f.dir + "/pretrain.jsonl"};
  auto e = error_of([&] { run_knowledge(f.options, f.dir + "/refused"); });
  EXPECT_NE(e.find("domain 'colours': 1 of 12 items appear in " + f.dir + "/pretrain.jsonl"), std::string::npos) << e;
  EXPECT_NE(e.find("colours 10: 0"), std::string::npos) << e;
  // The held-out evaluation text is checked too.
  f.options.pretrain_data.clear();
  write_jsonl_atomic(f.dir + "/base_eval.jsonl", {{{"text", "sums 3: 1"}}});
  e = error_of([&] { run_knowledge(f.options, f.dir + "/refused2"); });
  EXPECT_NE(e.find("domain 'sums': 1 of 12 items appear in"), std::string::npos) << e;
  // contamination: drop removes the item and records it.
  f.options.contamination = "drop";
  f.options.steps_per_round = 1;
  auto r = run_knowledge(f.options, f.dir + "/dropped");
  EXPECT_EQ(r["contamination"]["sums"]["found"], 1);
  EXPECT_EQ(r["contamination"]["colours"]["found"], 0);
}

TEST(Knowledge, ChoiceAccuracyPicksTheHighestLogLikelihoodPerByte) {
  TokenizerTrainOptions t;
  t.vocab_size = 259;
  Tokenizer tok = Tokenizer::train({"abc"}, t);
  LlamaConfig cfg = tiny_config();
  cfg.vocab_size = tok.vocab_size();
  LlamaForCausalLM model(cfg);
  model->reset_parameters(3);
  MultipleChoiceItem item{"word:", {" a cat", " the long dog", " xq", " zzzz zz"}, 0};
  DatasetOptions d;
  d.add_eos = false;
  // Per-byte log-likelihood of each choice, from the trainer's own loss.
  std::vector<double> per_byte;
  for (const auto& c : item.choices) {
    auto loss = evaluate_loss(*model, {make_prompt_example(tok, item.prompt, c, d)}, tok.pad_id(), 1);
    per_byte.push_back(-loss.loss * static_cast<double>(loss.label_tokens) / static_cast<double>(c.size()));
  }
  const auto best = static_cast<size_t>(std::max_element(per_byte.begin(), per_byte.end()) - per_byte.begin());
  const auto worst = static_cast<size_t>(std::min_element(per_byte.begin(), per_byte.end()) - per_byte.begin());
  item.answer = best;
  EXPECT_EQ(choice_accuracy(*model, tok, {item}, d), 1.0);
  item.answer = worst;
  EXPECT_EQ(choice_accuracy(*model, tok, {item, item}, d), 0.0);
}
