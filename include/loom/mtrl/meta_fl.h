// The meta federated-learning domain's fixed baselines (docs/mtrl.md): the
// FL module's aggregators (fedavg, median, bayes, ...) closing every round of
// the same episodes a learned policy runs in `loom mtrl evaluate`.
//
//   auto returns = loom::mtrl::evaluate_meta_fl_aggregators(options, {"fedavg", "median", "bayes"});
//   double r = returns["median"]["h0"];   // mean episode return on task h0
#pragma once
#include <map>
#include <string>
#include <vector>

#include "loom/mtrl/mtrl.h"

namespace loom::mtrl {

// Mean return (reward scale x accuracy gain) per aggregator and task on the
// options' split, for the tasks of options.eval_tasks (empty: all).
std::map<std::string, std::map<std::string, double>> evaluate_meta_fl_aggregators(
    const MtrlOptions& options, const std::vector<std::string>& aggregators);

}  // namespace loom::mtrl
