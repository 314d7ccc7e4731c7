#include "loom/mtrl/task_sampler.h"

#include <cmath>

#include "loom/core/error.h"

namespace loom::mtrl {

const ParamSchema<SamplerOptions>& sampler_options_schema() {
  static const ParamSchema<SamplerOptions> schema = [] {
    using O = SamplerOptions;
    ParamSchema<O> s;
    s.add("priority_alpha", &O::alpha, "task sampling: P(k) ∝ (loss_k + ε)^α; 0 = uniform", {0, 10})
        .add("priority_epsilon", &O::epsilon, "task sampling: ε added to every task's loss", {1e-12, 1e6})
        .add("importance_beta", &O::beta, "task sampling: importance weights (1/(K P(k)))^β / max; 0 = none", {0, 1})
        .add("priority_decay", &O::decay, "task sampling: moving-average decay of each task's loss", {0, 1})
        .add("priority_initial", &O::initial, "task sampling: a task's priority before its first update", {0, 1e9});
    return s;
  }();
  return schema;
}

TaskSampler::TaskSampler(size_t tasks, const SamplerOptions& options)
    : options_(options), priorities_(tasks, options.initial), draws_(tasks, 0), observed_(tasks, 0) {
  if (tasks == 0) throw Error("task sampler: no tasks");
}

std::vector<double> TaskSampler::probabilities(const std::vector<bool>& eligible) const {
  if (!eligible.empty() && eligible.size() != priorities_.size())
    throw Error("task sampler: an eligibility mask of " + std::to_string(eligible.size()) + " for " +
                std::to_string(priorities_.size()) + " tasks");
  std::vector<double> p(priorities_.size(), 0.0);
  // Priorities are divided by their mean over the eligible tasks before ε is
  // added: ε and α then mean the same for any reward (and TD-loss) scale.
  // Our choice; the paper gives no scale (docs/mtrl.md).
  double mean = 0;
  int64_t live = 0;
  for (size_t k = 0; k < p.size(); ++k)
    if (eligible.empty() || eligible[k]) mean += priorities_[k], ++live;
  if (live == 0) throw Error("task sampler: no eligible task");
  mean /= static_cast<double>(live);
  double total = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    if (!eligible.empty() && !eligible[k]) continue;
    const double relative = mean > 0 ? priorities_[k] / mean : 1.0;
    p[k] = options_.alpha == 0 ? 1.0 : std::pow(relative + options_.epsilon, options_.alpha);
    total += p[k];
  }
  if (!(total > 0)) throw Error("task sampler: no eligible task");
  for (double& v : p) v /= total;
  return p;
}

size_t TaskSampler::draw(std::mt19937_64& rng, const std::vector<bool>& eligible) {
  const std::vector<double> p = probabilities(eligible);
  // Inverse CDF on one uniform draw: reproducible across standard libraries,
  // unlike std::discrete_distribution.
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  double cumulative = 0;
  size_t chosen = p.size();
  for (size_t k = 0; k < p.size(); ++k) {
    if (p[k] == 0) continue;
    chosen = k;
    cumulative += p[k];
    if (u < cumulative) break;
  }
  ++draws_[chosen];
  return chosen;
}

double TaskSampler::importance_weight(size_t task, const std::vector<bool>& eligible) const {
  if (task >= priorities_.size()) throw Error("task sampler: task " + std::to_string(task) + " out of range");
  if (options_.beta == 0) return 1.0;
  const std::vector<double> p = probabilities(eligible);
  if (p[task] == 0) throw Error("task sampler: importance weight of an ineligible task");
  // (1/(K P(k)))^β / max_j (1/(K P(j)))^β = (min_j P(j) / P(k))^β over the eligible j.
  double smallest = 1;
  for (double v : p)
    if (v > 0) smallest = std::min(smallest, v);
  return std::pow(smallest / p[task], options_.beta);
}

void TaskSampler::observe(size_t task, double loss) {
  if (task >= priorities_.size()) throw Error("task sampler: task " + std::to_string(task) + " out of range");
  if (!std::isfinite(loss) || loss < 0)
    throw Error("task sampler: task " + std::to_string(task) + ": a loss of " + std::to_string(loss) +
                " (must be finite and non-negative)");
  double& p = priorities_[task];
  // The first loss replaces the optimistic initial priority.
  p = observed_[task]++ == 0 ? loss : options_.decay * p + (1 - options_.decay) * loss;
}

void TaskSampler::set_priority(size_t task, double priority) {
  if (task >= priorities_.size()) throw Error("task sampler: task " + std::to_string(task) + " out of range");
  if (!std::isfinite(priority) || priority < 0) throw Error("task sampler: priorities must be finite and >= 0");
  priorities_[task] = priority;
}

nlohmann::json TaskSampler::state() const {
  return {{"priorities", priorities_}, {"draws", draws_}, {"observed", observed_}};
}

void TaskSampler::set_state(const nlohmann::json& s) {
  try {
    auto p = s.at("priorities").get<std::vector<double>>();
    auto d = s.at("draws").get<std::vector<int64_t>>();
    auto o = s.at("observed").get<std::vector<int64_t>>();
    if (p.size() != priorities_.size() || d.size() != draws_.size() || o.size() != observed_.size())
      throw Error("task sampler state: " + std::to_string(p.size()) + " tasks, this run has " +
                  std::to_string(priorities_.size()));
    priorities_ = std::move(p);
    draws_ = std::move(d);
    observed_ = std::move(o);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("task sampler state: ") + e.what());
  }
}

}  // namespace loom::mtrl
