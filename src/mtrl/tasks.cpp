#include "loom/mtrl/tasks.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "domains/domains.h"
#include "loom/core/error.h"

namespace loom::mtrl {

const ParamSchema<TaskSetOptions>& task_set_options_schema() {
  static const ParamSchema<TaskSetOptions> schema = [] {
    using O = TaskSetOptions;
    ParamSchema<O> s;
    s.add("subset_size", &O::subset_size, "tasks: resources per drawn task subset", {1, 4096})
        .add("train_tasks", &O::train_tasks, "tasks: drawn training subsets (t0, t1, ...)", {1, 100000})
        .add("holdout_tasks", &O::holdout_tasks, "tasks: drawn held-out subsets for zero-shot tests (h0, ...)",
             {0, 100000})
        .add("task_seed", &O::task_seed, "tasks: seed of the drawn subsets and their data windows")
        .add("tasks", &O::tasks, "tasks: explicit training subsets, resource names joined by '+', comma-separated")
        .add("holdout", &O::holdout, "tasks: explicit held-out subsets, as `tasks`")
        .add("use_tasks", &O::use_tasks, "tasks: train on the first this many training tasks (0: all; 1: single task)",
             {0, 100000});
    return s;
  }();
  return schema;
}

const Task& TaskSet::find(const std::string& name, const std::string& key) const {
  std::string valid;
  for (const auto* list : {&train, &holdout})
    for (const auto& t : *list) {
      if (t.name == name) return t;
      valid += (valid.empty() ? "" : ", ") + t.name;
    }
  throw Error(key + ": unknown task '" + name + "'; valid: " + valid);
}

namespace {

double log_binomial(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n + 1)) - std::lgamma(static_cast<double>(k + 1)) -
         std::lgamma(static_cast<double>(n - k + 1));
}

Task explicit_task(const std::string& text, const std::vector<std::string>& universe, const std::string& key,
                   const std::string& name) {
  Task t;
  t.name = name;
  size_t start = 0;
  std::set<int64_t> seen;
  for (;;) {
    const size_t plus = text.find('+', start);
    const std::string item = text.substr(start, plus == std::string::npos ? std::string::npos : plus - start);
    auto it = std::find(universe.begin(), universe.end(), item);
    if (it == universe.end()) {
      std::string valid;
      for (const auto& u : universe) valid += (valid.empty() ? "" : ", ") + u;
      throw Error(key + ": task '" + text + "' names the resource '" + item + "', which is not in the universe (" +
                  valid + ")");
    }
    const int64_t index = it - universe.begin();
    if (!seen.insert(index).second) throw Error(key + ": task '" + text + "' names '" + item + "' twice");
    t.resources.push_back(index);
    t.names.push_back(item);
    if (plus == std::string::npos) break;
    start = plus + 1;
  }
  return t;
}

std::vector<int64_t> sorted_copy(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TaskSet make_task_set(const std::vector<std::string>& universe, const TaskSetOptions& o) {
  const auto m = static_cast<int64_t>(universe.size());
  if (m == 0) throw Error("tasks: the domain's universe is empty");
  TaskSet set;
  std::mt19937_64 rng(o.task_seed * 0x9E3779B97F4A7C15ULL + 0x51ED2701ULL);
  std::set<std::vector<int64_t>> used;  // subsets as sorted index lists
  for (size_t k = 0; k < o.tasks.size(); ++k) {
    set.train.push_back(explicit_task(o.tasks[k], universe, "tasks", "t" + std::to_string(k)));
    used.insert(sorted_copy(set.train.back().resources));
  }
  for (size_t k = 0; k < o.holdout.size(); ++k) {
    set.holdout.push_back(explicit_task(o.holdout[k], universe, "holdout", "h" + std::to_string(k)));
    if (used.count(sorted_copy(set.holdout.back().resources)))
      throw Error("holdout: the subset '" + o.holdout[k] + "' is also a training task");
  }
  const bool draw_train = o.tasks.empty(), draw_holdout = o.holdout.empty() && o.holdout_tasks > 0;
  if (draw_train || draw_holdout) {
    if (o.subset_size > m)
      throw Error("subset_size: " + std::to_string(o.subset_size) + " is larger than the universe of " +
                  std::to_string(m) + " resources");
    const int64_t wanted = (draw_train ? o.train_tasks : 0) + (draw_holdout ? o.holdout_tasks : 0);
    if (std::log(static_cast<double>(wanted) + static_cast<double>(used.size())) >
        log_binomial(m, o.subset_size) + 1e-9)
      throw Error("train_tasks + holdout_tasks: " + std::to_string(wanted) + " distinct subsets of " +
                  std::to_string(o.subset_size) + " do not exist in a universe of " + std::to_string(m) +
                  " resources (C(" + std::to_string(m) + ", " + std::to_string(o.subset_size) + ") is fewer)");
    auto draw = [&](const std::string& name) {
      for (;;) {
        std::vector<int64_t> all(static_cast<size_t>(m));
        for (int64_t i = 0; i < m; ++i) all[static_cast<size_t>(i)] = i;
        std::shuffle(all.begin(), all.end(), rng);
        all.resize(static_cast<size_t>(o.subset_size));  // in the drawn order: the task's labelling of its resources
        if (!used.insert(sorted_copy(all)).second) continue;
        Task t;
        t.name = name;
        t.resources = all;
        for (int64_t i : all) t.names.push_back(universe[static_cast<size_t>(i)]);
        return t;
      }
    };
    if (draw_train)
      for (int64_t k = 0; k < o.train_tasks; ++k) set.train.push_back(draw("t" + std::to_string(k)));
    if (draw_holdout)
      for (int64_t k = 0; k < o.holdout_tasks; ++k) set.holdout.push_back(draw("h" + std::to_string(k)));
  }
  // A task's window seed depends on the task seed and its name only, so that
  // naming other held-out tasks leaves the training tasks' data as it was.
  for (auto* list : {&set.train, &set.holdout})
    for (auto& t : *list) {
      uint64_t h = 1469598103934665603ULL ^ o.task_seed;  // FNV-1a
      for (char c : t.name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
      t.window_seed = std::mt19937_64(h)();
    }
  if (o.use_tasks > 0) {
    if (o.use_tasks > static_cast<int64_t>(set.train.size()))
      throw Error("use_tasks: " + std::to_string(o.use_tasks) + " of " + std::to_string(set.train.size()) +
                  " training tasks");
    set.train.resize(static_cast<size_t>(o.use_tasks));
  }
  return set;
}

const ParamSchema<DomainOptions>& domain_options_schema() {
  static const ParamSchema<DomainOptions> schema = [] {
    using O = DomainOptions;
    ParamSchema<O> s;
    s.add("domain", &O::domain, "multi-task domain: portfolio or meta_fl")
        .include<rl::PortfolioOptions>(rl::portfolio_options_schema(),
                                       [](O& o) -> rl::PortfolioOptions& { return o.portfolio.env; })
        .add_nested<int64_t>("task_window_days", [](O& o) -> int64_t& { return o.portfolio.task_window_days; },
                             "portfolio: each task's own training window in days (0: the whole training part)",
                             {0, 1e6});
    add_meta_fl_options(s);
    return s;
  }();
  return schema;
}

namespace {
void register_all_domains(Registry<DomainEntry>& r) {
  register_portfolio_domain(r);
  register_meta_fl_domain(r);
}
}  // namespace

Registry<DomainEntry>& domains() {
  static Registry<DomainEntry> registry("multi-task domain", register_all_domains);
  return registry;
}

std::unique_ptr<TaskDomain> make_domain(const DomainOptions& options) {
  return domains().get(options.domain, "domain").make(options);
}

}  // namespace loom::mtrl
