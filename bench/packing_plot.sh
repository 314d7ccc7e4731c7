#!/usr/bin/env bash
# Plots the validation-loss curves that `loom bench packing --out docs/packing-data`
# wrote, one panel per model width and length distribution:
# docs/packing-val-loss.png.
set -euo pipefail
cd "$(dirname "$0")/.."
csv=docs/packing-data/packing-val-loss.csv
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
widths=$(awk -F, 'NR > 1 {print $1}' "$csv" | sort -nu | tr '\n' ' ')
rows=$(echo $widths | wc -w)
for w in $widths; do
  for d in flan orca corpus; do
    for m in none padding_free bin naive; do
      awk -F, -v w="$w" -v d="$d" -v m="$m" '$1==w && $2==d && $3==m {print $4, $5}' "$csv" > "$dir/$w-$d-$m.dat"
    done
  done
done
gnuplot <<GP
set terminal pngcairo size 1400,$((420 * rows)) noenhanced
set output 'docs/packing-val-loss.png'
set multiplot layout $rows,3
set xlabel 'optimizer step'
set ylabel 'validation loss'
set grid
do for [w in "$widths"] {
  do for [d in "flan orca corpus"] {
    set title sprintf('d=%s, %s', w, d)
    plot for [m in "none padding_free bin naive"] sprintf('$dir/%s-%s-%s.dat', w, d, m) with linespoints title m
  }
}
unset multiplot
GP
