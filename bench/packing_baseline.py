"""The padded baseline of `loom bench packing`, in plain PyTorch: exactly the
micro-batches loom's `none` collator trains on (token lists written by
`loom bench packing`), each padded to its longest example with an attention
mask (what HF's default collator does), on the same model shape.

Same work, same scope as loom's timer: each step's timer holds building the
padded tensors from the token lists, forward, backward, clipping and AdamW.
Threads: one torch thread here; the caller sets OPENBLAS_NUM_THREADS=1 and
OMP_NUM_THREADS=1 for this process and for loom's runs alike.
Prints one JSON line: real-token throughput and peak resident memory (which
includes the interpreter and torch's Python modules).
"""
import argparse, json, os, resource, sys, time
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_llama import Llama

p = argparse.ArgumentParser()
p.add_argument("--batches", required=True, help="JSON: steps, each a list of token-id lists")
p.add_argument("--hidden", type=int, default=128)
p.add_argument("--intermediate", type=int, default=341)
p.add_argument("--layers", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
steps = json.load(open(a.batches))
V = 259
model = Llama(V, a.hidden, a.intermediate, a.layers, 4)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
real = 0
padded = 0
elapsed = 0.0
for batch in steps:
    start = time.perf_counter()
    B, T = len(batch), max(len(x) for x in batch)
    ids = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i, tokens in enumerate(batch):
        ids[i, : len(tokens)] = torch.tensor(tokens)
        mask[i, : len(tokens)] = 1
    # Position t predicts token t+1; pads and each example's last position
    # have no label (loom's labels for the same batch).
    labels = torch.where(mask.roll(-1, 1) > 0, ids.roll(-1, 1), torch.full_like(ids, -100))
    labels[:, -1] = -100
    opt.zero_grad()
    loss = F.cross_entropy(model(ids, mask).view(-1, V), labels.view(-1), ignore_index=-100)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    elapsed += time.perf_counter() - start
    real += sum(len(x) for x in batch)
    padded += B * T
print(json.dumps({"packing": "pytorch_padded", "real_tokens_per_s": real / elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "padding_fraction": 1.0 - real / padded}))
