#!/usr/bin/env bash
# loom's OT solvers and their Python baselines (POT, scipy's HiGHS, the
# reference's numpy ADMM) on the same seeded instances (3 seeds each), in one
# run, on one thread each side. Prints JSON lines, then the Markdown tables
# of docs/ot.md; writes docs/ot-time.png.
# Usage: bench/ot_bench.sh [--quick]   (the full run takes ~15 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench-ot
rm -rf "$out"; mkdir -p "$out"
# Equal threads on both sides: loom's OpenMP and numpy/scipy's OpenBLAS.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
threads="OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS"
build/bench/bench_ot "$out" "$@" | tee "$out/results.jsonl"
/usr/bin/python3 bench/ot_baseline.py "$out/results.jsonl" "$out" | tee "$out/baseline.jsonl"
cat "$out/baseline.jsonl" >> "$out/results.jsonl"
plot=docs/ot-time.png
[ "${1:-}" = "--quick" ] && plot="$out/ot-time.png"
/usr/bin/python3 bench/ot_table.py "$out/results.jsonl" "$plot" "$threads" | tee "$out/tables.md"
