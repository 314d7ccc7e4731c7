// Order-constrained OT problems on disk: JSON for people, a binary layout for
// large matrices.
//
// JSON: {"cost": [[...], ...], "a": [...], "b": [...], "order": [[i, j], ...],
//        "method": "exact" | "flow" | "lp" | "admm" | "sinkhorn", "reg": 0.05}
//   ("order" lists the FIRST cell as the largest; "order", "method", "reg" are
//   optional; "method" names a solver of ot/solvers.h, checked on reading)
// Binary (.otb): "LOOMOT01", then little-endian u64 m, n, K; f64 a[m], b[n],
// cost[m*n] (row-major); i64 order[2K]. The size must match exactly.
#pragma once
#include <string>

#include "loom/ot/ot.h"

namespace loom::ot {

struct Problem {
  std::vector<double> a, b;
  Matrix cost;
  std::vector<Cell> order;
  std::string method = "exact";
  double reg = 0.05;
};

// Reads JSON or binary (by the magic bytes); errors name the file and field.
Problem read_problem(const std::string& path);
Problem parse_problem_json(const std::string& text, const std::string& origin);
void write_problem_binary(const std::string& path, const Problem& problem);

}  // namespace loom::ot
