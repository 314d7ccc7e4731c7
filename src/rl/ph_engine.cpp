#include "ph_engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "loom/core/error.h"
#include "loom/dist/communicator.h"

namespace loom::rl {
namespace {

// The Zehtabian–Bastin penalty rule's thresholds, as the reference code
// sets them (PAPERS.md §6).
constexpr double kGamma2 = 0.01, kGamma3 = 0.25;
constexpr double kZeta = 0.5;  // ν₀ = max(1, |2ζ Σ f_s|) / max(1, Σ |x_s - x̄|²)

double squared_distance(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// One subproblem as its rank holds it.
struct LocalBundle {
  BundleModel bundle;
  std::unique_ptr<LpSolver> solver;
  std::vector<double> base_objective;
  std::vector<double> solution;
  double objective = 0;  // expected loss of the last solution (no penalty terms)
  // Guided stage columns: the columns, the policy's targets for them, their
  // blended centres and multipliers. Scenario-private, so they stay local.
  std::vector<int64_t> guided;
  std::vector<double> guided_policy, guided_centre, guided_lambda;
  double guided_residual = 0;  // Σ (w - w̄)² after the last blend
  // Linearized proximal terms (PhOptions::proximal): per proximal column, the
  // column standing for its square, its bounds and its sorted cut points.
  std::vector<int64_t> proximal_col, square_col;
  std::vector<double> proximal_lower, proximal_upper;
  std::vector<std::vector<double>> cut_points;
};

// q >= 2a x - a²: x²'s tangent at a, as a row of `model` or of a live solver.
std::vector<std::pair<int64_t, double>> tangent_row(int64_t x, int64_t q, double a) {
  return {{q, 1.0}, {x, -2.0 * a}};
}

// Gives every proximal column (the consensus columns, then the guided ones)
// a square column above tangent cuts at its two bounds.
void add_square_columns(LocalBundle& b) {
  LpModel& m = b.bundle.model;
  std::vector<int64_t> columns;
  for (int64_t j = 0; j < b.bundle.consensus_size; ++j) columns.push_back(j);
  for (int64_t col : b.guided)
    if (std::find(columns.begin(), columns.end(), col) == columns.end()) columns.push_back(col);
  for (int64_t col : columns) {
    const auto k = static_cast<size_t>(col);
    const double lo = m.col_lower.empty() ? 0.0 : m.col_lower[k],
                 hi = m.col_upper.empty() ? kLpInfinity : m.col_upper[k];
    if (!std::isfinite(lo) || !std::isfinite(hi))
      throw Error(
          "progressive hedging: proximal: linearized needs finite bounds on every consensus and guided "
          "column (its cuts start at both bounds), and column " +
          std::to_string(col) + " of the subproblem has [" + std::to_string(lo) + ", " + std::to_string(hi) +
          "] (the portfolio's holdings and CVaR's y are unbounded): use proximal: quadratic");
    const int64_t q = add_col(m, 0.0, kLpInfinity, 0.0);
    b.proximal_col.push_back(col);
    b.square_col.push_back(q);
    b.proximal_lower.push_back(lo);
    b.proximal_upper.push_back(hi);
    b.cut_points.push_back(lo == hi ? std::vector<double>{lo} : std::vector<double>{lo, hi});
    for (double a : b.cut_points.back()) m.add_row(tangent_row(col, q, a), -a * a, kLpInfinity);
  }
}

// Adds a cut at every proximal column whose value lies farther than
// `tolerance` from its nearest cut point (where the outer model of x² is off
// by more than tolerance²). Returns the number added.
int64_t add_violated_cuts(LocalBundle& b, const std::vector<double>& weight, double tolerance) {
  int64_t added = 0;
  for (size_t p = 0; p < b.proximal_col.size(); ++p) {
    const auto col = static_cast<size_t>(b.proximal_col[p]);
    if (weight[col] == 0) continue;
    const double x = std::clamp(b.solution[col], b.proximal_lower[p], b.proximal_upper[p]);
    auto& points = b.cut_points[p];
    const auto above = std::lower_bound(points.begin(), points.end(), x);
    double nearest = kLpInfinity;
    if (above != points.end()) nearest = *above - x;
    if (above != points.begin()) nearest = std::min(nearest, x - *(above - 1));
    if (nearest <= tolerance) continue;
    points.insert(above, x);
    b.solver->add_row(tangent_row(b.proximal_col[p], b.square_col[p], x), -x * x, kLpInfinity);
    ++added;
  }
  return added;
}

// What every rank learns about every bundle after each solve.
struct Gathered {
  std::vector<std::vector<double>> consensus;  // per bundle: its root (and y) solution
  std::vector<double> objective;               // per bundle
  std::vector<double> guided_residual;         // per bundle
};

// Every bundle's consensus columns, objective and guided residual, in bundle
// order on every rank: the arithmetic after it is then the same on all.
Gathered gather(const std::vector<LocalBundle>& local, int64_t bundles, int64_t first, int64_t per_rank_max,
                int64_t consensus_size, Communicator* communicator) {
  Gathered g;
  g.consensus.resize(static_cast<size_t>(bundles));
  g.objective.resize(static_cast<size_t>(bundles));
  g.guided_residual.resize(static_cast<size_t>(bundles));
  if (!communicator || communicator->world_size() == 1) {
    for (size_t i = 0; i < local.size(); ++i) {
      const auto& b = local[i];
      const size_t k = static_cast<size_t>(first) + i;
      g.consensus[k].assign(b.solution.begin(), b.solution.begin() + consensus_size);
      g.objective[k] = b.objective;
      g.guided_residual[k] = b.guided_residual;
    }
    return g;
  }
  // One row per bundle slot: [present, consensus..., objective, guided residual].
  const int64_t width = consensus_size + 3;
  torch::Tensor mine = torch::zeros({per_rank_max, width}, torch::kFloat64);
  auto acc = mine.accessor<double, 2>();
  for (size_t i = 0; i < local.size(); ++i) {
    const auto& b = local[i];
    const auto row = static_cast<int64_t>(i);
    acc[row][0] = 1;
    for (int64_t j = 0; j < consensus_size; ++j) acc[row][1 + j] = b.solution[static_cast<size_t>(j)];
    acc[row][1 + consensus_size] = b.objective;
    acc[row][2 + consensus_size] = b.guided_residual;
  }
  int64_t index = 0;
  for (const auto& t : communicator->all_gather(mine)) {
    auto a = t.accessor<double, 2>();
    for (int64_t i = 0; i < per_rank_max; ++i) {
      if (a[i][0] != 1) continue;
      if (index >= bundles) throw Error("progressive hedging: ranks returned more subproblems than there are");
      auto& c = g.consensus[static_cast<size_t>(index)];
      c.resize(static_cast<size_t>(consensus_size));
      for (int64_t j = 0; j < consensus_size; ++j) c[static_cast<size_t>(j)] = a[i][1 + j];
      g.objective[static_cast<size_t>(index)] = a[i][1 + consensus_size];
      g.guided_residual[static_cast<size_t>(index)] = a[i][2 + consensus_size];
      ++index;
    }
  }
  if (index != bundles)
    throw Error("progressive hedging: gathered " + std::to_string(index) + " subproblems, expected " +
                std::to_string(bundles) + " (do all ranks build the same scenario tree?)");
  return g;
}

// Solves a bundle; with linearized proximal terms (square columns, and a
// non-empty `weight`: the proximal weights per column, none at the first
// iteration), cuts where the outer model is too coarse
// at the solution and re-solves from the last basis, up to `rounds` solves.
// Counts solves and cuts into `result`.
void solve_bundle(LocalBundle& b, const std::string& where, const std::vector<double>& weight, double tolerance,
                  int64_t rounds, PhResult& result) {
  for (int64_t round = 1;; ++round) {
    LpResult r = b.solver->solve();
    ++result.solves;
    if (!r.optimal())
      throw Error(where + ": Clp returned '" + lp_status_name(r.status) + "' for a scenario subproblem (scenarios " +
                  std::to_string(b.bundle.scenarios.front()) + ".." + std::to_string(b.bundle.scenarios.back()) +
                  "): the state's constraints cannot be met in that scenario");
    b.solution = std::move(r.primal);
    if (b.proximal_col.empty() || weight.empty() || round >= rounds) break;
    const int64_t added = add_violated_cuts(b, weight, tolerance);
    result.proximal_cuts += added;
    if (added == 0) break;
  }
  double f = b.bundle.loss_constant;
  for (size_t j = 0; j < b.solution.size(); ++j) f += b.base_objective[j] * b.solution[j];
  b.objective = f;
}

}  // namespace

double kappa_at(const PhOptions& options, int64_t iteration) {
  switch (options.kappa) {
    case KappaSchedule::Zero: return 0.0;
    case KappaSchedule::One: return 1.0;
    case KappaSchedule::WarmStart: return iteration == 0 ? 1.0 : 0.0;
    case KappaSchedule::InverseSquare:
      if (iteration >= options.kappa_zero_after) return 0.0;
      return 1.0 / ((1.0 + static_cast<double>(iteration + 1)) * (1.0 + static_cast<double>(iteration + 1)));
  }
  return 0.0;
}

BundleModel build_bundle(const StochasticProgram& program, const std::vector<int64_t>& scenarios, double cvar_alpha) {
  if (scenarios.empty()) throw Error("progressive hedging: an empty bundle");
  if (!(cvar_alpha >= 0 && cvar_alpha < 1)) throw Error("cvar_alpha must lie in [0, 1)");
  const bool cvar = cvar_alpha > 0;
  const int64_t root = program.root_size();
  BundleModel b;
  b.scenarios = scenarios;
  for (int64_t s : scenarios) b.probability += program.probability(s);
  LpModel& m = b.model;
  std::vector<double> root_lower, root_upper;
  int64_t y = -1;
  for (int64_t s : scenarios) {
    LpModel sm = program.scenario_model(s);
    if (sm.cols < root)
      throw Error("stochastic program: scenario " + std::to_string(s) + " has fewer columns than its root");
    sm.objective.resize(static_cast<size_t>(sm.cols), 0.0);
    sm.col_lower.resize(static_cast<size_t>(sm.cols), 0.0);
    sm.col_upper.resize(static_cast<size_t>(sm.cols), kLpInfinity);
    if (m.cols == 0) {
      root_lower.assign(sm.col_lower.begin(), sm.col_lower.begin() + root);
      root_upper.assign(sm.col_upper.begin(), sm.col_upper.begin() + root);
      for (int64_t j = 0; j < root; ++j)
        add_col(m, root_lower[static_cast<size_t>(j)], root_upper[static_cast<size_t>(j)], 0.0);
      if (cvar) y = add_col(m, -kLpInfinity, kLpInfinity, 1.0);
      b.consensus_size = root + (cvar ? 1 : 0);
    } else {
      for (int64_t j = 0; j < root; ++j)
        if (sm.col_lower[static_cast<size_t>(j)] != root_lower[static_cast<size_t>(j)] ||
            sm.col_upper[static_cast<size_t>(j)] != root_upper[static_cast<size_t>(j)])
          throw Error("stochastic program: scenario " + std::to_string(s) + " bounds root column " + std::to_string(j) +
                      " differently from the others");
    }
    const double q = program.probability(s) / b.probability;
    const int64_t offset = m.cols - root;
    b.scenario_offset.push_back(offset);
    auto map = [&](int64_t j) { return j < root ? j : j + offset; };
    for (int64_t j = root; j < sm.cols; ++j)
      add_col(m, sm.col_lower[static_cast<size_t>(j)], sm.col_upper[static_cast<size_t>(j)],
              cvar ? 0.0 : q * sm.objective[static_cast<size_t>(j)]);
    if (!cvar)
      for (int64_t j = 0; j < root; ++j)
        m.objective[static_cast<size_t>(j)] += q * sm.objective[static_cast<size_t>(j)];
    const int64_t row_base = m.rows;
    for (const LpEntry& e : sm.matrix) m.matrix.push_back({e.row + row_base, map(e.col), e.value});
    m.row_lower.insert(m.row_lower.end(), sm.row_lower.begin(), sm.row_lower.end());
    m.row_upper.insert(m.row_upper.end(), sm.row_upper.begin(), sm.row_upper.end());
    m.rows += sm.rows;
    const double constant = program.loss_constant(s);
    if (cvar) {
      // a_s >= f_s - y:  a_s + y - c_s.x >= constant_s
      const int64_t a = add_col(m, 0.0, kLpInfinity, q / (1.0 - cvar_alpha));
      std::vector<std::pair<int64_t, double>> terms = {{a, 1.0}, {y, 1.0}};
      for (int64_t j = 0; j < sm.cols; ++j)
        if (sm.objective[static_cast<size_t>(j)] != 0)
          terms.emplace_back(map(j), -sm.objective[static_cast<size_t>(j)]);
      m.add_row(terms, constant, kLpInfinity);
    } else {
      b.loss_constant += q * constant;
    }
  }
  return b;
}

PhResult progressive_hedging(const StochasticProgram& program, const std::vector<double>& policy_root,
                             const std::vector<double>& policy_action, Policy* policy, const PhOptions& options,
                             Communicator* communicator) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t scenarios = program.scenarios();
  const int64_t root = program.root_size();
  const bool cvar = options.cvar_alpha > 0;
  const int64_t consensus_size = root + (cvar ? 1 : 0);
  if (scenarios < 1) throw Error("progressive hedging: the scenario tree is empty");
  if (options.kappa != KappaSchedule::Zero && static_cast<int64_t>(policy_root.size()) != root)
    throw Error("progressive hedging: κ > 0 needs the policy's root action (" + std::to_string(root) +
                " values), got " + std::to_string(policy_root.size()));
  const int64_t per_bundle = std::max<int64_t>(1, options.scenarios_per_bundle);
  const int64_t bundles = (scenarios + per_bundle - 1) / per_bundle;
  const int rank = communicator ? communicator->rank() : 0;
  const int world = communicator ? communicator->world_size() : 1;
  // Contiguous blocks of subproblems per rank.
  auto block_start = [&](int r) { return bundles * r / world; };
  const int64_t first = block_start(rank), last = block_start(rank + 1);
  int64_t per_rank_max = 0;
  for (int r = 0; r < world; ++r) per_rank_max = std::max(per_rank_max, block_start(r + 1) - block_start(r));

  const bool guide = options.guide_leaves && policy && options.kappa != KappaSchedule::Zero &&
                     program.guided_stages() > 0 && !policy_action.empty();
  std::vector<LocalBundle> local(static_cast<size_t>(last - first));
  for (int64_t b = first; b < last; ++b) {
    std::vector<int64_t> members;
    for (int64_t s = b * per_bundle; s < std::min(scenarios, (b + 1) * per_bundle); ++s) members.push_back(s);
    local[static_cast<size_t>(b - first)].bundle = build_bundle(program, members, options.cvar_alpha);
  }
  // The policy's actions along each scenario (one batch per stage).
  if (guide) {
    for (int64_t stage = 1; stage <= program.guided_stages(); ++stage) {
      std::vector<Observation> observations;
      std::vector<std::pair<size_t, size_t>> owner;  // (local bundle, member)
      for (size_t i = 0; i < local.size(); ++i)
        for (size_t k = 0; k < local[i].bundle.scenarios.size(); ++k) {
          observations.push_back(program.stage_observation(local[i].bundle.scenarios[k], stage, policy_action));
          owner.emplace_back(i, k);
        }
      if (observations.empty()) continue;
      auto actions = policy->act_batch(observations);
      for (size_t n = 0; n < owner.size(); ++n) {
        LocalBundle& lb = local[owner[n].first];
        const int64_t s = lb.bundle.scenarios[owner[n].second];
        const auto columns = program.stage_columns(s, stage);
        const auto target = program.stage_target(s, stage, policy_action, actions[n]);
        if (columns.size() != target.size())
          throw Error("stochastic program: stage " + std::to_string(stage) + " has " + std::to_string(columns.size()) +
                      " columns but " + std::to_string(target.size()) + " targets");
        const int64_t offset = lb.bundle.scenario_offset[owner[n].second];
        for (size_t k = 0; k < columns.size(); ++k) {
          lb.guided.push_back(columns[k] < root ? columns[k] : columns[k] + offset);
          lb.guided_policy.push_back(target[k]);
        }
      }
    }
    for (auto& lb : local) {
      lb.guided_centre = lb.guided_policy;
      lb.guided_lambda.assign(lb.guided.size(), 0.0);
    }
  }
  // The solvers, once the guided columns are known (linearized proximal
  // terms add a square column for each).
  const bool linearized = options.proximal == ProximalTerm::Linearized;
  for (auto& lb : local) {
    if (linearized) add_square_columns(lb);
    lb.base_objective = lb.bundle.model.objective;
    lb.base_objective.resize(static_cast<size_t>(lb.bundle.model.cols), 0.0);
    lb.solver = std::make_unique<LpSolver>(lb.bundle.model);
  }

  PhResult result;
  std::vector<double> z(static_cast<size_t>(consensus_size), 0.0), z_previous;
  // Consensus multipliers of every bundle, kept on every rank (they follow
  // from gathered values only).
  std::vector<std::vector<double>> lambda(static_cast<size_t>(bundles),
                                          std::vector<double>(static_cast<size_t>(consensus_size), 0.0));
  double nu = options.nu_initial;
  // Per-coordinate penalty scale: 1 for the root; for y (CVaR runs) see below.
  std::vector<double> scale(static_cast<size_t>(consensus_size), 1.0);
  // Per bundle: its scenario count (the reference code's sums run over
  // scenarios) and its probability.
  std::vector<double> weight(static_cast<size_t>(bundles)), probability(static_cast<size_t>(bundles));
  for (int64_t b = 0; b < bundles; ++b) {
    const int64_t lo = b * per_bundle, hi = std::min(scenarios, (b + 1) * per_bundle);
    weight[static_cast<size_t>(b)] = static_cast<double>(hi - lo);
    for (int64_t s = lo; s < hi; ++s) probability[static_cast<size_t>(b)] += program.probability(s);
  }

  for (int64_t iteration = 0;; ++iteration) {
    // 1. Solve. The first solve has no multiplier or proximal terms (as in
    // the reference code); x^π enters through the blend below.
    // ν/2 (x - x̄)² = ν/2 x² - ν x̄ x + const: the linear part joins the
    // objective, x² goes to Q (quadratic) or to its square column's cost.
    std::vector<std::vector<double>> proximal_weight(local.size());
    if (iteration > 0) {
      for (auto& lb : local) {
        const size_t i = static_cast<size_t>(&lb - local.data());
        const auto& lam = lambda[i + static_cast<size_t>(first)];
        std::vector<double> c = lb.base_objective;
        std::vector<double>& q = proximal_weight[i];
        q.assign(c.size(), 0.0);
        for (int64_t j = 0; j < consensus_size; ++j) {
          const double nj = nu * scale[static_cast<size_t>(j)];
          c[static_cast<size_t>(j)] += lam[static_cast<size_t>(j)] - nj * z[static_cast<size_t>(j)];
          q[static_cast<size_t>(j)] = nj;
        }
        for (size_t k = 0; k < lb.guided.size(); ++k) {
          const auto col = static_cast<size_t>(lb.guided[k]);
          c[col] += lb.guided_lambda[k] - nu * lb.guided_centre[k];
          q[col] += nu;
        }
        for (size_t p = 0; p < lb.proximal_col.size(); ++p)  // linearized only
          c[static_cast<size_t>(lb.square_col[p])] = 0.5 * q[static_cast<size_t>(lb.proximal_col[p])];
        lb.solver->set_objective(c);
        if (!linearized) lb.solver->set_quadratic_diagonal(q);
      }
    }
    const double kappa = kappa_at(options, iteration);
    for (auto& lb : local) {
      solve_bundle(lb, "progressive hedging", proximal_weight[static_cast<size_t>(&lb - local.data())],
                   options.proximal_tolerance, options.proximal_rounds, result);
      // 2 (scenario-private part). Blend the guided stage columns.
      // The residual is measured against the centre this solve was pulled to.
      lb.guided_residual = 0;
      for (size_t k = 0; k < lb.guided.size(); ++k) {
        const double w = lb.solution[static_cast<size_t>(lb.guided[k])];
        lb.guided_residual += (w - lb.guided_centre[k]) * (w - lb.guided_centre[k]);
        lb.guided_centre[k] = kappa * lb.guided_policy[k] + (1 - kappa) * w;
      }
    }
    const Gathered g = gather(local, bundles, first, per_rank_max, consensus_size, communicator);

    // 2. Blend: the scenario mean, pulled towards the policy by κ (y has no
    // policy value: it is the plain mean).
    std::vector<double> mean(static_cast<size_t>(consensus_size), 0.0);
    double expected = 0, objective_sum = 0;
    for (int64_t b = 0; b < bundles; ++b) {
      const double p = probability[static_cast<size_t>(b)];
      for (int64_t j = 0; j < consensus_size; ++j)
        mean[static_cast<size_t>(j)] += p * g.consensus[static_cast<size_t>(b)][static_cast<size_t>(j)];
      expected += p * g.objective[static_cast<size_t>(b)];
      objective_sum += weight[static_cast<size_t>(b)] * g.objective[static_cast<size_t>(b)];
    }
    z_previous = z;
    for (int64_t j = 0; j < consensus_size; ++j) {
      const auto k = static_cast<size_t>(j);
      z[k] = j < root && !policy_root.empty() ? kappa * policy_root[k] + (1 - kappa) * mean[k] : mean[k];
    }
    // The stopping residual compares the new scenario solutions with the
    // consensus they were pulled to (as the reference code does): it is small
    // only when the scenarios agree *and* the consensus has stopped moving.
    // `primal` (the scenarios' disagreement with the new consensus, summed
    // over scenarios) is what the penalty rule reads.
    double root_residual = 0, y_residual = 0, guided_residual = 0, primal = 0;
    for (int64_t b = 0; b < bundles; ++b) {
      const double p = probability[static_cast<size_t>(b)];
      const auto& x = g.consensus[static_cast<size_t>(b)];
      root_residual += p * squared_distance(x.data(), z_previous.data(), root);
      if (cvar) y_residual += p * squared_distance(x.data() + root, z_previous.data() + root, 1);
      const double dg = g.guided_residual[static_cast<size_t>(b)];
      guided_residual += p * dg / std::max(1.0, weight[static_cast<size_t>(b)]);
      primal += weight[static_cast<size_t>(b)] * squared_distance(x.data(), z.data(), consensus_size) + dg;
    }
    const double residual = std::sqrt(root_residual) + std::sqrt(y_residual) + std::sqrt(guided_residual);
    result.residuals.push_back(residual);

    // y's penalty. In each scenario y sits in loss units and its tail term
    // has slope 1/(1-α), so the root's ν moves y's multipliers about
    // (1-α)·spread(y)/spread(x) too slowly: the reference's single ν leaves
    // CVaR runs far from converged after 300 iterations (docs/np.md). Our
    // choice: ν_y = ν · spread(x) / (spread(y) (1 - α)), the spreads being
    // the first solve's RMS deviations, unless nu_y_scale fixes the factor.
    if (cvar && iteration == 0) {
      double dx = 0, dy = 0;
      for (int64_t b = 0; b < bundles; ++b) {
        const double p = probability[static_cast<size_t>(b)];
        const auto& x = g.consensus[static_cast<size_t>(b)];
        dx += p * squared_distance(x.data(), mean.data(), root) / static_cast<double>(root);
        dy += p * squared_distance(x.data() + root, mean.data() + root, 1);
      }
      scale.back() = options.nu_y_scale > 0
                         ? options.nu_y_scale
                         : std::sqrt(std::max(dx, 1e-12) / std::max(dy, 1e-12)) / (1 - options.cvar_alpha);
    }

    // 3. The penalty: reset from the dual objective at the first iteration,
    // then x0.95 when the consensus moves more than the scenarios disagree,
    // x1.09 when they disagree more than it moves (Zehtabian–Bastin; the
    // reference code's two main branches). Its further branches, which grow
    // ν by 1.1 or 1.25 once both are small, are left out: a growing ν shrinks
    // the steps with the residual and stalls PH short of the optimum on LPs.
    if (options.nu_adaptive && iteration == 0) {
      nu = std::max(1.0, std::fabs(2 * kZeta * objective_sum)) / std::max(1.0, primal);
    } else if (options.nu_adaptive) {
      const double moved =
          static_cast<double>(scenarios) * squared_distance(z.data(), z_previous.data(), consensus_size);
      if ((moved - primal) / std::max(1.0, primal) > kGamma2)
        nu *= options.nu_decrease;
      else if ((primal - moved) / std::max(1.0, moved) > kGamma3)
        nu *= options.nu_increase;
    }
    // Multipliers: λ_s += ν (x_s - x̄).
    for (int64_t b = 0; b < bundles; ++b)
      for (int64_t j = 0; j < consensus_size; ++j)
        lambda[static_cast<size_t>(b)][static_cast<size_t>(j)] +=
            nu * scale[static_cast<size_t>(j)] *
            (g.consensus[static_cast<size_t>(b)][static_cast<size_t>(j)] - z[static_cast<size_t>(j)]);
    for (auto& lb : local)
      for (size_t k = 0; k < lb.guided.size(); ++k)
        lb.guided_lambda[k] += nu * (lb.solution[static_cast<size_t>(lb.guided[k])] - lb.guided_centre[k]);
    result.objective = expected;
    result.iterations = iteration + 1;
    result.residual = residual;
    if (residual < options.epsilon) {
      result.converged = true;
      break;
    }
    if (iteration + 1 >= options.max_iterations) break;
  }
  result.nu = nu;
  result.root.assign(z.begin(), z.begin() + root);
  if (cvar) result.var = z[static_cast<size_t>(root)];
  result.action = program.action_from_root(result.root);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

ExtensiveFormResult extensive_form(const StochasticProgram& program, double cvar_alpha) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<int64_t> all(static_cast<size_t>(program.scenarios()));
  std::iota(all.begin(), all.end(), 0);
  BundleModel b = build_bundle(program, all, cvar_alpha);
  LpSolver solver(b.model);
  const LpResult r = solver.solve();
  ExtensiveFormResult out;
  out.status = lp_status_name(r.status);
  out.rows = b.model.rows;
  out.cols = b.model.cols;
  if (!r.optimal())
    throw Error(std::string("extensive form: Clp returned '") + out.status +
                "': the state's constraints cannot be met in every scenario");
  out.root.assign(r.primal.begin(), r.primal.begin() + program.root_size());
  out.objective = r.objective + b.loss_constant;
  out.action = program.action_from_root(out.root);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

double empirical_cvar(std::vector<double> losses, double alpha) {
  if (losses.empty()) throw Error("CVaR of no losses");
  if (!(alpha >= 0 && alpha < 1)) throw Error("CVaR level must lie in [0, 1)");
  std::sort(losses.begin(), losses.end(), std::greater<double>());
  const double n = static_cast<double>(losses.size());
  double tail = (1 - alpha) * n;  // scenarios' worth of probability mass in the tail
  double sum = 0;
  for (size_t i = 0; i < losses.size() && tail > 0; ++i) {
    const double w = std::min(1.0, tail);
    sum += w * losses[i];
    tail -= w;
  }
  return sum / ((1 - alpha) * n);
}

namespace {

// Every scenario's best-recourse loss with the root pinned; the scenario
// without recourse (and its status) when there is one.
struct PinnedLosses {
  std::vector<double> losses;
  int64_t infeasible_scenario = -1;
  LpStatus status = LpStatus::Optimal;
};

PinnedLosses pinned_losses(const StochasticProgram& program, const std::vector<double>& root) {
  const int64_t r = program.root_size();
  if (static_cast<int64_t>(root.size()) != r) throw Error("loss_at_root: wrong root size");
  PinnedLosses out;
  for (int64_t s = 0; s < program.scenarios(); ++s) {
    LpModel m = program.scenario_model(s);
    m.col_lower.resize(static_cast<size_t>(m.cols), 0.0);
    m.col_upper.resize(static_cast<size_t>(m.cols), kLpInfinity);
    for (int64_t j = 0; j < r; ++j) {
      // The root may sit a rounding error outside a bound it meets.
      const double v = std::clamp(root[static_cast<size_t>(j)], m.col_lower[static_cast<size_t>(j)],
                                  m.col_upper[static_cast<size_t>(j)]);
      m.col_lower[static_cast<size_t>(j)] = m.col_upper[static_cast<size_t>(j)] = v;
    }
    LpSolver solver(m);
    const LpResult res = solver.solve();
    if (!res.optimal()) {
      out.infeasible_scenario = s;
      out.status = res.status;
      return out;
    }
    out.losses.push_back(res.objective + program.loss_constant(s));
  }
  return out;
}

double combine(const StochasticProgram& program, const std::vector<double>& losses, double cvar_alpha) {
  if (cvar_alpha > 0) return empirical_cvar(losses, cvar_alpha);
  double expected = 0;
  for (size_t s = 0; s < losses.size(); ++s) expected += program.probability(static_cast<int64_t>(s)) * losses[s];
  return expected;
}

}  // namespace

double loss_at_root(const StochasticProgram& program, const std::vector<double>& root, double cvar_alpha) {
  const PinnedLosses p = pinned_losses(program, root);
  if (p.infeasible_scenario >= 0)
    throw Error("loss_at_root: scenario " + std::to_string(p.infeasible_scenario) + " has no recourse for this root (" +
                lp_status_name(p.status) + ")");
  return combine(program, p.losses, cvar_alpha);
}

bool try_loss_at_root(const StochasticProgram& program, const std::vector<double>& root, double cvar_alpha,
                      double* loss) {
  const PinnedLosses p = pinned_losses(program, root);
  if (p.infeasible_scenario >= 0) return false;
  *loss = combine(program, p.losses, cvar_alpha);
  return true;
}

}  // namespace loom::rl
