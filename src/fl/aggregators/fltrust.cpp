// FLTrust (Cao et al., NDSS 2021): the server trains on a small clean
// reference set of its own; each party's trust is ReLU(cos(u_k, g0)) with
// the server's update g0, every update is rescaled to ‖g0‖, and the result
// is the trust-weighted mean. loom runs it as the anchor the Bayesian
// aggregators do without: what a reference set buys (docs/fl.md).
#include <cmath>

#include "aggregators.h"
#include "loom/core/error.h"

namespace loom::fl {

namespace {

class FlTrust : public Aggregator {
 public:
  bool needs_reference() const override { return true; }
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    if (!r.reference.defined() || r.reference.numel() != d)
      throw Error("fltrust: needs the server's update on its reference set (" + std::to_string(d) + " values)");
    auto u = r.updates.to(torch::kDouble);
    auto g0 = r.reference.to(torch::kDouble).flatten();
    const double g_norm = g0.norm().item<double>();
    auto norms = u.norm(2, 1).clamp_min(1e-30);
    auto trust = (torch::matmul(u, g0) / (norms * std::max(g_norm, 1e-30))).clamp_min(0);
    const double total = trust.sum().item<double>();
    if (!(total > 0)) return {torch::zeros({d}), std::vector<double>(static_cast<size_t>(K), 0.0)};
    auto scaled = u * (g_norm / norms).unsqueeze(1);
    auto update = torch::matmul(trust, scaled) / total;
    return {update.to(torch::kFloat), to_vector(trust / total)};
  }
};

}  // namespace

void register_fltrust(Registry<AggregatorEntry>& r) {
  r.add("fltrust",
        {"trust = ReLU(cosine to the server's own update on its reference set); updates rescaled to its norm",
         {},
         [](const Params&) { return std::unique_ptr<Aggregator>(std::make_unique<FlTrust>()); }});
}

}  // namespace loom::fl
