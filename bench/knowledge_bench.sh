#!/usr/bin/env bash
# LoRA against full fine-tuning, one knowledge round each, in separate
# processes so that peak resident memory is each run's own: time per round,
# trainable parameters, optimizer-state bytes and peak RSS, for the quickstart
# model shape and a larger one (random weights: cost does not depend on them).
# Usage: bench/knowledge_bench.sh [steps]   (default 40). Needs build/loom and
# the quickstart tokenizer (runs/quickstart/tokenizer.json; bash scripts/quickstart.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-40}
out=build/bench-knowledge
rm -rf "$out"; mkdir -p "$out"
loom="$out/loom"; cp build/loom build/loom-torch "$out/"   # a rebuild during the run must not change the binary (loom execs loom-torch beside it)
tok=runs/quickstart/tokenizer.json
[ -f "$tok" ] || { echo "missing $tok: run bash scripts/quickstart.sh first" >&2; exit 1; }
printf '{"text": "x"}\n' > "$out/one.jsonl"
for shape in "small 256 688 4 4" "large 768 2048 8 12"; do
  set -- $shape
  "$loom" pretrain --train-data "$out/one.jsonl" --tokenizer "$tok" --hidden-size "$2" --intermediate-size "$3" \
    --num-layers "$4" --num-heads "$5" --num-kv-heads "$5" --max-steps 0 --out "$out/base-$1" --progress false >/dev/null 2>&1
  for tuning in full lora; do
    "$loom" knowledge run --base-model "$out/base-$1/model" --domains elements --tuning "$tuning" \
      --steps-per-round "$steps" --domain-max-test 10 --checkpoint-every 0 --progress false \
      --lora-r 8 --lora-alpha 16 --domain-max-train 1500 --choice-dictionary "" \
      --out "$out/$1-$tuning" >/dev/null 2>"$out/$1-$tuning.log"
  done
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
print("| model | tuning | trainable params | optimizer state MB | train s/round | ms/step | peak RSS MB |")
print("|---|---|---|---|---|---|---|")
rows = {}
for shape in ("small", "large"):
    for tuning in ("full", "lora"):
        r = json.load(open(f"{out}/{shape}-{tuning}/results.json"))["rounds"][0]
        rows[shape, tuning] = r
        print(f"| {shape} | {tuning} | {r['trainable_parameters']:,} | {r['optimizer_state_bytes']/2**20:.1f} | "
              f"{r['train_seconds']:.1f} | {1000*r['train_seconds']/r['train_steps']:.0f} | {r['peak_rss_mb']:.0f} |")
for shape in ("small", "large"):
    f, l = rows[shape, "full"], rows[shape, "lora"]
    print(json.dumps({"model": shape, "lora_vs_full_time": l["train_seconds"] / f["train_seconds"],
                      "lora_vs_full_peak_rss": l["peak_rss_mb"] / f["peak_rss_mb"],
                      "lora_vs_full_optimizer_state": l["optimizer_state_bytes"] / f["optimizer_state_bytes"]}))
PY
