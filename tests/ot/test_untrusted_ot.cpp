// Attacks on OT problem files from issue 17: costs whose sums overflow
// double (which gave NaN potentials with status "optimal"), a regulariser of
// zero, and nesting. Each is a loom::Error naming the file and field.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "error_message.h"
#include "loom/core/error.h"
#include "loom/ot/io.h"
#include "loom/ot/ot.h"
#include "loom/ot/solvers.h"

using namespace loom;
using namespace loom::ot;
using loom::testing::error_of;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const char* kProblem = R"({"cost": [[1, 2], [3, 4]], "a": [0.5, 0.5], "b": [0.5, 0.5]})";

}  // namespace

TEST(UntrustedOt, CostsThatOverflowThePotentialsAreRefusedByEverySolver) {
  Problem p;
  p.a = {0.5, 0.5};
  p.b = {0.5, 0.5};
  p.cost = Matrix(2, 2);
  p.cost.data = {1e308, -1e308, -1e308, 1e308};
  for (const auto& [name, solver] : solvers().entries()) {
    SCOPED_TRACE(name);
    p.method = name;
    const std::string e = error_of([&] {
      const Result r = solve(p);
      // Never reached on a refused problem; if it were, NaN must not pass as a solution.
      if (!std::isfinite(r.cost)) throw Error("non-finite cost with status " + r.status);
    });
    EXPECT_TRUE(contains(e, "overflow double arithmetic in the potentials")) << e;
  }
  nlohmann::json j = nlohmann::json::parse(kProblem);
  j["cost"] = {{1e308, -1e308}, {-1e308, 1e308}};
  const std::string e = error_of([&] { parse_problem_json(j.dump(), "p.json"); });
  EXPECT_TRUE(contains(e, "p.json: ot: costs as large as 1e+308")) << e;
  // Large but safe costs still solve, with finite potentials.
  p.cost.data = {1e200, 0, 0, 1e200};
  p.method = "exact";
  const Result r = solve(p);
  EXPECT_NEAR(r.cost, 0.0, 1e-9);
  for (double u : r.u) EXPECT_TRUE(std::isfinite(u));
  for (double v : r.v) EXPECT_TRUE(std::isfinite(v));
}

TEST(UntrustedOt, RegMustBePositiveAndTheFileIsNamed) {
  for (const nlohmann::json& reg : {nlohmann::json(0), nlohmann::json(-0.5)}) {
    nlohmann::json j = nlohmann::json::parse(kProblem);
    j["reg"] = reg;
    const std::string e = error_of([&] { parse_problem_json(j.dump(), "p.json"); });
    EXPECT_TRUE(contains(e, "p.json: field 'reg' must be a positive finite number, got " + reg.dump())) << e;
  }
}

TEST(UntrustedOt, DeeplyNestedProblemFilesAreRefused) {
  const std::string deep = R"({"cost": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  const std::string e = error_of([&] { parse_problem_json(deep, "p.json"); });
  EXPECT_TRUE(contains(e, "p.json: JSON nested deeper than 64 levels")) << e;
}
