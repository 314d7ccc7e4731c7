#!/bin/bash
# Every fuzz target for SECONDS each (default 60), on demand:
#   bash fuzz/run_long.sh [SECONDS] [BUILD_DIR]
# Builds the clang fuzz project first (BUILD_DIR defaults to ./build, which
# must be configured with clang++ available). Each target keeps its own corpus
# under BUILD_DIR/fuzz-corpus-long/, so repeated runs continue where the last
# stopped; a crash leaves crash-* files in the working directory and makes the
# script exit non-zero after the other targets ran.
set -uo pipefail
seconds=${1:-60}
build=${2:-build}
here=$(cd "$(dirname "$0")" && pwd)
ninja -C "$build" loom_fuzz || exit 1
failed=()
for bin in "$build"/fuzz/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=$(basename "$bin")
  target=${name#fuzz_}
  echo "== $name for ${seconds}s"
  if ! sh "$here/run_fuzzer.sh" "$bin" "$here/corpus/$target" "$build/fuzz-corpus-long/$target" "$seconds" \
      > "$build/fuzz-$target.log" 2>&1; then
    failed+=("$name")
    tail -30 "$build/fuzz-$target.log"
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|Done [0-9]+ runs" "$build/fuzz-$target.log" | tr '\n' ' '
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all fuzz targets ran ${seconds}s without a finding"
