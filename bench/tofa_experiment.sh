#!/usr/bin/env bash
# docs/tofa.md's results in one command: one `loom tofa experiment` per seed
# (in parallel; each pretrains the same seed-0 source supernet, then adapts
# and evaluates TOFA, TOFA without the unlabelled term, the OFA-style
# baseline and the architectures trained alone), then `loom tofa report`
# merges them into tables.md, results.json and accuracy_latency.png.
# Usage: bench/tofa_experiment.sh [OUT]   (default docs/tofa-data)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/tofa-data}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
pids=()
for seed in 0 1 2; do
  nice build/loom tofa experiment --config configs/tofa-experiment.yaml --seeds "$seed" --out "$out/seed$seed" \
    > "$out-seed$seed.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
build/loom tofa report --inputs "$out/seed0,$out/seed1,$out/seed2" --out "$out"
