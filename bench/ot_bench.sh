#!/usr/bin/env bash
# loom's OT solvers and their Python baselines on the same instances, in one
# run. Prints JSON lines, then a Markdown table; writes docs/ot-time.png.
# Usage: bench/ot_bench.sh [n ...]   (default: 100 200 400 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${*:-100 200 400 2000}
out=build/bench-ot
rm -rf "$out"; mkdir -p "$out"
build/bench/bench_ot "$out" $sizes | tee "$out/results.jsonl"
for n in $sizes; do /usr/bin/python3 bench/ot_baseline.py "$out/n$n.otb" | tee -a "$out/results.jsonl"; done
/usr/bin/python3 bench/ot_table.py "$out/results.jsonl" docs/ot-time.png
