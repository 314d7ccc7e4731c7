#include "loom/fl/aggregate.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "loom/core/error.h"

namespace loom::fl {

std::vector<ParamSpec> aggregator_param_specs() {
  using T = ParamType;
  return {
      {"trim_beta", T::Float, "0.2", "trimmed_mean: share of values dropped at each end per coordinate"},
      {"krum_f", T::Int, "-1", "krum/multi_krum: assumed bad parties; -1 = floor((K-3)/2)"},
      {"multi_krum_m", T::Int, "-1", "multi_krum: parties averaged; -1 = K - f"},
      {"geomed_iters", T::Int, "100", "geomed: Weiszfeld iterations at most"},
      {"bayes_alpha0", T::Float, "1", "bayes*: Gamma prior shape of each party's precision"},
      {"bayes_beta0", T::Float, "1", "bayes*: Gamma prior rate of each party's precision"},
      {"bayes_lambda0", T::Float, "1e-3", "bayes*: prior precision of the global update (around the previous model)"},
      {"bayes_iters", T::Int, "20", "bayes*: variational EM iterations"},
      {"bayes_leave_one_out", T::Bool, "true",
       "bayes*: score each party against the others' mean (false = the textbook VB residual, which concentrates weight "
       "on a few parties when data is skewed)"},
      {"bayes_cap_at_median", T::Bool, "true",
       "bayes*: cap each precision at the median one, so no party counts more than the typical party"},
      {"bayes_carry", T::Float, "0.5", "bayes_carry: share of last round's posterior evidence kept as the prior"},
      {"cf_rank", T::Int, "1", "bayes_cf: rank of the shared low-rank component"},
  };
}

AggregatorOptions aggregator_options_from_params(const Params& p) {
  AggregatorOptions o;
  o.trim_beta = p.get_float("trim_beta");
  o.krum_f = p.get_int("krum_f");
  o.multi_krum_m = p.get_int("multi_krum_m");
  o.geomed_iters = p.get_int("geomed_iters");
  o.bayes_alpha0 = p.get_float("bayes_alpha0");
  o.bayes_beta0 = p.get_float("bayes_beta0");
  o.bayes_lambda0 = p.get_float("bayes_lambda0");
  o.bayes_iters = p.get_int("bayes_iters");
  o.bayes_leave_one_out = p.get_bool("bayes_leave_one_out");
  o.bayes_cap_at_median = p.get_bool("bayes_cap_at_median");
  o.bayes_carry = p.get_float("bayes_carry");
  o.cf_rank = p.get_int("cf_rank");
  if (!(o.trim_beta >= 0 && o.trim_beta < 0.5)) throw Error("trim_beta must lie in [0, 0.5)");
  if (o.bayes_alpha0 <= 0 || o.bayes_beta0 <= 0 || o.bayes_lambda0 < 0) throw Error("bayes priors must be positive");
  if (!(o.bayes_carry >= 0 && o.bayes_carry <= 1)) throw Error("bayes_carry must lie in [0, 1]");
  if (o.cf_rank < 1) throw Error("cf_rank must be at least 1");
  return o;
}

namespace {

void require_shapes(const RoundUpdates& r) {
  if (!r.updates.defined() || r.updates.dim() != 2 || r.updates.size(0) == 0)
    throw Error("aggregate: updates must be a non-empty [K, d] tensor");
  if (!r.updates.is_contiguous() || r.updates.scalar_type() != torch::kFloat)
    throw Error("aggregate: updates must be a contiguous float32 tensor");
  if (static_cast<int64_t>(r.sample_counts.size()) != r.updates.size(0))
    throw Error("aggregate: one sample count is needed per update");
}

// Names the first party whose update is not finite.
[[noreturn]] void throw_non_finite(const RoundUpdates& r) {
  auto bad = torch::isfinite(r.updates).all(1).logical_not().nonzero();
  const int64_t k = bad.numel() ? bad[0][0].item<int64_t>() : 0;
  const std::string who =
      k < static_cast<int64_t>(r.party_ids.size()) ? r.party_ids[static_cast<size_t>(k)] : "party " + std::to_string(k);
  throw Error("aggregate: the update of " + who + " contains NaN or infinity");
}

void check_round(const RoundUpdates& r) {
  require_shapes(r);
  // One read pass: a double-precision sum is finite iff every entry is (float
  // magnitudes cannot overflow it).
  if (!std::isfinite(r.updates.sum(torch::kDouble).item<double>())) throw_non_finite(r);
}

std::vector<double> normalized(std::vector<double> w) {
  double total = 0;
  for (double x : w) total += x;
  for (double& x : w) x = total > 0 ? x / total : 1.0 / static_cast<double>(w.size());
  return w;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// Coordinate-wise median (mean of the two middle values for even K).
torch::Tensor coordinate_median(const torch::Tensor& u) {
  const int64_t K = u.size(0);
  auto sorted = std::get<0>(u.sort(0));
  if (K % 2 == 1) return sorted[K / 2];
  return (sorted[K / 2 - 1] + sorted[K / 2]) / 2;
}

// Share of coordinates at which each party's value lies in the sorted window [lo, hi).
std::vector<double> window_shares(const torch::Tensor& u, int64_t lo, int64_t hi) {
  auto order = std::get<1>(u.sort(0));
  auto picked = order.slice(0, lo, hi).flatten();
  return normalized(to_vector(torch::bincount(picked, {}, u.size(0))));
}

// The one aggregator that can run at memory speed: each update is read once,
// and finiteness is checked on the (small) result, since any NaN or infinity
// in an input reaches it. Accumulation is blocked so the output stays in cache.
class FedAvg : public Aggregator {
 public:
  Aggregate aggregate(const RoundUpdates& r) override {
    require_shapes(r);
    auto w = normalized(r.sample_counts);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    auto out = torch::zeros({d});
    const float* u = r.updates.data_ptr<float>();
    float* o = out.data_ptr<float>();
    constexpr int64_t kBlock = 4096;  // 16 KiB of output per pass
    for (int64_t start = 0; start < d; start += kBlock) {
      const int64_t end = std::min(d, start + kBlock);
      for (int64_t k = 0; k < K; ++k) {
        const float wk = static_cast<float>(w[static_cast<size_t>(k)]);
        const float* row = u + k * d;
        for (int64_t i = start; i < end; ++i) o[i] += wk * row[i];
      }
    }
    if (!std::isfinite(out.sum(torch::kDouble).item<double>())) throw_non_finite(r);
    return {out, w};
  }
};

class Median : public Aggregator {
 public:
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    return {coordinate_median(r.updates), window_shares(r.updates, (K - 1) / 2, K / 2 + 1)};
  }
};

class TrimmedMean : public Aggregator {
 public:
  explicit TrimmedMean(double beta) : beta_(beta) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    const auto t = static_cast<int64_t>(std::floor(beta_ * static_cast<double>(K)));
    auto sorted = std::get<0>(r.updates.sort(0));
    return {sorted.slice(0, t, K - t).mean(0), window_shares(r.updates, t, K - t)};
  }

 private:
  double beta_;
};

class Krum : public Aggregator {
 public:
  Krum(int64_t f, int64_t m, bool multi) : f_(f), m_(m), multi_(multi) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0);
    const int64_t f = f_ >= 0 ? f_ : std::max<int64_t>(0, (K - 3) / 2);
    const int64_t neighbours = std::max<int64_t>(1, K - f - 2);
    if (K < 2) return {r.updates[0], {1.0}};
    auto sq = (r.updates * r.updates).sum(1);
    auto dist = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * torch::matmul(r.updates, r.updates.t())).clamp_min(0);
    dist.fill_diagonal_(std::numeric_limits<float>::infinity());
    auto nearest = std::get<0>(dist.topk(std::min(neighbours, K - 1), 1, /*largest=*/false));
    auto scores = nearest.sum(1);
    const int64_t m = multi_ ? (m_ > 0 ? std::min(m_, K) : K - f) : 1;
    auto chosen = std::get<1>(scores.topk(m, 0, /*largest=*/false));
    std::vector<double> w(static_cast<size_t>(K), 0.0);
    for (int64_t i = 0; i < m; ++i) w[static_cast<size_t>(chosen[i].item<int64_t>())] = 1.0 / static_cast<double>(m);
    return {r.updates.index_select(0, chosen).mean(0), w};
  }

 private:
  int64_t f_, m_;
  bool multi_;
};

class GeometricMedian : public Aggregator {
 public:
  explicit GeometricMedian(int64_t iters) : iters_(iters) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    auto n = torch::tensor(std::vector<float>(r.sample_counts.begin(), r.sample_counts.end()));
    auto z = torch::matmul(n / n.sum(), r.updates);
    torch::Tensor w = n;
    const double scale = std::max(1e-12, r.updates.norm().item<double>() / std::sqrt(double(r.updates.size(0))));
    for (int64_t it = 0; it < iters_; ++it) {
      auto dist = (r.updates - z).norm(2, 1).clamp_min(1e-8 * scale);
      w = n / dist;
      auto next = torch::matmul(w / w.sum(), r.updates);
      const double moved = (next - z).norm().item<double>();
      z = next;
      if (moved <= 1e-7 * scale) break;
    }
    return {z, normalized(to_vector(w))};
  }

 private:
  int64_t iters_;
};

// The robust scale updates are divided by before Bayesian inference.
double robust_scale(const torch::Tensor& u) {
  auto med = coordinate_median(u);
  auto dist = (u - med).norm(2, 1) / std::sqrt(static_cast<double>(u.size(1)));
  double s = coordinate_median(dist.unsqueeze(1)).item<double>();
  if (!(s > 0)) s = std::max(1e-12, dist.max().item<double>());
  return s > 0 ? s : 1.0;
}

class Bayes : public Aggregator {
 public:
  Bayes(const AggregatorOptions& o, bool per_layer, bool carry) : o_(o), per_layer_(per_layer), carry_(carry) {}

  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    std::vector<int64_t> layers = per_layer_ && !r.layer_sizes.empty() ? r.layer_sizes : std::vector<int64_t>{d};
    int64_t total = 0;
    for (int64_t n : layers) total += n;
    if (total != d)
      throw Error("aggregate: layer_sizes sum to " + std::to_string(total) + ", not d=" + std::to_string(d));
    std::vector<double> alpha0(static_cast<size_t>(K), o_.bayes_alpha0), beta0(static_cast<size_t>(K), o_.bayes_beta0);
    if (carry_) {
      for (int64_t k = 0; k < K; ++k) {
        const std::string id =
            k < static_cast<int64_t>(r.party_ids.size()) ? r.party_ids[static_cast<size_t>(k)] : std::to_string(k);
        auto it = carried_.find(id);
        if (it == carried_.end()) continue;
        // Part of last round's evidence, re-expressed for this round's d, is the prior.
        alpha0[static_cast<size_t>(k)] += o_.bayes_carry * (it->second.first - o_.bayes_alpha0);
        beta0[static_cast<size_t>(k)] += o_.bayes_carry * (it->second.second - o_.bayes_beta0);
      }
    }
    auto out = torch::empty({d});
    std::vector<double> weights(static_cast<size_t>(K), 0.0);
    int64_t offset = 0;
    PrecisionPosterior last;
    for (int64_t n : layers) {
      auto u = r.updates.slice(1, offset, offset + n);
      const double s = robust_scale(u);
      torch::Tensor mean;
      last = infer_precisions(u / s, alpha0, beta0, o_.bayes_lambda0, o_.bayes_iters, &mean, o_.bayes_leave_one_out,
                              o_.bayes_cap_at_median);
      out.slice(0, offset, offset + n).copy_(mean * s);
      auto tau = normalized(last.expected_precision());
      for (int64_t k = 0; k < K; ++k)
        weights[static_cast<size_t>(k)] +=
            tau[static_cast<size_t>(k)] * static_cast<double>(n) / static_cast<double>(d);
      offset += n;
    }
    if (carry_)
      for (int64_t k = 0; k < K; ++k) {
        const std::string id =
            k < static_cast<int64_t>(r.party_ids.size()) ? r.party_ids[static_cast<size_t>(k)] : std::to_string(k);
        carried_[id] = {last.alpha[static_cast<size_t>(k)], last.beta[static_cast<size_t>(k)]};
      }
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
      carried_[id] = {ab[0].get<double>(), ab[1].get<double>()};
    }
  }

 private:
  AggregatorOptions o_;
  bool per_layer_, carry_;
  std::map<std::string, std::pair<double, double>> carried_;
};

// Low-rank-plus-noise: U ≈ L + E, rank(L) = r, E_k ~ N(0, τ_k⁻¹ I). Alternates a
// precision-weighted rank-r fit of the parties' updates with the precisions'
// Gamma posteriors. A low-rank fit alone cannot tell a collinear attack
// (sign flipping, scaling, free riding: exactly inside the fitted subspace,
// so it looks noise-free) from honest work, so the denoised rows L_k are
// then scored by their distance to the rows' coordinate median plus the
// typical noise (precisions ρ_k).
// Party weight ∝ ρ_k · min(τ_k, median τ): noise costs weight, and being
// cleaner than typical buys none. These choices are loom's (docs/fl.md).
class BayesCF : public Aggregator {
 public:
  explicit BayesCF(const AggregatorOptions& o) : o_(o) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    const double s = robust_scale(r.updates);
    auto u = r.updates.to(torch::kDouble) / s;
    const int64_t rank = std::min<int64_t>(o_.cf_rank, K);
    // Start from residuals to the coordinate median, as the plain model does.
    auto resid = (u - coordinate_median(u)).pow(2).sum(1);
    auto tau = (o_.bayes_alpha0 + 0.5 * d) / (o_.bayes_beta0 + 0.5 * resid);
    torch::Tensor low;
    for (int64_t it = 0; it < o_.bayes_iters; ++it) {
      auto sw = tau.sqrt().unsqueeze(1);
      auto weighted = u * sw;
      auto eig = torch::linalg_eigh(torch::matmul(weighted, weighted.t()));
      auto basis = std::get<1>(eig).slice(1, K - rank, K);  // top-r eigenvectors (ascending order)
      low = torch::matmul(basis, torch::matmul(basis.t(), weighted)) / sw;
      resid = (u - low).pow(2).sum(1);
      tau = (o_.bayes_alpha0 + 0.5 * d) / (o_.bayes_beta0 + 0.5 * resid);
    }
    // Disagreement of each denoised row with the rows' coordinate median, on
    // top of the typical noise (so that clean parties, whose rows differ only
    // by noise-sized amounts, score alike).
    auto spread = (low - coordinate_median(low)).pow(2).sum(1) + coordinate_median(resid.unsqueeze(1));
    auto rho = (o_.bayes_alpha0 + 0.5 * d) / (o_.bayes_beta0 + 0.5 * spread);
    auto capped = torch::minimum(tau, coordinate_median(tau.unsqueeze(1)));
    auto w = rho * capped;
    w = w / w.sum();
    auto agg = (torch::matmul(w.unsqueeze(0), low).squeeze(0) * s).to(torch::kFloat);
    return {agg, to_vector(w)};
  }

 private:
  AggregatorOptions o_;
};

}  // namespace

std::vector<double> PrecisionPosterior::expected_precision() const {
  std::vector<double> out(alpha.size());
  for (size_t k = 0; k < alpha.size(); ++k) out[k] = alpha[k] / beta[k];
  return out;
}

PrecisionPosterior infer_precisions(const torch::Tensor& updates, const std::vector<double>& alpha0,
                                    const std::vector<double>& beta0, double lambda0, int64_t iterations,
                                    torch::Tensor* mean, bool leave_one_out, bool cap_at_median) {
  const int64_t K = updates.size(0);
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
    // parties. This
    // correction is loom's choice (docs/fl.md); bayes_leave_one_out: false
    // restores the textbook update.
    torch::Tensor sq;
    if (tau_prev.empty() || !leave_one_out) {
      sq = (u - m).pow(2).sum(1);
    } else {
      auto tau_t = torch::tensor(tau_prev, torch::kDouble).unsqueeze(1);
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

const std::vector<std::string>& aggregator_names() {
  static const std::vector<std::string> names = {"fedavg", "median", "trimmed_mean", "krum",        "multi_krum",
                                                 "geomed", "bayes",  "bayes_layer",  "bayes_carry", "bayes_cf"};
  return names;
}

std::unique_ptr<Aggregator> make_aggregator(const std::string& name, const AggregatorOptions& o) {
  if (name == "fedavg") return std::make_unique<FedAvg>();
  if (name == "median") return std::make_unique<Median>();
  if (name == "trimmed_mean") return std::make_unique<TrimmedMean>(o.trim_beta);
  if (name == "krum") return std::make_unique<Krum>(o.krum_f, o.multi_krum_m, false);
  if (name == "multi_krum") return std::make_unique<Krum>(o.krum_f, o.multi_krum_m, true);
  if (name == "geomed") return std::make_unique<GeometricMedian>(o.geomed_iters);
  if (name == "bayes") return std::make_unique<Bayes>(o, false, false);
  if (name == "bayes_layer") return std::make_unique<Bayes>(o, true, false);
  if (name == "bayes_carry") return std::make_unique<Bayes>(o, false, true);
  if (name == "bayes_cf") return std::make_unique<BayesCF>(o);
  std::string valid;
  for (const auto& n : aggregator_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("unknown aggregator '" + name + "'; valid: " + valid);
}

}  // namespace loom::fl
