#include "loom/supernet/topics.h"

#include <algorithm>
#include <map>

#include "loom/core/corpus.h"
#include "loom/core/dataset.h"
#include "loom/core/error.h"
#include "loom/core/utf8.h"

namespace loom {

const ParamSchema<TopicDataOptions>& topic_data_schema() {
  using O = TopicDataOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("fortunes_dir", &O::fortunes_dir, "Debian's fortunes directory (package fortunes)")
        .add("topics", &O::topics, "fortune files used as classes")
        .add("train_per_topic", &O::train_per_topic, "training quotations per topic", {1, 1e6})
        .add("valid_per_topic", &O::valid_per_topic, "validation quotations per topic (search, model choice)", {1, 1e6})
        .add("test_per_topic", &O::test_per_topic, "test quotations per topic (reported accuracy)", {1, 1e6})
        .add("max_chars", &O::max_chars, "longer quotations are skipped", {10, 1e6})
        .add("data_seed", &O::data_seed, "seed of the draw and the split");
    return s;
  }();
  return schema;
}

std::string normalize_for_overlap(const std::string& text) {
  std::string clean = sanitize_utf8(text), out;
  bool space = false;
  for (char c : clean) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::set<std::string> TopicDataset::held_out() const {
  std::set<std::string> out;
  for (const auto* split : {&valid, &test})
    for (const auto& item : *split) out.insert(normalize_for_overlap(item.text));
  return out;
}

TopicDataset build_topic_dataset(const TopicDataOptions& o) {
  if (o.topics.size() < 2) throw Error("topics: a classification task needs at least two topics");
  // Normalised text -> the topics it appears in, and its first wording.
  std::map<std::string, std::set<size_t>> topics_of;
  std::vector<std::vector<std::string>> by_topic(o.topics.size());
  std::map<std::string, std::string> original;
  for (size_t t = 0; t < o.topics.size(); ++t) {
    for (const auto& quote : read_fortune_file(o.fortunes_dir + "/" + o.topics[t])) {
      if (static_cast<int64_t>(quote.size()) > o.max_chars) continue;
      const std::string key = normalize_for_overlap(quote);
      if (key.empty()) continue;
      if (topics_of[key].insert(t).second && topics_of[key].size() == 1) {
        by_topic[t].push_back(key);
        original[key] = sanitize_utf8(quote);
      }
    }
  }
  TopicDataset d;
  d.topics = o.topics;
  const int64_t need = o.train_per_topic + o.valid_per_topic + o.test_per_topic;
  for (size_t t = 0; t < o.topics.size(); ++t) {
    std::vector<std::string> unique;
    for (const auto& key : by_topic[t])
      if (topics_of[key].size() == 1) unique.push_back(key);
    if (static_cast<int64_t>(unique.size()) < need)
      throw Error("topics: '" + o.topics[t] + "' has " + std::to_string(unique.size()) +
                  " distinct quotations of at most " + std::to_string(o.max_chars) + " characters; " +
                  std::to_string(need) + " are needed (train + valid + test per topic)");
    const auto order = shuffled_indices(unique.size(), o.data_seed, t);
    for (int64_t k = 0; k < need; ++k) {
      LabelledText item{original[unique[order[static_cast<size_t>(k)]]], static_cast<int64_t>(t)};
      auto& split = k < o.train_per_topic ? d.train : k < o.train_per_topic + o.valid_per_topic ? d.valid : d.test;
      split.push_back(std::move(item));
    }
  }
  return d;
}

std::vector<std::string> without_held_out(const std::vector<std::string>& texts, const TopicDataset& dataset,
                                          size_t* removed) {
  const auto held = dataset.held_out();
  std::vector<std::string> out;
  size_t dropped = 0;
  for (const auto& text : texts) {
    const std::string key = normalize_for_overlap(text);
    bool overlaps = held.count(key) > 0;
    for (auto it = held.begin(); !overlaps && it != held.end(); ++it)
      overlaps = it->size() < key.size() && key.find(*it) != std::string::npos;
    if (overlaps)
      ++dropped;
    else
      out.push_back(text);
  }
  if (removed) *removed = dropped;
  return out;
}

}  // namespace loom
