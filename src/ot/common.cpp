#include <algorithm>
#include <cmath>
#include <set>

#include "loom/core/error.h"
#include "loom/core/params.h"
#include "loom/ot/ot.h"

namespace loom::ot {

void validate(const std::vector<double>& a, const std::vector<double>& b, const Matrix& cost,
              const std::vector<Cell>& order) {
  if (cost.rows < 1 || cost.cols < 1) throw Error("ot: the cost matrix is empty");
  if (static_cast<int64_t>(cost.data.size()) != cost.rows * cost.cols) throw Error("ot: the cost matrix is ragged");
  if (static_cast<int64_t>(a.size()) != cost.rows)
    throw Error("ot: a has " + std::to_string(a.size()) + " entries but the cost matrix has " +
                std::to_string(cost.rows) + " rows");
  if (static_cast<int64_t>(b.size()) != cost.cols)
    throw Error("ot: b has " + std::to_string(b.size()) + " entries but the cost matrix has " +
                std::to_string(cost.cols) + " columns");
  double sa = 0, sb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || a[i] < 0) throw Error("ot: a[" + std::to_string(i) + "] is negative or not finite");
    sa += a[i];
  }
  for (size_t j = 0; j < b.size(); ++j) {
    if (!std::isfinite(b[j]) || b[j] < 0) throw Error("ot: b[" + std::to_string(j) + "] is negative or not finite");
    sb += b[j];
  }
  if (sa <= 0) throw Error("ot: the total mass is zero");
  if (std::abs(sa - sb) > 1e-9 * std::max(sa, sb))
    throw Error("ot: unequal total mass: sum(a) = " + std::to_string(sa) + ", sum(b) = " + std::to_string(sb));
  if (!std::isfinite(sa)) throw Error("ot: the total mass overflows");
  double largest = 0;
  for (int64_t i = 0; i < cost.rows; ++i)
    for (int64_t j = 0; j < cost.cols; ++j) {
      if (!std::isfinite(cost(i, j)))
        throw Error("ot: cost[" + std::to_string(i) + "][" + std::to_string(j) + "] is NaN or infinite");
      largest = std::max(largest, std::abs(cost(i, j)));
    }
  // Dual potentials are sums of up to rows + cols costs, and the objective
  // weighs them by the mass: keep every such sum finite, or the solvers
  // would report NaN potentials as a solution.
  const double scale = largest * static_cast<double>(cost.rows + cost.cols) * std::max(1.0, sa);
  if (!(scale <= 1e300))
    throw Error("ot: costs as large as " + shortest_decimal(largest) + " (with total mass " + shortest_decimal(sa) +
                ") overflow double arithmetic in the potentials; rescale the costs");
  std::set<int64_t> rows, cols;
  for (size_t k = 0; k < order.size(); ++k) {
    auto [i, j] = order[k];
    std::string where = "ot: order[" + std::to_string(k) + "] = (" + std::to_string(i) + ", " + std::to_string(j) + ")";
    if (i < 0 || i >= cost.rows || j < 0 || j >= cost.cols) throw Error(where + " is outside the cost matrix");
    if (!rows.insert(i).second) throw Error(where + " shares its row with an earlier order cell");
    if (!cols.insert(j).second) throw Error(where + " shares its column with an earlier order cell");
  }
}

double transport_cost(const Matrix& cost, const Matrix& plan) {
  double total = 0;
  for (size_t k = 0; k < cost.data.size(); ++k) total += cost.data[k] * plan.data[k];
  return total;
}

double marginal_error(const std::vector<double>& a, const std::vector<double>& b, const Matrix& plan) {
  double err = 0;
  std::vector<double> cols(static_cast<size_t>(plan.cols), 0.0);
  for (int64_t i = 0; i < plan.rows; ++i) {
    double row = 0;
    for (int64_t j = 0; j < plan.cols; ++j) {
      row += plan(i, j);
      cols[static_cast<size_t>(j)] += plan(i, j);
    }
    err = std::max(err, std::abs(row - a[static_cast<size_t>(i)]));
  }
  for (int64_t j = 0; j < plan.cols; ++j)
    err = std::max(err, std::abs(cols[static_cast<size_t>(j)] - b[static_cast<size_t>(j)]));
  return err;
}

}  // namespace loom::ot
