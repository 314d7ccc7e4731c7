// The online-portfolio baselines: uniform constant rebalancing and OLMAR.
// They read the portfolio's observation layout (PortfolioEnv::make_observation).
#include <cmath>

#include "loom/core/error.h"
#include "loom/rl/portfolio.h"

namespace loom::rl {
namespace {

class UniformRebalancing : public Policy {
 public:
  explicit UniformRebalancing(int64_t size) : size_(size) {}
  std::vector<std::vector<double>> act_batch(const std::vector<Observation>& observations) override {
    return std::vector<std::vector<double>>(observations.size(),
                                            std::vector<double>(static_cast<size_t>(size_), 1.0 / size_));
  }

 private:
  int64_t size_;
};

// Li & Hoi (ICML 2012), OLMAR-1: predict the next price relative by the
// moving average over `window` days, then the passive-aggressive step
// towards b.x̃ >= ε, projected onto the simplex (cash's relative is 1).
class Olmar : public Policy {
 public:
  Olmar(const ObservationSpec& spec, int64_t assets, int64_t window, double epsilon)
      : spec_(spec), assets_(assets), window_(window), epsilon_(epsilon) {
    if (window < 1 || window > spec.sequence_length)
      throw Error("olmar: the window (" + std::to_string(window) + ") must lie in 1..history (" +
                  std::to_string(spec.sequence_length) + ")");
  }
  std::vector<std::vector<double>> act_batch(const std::vector<Observation>& observations) override {
    std::vector<std::vector<double>> out;
    const auto m = static_cast<size_t>(assets_ + 1);
    for (const auto& o : observations) {
      std::vector<double> predicted(m, 1.0), weights(m);
      const int64_t seq = spec_.sequence_length * spec_.sequence_features;
      for (size_t i = 0; i < m; ++i) weights[i] = o[static_cast<size_t>(seq) + i];
      for (int64_t a = 0; a < assets_; ++a) {
        double sum = 0, back = 0;  // back: log(p_t / p_{t-k})
        for (int64_t k = 0; k < window_; ++k) {
          sum += std::exp(-back);
          const int64_t row = spec_.sequence_length - 1 - k;
          back += o[static_cast<size_t>(row * spec_.sequence_features + a)] / 100.0;
        }
        predicted[static_cast<size_t>(a + 1)] = sum / static_cast<double>(window_);
      }
      double mean = 0, dot = 0;
      for (size_t i = 0; i < m; ++i) mean += predicted[i] / static_cast<double>(m), dot += weights[i] * predicted[i];
      double norm = 0;
      for (size_t i = 0; i < m; ++i) norm += (predicted[i] - mean) * (predicted[i] - mean);
      const double step = norm > 0 ? std::max(0.0, (epsilon_ - dot) / norm) : 0.0;
      std::vector<double> b(m);
      for (size_t i = 0; i < m; ++i) b[i] = weights[i] + step * (predicted[i] - mean);
      out.push_back(project(ConstraintSet::simplex(static_cast<int64_t>(m)), b));
    }
    return out;
  }

 private:
  ObservationSpec spec_;
  int64_t assets_, window_;
  double epsilon_;
};

}  // namespace

std::unique_ptr<Policy> make_ucrp_policy(const PortfolioEnv& env) {
  return std::make_unique<UniformRebalancing>(env.assets() + 1);
}

std::unique_ptr<Policy> make_olmar_policy(const PortfolioEnv& env, int64_t window, double epsilon) {
  return std::make_unique<Olmar>(env.observation_spec(), env.assets(), window, epsilon);
}

}  // namespace loom::rl
