// The issue's ADMM goal at the sizes it names (up to 200 x 200, K <= 3):
// converged, marginals within 1e-6, objective within 1e-4 of the Clp LP.
// Seconds per instance, so labelled slow.
#include <gtest/gtest.h>

#include <string>

#include "loom/ot/ot.h"
#include "ot_instances.h"

using namespace loom::ot;
using namespace loom::ot::testing;

TEST(OrderConstrainedOTSlow, AdmmConvergesUpTo200x200AgainstTheLp) {
  for (int64_t n : {100, 200})
    for (int64_t K = 1; K <= 3; ++K) {
      SCOPED_TRACE(std::to_string(n) + "x" + std::to_string(n) + " K=" + std::to_string(K));
      OrderInstance p = issue_instance(n, n, K, 1000 + static_cast<uint64_t>(10 * n + K));
      Result lp = order_constrained_lp(p.a, p.b, p.cost, p.order);
      Result admm = order_constrained_admm(p.a, p.b, p.cost, p.order);
      EXPECT_EQ(admm.status, "converged");
      EXPECT_LE(admm.marginal_error, 1e-6);
      EXPECT_LE(std::abs(admm.cost - lp.cost), 1e-4 * lp.cost);
      EXPECT_LE(admm.lower_bound, lp.cost * (1 + 1e-12));
      expect_honest(admm, p, p.order, emd(p.a, p.b, p.cost).cost);
    }
}
