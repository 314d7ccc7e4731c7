// Private: each solver's registry entry, defined beside the solver in its own
// file and listed once in register_all_solvers() (solvers.cpp).
#pragma once
#include "loom/ot/solvers.h"

namespace loom::ot::detail {

Solver flow_solver();      // order_constrained.cpp
Solver lp_solver();        // lp.cpp
Solver admm_solver();      // admm.cpp
Solver sinkhorn_solver();  // sinkhorn.cpp

}  // namespace loom::ot::detail
