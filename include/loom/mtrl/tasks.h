// Tasks of permutation-invariant multi-task RL (docs/mtrl.md): a domain has
// a universe of M resources (the assets of a sector index, the parties of a
// federation); a task is a subset of them, in an order, with its own data
// window (a domain-specific seed picks it). Training tasks are named t0, t1,
// ...; held-out tasks, never trained on (zero-shot transfer), h0, h1, ...
// Held-out subsets are never training subsets.
//
// Domains (domains(), filled once by register_all_domains() in
// src/mtrl/tasks.cpp, one file each under src/mtrl/domains/) turn a task into
// an rl::Environment whose observations are in resource layout
// (mtrl/networks.h) and whose action is an allocation over cash + the task's
// resources.
//
//   auto domain = loom::mtrl::make_domain("portfolio", options.domain);
//   loom::mtrl::TaskSet set = loom::mtrl::make_task_set(domain->universe(), options.tasks);
//   auto env = domain->make_environment(set.train[0], loom::rl::Split::Train);
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/core/registry.h"
#include "loom/rl/env.h"
#include "loom/rl/portfolio.h"

namespace loom::mtrl {

struct Task {
  std::string name;                // t0, t1, ... (training), h0, ... (held out)
  std::vector<int64_t> resources;  // indices into the universe, in the task's order
  std::vector<std::string> names;  // their names
  uint64_t window_seed = 0;        // picks the task's own data window (domain-specific)
};

struct TaskSetOptions {
  int64_t subset_size = 4;    // resources per drawn task
  int64_t train_tasks = 8;    // drawn training subsets
  int64_t holdout_tasks = 2;  // drawn held-out subsets (zero-shot)
  uint64_t task_seed = 0;     // which subsets are drawn
  // Explicit subsets instead of drawn ones: entries of resource names joined
  // by '+' ("BASI+INDU+FINA"); sizes may differ.
  std::vector<std::string> tasks, holdout;
  // Train on this many training tasks only (0: all); task t0 alone is the
  // single-task baseline.
  int64_t use_tasks = 0;
};
const ParamSchema<TaskSetOptions>& task_set_options_schema();

struct TaskSet {
  std::vector<Task> train, holdout;
  // The task named `name`, among both lists; unknown names are an error
  // naming `key` and listing the valid names.
  const Task& find(const std::string& name, const std::string& key) const;
};
// Distinct subsets drawn without replacement from the universe (seeded), or
// the explicit ones. Errors name the key: subset_size larger than the
// universe, more tasks than distinct subsets, an unknown or repeated resource.
TaskSet make_task_set(const std::vector<std::string>& universe, const TaskSetOptions& options);

// What the domains read: each its own block of keys.
struct PortfolioDomainOptions {
  // Nine synthetic assets by default (rl's four hold one subset of four).
  PortfolioDomainOptions() { env.synthetic_assets = 9; }
  rl::PortfolioOptions env;      // the universe is env.assets (or every CSV column, or the synthetic assets)
  int64_t task_window_days = 0;  // each task trains on its own window of this many days (0: the whole training part)
};
struct MetaFlOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int64_t universe_parties = 12;   // the federation's parties (resources)
  int64_t rounds = 10;             // FL rounds per episode
  int64_t samples_per_party = 60;  // each party's local examples
  int64_t validation_samples = 300;
  int64_t image_side = 7;  // images average-pooled to side x side (a tiny model: docs/mtrl.md)
  int64_t hidden = 0;      // the FL model's hidden units (0: softmax regression)
  double local_lr = 0.5;
  int64_t local_epochs = 1;
  int64_t local_batch = 20;
  double dirichlet_alpha = 1.0;
  uint64_t data_seed = 0;
  // Corruption mixes: each task draws its bad parties' corruptions from this
  // list; held-out tasks from holdout_corruptions.
  std::vector<std::string> corruptions = {"label_flip", "gaussian"};
  std::vector<std::string> holdout_corruptions = {"sign_flip", "random_labels"};
  double bad_fraction_low = 0.2, bad_fraction_high = 0.5;
  double reward_scale = 10;  // reward = scale x validation-accuracy gain
};
struct DomainOptions {
  std::string domain = "portfolio";
  PortfolioDomainOptions portfolio;
  MetaFlOptions meta_fl;
};
const ParamSchema<DomainOptions>& domain_options_schema();

class TaskDomain {
 public:
  virtual ~TaskDomain() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> universe() const = 0;
  virtual int64_t resource_features() const = 0;  // F
  virtual int64_t global_features() const = 0;    // G
  // `held_out`: the task is one of the held-out ones (a domain may draw its
  // data or corruptions from a held-out pool for it).
  virtual std::unique_ptr<rl::Environment> make_environment(const Task& task, rl::Split split, bool held_out) const = 0;
};

struct DomainEntry {
  std::string help;
  std::function<std::unique_ptr<TaskDomain>(const DomainOptions& options)> make;
};
Registry<DomainEntry>& domains();
std::unique_ptr<TaskDomain> make_domain(const DomainOptions& options);

}  // namespace loom::mtrl
