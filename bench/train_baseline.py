"""The same Llama model, data and optimizer step as bench/train_throughput.cpp,
as a user writes it today in plain PyTorch (Debian's python3-torch 1.13, which
has no fused attention): a padded [batch, seq] batch with a causal mask.

    /usr/bin/python3 bench/train_baseline.py --threads 1 --steps 20
"""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--steps", type=int, default=20)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--seq-len", type=int, default=256)
a = p.parse_args()
torch.set_num_threads(a.threads)
V, D, F_, L, H = 4096, 256, 688, 4, 4
HD = D // H


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


def rope(x, cos, sin):
    x1, x2 = x[..., : HD // 2], x[..., HD // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D, D, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(D, F_, bias=False), nn.Linear(D, F_, bias=False)
        self.down = nn.Linear(F_, D, bias=False)
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.n1(x)
        q = rope(self.q(h).view(B, T, H, HD).transpose(1, 2), cos, sin)
        k = rope(self.k(h).view(B, T, H, HD).transpose(1, 2), cos, sin)
        v = self.v(h).view(B, T, H, HD).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(HD) + mask
        x = x + self.o((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.norm = RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)

    def forward(self, ids, cos, sin, mask):
        x = self.emb(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.head(self.norm(x))


T, B = a.seq_len, a.batch
inv = 1.0 / (10000 ** (torch.arange(0, HD, 2).double() / HD))
freqs = torch.outer(torch.arange(T).double(), inv)
emb = torch.cat([freqs, freqs], -1)
cos, sin = emb.cos().float(), emb.sin().float()
mask = torch.full((T, T), float("-inf")).triu(1)
ids = torch.tensor([[(b * 7919 + t * 104729) % V for t in range(T)] for b in range(B)])
labels = ids.roll(-1, 1)
labels[:, -1] = -100
model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)


def step():
    opt.zero_grad()
    loss = F.cross_entropy(model(ids, cos, sin, mask).view(-1, V), labels.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


for _ in range(3):
    step()
start = time.time()
for _ in range(a.steps):
    step()
tps = a.steps * B * T / (time.time() - start)
print(json.dumps({"impl": "pytorch", "threads": a.threads, "tokens_per_s": tps}))
