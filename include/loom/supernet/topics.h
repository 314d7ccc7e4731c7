// A real text-classification task from Debian data for the encoder
// experiments: the topic of a quotation, one class per file of the
// `fortunes` package (computers, food, law, ...). Quotations are drawn per
// topic with a seed and split into train / validation / test. Quotations
// that appear in two topics (ambiguous labels) are dropped, and duplicates
// never straddle a split. Validation and test items are held out of every
// training set, masked-LM pretraining included (without_held_out).
//
//   loom::TopicDataset d = loom::build_topic_dataset(loom::TopicDataOptions{});
//   auto pretraining = loom::without_held_out(corpus_texts, d, &removed);
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"

namespace loom {

struct TopicDataOptions {
  std::string fortunes_dir = "/usr/share/games/fortunes";
  std::vector<std::string> topics = {"computers", "education", "food", "law", "politics", "startrek"};
  int64_t train_per_topic = 100, valid_per_topic = 15, test_per_topic = 35;
  int64_t max_chars = 320;  // longer quotations are skipped
  uint64_t data_seed = 0;
};
const ParamSchema<TopicDataOptions>& topic_data_schema();

struct LabelledText {
  std::string text;
  int64_t label = 0;
};

struct TopicDataset {
  std::vector<std::string> topics;
  std::vector<LabelledText> train, valid, test;
  // Normalised texts of the validation and test items.
  std::set<std::string> held_out() const;
};

// Errors name the topic file, or the topic with too few quotations.
TopicDataset build_topic_dataset(const TopicDataOptions& options);

// Text compared for overlap: valid UTF-8, whitespace runs collapsed to one space, trimmed.
std::string normalize_for_overlap(const std::string& text);

// The texts that neither equal nor contain a held-out item (after
// normalisation); *removed counts the others.
std::vector<std::string> without_held_out(const std::vector<std::string>& texts, const TopicDataset& dataset,
                                          size_t* removed = nullptr);

}  // namespace loom
