// End-to-end checks through the `loom` program: exact resume (also after a
// SIGKILL inside a checkpoint write), 2-process data parallelism, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "loom/core/atomic_file.h"
#include "loom/tensor/tensor_io.h"
#include "loom_cli_run.h"

namespace fs = std::filesystem;

namespace {

std::string work_dir() {
  static std::string dir = [] {
    std::string d = (fs::temp_directory_path() / ("loom_cli_" + std::to_string(::getpid()))).string();
    fs::remove_all(d);
    fs::create_directories(d);
    std::string text;
    const char* words[] = {"alpha", "beta", "gamma", "delta", "river", "stone", "light", "north", "quiet", "seven"};
    for (int i = 0; i < 160; ++i) {
      std::string line;
      for (int w = 0; w < 4 + i % 9; ++w) line += std::string(w ? " " : "") + words[(i * 7 + w * 3) % 10];
      text += nlohmann::json({{"text", line + "."}}).dump() + "\n";
    }
    loom::write_file_atomic(d + "/train.jsonl", text);
    return d;
  }();
  return dir;
}

using loom::testing::CliRun;

CliRun loom_cmd(const std::string& args, const std::string& env = "") {
  return loom::testing::run_loom(args, work_dir() + "/last.log", env);
}

std::string tiny_run(const std::string& out) {
  return "pretrain --train-data " + work_dir() + "/train.jsonl --out " + out +
         " --vocab-size 300 --hidden-size 32 --intermediate-size 48 --num-layers 2 --num-heads 4 --num-kv-heads 2"
         " --max-seq-len 32 --micro-batch-size 4 --max-steps 9 --warmup-steps 2 --lr 3e-3 --log-every 1"
         " --eval-every 0 --checkpoint-every 3 --progress false --seed 1";
}

std::vector<double> losses(const std::string& run_dir) {
  std::vector<double> out;
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

}  // namespace

TEST(CliSlow, ResumeAfterKillInsideCheckpointWriteLogsTheSameLosses) {
  std::string full = work_dir() + "/full", killed = work_dir() + "/killed";
  ASSERT_EQ(loom_cmd(tiny_run(full)).exit_code, 0) << loom_cmd(tiny_run(full)).output;
  auto reference = losses(full);
  ASSERT_EQ(reference.size(), 9u);

  // Dies by SIGKILL while writing the step-6 checkpoint; step 3's survives.
  CliRun crashed = loom_cmd(tiny_run(killed), "LOOM_FAULT_KILL_IN_CHECKPOINT=6");
  EXPECT_EQ(crashed.exit_code, 128 + SIGKILL) << crashed.output;
  EXPECT_EQ(loom::read_file_text(killed + "/checkpoints/latest"), "step-000003\n");
  CliRun resumed = loom_cmd(tiny_run(killed) + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from step 3"), std::string::npos) << resumed.output;
  auto after = losses(killed);
  ASSERT_EQ(after.size(), reference.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_DOUBLE_EQ(after[i], reference[i]) << "step " << i + 1;
  EXPECT_TRUE(fs::exists(killed + "/model/model.safetensors"));
}

TEST(CliSlow, TwoProcessDataParallelEqualsOneProcess) {
  std::string single = work_dir() + "/single", dp = work_dir() + "/dp", dp2 = work_dir() + "/dp2";
  ASSERT_EQ(loom_cmd(tiny_run(single) + " --grad-accum 2 --max-steps 4").exit_code, 0);
  // Two data-parallel runs at once on one machine: each picks its own free
  // rendezvous port, so neither dies with "Address already in use".
  CliRun two = loom_cmd(tiny_run(dp) + " --nproc 2 --max-steps 4 > " + work_dir() + "/dp.log 2>&1 & " + LOOM_BINARY +
                        " " + tiny_run(dp2) + " --nproc 2 --max-steps 4; status=$?; wait $! && exit $status");
  ASSERT_EQ(two.exit_code, 0) << two.output << loom::read_file_text(work_dir() + "/dp.log");
  auto a = losses(single), b = losses(dp), c = losses(dp2);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::abs(a[i])) << "step " << i + 1;
  EXPECT_EQ(b, c);
}

TEST(CliSlow, BadInputGetsAClearErrorAndNonZeroExit) {
  std::string cfg = work_dir() + "/bad.yaml";
  loom::write_file_atomic(cfg, "max_steps: 3\nlearning_rate: 0.1\n");
  CliRun r = loom_cmd("pretrain --config " + cfg + " --out " + work_dir() + "/x");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.yaml:2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("learning_rate"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("valid keys: train_data"), std::string::npos) << r.output;

  std::string data = work_dir() + "/broken.jsonl";
  loom::write_file_atomic(data, "{\"text\": \"fine\"}\n{\"text\": \"unterminated}\n");
  r = loom_cmd("pretrain --train-data " + data + " --out " + work_dir() + "/y --vocab-size 260");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("broken.jsonl:2"), std::string::npos) << r.output;

  r = loom_cmd("eval --model " + work_dir() + "/nonexistent --data " + data);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("nonexistent"), std::string::npos) << r.output;

  r = loom_cmd("pretrain --packing zip --train-data " + data + " --out " + work_dir() + "/z");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("padding_free"), std::string::npos) << r.output;
}

// Issue 17: files and configs written by someone else, run through the
// program as a user would. Each is refused with exit code 2 and a message
// naming the file (and line or field), never a crash or garbage output.
TEST(CliSlow, HostileFilesGetAClearErrorNamingTheFile) {
  const std::string run = work_dir() + "/hostile";
  ASSERT_EQ(loom_cmd(tiny_run(run) + " --max-steps 2 --checkpoint-every 1").exit_code, 0);

  // NaN weights: generate used to fail inside torch naming no file, and
  // --greedy printed NUL bytes (argmax reads NaN logits as token 0).
  const std::string nan_model = work_dir() + "/nan_model";
  fs::copy(run + "/model", nan_model, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  loom::NamedTensors tensors;
  for (auto& [name, t] : loom::load_tensors(nan_model + "/model.safetensors")) {
    if (name == "model.norm.weight") t.fill_(std::nanf(""));
    tensors.push_back({name, t});
  }
  loom::save_tensors(nan_model + "/model.safetensors", tensors);
  CliRun r = loom_cmd("generate --model " + nan_model + " --prompt 'alpha' --max-new-tokens 4 --greedy");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(nan_model + "/model.safetensors: tensor 'model.norm.weight' holds NaN"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find('\0'), std::string::npos) << "NUL bytes in the output";

  // A checkpoint whose cursor lies far outside the data: an out-of-bounds read before.
  const std::string state = run + "/checkpoints/step-000002/state.json";
  auto j = nlohmann::json::parse(loom::read_file_text(state));
  j["cursor"] = 1000000;
  loom::write_file_atomic(state, j.dump());
  r = loom_cmd(tiny_run(run) + " --max-steps 4 --resume");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(state + ": data cursor 1000000 is outside epoch"), std::string::npos) << r.output;
  // `latest` naming a directory outside the run.
  loom::write_file_atomic(run + "/checkpoints/latest", "../../hostile/checkpoints/step-000001\n");
  r = loom_cmd(tiny_run(run) + " --max-steps 4 --resume");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("checkpoints/latest: names '../../hostile/checkpoints/step-000001'"), std::string::npos)
      << r.output;

  // A key given twice in a config: yaml-cpp kept the last one silently.
  const std::string cfg = work_dir() + "/twice.yaml";
  loom::write_file_atomic(cfg, "max_steps: 3\nlr: 0.1\nmax_steps: 300\n");
  r = loom_cmd("pretrain --config " + cfg + " --out " + work_dir() + "/t");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("twice.yaml:3: key 'max_steps' is given twice in one mapping (first on line 1)"),
            std::string::npos)
      << r.output;

  // OT problems: reg 0 named no file; costs of 1e308 gave NaN potentials with status optimal.
  const std::string problem = work_dir() + "/p.json";
  loom::write_file_atomic(
      problem, R"({"cost": [[1, 2], [3, 4]], "a": [0.5, 0.5], "b": [0.5, 0.5], "method": "sinkhorn", "reg": 0})");
  r = loom_cmd("ot solve --input " + problem);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(problem + ": field 'reg' must be a positive finite number, got 0"), std::string::npos)
      << r.output;
  loom::write_file_atomic(problem, R"({"cost": [[1e308, -1e308], [-1e308, 1e308]], "a": [0.5, 0.5], "b": [0.5, 0.5]})");
  r = loom_cmd("ot solve --input " + problem);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(problem + ": ot: costs as large as 1e+308"), std::string::npos) << r.output;
}

TEST(CliSlow, GenerateAndEvalUseTheTrainedModel) {
  std::string run = work_dir() + "/gen";
  ASSERT_EQ(loom_cmd(tiny_run(run) + " --max-steps 3").exit_code, 0);
  CliRun g = loom_cmd("generate --model " + run + "/model --prompt 'alpha beta' --max-new-tokens 5 --greedy");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  EXPECT_EQ(g.output.rfind("alpha beta", 0), 0u) << g.output;
  CliRun e = loom_cmd("eval --model " + run + "/model --data " + work_dir() + "/train.jsonl");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  auto j = nlohmann::json::parse(e.output.substr(e.output.find('{')));
  EXPECT_GT(j["loss"].get<double>(), 0.0);
  EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(j["loss"].get<double>()), 1e-6 * j["perplexity"].get<double>());
}

// `loom bench packing --resume` keeps the runs a cut benchmark wrote; rows of
// another configuration or with missing fields are refused naming the line,
// before any run starts.
TEST(CliSlow, BenchPackingResumeRefusesRowsItCannotUse) {
  const std::string out = work_dir() + "/packing";
  fs::create_directories(out);
  const nlohmann::json row = {{"repeat", 0},
                              {"hidden", 128},
                              {"dist", "flan"},
                              {"packing", "none"},
                              {"real_tokens_per_s", 1e3},
                              {"peak_rss_mb", 500.0},
                              {"padding_fraction", 0.5},
                              {"quick", false}};
  loom::write_file_atomic(out + "/packing-results.jsonl", row.dump() + "\n");
  const std::string args =
      "bench packing --quick true --resume true --models 128 --out " + out + " --corpus " + work_dir() + "/train.jsonl";
  CliRun r = loom_cmd(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("packing-results.jsonl:1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("same --quick"), std::string::npos) << r.output;

  nlohmann::json usable = row;
  usable["quick"] = true;
  nlohmann::json broken = usable;
  broken.erase("hidden");
  loom::write_file_atomic(out + "/packing-results.jsonl", usable.dump() + "\n" + broken.dump() + "\n");
  r = loom_cmd(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("packing-results.jsonl:2: `hidden` is not an integer"), std::string::npos) << r.output;
}
