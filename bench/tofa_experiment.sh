#!/usr/bin/env bash
# docs/tofa.md's results in one command, for two real targets: Fashion-MNIST
# classes 5-9 (100 labels per class) and scikit-learn's bundled 8x8 digits
# (30 labels per class), both from the same Fashion-MNIST classes 0-4 source
# supernet. One `loom tofa experiment` per target and seed (all six in
# parallel, niced; each pretrains the same seed-0 source supernet, then
# adapts and evaluates TOFA, TOFA without the unlabelled term, the OFA-style
# baseline and the architectures trained alone), then `loom tofa report`
# merges each target's seeds into OUT/<target>/{tables.md,results.json,
# accuracy_latency.png}.
# Usage: bench/tofa_experiment.sh [OUT]   (default docs/tofa-data; LOOM=path/to/loom to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/tofa-data}
loom=${LOOM:-build/loom}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
declare -A target_args=(
  [fashion]=""
  # ~180 images per class: 50 held out for test, 30 labelled, 20 validation, the rest unlabelled; the
  # cost-against-N table comes from the Fashion-MNIST target, so digits scores 5 budgets with one alone baseline.
  [digits]="--target digits --labels-per-class 30 --valid-per-class 20 --test-per-class 50 --max-unlabelled 0
            --scenarios 5 --scenario-counts 1,5 --detailed-scenarios 5 --alone-budgets 1"
)
start=$SECONDS
pids=()
for target in fashion digits; do
  mkdir -p "$out/$target"
  for seed in 0 1 2; do
    # shellcheck disable=SC2086  # the target's options are words
    nice "$loom" tofa experiment --config configs/tofa-experiment.yaml ${target_args[$target]} --seeds "$seed" \
      --out "$out/$target/seed$seed" > "$out/$target/seed$seed.log" 2>&1 &
    pids+=($!)
  done
done
for pid in "${pids[@]}"; do wait "$pid"; done
for target in fashion digits; do
  "$loom" tofa report --inputs "$out/$target/seed0,$out/$target/seed1,$out/$target/seed2" --out "$out/$target"
done
echo "bench/tofa_experiment.sh: $((SECONDS - start)) s wall" | tee "$out/wall_time.txt"
