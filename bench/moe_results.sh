#!/usr/bin/env bash
# Regenerates docs/moe.md's results: a small base pretrained with the core,
# domain experts fine-tuned from it (full and LoRA) for three seeds, every
# mixture variant built with `loom moe mix|blend`, routers trained with
# `loom moe train`, and each model scored on the domains' held-out items.
# Resumable: each step is skipped when its output exists.
#
#   bash bench/moe_results.sh            # all of it (needs build/loom)
#   SEEDS="0" bash bench/moe_results.sh  # one seed
#
#   PARALLEL=1 bash bench/moe_results.sh # seeds one after another (3 at a time by default)
#
# Writes runs/moe-results/{scores.jsonl,tables.md,scores.png} and docs/moe-scores.png. Sized for a
# shared 2-core machine (configs/moe-base.yaml, moe-expert.yaml, moe-train.yaml
# say how big each model and run is).
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-runs/moe-results}
SEEDS=${SEEDS:-"0 1 2"}
loom=${LOOM:-build/loom}  # LOOM=/path/to/loom runs a copy while build/ is rebuilt
mkdir -p "$R"
[ -x "$loom" ] || { echo "build/loom is missing: cmake --build build --target loom_cli" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
quiet() { "$@" > /dev/null 2>> "$R/log.txt" || { tail -20 "$R/log.txt" >&2; exit 1; }; }

# 1. Base corpus: fortunes + licences, no dictionary (the domains come from dictionaries).
if [ ! -f "$R/corpus/valid.jsonl" ]; then
  log "corpus"
  /usr/bin/python3 - "$R/corpus" <<'PY'
import json, os, random, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
docs = []
root = "/usr/share/games/fortunes"
for name in sorted(os.listdir(root)):
    path = os.path.join(root, name)
    if "." in name or not os.path.isfile(path):
        continue
    for quote in open(path, encoding="utf-8", errors="replace").read().split("\n%\n"):
        if len(quote.strip()) > 1:
            docs.append(quote.strip())
lic = "/usr/share/common-licenses"
for name in sorted(os.listdir(lic)):
    path = os.path.join(lic, name)
    if os.path.isfile(path):
        for para in open(path, encoding="utf-8", errors="replace").read().split("\n\n"):
            if len(para.strip()) > 40:
                docs.append(para.strip())
random.Random(0).shuffle(docs)
n_valid = len(docs) // 50
for split, rows in (("valid", docs[:n_valid]), ("train", docs[n_valid:])):
    with open(f"{out}/{split}.jsonl", "w") as f:
        for d in rows:
            f.write(json.dumps({"text": d}) + "\n")
print(len(docs), "documents", file=sys.stderr)
PY
fi

# 2. The base model.
if [ ! -f "$R/base/model/config.json" ]; then
  log "pretrain the base (configs/moe-base.yaml)"
  quiet "$loom" pretrain --config configs/moe-base.yaml --train-data "$R/corpus/train.jsonl" \
    --valid-data "$R/corpus/valid.jsonl" --out "$R/base"
fi
BASE=$R/base/model

# 3. Domain splits (train for experts and routers, test held out for scoring)
#    and the router set: 100 training items per domain plus 100 base-corpus texts.
DOMAINS="elements eng_fra foldoc"
if [ ! -f "$R/data/router.jsonl" ]; then
  log "domain data"
  quiet "$loom" moe data --domains elements,eng_fra,foldoc --domain-max-train 600 --domain-max-test 30 \
    --mixed-per-domain 100 --out "$R/data"
  /usr/bin/python3 - "$R" <<'PY'
import random, sys
r = sys.argv[1]
rows = open(f"{r}/data/mixed.jsonl").read().splitlines() + open(f"{r}/corpus/train.jsonl").read().splitlines()[:100]
random.Random(0).shuffle(rows)
open(f"{r}/data/router.jsonl", "w").write("\n".join(rows) + "\n")
open(f"{r}/data/base-prompts.jsonl", "w").write("\n".join(open(f"{r}/corpus/train.jsonl").read().splitlines()[100:300]) + "\n")
PY
fi
SPEC="elements=$R/data/elements@exact_match,eng_fra=$R/data/eng_fra@edit_similarity,foldoc=$R/data/foldoc@rouge_l"

score() {  # score VARIANT SEED MODEL [ADAPTER]
  local file="$R/scores/$1-seed$2.json"
  [ -f "$file" ] && return
  mkdir -p "$R/scores"
  "$loom" moe score --model "$3" ${4:+--adapter "$4"} --domains "$SPEC" --split test \
    --base-eval-data "$R/corpus/valid.jsonl" --threads 1 2>> "$R/log.txt" |
    /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin); r.update(variant='$1', seed=$2); print(json.dumps(r))" \
      > "$file.tmp" && mv "$file.tmp" "$file"
}
mix() {  # mix OUT [flags...]: a mixture, skipped when it exists
  local out=$1; shift
  [ -f "$out/config.json" ] || quiet "$loom" moe mix --threads 1 "$@" --out "$out"
}
blend() {
  local out=$1; shift
  [ -f "$out/config.json" ] || quiet "$loom" moe blend --threads 1 "$@" --out "$out"
}
train_router() {  # train_router MIXTURE OUT SEED [flags...]
  local model=$1 out=$2 seed=$3; shift 3
  [ -f "$out/model/config.json" ] || quiet "$loom" moe train --config configs/moe-train.yaml --model "$model" \
    --train-data "$R/data/router.jsonl" --seed "$seed" "$@" --out "$out"
}

# The base is one model for every seed and scoring is greedy: scored once.
log "score the base"
score base 0 "$BASE"

run_seed() {  # run_seed SEED: experts, merge, mixtures, routers and scores of one seed
  local s=$1 S=$R/seed$1 d v
  mkdir -p "$S"
  # 4. Experts: full fine-tuning and LoRA, one per domain, from the base.
  for d in $DOMAINS; do
    [ -f "$S/full-$d/model/config.json" ] || { log "seed $s: full expert $d"; quiet "$loom" finetune \
      --config configs/moe-expert.yaml --init-model "$BASE" --train-data "$R/data/$d/train.jsonl" --seed "$s" \
      --out "$S/full-$d"; }
    [ -f "$S/lora-$d/adapter/adapter_config.json" ] || { log "seed $s: LoRA expert $d"; quiet "$loom" finetune \
      --config configs/moe-expert.yaml --init-model "$BASE" --train-data "$R/data/$d/train.jsonl" --seed "$s" \
      --tuning lora --lr 2e-3 --out "$S/lora-$d"; }
    score "expert-$d" "$s" "$S/full-$d/model"
    score "lora-expert-$d" "$s" "$BASE" "$S/lora-$d/adapter"
  done
  EXPERTS="$BASE,$S/full-elements/model,$S/full-eng_fra/model,$S/full-foldoc/model"
  PROMPTS="$R/data/base-prompts.jsonl,$R/data/elements/train.jsonl,$R/data/eng_fra/train.jsonl,$R/data/foldoc/train.jsonl"

  # 5. A plain average merge of the three experts (task arithmetic with 1/3 each).
  if [ ! -f "$S/merge-average/config.json" ]; then
    cat > "$S/merge.yaml" <<EOF
merge_method: linear
base_model: $BASE
models:
  - model: $S/full-elements/model
  - model: $S/full-eng_fra/model
  - model: $S/full-foldoc/model
EOF
    quiet "$loom" merge --config "$S/merge.yaml" --out "$S/merge-average" --threads 1
  fi
  score merge-average "$s" "$S/merge-average"

  # 6. MLP-expert mixtures of the base and the three experts (top-2 of 4).
  log "seed $s: mixtures"
  mix "$S/moe-gateless" --experts "$EXPERTS" --gateless true
  mix "$S/moe-noisy" --experts "$EXPERTS" --seed "$s"
  mix "$S/moe-hidden" --experts "$EXPERTS" --router-init hidden --positive-prompts "$PROMPTS"
  mix "$S/moe-always-on" --experts "$EXPERTS" --always-on true --top-k 2 --seed "$s"
  mix "$S/moe-attn-gateless" --experts "$EXPERTS" --modules mlp,q_proj,k_proj,v_proj --gateless true
  mix "$S/moe-attn-noisy" --experts "$EXPERTS" --modules mlp,q_proj,k_proj,v_proj --seed "$s"
  train_router "$S/moe-noisy" "$S/moe-trained" "$s"
  train_router "$S/moe-always-on" "$S/moe-always-on-trained" "$s"
  train_router "$S/moe-attn-noisy" "$S/moe-attn-trained" "$s"
  for v in gateless noisy hidden; do score "moe-$v" "$s" "$S/moe-$v"; done
  score moe-trained "$s" "$S/moe-trained/model"
  score moe-always-on-trained "$s" "$S/moe-always-on-trained/model"
  score moe-attn-gateless "$s" "$S/moe-attn-gateless"
  score moe-attn-trained "$s" "$S/moe-attn-trained/model"

  # 7. Adapter experts: the LoRA adapters blended on the frozen base, and the
  #    full experts as rank-16 SVD adapters (the same experts as the FFN mixtures).
  ADAPTERS="$S/lora-elements/adapter,$S/lora-eng_fra/adapter,$S/lora-foldoc/adapter"
  blend "$S/blend-gateless" --base-model "$BASE" --adapters "$ADAPTERS" --gateless true
  blend "$S/blend-noisy" --base-model "$BASE" --adapters "$ADAPTERS" --seed "$s"
  blend "$S/blend-svd-gateless" --base-model "$BASE" \
    --expert-models "$S/full-elements/model,$S/full-eng_fra/model,$S/full-foldoc/model" --svd-rank 16 --gateless true
  train_router "$S/blend-noisy" "$S/blend-trained" "$s"
  score blend-gateless "$s" "$S/blend-gateless"
  score blend-trained "$s" "$S/blend-trained/model"
  score blend-svd-gateless "$s" "$S/blend-svd-gateless"
  # The FFN mixture of the same three experts, without the base as an expert.
  mix "$S/moe3-gateless" --base-model "$BASE" \
    --experts "$S/full-elements/model,$S/full-eng_fra/model,$S/full-foldoc/model" --gateless true
  score moe3-gateless "$s" "$S/moe3-gateless"

  # 8. The base's domain: a foldoc-tuned base as stem and expert 0, beside the
  #    elements and eng_fra experts, against the plain base in that place.
  mix "$S/domainbase-plain" --experts "$BASE,$S/full-elements/model,$S/full-eng_fra/model" --seed "$s"
  mix "$S/domainbase-foldoc" --experts "$S/full-foldoc/model,$S/full-elements/model,$S/full-eng_fra/model" --seed "$s"
  train_router "$S/domainbase-plain" "$S/domainbase-plain-trained" "$s"
  train_router "$S/domainbase-foldoc" "$S/domainbase-foldoc-trained" "$s"
  score domainbase-plain-trained "$s" "$S/domainbase-plain-trained/model"
  score domainbase-foldoc-trained "$s" "$S/domainbase-foldoc-trained/model"
}

# Seeds run side by side (PARALLEL at a time, 3 by default): each job is one
# thread, and the seeds share nothing but the base and the data.
pids=()
for s in $SEEDS; do
  run_seed "$s" &
  pids+=($!)
  if [ "${#pids[@]}" -ge "${PARALLEL:-3}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

cat "$R"/scores/*.json > "$R/scores.jsonl"
/usr/bin/python3 bench/moe_table.py "$R" > "$R/tables.md"
cp "$R/scores.png" docs/moe-scores.png
log "tables in $R/tables.md ($SECONDS s wall in this call)"
