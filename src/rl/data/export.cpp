// `loom data portfolio`: Debian-shipped price series as the portfolio CSV.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "../rl_util.h"
#include "loom/core/error.h"
#include "loom/rl/data.h"
#include "loom/rl/portfolio.h"

extern char** environ;

namespace loom::rl {
namespace {

struct RSource {
  const char* name;
  const char* package;  // R package
  const char* data;     // data set
  // R expression turning the data set `x` into price levels.
  const char* prices;
};

// LPP2005REC holds daily log returns: its levels are 100 exp(cumsum(r)).
// MSFT is open/high/low/close/volume: the close is the price.
const RSource kRSources[] = {
    {"spisector", "fPortfolio", "SPISECTOR", "x"},
    {"swx", "fPortfolio", "SWX", "x"},
    {"lpp2005", "fPortfolio", "LPP2005", "x"},
    {"smallcap", "fPortfolio", "SMALLCAP", "x"},
    {"lpp2005rec", "timeSeries", "LPP2005REC", "100 * exp(cumsum(x))"},
    {"msft", "timeSeries", "MSFT", "x[, \"Close\"]"},
};

int run_program(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

PriceTable from_r(const RSource& src, const std::string& rscript, const std::string& out) {
  const std::string tmp = out + ".r-export.tmp";
  // The output path travels as an argument, never inside the R code.
  const std::string code = std::string("suppressMessages(library(") + src.package + ")); data(" + src.data +
                           ", package = \"" + src.package + "\"); x <- " + src.data + "; p <- " + src.prices +
                           "; m <- as.matrix(p); if (is.null(colnames(m))) colnames(m) <- \"" + src.data +
                           "\"; write.csv(data.frame(date = format(as.Date(rownames(m))), m, check.names = FALSE), "
                           "file = commandArgs(trailingOnly = TRUE)[1], row.names = FALSE, quote = FALSE)";
  const int rc = run_program({rscript, "-e", code, tmp});
  if (rc != 0) {
    std::filesystem::remove(tmp);
    throw Error(std::string("data portfolio: ") + src.name + ": " + rscript + " failed (exit " + std::to_string(rc) +
                "); it needs R and the Debian package r-cran-" +
                (std::string(src.package) == "fPortfolio" ? "fportfolio" : "timeseries") +
                " (scripts/setup-deps.sh --with-r installs both)");
  }
  PriceTable t = read_price_csv(tmp);
  std::filesystem::remove(tmp);
  return t;
}

PriceTable from_gretl(const std::string& path, const std::string& variable, const std::string& asset) {
  GretlData d = read_gretl(path);
  const std::vector<double> v = gretl_column(d, variable, path);
  PriceTable t;
  t.assets = {asset};
  for (size_t k = 0; k < v.size(); ++k) {
    if (std::isnan(v[k])) continue;  // gretl's NA: a day without a close
    if (!(v[k] > 0))
      throw Error(path + ": observation " + std::to_string(k + 1) + " (" + d.dates[k] + "): price " +
                  std::to_string(v[k]) + " is not positive");
    check_iso_date(d.dates[k], path + ": observation " + std::to_string(k + 1));
    t.dates.push_back(d.dates[k]);
    t.prices.push_back({v[k]});
  }
  return t;
}

}  // namespace

const std::vector<PortfolioSource>& portfolio_sources() {
  static const std::vector<PortfolioSource> sources = {
      {"spisector", "Swiss Performance Index sectors, daily, 2000-2008 (R fPortfolio SPISECTOR)", "r-cran-fportfolio"},
      {"swx", "Swiss bond, equity and LPP indices, daily, 2000-2007 (R fPortfolio SWX)", "r-cran-fportfolio"},
      {"lpp2005", "Pictet LPP2005 benchmark and its assets, daily, 2005-2007 (R fPortfolio LPP2005)",
       "r-cran-fportfolio"},
      {"smallcap", "US small-capitalisation stocks, monthly, 1997-2001 (R fPortfolio SMALLCAP)", "r-cran-fportfolio"},
      {"lpp2005rec", "LPP2005 assets from their daily log returns (R timeSeries LPP2005REC)", "r-cran-timeseries"},
      {"msft", "Microsoft daily close, 2000-2001 (R timeSeries MSFT)", "r-cran-timeseries"},
      {"djclose", "Dow Jones Industrial Average, daily close, 1980-1989 (gretl djclose.gdt)", "gretl-data"},
  };
  return sources;
}

ExportSummary export_portfolio_csv(const std::string& source, const std::string& out, const std::string& gretl_dir,
                                   const std::string& rscript) {
  PriceTable t;
  bool found = false;
  if (source == "djclose") {
    t = from_gretl(gretl_dir + "/djclose.gdt", "djclose", "DJIA");
    found = true;
  }
  for (const auto& src : kRSources)
    if (source == src.name) {
      t = from_r(src, rscript, out);
      found = true;
    }
  if (!found) {
    std::string valid;
    for (const auto& s : portfolio_sources()) valid += (valid.empty() ? "" : ", ") + s.name;
    throw Error("data portfolio: unknown source '" + source + "'; valid: " + valid);
  }
  if (t.days() < 2) throw Error("data portfolio: " + source + " has fewer than two days of prices");
  const auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  write_price_csv(out, t);
  return {source, out, t.days(), t.assets, t.dates.front(), t.dates.back()};
}

}  // namespace loom::rl
