// Zeno (Xie, Koyejo and Gupta, ICML 2019): the server scores each update by
// the descent it brings on a small clean reference set of its own,
//   score_k = L(w) − L(w + γ u_k) − ρ‖u_k‖²,
// and averages the K − b highest-scored updates. Unlike the distance-based
// rules it tolerates any number of bad parties as long as one good update
// scores above them. loom runs it beside FLTrust as the second anchor the
// Bayesian aggregators do without: what a reference set buys (docs/fl.md).
// loom's choices where the paper is tied to SGD steps: updates are whole
// local epochs, so γ defaults to 1 (the update as sent) and ρ to the paper's
// 5e-4; the reference "batch" is the server's whole reference set.
#include <algorithm>
#include <numeric>

#include "aggregators.h"
#include "loom/core/error.h"

namespace loom::fl {

namespace {

struct ZenoOptions {
  int64_t b = -1;      // updates dropped; -1 = ⌊K/2⌋
  double gamma = 1.0;  // step along each update at which the loss is scored
  double rho = 5e-4;   // weight of the ‖u‖² penalty
};

const ParamSchema<ZenoOptions>& zeno_schema() {
  static const ParamSchema<ZenoOptions> schema = [] {
    ParamSchema<ZenoOptions> s;
    s.add("zeno_b", &ZenoOptions::b, "zeno: lowest-scored updates dropped (below K); -1 = floor(K/2)", {-1, 1e9});
    s.add("zeno_gamma", &ZenoOptions::gamma, "zeno: step along each update at which the reference loss is scored",
          {0, 1e6});
    s.add("zeno_rho", &ZenoOptions::rho, "zeno: weight of the squared-norm penalty in the score", {0, 1e12});
    return s;
  }();
  return schema;
}

class Zeno : public Aggregator {
 public:
  explicit Zeno(ZenoOptions o) : o_(o) {}
  bool needs_reference() const override { return true; }
  Aggregate aggregate(const RoundUpdates& r) override {
    check_round(r);
    const int64_t K = r.updates.size(0), d = r.updates.size(1);
    if (!r.reference_loss) throw Error("zeno: needs the server's loss on its reference set");
    const int64_t b = o_.b >= 0 ? o_.b : K / 2;
    if (b >= K)
      throw Error("zeno: zeno_b = " + std::to_string(b) + " drops every update of a round of " + std::to_string(K));
    const double base = r.reference_loss(torch::zeros({d}));
    auto sq_norms = to_vector(r.updates.to(torch::kDouble).pow(2).sum(1));
    std::vector<double> score(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k)
      score[static_cast<size_t>(k)] =
          base - r.reference_loss(o_.gamma * r.updates[k]) - o_.rho * sq_norms[static_cast<size_t>(k)];
    std::vector<int64_t> order(static_cast<size_t>(K));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) {
      return score[static_cast<size_t>(a)] > score[static_cast<size_t>(c)];
    });
    std::vector<double> weights(static_cast<size_t>(K), 0.0);
    const int64_t kept = K - b;
    for (int64_t i = 0; i < kept; ++i) weights[static_cast<size_t>(order[static_cast<size_t>(i)])] = 1.0 / kept;
    auto w = torch::tensor(weights, torch::kDouble);
    auto update = torch::matmul(w, r.updates.to(torch::kDouble));
    return {update.to(torch::kFloat), weights};
  }

 private:
  ZenoOptions o_;
};

}  // namespace

void register_zeno(Registry<AggregatorEntry>& r) {
  r.add("zeno",
        {"mean of the K - b updates that most lower the loss on the server's reference set (less a norm penalty)",
         zeno_schema().specs(),
         [](const Params& p) { return std::unique_ptr<Aggregator>(std::make_unique<Zeno>(zeno_schema().read(p))); }});
}

}  // namespace loom::fl
