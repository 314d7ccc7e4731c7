#include "rl_util.h"

#include <cmath>

#include "loom/core/error.h"

namespace loom::rl {

// Howard Hinnant's days_from_civil / civil_from_days.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::string civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp + (mp < 10 ? 3 : -9);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lld", static_cast<long long>(y + (m <= 2)),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

bool parse_iso_date(const std::string& t, int64_t* days) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (t[i] < '0' || t[i] > '9') return false;
  const int64_t y = std::stoll(t.substr(0, 4)), m = std::stoll(t.substr(5, 2)), d = std::stoll(t.substr(8, 2));
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  const int64_t n = days_from_civil(y, m, d);
  if (civil_from_days(n) != t) return false;  // 2001-02-30 and the like
  *days = n;
  return true;
}

void check_iso_date(const std::string& date, const std::string& origin) {
  int64_t ignored;
  if (!parse_iso_date(date, &ignored)) throw Error(origin + ": '" + date + "' is not a date of the form yyyy-mm-dd");
}

int64_t weekday_of(int64_t days) { return (days + 3) % 7 >= 0 ? (days + 3) % 7 : (days + 3) % 7 + 7; }

std::mt19937_64 seeded_stream(uint64_t seed, uint64_t stream) {
  // splitmix64 of (seed, stream): decorrelated seeds for nearby inputs.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream * 0xD1B54A32D192ED03ULL + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return std::mt19937_64(z);
}

void mean_covariance(const std::vector<std::vector<double>>& rows, std::vector<double>* mean,
                     std::vector<std::vector<double>>* covariance) {
  if (rows.empty()) throw Error("mean_covariance of no rows");
  const size_t n = rows[0].size();
  mean->assign(n, 0.0);
  for (const auto& r : rows)
    for (size_t i = 0; i < n; ++i) (*mean)[i] += r[i] / static_cast<double>(rows.size());
  covariance->assign(n, std::vector<double>(n, 0.0));
  const double denom = rows.size() > 1 ? static_cast<double>(rows.size() - 1) : 1.0;
  for (const auto& r : rows)
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j <= i; ++j) (*covariance)[i][j] += (r[i] - (*mean)[i]) * (r[j] - (*mean)[j]) / denom;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < i; ++j) (*covariance)[j][i] = (*covariance)[i][j];
}

std::vector<std::vector<double>> cholesky(std::vector<std::vector<double>> a) {
  const size_t n = a.size();
  double trace = 0;
  for (size_t i = 0; i < n; ++i) trace += a[i][i];
  const double jitter = 1e-10 * std::max(trace / std::max<size_t>(n, 1), 1e-300);
  for (size_t i = 0; i < n; ++i) a[i][i] += jitter;
  std::vector<std::vector<double>> l(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j <= i; ++j) {
      double s = a[i][j];
      for (size_t k = 0; k < j; ++k) s -= l[i][k] * l[j][k];
      if (i == j)
        l[i][i] = s > 0 ? std::sqrt(s) : 0.0;  // a zero pivot: that direction has no variance
      else
        l[i][j] = l[j][j] > 0 ? s / l[j][j] : 0.0;
    }
  return l;
}

std::vector<double> sample_normal(const std::vector<double>& mean, const std::vector<std::vector<double>>& lower,
                                  std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  const size_t n = mean.size();
  std::vector<double> z(n), x(mean);
  for (size_t i = 0; i < n; ++i) z[i] = normal(rng);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k <= i; ++k) x[i] += lower[i][k] * z[k];
  return x;
}

}  // namespace loom::rl
