"""The MoE layer of bench/moe_bench.cpp's dispatch benchmark in plain PyTorch,
written the way transformers' MixtralSparseMoeBlock is (bench/moe_torch_mixtral.py):
the same weights and input (read from the file the C++ side exports), the
same timing scope (median of --reps calls after one warm-up; no import or
start-up inside the timer), forward and forward+backward.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/moe_baseline.py --layer /tmp/layer.safetensors --threads 1
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from moe_torch_mixtral import MixtralSparseMoeBlock, load_safetensors

p = argparse.ArgumentParser()
p.add_argument("--layer", required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--top-k", type=int, default=2)
p.add_argument("--reps", type=int, default=5)
a = p.parse_args()
torch.set_num_threads(a.threads)
W = load_safetensors(a.layer)
x, y = W.pop("x"), W.pop("y")
experts, hidden = W["gate.weight"].shape
ffn = W["experts.0.w1.weight"].shape[0]
block = MixtralSparseMoeBlock(hidden, ffn, experts, a.top_k)
block.load_state_dict(W, strict=True)


def median_seconds(runs):
    """Median seconds of each function over --reps rounds after one warm-up
    round, calling each once per round in turn (as bench/moe_bench.cpp does)."""
    for run in runs:
        run()
    times = [[] for _ in runs]
    for _ in range(a.reps):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - start)
    return [sorted(t)[len(t) // 2] for t in times]


with torch.no_grad():
    out, _ = block(x.unsqueeze(0))
xg = x.clone().requires_grad_()


def forward_step():
    with torch.no_grad():
        block(x.unsqueeze(0))


def train_step():
    block.zero_grad()
    out, _ = block(xg.unsqueeze(0))
    out.sum().backward()


forward, train = median_seconds([forward_step, train_step])
n = x.shape[0]
print(json.dumps({"impl": "pytorch", "threads": a.threads, "tokens": n,
                  "max_diff_vs_loom": (out - y).abs().max().item(),
                  "forward_tokens_per_s": n / forward, "train_tokens_per_s": n / train}))
