// Small torch-free helpers the rl module shares: calendar dates, seeded
// random streams, and the multivariate normal the scenario models sample.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace loom::rl {

// Days since 1970-01-01 of a proleptic Gregorian date, and back (yyyy-mm-dd).
int64_t days_from_civil(int64_t year, int64_t month, int64_t day);
std::string civil_from_days(int64_t days);
// True and *days set for a valid yyyy-mm-dd.
bool parse_iso_date(const std::string& text, int64_t* days);
// Throws loom::Error naming `origin` unless `date` is a valid yyyy-mm-dd.
void check_iso_date(const std::string& date, const std::string& origin);
// 0 = Monday ... 6 = Sunday.
int64_t weekday_of(int64_t days);

// A generator for stream `stream` of `seed`: independent streams from one seed.
std::mt19937_64 seeded_stream(uint64_t seed, uint64_t stream);

// Mean and covariance of rows (each row one observation).
void mean_covariance(const std::vector<std::vector<double>>& rows, std::vector<double>* mean,
                     std::vector<std::vector<double>>* covariance);
// Lower Cholesky factor of a symmetric positive semidefinite matrix; a
// diagonal jitter (relative to its trace) makes a singular one factorable.
std::vector<std::vector<double>> cholesky(std::vector<std::vector<double>> matrix);
// mean + L z, z standard normal.
std::vector<double> sample_normal(const std::vector<double>& mean, const std::vector<std::vector<double>>& lower,
                                  std::mt19937_64& rng);

}  // namespace loom::rl
