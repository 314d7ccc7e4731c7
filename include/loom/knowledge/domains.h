// Knowledge domains for continual knowledge addition, built from data that
// Debian packages ship, each with a train/test split of prompt/completion
// pairs and its own metric:
//
//   elements  dict-elements          "Element: bismuth\nSymbol:" -> " Bi"      exact_match
//   eng_fra   dict-freedict-eng-fra  "English: hostel\nFrench:"  -> " auberge" edit_similarity
//   foldoc    dict-foldoc            "Define: NISO\nMeaning:"    -> first sentence  rouge_l
//   fortunes  fortunes               a quotation's first words   -> the rest        rouge_l
//
// A user's domain is written NAME=DIR or NAME=DIR@METRIC, with DIR holding
// train.jsonl and test.jsonl of {"prompt": ..., "completion": ...} rows.
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

// Splits an item list into held-out and training parts by a seeded shuffle.
// Items (e.g. one element with its several facts) stay on one side.
template <typename Item>
void split_items(std::vector<Item> items, double test_fraction, uint64_t seed, std::vector<Item>* train,
                 std::vector<Item>* test);

}  // namespace loom
