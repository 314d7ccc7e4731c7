#!/usr/bin/env bash
# A mixture loom writes in Hugging Face's Mixtral layout must give the same
# loss under an independent plain-PyTorch Mixtral forward written the way
# transformers writes it (bench/moe_torch_mixtral.py): config.json fields,
# tensor names (block_sparse_moe.gate, experts.E.w1/w2/w3), float32 softmax
# top-k routing with renormalisation, GQA, RoPE. Usage: test_mixtral_layout.sh LOOM_BINARY
set -euo pipefail
loom=$1
here=$(cd "$(dirname "$0")" && pwd)
ref="$here/../../bench/moe_torch_mixtral.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import json, random, sys
random.seed(0)
words = "alpha beta gamma delta river stone light north quiet seven".split()
for name, pool in (("train", words), ("a", words[:5]), ("b", words[5:])):
    with open(f"{sys.argv[1]}/{name}.jsonl", "w") as f:
        for i in range(200):
            f.write(json.dumps({"text": " ".join(random.choice(pool) for _ in range(5 + i % 11))}) + "\n")
with open(sys.argv[1] + "/ids.jsonl", "w") as f:
    for i in range(6):
        f.write(json.dumps({"input_ids": [random.randrange(0, 259) for _ in range(7 + 5 * i)]}) + "\n")
PY
quiet="--eval-every 0 --checkpoint-every 0 --progress false"
"$loom" pretrain --train-data "$work/train.jsonl" --out "$work/base" --vocab-size 300 --hidden-size 32 \
  --intermediate-size 48 --num-layers 2 --num-heads 4 --num-kv-heads 2 --max-steps 5 $quiet > /dev/null 2>&1
for e in a b; do
  "$loom" finetune --init-model "$work/base/model" --train-data "$work/$e.jsonl" --out "$work/$e" --lr 2e-2 \
    --max-steps 5 $quiet > /dev/null 2>&1
done
"$loom" moe mix --experts "$work/base/model,$work/a/model,$work/b/model" --router-init-std 0.5 \
  --out "$work/moe" > /dev/null 2>&1
ours=$("$loom" eval --model "$work/moe" --data "$work/ids.jsonl")
theirs=$(/usr/bin/python3 "$ref" "$work/moe" "$work/ids.jsonl")
experts=""
for e in base a b; do experts="$experts $("$loom" eval --model "$work/$e/model" --data "$work/ids.jsonl" | tr -d ' ')"; done
/usr/bin/python3 - "$ours" "$theirs" $experts <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["tokens"] == b["tokens"], (a, b)
diff = abs(a["loss"] - b["loss"])
print(f"Mixtral layout: loom {a['loss']:.6f}, transformers-style reference {b['loss']:.6f}, |diff| {diff:.2e}")
# The mixture is none of its ingredients, or the comparison proves little.
others = [json.loads(x)["loss"] for x in sys.argv[3:]]
print("ingredients:", " ".join(f"{x:.6f}" for x in others))
assert min(abs(a["loss"] - x) for x in others) > 1e-4, "the mixture's loss equals an ingredient's"
sys.exit(0 if diff < 1e-5 * max(1.0, b["loss"]) else 1)
PY
