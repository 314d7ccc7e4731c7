// Progressive hedging and the extensive form over a StochasticProgram (the
// environment-free core of loom/rl/progressive_hedging.h; tests build small
// convex programs directly against it).
#pragma once
#include <cstdint>
#include <vector>

#include "loom/rl/progressive_hedging.h"
#include "stochastic_program.h"

namespace loom::rl {

// One subproblem: the scenarios it holds share its root columns (and y).
struct BundleModel {
  LpModel model;
  std::vector<int64_t> scenarios;
  double probability = 0;
  double loss_constant = 0;    // added to the model's objective to give the bundle's expected loss
  int64_t consensus_size = 0;  // root columns, plus y in CVaR runs (column root_size)
  // Column offset of each scenario's own columns (its column root_size() maps here).
  std::vector<int64_t> scenario_offset;
};
// Scenarios' models merged over one shared root: the expected loss under
// the bundle's conditional probabilities, or, with 0 < cvar_alpha < 1,
// y + Σ p_s a_s / (1 - α) with a_s >= f_s - y, a_s >= 0 (Rockafellar–Uryasev).
BundleModel build_bundle(const StochasticProgram& program, const std::vector<int64_t>& scenarios, double cvar_alpha);

// `policy_root` is x^π's root columns (empty when kappa is Zero); `policy`
// proposes stage actions along the scenarios (may be null).
PhResult progressive_hedging(const StochasticProgram& program, const std::vector<double>& policy_root,
                             const std::vector<double>& policy_action, Policy* policy, const PhOptions& options,
                             Communicator* communicator = nullptr);

ExtensiveFormResult extensive_form(const StochasticProgram& program, double cvar_alpha);

// The expected loss (or CVaR_α of the loss) when the root is fixed at `root`
// and every scenario then takes its best recourse; CVaR from the sorted
// scenario losses.
double loss_at_root(const StochasticProgram& program, const std::vector<double>& root, double cvar_alpha);
// The same, false (and *loss untouched) when some scenario has no recourse
// for `root`: a barrier's consensus can miss a root-only equality row by more
// than Clp's feasibility tolerance.
bool try_loss_at_root(const StochasticProgram& program, const std::vector<double>& root, double cvar_alpha,
                      double* loss);

// CVaR_α of equally likely losses, from the sorted sample: the mean of the
// worst (1 - α) share, with the boundary scenario counted fractionally.
double empirical_cvar(std::vector<double> losses, double alpha);

}  // namespace loom::rl
