#include <gtest/gtest.h>

#include "error_message.h"
#include "loom/core/error.h"
#include "loom/core/param_schema.h"
#include "loom/core/params.h"
#include "loom/core/registry.h"

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

namespace {

enum class Color { Red, Blue };
struct Inner {
  int64_t depth = 3;
};
struct Options {
  int64_t steps = 100;
  double lr = 3e-4;
  bool resume = false;
  std::vector<std::string> targets = {"q_proj", "v_proj"};
  Color color = Color::Blue;
  Inner inner;
};

ParamSchema<Options> options_schema() {
  ParamSchema<Inner> inner;
  inner.add("depth", &Inner::depth, "depth", {1, 10});
  ParamSchema<Options> s;
  s.add("steps", &Options::steps, "steps", {1, 1000})
      .add("lr", &Options::lr, "learning rate")
      .add("resume", &Options::resume, "resume")
      .add("targets", &Options::targets, "targets")
      .add_enum("color", &Options::color, EnumNames<Color>{{Color::Red, "red"}, {Color::Blue, "blue"}}, "color")
      .include<Inner>(inner, [](Options& o) -> Inner& { return o.inner; });
  return s;
}

}  // namespace

TEST(ParamSchema, DefaultsComeFromTheStructAndReadBackIntoIt) {
  auto schema = options_schema();
  Params p(schema.specs());
  EXPECT_EQ(p.get_string("lr"), "0.0003");  // shortest text, not 0.00029999999999999997
  EXPECT_EQ(p.get_string("targets"), "q_proj,v_proj");
  EXPECT_EQ(p.get_string("color"), "blue");
  EXPECT_EQ(p.get_int("depth"), 3);
  p.load_yaml_string("steps: 7\ncolor: red\ntargets: a, b,c\ndepth: 9\n", "cfg.yaml");
  Options o = schema.read(p);
  EXPECT_EQ(o.steps, 7);
  EXPECT_EQ(o.color, Color::Red);
  EXPECT_EQ(o.targets, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(o.inner.depth, 9);
  // An outer struct's own defaults replace the declared ones.
  Options other;
  other.inner.depth = 5;
  Params q(schema.specs(other));
  EXPECT_EQ(q.get_int("depth"), 5);
}

TEST(ParamSchema, BoundsAndChoicesAreCheckedWithTheKeyNamed) {
  Params p(options_schema().specs());
  std::string e = error_of([&] { p.load_yaml_string("steps: 0\n", "cfg.yaml"); });
  EXPECT_NE(e.find("cfg.yaml:1"), std::string::npos) << e;
  EXPECT_NE(e.find("'steps' must lie in [1, 1000]"), std::string::npos) << e;
  e = error_of([&] { p.set("depth", "3000000000", "--depth"); });
  EXPECT_NE(e.find("--depth"), std::string::npos) << e;
  e = error_of([&] { p.set("color", "green", "--color"); });
  EXPECT_NE(e.find("one of red, blue"), std::string::npos) << e;
  EXPECT_NE(p.markdown_table().find("range [1, 1000]"), std::string::npos);
}

TEST(Registry, UnknownNamesListTheValidOnesAndDuplicatesAreRefused) {
  Registry<int> registry("widget", [](Registry<int>& r) {
    r.add("small", 1);
    r.add("large", 2);
  });
  EXPECT_EQ(registry.get("large"), 2);
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"small", "large"}));
  std::string e = error_of([&] { registry.get("huge", "spec.yaml:4"); });
  EXPECT_EQ(e, "spec.yaml:4: unknown widget 'huge'; valid: small, large");
  e = error_of([&] { registry.add("small", 3); });
  EXPECT_NE(e.find("already registered"), std::string::npos) << e;
  registry.add("medium", 4);  // after the built-ins, never shadowing them
  EXPECT_EQ(registry.get("medium"), 4);
}
