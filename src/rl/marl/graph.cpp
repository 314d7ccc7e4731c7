#include "loom/rl/marl/graph.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "loom/core/error.h"

namespace loom::rl::marl {

void Graph::add_edge(int i, int j) {
  if (i == j || i < 0 || j < 0 || i >= n || j >= n)
    throw Error("graph: edge (" + std::to_string(i) + ", " + std::to_string(j) + ") is not between two of the " +
                std::to_string(n) + " agents");
  if (has_edge(i, j)) return;
  auto insert = [](std::vector<int>& list, int v) { list.insert(std::lower_bound(list.begin(), list.end(), v), v); };
  insert(neighbours[static_cast<size_t>(i)], j);
  insert(neighbours[static_cast<size_t>(j)], i);
}

bool Graph::has_edge(int i, int j) const {
  const auto& list = neighbours[static_cast<size_t>(i)];
  return std::binary_search(list.begin(), list.end(), j);
}

int64_t Graph::edges() const {
  int64_t total = 0;
  for (const auto& list : neighbours) total += static_cast<int64_t>(list.size());
  return total / 2;
}

bool is_connected(const Graph& graph) {
  if (graph.n == 0) return false;
  std::vector<bool> seen(static_cast<size_t>(graph.n), false);
  std::vector<int> stack{0};
  seen[0] = true;
  int count = 1;
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    for (int w : graph.neighbours[static_cast<size_t>(v)])
      if (!seen[static_cast<size_t>(w)]) {
        seen[static_cast<size_t>(w)] = true;
        ++count;
        stack.push_back(w);
      }
  }
  return count == graph.n;
}

std::vector<std::string> graph_kinds() { return {"ring", "line", "star", "complete", "random"}; }

Graph base_graph(const std::string& kind, int agents, uint64_t seed, double density) {
  if (agents < 2) throw Error("graph: " + std::to_string(agents) + " agents; consensus needs at least 2");
  Graph g(agents);
  if (kind == "ring" || kind == "line") {
    for (int i = 0; i + 1 < agents; ++i) g.add_edge(i, i + 1);
    if (kind == "ring" && agents > 2) g.add_edge(agents - 1, 0);
  } else if (kind == "star") {
    for (int i = 1; i < agents; ++i) g.add_edge(0, i);
  } else if (kind == "complete") {
    for (int i = 0; i < agents; ++i)
      for (int j = i + 1; j < agents; ++j) g.add_edge(i, j);
  } else if (kind == "random") {
    if (!(density > 0 && density <= 1)) throw Error("graph: density " + std::to_string(density) + " is not in (0, 1]");
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
    std::bernoulli_distribution keep(density);
    for (int attempt = 0; attempt < 1000; ++attempt) {
      g = Graph(agents);
      for (int i = 0; i < agents; ++i)
        for (int j = i + 1; j < agents; ++j)
          if (keep(rng)) g.add_edge(i, j);
      if (is_connected(g)) return g;
    }
    throw Error("graph: no connected random graph of " + std::to_string(agents) + " agents with density " +
                std::to_string(density) + " in 1000 draws; raise graph_density");
  } else {
    std::string valid;
    for (const auto& k : graph_kinds()) valid += (valid.empty() ? "" : ", ") + k;
    throw Error("graph: unknown graph '" + kind + "'; valid: " + valid);
  }
  return g;
}

std::vector<std::pair<int, double>> metropolis_row(const Graph& graph, int agent) {
  std::vector<std::pair<int, double>> row;
  const auto& mine = graph.neighbours[static_cast<size_t>(agent)];
  double self = 1.0;
  for (int j : mine) {
    const double w =
        1.0 / (1.0 + static_cast<double>(std::max(mine.size(), graph.neighbours[static_cast<size_t>(j)].size())));
    row.emplace_back(j, w);
    self -= w;
  }
  row.emplace_back(agent, self);
  std::sort(row.begin(), row.end());
  return row;
}

std::vector<double> metropolis_weights(const Graph& graph) {
  std::vector<double> c(static_cast<size_t>(graph.n) * static_cast<size_t>(graph.n), 0.0);
  for (int i = 0; i < graph.n; ++i)
    for (const auto& [j, w] : metropolis_row(graph, i)) c[static_cast<size_t>(i * graph.n + j)] = w;
  return c;
}

GraphProcess::GraphProcess(Graph base, double link_drop, uint64_t seed)
    : base_(std::move(base)), link_drop_(link_drop), seed_(seed) {
  if (!(link_drop >= 0 && link_drop < 1))
    throw Error("link_drop " + std::to_string(link_drop) + " is not in [0, 1): the graph would never connect");
  if (!is_connected(base_))
    throw Error("the communication graph is disconnected: consensus needs a graph connected on average");
}

Graph GraphProcess::at(int64_t step) const {
  if (link_drop_ == 0) return base_;
  std::mt19937_64 rng(seed_ * 0x2545F4914F6CDD1DULL + static_cast<uint64_t>(step) * 0x9E3779B97F4A7C15ULL + 1);
  std::bernoulli_distribution drop(link_drop_);
  Graph g(base_.n);
  for (int i = 0; i < base_.n; ++i)
    for (int j : base_.neighbours[static_cast<size_t>(i)])
      if (j > i && !drop(rng)) g.add_edge(i, j);
  return g;
}

std::vector<std::vector<double>> consensus_round(const Graph& graph, const std::vector<std::vector<double>>& x) {
  if (static_cast<int>(x.size()) != graph.n)
    throw Error("consensus: " + std::to_string(x.size()) + " vectors for a graph of " + std::to_string(graph.n));
  std::vector<std::vector<double>> out(x.size(), std::vector<double>(x.empty() ? 0 : x[0].size(), 0.0));
  for (int i = 0; i < graph.n; ++i)
    for (const auto& [j, w] : metropolis_row(graph, i))
      for (size_t k = 0; k < out[static_cast<size_t>(i)].size(); ++k)
        out[static_cast<size_t>(i)][k] += w * x[static_cast<size_t>(j)][k];
  return out;
}

double consensus_error(const std::vector<std::vector<double>>& x) {
  if (x.empty()) return 0;
  std::vector<double> mean(x[0].size(), 0.0);
  for (const auto& v : x)
    for (size_t k = 0; k < v.size(); ++k) mean[k] += v[k] / static_cast<double>(x.size());
  double total = 0;
  for (const auto& v : x)
    for (size_t k = 0; k < v.size(); ++k) total += (v[k] - mean[k]) * (v[k] - mean[k]);
  return std::sqrt(total / static_cast<double>(x.size()));
}

}  // namespace loom::rl::marl
