#include "loom/ot/order_projection.h"

#include <algorithm>
#include <limits>

namespace loom::ot {

double order_projection_floor(const std::vector<double>& chain_values);

double order_projection_levels(std::vector<double>* chain_values, const double* others_above, size_t others,
                               double* warm_level) {
  std::vector<double>& chain = *chain_values;
  const size_t K = chain.size();
  const double floor_level = order_projection_floor(chain);
  const double* vp = others_above;
  const size_t nv = others;
  double list_sum = 0;
  for (size_t e = 0; e < nv; ++e) list_sum += vp[e];
  // The level of a tail block (sum, count) that also pools every other entry
  // above it: the root of h(level) = count * level - sum - sum over others of
  // max(0, x_e - level), convex, increasing and piecewise linear, or 0 when
  // that root is negative (the bound). Newton's method from the previous
  // call's level (the ADMM iterates change little) lands on it in a few
  // passes over the listed entries, without sorting. Every level it visits
  // lies at or above the floor, where the list holds all that matters.
  auto newton_level = [&](double sum, int64_t count) {
    if (floor_level == 0 && sum + list_sum <= 0) return 0.0;  // h(0) >= 0
    double level = std::max({*warm_level, floor_level, sum / static_cast<double>(count)});
    double previous_active = -1;
    for (int step = 0; step < 100; ++step) {
      double above = 0, active = 0;
#pragma omp simd reduction(+ : above, active)
      for (size_t e = 0; e < nv; ++e) {
        const double on = vp[e] > level ? 1.0 : 0.0;
        above += on * vp[e];
        active += on;
      }
      const double next = (sum + above) / (static_cast<double>(count) + active);  // level - h / h'
      if (active == previous_active || next == level) return next;
      previous_active = active;
      level = next;
    }
    return level;
  };
  double memo_sum = 0, memo_level = 0;
  int64_t memo_count = 0;
  auto tail_level = [&](double sum, int64_t count) {
    if (count == memo_count && sum == memo_sum) return memo_level;  // the write-back asks again
    memo_sum = sum, memo_count = count;
    memo_level = newton_level(sum, count);
    return memo_level;
  };
  // Pool-adjacent-violators on the chain x[c1] >= ... >= x[cK], where the last
  // block also absorbs every other entry above its level (its cost is convex);
  // each block's level is its cost's minimiser over [0, inf).
  struct Block {
    double sum;
    int64_t count;
    size_t first;  // index into chain
  };
  std::vector<Block> blocks;
  for (size_t k = 0; k < K; ++k) {
    blocks.push_back({chain[k], 1, k});
    const bool tail = k + 1 == K;
    while (blocks.size() > 1) {
      Block& last = blocks.back();
      Block& prev = blocks[blocks.size() - 2];
      double last_level =
          tail ? tail_level(last.sum, last.count) : std::max(0.0, last.sum / static_cast<double>(last.count));
      if (std::max(0.0, prev.sum / static_cast<double>(prev.count)) >= last_level) break;
      prev.sum += last.sum;
      prev.count += last.count;
      blocks.pop_back();
    }
  }
  double tail = 0;
  for (size_t bi = 0; bi < blocks.size(); ++bi) {
    const bool is_tail = bi + 1 == blocks.size();
    double level = is_tail ? tail_level(blocks[bi].sum, blocks[bi].count)
                           : std::max(0.0, blocks[bi].sum / static_cast<double>(blocks[bi].count));
    size_t end = is_tail ? K : blocks[bi + 1].first;
    for (size_t k = blocks[bi].first; k < end; ++k) chain[k] = level;
    if (is_tail) tail = level;
  }
  *warm_level = tail;
  return tail;
}

double order_projection_floor(const std::vector<double>& chain_values) {
  // The unbounded tail level is a weighted mean of designated values and of
  // entries above it, so it is at least the smallest designated value; the
  // bound lifts it to at least 0.
  return std::max(0.0, *std::min_element(chain_values.begin(), chain_values.end()));
}

void project_order(std::vector<double>* w, const std::vector<int64_t>& chain, ProjectionScratch* scratch) {
  std::vector<double>& x = *w;
  const size_t K = chain.size();
  if (K == 0) {
    for (double& v : x) v = std::max(0.0, v);
    return;
  }
  // One pass collects the other entries above the floor (designated entries
  // hidden behind -inf meanwhile).
  std::vector<double>& chain_values = scratch->chain_values;
  chain_values.clear();
  for (int64_t c : chain) chain_values.push_back(x[static_cast<size_t>(c)]);
  const double floor_level = order_projection_floor(chain_values);
  for (int64_t c : chain) x[static_cast<size_t>(c)] = -std::numeric_limits<double>::infinity();
  std::vector<double>& values = scratch->values;
  values.clear();
  for (double v : x)
    if (v > floor_level) values.push_back(v);
  const double level = order_projection_levels(&chain_values, values.data(), values.size(), &scratch->level);
  for (double& v : x) v = std::max(0.0, std::min(v, level));
  for (size_t k = 0; k < K; ++k) x[static_cast<size_t>(chain[k])] = chain_values[k];
}

}  // namespace loom::ot
