// The Euclidean projection onto the order-constraint set, exposed for tests:
// afterwards w[chain[0]] >= ... >= w[chain[K-1]] >= every other entry, and w
// is the closest such vector. Pool-adjacent-violators on the chain, whose last
// block also pools every other entry above its level. Only the entries above
// the last designated value can be pooled, so one O(mn) pass finds them and
// only those are sorted, instead of the reference's full O(mn log mn) sort.
#pragma once
#include <cstdint>
#include <vector>

#include "loom/ot/ot.h"

namespace loom::ot {

void project_order(std::vector<double>* w, const std::vector<int64_t>& chain, std::vector<int64_t>* scratch);

}  // namespace loom::ot
