// Budgets and the budgeted evolutionary search over an elastic space, shared
// by MLFS (`loom supernet search`) and TOFA (`loom tofa select`). A budget is
// `metric=limit` with metric params, flops or latency_ms; several budgets,
// comma-separated, must all hold. The search (HAT / Once-for-All style)
// keeps a population of subnets within budget, takes the best as parents,
// and fills the rest by mutation and crossover; the best subnet found is
// returned with its cost and score. The score is whatever the caller
// supplies (validation accuracy, minus validation loss, or a predictor), and
// each distinct subnet is scored once.
//
//   auto budgets = loom::parse_budgets("latency_ms=2.5", "--budget");
//   loom::SearchResult r = loom::evolutionary_search(space, budgets, cost_of, score_of, options);
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loom/core/param_schema.h"
#include "loom/supernet/space.h"

namespace loom {

enum class CostMetric { Params, Flops, LatencyMs };
const EnumNames<CostMetric>& cost_metric_names();

struct SubnetCost {
  double params = 0, flops = 0, latency_ms = 0;
  double get(CostMetric metric) const;
  nlohmann::json to_json() const;
};

struct Budget {
  CostMetric metric = CostMetric::Params;
  double limit = 0;
  bool allows(const SubnetCost& cost) const { return cost.get(metric) <= limit; }
  std::string text() const;  // "latency_ms=2.5"
};
// "params=1.2e6", "flops=3e7,latency_ms=4": errors name `origin`, the item
// and what is wrong (no '=', unknown metric, not a positive number).
std::vector<Budget> parse_budgets(const std::string& text, const std::string& origin);
bool within_budgets(const std::vector<Budget>& budgets, const SubnetCost& cost);

struct SearchOptions {
  int64_t population = 48;
  int64_t generations = 12;
  double parent_ratio = 0.25;   // share of the population kept as parents
  double mutation_ratio = 0.5;  // share of the children made by mutation (the rest by crossover)
  double mutate_probability = 0.2;
  int64_t max_tries = 5000;  // draws allowed to find subnets within budget
  uint64_t seed = 0;
};
const ParamSchema<SearchOptions>& search_options_schema();

struct SearchCandidate {
  Genome genome;
  SubnetCost cost;
  double score = 0;
};
struct SearchResult {
  SearchCandidate best;
  std::vector<double> best_score_per_generation;
  int64_t scored = 0;  // distinct subnets scored
};

using CostFunction = std::function<SubnetCost(const Genome&)>;
using ScoreFunction = std::function<double(const Genome&)>;

// The best-scoring subnet within every budget. When even the cheapest subnet
// (the smallest, then `max_tries` random draws) is over budget, throws a
// loom::Error naming the budget and the cheapest cost found.
SearchResult evolutionary_search(const ElasticSpace& space, const std::vector<Budget>& budgets,
                                 const CostFunction& cost, const ScoreFunction& score, const SearchOptions& options);

}  // namespace loom
