// `loom supernet` end to end on a tiny decoder: pretrain a teacher, train
// the MLFS stages, search under a budget, extract the subnet, and load it
// with the core's `loom eval` and `loom generate`; bad specs and budgets
// get clear errors naming the field.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "loom/core/atomic_file.h"
#include "loom_cli_run.h"

namespace fs = std::filesystem;

namespace {

std::string work_dir() {
  static std::string dir = [] {
    std::string d = (fs::temp_directory_path() / ("loom_supernet_cli_" + std::to_string(::getpid()))).string();
    fs::remove_all(d);
    fs::create_directories(d);
    const char* words[] = {"alpha", "beta", "gamma", "delta", "river", "stone", "light", "north", "quiet", "seven"};
    for (const char* split : {"train", "valid"}) {
      std::string text;
      const int offset = split[0] == 't' ? 0 : 5;
      for (int i = 0; i < (offset ? 24 : 120); ++i) {
        std::string line;
        for (int w = 0; w < 4 + i % 7; ++w) line += std::string(w ? " " : "") + words[(i * 7 + w * 3 + offset) % 10];
        text += nlohmann::json({{"text", line + "."}}).dump() + "\n";
      }
      loom::write_file_atomic(d + "/" + split + ".jsonl", text);
    }
    return d;
  }();
  return dir;
}

using loom::testing::CliRun;

CliRun loom_cmd(const std::string& args) { return loom::testing::run_loom(args, work_dir() + "/last.log"); }

// The last line of the output that is a JSON object (commands print one).
nlohmann::json last_json(const std::string& output) {
  size_t end = output.size();
  while (end > 0) {
    const size_t begin = output.rfind('\n', end - 1) == std::string::npos ? 0 : output.rfind('\n', end - 1) + 1;
    const std::string line = output.substr(begin, end - begin);
    if (!line.empty() && line[0] == '{') return nlohmann::json::parse(line);
    if (begin == 0) break;
    end = begin - 1;
  }
  throw std::runtime_error("no JSON line in: " + output);
}

}  // namespace

TEST(SupernetCliSlow, DecoderSubnetIsSearchedExtractedAndLoadedByEvalAndGenerate) {
  const std::string d = work_dir(), teacher = d + "/teacher", run = d + "/mlfs";
  CliRun r = loom_cmd("pretrain --train-data " + d + "/train.jsonl --out " + teacher +
                      " --vocab-size 300 --hidden-size 32 --intermediate-size 48 --num-layers 2 --num-heads 4"
                      " --num-kv-heads 2 --max-seq-len 32 --micro-batch-size 4 --max-steps 3 --eval-every 0"
                      " --progress false --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = loom_cmd("supernet train --task lm --teacher " + teacher + "/model --train-data " + d +
               "/train.jsonl --valid-data " + d +
               "/valid.jsonl --max-seq-len 32 --stage0-steps 2 --stage1-steps 2 --stage2-steps 2"
               " --stage0-batch-size 4 --stage1-batch-size 4 --stage2-batch-size 4 --out " +
               run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(fs::exists(run + "/stage-2/adapter/adapter_config.json"));

  const double full = last_json(loom_cmd("supernet extract --run " + run + " --spec '{}' --out " + d + "/full").output)
                          .at("params")
                          .get<double>();
  r = loom_cmd("supernet search --run " + run + " --budget params=" + std::to_string(0.8 * full) +
               " --search-population 4 --search-generations 2 --out " + d + "/best.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto best = last_json(r.output);
  EXPECT_LE(best["cost"]["params"].get<double>(), 0.8 * full);

  r = loom_cmd("supernet extract --run " + run + " --spec " + d + "/best.json --out " + d + "/subnet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(last_json(r.output)["params"].get<double>(), best["cost"]["params"].get<double>());
  // The core's own commands load the extracted directory like any model.
  CliRun e = loom_cmd("eval --model " + d + "/subnet --data " + d + "/valid.jsonl --max-seq-len 32 --threads 1");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(std::isfinite(last_json(e.output)["loss"].get<double>()));
  CliRun g = loom_cmd("generate --model " + d + "/subnet --prompt 'alpha beta' --max-new-tokens 4 --greedy");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  EXPECT_EQ(g.output.rfind("alpha beta", 0), 0u) << g.output;

  // Bad input: each a clear error naming the field, exit code 2.
  for (auto [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"extract --run " + run + " --spec '{\"ffn\": 4096}' --out " + d + "/x", "ffn[0]: 4096 is outside"},
           {"extract --run " + run + " --spec '{\"width\": 8}' --out " + d + "/x", "unknown dimension 'width'"},
           {"extract --run " + run + " --spec '{\"heads\": 3}' --out " + d + "/x", "do not divide into key/value"},
           {"search --run " + run + " --budget params=10", "no subnet fits the budget params=10"},
           {"search --run " + run + " --budget watts=3", "unknown budget metric 'watts'"},
           {"search --run " + d + " --budget params=10", "not an MLFS run directory"}}) {
    CliRun bad = loom_cmd("supernet " + args);
    EXPECT_EQ(bad.exit_code, 2) << args << "\n" << bad.output;
    EXPECT_NE(bad.output.find(message), std::string::npos) << args << "\n" << bad.output;
  }
  fs::remove_all(d);
}
