#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build,
# assemble the default corpus from Debian's text packages, pretrain a small
# Llama on it (configs/quickstart.yaml) and print a sample generation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
scripts/build.sh -DLOOM_BUILD_TESTS=OFF -DLOOM_BUILD_BENCH=OFF
build/loom data --out data/corpus
build/loom pretrain --config configs/quickstart.yaml --out runs/quickstart
build/loom eval --model runs/quickstart/model --data data/corpus/valid.jsonl
build/loom generate --model runs/quickstart/model --prompt "The secret of life is" --max-new-tokens 40 --temperature 0.8 --top-p 0.95
