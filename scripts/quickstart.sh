#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build,
# assemble the default corpus from Debian's text packages, pretrain a small
# Llama on it (configs/quickstart.yaml) and print a sample generation.
# On a fresh 2-core machine: about 6 minutes of installing, 6 of building and
# 3 of training; each stage says when it starts and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stage() { echo "== quickstart [$(( (SECONDS - start) / 60 ))m$(( (SECONDS - start) % 60 ))s] $*" >&2; }
stage "1/4 installing dependencies (apt-get; skipped when present)"
scripts/setup-deps.sh
stage "2/4 building loom (ninja prints [done/total] per file)"
scripts/build.sh -DLOOM_BUILD_TESTS=OFF -DLOOM_BUILD_BENCH=OFF
stage "3/4 assembling the default corpus"
build/loom data --out data/corpus
stage "4/4 pretraining (progress bar below), then eval and a sample"
build/loom pretrain --config configs/quickstart.yaml --out runs/quickstart
build/loom eval --model runs/quickstart/model --data data/corpus/valid.jsonl
build/loom generate --model runs/quickstart/model --prompt "The secret of life is" --max-new-tokens 40 --temperature 0.8 --top-p 0.95
stage "done"
