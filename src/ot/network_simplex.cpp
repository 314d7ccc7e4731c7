// loom's own primal network simplex for dense transport problems, written
// for the OT case rather than for general graphs:
// - the m x n arcs are implicit: arc e = i * n + j goes from row node i to
//   column node m + j, its cost is read in place from the cost matrix, and
//   only one state byte per arc is stored;
// - flows live on the spanning tree (one per node), since every arc off the
//   tree sits at 0 or at its capacity;
// - pricing is a block search over whole rows, where the reduced costs
//   c_ij + pi_i - pi_(m+j) of a row are one vectorised pass;
// - costs, flows and potentials are doubles, with no integer scaling.
// The tree is kept as parent pointers with depths and child lists; the
// leaving arc follows Cunningham's rule (the last blocking arc from the apex
// in the direction of the push), which keeps the tree strongly feasible and
// rules out cycling. Textbook references: Ahuja, Magnanti & Orlin (1993),
// ch. 11; Cunningham (1976).
#include <algorithm>
#include <cmath>
#include <limits>

#include "network_flow.h"

namespace loom::ot::detail {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
// An arc enters when its reduced cost is below -kEnterTolerance times the
// magnitude of its cost and its end potentials (ten or so ulps).
constexpr double kEnterTolerance = 2.2e-15;

class TransportSimplex {
 public:
  TransportSimplex(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost, double cap,
                   const std::vector<int64_t>& forbidden)
      : m_(cost.rows),
        n_(cost.cols),
        arcs_(m_ * n_),
        root_(m_ + n_),
        C_(cost.data.data()),
        cap_(cap < 0 ? kInfinity : cap) {
    const int64_t nodes = m_ + n_ + 1;
    state_.assign(static_cast<size_t>(arcs_), kLower);
    for (int64_t e : forbidden) state_[static_cast<size_t>(e)] = kFixed;
    parent_.assign(static_cast<size_t>(nodes), -1);
    pred_.assign(static_cast<size_t>(nodes), -1);
    up_.assign(static_cast<size_t>(nodes), 0);
    flow_.assign(static_cast<size_t>(nodes), 0.0);
    depth_.assign(static_cast<size_t>(nodes), 0);
    pi_.assign(static_cast<size_t>(nodes), 0.0);
    first_child_.assign(static_cast<size_t>(nodes), -1);
    next_sibling_.assign(static_cast<size_t>(nodes), -1);
    prev_sibling_.assign(static_cast<size_t>(nodes), -1);
    double largest = 0;
    for (int64_t e = 0; e < arcs_; ++e) largest = std::max(largest, std::abs(C_[e]));
    // Big-M start: every node hangs from an artificial root. Rows with mass
    // send it up to the root for free; the root feeds every other node at a
    // cost no real path can beat, so artificial flow survives only where no
    // feasible plan exists. Zero flows point away from the root, so the start
    // is strongly feasible.
    artificial_cost_ = (largest + 1) * static_cast<double>(nodes);
    for (int64_t v = 0; v < m_ + n_; ++v) {
      const double supply = v < m_ ? a[static_cast<size_t>(v)] : -b[static_cast<size_t>(v - m_)];
      pred_[static_cast<size_t>(v)] = arcs_ + v;
      depth_[static_cast<size_t>(v)] = 1;
      if (supply > 0) {
        supply_total_ += supply;
        up_[static_cast<size_t>(v)] = 1;  // v -> root, cost 0
        flow_[static_cast<size_t>(v)] = supply;
        pi_[static_cast<size_t>(v)] = 0;
      } else {
        up_[static_cast<size_t>(v)] = 0;  // root -> v, the artificial cost
        flow_[static_cast<size_t>(v)] = -supply;
        pi_[static_cast<size_t>(v)] = artificial_cost_;
      }
      attach(v, root_);
    }
    block_rows_ = std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(static_cast<double>(arcs_))) / n_);
  }

  // Returns false if no feasible flow exists (the flow found then routes
  // the rest through the root, at the artificial cost: see penalty()).
  bool run(int64_t* pivots) {
    initial_pivots();
    int64_t count = 0;
    int64_t e;
    while (!unbounded_ && (e = entering_arc()) >= 0) {
      pivot(e);
      ++count;
    }
    *pivots = count;
    if (unbounded_) return false;
    // Artificial flow left over (beyond rounding) means no feasible plan.
    for (int64_t v = 0; v < m_ + n_; ++v)
      if (pred_[static_cast<size_t>(v)] >= arcs_ && flow_[static_cast<size_t>(v)] > 1e-10 * supply_total_) return false;
    return true;
  }

  // What the artificial arcs cost: 0 for a feasible flow.
  double penalty() const {
    double total = 0;
    for (int64_t v = 0; v < m_ + n_; ++v)
      if (pred_[static_cast<size_t>(v)] >= arcs_ && !up_[static_cast<size_t>(v)])
        total += artificial_cost_ * flow_[static_cast<size_t>(v)];
    return total;
  }

  void write(FlowResult* out) const {
    out->plan = Matrix(m_, n_);
    for (int64_t e = 0; e < arcs_; ++e)
      if (state_[static_cast<size_t>(e)] == kUpper) out->plan.data[static_cast<size_t>(e)] = cap_;
    for (int64_t v = 0; v < m_ + n_; ++v) {
      const int64_t e = pred_[static_cast<size_t>(v)];
      if (e < arcs_) out->plan.data[static_cast<size_t>(e)] = flow_[static_cast<size_t>(v)];
    }
    // Reduced costs c_ij + pi_i - pi_(m+j) >= 0 on arcs at their lower
    // bound, so u = -pi(row), v = pi(column) satisfy u_i + v_j <= c_ij there.
    out->u.resize(static_cast<size_t>(m_));
    out->v.resize(static_cast<size_t>(n_));
    for (int64_t i = 0; i < m_; ++i) out->u[static_cast<size_t>(i)] = -pi_[static_cast<size_t>(i)];
    for (int64_t j = 0; j < n_; ++j) out->v[static_cast<size_t>(j)] = pi_[static_cast<size_t>(m_ + j)];
  }

 private:
  static constexpr int8_t kLower = 1, kUpper = -1, kTree = 0, kFixed = 0;

  int64_t source(int64_t e) const { return e < arcs_ ? e / n_ : (up_of_artificial(e) ? e - arcs_ : root_); }
  int64_t target(int64_t e) const { return e < arcs_ ? m_ + e % n_ : (up_of_artificial(e) ? root_ : e - arcs_); }
  // Artificial arcs never re-enter once they leave, so while one is in the
  // tree its direction is its node's up flag.
  bool up_of_artificial(int64_t e) const { return up_[static_cast<size_t>(e - arcs_)] != 0; }
  double cost_of(int64_t e) const {
    if (e < arcs_) return C_[e];
    return up_of_artificial(e) ? 0.0 : artificial_cost_;
  }

  void attach(int64_t v, int64_t p) {
    parent_[static_cast<size_t>(v)] = p;
    prev_sibling_[static_cast<size_t>(v)] = -1;
    next_sibling_[static_cast<size_t>(v)] = first_child_[static_cast<size_t>(p)];
    if (first_child_[static_cast<size_t>(p)] >= 0)
      prev_sibling_[static_cast<size_t>(first_child_[static_cast<size_t>(p)])] = v;
    first_child_[static_cast<size_t>(p)] = v;
  }
  void detach(int64_t v) {
    const int64_t prev = prev_sibling_[static_cast<size_t>(v)], next = next_sibling_[static_cast<size_t>(v)];
    if (prev >= 0)
      next_sibling_[static_cast<size_t>(prev)] = next;
    else
      first_child_[static_cast<size_t>(parent_[static_cast<size_t>(v)])] = next;
    if (next >= 0) prev_sibling_[static_cast<size_t>(next)] = prev;
  }

  // Block search over whole rows, cyclically from where the last one ended:
  // the most negative state * reduced cost of the first block holding one.
  int64_t entering_arc() {
    const double* pi_cols = pi_.data() + m_;
    int64_t rows_left = m_, best = -1;
    double best_value = 0;
    while (rows_left > 0) {
      const int64_t rows = std::min(block_rows_, rows_left);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = next_row_;
        next_row_ = next_row_ + 1 == m_ ? 0 : next_row_ + 1;
        const double* c = C_ + i * n_;
        const int8_t* s = state_.data() + i * n_;
        const double pi_i = pi_[static_cast<size_t>(i)];
        double row_min = 0;
#pragma omp simd reduction(min : row_min)
        for (int64_t j = 0; j < n_; ++j) row_min = std::min(row_min, s[j] * (c[j] + pi_i - pi_cols[j]));
        if (row_min < best_value) {
          for (int64_t j = 0; j < n_; ++j)
            if (s[j] * (c[j] + pi_i - pi_cols[j]) == row_min) {
              best = i * n_ + j;
              break;
            }
          best_value = row_min;
        }
      }
      rows_left -= rows;
      if (best >= 0) {
        const double scale =
            std::max({std::abs(C_[best]), std::abs(pi_[static_cast<size_t>(best / n_)]), std::abs(pi_cols[best % n_])});
        if (best_value < -kEnterTolerance * scale) return best;
      }
    }
    return -1;
  }

  // Pivots on the cheapest arc into each column whose reduced cost is
  // negative: most columns are then fed by a real arc before the search.
  void initial_pivots() {
    for (int64_t j = 0; j < n_; ++j) {
      int64_t best = -1;
      double best_cost = kInfinity;
      for (int64_t i = 0; i < m_; ++i) {
        const int64_t e = i * n_ + j;
        if (state_[static_cast<size_t>(e)] == kLower && C_[e] < best_cost) best_cost = C_[e], best = e;
      }
      if (best < 0) continue;
      const double rc = C_[best] + pi_[static_cast<size_t>(best / n_)] - pi_[static_cast<size_t>(m_ + j)];
      if (rc < -kEnterTolerance * std::max(std::abs(C_[best]), artificial_cost_)) pivot(best);
    }
  }

  void pivot(int64_t e) {
    const int8_t state = state_[static_cast<size_t>(e)];
    const int64_t s = source(e), t = target(e);
    // Push along e from `first` to `second` (against e when it sits at its capacity).
    const int64_t first = state == kLower ? s : t, second = state == kLower ? t : s;
    int64_t x = first, y = second;
    while (x != y) {
      if (depth_[static_cast<size_t>(x)] >= depth_[static_cast<size_t>(y)])
        x = parent_[static_cast<size_t>(x)];
      else
        y = parent_[static_cast<size_t>(y)];
    }
    const int64_t join = x;
    // The push runs join -> ... -> first -> (e) -> second -> ... -> join. The
    // leaving arc is the last blocking one in that order: on the first path
    // (scanned from `first` upwards, against the push) a strictly smaller
    // residual wins, on the second path (scanned with the push) a tie does.
    double delta = cap_;
    int64_t out = -1;           // the node whose tree arc leaves; -1: e itself
    bool out_to_upper = false;  // the leaving arc ends at its capacity
    bool out_on_first = false;
    for (int64_t u = first; u != join; u = parent_[static_cast<size_t>(u)]) {
      // The push goes parent -> u: more flow if the arc points down.
      const bool grows = up_[static_cast<size_t>(u)] == 0;
      const double residual = grows ? residual_up(u) : std::max(0.0, flow_[static_cast<size_t>(u)]);
      if (residual < delta) delta = residual, out = u, out_to_upper = grows, out_on_first = true;
    }
    for (int64_t u = second; u != join; u = parent_[static_cast<size_t>(u)]) {
      const bool grows = up_[static_cast<size_t>(u)] != 0;  // the push goes u -> parent
      const double residual = grows ? residual_up(u) : std::max(0.0, flow_[static_cast<size_t>(u)]);
      if (residual <= delta) delta = residual, out = u, out_to_upper = grows, out_on_first = false;
    }
    // Rows only send to columns, so no cycle can grow without bound; this is
    // a guard, not a case.
    if (!(delta < kInfinity)) {
      unbounded_ = true;
      return;
    }
    if (delta > 0) {
      for (int64_t u = first; u != join; u = parent_[static_cast<size_t>(u)])
        flow_[static_cast<size_t>(u)] += up_[static_cast<size_t>(u)] == 0 ? delta : -delta;
      for (int64_t u = second; u != join; u = parent_[static_cast<size_t>(u)])
        flow_[static_cast<size_t>(u)] += up_[static_cast<size_t>(u)] != 0 ? delta : -delta;
    }
    if (out < 0) {  // e itself blocks: it moves to its other bound
      state_[static_cast<size_t>(e)] = state == kLower ? kUpper : kLower;
      return;
    }
    const int64_t leaving = pred_[static_cast<size_t>(out)];
    if (leaving < arcs_) state_[static_cast<size_t>(leaving)] = out_to_upper ? kUpper : kLower;
    const double entering_flow = state == kLower ? delta : cap_ - delta;
    state_[static_cast<size_t>(e)] = kTree;
    // The subtree below the leaving arc holds u_in (first or second); it is
    // re-hung from v_in by e, reversing the stem u_in -> ... -> out.
    const int64_t u_in = out_on_first ? first : second, v_in = out_on_first ? second : first;
    stem_.clear();
    for (int64_t u = u_in;; u = parent_[static_cast<size_t>(u)]) {
      stem_.push_back(u);
      if (u == out) break;
    }
    for (int64_t u : stem_) detach(u);
    int64_t carried_pred = e;
    int8_t carried_up = u_in == s ? 1 : 0;
    double carried_flow = entering_flow;
    int64_t new_parent = v_in;
    for (int64_t u : stem_) {
      const int64_t old_pred = pred_[static_cast<size_t>(u)];
      const int8_t old_up = up_[static_cast<size_t>(u)];
      const double old_flow = flow_[static_cast<size_t>(u)];
      pred_[static_cast<size_t>(u)] = carried_pred;
      up_[static_cast<size_t>(u)] = carried_up;
      flow_[static_cast<size_t>(u)] = carried_flow;
      attach(u, new_parent);
      carried_pred = old_pred, carried_up = old_up ? 0 : 1, carried_flow = old_flow;
      new_parent = u;
    }
    // Potentials: the moved subtree shifts so that e's reduced cost is 0.
    const double rc = cost_of(e) + pi_[static_cast<size_t>(s)] - pi_[static_cast<size_t>(t)];
    const double sigma = u_in == s ? -rc : rc;
    dfs_.clear();
    dfs_.push_back(u_in);
    while (!dfs_.empty()) {
      const int64_t u = dfs_.back();
      dfs_.pop_back();
      pi_[static_cast<size_t>(u)] += sigma;
      depth_[static_cast<size_t>(u)] = depth_[static_cast<size_t>(parent_[static_cast<size_t>(u)])] + 1;
      for (int64_t c = first_child_[static_cast<size_t>(u)]; c >= 0; c = next_sibling_[static_cast<size_t>(c)])
        dfs_.push_back(c);
    }
  }

  double residual_up(int64_t u) const {
    // Room left on u's tree arc (artificial arcs are uncapacitated).
    const int64_t e = pred_[static_cast<size_t>(u)];
    if (e >= arcs_ || cap_ == kInfinity) return kInfinity;
    return std::max(0.0, cap_ - flow_[static_cast<size_t>(u)]);
  }

  const int64_t m_, n_, arcs_, root_;
  const double* C_;
  const double cap_;
  double artificial_cost_ = 0, supply_total_ = 0;
  bool unbounded_ = false;
  int64_t block_rows_ = 1, next_row_ = 0;
  std::vector<int8_t> state_;  // per real arc: kLower, kUpper, kTree or kFixed (never enters)
  std::vector<int64_t> parent_, pred_, depth_, first_child_, next_sibling_, prev_sibling_, stem_, dfs_;
  std::vector<int8_t> up_;  // the node's tree arc points from it to its parent
  std::vector<double> flow_, pi_;
};

}  // namespace

FlowResult transport_flow(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost, double cap,
                          const std::vector<int64_t>& forbidden, bool penalized) {
  TransportSimplex simplex(a, b, cost, cap, forbidden);
  FlowResult out;
  out.feasible = simplex.run(&out.pivots);
  if (!out.feasible && !penalized) return out;
  simplex.write(&out);
  out.cost = transport_cost(cost, out.plan);
  out.penalty = simplex.penalty();
  return out;
}

}  // namespace loom::ot::detail
