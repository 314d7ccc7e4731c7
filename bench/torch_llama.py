"""A Llama model in plain PyTorch 1.13, written the way users write it today
(padded [batch, seq] batches, causal + padding mask, no fused attention).
Shared by the Python baselines in bench/."""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


def rope_tables(seq, head_dim, theta=10000.0):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2).double() / head_dim))
    emb = torch.outer(torch.arange(seq).double(), inv)
    emb = torch.cat([emb, emb], -1)
    return emb.cos().float(), emb.sin().float()


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


class Layer(nn.Module):
    def __init__(self, d, ff, heads):
        super().__init__()
        self.h, self.hd = heads, d // heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        h = self.n1(x)
        q = rope(self.q(h).view(B, T, self.h, self.hd).transpose(1, 2), cos, sin)
        k = rope(self.k(h).view(B, T, self.h, self.hd).transpose(1, 2), cos, sin)
        v = self.v(h).view(B, T, self.h, self.hd).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        x = x + self.o((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, vocab, d, ff, layers, heads):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(Layer(d, ff, heads) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.heads = heads

    def forward(self, ids, attention_mask=None):
        B, T = ids.shape
        cos, sin = rope_tables(T, self.emb.weight.shape[1] // self.heads)
        mask = torch.full((T, T), float("-inf")).triu(1)
        if attention_mask is not None:  # padding keys are masked too, as HF does
            mask = mask + torch.where(attention_mask[:, None, None, :] > 0, 0.0, float("-inf"))
        x = self.emb(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.head(self.norm(x))
