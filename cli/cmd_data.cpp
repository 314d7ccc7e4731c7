// loom data: builds the default corpus from Debian-shipped text.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "loom/core/corpus.h"

namespace loom::cli {

void setup_data(CLI::App* sub) {
  auto options = std::make_shared<CorpusOptions>();
  auto out = std::make_shared<std::string>("data/corpus");
  sub->add_option("--out", *out, "output directory for train.jsonl and valid.jsonl")->capture_default_str();
  sub->add_option("--fortunes-dir", options->fortunes_dir, "fortune files")->capture_default_str();
  sub->add_option("--dictd-dir", options->dictd_dir, "dictd dictionaries")->capture_default_str();
  sub->add_option("--licenses-dir", options->licenses_dir, "licence texts; empty = skip")->capture_default_str();
  sub->add_option("--dictionaries", options->dictionaries, "dictd dictionaries to include")->capture_default_str();
  sub->add_option("--valid-fraction", options->valid_fraction, "share held out for validation")->capture_default_str();
  sub->add_option("--seed", options->seed, "shuffle seed")->capture_default_str();
  sub->callback([options, out] {
    CorpusStats stats = build_default_corpus(*options, *out);
    nlohmann::json j = {{"out", *out},
                        {"train_docs", stats.train_docs},
                        {"valid_docs", stats.valid_docs},
                        {"bytes", stats.bytes},
                        {"sources", stats.docs_per_source}};
    std::cout << j.dump() << "\n";
  });
}

}  // namespace loom::cli
