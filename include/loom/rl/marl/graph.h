// Communication graphs for critic consensus: a base graph over the agents
// (ring, complete, star, line, or a seeded Erdős–Rényi draw), a time-varying
// random graph that keeps each base link with probability 1 − link_drop at
// every step (connected on average when the base graph is connected), and
// Metropolis weights on each realised graph: c_ij = 1 / (1 + max(d_i, d_j))
// on links, c_ii = 1 − Σ_j c_ij, zero elsewhere. The weights are symmetric,
// so every realised matrix is doubly stochastic (the paper asks for
// row-stochastic, column-stochastic in expectation; docs/marl.md).
//
//   loom::rl::marl::GraphProcess graphs(base_graph("ring", 6, seed), /*link_drop=*/0.3, seed);
//   const auto& g = graphs.at(step);               // the same graph for every agent that asks
//   auto c = metropolis_weights(g);                // n x n, row-major
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace loom::rl::marl {

// An undirected graph without self-loops, as sorted neighbour lists.
struct Graph {
  int n = 0;
  std::vector<std::vector<int>> neighbours;
  explicit Graph(int agents = 0) : n(agents), neighbours(static_cast<size_t>(agents)) {}
  void add_edge(int i, int j);
  bool has_edge(int i, int j) const;
  int64_t edges() const;
};

bool is_connected(const Graph& graph);
// "ring", "line", "star", "complete" or "random" (Erdős–Rényi with edge
// probability `density`, redrawn from `seed` until connected). Unknown names
// list the valid ones; fewer than two agents is an error.
Graph base_graph(const std::string& kind, int agents, uint64_t seed, double density = 0.5);
std::vector<std::string> graph_kinds();

// Metropolis–Hastings weights of `graph`: an n x n row-major matrix.
std::vector<double> metropolis_weights(const Graph& graph);
// The weights of an agent's own row: (neighbour or itself, weight) pairs.
std::vector<std::pair<int, double>> metropolis_row(const Graph& graph, int agent);

// Graph at step t = the base graph with each link dropped independently
// with probability link_drop, drawn from (seed, t) alone, so every agent
// process sees the same sequence without talking. The base graph must be
// connected (so that the expected graph is) and link_drop in [0, 1).
class GraphProcess {
 public:
  GraphProcess(Graph base, double link_drop, uint64_t seed);
  Graph at(int64_t step) const;
  const Graph& base() const { return base_; }
  double link_drop() const { return link_drop_; }

 private:
  Graph base_;
  double link_drop_;
  uint64_t seed_;
};

// One consensus round: x_i ← Σ_j c_ij x_j (each x_i a vector of equal size).
std::vector<std::vector<double>> consensus_round(const Graph& graph, const std::vector<std::vector<double>>& x);
// The spread of the agents' vectors: sqrt(mean_i ||x_i − x̄||²).
double consensus_error(const std::vector<std::vector<double>>& x);

}  // namespace loom::rl::marl
