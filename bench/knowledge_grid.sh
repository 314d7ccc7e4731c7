#!/usr/bin/env bash
# docs/knowledge.md's result tables, from configs/knowledge-full.yaml: two
# or three chains of runs at a time, each under nice, split so that the
# chains take about as long. Every run is cached per round, so a rerun only
# computes the cells that are missing and the closing compares only read the
# runs and print the tables.
# Usage: bench/knowledge_grid.sh [OUT]   (default runs/knowledge).
# Needs the base and its corpus: bash scripts/quickstart.sh.
#
# The grid (3 seeds each): sequential (full, LoRA), O-LoRA, sequential LoRA
# with lm_head + embed_tokens as modules_to_save; the merges of per-domain
# LoRA adapters: merge_ties with PEFT's factor-wise merge (the paper's, the
# headline) and with the exact ΔW (the variant), merge_dare, merge_average;
# replay and joint with full tuning. Cut to fit the shared 2 cores: replay
# and joint with LoRA (LoRA acquires almost nothing here, so there is little
# to replay) and merges of full models.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/knowledge}
cfg=configs/knowledge-full.yaml
mkdir -p "$out/bin"
# A rebuild during the grid must not change the binary (loom execs loom-torch beside it).
[ -x "$out/bin/loom-torch" ] || cp build/loom build/loom-torch "$out/bin/"
loom="$out/bin/loom"
compare() { nice "$loom" knowledge compare --config "$cfg" "$@"; }
main=(--out "$out/main")
mts=(--out "$out/modules-to-save" --lora-modules-to-save lm_head,embed_tokens)
delta=(--out "$out/delta" --lora-merge delta)
start=$(date +%s)
{
  compare "${main[@]}" --strategies sequential --tunings full
  compare "${mts[@]}" --strategies sequential --tunings lora --seeds 2
} >/dev/null 2>"$out/chain-a.log" &
{
  compare "${main[@]}" --strategies olora --tunings lora
  compare "${main[@]}" --strategies sequential --tunings lora --seeds 2
} >/dev/null 2>"$out/chain-b.log" &
{
  compare "${main[@]}" --strategies sequential --tunings lora --seeds 0,1
  compare "${mts[@]}" --strategies sequential --tunings lora --seeds 0,1
} >/dev/null 2>"$out/chain-c.log" &
wait
# The paper's merge (PEFT's factor-wise TIES), one seed per process.
for s in 0 1 2; do
  compare "${main[@]}" --strategies merge_ties --tunings lora --seeds $s >/dev/null 2>"$out/chain-merge$s.log" &
done
wait
# The other merges, then replay and joint (full tuning), two chains.
{
  compare "${delta[@]}" --strategies merge_ties --tunings lora
  compare "${main[@]}" --strategies merge_dare --tunings lora
  compare "${main[@]}" --strategies merge_average --tunings lora
} >/dev/null 2>"$out/chain-d.log" &
{
  compare "${main[@]}" --strategies replay --tunings full
  compare "${main[@]}" --strategies joint --tunings full
} >/dev/null 2>"$out/chain-e.log" &
wait
echo "grid wall time: $(($(date +%s) - start)) s" | tee -a "$out/wall.txt"
# The tables (every run cached).
{
  compare "${main[@]}" --strategies sequential --tunings full,lora
  compare "${main[@]}" --strategies olora --tunings lora | tail -n +3
  compare "${mts[@]}" --strategies sequential --tunings lora | tail -n +3 |
    sed 's/| sequential | lora |/| sequential | lora + modules_to_save |/'
  compare "${main[@]}" --strategies merge_ties --tunings lora | tail -n +3
  compare "${delta[@]}" --strategies merge_ties --tunings lora | tail -n +3 |
    sed 's/| merge_ties | lora |/| merge_ties (exact ΔW) | lora |/'
  compare "${main[@]}" --strategies merge_dare,merge_average --tunings lora | tail -n +3
  compare "${main[@]}" --strategies replay,joint --tunings full | tail -n +3
} 2>/dev/null >"$out/table-main.md"
cat "$out/table-main.md"
