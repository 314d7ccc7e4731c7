#!/usr/bin/env bash
# loom's tokenizer and Hugging Face tokenizers (npm `tokenizers`, installed by
# scripts/setup-deps.sh) encoding loom's default corpus, side by side in one
# run, with the same thread counts. Prints JSON lines, then the Markdown table
# of docs/core.md. Usage: bench/tokenizer_bench.sh [threads ...]  (default: 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${*:-1 2}
repeats=${REPEATS:-3}
out=build/bench-tokenizer
mkdir -p "$out"
[ -f data/corpus/train.jsonl ] || build/loom data --out data/corpus > /dev/null
corpus=data/corpus/train.jsonl
models=tests/interop/tokenizers/node_modules/@lenml
# The quickstart's tokenizer: GPT-2 pre-tokenizer, 4096 tokens, trained on the corpus.
build/bench/bench_tokenizer --tokenizer "$out/loom-quickstart.json" --corpus "$corpus" --train-vocab 4096 \
  --repeats 0 > /dev/null
declare -A files=(
  [loom-quickstart]="$out/loom-quickstart.json"
  [llama3]="$models/tokenizer-llama3/models/tokenizer.json"
  [qwen3]="$models/tokenizer-qwen3/models/tokenizer.json"
  [llama2]="$models/tokenizer-llama2/models/tokenizer.json"
  [gemma3]="$models/tokenizer-gemma3/models/tokenizer.json"
)
: > "$out/results.jsonl"
for name in loom-quickstart llama3 qwen3 llama2 gemma3; do
  for t in $threads; do
    nice build/bench/bench_tokenizer --tokenizer "${files[$name]}" --corpus "$corpus" --name "$name" \
      --threads "$t" --repeats "$repeats" | tee -a "$out/results.jsonl"
    parallel=true; [ "$t" = 1 ] && parallel=false
    RAYON_NUM_THREADS=$t TOKENIZERS_PARALLELISM=$parallel nice node bench/tokenizer_hf.mjs "${files[$name]}" \
      "$corpus" "$name" "$t" "$repeats" | tee -a "$out/results.jsonl"
  done
done
/usr/bin/python3 bench/tokenizer_table.py "$out/results.jsonl"
