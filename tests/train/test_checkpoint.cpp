// Attacks on checkpoints from issue 17: state.json fields out of range and a
// `latest` that points outside the run. Each is a loom::Error naming the
// file and field, before any of it is used.
#include <gtest/gtest.h>

#include <filesystem>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/train/checkpoint.h"
#include "loom/train/trainer.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace loom;
using namespace loom::testing;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A run directory with one checkpoint of a small linear layer, at step 3.
struct SmallRun {
  std::string base, run;
  torch::nn::Linear module{2, 2};
  std::unique_ptr<torch::optim::SGD> optimizer;
  explicit SmallRun(const std::string& name) : base(fresh_temp_dir("ckpt_" + name)), run(base + "/run") {
    optimizer = std::make_unique<torch::optim::SGD>(module->parameters(), torch::optim::SGDOptions(0.1));
    CheckpointState s;
    s.step = 3;
    s.epoch = 1;
    s.cursor = 2;
    save_checkpoint(run, s, *module, *optimizer, 2);
  }
  std::string checkpoints() const { return run + "/checkpoints"; }
  std::string load_error() {
    return error_of([&] { load_latest_checkpoint(run, *module, *optimizer); });
  }
};

}  // namespace

TEST(CheckpointState, EveryFieldIsRangeChecked) {
  const std::string good = R"({"step": 3, "epoch": 1, "cursor": 2, "format": "loom-checkpoint", "version": 1})";
  const CheckpointState s = parse_checkpoint_state(good, "state.json");
  EXPECT_EQ(s.step, 3);
  EXPECT_EQ(s.cursor, 2);
  struct Case {
    const char* field;
    nlohmann::json value;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"step", -5, "s.json: field 'step' must be an integer in [0, 2^53], got -5"},
      {"cursor", -1, "s.json: field 'cursor' must be an integer in [0, 2^53], got -1"},
      {"cursor", uint64_t{1} << 63, "field 'cursor' must be an integer in [0, 2^53], got 9223372036854775808"},
      {"epoch", 1.5, "field 'epoch' must be an integer in [0, 2^53], got 1.5"},
      {"step", "7", "field 'step' must be an integer"},
      {"format", "pytorch", "s.json: field 'format' is \"pytorch\", expected \"loom-checkpoint\""},
      {"version", 2, "s.json: field 'version' is 2; loom reads version 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.field) + " = " + c.value.dump());
    nlohmann::json j = nlohmann::json::parse(good);
    j[c.field] = c.value;
    const std::string e = error_of([&] { parse_checkpoint_state(j.dump(), "s.json"); });
    EXPECT_TRUE(contains(e, c.expected)) << e;
  }
  nlohmann::json missing = nlohmann::json::parse(good);
  missing.erase("cursor");
  EXPECT_TRUE(contains(error_of([&] { parse_checkpoint_state(missing.dump(), "s.json"); }), "missing field 'cursor'"));
  const std::string deep = R"({"extra": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_TRUE(contains(error_of([&] { parse_checkpoint_state(deep, "s.json"); }), "s.json: JSON nested deeper"));
}

TEST(CheckpointState, LatestMayOnlyNameACheckpointInsideTheRun) {
  SmallRun r("latest");
  EXPECT_EQ(load_latest_checkpoint(r.run, *r.module, *r.optimizer)->step, 3);
  // A complete checkpoint outside the run: loading it would be silent.
  fs::copy(r.checkpoints(), r.base + "/elsewhere", fs::copy_options::recursive);
  for (const std::string name : {"../../elsewhere/step-000003", "/etc", "step-000003/../step-000003", "", "step-"}) {
    SCOPED_TRACE(name);
    write_file_atomic(r.checkpoints() + "/latest", name + "\n");
    const std::string e = r.load_error();
    EXPECT_TRUE(contains(e, r.checkpoints() + "/latest: names '" + name + "'; expected a checkpoint directory step-N"))
        << e;
  }
  // A symlink that looks like a checkpoint, pointing out of the run.
  fs::create_directory_symlink(r.base + "/elsewhere/step-000003", r.checkpoints() + "/step-000009");
  write_file_atomic(r.checkpoints() + "/latest", "step-000009\n");
  EXPECT_TRUE(contains(r.load_error(), "it is a symlink")) << r.load_error();
  write_file_atomic(r.checkpoints() + "/latest", "step-000004\n");
  EXPECT_TRUE(contains(r.load_error(), "names step-000004, which is not a directory")) << r.load_error();
}

TEST(CheckpointState, StateMustBeForTheStepItsDirectoryIsNamedAfter) {
  SmallRun r("mismatch");
  const std::string state = r.checkpoints() + "/step-000003/state.json";
  nlohmann::json j = nlohmann::json::parse(read_file_text(state));
  j["step"] = 7;
  write_file_atomic(state, j.dump());
  EXPECT_TRUE(contains(r.load_error(), state + ": step 7 does not match its directory step-000003")) << r.load_error();
  j["step"] = 3;
  j["cursor"] = -4;
  write_file_atomic(state, j.dump());
  EXPECT_TRUE(contains(r.load_error(), state + ": field 'cursor' must be an integer")) << r.load_error();
}

TEST(DataCursor, SeekRefusesACursorOutsideTheEpoch) {
  std::vector<Example> data;
  for (uint64_t i = 0; i < 10; ++i) data.push_back(random_example(4, i));
  DataCursor c(&data, Packing::PaddingFree, 3, 0, 5);  // 4 micro-batches per epoch
  EXPECT_TRUE(contains(error_of([&] { c.seek(0, 5); }), "data cursor 5 is outside epoch 0, which has 4 micro-batches"));
  EXPECT_TRUE(contains(error_of([&] { c.seek(0, -1); }), "data cursor -1 is outside epoch 0"));
  EXPECT_TRUE(contains(error_of([&] { c.seek(-2, 0); }), "data epoch -2 is negative"));
  c.seek(2, 4);  // the end of an epoch is where a finished one stops
  EXPECT_EQ(c.next().size(), 3u);
  EXPECT_EQ(c.epoch(), 3);
}

TEST(CheckpointState, ResumeChecksTheCursorAndStepAgainstTheRun) {
  const std::string out = fresh_temp_dir("ckpt_resume");
  TokenizerTrainOptions topts;
  topts.vocab_size = 259;
  const Tokenizer tok = Tokenizer::train({}, topts);
  std::vector<Example> data;
  for (uint64_t i = 0; i < 12; ++i) data.push_back(random_example(6, i));
  TrainOptions o;
  o.max_steps = 2;
  o.micro_batch_size = 4;
  o.warmup_steps = 0;
  o.eval_every = 0;
  o.progress = false;
  auto comm = Communicator::create({});
  auto trainer = [&](int64_t max_steps) {
    TrainOptions opts = o;
    opts.max_steps = max_steps;
    LlamaForCausalLM m(tiny_config());
    return std::make_unique<Trainer>(opts, m.ptr(), tok, data, std::vector<Example>{}, comm.get(), out);
  };
  trainer(2)->run(false);
  const std::string state = out + "/checkpoints/step-000002/state.json";
  // The resumed run has fewer steps than the checkpoint.
  EXPECT_TRUE(contains(error_of([&] { trainer(1)->run(true); }), state + ": step 2 is beyond max_steps 1"));
  // A cursor past the end of the epoch (3 micro-batches of 4 examples).
  nlohmann::json j = nlohmann::json::parse(read_file_text(state));
  j["cursor"] = 999;
  write_file_atomic(state, j.dump());
  const std::string e = error_of([&] { trainer(4)->run(true); });
  EXPECT_TRUE(contains(e, state + ": data cursor 999 is outside epoch 0, which has 3 micro-batches")) << e;
}
