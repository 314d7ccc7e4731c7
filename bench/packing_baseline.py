"""The padded baseline of `loom bench packing`, in plain PyTorch: the same
example lengths, micro-batch size and model shape, each micro-batch padded to
its longest example with an attention mask (what HF's default collator does).
Prints one JSON line: real-token throughput and peak resident memory.
"""
import argparse, json, os, random, resource, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_llama import Llama

p = argparse.ArgumentParser()
p.add_argument("--lengths", required=True)
p.add_argument("--steps", type=int, default=60)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--hidden", type=int, default=256)
p.add_argument("--layers", type=int, default=4)
a = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
lengths = json.load(open(a.lengths))
random.Random(0).shuffle(lengths)
V = 259
model = Llama(V, a.hidden, a.hidden * 8 // 3, a.layers, 4)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
real = 0
padded = 0
elapsed = 0.0
for step in range(a.steps):
    group = [lengths[(step * a.batch + i) % len(lengths)] for i in range(a.batch)]
    T = max(group)
    ids = torch.randint(1, 256, (a.batch, T))
    mask = torch.zeros(a.batch, T, dtype=torch.long)
    for i, l in enumerate(group):
        mask[i, :l] = 1
    labels = torch.where(mask.roll(-1, 1) > 0, ids.roll(-1, 1), torch.full_like(ids, -100))
    labels[:, -1] = -100
    start = time.time()
    opt.zero_grad()
    loss = F.cross_entropy(model(ids, mask).view(-1, V), labels.view(-1), ignore_index=-100)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    elapsed += time.time() - start
    real += sum(group)
    padded += a.batch * T
print(json.dumps({"packing": "pytorch_padded", "real_tokens_per_s": real / elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "padding_fraction": 1.0 - real / padded}))
