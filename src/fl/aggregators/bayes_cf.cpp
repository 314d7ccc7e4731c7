// Collaborative-filtering aggregation (arXiv 2101.06171's second family, in
// loom's reading): U ≈ L + E, rank(L) = r, E_k ~ N(0, τ_k⁻¹ I). Alternates a
// precision-weighted rank-r fit of the parties' updates with the precisions'
// Gamma posteriors. A low-rank fit alone cannot tell a collinear attack
// (sign flipping, scaling, free riding: exactly inside the fitted subspace,
// so it looks noise-free) from honest work, so the denoised rows L_k are
// then scored by their distance to the rows' coordinate median plus the
// typical noise (precisions ρ_k).
// Party weight ∝ ρ_k · min(τ_k, median τ): noise costs weight, and being
// cleaner than typical buys none. These choices are loom's (docs/fl.md).
#include <algorithm>

#include "aggregators.h"

namespace loom::fl {

namespace {

struct BayesCfOptions {
  BayesPrior prior;
  int64_t rank = 1;
};

const ParamSchema<BayesCfOptions>& bayes_cf_schema() {
  static const ParamSchema<BayesCfOptions> schema = [] {
    ParamSchema<BayesCfOptions> s;
    s.include<BayesPrior>(bayes_prior_schema(), [](BayesCfOptions& o) -> BayesPrior& { return o.prior; },
                          {"bayes_alpha0", "bayes_beta0", "bayes_iters"});
    s.add("cf_rank", &BayesCfOptions::rank, "bayes_cf: rank of the shared low-rank component", {1, 1e6});
    return s;
  }();
  return schema;
}

class BayesCF : public Aggregator {
 public:
  explicit BayesCF(const BayesCfOptions& o) : o_(o) {}
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    const double s = robust_scale(r.updates);
    const double alpha0 = o_.prior.alpha0, beta0 = o_.prior.beta0;
    auto u = r.updates.to(torch::kDouble) / s;
    const int64_t rank = std::min<int64_t>(o_.rank, K);
    // Start from residuals to the coordinate median, as the plain model does.
    auto resid = (u - coordinate_median(u)).pow(2).sum(1);
    auto tau = (alpha0 + 0.5 * d) / (beta0 + 0.5 * resid);
    torch::Tensor low;
    for (int64_t it = 0; it < o_.prior.iters; ++it) {
      auto sw = tau.sqrt().unsqueeze(1);
      auto weighted = u * sw;
      auto eig = torch::linalg_eigh(torch::matmul(weighted, weighted.t()));
      auto basis = std::get<1>(eig).slice(1, K - rank, K);  // top-r eigenvectors (ascending order)
      low = torch::matmul(basis, torch::matmul(basis.t(), weighted)) / sw;
      resid = (u - low).pow(2).sum(1);
      tau = (alpha0 + 0.5 * d) / (beta0 + 0.5 * resid);
    }
    if (!low.defined()) low = u;  // bayes_iters: 0 fits nothing
    // Disagreement of each denoised row with the rows' coordinate median, on
    // top of the typical noise (so that clean parties, whose rows differ only
    // by noise-sized amounts, score alike).
    auto spread = (low - coordinate_median(low)).pow(2).sum(1) + coordinate_median(resid.unsqueeze(1));
    auto rho = (alpha0 + 0.5 * d) / (beta0 + 0.5 * spread);
    auto capped = torch::minimum(tau, coordinate_median(tau.unsqueeze(1)));
    auto w = rho * capped;
    w = w / w.sum();
    auto agg = (torch::matmul(w.unsqueeze(0), low).squeeze(0) * s).to(torch::kFloat);
    return {agg, to_vector(w)};
  }

 private:
  BayesCfOptions o_;
};

}  // namespace

void register_bayes_cf(Registry<AggregatorEntry>& r) {
  r.add("bayes_cf", {"collaborative filtering: updates = rank-cf_rank shared part + per-party noise",
                     bayes_cf_schema().specs(), [](const Params& p) {
                       BayesCfOptions o = bayes_cf_schema().read(p);
                       o.prior = checked(o.prior);
                       return std::unique_ptr<Aggregator>(std::make_unique<BayesCF>(o));
                     }});
}

}  // namespace loom::fl
