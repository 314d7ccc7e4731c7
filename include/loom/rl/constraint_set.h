// The explicit constraint set an environment states for its current state:
// per-component bounds, optionally "the components sum to one" (an
// allocation), and further linear rows. Every executed action is checked
// against it; decision methods that enforce constraints (NP, the stochastic
// program, the extensive form, DDPG-H) project onto it, so what they execute
// is feasible by construction.
//
//   loom::rl::ConstraintSet c = loom::rl::ConstraintSet::simplex(3);
//   c.lower[0] = 0.2;                          // e.g. a cash reserve
//   c.require_nonempty("portfolio step 4");    // loom::Error if no action fits
//   auto x = loom::rl::project(c, {0.1, 0.6, 0.3});
//   auto report = loom::rl::check_feasible(c, x);   // report.feasible
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace loom::rl {

struct LinearConstraint {
  std::string name;                               // for error messages ("liquidity")
  std::vector<std::pair<int64_t, double>> terms;  // component index, coefficient
  double lower = -1e300, upper = 1e300;           // lower <= sum coefficient * x <= upper
};

struct ConstraintSet {
  std::vector<double> lower, upper;  // one per action component
  bool sum_to_one = false;           // the components form an allocation
  std::vector<LinearConstraint> rows;
  std::vector<std::string> names;  // component names for messages; may be empty

  // n components in [0, 1] that sum to one.
  static ConstraintSet simplex(int64_t n);
  int64_t size() const { return static_cast<int64_t>(lower.size()); }
  std::string component_name(int64_t i) const;
  // Throws loom::Error, prefixed with `origin`, naming why no action fits
  // (a bound pair crossed, bounds that cannot sum to one, or rows no
  // allocation meets: checked by an LP).
  void require_nonempty(const std::string& origin) const;
};

struct FeasibilityReport {
  bool feasible = true;
  double max_violation = 0;  // the largest amount by which any constraint is missed
  std::string worst;         // which constraint, in words
};
// Checks x against every constraint with absolute tolerance `tolerance`.
FeasibilityReport check_feasible(const ConstraintSet& constraints, const std::vector<double>& x,
                                 double tolerance = 1e-9);

// The Euclidean projection of y onto the set: closed form (a shift found by
// bisection, then clipping) for bounds and the sum, a QP on Clp when there are
// rows. The result meets the bounds exactly and the sum to within 1e-12.
// Throws loom::Error when the set is empty.
std::vector<double> project(const ConstraintSet& constraints, const std::vector<double>& y);

}  // namespace loom::rl
