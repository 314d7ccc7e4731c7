#include <gtest/gtest.h>

#include <filesystem>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/core/jsonl.h"
#include "loom/knowledge/harness.h"
#include "loom/adapters/lora.h"
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
    save_model_dir(dir + "/base", base, tok);
    for (const char* d : {"colours", "sums"}) {
      std::vector<nlohmann::json> train, test;
      for (int i = 0; i < 12; ++i) {
        nlohmann::json row = {{"prompt", std::string(d) + " " + std::to_string(i) + ":"},
                              {"completion", " " + std::to_string(i * 7 % 10)}};
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
  EXPECT_NE(e.find("valid: joint, merge_average, merge_dare, merge_ties, olora, replay, sequential"), std::string::npos)
      << e;
  o.setting = Setting::SemiCooperative;
  for (const char* s : {"replay", "joint"})
    EXPECT_NE(error_of([&] { make_strategy(s, o); }).find("semi_cooperative run does not keep"), std::string::npos)
        << s;
  o.setting = Setting::FullyCooperative;
  EXPECT_NO_THROW(make_strategy("replay", o));
  o.tuning = Tuning::Full;
  EXPECT_NE(error_of([&] { make_strategy("olora", o); }).find("needs tuning: lora"), std::string::npos);
}

// A strategy that claims to need no old data but reads it anyway is stopped
// by the round context, not trusted.
class Peeking : public Strategy {
 public:
  bool needs_past_data() const override { return false; }
  LlamaForCausalLM run_round(RoundContext& ctx) override {
    if (ctx.round() > 0) ctx.training_data(0);
    return ctx.previous_model();
  }
};

TEST(Knowledge, SemiCooperativeRunsCannotReadEarlierData) {
  register_strategy("test_peeking", "reads old data",
                    [](const KnowledgeOptions&) { return std::make_unique<Peeking>(); });
  Fixture f("k_peek");
  f.options.strategy = "test_peeking";
  auto e = error_of([&] { run_knowledge(f.options, f.dir + "/run"); });
  EXPECT_NE(e.find("earlier domain 'colours', which a semi_cooperative run does not keep"), std::string::npos) << e;
  f.options.setting = Setting::FullyCooperative;
  EXPECT_NO_THROW(run_knowledge(f.options, f.dir + "/run2"));
}

TEST(Knowledge, SequentialLoraRunWritesTheMatrixAndResumesPerRound) {
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
  EXPECT_FALSE(torch::equal(model_state(base)[2].second, model_state(round1)[2].second));
  // Rerunning with round 2 undone recomputes exactly that round, identically.
  const auto round1_time = fs::last_write_time(out + "/round-1/scores.json");
  fs::remove(out + "/round-2/scores.json");
  fs::remove_all(out + "/round-2/train");
  auto again = run_knowledge(f.options, out);
  EXPECT_EQ(fs::last_write_time(out + "/round-1/scores.json"), round1_time);
  EXPECT_EQ(again["matrix"], r["matrix"]);
  std::string csv = read_file_text(out + "/matrix.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "round,colours,sums,base_perplexity");
}

TEST(Knowledge, MergeAverageOfFullModelsIsTheMeanOfPerDomainModels) {
  Fixture f("k_merge");
  f.options.strategy = "merge_average";
  f.options.tuning = Tuning::Full;
  const std::string out = f.dir + "/run";
  run_knowledge(f.options, out);
  auto m1 = load_model_dir(out + "/round-1/train/model").model;
  auto m2 = load_model_dir(out + "/round-2/train/model").model;
  auto merged = load_model_dir(out + "/round-2/model").model;
  auto s1 = model_state(m1), s2 = model_state(m2), sm = model_state(merged);
  for (size_t i = 0; i < sm.size(); ++i)
    EXPECT_TRUE(torch::allclose(sm[i].second, (s1[i].second + s2[i].second) / 2, 1e-5, 1e-6)) << sm[i].first;
}

TEST(Knowledge, ReplayAndJointRunInTheFullyCooperativeSetting) {
  Fixture f("k_replay");
  f.options.setting = Setting::FullyCooperative;
  for (const char* s : {"replay", "joint", "olora", "merge_ties"}) {
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
