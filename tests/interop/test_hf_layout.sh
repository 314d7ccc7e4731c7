#!/usr/bin/env bash
# A model loom trains must give the same loss under an independent
# implementation of Hugging Face's Llama (tests/interop/hf_llama_reference.py):
# this checks tensor names, shapes, RoPE convention, GQA head mapping and
# tied embeddings end to end, and PEFT adapter files (key names, scaling) for a
# LoRA fine-tune. Usage: test_hf_layout.sh LOOM_BINARY
set -euo pipefail
loom=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import json, random, sys
random.seed(0)
words = "alpha beta gamma delta river stone light north quiet seven".split()
with open(sys.argv[1] + "/train.jsonl", "w") as f:
    for i in range(200):
        f.write(json.dumps({"text": " ".join(random.choice(words) for _ in range(5 + i % 11))}) + "\n")
with open(sys.argv[1] + "/ids.jsonl", "w") as f:
    for i in range(6):
        f.write(json.dumps({"input_ids": [random.randrange(0, 259) for _ in range(7 + 5 * i)]}) + "\n")
PY
for tied in false true; do
  "$loom" pretrain --train-data "$work/train.jsonl" --out "$work/run-$tied" --vocab-size 300 --hidden-size 32 \
    --intermediate-size 48 --num-layers 2 --num-heads 4 --num-kv-heads 2 --tie-embeddings "$tied" \
    --max-steps 5 --eval-every 0 --checkpoint-every 0 --progress false > /dev/null 2>&1
  # A LoRA fine-tune on top (rsLoRA scaling on the tied model, plain on the other).
  "$loom" finetune --init-model "$work/run-$tied/model" --train-data "$work/train.jsonl" --out "$work/lora-$tied" \
    --tuning lora --lora-r 4 --lora-alpha 8 --lora-targets all --lr 5e-2 --max-steps 5 --eval-every 0 \
    --checkpoint-every 0 --progress false > /dev/null 2>&1
  if [ "$tied" = true ]; then sed -i 's/"use_rslora": false/"use_rslora": true/' "$work/lora-$tied/adapter/adapter_config.json"; fi
  for adapter in "" "$work/lora-$tied/adapter"; do
    ours=$("$loom" eval --model "$work/run-$tied/model" --data "$work/ids.jsonl" ${adapter:+--adapter "$adapter"})
    theirs=$(/usr/bin/python3 "$here/hf_llama_reference.py" "$work/run-$tied/model" "$work/ids.jsonl" $adapter)
    /usr/bin/python3 - "$ours" "$theirs" "$tied" "${adapter:+with PEFT adapter}" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["tokens"] == b["tokens"], (a, b)
diff = abs(a["loss"] - b["loss"])
print(f"tie_word_embeddings={sys.argv[3]} {sys.argv[4]}: loom {a['loss']:.6f}, HF-layout reference {b['loss']:.6f}, |diff| {diff:.2e}")
sys.exit(0 if diff < 1e-4 * max(1.0, b["loss"]) else 1)
PY
  done
done
# The adapter must change the model, or the comparison above proves nothing.
base=$("$loom" eval --model "$work/run-false/model" --data "$work/ids.jsonl")
tuned=$("$loom" eval --model "$work/run-false/model" --data "$work/ids.jsonl" --adapter "$work/lora-false/adapter")
/usr/bin/python3 -c "import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print('adapter moves loss', a['loss'], '->', b['loss']); sys.exit(0 if abs(a['loss']-b['loss'])>1e-3 else 1)" "$base" "$tuned"
