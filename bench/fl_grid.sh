#!/usr/bin/env bash
# docs/fl.md's results: every aggregator x corruption x bad fraction
# (0, 0.1, 0.3, 0.5) x non-IID level (Dirichlet 0.5 and 100) x 2 seeds, each a
# `loom fl simulate` run. Runs already in OUT are kept (delete OUT to redo).
# Usage: bench/fl_grid.sh [OUT] [JOBS]   (defaults: runs/fl-grid, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/fl-grid}
jobs=${2:-2}
loom="$out/loom"; mkdir -p "$out"; cp build/loom "$loom"
aggregators=fedavg,median,trimmed_mean,krum,multi_krum,geomed,bayes,bayes_layer,bayes_carry,bayes_cf
cases=()
for alpha in 0.5 100; do
  for seed in 0 1; do
    cases+=("none 0 $alpha $seed")
    for corruption in label_flip random_labels gaussian sign_flip scaled free_rider colluding; do
      for frac in 0.1 0.3 0.5; do cases+=("$corruption $frac $alpha $seed"); done
    done
  done
done
run_case() {
  set -- $1
  local dir="$out/$1-$2-a$3-s$4"
  [ -f "$dir/results.json" ] && return 0
  "$loom" fl simulate --parties 10 --rounds 8 --samples-per-party 500 --aggregators "$aggregators" \
    --corruption "$1" --bad-fraction "$2" --dirichlet-alpha "$3" --seed "$4" --threads 1 --out "$dir" > /dev/null 2>"$dir.log"
}
export -f run_case; export out loom aggregators
printf '%s\n' "${cases[@]}" | xargs -P "$jobs" -I{} bash -c 'run_case "{}"'
/usr/bin/python3 bench/fl_table.py "$out" > "$out/tables.md"
echo "wrote $out/tables.md"
