// Optimal transport, with order constraints (Lim et al., "Order Constraints in
// Optimal Transport", ICML 2022). A flat functional API in the style of POT:
// one call per solver, plain inputs, one result struct.
//
//   Problem: minimise <C, X>  s.t.  X 1 = a,  X^T 1 = b,  X >= 0
//   Order constraints (optional): for the ordered cells (i1,j1), ..., (iK,jK),
//     X[i1,j1] >= X[i2,j2] >= ... >= X[iK,jK] >= X[k,l] for every other cell,
//   i.e. they are the plan's K largest entries, the FIRST being the largest.
//
//   auto r = loom::ot::emd(a, b, C);                 // exact (network simplex)
//   auto s = loom::ot::sinkhorn(a, b, C, 0.05);      // entropic, log domain
//   auto o = loom::ot::order_constrained(a, b, C, {{0, 2}}, "admm");
//
// This module depends on loom's core only (no torch).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace loom::ot {

// Dense row-major matrix of doubles.
struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> data;
  Matrix() = default;
  Matrix(int64_t r, int64_t c, double fill = 0.0) : rows(r), cols(c), data(static_cast<size_t>(r * c), fill) {}
  double& operator()(int64_t i, int64_t j) { return data[static_cast<size_t>(i * cols + j)]; }
  double operator()(int64_t i, int64_t j) const { return data[static_cast<size_t>(i * cols + j)]; }
};

using Cell = std::pair<int64_t, int64_t>;

struct Result {
  Matrix plan;
  double cost = 0;           // <C, plan>
  std::vector<double> u, v;  // dual potentials (exact and Sinkhorn solvers)
  std::string status;        // "optimal", "converged", "max_iterations", ...
  int64_t iterations = 0;
  double marginal_error = 0;  // max |plan 1 - a|, |plan^T 1 - b|
  // Iterative solvers (ADMM): the last primal and dual residuals, a certified
  // lower bound on the optimum (from dual-feasible multipliers) and the
  // relative gap (cost - lower_bound) / |cost|.
  double primal_residual = 0, dual_residual = 0;
  double lower_bound = 0, gap = 0;
};

// Sinkhorn updates v = b / K^T u, then u = a / K v (POT's order): the rows are
// exact and the column error is what the stopping rule measures.
struct SinkhornOptions {
  double tolerance = 1e-9;  // stop when the column error is below this
  int64_t max_iterations = 100000;
  // "max": its largest entry, checked every 10th iteration (a bound on the
  // marginal error); "pot": POT's rule, its L2 norm after iterations 1, 11, 21, ...
  std::string stop = "max";
};

// ADMM works on the normalised problem (unit total mass, costs divided by
// their largest magnitude), so these settings mean the same on every instance.
struct AdmmOptions {
  double rho = 0;           // initial penalty; 0: ||S|| / ||Z|| of the start (S: reduced costs)
  double relaxation = 1.6;  // over-relaxation alpha in (0, 2); the reference uses 1
  bool adapt_rho = true;    // at restarts, balance rho by how far the primal and dual moved
  bool restart = true;      // restart from the running average when the KKT error fell enough
  // Converged: the plan's marginal error (relative to the mass) is at most
  // `tolerance` and the relative gap to the certified lower bound at most
  // `gap_tolerance`; both are checked every `check_every` iterations.
  double tolerance = 1e-7;
  double gap_tolerance = 1e-5;
  int64_t check_every = 50;
  int64_t max_iterations = 500000;
  // "emd": the plain OT plan and the dual its potentials imply;
  // "independent": a b^T / mass with U = 0, as the reference starts.
  std::string start = "emd";
};

// Throws loom::Error naming the problem: shapes, negative or non-finite
// masses and costs, unequal total mass, order cells out of range or sharing a
// row or column.
void validate(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
              const std::vector<Cell>& order = {});

// Exact OT by loom's network simplex for dense bipartite graphs (implicit arcs,
// block pivot search, double flows; LEMON is its oracle in the tests).
// Returns duals u, v with u_i + v_j <= C_ij; iterations counts the pivots.
Result emd(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost);

// Entropic OT, log-domain Sinkhorn; stops on the marginal error.
Result sinkhorn(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost, double reg,
                const SinkhornOptions& options = {});

// Order-constrained OT by ADMM (affine projection + order projection).
Result order_constrained_admm(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const std::vector<Cell>& order, const AdmmOptions& options = {});

// Order-constrained OT as one linear program (COIN-OR Clp): the exact oracle.
Result order_constrained_lp(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                            const std::vector<Cell>& order);

// Exact order-constrained OT by network flows: with the order cells fixed
// at u_1 >= ... >= u_K and every other cell capped at u_K, what is left is a
// capacitated transport problem (network simplex); its optimal cost is convex
// and piecewise linear in u, and Kelley's cutting planes over u (a small LP
// re-solved from its last basis) find the minimum exactly. Meant for small
// K (each cut costs one network simplex solve); "exact" uses it for K <= 5.
Result order_constrained_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const std::vector<Cell>& order);

// Solves by a named method of the solver registry (ot/solvers.h) with its
// default options: "exact", "flow", "lp", "admm" (or "sinkhorn" without
// order cells). An unknown method is an error that lists the valid ones.
Result order_constrained(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                         const std::vector<Cell>& order, const std::string& method);

// Lower bound on the order-constrained optimum from the row and the column
// relaxations (each row/column alone, with every cell capped by the top
// designated value u, optimised over u by a 1-D search); the larger of the two.
double order_constrained_lower_bound(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                                     const std::vector<Cell>& order);

// <C, X>
double transport_cost(const Matrix& cost, const Matrix& plan);
double marginal_error(const std::vector<double>& a, const std::vector<double>& b, const Matrix& plan);

}  // namespace loom::ot
