#include "loom/rl/constraint_set.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "clp_lp.h"
#include "loom/core/error.h"

namespace loom::rl {
namespace {

std::string number(double v) {
  std::ostringstream out;
  out.precision(10);
  out << v;
  return out.str();
}

double row_value(const LinearConstraint& row, const std::vector<double>& x) {
  double s = 0;
  for (const auto& [i, a] : row.terms) s += a * x[static_cast<size_t>(i)];
  return s;
}

LpModel model_of(const ConstraintSet& c) {
  LpModel m;
  for (int64_t i = 0; i < c.size(); ++i)
    add_col(m, c.lower[static_cast<size_t>(i)], c.upper[static_cast<size_t>(i)], 0.0);
  if (c.sum_to_one) {
    std::vector<std::pair<int64_t, double>> all;
    for (int64_t i = 0; i < c.size(); ++i) all.emplace_back(i, 1.0);
    m.add_row(all, 1.0, 1.0);
  }
  for (const auto& row : c.rows) m.add_row(row.terms, row.lower, row.upper);
  return m;
}

}  // namespace

ConstraintSet ConstraintSet::simplex(int64_t n) {
  ConstraintSet c;
  c.lower.assign(static_cast<size_t>(n), 0.0);
  c.upper.assign(static_cast<size_t>(n), 1.0);
  c.sum_to_one = true;
  return c;
}

std::string ConstraintSet::component_name(int64_t i) const {
  if (i >= 0 && i < static_cast<int64_t>(names.size())) return names[static_cast<size_t>(i)];
  return "component " + std::to_string(i);
}

void ConstraintSet::require_nonempty(const std::string& origin) const {
  if (upper.size() != lower.size())
    throw Error(origin + ": constraint set has " + std::to_string(lower.size()) + " lower and " +
                std::to_string(upper.size()) + " upper bounds");
  double low_sum = 0, high_sum = 0;
  for (int64_t i = 0; i < size(); ++i) {
    const double lo = lower[static_cast<size_t>(i)], hi = upper[static_cast<size_t>(i)];
    if (!(lo <= hi) || std::isnan(lo) || std::isnan(hi))
      throw Error(origin + ": infeasible constraint set: " + component_name(i) + " must lie in [" + number(lo) + ", " +
                  number(hi) + "]");
    low_sum += lo;
    high_sum += hi;
  }
  for (const auto& row : rows)
    for (const auto& [i, a] : row.terms)
      if (i < 0 || i >= size() || !std::isfinite(a))
        throw Error(origin + ": constraint '" + row.name + "' names component " + std::to_string(i) +
                    " of an action of size " + std::to_string(size()) + " or has a non-finite coefficient");
  if (sum_to_one && (low_sum > 1 + 1e-12 || high_sum < 1 - 1e-12))
    throw Error(origin + ": infeasible constraint set: the components must sum to 1 but their lower bounds sum to " +
                number(low_sum) + " and their upper bounds to " + number(high_sum));
  if (rows.empty()) return;
  LpSolver solver(model_of(*this));
  const LpResult r = solver.solve();
  if (!r.optimal()) {
    std::string names_of_rows;
    for (const auto& row : rows) names_of_rows += (names_of_rows.empty() ? "" : ", ") + row.name;
    throw Error(origin + ": infeasible constraint set: no action meets the bounds" +
                std::string(sum_to_one ? ", the sum to one" : "") + " and the constraints " + names_of_rows +
                " together (Clp: " + lp_status_name(r.status) + ")");
  }
}

FeasibilityReport check_feasible(const ConstraintSet& c, const std::vector<double>& x, double tolerance) {
  FeasibilityReport report;
  auto miss = [&](double amount, const std::string& what) {
    if (!(amount <= tolerance)) report.feasible = false;  // NaN counts as a miss
    if (std::isnan(amount) || amount > report.max_violation) {
      report.max_violation = std::isnan(amount) ? INFINITY : amount;
      report.worst = what;
    }
  };
  if (static_cast<int64_t>(x.size()) != c.size()) {
    report.feasible = false;
    report.max_violation = INFINITY;
    report.worst =
        "action has " + std::to_string(x.size()) + " components, the constraint set " + std::to_string(c.size());
    return report;
  }
  double sum = 0;
  for (int64_t i = 0; i < c.size(); ++i) {
    const double v = x[static_cast<size_t>(i)];
    sum += v;
    miss(c.lower[static_cast<size_t>(i)] - v,
         c.component_name(i) + " = " + number(v) + " below its lower bound " + number(c.lower[static_cast<size_t>(i)]));
    miss(v - c.upper[static_cast<size_t>(i)],
         c.component_name(i) + " = " + number(v) + " above its upper bound " + number(c.upper[static_cast<size_t>(i)]));
  }
  if (c.sum_to_one) miss(std::fabs(sum - 1.0), "allocation sums to " + number(sum) + ", not 1");
  for (const auto& row : c.rows) {
    const double v = row_value(row, x);
    miss(row.lower - v, row.name + " = " + number(v) + " below " + number(row.lower));
    miss(v - row.upper, row.name + " = " + number(v) + " above " + number(row.upper));
  }
  return report;
}

std::vector<double> project(const ConstraintSet& c, const std::vector<double>& y) {
  if (static_cast<int64_t>(y.size()) != c.size())
    throw Error("project: action has " + std::to_string(y.size()) + " components, the constraint set " +
                std::to_string(c.size()));
  for (size_t i = 0; i < y.size(); ++i)
    if (!std::isfinite(y[i])) throw Error("project: " + c.component_name(static_cast<int64_t>(i)) + " is not finite");
  c.require_nonempty("project");
  const size_t n = y.size();
  std::vector<double> x(n);
  if (!c.rows.empty()) {
    // min 1/2 |x - y|^2 = 1/2 x'x - y'x under the rows: a QP on Clp.
    LpModel m = model_of(c);
    for (size_t i = 0; i < n; ++i) m.objective[i] = -y[i];
    LpSolver solver(m);
    solver.set_quadratic_diagonal(std::vector<double>(n, 1.0));
    const LpResult r = solver.solve();
    if (!r.optimal()) throw Error(std::string("project: Clp could not project (") + lp_status_name(r.status) + ")");
    for (size_t i = 0; i < n; ++i) x[i] = std::clamp(r.primal[i], c.lower[i], c.upper[i]);
    return x;
  }
  auto clipped = [&](double shift) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) {
      x[i] = std::clamp(y[i] - shift, c.lower[i], c.upper[i]);
      s += x[i];
    }
    return s;
  };
  if (!c.sum_to_one) {
    clipped(0.0);
    return x;
  }
  // sum(clip(y - shift)) falls as the shift grows; bracket 1 and bisect.
  double lo = *std::min_element(y.begin(), y.end()) - *std::max_element(c.upper.begin(), c.upper.end()) - 1;
  double hi = *std::max_element(y.begin(), y.end()) - *std::min_element(c.lower.begin(), c.lower.end()) + 1;
  for (int it = 0; it < 200 && hi - lo > 0; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (clipped(mid) > 1.0 ? lo : hi) = mid;
  }
  double s = clipped(0.5 * (lo + hi));
  // Put the rounding residual on components with room, so the sum is 1 up
  // to the last bits and every bound holds exactly.
  for (int pass = 0; pass < 2 && s != 1.0; ++pass)
    for (size_t i = 0; i < n && s != 1.0; ++i) {
      const double want = x[i] + (1.0 - s);
      const double moved = std::clamp(want, c.lower[i], c.upper[i]);
      s += moved - x[i];
      x[i] = moved;
    }
  return x;
}

}  // namespace loom::rl
