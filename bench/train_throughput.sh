#!/usr/bin/env bash
# loom's trainer step against the same model in plain PyTorch, in one run, at
# 1 and 2 threads. Prints JSON lines and a Markdown table (docs/core.md).
# Both sides get the same OpenBLAS kernel: OPENBLAS_CORETYPE is exported if
# OpenBLAS would otherwise fall back to its generic one (see core/cpu_setup.h).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-20}
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}; fi
echo "| threads | loom tok/s | PyTorch tok/s | loom / PyTorch | loom GFLOP/s | 1-thread sgemm peak | MFU (vs threads x peak) |"
echo "|---|---|---|---|---|---|---|"
for t in 1 2; do
  loom=$(build/bench/bench_train_throughput --threads "$t" --steps "$steps")
  # torch.set_num_threads does not reach OpenBLAS: give both sides t BLAS threads.
  py=$(OPENBLAS_NUM_THREADS=$t /usr/bin/python3 bench/train_baseline.py --threads "$t" --steps "$steps")
  echo "$loom" >&2; echo "$py" >&2
  /usr/bin/python3 - "$loom" "$py" <<'PY'
import json, sys
l, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| {l['threads']} | {l['tokens_per_s']:.0f} | {p['tokens_per_s']:.0f} | {l['tokens_per_s']/p['tokens_per_s']:.2f} | "
      f"{l['model_gflops']:.1f} | {l['sgemm_peak_1thread_gflops']:.1f} | {100*l['mfu_vs_threads_x_peak']:.0f} % |")
PY
done
