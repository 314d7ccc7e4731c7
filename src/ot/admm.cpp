#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "loom/core/error.h"
#include "loom/ot/order_projection.h"
#include "solver_entries.h"

namespace loom::ot {

namespace {

// The smallest uniform shift theta >= 0 that puts S + theta 11' into the
// dual cone of the order cone O = {X >= 0 : X[c1] >= ... >= X[cK] >= every
// other entry}. O's extreme rays are the chain prefixes 1{c1..cj} (j < K) and
// 1{chain} + 1{T} for any set T of other cells, so S lies in O* exactly when
// every chain prefix sum of S is >= 0 and
//   phi(S) = sum over the chain of S + sum over the others of min(0, S_e) >= 0.
// phi(S + theta) is concave, increasing and piecewise linear in theta, so
// Newton's method from theta = 0 climbs to its root in a few exact steps.
// Without order cells O is the nonnegative orthant: theta = max(0, -min S).
double dual_cone_shift(std::vector<double>* S_in, const std::vector<int64_t>& chain, std::vector<double>* negative) {
  const std::vector<double>& S = *S_in;
  const size_t K = chain.size();
  if (K == 0) {
    double lowest = 0;
    for (double s : S) lowest = std::min(lowest, s);
    return -lowest;
  }
  double theta = 0, prefix = 0;
  for (size_t k = 0; k + 1 < K; ++k) {
    prefix += S[static_cast<size_t>(chain[k])];
    theta = std::max(theta, -prefix / static_cast<double>(k + 1));
  }
  // The other entries' negative values: the chain's are hidden behind 0 during the scan.
  double chain_sum = 0;
  std::vector<double> saved;
  for (int64_t c : chain) {
    saved.push_back(S[static_cast<size_t>(c)]);
    chain_sum += saved.back();
    (*S_in)[static_cast<size_t>(c)] = 0;
  }
  negative->clear();
  for (double s : S)
    if (s < 0) negative->push_back(s);
  for (size_t k = 0; k < K; ++k) (*S_in)[static_cast<size_t>(chain[k])] = saved[k];
  double root = 0;
  for (int step = 0; step < 200; ++step) {
    double phi = chain_sum + static_cast<double>(K) * root, slope = static_cast<double>(K);
    size_t kept = 0;
    for (double s : *negative)
      if (s + root < 0) {
        phi += s + root;
        slope += 1;
        (*negative)[kept++] = s;  // entries at or above -root stay out from now on
      }
    negative->resize(kept);
    if (phi >= 0) break;
    root -= phi / slope;
  }
  return std::max(theta, root);
}

// Optimality measures of a point Z (in the order cone) with the marginal
// multipliers u_i + v_j = rho (row_i + col_j), on the normalised problem.
struct Kkt {
  double marginal = 0;       // max |Z 1 - a|, |Z^T 1 - b|
  double marginal_l1 = 0;    // sum |Z 1 - a| + sum |Z^T 1 - b|: with costs in [-1, 1], what repairing them may cost
  double primal = 0;         // <C, Z>
  double dual = 0;           // a.u + b.v - theta: a certified lower bound
  double infeasibility = 0;  // theta, the shift that made the multipliers dual feasible
  double gap() const { return (primal - dual) / std::max({std::abs(primal), std::abs(dual), 1e-300}); }
  // One number for the restart rule (mass and costs are both of order 1).
  double error() const {
    return std::sqrt(marginal * marginal + infeasibility * infeasibility + (primal - dual) * (primal - dual));
  }
};

struct Workspace {
  std::vector<double> S, cols, negative;
};

Kkt evaluate(const std::vector<double>& Z, const std::vector<double>& row, const std::vector<double>& col, double rho,
             double weight, const std::vector<double>& C, const std::vector<double>& an, const std::vector<double>& bn,
             const std::vector<int64_t>& chain, Workspace* ws) {
  const size_t m = an.size(), n = bn.size();
  ws->S.resize(m * n);
  ws->cols.assign(n, 0.0);
  Kkt k;
  double uv = 0;
  for (size_t i = 0; i < m; ++i) {
    const size_t base = i * n;
    const double ui = rho * row[i] * weight;
    double zr = 0, value = 0;
    double* sc = ws->cols.data();
    const double *z = Z.data() + base, *c = C.data() + base, *cp = col.data();
    double* s = ws->S.data() + base;
    const double scale = rho * weight;
#pragma omp simd reduction(+ : zr, value)
    for (size_t j = 0; j < n; ++j) {
      zr += z[j];
      sc[j] += z[j];
      value += c[j] * z[j];
      s[j] = c[j] - ui - scale * cp[j];
    }
    k.primal += value;
    k.marginal = std::max(k.marginal, std::abs(zr - an[i]));
    k.marginal_l1 += std::abs(zr - an[i]);
    uv += an[i] * ui;
  }
  for (size_t j = 0; j < n; ++j) {
    k.marginal = std::max(k.marginal, std::abs(ws->cols[j] - bn[j]));
    k.marginal_l1 += std::abs(ws->cols[j] - bn[j]);
    uv += bn[j] * rho * col[j] * weight;
  }
  k.infeasibility = dual_cone_shift(&ws->S, chain, &ws->negative);
  k.dual = uv - k.infeasibility;
  return k;
}

}  // namespace

Result order_constrained_admm(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
                              const std::vector<Cell>& order, const AdmmOptions& options) {
  validate(a, b, cost, order);
  if (!(options.rho >= 0)) throw Error("ot: ADMM rho must be positive (or 0 for automatic)");
  if (!(options.relaxation > 0 && options.relaxation < 2)) throw Error("ot: ADMM relaxation must lie in (0, 2)");
  if (options.start != "emd" && options.start != "independent")
    throw Error("ot: ADMM start must be 'emd' or 'independent', got '" + options.start + "'");
  const int64_t m = cost.rows, n = cost.cols;
  const size_t size = static_cast<size_t>(m * n);
  std::vector<int64_t> chain;
  for (auto [i, j] : order) chain.push_back(i * n + j);
  if (!order.empty()) {
    // A quick necessary condition, so that an impossible order does not run
    // to the iteration cap: the last cell's value t is at most every order
    // cell's line mass, and every line without an order cell must fit its
    // mass into cells capped at t.
    double hi = std::numeric_limits<double>::infinity(), lo = 0;
    std::vector<bool> row_used(static_cast<size_t>(m), false), col_used(static_cast<size_t>(n), false);
    for (auto [i, j] : order) {
      hi = std::min({hi, a[static_cast<size_t>(i)], b[static_cast<size_t>(j)]});
      row_used[static_cast<size_t>(i)] = col_used[static_cast<size_t>(j)] = true;
    }
    for (int64_t i = 0; i < m; ++i)
      if (!row_used[static_cast<size_t>(i)]) lo = std::max(lo, a[static_cast<size_t>(i)] / static_cast<double>(n));
    for (int64_t j = 0; j < n; ++j)
      if (!col_used[static_cast<size_t>(j)]) lo = std::max(lo, b[static_cast<size_t>(j)] / static_cast<double>(m));
    if (lo > hi * (1 + 1e-12)) throw Error("ot: no plan can make the order cells the largest entries (infeasible)");
  }

  // Scale invariance: solve for unit total mass and costs divided by their
  // largest magnitude, so that rho and the tolerances mean the same thing on
  // every instance; the plan and the duals are scaled back at the end.
  const double mass = std::accumulate(a.begin(), a.end(), 0.0);
  double cost_scale = 0;
  for (double c : cost.data) cost_scale = std::max(cost_scale, std::abs(c));
  if (cost_scale == 0) cost_scale = 1;
  std::vector<double> an(a.size()), bn(b.size()), C(size);
  for (size_t i = 0; i < a.size(); ++i) an[i] = a[i] / mass;
  for (size_t j = 0; j < b.size(); ++j) bn[j] = b[j] / mass;
  for (size_t k = 0; k < size; ++k) C[k] = cost.data[k] / cost_scale;

  std::vector<double> X(size), Z(size, 0.0), U(size, 0.0), Z_prev(size), W(size), row(static_cast<size_t>(m)),
      col(static_cast<size_t>(n));
  const size_t K = chain.size();
  std::vector<double> chain_values(K), chain_u(K), others_above(size);
  double warm_level = -1;
  Workspace ws;
  double rho = options.rho;
  if (options.start == "emd") {
    // Warm start from plain OT: its plan, and the scaled dual its potentials
    // imply (U = -(C - u - v) / rho, the unconstrained fixed point).
    Matrix Cn(m, n);
    Cn.data = C;
    Result plain = emd(an, bn, Cn);
    Z = plain.plan.data;
    double s2 = 0, z2 = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const size_t k = static_cast<size_t>(i * n + j);
        U[k] = -(C[k] - plain.u[static_cast<size_t>(i)] - plain.v[static_cast<size_t>(j)]);
        s2 += U[k] * U[k];
        z2 += Z[k] * Z[k];
      }
    // Balance the two: rho = ||S|| / ||Z|| makes the dual and the primal
    // iterates the same size (a choice: the paper's rho = 1 is far off for
    // masses of order 1/(mn); configurable).
    if (rho == 0) rho = z2 > 0 && s2 > 0 ? std::sqrt(s2 / z2) : 1.0;
    for (double& u : U) u /= rho;
  } else {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        Z[static_cast<size_t>(i * n + j)] = an[static_cast<size_t>(i)] * bn[static_cast<size_t>(j)];
    if (rho == 0) rho = static_cast<double>(m + n);
  }
  const double alpha = options.relaxation;
  // Restarts (Applegate et al. 2023, PDLP's rule): the running average of the
  // iterates since the last restart; at each check, the candidate (average or
  // current, whichever is closer to optimal) becomes the new start when its
  // KKT error fell enough since the last restart.
  std::vector<double> Z_sum(size, 0.0), U_sum(size, 0.0), row_sum(static_cast<size_t>(m), 0.0),
      col_sum(static_cast<size_t>(n), 0.0), Z_restart = Z, U_restart = U;
  int64_t count = 0, last_restart = 0;
  double error_restart = std::numeric_limits<double>::infinity(), error_previous = error_restart;
  Result r;
  r.status = "max_iterations";
  double primal_res = 0, dual_res = 0;
  Kkt best;
  for (int64_t it = 1; it <= options.max_iterations; ++it) {
    const double inv_rho = 1.0 / rho;
    // 1. X = affine projection of Z - U - C / rho onto {X 1 = a, X^T 1 = b}:
    //    X = Y + row 1^T + 1 col^T, the corrections from the marginal residuals
    //    (rho * (row_i + col_j) are the marginal constraints' multipliers).
    std::fill(col.begin(), col.end(), 0.0);
    double* colp = col.data();
    for (int64_t i = 0; i < m; ++i) {
      const size_t base = static_cast<size_t>(i * n);
      double* x = X.data() + base;
      const double *z = Z.data() + base, *u = U.data() + base, *c = C.data() + base;
      double row_total = 0;
#pragma omp simd reduction(+ : row_total)
      for (int64_t j = 0; j < n; ++j) {
        double y = z[j] - u[j] - c[j] * inv_rho;
        x[j] = y;
        colp[j] += y;
        row_total += y;
      }
      row[static_cast<size_t>(i)] = (an[static_cast<size_t>(i)] - row_total) / static_cast<double>(n);
    }
    double residual_sum = 0;
    for (int64_t i = 0; i < m; ++i) residual_sum += row[static_cast<size_t>(i)] * static_cast<double>(n);
    for (int64_t j = 0; j < n; ++j)
      colp[j] = (bn[static_cast<size_t>(j)] - colp[j] - residual_sum / static_cast<double>(n)) / static_cast<double>(m);
    // 2. W = alpha X + (1 - alpha) Z + U (over-relaxed), and Z = the
    //    projection of W onto the order cone. It moves every other entry to
    //    max(0, min(w, t)) for the tail level t, so only t and the designated values are computed
    //    (from the entries above the smallest designated one, gathered in this
    //    pass) and the clamp is fused into step 3.
    for (int64_t i = 0; i < m; ++i) {
      const size_t base = static_cast<size_t>(i * n);
      double* x = X.data() + base;
      double* w = W.data() + base;
      const double *u = U.data() + base, *z = Z.data() + base;
      const double ri = row[static_cast<size_t>(i)];
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        x[j] += ri + colp[j];
        w[j] = alpha * x[j] + (1 - alpha) * z[j] + u[j];
      }
    }
    double level = std::numeric_limits<double>::infinity();  // no designated cells: Z = max(0, W)
    if (K > 0) {
      // The other entries above the floor; few, since the floor is at least 0
      // and most of W is the negative dual of empty cells (so the branch
      // predicts well). The designated entries hide behind -inf meanwhile.
      for (size_t k = 0; k < K; ++k) {
        chain_values[k] = W[static_cast<size_t>(chain[k])];
        W[static_cast<size_t>(chain[k])] = -std::numeric_limits<double>::infinity();
      }
      const double floor_level = order_projection_floor(chain_values);
      size_t gathered = 0;
      double* above = others_above.data();
      for (size_t k = 0; k < size; ++k)
        if (W[k] > floor_level) above[gathered++] = W[k];
      for (size_t k = 0; k < K; ++k) W[static_cast<size_t>(chain[k])] = chain_values[k];
      level = order_projection_levels(&chain_values, above, gathered, &warm_level);
    }
    Z_prev.swap(Z);
    // 3. Z = max(0, min(W, t)) (designated cells: their projected values),
    //    U += alpha X + (1 - alpha) Z_prev - Z, the residual norms and the running sums.
    for (size_t k = 0; k < K; ++k) chain_u[k] = U[static_cast<size_t>(chain[k])];
    double p2 = 0, d2 = 0;
    {
      double *z = Z.data(), *u = U.data(), *zs = Z_sum.data(), *us = U_sum.data();
      const double *x = X.data(), *w = W.data(), *zp = Z_prev.data();
#pragma omp simd reduction(+ : p2, d2)
      for (size_t k = 0; k < size; ++k) {
        const double projected = w[k] < level ? w[k] : level;
        z[k] = projected > 0.0 ? projected : 0.0;
        u[k] += alpha * x[k] + (1 - alpha) * zp[k] - z[k];
        p2 += (x[k] - z[k]) * (x[k] - z[k]);
        d2 += (z[k] - zp[k]) * (z[k] - zp[k]);
        zs[k] += z[k];
        us[k] += u[k];
      }
    }
    for (size_t k = 0; k < K; ++k) {
      // Redo the designated cells with their own values, correcting the sums.
      const size_t c = static_cast<size_t>(chain[k]);
      const double wrong_z = Z[c], wrong_u = U[c];
      const double z = std::max(0.0, chain_values[k]);
      const double u = chain_u[k] + alpha * X[c] + (1 - alpha) * Z_prev[c] - z;
      p2 += (X[c] - z) * (X[c] - z) - (X[c] - wrong_z) * (X[c] - wrong_z);
      d2 += (z - Z_prev[c]) * (z - Z_prev[c]) - (wrong_z - Z_prev[c]) * (wrong_z - Z_prev[c]);
      Z_sum[c] += z - wrong_z;
      U_sum[c] += u - wrong_u;
      Z[c] = z;
      U[c] = u;
    }
    p2 = std::max(p2, 0.0), d2 = std::max(d2, 0.0);
    for (int64_t i = 0; i < m; ++i) row_sum[static_cast<size_t>(i)] += row[static_cast<size_t>(i)];
    for (int64_t j = 0; j < n; ++j) col_sum[static_cast<size_t>(j)] += col[static_cast<size_t>(j)];
    ++count;
    r.iterations = it;
    primal_res = std::sqrt(p2);
    dual_res = rho * std::sqrt(d2);
    if (it % options.check_every != 0 && it != options.max_iterations) continue;
    Kkt current = evaluate(Z, row, col, rho, 1.0, C, an, bn, chain, &ws);
    // Converged: nearly feasible, and the objective certified within the gap
    // tolerance, allowing for what repairing the marginals may cost.
    auto done = [&](const Kkt& k) {
      return k.marginal <= options.tolerance && std::abs(k.gap()) <= options.gap_tolerance &&
             k.marginal_l1 <= options.gap_tolerance * std::max(std::abs(k.primal), 1e-300);
    };
    best = current;
    if (done(current)) {
      r.status = "converged";
      break;
    }
    if (!options.restart) continue;
    // The average of the iterates since the last restart (often the better
    // point: it damps ADMM's oscillation), as a candidate and a certificate.
    std::vector<double>& Z_avg = W;  // W is free until the next iteration
    for (size_t k = 0; k < size; ++k) Z_avg[k] = Z_sum[k] / static_cast<double>(count);
    Kkt average = evaluate(Z_avg, row_sum, col_sum, rho, 1.0 / static_cast<double>(count), C, an, bn, chain, &ws);
    if (done(average)) {
      Z.swap(Z_avg);
      best = average;
      r.status = "converged";
      break;
    }
    const bool use_average = average.error() < current.error();
    const double error = std::min(average.error(), current.error());
    // PDLP's thresholds: a sufficient drop (0.2), a necessary one (0.8) that
    // has stopped improving, or a long stretch without a restart (0.36 of all
    // iterations so far).
    const bool restart = error <= 0.2 * error_restart || (error <= 0.8 * error_restart && error > error_previous) ||
                         (it - last_restart) >= static_cast<int64_t>(0.36 * static_cast<double>(it));
    error_previous = error;
    if (!restart) continue;
    if (use_average) {
      Z.swap(Z_avg);
      for (size_t k = 0; k < size; ++k) U[k] = U_sum[k] / static_cast<double>(count);
    }
    if (options.adapt_rho) {
      // PDLP's primal weight: rho follows the ratio of how far the dual and
      // the primal moved since the last restart, smoothed in the log.
      double dz = 0, dy = 0;
      for (size_t k = 0; k < size; ++k) {
        dz += (Z[k] - Z_restart[k]) * (Z[k] - Z_restart[k]);
        dy += (U[k] - U_restart[k]) * (U[k] - U_restart[k]);
      }
      dz = std::sqrt(dz), dy = rho * std::sqrt(dy);
      if (dz > 1e-300 && dy > 1e-300) {
        const double target = dy / dz, next = std::exp(0.5 * std::log(target) + 0.5 * std::log(rho));
        for (double& u : U) u *= rho / next;
        rho = next;
      }
    }
    Z_restart = Z, U_restart = U;
    error_restart = error, error_previous = std::numeric_limits<double>::infinity();
    std::fill(Z_sum.begin(), Z_sum.end(), 0.0);
    std::fill(U_sum.begin(), U_sum.end(), 0.0);
    std::fill(row_sum.begin(), row_sum.end(), 0.0);
    std::fill(col_sum.begin(), col_sum.end(), 0.0);
    count = 0, last_restart = it;
  }
  // An average of cone points can leave it by a rounding error: project the
  // final plan once more, so that the order constraints hold exactly.
  ProjectionScratch scratch;
  project_order(&Z, chain, &scratch);
  r.plan = Matrix(m, n);
  for (size_t k = 0; k < size; ++k) r.plan.data[k] = Z[k] * mass;
  r.cost = transport_cost(cost, r.plan);
  r.marginal_error = marginal_error(a, b, r.plan);
  r.primal_residual = primal_res * mass;
  r.dual_residual = dual_res * cost_scale;
  r.gap = best.gap();
  r.lower_bound = best.dual * mass * cost_scale;
  return r;
}

const ParamSchema<AdmmOptions>& admm_option_schema() {
  static const ParamSchema<AdmmOptions> schema = [] {
    ParamSchema<AdmmOptions> s;
    s.add("admm_rho", &AdmmOptions::rho, "initial penalty on the normalised problem; 0: automatic", {0, 1e12})
        .add("admm_relaxation", &AdmmOptions::relaxation, "over-relaxation alpha (1: none)", {0.01, 1.99})
        .add("admm_adapt_rho", &AdmmOptions::adapt_rho,
             "at restarts, balance rho by how far the dual and the primal moved")
        .add("admm_restart", &AdmmOptions::restart, "restart from the running average when the KKT error fell")
        .add("admm_tolerance", &AdmmOptions::tolerance, "converged when the marginal error / mass is at most this",
             {0, 1})
        .add("admm_gap_tolerance", &AdmmOptions::gap_tolerance,
             "... and the relative gap to the certified lower bound at most this", {0, 1})
        .add("admm_check_every", &AdmmOptions::check_every, "iterations between convergence checks", {1, 1e6})
        .add("admm_max_iterations", &AdmmOptions::max_iterations, "iteration cap", {1, 1e9})
        .add_choice("admm_start", &AdmmOptions::start, {"emd", "independent"},
                    "start: the plain OT plan and its duals, or a b'/mass with U = 0 (the reference's)");
    return s;
  }();
  return schema;
}

namespace detail {

Solver admm_solver() {
  return make_solver<AdmmOptions>(
      "ADMM (affine projection, order projection, dual update)", admm_option_schema(),
      [](const Problem& p, const AdmmOptions& o) { return order_constrained_admm(p.a, p.b, p.cost, p.order, o); });
}

}  // namespace detail

}  // namespace loom::ot
