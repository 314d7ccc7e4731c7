// Price tables: the CSV reader (every error names file, line and column),
// the writer, and the synthetic generators tests use.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "../rl_util.h"
#include "loom/core/atomic_file.h"
#include "loom/core/error.h"
#include "loom/rl/portfolio.h"

namespace loom::rl {

int64_t PriceTable::first_on_or_after(const std::string& date) const {
  return std::lower_bound(dates.begin(), dates.end(), date) - dates.begin();
}

namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.push_back(field);
      field.clear();
    } else if (c != '\r') {
      field += c;
    }
  }
  out.push_back(field);
  for (auto& f : out) {
    while (!f.empty() && f.front() == ' ') f.erase(f.begin());
    while (!f.empty() && f.back() == ' ') f.pop_back();
  }
  return out;
}

}  // namespace

PriceTable read_price_csv(const std::string& path, const std::vector<std::string>& columns, int64_t max_gap_days) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the price CSV");
  std::string line;
  size_t line_number = 0;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \r") == std::string::npos) continue;
    header = split_csv_line(line);
    break;
  }
  if (header.empty()) throw Error(path + ": empty price CSV (expected a header 'date,<asset>,...')");
  if (header[0] != "date")
    throw Error(path + ":" + std::to_string(line_number) + ": the first column must be 'date', not '" + header[0] +
                "'");
  if (header.size() < 2) throw Error(path + ":" + std::to_string(line_number) + ": no asset columns");
  std::set<std::string> seen;
  for (size_t k = 1; k < header.size(); ++k) {
    if (header[k].empty())
      throw Error(path + ":" + std::to_string(line_number) + ": column " + std::to_string(k + 1) + " has no name");
    if (!seen.insert(header[k]).second)
      throw Error(path + ":" + std::to_string(line_number) + ": column '" + header[k] + "' appears twice");
  }
  // Which columns to keep.
  std::vector<size_t> keep;
  if (columns.empty()) {
    for (size_t k = 1; k < header.size(); ++k) keep.push_back(k);
  } else {
    for (const auto& name : columns) {
      auto it = std::find(header.begin() + 1, header.end(), name);
      if (it == header.end()) {
        std::string valid;
        for (size_t k = 1; k < header.size(); ++k) valid += (valid.empty() ? "" : ", ") + header[k];
        throw Error(path + ": unknown asset column '" + name + "'; the file has: " + valid);
      }
      keep.push_back(static_cast<size_t>(it - header.begin()));
    }
  }
  PriceTable table;
  for (size_t k : keep) table.assets.push_back(header[k]);
  int64_t previous_day = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_number);
    auto fields = split_csv_line(line);
    if (fields.size() != header.size())
      throw Error(where + ": ragged row: " + std::to_string(fields.size()) + " fields, the header has " +
                  std::to_string(header.size()));
    const std::string& date = fields[0];
    if (date.empty()) throw Error(where + ": missing date");
    int64_t day = 0;
    if (!parse_iso_date(date, &day)) throw Error(where + ": column 'date': '" + date + "' is not yyyy-mm-dd");
    if (!table.dates.empty()) {
      if (day <= previous_day)
        throw Error(where + ": column 'date': " + date + " does not follow " + table.dates.back() +
                    " (dates must increase)");
      if (max_gap_days > 0 && day - previous_day > max_gap_days)
        throw Error(where + ": column 'date': missing dates between " + table.dates.back() + " and " + date + " (" +
                    std::to_string(day - previous_day) + " days; max_gap_days is " + std::to_string(max_gap_days) +
                    ")");
    }
    previous_day = day;
    std::vector<double> row;
    for (size_t k : keep) {
      const std::string& cell = fields[k];
      if (cell.empty() || cell == "NA" || cell == "NaN")
        throw Error(where + ": column '" + header[k] + "': missing price");
      double value = 0;
      size_t used = 0;
      try {
        value = std::stod(cell, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != cell.size() || !std::isfinite(value))
        throw Error(where + ": column '" + header[k] + "': '" + cell + "' is not a number");
      if (value <= 0) throw Error(where + ": column '" + header[k] + "': price " + cell + " is not positive");
      row.push_back(value);
    }
    table.dates.push_back(date);
    table.prices.push_back(std::move(row));
  }
  if (table.days() < 2) throw Error(path + ": needs at least two days of prices, has " + std::to_string(table.days()));
  return table;
}

void write_price_csv(const std::string& path, const PriceTable& table) {
  std::ostringstream out;
  out.precision(12);
  out << "date";
  for (const auto& a : table.assets) out << "," << a;
  out << "\n";
  for (int64_t d = 0; d < table.days(); ++d) {
    out << table.dates[static_cast<size_t>(d)];
    for (double p : table.prices[static_cast<size_t>(d)]) out << "," << p;
    out << "\n";
  }
  write_file_atomic(path, out.str());
}

PriceTable synthetic_prices(SyntheticPrices kind, int64_t assets, int64_t days, uint64_t seed) {
  if (assets < 1 || days < 2) throw Error("synthetic prices need at least one asset and two days");
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 17);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  PriceTable t;
  for (int64_t a = 0; a < assets; ++a) t.assets.push_back("A" + std::to_string(a));
  // Per-asset drift and volatility; one market factor correlates them.
  std::vector<double> drift(static_cast<size_t>(assets)), vol(static_cast<size_t>(assets)),
      beta(static_cast<size_t>(assets));
  for (int64_t a = 0; a < assets; ++a) {
    drift[static_cast<size_t>(a)] = -0.0002 + 0.001 * uniform(rng);
    vol[static_cast<size_t>(a)] = 0.008 + 0.012 * uniform(rng);
    beta[static_cast<size_t>(a)] = 0.3 + 0.6 * uniform(rng);
  }
  std::vector<double> price(static_cast<size_t>(assets), 100.0);
  bool turbulent = false;
  const int64_t start = days_from_civil(2000, 1, 3);
  for (int64_t d = 0; d < days; ++d) {
    if (d > 0) {
      if (kind == SyntheticPrices::Regime && uniform(rng) < (turbulent ? 0.04 : 0.01)) turbulent = !turbulent;
      const double market = normal(rng);
      for (int64_t a = 0; a < assets; ++a) {
        const auto k = static_cast<size_t>(a);
        double mu = drift[k], sigma = vol[k];
        if (turbulent) mu -= 0.003, sigma *= 2.5;
        const double shock = beta[k] * market + std::sqrt(1 - beta[k] * beta[k]) * normal(rng);
        price[k] *= std::exp(mu - 0.5 * sigma * sigma + sigma * shock);
      }
    }
    t.dates.push_back(civil_from_days(start + d));
    t.prices.push_back(price);
  }
  return t;
}

}  // namespace loom::rl
