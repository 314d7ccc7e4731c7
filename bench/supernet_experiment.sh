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
# The experiments, in parallel.
nice "$LOOM" supernet experiment --config configs/supernet-encoder.yaml --out "$OUT/encoder" \
  > "$OUT/encoder.log" 2>&1 &
enc=$!
nice "$LOOM" supernet experiment --config configs/supernet-decoder.yaml --out "$OUT/decoder" \
  > "$OUT/decoder.log" 2>&1 &
dec=$!
status=0
wait $enc || { echo "encoder experiment failed: see $OUT/encoder.log"; status=1; }
wait $dec || { echo "decoder experiment failed: see $OUT/decoder.log"; status=1; }
echo "total: $(( $(date +%s) - start )) s wall"
for kind in encoder decoder; do
  [ -f "$OUT/$kind/results.md" ] || continue
  cp "$OUT/$kind/results.md" "docs/supernet/$kind-results.md"
  cp "$OUT/$kind/results.json" "docs/supernet/$kind-results.json"
  [ -f "$OUT/$kind/size.png" ] && cp "$OUT/$kind/size.png" "docs/supernet/$kind-size.png"
done
cp "$OUT/encoder-pretrain/pretrain.json" docs/supernet/encoder-pretrain.json 2>/dev/null || true
exit $status
