// PNG plots through gnuplot (Debian's gnuplot-nox), the one plotting tool loom
// uses. A missing gnuplot is a warning, not an error: the data files that the
// plots draw from are always written.
//
//   loom::run_gnuplot("set terminal pngcairo; set output 'x.png'; plot 'x.dat'", "x.png");
#pragma once
#include <string>

namespace loom {

// Runs `script` with gnuplot; returns false (after a warning naming `what`)
// when gnuplot is missing or fails.
bool run_gnuplot(const std::string& script, const std::string& what);

}  // namespace loom
