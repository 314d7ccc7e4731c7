// loom data: builds the default corpus from Debian-shipped text.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/corpus.h"

namespace loom::cli {

namespace {

struct DataCommandOptions {
  std::string out = "data/corpus";
  CorpusOptions corpus;
};

const ParamSchema<DataCommandOptions>& data_schema() {
  using O = DataCommandOptions;
  static const ParamSchema<O> schema = [] {
    auto corpus = [](auto member) {
      return [member](O & o) -> auto& { return o.corpus.*member; };
    };
    ParamSchema<O> s;
    s.add("out", &O::out, "output directory for train.jsonl and valid.jsonl")
        .add_nested<std::string>("fortunes_dir", corpus(&CorpusOptions::fortunes_dir), "fortune files")
        .add_nested<std::string>("dictd_dir", corpus(&CorpusOptions::dictd_dir), "dictd dictionaries")
        .add_nested<std::string>("licenses_dir", corpus(&CorpusOptions::licenses_dir), "licence texts; empty = skip")
        .add_nested<std::vector<std::string>>("dictionaries", corpus(&CorpusOptions::dictionaries),
                                              "dictd dictionaries to include, comma-separated")
        .add_nested<double>("valid_fraction", corpus(&CorpusOptions::valid_fraction), "share held out for validation",
                            {0, 0.9})
        .add_nested<uint64_t>("seed", corpus(&CorpusOptions::seed), "shuffle seed", {0, 1e15})
        .add_nested<size_t>("max_doc_chars", corpus(&CorpusOptions::max_doc_chars),
                            "longer documents are split at paragraph breaks", {100, 1e9});
    return s;
  }();
  return schema;
}

}  // namespace

void setup_data(CLI::App* sub) {
  run_with_options<DataCommandOptions>(sub, data_schema(), [](const DataCommandOptions& o) {
    CorpusStats stats = build_default_corpus(o.corpus, o.out);
    nlohmann::json j = {{"out", o.out},
                        {"train_docs", stats.train_docs},
                        {"valid_docs", stats.valid_docs},
                        {"bytes", stats.bytes},
                        {"sources", stats.docs_per_source}};
    std::cout << j.dump() << "\n";
  });
}

}  // namespace loom::cli
