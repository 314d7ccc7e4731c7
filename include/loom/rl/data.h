// Real data for the RL environments, from Debian packages:
//   - gretl's data files (gretl-data: djclose.gdt, nysewk.gdt, bikesharing.gdt;
//     gzipped or plain XML), read natively;
//   - R's fPortfolio and timeSeries data sets (SPISECTOR, SWX, LPP2005,
//     SMALLCAP, LPP2005REC, MSFT), exported through Rscript.
// export_portfolio_csv writes either as the price CSV the portfolio
// environment reads (date,<asset>,...).
//
//   auto d = loom::rl::read_gretl("/usr/share/gretl/data/misc/djclose.gdt");
//   loom::rl::export_portfolio_csv("spisector", "data/portfolio/spisector.csv", {});
#pragma once
#include <string>
#include <vector>

namespace loom::rl {

struct GretlData {
  std::string name;
  std::vector<std::string> variables;
  std::vector<std::string> dates;         // one per observation: its label, or from startobs and frequency (5 or 7)
  std::vector<std::vector<double>> rows;  // [observation][variable]; NaN where gretl wrote NA
};
// Errors name the file and the line of the offending element.
GretlData read_gretl(const std::string& path);
// The column of variable `name`, or a loom::Error naming the file's variables.
std::vector<double> gretl_column(const GretlData& data, const std::string& name, const std::string& origin);

struct PortfolioSource {
  std::string name;  // "spisector", ...
  std::string help;
  std::string package;  // Debian package that ships it
};
const std::vector<PortfolioSource>& portfolio_sources();
struct ExportSummary {
  std::string source, out;
  int64_t days = 0;
  std::vector<std::string> assets;
  std::string first, last;
};
// `gretl_dir` and `rscript` locate the inputs (defaults: Debian's paths).
ExportSummary export_portfolio_csv(const std::string& source, const std::string& out,
                                   const std::string& gretl_dir = "/usr/share/gretl/data/misc",
                                   const std::string& rscript = "Rscript");

}  // namespace loom::rl
