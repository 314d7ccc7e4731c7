#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/core/text_metrics.h"
#include "loom/knowledge/domains.h"
#include "temp_dir.h"

using namespace loom;
using namespace loom::testing;
namespace fs = std::filesystem;

TEST(TextMetrics, KnownValues) {
  EXPECT_EQ(exact_match("  Bi ", "bi"), 1.0);
  EXPECT_EQ(exact_match("Bi", "B"), 0.0);
  EXPECT_NEAR(edit_similarity("kitten", "sitting"), 1.0 - 3.0 / 7.0, 1e-12);
  EXPECT_NEAR(edit_similarity("café", "cafe"), 0.75, 1e-12);  // code points, not bytes
  EXPECT_EQ(edit_similarity("", ""), 1.0);
  // LCS("the red fox jumps", "a red fox") = "red fox": P = 2/4, R = 2/3.
  EXPECT_NEAR(rouge_l("The red fox jumps", "a red fox."), 2 * 0.5 * (2.0 / 3) / (0.5 + 2.0 / 3), 1e-12);
  EXPECT_EQ(rouge_l("", "x"), 0.0);
  EXPECT_EQ(metric_from_name("rouge_l", "t"), Metric::RougeL);
  EXPECT_NE(error_of([] { metric_from_name("bleu", "cfg"); }).find("valid: exact_match"), std::string::npos);
}

TEST(Domains, BuiltFromDebianDictionariesWithDisjointSplits) {
  DomainOptions o;
  if (!fs::exists(o.dictd_dir + "/elements.index")) GTEST_SKIP() << "dict-elements is not installed";
  Domain d = build_domain("elements", o);
  EXPECT_EQ(d.metric, Metric::ExactMatch);
  EXPECT_GT(d.train.size(), 150u);
  EXPECT_GT(d.test.size(), 30u);
  // Facts about one element stay on one side of the split.
  std::set<std::string> train_elements;
  for (const auto& pc : d.train) train_elements.insert(pc.prompt.substr(0, pc.prompt.find('\n')));
  for (const auto& pc : d.test)
    EXPECT_FALSE(train_elements.count(pc.prompt.substr(0, pc.prompt.find('\n')))) << pc.prompt;
  bool found = false;
  for (const auto& pc : d.train)
    if (pc.prompt == "Element: hydrogen\nSymbol:" && pc.completion == " H") found = true;
  for (const auto& pc : d.test)
    if (pc.prompt == "Element: hydrogen\nSymbol:" && pc.completion == " H") found = true;
  EXPECT_TRUE(found);
  // Same seed, same split; another seed, another split.
  EXPECT_EQ(build_domain("elements", o).test.front().prompt, d.test.front().prompt);
  o.seed = 7;
  EXPECT_NE(build_domain("elements", o).test.front().prompt, d.test.front().prompt);

  DomainOptions small;
  small.max_train = 50;
  small.max_test = 10;
  for (const auto& name : {"eng_fra", "foldoc", "fortunes"}) {
    Domain x = build_domain(name, small);
    EXPECT_EQ(x.train.size(), 50u) << name;
    EXPECT_EQ(x.test.size(), 10u) << name;
    for (const auto& pc : x.test) {
      EXPECT_FALSE(pc.completion.empty());
      EXPECT_EQ(pc.completion.find('\n'), std::string::npos) << name << ": " << pc.completion;
    }
  }
}

TEST(Domains, UnknownNamesAndUserDomains) {
  auto e = error_of([] { build_domain("chemistry", DomainOptions{}); });
  EXPECT_NE(e.find("unknown domain 'chemistry'; valid: elements, eng_fra, foldoc, fortunes"), std::string::npos) << e;
  const std::string dir = fresh_temp_dir("user_domain");
  make_dirs(dir);
  write_file_atomic(dir + "/train.jsonl", "{\"prompt\": \"2+2=\", \"completion\": \" 4\"}\n");
  write_file_atomic(dir + "/test.jsonl", "{\"prompt\": \"3+3=\", \"completion\": \" 6\"}\n");
  Domain d = build_domain("sums=" + dir + "@edit_similarity", DomainOptions{});
  EXPECT_EQ(d.name, "sums");
  EXPECT_EQ(d.metric, Metric::EditSimilarity);
  ASSERT_EQ(d.test.size(), 1u);
  EXPECT_EQ(d.test[0].completion, " 6");
  EXPECT_NE(error_of([&] { build_domain("sums=" + dir + "@bleu", DomainOptions{}); }).find("unknown metric 'bleu'"),
            std::string::npos);
  write_file_atomic(dir + "/test.jsonl", "{\"prompt\": \"3+3=\"}\n");
  e = error_of([&] { build_domain("sums=" + dir, DomainOptions{}); });
  EXPECT_NE(e.find("test.jsonl:1"), std::string::npos) << e;
  EXPECT_NE(e.find("completion"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { build_domain("x=" + dir + "/nope", DomainOptions{}); }).find("not found"),
            std::string::npos);
}
