#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <set>

#include "error_message.h"
#include "loom/core/atomic_file.h"
#include "loom/core/corpus.h"
#include "loom/core/text_metrics.h"
#include "loom/knowledge/contamination.h"
#include "loom/knowledge/domains.h"
#include "loom/knowledge/strategy.h"
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
  for (const auto* split : {&d.train, &d.test})
    for (const auto& pc : *split)
      if (pc.prompt == "Element: hydrogen\nSymbol:" && pc.completion == " H") {
        found = true;
        // The same fact in the held-out template, and what it is about.
        EXPECT_EQ(pc.paraphrase, "Q: What is the chemical symbol of hydrogen?\nA:");
        EXPECT_EQ(pc.subject, "hydrogen");
      }
  EXPECT_TRUE(found);
  // Same seed, same split; another seed, another split.
  EXPECT_EQ(build_domain("elements", o).test.front().prompt, d.test.front().prompt);
  o.seed = 7;
  EXPECT_NE(build_domain("elements", o).test.front().prompt, d.test.front().prompt);

  DomainOptions small;
  small.max_train = 50;
  small.max_test = 10;
  for (const auto& name : {"eng_fra", "eng_spa", "foldoc", "fortunes"}) {
    Domain x = build_domain(name, small);
    EXPECT_EQ(x.train.size(), 50u) << name;
    EXPECT_EQ(x.test.size(), 10u) << name;
    for (const auto& pc : x.test) {
      EXPECT_FALSE(pc.completion.empty());
      EXPECT_EQ(pc.paraphrase.rfind("Q: ", 0), 0u) << name << ": " << pc.paraphrase;
      EXPECT_EQ(pc.completion.find('\n'), std::string::npos) << name << ": " << pc.completion;
    }
  }
}

TEST(Domains, UnknownNamesAndUserDomains) {
  auto e = error_of([] { build_domain("chemistry", DomainOptions{}); });
  EXPECT_NE(e.find("unknown domain 'chemistry'; valid: elements, eng_fra, eng_spa, foldoc, fortunes"),
            std::string::npos)
      << e;
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

TEST(Contamination, AFactIsFoundAsAPhraseOfTheCorpus) {
  NgramIndex corpus;
  corpus.add_text("Bismuth (Bi) is a brittle metal.\nA youth hostel -- une auberge de jeunesse.");
  corpus.add_text("It is a truth universally acknowledged, that a single man in possession of a good fortune");
  corpus.finish();
  auto item = [](std::string subject, std::string completion) {
    return PromptCompletion{"Q: " + subject, std::move(completion), std::move(subject)};
  };
  EXPECT_TRUE(appears_in(item("bismuth", " Bi"), corpus));       // subject + answer
  EXPECT_TRUE(appears_in(item("jeunesse", " de"), corpus));      // answer + subject
  EXPECT_FALSE(appears_in(item("hostel", " auberge"), corpus));  // both there, but not as a phrase
  EXPECT_FALSE(appears_in(item("bismuth", " Pb"), corpus));
  // Long answers: any 8 consecutive words of the answer.
  EXPECT_TRUE(appears_in(item("", " that a single man in possession of a good wife"), corpus));
  EXPECT_FALSE(appears_in(item("", " that a single woman in possession of a good wife"), corpus));
  // A quote's start in the prompt and a short continuation: 8 words across both.
  EXPECT_TRUE(appears_in({"Quote: It is a truth universally acknowledged,", " that a single man"}, corpus));
  EXPECT_FALSE(appears_in({"Quote: It is a truth universally acknowledged,", " says my married aunt"}, corpus));
  // Without a subject the prompt stands in for it.
  EXPECT_TRUE(appears_in({"Bismuth", " Bi"}, corpus));
  Domain d;
  d.name = "toy";
  d.train = {item("bismuth", " Bi"), item("lead", " Pb")};
  d.test = {item("jeunesse", " de")};
  auto r = check_contamination(d, corpus);
  EXPECT_EQ(r.checked, 3u);
  ASSERT_EQ(r.hits.size(), 2u);
  EXPECT_EQ(r.hits[1].completion, " de");
  NgramIndex unfinished;
  unfinished.add_text("a b");
  EXPECT_NE(error_of([&] { unfinished.contains({"a", "b"}); }).find("before finish"), std::string::npos);
}

TEST(Domains, DefinitionChoiceItemsHaveOneRightAnswerAmongFour) {
  DomainOptions o;
  if (!fs::exists(o.dictd_dir + "/jargon.index")) GTEST_SKIP() << "dict-jargon is not installed";
  auto items = definition_choice_items("jargon", o, 40, 3);
  ASSERT_EQ(items.size(), 40u);
  std::set<size_t> positions;
  for (const auto& it : items) {
    ASSERT_EQ(it.choices.size(), 4u);
    EXPECT_EQ(std::set<std::string>(it.choices.begin(), it.choices.end()).size(), 4u) << it.prompt;
    positions.insert(it.answer);
  }
  EXPECT_GT(positions.size(), 2u);  // the right answer is not always in one place
  auto again = definition_choice_items("jargon", o, 40, 3);
  EXPECT_EQ(again[7].choices, items[7].choices);
  EXPECT_NE(error_of([&] { definition_choice_items("nope", o, 4, 0); }).find("nope.index not found"),
            std::string::npos);
}

// The default domains are new to a base pretrained on loom's default corpus
// (loom data), and the check finds the known overlaps of foldoc (the Jargon
// File) and fortunes (the quotes themselves) in that same corpus.
TEST(KnowledgeSlow, DefaultDomainsDoNotAppearInTheDefaultPretrainingCorpus) {
  CorpusOptions co;
  DomainOptions o;
  for (const char* need :
       {"/elements.index", "/freedict-eng-fra.index", "/freedict-eng-spa.index", "/foldoc.index", "/jargon.index"})
    if (!fs::exists(o.dictd_dir + need)) GTEST_SKIP() << need << " is not installed";
  const std::string dir = fresh_temp_dir("contamination_corpus");
  build_default_corpus(co, dir);
  NgramIndex corpus = index_jsonl_texts({dir + "/train.jsonl", dir + "/valid.jsonl"});
  o.max_train = 0;  // every item, not only the capped ones
  o.max_test = 0;
  for (const auto& name : KnowledgeOptions{}.domains) {
    // A handful of word pairs occur in the corpus as phrases ("butterfly
    // papillon"); the harness drops them (contamination: drop) or refuses.
    Domain d = build_domain(name, o);
    auto r = drop_contaminated(&d, corpus);
    std::cerr << name << ": " << r.hits.size() << " of " << r.checked << " items in the corpus\n";
    EXPECT_GT(r.checked, 200u) << name;
    EXPECT_LE(r.hits.size(), r.checked / 100) << name;
    EXPECT_TRUE(check_contamination(d, corpus).hits.empty()) << name;
    for (const auto& pc : d.test) EXPECT_FALSE(appears_in(pc, corpus)) << pc.prompt;
  }
  for (const char* overlapping : {"foldoc", "fortunes"}) {
    auto r = check_contamination(build_domain(overlapping, o), corpus);
    std::cerr << overlapping << ": " << r.hits.size() << " of " << r.checked << " items in the corpus\n";
    EXPECT_GT(r.hits.size(), r.checked / 50) << overlapping;  // fortunes: nearly all; foldoc: ~6 %
  }
}
