// `loom moe` through the program: bad input ends with exit code 2 and an
// error naming the field or file, and a good mix writes a loadable directory.
#include <gtest/gtest.h>

#include <filesystem>

#include "loom/core/jsonl.h"
#include "loom_cli_run.h"
#include "moe_fixture.h"

using namespace loom;
using namespace loom::testing;

namespace {

CliRun loom_cmd(const std::string& dir, const std::string& args) { return run_loom(args, dir + "/last.log"); }

}  // namespace

TEST(MoeCliSlow, BadInputIsAnErrorNamingTheFieldOrFile) {
  TinyModels models("moe_cli", 2);
  const std::string experts = "--experts " + models.dirs[0] + "," + models.dirs[1];
  const std::string out = " --out " + models.dir + "/out";
  struct Case {
    std::string args, message;
  };
  write_file_atomic(models.dir + "/empty.jsonl", "");
  const std::vector<Case> cases = {
      {"moe mix " + experts + " --top-k 3" + out, "top_k 3 exceeds the 2 experts"},
      {"moe mix " + experts + " --modules mlp,o_proj" + out, "o_proj cannot be mixed"},
      {"moe mix " + experts + " --router-init hidden --positive-prompts " + models.dir + "/empty.jsonl," + models.dir +
           "/empty.jsonl" + out,
       models.dir + "/empty.jsonl: the positive-prompt file has no prompts"},
      {"moe mix " + experts + " --router magic" + out, "unknown router type 'magic'; valid: linear, deep"},
      {"moe blend --base-model " + models.dirs[0] + " --adapters " + models.dir + "/none" + out,
       models.dir + "/none: not a PEFT adapter directory"},
      {"moe train --model " + models.dirs[0] + " --train-data " + models.dir + "/empty.jsonl" + out,
       "expected a mixture of experts (mixtral or loom_moe), got model_type 'llama'"},
  };
  for (const auto& c : cases) {
    CliRun r = loom_cmd(models.dir, c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
  }
  CliRun ok = loom_cmd(models.dir, "moe mix " + experts + out);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_EQ(load_model_dir(models.dir + "/out").model->model_type(), "mixtral");
}
