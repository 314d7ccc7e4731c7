// loom data: builds the default corpus from Debian-shipped text.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_params.h"
#include "commands.h"
#include "loom/core/corpus.h"
#include "loom/rl/data.h"

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

// `loom data portfolio`: a Debian-shipped price series as the portfolio CSV.
struct PortfolioDataOptions {
  std::string source = "spisector";
  std::string out;  // empty: data/portfolio/<source>.csv
  std::string gretl_dir = "/usr/share/gretl/data/misc";
  std::string rscript = "Rscript";
};

const ParamSchema<PortfolioDataOptions>& portfolio_data_schema() {
  using O = PortfolioDataOptions;
  static const ParamSchema<O> schema = [] {
    std::string sources;
    for (const auto& s : rl::portfolio_sources()) sources += (sources.empty() ? "" : ", ") + s.name;
    ParamSchema<O> s;
    s.add("source", &O::source, "price series: " + sources)
        .add("out", &O::out, "the CSV to write; empty = data/portfolio/<source>.csv")
        .add("gretl_dir", &O::gretl_dir, "gretl-data's data directory")
        .add("rscript", &O::rscript, "Rscript, for the R data sets (r-cran-fportfolio, r-cran-timeseries)");
    return s;
  }();
  return schema;
}

}  // namespace

void setup_data(CLI::App* sub) {
  CLI::App* portfolio = sub->add_subcommand("portfolio", "a real daily price series (R fPortfolio, gretl) as a CSV");
  run_with_options<PortfolioDataOptions>(portfolio, portfolio_data_schema(), [](const PortfolioDataOptions& o) {
    const auto s = rl::export_portfolio_csv(o.source, o.out.empty() ? "data/portfolio/" + o.source + ".csv" : o.out,
                                            o.gretl_dir, o.rscript);
    std::cout << nlohmann::json({{"source", s.source},
                                 {"out", s.out},
                                 {"days", s.days},
                                 {"assets", s.assets},
                                 {"first", s.first},
                                 {"last", s.last}})
                     .dump()
              << "\n";
  });
  run_with_options<DataCommandOptions>(sub, data_schema(), [portfolio](const DataCommandOptions& o) {
    if (portfolio->parsed()) return;
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
