#!/usr/bin/env bash
# Regenerates docs/marl.md's results (tables and plots) in one run:
#  1. convergence curves: each environment x {on_policy, off_policy} x
#     {consensus, central, independent} critics x 5 seeds;
#  2. consensus error over time for several link-drop rates (bandit with 8
#     agents on a ring, linear actors, on-policy);
#  3. wall-clock scaling of the per-process mode from 2 to 8 agent processes,
#     beside the in-process run of the same agents.
# Usage: bench/marl_experiments.sh [build_dir]   (runs under nice, two runs at a time)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
loom="$build/loom"
data=docs/marl-data
rm -rf "$data"; mkdir -p "$data"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
seeds="1 2 3 4 5"
jobs=$data/jobs.txt
: > "$jobs"
for env in bandit resource navigation; do
  for algo in on_policy off_policy; do
    for sharing in consensus central independent; do
      for seed in $seeds; do
        echo "--config configs/marl-$env.yaml --algorithm $algo --critic-sharing $sharing --seed $seed --out $data/curves/$env-$algo-$sharing-$seed" >> "$jobs"
      done
    done
  done
done
for drop in 0 0.3 0.6 0.9; do
  for seed in 1 2 3; do
    echo "--config configs/marl-bandit.yaml --agents 8 --actor linear --link-drop $drop --seed $seed --out $data/drop/drop-$drop-$seed" >> "$jobs"
  done
done
start=$(date +%s)
xargs -P 2 -L 1 -a "$jobs" sh -c 'nice '"$loom"' marl "$@" > /dev/null' _
echo "curves and link drops: $(( $(date +%s) - start )) s"
# Scaling: one run at a time, so that the processes do not share the cores
# with another experiment. Same agents, steps and graph in both modes.
for agents in 2 4 8; do
  for mode in in_process processes; do
    flag=false; [ "$mode" = processes ] && flag=true
    nice "$loom" marl --config configs/marl-bandit.yaml --agents "$agents" --steps 3000 --eval-every 3000 \
      --processes "$flag" --seed 1 --out "$data/scaling/$mode-$agents" > /dev/null
  done
done
find "$data" -name params.json -delete   # the report reads metrics.json only
/usr/bin/python3 bench/marl_report.py "$data" docs/marl.md
echo "total: $(( $(date +%s) - start )) s"
