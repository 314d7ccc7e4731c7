#include <gtest/gtest.h>

#include "error_message.h"
#include "loom/core/error.h"
#include "loom/core/params.h"

using namespace loom;
using loom::testing::error_of;

namespace {

Params make() {
  return Params({{"lr", ParamType::Float, "3e-4", "learning rate"},
                 {"steps", ParamType::Int, "10", "steps"},
                 {"packing", ParamType::String, "none", "packing", {"none", "padding_free"}},
                 {"resume", ParamType::Bool, "false", "resume"}});
}

}  // namespace

TEST(Params, DefaultsYamlAndOverrides) {
  Params p = make();
  EXPECT_DOUBLE_EQ(p.get_float("lr"), 3e-4);
  p.load_yaml_string("lr: 0.01\nsteps: 5\npacking: padding_free\n", "cfg.yaml");
  EXPECT_DOUBLE_EQ(p.get_float("lr"), 0.01);
  EXPECT_EQ(p.get_int("steps"), 5);
  p.set("steps", "7", "--steps");
  EXPECT_EQ(p.get_int("steps"), 7);
  Params again = make();
  again.load_yaml_string(p.dump_yaml(), "dump");
  EXPECT_EQ(again.dump_yaml(), p.dump_yaml());
}

TEST(Params, ErrorsNameFileLineKeyAndValidKeys) {
  Params p = make();
  std::string e = error_of([&] { p.load_yaml_string("lr: 0.1\nstpes: 3\n", "cfg.yaml"); });
  EXPECT_NE(e.find("cfg.yaml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("stpes"), std::string::npos) << e;
  EXPECT_NE(e.find("lr, steps, packing, resume"), std::string::npos) << e;
  e = error_of([&] { p.load_yaml_string("steps: many\n", "cfg.yaml"); });
  EXPECT_NE(e.find("expects int"), std::string::npos) << e;
  e = error_of([&] { p.load_yaml_string("packing: zip\n", "cfg.yaml"); });
  EXPECT_NE(e.find("one of none, padding_free"), std::string::npos) << e;
  e = error_of([&] { p.load_yaml_string("lr: [1, 2]\n", "cfg.yaml"); });
  EXPECT_NE(e.find("single value"), std::string::npos) << e;
  e = error_of([&] { p.load_yaml_string("lr: 0.1\n  bad: : indent\n", "cfg.yaml"); });
  EXPECT_NE(e.find("cfg.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
  e = error_of([&] { p.set("lr", "nan", "--lr"); });
  EXPECT_NE(e.find("--lr"), std::string::npos) << e;
}

TEST(Params, MarkdownTableListsEveryParameter) {
  std::string table = make().markdown_table();
  for (const char* key : {"`lr`", "`steps`", "`packing`", "`resume`", "`padding_free`"})
    EXPECT_NE(table.find(key), std::string::npos) << key;
}
