// Knowledge domains for continual knowledge addition, built from data that
// Debian packages ship, each with a train/test split of prompt/completion
// pairs and its own metric:
//
//   elements  dict-elements          "Element: bismuth\nSymbol:" -> " Bi"      exact_match
//   eng_fra   dict-freedict-eng-fra  "English: hostel\nFrench:"  -> " auberge" edit_similarity
//   eng_spa   dict-freedict-eng-spa  "English: armchair\nSpanish:" -> " butaca" edit_similarity
//   foldoc    dict-foldoc            "Define: NISO\nMeaning:"    -> first sentence  rouge_l
//   fortunes  fortunes               a quotation's first words   -> the rest        rouge_l
//
// Every built-in item also carries its subject (the headword the fact is
// about, for the contamination check) and the same question in a second,
// never-trained template ("Q: What is the chemical symbol of bismuth?\nA:"),
// which measures whether a fact was learnt or only its trained string.
// foldoc and fortunes overlap the default pretraining corpus (the Jargon
// File, the fortunes themselves): the contamination check refuses them
// against a base pretrained on it (knowledge/contamination.h).
//
// A user's domain is written NAME=DIR or NAME=DIR@METRIC, with DIR holding
// train.jsonl and test.jsonl of {"prompt": ..., "completion": ...} rows (an
// optional "paraphrase" field is the same question in another template).
//
//   loom::Domain d = loom::build_domain("elements", loom::DomainOptions{});
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "loom/core/text_metrics.h"

namespace loom {

struct PromptCompletion {
  std::string prompt, completion;
  std::string subject = {};     // what the item is about (a headword); empty: the prompt is
  std::string paraphrase = {};  // the same question in a held-out template; empty: none
};

struct Domain {
  std::string name;
  Metric metric = Metric::ExactMatch;
  std::vector<PromptCompletion> train, test;
};

struct DomainOptions {
  std::string dictd_dir = "/usr/share/dictd";
  std::string fortunes_dir = "/usr/share/games/fortunes";
  size_t max_train = 1500;  // examples kept per split (after a seeded shuffle); 0 = all
  size_t max_test = 100;
  double test_fraction = 0.2;  // share of items held out, before the caps
  uint64_t seed = 0;           // the split; fixed across strategies so they see the same data
};

const std::vector<std::string>& builtin_domain_names();

// A built-in name, or NAME=DIR[@METRIC]. Unknown names are an error listing the valid ones.
Domain build_domain(const std::string& spec, const DomainOptions& options);

// lm-eval-style multiple choice: which of `choices` continues `prompt`;
// choices[answer] is right.
struct MultipleChoiceItem {
  std::string prompt;
  std::vector<std::string> choices;
  size_t answer = 0;
};

// "Which of four definitions fits this headword" items from a dictd
// dictionary (NAME under dictd_dir, e.g. jargon): prompt "HEADWORD:", the
// choices the first sentences of the entry's definition and of three other
// entries', in seeded order. n = 0: every usable entry.
std::vector<MultipleChoiceItem> definition_choice_items(const std::string& dictionary, const DomainOptions& options,
                                                        size_t n, uint64_t seed);

// Splits an item list into held-out and training parts by a seeded shuffle.
// Items (e.g. one element with its several facts) stay on one side.
template <typename Item>
void split_items(std::vector<Item> items, double test_fraction, uint64_t seed, std::vector<Item>* train,
                 std::vector<Item>* test);

}  // namespace loom
