// An accuracy predictor for subnets (Once-for-All): ridge regression on the
// one-hot encoding of a subnet's genes (ElasticSpace::features), fitted on
// the measured validation scores of sampled subnets. Evaluating it costs a
// dot product, so a budgeted search over thousands of subnets takes
// milliseconds. Stored as JSON beside the supernet.
//
//   auto p = loom::AccuracyPredictor::fit(features, accuracies, /*ridge=*/1e-2);
//   double predicted = p.predict(space.features(genome));
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace loom {

class AccuracyPredictor {
 public:
  // Minimises Σ (w·x_i + b − y_i)² + ridge·‖w‖². Rows must share one length.
  static AccuracyPredictor fit(const std::vector<std::vector<double>>& features, const std::vector<double>& targets,
                               double ridge);
  double predict(const std::vector<double>& features) const;

  nlohmann::json to_json() const;
  static AccuracyPredictor from_json(const nlohmann::json& json, const std::string& origin);
  size_t num_features() const { return weights_.size(); }

 private:
  std::vector<double> weights_;
  double bias_ = 0;
};

// Spearman's rank correlation (ties get their average rank); NaN when either
// side is constant.
double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace loom
