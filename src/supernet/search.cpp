#include "loom/supernet/search.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "loom/core/error.h"

namespace loom {

const EnumNames<CostMetric>& cost_metric_names() {
  static const EnumNames<CostMetric> names = {
      {CostMetric::Params, "params"}, {CostMetric::Flops, "flops"}, {CostMetric::LatencyMs, "latency_ms"}};
  return names;
}

double SubnetCost::get(CostMetric metric) const {
  switch (metric) {
    case CostMetric::Params: return params;
    case CostMetric::Flops: return flops;
    case CostMetric::LatencyMs: return latency_ms;
  }
  return 0;
}

nlohmann::json SubnetCost::to_json() const {
  return {{"params", params}, {"flops", flops}, {"latency_ms", latency_ms}};
}

std::string Budget::text() const {
  for (const auto& [m, name] : cost_metric_names())
    if (m == metric) return name + "=" + shortest_decimal(limit);
  return "?";
}

std::vector<Budget> parse_budgets(const std::string& text, const std::string& origin) {
  std::vector<Budget> out;
  const auto items = split_list(text);
  if (items.empty()) throw Error(origin + ": empty budget; write metric=limit with metric params, flops or latency_ms");
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      throw Error(origin + ": budget '" + item + "' is not metric=limit (metric params, flops or latency_ms)");
    std::string metric = item.substr(0, eq), value = item.substr(eq + 1);
    while (!metric.empty() && metric.back() == ' ') metric.pop_back();
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    Budget b;
    bool known = false;
    for (const auto& [m, name] : cost_metric_names())
      if (name == metric) {
        b.metric = m;
        known = true;
      }
    if (!known) throw Error(origin + ": unknown budget metric '" + metric + "'; valid: params, flops, latency_ms");
    char* end = nullptr;
    const double limit = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(limit))
      throw Error(origin + ": budget '" + item + "': '" + value + "' is not a number");
    if (limit <= 0) throw Error(origin + ": budget '" + item + "' must be positive");
    for (const auto& other : out)
      if (other.metric == b.metric) throw Error(origin + ": budget metric '" + metric + "' is given twice");
    b.limit = limit;
    out.push_back(b);
  }
  return out;
}

bool within_budgets(const std::vector<Budget>& budgets, const SubnetCost& cost) {
  for (const auto& b : budgets)
    if (!b.allows(cost)) return false;
  return true;
}

const ParamSchema<SearchOptions>& search_options_schema() {
  using O = SearchOptions;
  static const ParamSchema<O> schema = [] {
    ParamSchema<O> s;
    s.add("search_population", &O::population, "evolutionary search: subnets per generation", {2, 1e6})
        .add("search_generations", &O::generations, "evolutionary search: generations", {1, 1e6})
        .add("search_parent_ratio", &O::parent_ratio, "share of each generation kept as parents", {0.01, 1})
        .add("search_mutation_ratio", &O::mutation_ratio, "share of children made by mutation (rest: crossover)",
             {0, 1})
        .add("search_mutate_probability", &O::mutate_probability, "per-gene probability of a mutation", {0, 1})
        .add("search_max_tries", &O::max_tries, "draws allowed to find a subnet within budget", {1, 1e9})
        .add("search_seed", &O::seed, "seed of the search");
    return s;
  }();
  return schema;
}

SearchResult evolutionary_search(const ElasticSpace& space, const std::vector<Budget>& budgets,
                                 const CostFunction& cost, const ScoreFunction& score, const SearchOptions& options) {
  SubnetRng rng(options.seed);
  const auto& free = all_gene_kinds();
  std::map<Genome, SearchCandidate> seen;
  SearchResult result;
  auto evaluate = [&](const Genome& raw) -> const SearchCandidate& {
    Genome g = space.canonical(raw);
    auto it = seen.find(g);
    if (it != seen.end()) return it->second;
    SearchCandidate c{g, cost(g), 0.0};
    if (within_budgets(budgets, c.cost)) {
      c.score = score(g);
      ++result.scored;
    }
    return seen.emplace(g, c).first->second;
  };

  // The cheapest subnet first: if it is over budget, nothing can be within it
  // (for a monotone cost) and random draws are the last resort.
  std::vector<SearchCandidate> population;
  const SubnetCost smallest_cost = cost(space.canonical(space.smallest(free)));
  std::map<CostMetric, double> cheapest;  // per budget metric, over every draw
  for (const auto& b : budgets) cheapest[b.metric] = smallest_cost.get(b.metric);
  int64_t tries = 0;
  const size_t target = static_cast<size_t>(options.population);
  {
    Genome s = space.canonical(space.smallest(free));
    if (within_budgets(budgets, smallest_cost)) population.push_back(evaluate(s));
  }
  while (population.size() < target && tries < options.max_tries) {
    ++tries;
    Genome g = space.canonical(space.random(rng, free));
    SubnetCost c = cost(g);
    for (const auto& b : budgets) cheapest[b.metric] = std::min(cheapest[b.metric], c.get(b.metric));
    if (!within_budgets(budgets, c)) continue;
    population.push_back(evaluate(g));
  }
  if (population.empty()) {
    std::string over;
    for (const auto& b : budgets)
      over += (over.empty() ? "" : ", ") + b.text() + " (the cheapest subnet found needs " +
              shortest_decimal(cheapest[b.metric]) + ")";
    throw Error("no subnet fits the budget " + over + "; the smallest subnet costs " + smallest_cost.to_json().dump());
  }
  auto by_score = [](const SearchCandidate& a, const SearchCandidate& b) { return a.score > b.score; };
  for (int64_t gen = 0; gen < options.generations; ++gen) {
    std::sort(population.begin(), population.end(), by_score);
    result.best_score_per_generation.push_back(population.front().score);
    if (gen + 1 == options.generations) break;
    const size_t parents =
        std::max<size_t>(1, static_cast<size_t>(std::lround(options.parent_ratio * static_cast<double>(target))));
    std::vector<SearchCandidate> next(
        population.begin(), population.begin() + static_cast<std::ptrdiff_t>(std::min(parents, population.size())));
    const size_t n_parents = next.size();
    const size_t mutations =
        static_cast<size_t>(std::lround(options.mutation_ratio * static_cast<double>(target - n_parents)));
    std::uniform_int_distribution<size_t> pick(0, n_parents - 1);
    int64_t budget_tries = 0;
    while (next.size() < target && budget_tries < options.max_tries) {
      ++budget_tries;
      const bool mutate = next.size() < n_parents + mutations;
      Genome child = mutate ? space.mutate(next[pick(rng)].genome, options.mutate_probability, rng, free)
                            : space.crossover(next[pick(rng)].genome, next[pick(rng)].genome, rng);
      const SearchCandidate& c = evaluate(child);
      if (!within_budgets(budgets, c.cost)) continue;
      next.push_back(c);
    }
    population = std::move(next);
  }
  std::sort(population.begin(), population.end(), by_score);
  result.best = population.front();
  return result;
}

}  // namespace loom
