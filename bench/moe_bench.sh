#!/usr/bin/env bash
# MoE benchmarks for docs/moe.md, side by side in one run:
#  1. one MoE layer (8 experts, top-2, 4096 tokens): loom's sparse dispatch,
#     loom running every expert densely, and the same layer in PyTorch written
#     as transformers' MixtralSparseMoeBlock, on the same weights and input,
#     at 1 and 2 threads (OPENBLAS_NUM_THREADS and torch threads set alike);
#     for a narrow shape (128/344), the quickstart's (256/688) and a wider one
#     (512/1376); and the expert matmuls alone, the ceiling of any dispatch;
#  2. training tokens/s of a top-2-of-4 Mixtral against its dense base.
# Usage: bench/moe_bench.sh   (needs build/bench/bench_moe; REPS=10 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-10}
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}; fi
out=build/bench-moe
mkdir -p "$out"
bench=build/bench/bench_moe
echo "| shape | threads | loom sparse fwd tok/s | loom dense fwd | sparse / dense | PyTorch (HF-style) fwd | loom / PyTorch | matmuls alone | loom / matmuls | loom sparse fwd+bwd | loom dense fwd+bwd | PyTorch fwd+bwd | loom / PyTorch | max abs diff |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
IFS=";" read -ra shapes <<< "${SHAPES:-128 344;256 688;512 1376}"
for shape in "${shapes[@]}"; do
  set -- $shape
  for t in 1 2; do
    l=$(OPENBLAS_NUM_THREADS=$t "$bench" dispatch --threads "$t" --hidden "$1" --inter "$2" --reps "$reps" \
      --export "$out/layer.safetensors")
    p=$(OPENBLAS_NUM_THREADS=$t /usr/bin/python3 bench/moe_baseline.py --layer "$out/layer.safetensors" \
      --threads "$t" --reps "$reps")
    echo "$l" >&2; echo "$p" >&2
    /usr/bin/python3 - "$l" "$p" <<'PY'
import json, sys
l, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| {l['hidden']}/{l['inter']} | {l['threads']} | {l['sparse_forward_tokens_per_s']:.0f} | {l['dense_forward_tokens_per_s']:.0f} | "
      f"{l['sparse_forward_tokens_per_s']/l['dense_forward_tokens_per_s']:.2f} | {p['forward_tokens_per_s']:.0f} | "
      f"{l['sparse_forward_tokens_per_s']/p['forward_tokens_per_s']:.2f} | {l['gemm_only_forward_tokens_per_s']:.0f} | "
      f"{l['sparse_forward_tokens_per_s']/l['gemm_only_forward_tokens_per_s']:.2f} | {l['sparse_train_tokens_per_s']:.0f} | "
      f"{l['dense_train_tokens_per_s']:.0f} | {p['train_tokens_per_s']:.0f} | "
      f"{l['sparse_train_tokens_per_s']/p['train_tokens_per_s']:.2f} | {p['max_diff_vs_loom']:.1e} |")
PY
  done
done
echo
echo "| threads | dense Llama train tok/s | top-2-of-4 Mixtral train tok/s | MoE / dense | params dense / MoE total / MoE active |"
echo "|---|---|---|---|---|"
for t in 1 2; do
  r=$(OPENBLAS_NUM_THREADS=$t "$bench" train --threads "$t")
  echo "$r" >&2
  /usr/bin/python3 - "$r" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| {r['threads']} | {r['dense_tokens_per_s']:.0f} | {r['moe_tokens_per_s']:.0f} | {r['moe_vs_dense']:.2f} | "
      f"{r['dense_parameters']/1e6:.1f}M / {r['moe_parameters']/1e6:.1f}M / {r['moe_active_parameters']/1e6:.1f}M |")
PY
done
