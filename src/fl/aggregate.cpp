// The aggregator registry and the helpers the aggregators share; each
// aggregator is a file under aggregators/.
#include "loom/fl/aggregate.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "aggregators/aggregators.h"
#include "loom/core/error.h"

namespace loom::fl {

namespace {

// The one place the built-in aggregators are listed.
void register_all_aggregators(Registry<AggregatorEntry>& r) {
  register_fedavg(r);
  register_median(r);
  register_trimmed_mean(r);
  register_krum(r);
  register_geomed(r);
  register_bulyan(r);
  register_fltrust(r);
  register_zeno(r);
  register_bayes(r);
  register_bayes_cf(r);
  register_bayes_mix(r);
}

}  // namespace

Registry<AggregatorEntry>& aggregators() {
  static Registry<AggregatorEntry> registry("aggregator", register_all_aggregators);
  return registry;
}

std::vector<ParamSpec> aggregator_param_specs() {
  std::vector<ParamSpec> out;
  std::set<std::string> seen;
  for (const auto& [name, entry] : aggregators().entries())
    for (const auto& spec : entry.params)
      if (seen.insert(spec.name).second) out.push_back(spec);
  return out;
}

std::unique_ptr<Aggregator> make_aggregator(const std::string& name, const Params& params, const std::string& origin) {
  return aggregators().get(name, origin).make(params);
}

std::unique_ptr<Aggregator> make_aggregator(const std::string& name) {
  const AggregatorEntry& entry = aggregators().get(name);
  return entry.make(Params(entry.params));
}

// ---- shared helpers (aggregators/aggregators.h)

void require_shapes(const RoundUpdates& r) {
  if (!r.updates.defined() || r.updates.dim() != 2 || r.updates.size(0) == 0)
    throw Error("aggregate: updates must be a non-empty [K, d] tensor");
  if (!r.updates.is_contiguous() || r.updates.scalar_type() != torch::kFloat)
    throw Error("aggregate: updates must be a contiguous float32 tensor");
  if (static_cast<int64_t>(r.sample_counts.size()) != r.updates.size(0))
    throw Error("aggregate: one sample count is needed per update");
}

std::string party_name(const RoundUpdates& r, int64_t k) {
  return k < static_cast<int64_t>(r.party_ids.size()) ? r.party_ids[static_cast<size_t>(k)]
                                                      : "party " + std::to_string(k);
}

void throw_non_finite(const RoundUpdates& r) {
  auto bad = torch::isfinite(r.updates).all(1).logical_not().nonzero();
  const int64_t k = bad.numel() ? bad[0][0].item<int64_t>() : 0;
  throw Error("aggregate: the update of " + party_name(r, k) + " contains NaN or infinity");
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

torch::Tensor coordinate_median(const torch::Tensor& u) {
  const int64_t K = u.size(0);
  auto sorted = std::get<0>(u.sort(0));
  if (K % 2 == 1) return sorted[K / 2];
  return (sorted[K / 2 - 1] + sorted[K / 2]) / 2;
}

std::vector<double> window_shares(const torch::Tensor& u, int64_t lo, int64_t hi) {
  auto order = std::get<1>(u.sort(0));
  auto picked = order.slice(0, lo, hi).flatten();
  return normalized(to_vector(torch::bincount(picked, {}, u.size(0))));
}

double robust_scale(const torch::Tensor& u) {
  auto med = coordinate_median(u);
  auto dist = (u - med).norm(2, 1) / std::sqrt(static_cast<double>(u.size(1)));
  double s = coordinate_median(dist.unsqueeze(1)).item<double>();
  if (!(s > 0)) s = std::max(1e-12, dist.max().item<double>());
  return s > 0 ? s : 1.0;
}

}  // namespace loom::fl
