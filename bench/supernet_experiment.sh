#!/usr/bin/env bash
# Regenerates every table and plot of docs/supernet.md:
#   bash bench/supernet_experiment.sh            (build/loom must exist)
# 1. the default corpus, 2. the two small teachers (masked-LM encoder,
# causal decoder), 3. the encoder and decoder experiments side by side, one
# thread each (process CPU seconds are the cost measure, robust to a
# shared machine), 4. results copied to docs/supernet/.
# Every step resumes: rerunning after an interruption continues it.
set -euo pipefail
cd "$(dirname "$0")/.."
LOOM=${LOOM:-build/loom}
OUT=${OUT:-runs/supernet}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
mkdir -p "$OUT" docs/supernet
[ -f data/corpus/train.jsonl ] || nice "$LOOM" data --out data/corpus
start=$(date +%s)
# Teachers, in parallel.
enc=
[ -f "$OUT/encoder-pretrain/pretrain.json" ] || {
  nice "$LOOM" supernet pretrain-encoder --config configs/supernet-encoder-pretrain.yaml \
    --out "$OUT/encoder-pretrain" --resume > "$OUT/encoder-pretrain.log" 2>&1 &
  enc=$!
}
[ -f "$OUT/decoder-pretrain/model/config.json" ] ||
  nice "$LOOM" pretrain --config configs/supernet-decoder-pretrain.yaml --out "$OUT/decoder-pretrain" \
    > "$OUT/decoder-pretrain.log" 2>&1
[ -z "$enc" ] || wait $enc
echo "teachers: $(( $(date +%s) - start )) s wall"
# The experiments, in parallel: the decoder's three seeds in one process,
# the encoder's one process per seed (seed 0 also measures the cost table;
# each seed tunes γ on its own validation split), combined by
# bench/supernet_table.py.
nice "$LOOM" supernet experiment --config configs/supernet-encoder.yaml --seeds 0 --out "$OUT/encoder-s0" \
  > "$OUT/encoder-s0.log" 2>&1 &
pids="$!"
for seed in 1 2; do
  nice "$LOOM" supernet experiment --config configs/supernet-encoder.yaml --seeds $seed --cost-counts "" \
    --out "$OUT/encoder-s$seed" > "$OUT/encoder-s$seed.log" 2>&1 &
  pids="$pids $!"
done
nice "$LOOM" supernet experiment --config configs/supernet-decoder.yaml --out "$OUT/decoder" \
  > "$OUT/decoder.log" 2>&1 &
pids="$pids $!"
status=0
for pid in $pids; do wait "$pid" || { echo "an experiment failed: see $OUT/*.log"; status=1; }; done
echo "total: $(( $(date +%s) - start )) s wall"
cp "$OUT/decoder/results.md" docs/supernet/decoder-results.md
cp "$OUT/decoder/results.json" docs/supernet/decoder-results.json
cp "$OUT/decoder/size.png" docs/supernet/decoder-size.png
/usr/bin/python3 bench/supernet_table.py docs/supernet/encoder-results.md "$OUT"/encoder-s{0,1,2}
for seed in 0 1 2; do cp "$OUT/encoder-s$seed/results.json" "docs/supernet/encoder-s$seed-results.json"; done
cp "$OUT/encoder-pretrain/pretrain.json" docs/supernet/encoder-pretrain.json 2>/dev/null || true
exit $status
