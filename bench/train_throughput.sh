#!/usr/bin/env bash
# loom's trainer step (fused ops on, and all off) against the same model in
# plain PyTorch eager, RUNS times interleaved (loom, loom unfused, PyTorch, ...)
# so that the shared machine's noise hits every side alike, at one thread
# unless THREADS says otherwise. Every process gets the same threads for
# LibTorch and for OpenBLAS and the same OpenBLAS kernel (OPENBLAS_CORETYPE
# is exported where OpenBLAS would fall back to its generic one, see
# core/cpu_setup.h). Prints the JSON lines to stderr and the Markdown table of
# docs/core.md (medians, min-max across runs) to stdout.
#
#   RUNS=5 STEPS=20 nice bench/train_throughput.sh > table.md   (BUILD=dir: another build directory)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-20}
runs=${RUNS:-5}
threads=${THREADS:-1}
build=${BUILD:-build}
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}; fi
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for t in $threads; do
  for r in $(seq 1 "$runs"); do
    # torch.set_num_threads does not reach OpenBLAS: give every side t BLAS threads.
    for side in fused unfused pytorch; do
      case $side in
        fused) out=$(OPENBLAS_NUM_THREADS=$t "$build"/bench/bench_train_throughput --threads "$t" --steps "$steps" --fused all) ;;
        unfused) out=$(OPENBLAS_NUM_THREADS=$t "$build"/bench/bench_train_throughput --threads "$t" --steps "$steps" --fused none) ;;
        pytorch) out=$(OPENBLAS_NUM_THREADS=$t /usr/bin/python3 bench/train_baseline.py --threads "$t" --steps "$steps") ;;
      esac
      echo "{\"run\": $r, \"side\": \"$side\", \"result\": $out}" | tee -a "$lines" >&2
    done
  done
done
/usr/bin/python3 bench/train_table.py "$lines"
