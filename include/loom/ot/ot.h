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
// This module depends on nothing else in loom (no torch).
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
};

struct SinkhornOptions {
  double tolerance = 1e-9;  // stop when the marginal error is below this
  int64_t max_iterations = 100000;
};

struct AdmmOptions {
  double rho = 1.0;         // penalty, as in the reference code
  double tolerance = 1e-4;  // on max(||X - Z||_F, rho ||Z_t - Z_{t-1}||_F)
  int64_t max_iterations = 10000;
};

// Throws loom::Error naming the problem: shapes, negative or non-finite
// masses and costs, unequal total mass, order cells out of range or sharing a
// row or column.
void validate(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
              const std::vector<Cell>& order = {});

// Exact OT by network simplex (LEMON). Returns duals u, v with u_i + v_j <= C_ij.
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

// Exact order-constrained OT for one designated cell by a 1-D search over its
// value u: with X[i1,j1] = u fixed and every other cell capped at u, what is
// left is a capacitated transport problem (a min-cost flow, network simplex);
// its optimal cost is convex in u.
Result order_constrained_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const Cell& cell);

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
