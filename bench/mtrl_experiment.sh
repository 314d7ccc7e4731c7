#!/usr/bin/env bash
# Regenerates docs/mtrl.md's results in one run (under nice, two runs at a
# time, one torch thread each):
#  1. portfolio (SPISECTOR, 9 sectors, tasks of 4): the equivariant policy on
#     8 tasks with prioritized and with uniform task sampling, on the target
#     task t0 alone (single task), and the MLP on the same 8 tasks; 3 seeds;
#     tuning return of t0 every 500 steps, test returns of every task, the
#     held-out subsets h0, h1 and a 6-asset subset (zero-shot);
#  2. meta-FL (12 Fashion-MNIST parties, tasks of 6 with corruption mixes):
#     the same four training set-ups, against FedAvg, median, Bayesian
#     aggregation and the uniform weights on held-out corruption mixes;
#     tuning gain of t0 every 2000 steps; 3 seeds.
# Usage: bench/mtrl_experiment.sh [build_dir] [data_dir]
#   STEPS (portfolio train steps, 30000), FL_STEPS (20000), SEEDS ("0 1 2").
# A 3000-step portfolio run takes ~10 s of one core and 1000 meta-FL steps
# ~4 s, so the defaults (~25 min on 2 idle cores) are limited by the
# evaluations, not the training.
# The tables and the plot go to DATA_DIR/report.md and are copied to docs/mtrl-data/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
data=${2:-build/bench-mtrl}
loom="$build/loom"
steps=${STEPS:-30000}
fl_steps=${FL_STEPS:-20000}
seeds=${SEEDS:-"0 1 2"}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
rm -rf "$data"
mkdir -p "$data/portfolio" "$data/meta_fl"
start=$(date +%s)

csv="$data/spisector.csv"
nice "$loom" data portfolio --source spisector --out "$csv" > /dev/null
P="--config configs/mtrl-portfolio.yaml --prices $csv --train-steps $steps --eval-every 1000 --checkpoint-every $steps --threads 1"
F="--config configs/mtrl-meta-fl.yaml --train-steps $fl_steps --eval-every 2000 --checkpoint-every $fl_steps --threads 1"
methods="multitask_prioritized multitask_uniform single_task mlp_multitask"
declare -A extra=(
  [multitask_prioritized]="--priority-alpha 0.6"
  [multitask_uniform]="--priority-alpha 0"
  [single_task]="--use-tasks 1"
  [mlp_multitask]="--architecture mlp --priority-alpha 0.6"
)
jobs="$data/jobs.txt"
: > "$jobs"
for seed in $seeds; do
  for m in $methods; do
    echo "train $P ${extra[$m]} --seed $seed --out $data/portfolio/$m-$seed" >> "$jobs"
    echo "train $F ${extra[$m]} --seed $seed --out $data/meta_fl/$m-$seed" >> "$jobs"
  done
done
xargs -P 2 -L 1 -a "$jobs" sh -c 'nice '"$loom"' mtrl "$@" > /dev/null' _
echo "training: $(( $(date +%s) - start )) s"

# Evaluation: test split of every task, and zero-shot on a 6-asset subset
# (h0 named explicitly: a size no task was trained on).
six="BASI+INDU+CONG+HLTH+UTIL+TECH"
for seed in $seeds; do
  for m in $methods; do
    run="$data/portfolio/$m-$seed"
    nice "$loom" mtrl evaluate $P ${extra[$m]} --seed $seed --out "$run" --split test > "$run-test.json"
    nice "$loom" mtrl evaluate $P ${extra[$m]} --seed $seed --out "$run" --split test --holdout "$six" \
      --eval-tasks h0 > "$run-size6.json"
  done
  for m in $methods; do
    run="$data/meta_fl/$m-$seed"
    nice "$loom" mtrl evaluate $F ${extra[$m]} --seed $seed --out "$run" --split test > "$run-test.json"
  done
done
# The fixed aggregation rules on the same FL episodes (deterministic given
# the task): tuning split for the target of "steps to reach", test split
# beside the policies.
run="$data/meta_fl/multitask_prioritized-0"
nice "$loom" mtrl evaluate $F --out "$run" --split tune --eval-tasks t0 --baselines uniform,fedavg,median,bayes \
  > "$data/meta_fl/baselines-tune.json"
nice "$loom" mtrl evaluate $F --out "$run" --split test --baselines uniform,fedavg,median,bayes \
  > "$data/meta_fl/baselines-test.json"
# The uniform allocation (UCRP) on the same episodes: the tuning return of t0
# sets the target of "steps to reach", the test returns sit beside the policies'.
run="$data/portfolio/multitask_prioritized-0"
nice "$loom" mtrl evaluate $P --out "$run" --split tune --eval-tasks t0 --baselines uniform > "$data/portfolio/uniform-tune.json"
nice "$loom" mtrl evaluate $P --out "$run" --split test --baselines uniform > "$data/portfolio/uniform-test.json"
nice "$loom" mtrl evaluate $P --out "$run" --split test --holdout "$six" --eval-tasks h0 --baselines uniform \
  > "$data/portfolio/uniform-size6.json"

cat > "$data/settings.json" <<EOF
{"seeds": [${seeds// /, }], "portfolio_methods": ["${methods// /\", \"}"], "episode_days": 30,
 "target_margin": 0.002, "meta_fl": true, "fl_target_baseline": "fedavg", "fl_target_margin": 0.1,
 "fl_rounds": 10, "steps": $steps, "fl_steps": $fl_steps}
EOF
/usr/bin/python3 bench/mtrl_report.py "$data" > /dev/null
mkdir -p docs/mtrl-data
cp "$data/report.md" "$data"/*_curves.png "$data/settings.json" docs/mtrl-data/
echo "total: $(( $(date +%s) - start )) s; tables in $data/report.md"
