// The good/bad mixture variant (arXiv 2101.06171 lists one; its form is not
// public, so this is loom's reading): each party is good, u_k = w + ε_k, or
// bad, u_k = v + ε_k, with one noise precision τ ~ Gamma(α₀, β₀) shared by
// both (a precision per component lets a one-party component fit itself
// exactly, with unbounded likelihood), a Beta prior on the good share π with mean
// mix_prior_good, and w ~ N(0, λ₀⁻¹ I). EM from the coordinate median (good)
// and the update farthest from it (bad), on updates divided by the robust
// scale. The good component is the one with more parties (a majority
// assumption no aggregator without outside data can avoid), and a split is
// kept only when its log-likelihood gain exceeds a BIC penalty for the
// second mean, (d/2) log K, so that honest noise is not split in two.
// Returns the good mean; weights = responsibilities of the good component.
#include <algorithm>
#include <cmath>

#include "aggregators.h"
#include "loom/core/error.h"

namespace loom::fl {

namespace {

struct BayesMixOptions {
  BayesPrior prior;
  double prior_good = 0.7;     // prior mean of the good share π
  double prior_strength = 10;  // pseudo-parties behind that prior
};

const ParamSchema<BayesMixOptions>& bayes_mix_schema() {
  static const ParamSchema<BayesMixOptions> schema = [] {
    ParamSchema<BayesMixOptions> s;
    s.include<BayesPrior>(bayes_prior_schema(), [](BayesMixOptions& o) -> BayesPrior& { return o.prior; });
    s.add("mix_prior_good", &BayesMixOptions::prior_good, "bayes_mix: prior mean of the share of good parties",
          {0.5, 1});
    s.add("mix_prior_strength", &BayesMixOptions::prior_strength,
          "bayes_mix: pseudo-parties behind mix_prior_good (Beta prior)", {0, 1e9});
    return s;
  }();
  return schema;
}

class BayesMix : public Aggregator {
 public:
  explicit BayesMix(const BayesMixOptions& o) : o_(o) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    const double d = static_cast<double>(r.updates.size(1));
    const double s = robust_scale(r.updates);
    auto u = r.updates.to(torch::kDouble) / s;
    const BayesPrior& p = o_.prior;
    // One component: the plain model with a shared precision.
    auto one = torch::matmul(torch::ones({K}, torch::kDouble), u) / (static_cast<double>(K) + p.lambda0);
    const double sse_one = (u - one).pow(2).sum().item<double>();
    // Two components.
    auto mg = coordinate_median(u);
    auto far = (u - mg).pow(2).sum(1).argmax().item<int64_t>();
    auto mb = u[far].clone();
    auto resp = torch::ones({K}, torch::kDouble);             // responsibility of "good"
    const double a_good = o_.prior_strength * o_.prior_good;  // Beta prior: a_good good, the rest bad pseudo-parties
    double tau = 1, pi = o_.prior_good;
    for (int64_t it = 0; it <= p.iters; ++it) {
      auto sq_g = (u - mg).pow(2).sum(1), sq_b = (u - mb).pow(2).sum(1);
      auto log_g = std::log(pi) - 0.5 * tau * sq_g;
      auto log_b = std::log(1 - pi) - 0.5 * tau * sq_b;
      resp = torch::sigmoid(log_g - log_b);
      const double n_g = resp.sum().item<double>(), n_b = static_cast<double>(K) - n_g;
      if (n_g < 1e-9 || n_b < 1e-9) break;  // one component took every party
      mg = torch::matmul(resp, u) / (n_g + p.lambda0);
      mb = torch::matmul(1 - resp, u) / n_b;
      const double sse = torch::dot(resp, (u - mg).pow(2).sum(1)).item<double>() +
                         torch::dot(1 - resp, (u - mb).pow(2).sum(1)).item<double>();
      tau = (p.alpha0 + static_cast<double>(K) * d / 2) / (p.beta0 + 0.5 * sse);
      pi = std::clamp((a_good + n_g) / (o_.prior_strength + static_cast<double>(K)), 1e-6, 1 - 1e-6);
    }
    const double n_g = resp.sum().item<double>();
    // The majority component is the good one.
    if (n_g < static_cast<double>(K) / 2) {
      std::swap(mg, mb);
      resp = 1 - resp;
    }
    // The split's log-likelihood gain at the maximum-likelihood shared
    // precision, (Kd/2) log(SSE_one / SSE_two), against BIC's price of the
    // second mean.
    auto hard = (resp > 0.5).to(torch::kDouble);
    const double sse_two = torch::dot(hard, (u - mg).pow(2).sum(1)).item<double>() +
                           torch::dot(1 - hard, (u - mb).pow(2).sum(1)).item<double>();
    const double gain = 0.5 * static_cast<double>(K) * d * std::log(sse_one / std::max(sse_two, 1e-300));
    if (gain <= 0.5 * d * std::log(static_cast<double>(K)) || hard.sum().item<double>() >= K)
      return {(one * s).to(torch::kFloat), std::vector<double>(static_cast<size_t>(K), 1.0 / K)};
    return {(mg * s).to(torch::kFloat), normalized(to_vector(resp))};
  }

 private:
  BayesMixOptions o_;
};

}  // namespace

void register_bayes_mix(Registry<AggregatorEntry>& r) {
  r.add("bayes_mix", {"good/bad mixture: the majority component's mean, split kept only past a BIC penalty",
                      bayes_mix_schema().specs(), [](const Params& params) {
                        BayesMixOptions o = bayes_mix_schema().read(params);
                        o.prior = checked(o.prior);
                        return std::unique_ptr<Aggregator>(std::make_unique<BayesMix>(o));
                      }});
}

}  // namespace loom::fl
