"""The same Llama model, data and optimizer step as bench/train_throughput.cpp,
in plain PyTorch (Debian's python3-torch 1.13), eager mode, with the
process's peak RSS.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_baseline.py --threads 1 --steps 20
"""
import argparse, json, os, resource, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_llama import Llama


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--seq-len", type=int, default=256)
a = p.parse_args()
rss_start = rss_mb()  # interpreter and LibTorch loaded, nothing allocated
torch.set_num_threads(a.threads)
V, T, B = 4096, a.seq_len, a.batch
ids = torch.tensor([[(b * 7919 + t * 104729) % V for t in range(T)] for b in range(B)])
labels = ids.roll(-1, 1)
labels[:, -1] = -100
model = Llama(V, 256, 688, 4, 4)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)


def step():
    opt.zero_grad()
    loss = F.cross_entropy(model(ids).view(-1, V), labels.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


for _ in range(3):
    step()
start = time.time()
for _ in range(a.steps):
    step()
elapsed = time.time() - start
print(json.dumps({"impl": "pytorch", "threads": a.threads, "tokens_per_s": a.steps * B * T / elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "rss_start_mb": rss_start}))
