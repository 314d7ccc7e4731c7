#!/usr/bin/env bash
# Plots the validation-loss curves that `loom bench packing --out docs/packing-data`
# wrote, one panel per length distribution: docs/packing-val-loss.png.
set -euo pipefail
cd "$(dirname "$0")/.."
csv=docs/packing-data/packing-val-loss.csv
dir=$(mktemp -d)
for d in flan orca corpus; do
  for m in none padding_free bin naive; do
    awk -F, -v d="$d" -v m="$m" '$1==d && $2==m {print $3, $4}' "$csv" > "$dir/$d-$m.dat"
  done
done
gnuplot <<GP
set terminal pngcairo size 1400,450 noenhanced
set output 'docs/packing-val-loss.png'
set multiplot layout 1,3
set xlabel 'optimizer step'
set ylabel 'validation loss'
set grid
do for [d in "flan orca corpus"] {
  set title d
  plot for [m in "none padding_free bin naive"] sprintf('$dir/%s-%s.dat', d, m) with linespoints title m
}
unset multiplot
GP
rm -rf "$dir"
