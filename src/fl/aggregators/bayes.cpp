// Bayesian aggregation (arXiv 2101.06171; the paper's exact equations are not
// public, so this is the model PAPERS.md §10 states), in update space where
// μ₀ = the previous model becomes 0: party k reports u_k = w + ε_k,
// ε_k ~ N(0, τ_k⁻¹ I), τ_k ~ Gamma(α₀, β₀), w ~ N(0, λ₀⁻¹ I). Mean-field
// updates, iterated from the coordinate median:
//   Λ = λ₀ + Σ E[τ_k];  m = Σ E[τ_k] u_k / Λ
//   α_k = α₀ + d/2;  β_k = β₀ + ½(‖u_k − m‖² + d/Λ);  E[τ_k] = α_k / β_k
// Updates are first divided by a robust scale (robust_scale()) so that α₀,
// β₀, λ₀ are unit-free and carried posteriors stay meaningful while update
// norms shrink over rounds. Variants: one precision per party and layer
// (bayes_layer); Gamma posteriors carried into the next round's priors
// (bayes_carry). loom's choices where the paper is silent (leave-one-out
// residuals, the precision cap) are parameters, described in docs/fl.md.
#include <algorithm>
#include <cmath>
#include <map>

#include "aggregators.h"
#include "loom/core/error.h"

namespace loom::fl {

const ParamSchema<BayesPrior>& bayes_prior_schema() {
  static const ParamSchema<BayesPrior> schema = [] {
    ParamSchema<BayesPrior> s;
    s.add("bayes_alpha0", &BayesPrior::alpha0, "bayes*: Gamma prior shape of each party's precision", {0, 1e12});
    s.add("bayes_beta0", &BayesPrior::beta0, "bayes*: Gamma prior rate of each party's precision", {0, 1e12});
    s.add("bayes_lambda0", &BayesPrior::lambda0,
          "bayes*: prior precision of the global update (around the previous model)", {0, 1e12});
    s.add("bayes_iters", &BayesPrior::iters, "bayes*: variational EM iterations", {0, 1e6});
    return s;
  }();
  return schema;
}

BayesPrior checked(BayesPrior p) {
  if (!(p.alpha0 > 0)) throw Error("bayes_alpha0 must be positive");
  if (!(p.beta0 > 0)) throw Error("bayes_beta0 must be positive");
  return p;
}

namespace {

struct BayesOptions {
  BayesPrior prior;
  // Residuals against the other parties' mean; see infer_precisions().
  bool leave_one_out = true;
  // No precision above the median one; see infer_precisions().
  bool cap_at_median = true;
  double carry = 0.5;  // share of last round's posterior evidence kept as prior
  // Sample counts are claims a party makes about itself (docs/fl.md), so the
  // paper's model, which has none, is the default. With this on, party k's
  // precision in the mean is (n_k / mean n) τ_k: a FedAvg weight on top of
  // the inferred quality. (Scaling the noise model itself would not do it:
  // with τ_k free, the scale cancels in τ_k's posterior mean.)
  bool use_sample_counts = false;
};

const ParamSchema<BayesOptions>& bayes_schema() {
  static const ParamSchema<BayesOptions> schema = [] {
    ParamSchema<BayesOptions> s;
    s.include<BayesPrior>(bayes_prior_schema(), [](BayesOptions& o) -> BayesPrior& { return o.prior; });
    s.add("bayes_leave_one_out", &BayesOptions::leave_one_out,
          "bayes*: score each party against the others' mean (false = the textbook VB residual, which concentrates "
          "weight on a few parties when data is skewed)");
    s.add("bayes_cap_at_median", &BayesOptions::cap_at_median,
          "bayes*: cap each precision at the median one, so no party counts more than the typical party");
    s.add("bayes_carry", &BayesOptions::carry,
          "bayes_carry: share of last round's posterior evidence kept as the prior", {0, 1});
    s.add("bayes_sample_counts", &BayesOptions::use_sample_counts,
          "bayes*: weight each party's precision by its claimed sample count relative to the mean (claims: bound "
          "them with max_sample_count)");
    return s;
  }();
  return schema;
}

class Bayes : public Aggregator {
 public:
  Bayes(const BayesOptions& o, bool per_layer, bool carry) : o_(o), per_layer_(per_layer), carry_(carry) {}

  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    std::vector<int64_t> layers = per_layer_ && !r.layer_sizes.empty() ? r.layer_sizes : std::vector<int64_t>{d};
    int64_t total = 0;
    for (int64_t n : layers) total += n;
    if (total != d)
      throw Error("aggregate: layer_sizes sum to " + std::to_string(total) + ", not d=" + std::to_string(d));
    const BayesPrior& prior = o_.prior;
    std::vector<double> alpha0(static_cast<size_t>(K), prior.alpha0), beta0(static_cast<size_t>(K), prior.beta0);
    if (carry_) {
      for (int64_t k = 0; k < K; ++k) {
        auto it = carried_.find(carry_key(r, k));
        if (it == carried_.end()) continue;
        // Part of last round's evidence, re-expressed for this round's d, is the prior.
        alpha0[static_cast<size_t>(k)] += o_.carry * (it->second.first - prior.alpha0);
        beta0[static_cast<size_t>(k)] += o_.carry * (it->second.second - prior.beta0);
      }
    }
    std::vector<double> scale;
    if (o_.use_sample_counts) {
      double mean = 0;
      for (double n : r.sample_counts) mean += n / static_cast<double>(K);
      for (double n : r.sample_counts) scale.push_back(mean > 0 ? n / mean : 1.0);
    }
    auto out = torch::empty({d});
    std::vector<double> weights(static_cast<size_t>(K), 0.0);
    int64_t offset = 0;
    PrecisionPosterior last;
    for (int64_t n : layers) {
      auto u = r.updates.slice(1, offset, offset + n);
      const double s = robust_scale(u);
      torch::Tensor mean;
      last = infer_precisions(u / s, alpha0, beta0, prior.lambda0, prior.iters, &mean, o_.leave_one_out,
                              o_.cap_at_median, scale);
      out.slice(0, offset, offset + n).copy_(mean * s);
      auto tau = last.expected_precision();
      for (size_t k = 0; k < scale.size(); ++k) tau[k] *= scale[k];
      tau = normalized(tau);
      for (int64_t k = 0; k < K; ++k)
        weights[static_cast<size_t>(k)] +=
            tau[static_cast<size_t>(k)] * static_cast<double>(n) / static_cast<double>(d);
      offset += n;
    }
    if (carry_)
      for (int64_t k = 0; k < K; ++k)
        carried_[carry_key(r, k)] = {last.alpha[static_cast<size_t>(k)], last.beta[static_cast<size_t>(k)]};
    return {out, normalized(weights)};
  }

  nlohmann::json state() const override {
    if (!carry_) return nullptr;
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [id, ab] : carried_) j[id] = {ab.first, ab.second};
    return j;
  }
  void restore(const nlohmann::json& j) override {
    carried_.clear();
    if (!carry_ || j.is_null()) return;
    if (!j.is_object()) throw Error("bayes_carry state: expected an object of party -> [alpha, beta]");
    for (const auto& [id, ab] : j.items()) {
      if (!ab.is_array() || ab.size() != 2 || !ab[0].is_number() || !ab[1].is_number())
        throw Error("bayes_carry state: party '" + id + "' needs [alpha, beta]");
      const double a = ab[0].get<double>(), b = ab[1].get<double>();
      if (!(a > 0 && b > 0 && std::isfinite(a) && std::isfinite(b)))
        throw Error("bayes_carry state: party '" + id + "' needs a positive, finite [alpha, beta]");
      carried_[id] = {a, b};
    }
  }

 private:
  static std::string carry_key(const RoundUpdates& r, int64_t k) {
    return k < static_cast<int64_t>(r.party_ids.size()) ? r.party_ids[static_cast<size_t>(k)] : std::to_string(k);
  }

  BayesOptions o_;
  bool per_layer_, carry_;
  std::map<std::string, std::pair<double, double>> carried_;
};

}  // namespace

std::vector<double> PrecisionPosterior::expected_precision() const {
  std::vector<double> out(alpha.size());
  for (size_t k = 0; k < alpha.size(); ++k) out[k] = alpha[k] / beta[k];
  return out;
}

PrecisionPosterior infer_precisions(const torch::Tensor& updates, const std::vector<double>& alpha0,
                                    const std::vector<double>& beta0, double lambda0, int64_t iterations,
                                    torch::Tensor* mean, bool leave_one_out, bool cap_at_median,
                                    const std::vector<double>& sample_scale) {
  const int64_t K = updates.size(0);
  if (!sample_scale.empty() && static_cast<int64_t>(sample_scale.size()) != K)
    throw Error("infer_precisions: one sample scale is needed per update");
  auto scale_of = [&](size_t k) { return sample_scale.empty() ? 1.0 : sample_scale[k]; };
  const double d = static_cast<double>(updates.size(1));
  auto u = updates.to(torch::kDouble);
  // A robust start: the coordinate median, so that outliers cannot pull the
  // first precisions their way.
  auto m = coordinate_median(u);
  PrecisionPosterior post;
  post.alpha.resize(static_cast<size_t>(K));
  post.beta.resize(static_cast<size_t>(K));
  double Lambda = 0;
  std::vector<double> tau_prev;
  for (int64_t it = 0; it <= iterations; ++it) {
    // Residuals against the mean of the *other* parties (leave-one-out): with
    // the plain residual a party's own update pulls m towards it, its
    // precision grows, and on skewed data the weights concentrate on a few
    // parties. This correction is loom's choice (docs/fl.md);
    // bayes_leave_one_out: false restores the textbook update.
    torch::Tensor sq;
    if (tau_prev.empty() || !leave_one_out) {
      sq = (u - m).pow(2).sum(1);
    } else {
      auto tau_t = torch::tensor(tau_prev, torch::kDouble).unsqueeze(1);  // precisions of the updates
      auto others = (Lambda * m.unsqueeze(0) - tau_t * u) / (Lambda - tau_t).clamp_min(1e-12);
      sq = (u - others).pow(2).sum(1);
    }
    auto sq_v = to_vector(sq);
    std::vector<double> tau(static_cast<size_t>(K));
    for (size_t k = 0; k < static_cast<size_t>(K); ++k) {
      post.alpha[k] = alpha0[k] + d / 2;
      post.beta[k] = beta0[k] + 0.5 * (sq_v[k] + (Lambda > 0 ? d / Lambda : 0.0));
      tau[k] = post.alpha[k] / post.beta[k];
    }
    if (cap_at_median) {
      // No party may count for more than the typical one: identical
      // "too clean" updates (free riders sending zeros, copies) would otherwise
      // win the fixed point with unbounded precision.
      std::vector<double> sorted = tau;
      std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
      const double cap = sorted[sorted.size() / 2];
      for (double& t : tau) t = std::min(t, cap);
      for (size_t k = 0; k < tau.size(); ++k) post.alpha[k] = tau[k] * post.beta[k];
    }
    // The weight of party k's update in the mean: its τ_k times its sample scale.
    for (size_t k = 0; k < tau.size(); ++k) tau[k] *= scale_of(k);
    Lambda = lambda0;
    for (double t : tau) Lambda += t;
    tau_prev = tau;
    auto tau_t = torch::tensor(tau, torch::kDouble);
    auto next = torch::matmul(tau_t, u) / Lambda;
    const double moved = (next - m).norm().item<double>();
    m = next;
    if (moved <= 1e-9 * (1.0 + m.norm().item<double>())) break;
  }
  *mean = m.to(torch::kFloat);
  return post;
}

void register_bayes(Registry<AggregatorEntry>& r) {
  struct Variant {
    const char* name;
    const char* help;
    bool per_layer, carry;
  };
  for (const Variant& v :
       {Variant{"bayes", "per-party precision by variational EM, precision-weighted mean", false, false},
        Variant{"bayes_layer", "bayes with one precision per party and layer", true, false},
        Variant{"bayes_carry",
                "bayes whose Gamma posteriors, decayed by bayes_carry, are the next "
                "round's priors",
                false, true}})
    r.add(v.name, {v.help, bayes_schema().specs(), [v](const Params& p) {
                     BayesOptions o = bayes_schema().read(p);
                     o.prior = checked(o.prior);
                     return std::unique_ptr<Aggregator>(std::make_unique<Bayes>(o, v.per_layer, v.carry));
                   }});
}

}  // namespace loom::fl
