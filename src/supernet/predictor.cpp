#include "loom/supernet/predictor.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "loom/core/error.h"

namespace loom {

namespace {

// Solves A x = b for a symmetric positive definite A (Cholesky), in place.
std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (d <= 0) throw Error("accuracy predictor: the normal equations are singular (raise the ridge)");
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  for (size_t i = 0; i < n; ++i) {  // L y = b
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {  // Lᵀ x = y
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return b;
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * static_cast<double>(i + j);
    i = j + 1;
  }
  return r;
}

}  // namespace

AccuracyPredictor AccuracyPredictor::fit(const std::vector<std::vector<double>>& features,
                                         const std::vector<double>& targets, double ridge) {
  if (features.empty() || features.size() != targets.size())
    throw Error("accuracy predictor: need as many targets as feature rows, and at least one");
  if (ridge <= 0) throw Error("accuracy predictor: ridge must be positive");
  const size_t n = features.size(), d = features[0].size();
  for (const auto& row : features)
    if (row.size() != d) throw Error("accuracy predictor: feature rows differ in length");
  std::vector<double> mean_x(d, 0.0);
  double mean_y = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < d; ++k) mean_x[k] += features[i][k] / static_cast<double>(n);
    mean_y += targets[i] / static_cast<double>(n);
  }
  std::vector<double> a(d * d, 0.0), b(d, 0.0);
  for (size_t i = 0; i < n; ++i) {
    const double y = targets[i] - mean_y;
    for (size_t p = 0; p < d; ++p) {
      const double xp = features[i][p] - mean_x[p];
      if (xp == 0) continue;
      b[p] += xp * y;
      for (size_t q = 0; q < d; ++q) a[p * d + q] += xp * (features[i][q] - mean_x[q]);
    }
  }
  for (size_t p = 0; p < d; ++p) a[p * d + p] += ridge;
  AccuracyPredictor out;
  out.weights_ = solve_spd(std::move(a), std::move(b), d);
  out.bias_ = mean_y;
  for (size_t k = 0; k < d; ++k) out.bias_ -= out.weights_[k] * mean_x[k];
  return out;
}

double AccuracyPredictor::predict(const std::vector<double>& features) const {
  if (features.size() != weights_.size())
    throw Error("accuracy predictor: expected " + std::to_string(weights_.size()) + " features, got " +
                std::to_string(features.size()));
  double y = bias_;
  for (size_t k = 0; k < features.size(); ++k) y += weights_[k] * features[k];
  return y;
}

nlohmann::json AccuracyPredictor::to_json() const { return {{"weights", weights_}, {"bias", bias_}}; }

AccuracyPredictor AccuracyPredictor::from_json(const nlohmann::json& json, const std::string& origin) {
  if (!json.is_object() || !json.contains("weights") || !json["weights"].is_array() || !json.contains("bias") ||
      !json["bias"].is_number())
    throw Error(origin + ": an accuracy predictor is {\"weights\": [...], \"bias\": number}");
  AccuracyPredictor p;
  for (const auto& w : json["weights"]) {
    if (!w.is_number()) throw Error(origin + ": predictor weights must be numbers");
    p.weights_.push_back(w.get<double>());
  }
  p.bias_ = json["bias"].get<double>();
  return p;
}

double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) return std::nan("");
  auto ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  if (saa == 0 || sbb == 0) return std::nan("");
  return sab / std::sqrt(saa * sbb);
}

}  // namespace loom
