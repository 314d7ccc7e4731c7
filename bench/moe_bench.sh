#!/usr/bin/env bash
# MoE benchmarks for docs/moe.md, side by side in one run, for SEEDS (weights,
# input and data differ per seed; 3 by default):
#  1. one MoE layer (8 experts, top-2, 4096 tokens): loom's sparse dispatch,
#     loom running every expert densely (same gates), the expert matmuls
#     alone (the ceiling of any dispatch), and the same layer in PyTorch
#     written as transformers' MixtralSparseMoeBlock, on the same weights and
#     input; loom and PyTorch alternate seed by seed, with the same threads
#     (OPENBLAS_NUM_THREADS and torch threads set alike);
#  2. training tokens/s of a top-2-of-4 Mixtral against its dense base
#     (optimizer steps alternate between the two models).
# Usage: bench/moe_bench.sh   (needs build/bench/bench_moe)
#   SEEDS="0 1 2" THREADS="1" SHAPES="256 688;512 1376" REPS=5 bench/moe_bench.sh
# Prints Markdown tables (mean ± half the range over seeds); raw JSON lines
# go to build/bench-moe/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-5}
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}; fi
out=build/bench-moe
mkdir -p "$out"
bench=build/bench/bench_moe
raw=$out/results.jsonl
: > "$raw"
IFS=";" read -ra shapes <<< "${SHAPES:-256 688}"
for t in ${THREADS:-1}; do
  for shape in "${shapes[@]}"; do
    set -- $shape
    for seed in ${SEEDS:-0 1 2}; do
      l=$(OPENBLAS_NUM_THREADS=$t "$bench" dispatch --threads "$t" --hidden "$1" --inter "$2" --reps "$reps" \
        --seed "$seed" --export "$out/layer.safetensors")
      p=$(OPENBLAS_NUM_THREADS=$t /usr/bin/python3 bench/moe_baseline.py --layer "$out/layer.safetensors" \
        --threads "$t" --reps "$reps")
      echo "{\"bench\": \"dispatch\", \"loom\": $l, \"pytorch\": $p}" | tee -a "$raw" >&2
    done
  done
  for seed in ${SEEDS:-0 1 2}; do
    r=$(OPENBLAS_NUM_THREADS=$t "$bench" train --threads "$t" --seed "$seed" --batch "${TRAIN_BATCH:-8}" \
      --seq-len "${TRAIN_SEQ:-128}" --steps "${TRAIN_STEPS:-5}")
    echo "{\"bench\": \"train\", \"loom\": $r}" | tee -a "$raw" >&2
  done
done
/usr/bin/python3 bench/moe_bench_table.py "$raw"
