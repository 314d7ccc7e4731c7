"""Plain PyTorch (Debian's python3-torch) written the way Hugging Face
transformers writes Mixtral, independent of loom:

  MixtralSparseMoeBlock   the router and a Python loop over the experts with
                          one-hot masks, index selection and index_add_, as
                          transformers' MixtralSparseMoeBlock does (the
                          baseline of bench/moe_baseline.py)
  mixtral_loss            a whole MixtralForCausalLM forward read from a model
                          directory exactly as transformers would (config.json
                          field names, safetensors tensor names, rotate-half
                          RoPE, repeat_kv, RMSNorm, tied embeddings): the
                          Mixtral-layout check of tests/moe/test_mixtral_layout.sh

    /usr/bin/python3 bench/moe_torch_mixtral.py MODEL_DIR IDS.jsonl   # prints {"loss", "tokens"}
"""
import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class MixtralBlockSparseTop2MLP(nn.Module):
    def __init__(self, hidden, ffn):
        super().__init__()
        self.w1 = nn.Linear(hidden, ffn, bias=False)
        self.w2 = nn.Linear(ffn, hidden, bias=False)
        self.w3 = nn.Linear(hidden, ffn, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MixtralSparseMoeBlock(nn.Module):
    def __init__(self, hidden, ffn, num_experts, top_k):
        super().__init__()
        self.hidden, self.num_experts, self.top_k = hidden, num_experts, top_k
        self.gate = nn.Linear(hidden, num_experts, bias=False)
        self.experts = nn.ModuleList([MixtralBlockSparseTop2MLP(hidden, ffn) for _ in range(num_experts)])

    def forward(self, hidden_states):
        hidden_states = hidden_states.view(-1, self.hidden)
        router_logits = self.gate(hidden_states)
        routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
        routing_weights, selected_experts = torch.topk(routing_weights, self.top_k, dim=-1)
        routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
        routing_weights = routing_weights.to(hidden_states.dtype)
        final = torch.zeros_like(hidden_states)
        expert_mask = F.one_hot(selected_experts, num_classes=self.num_experts).permute(2, 1, 0)
        for e in range(self.num_experts):
            idx, top_x = torch.where(expert_mask[e])
            current = hidden_states[None, top_x].reshape(-1, self.hidden)
            out = self.experts[e](current) * routing_weights[top_x, idx, None]
            final.index_add_(0, top_x, out.to(hidden_states.dtype))
        return final, router_logits


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = bytearray(raw[8 + n + b:8 + n + e])
        out[name] = torch.frombuffer(buf, dtype=dtypes[info["dtype"]]).reshape(info["shape"]).clone()
    return out


def mixtral_loss(model_dir, data):
    cfg = json.load(open(f"{model_dir}/config.json"))
    assert cfg["architectures"] == ["MixtralForCausalLM"] and cfg["model_type"] == "mixtral", cfg["model_type"]
    assert cfg.get("sliding_window") is None or cfg["sliding_window"] >= cfg["max_position_embeddings"]
    W = {k: v.float() for k, v in load_safetensors(f"{model_dir}/model.safetensors").items()}
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or cfg["hidden_size"] // H
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    hidden, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    blocks = []
    for i in range(cfg["num_hidden_layers"]):
        block = MixtralSparseMoeBlock(hidden, ffn, cfg["num_local_experts"], cfg["num_experts_per_tok"])
        prefix = f"model.layers.{i}.block_sparse_moe."
        block.load_state_dict({k[len(prefix):]: v for k, v in W.items() if k.startswith(prefix)}, strict=True)
        blocks.append(block.eval())

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rotate_half(x):
        return torch.cat([-x[..., D // 2:], x[..., :D // 2]], -1)

    def forward(ids):
        T = len(ids)
        inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
        emb = torch.cat([torch.outer(torch.arange(T, dtype=torch.float64), inv)] * 2, -1)
        cos, sin = emb.cos().float(), emb.sin().float()
        x = W["model.embed_tokens.weight"][torch.tensor(ids)]
        mask = torch.full((T, T), float("-inf")).triu(1)
        for i, block in enumerate(blocks):
            p = f"model.layers.{i}."
            h = rms(x, W[p + "input_layernorm.weight"])
            q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, H, D).transpose(0, 1)
            k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, KV, D).transpose(0, 1)
            v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, KV, D).transpose(0, 1)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)  # repeat_kv
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D) + mask, -1) @ v
            x = x + a.transpose(0, 1).reshape(T, H * D) @ W[p + "self_attn.o_proj.weight"].T
            moe, _ = block(rms(x, W[p + "post_attention_layernorm.weight"]).unsqueeze(0))
            x = x + moe
        head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
        return rms(x, W["model.norm.weight"]) @ head.T

    total, count = 0.0, 0
    with torch.no_grad():
        for line in open(data):
            if not line.strip():
                continue
            ids = json.loads(line)["input_ids"]
            logits = forward(ids)
            total += F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="sum").item()
            count += len(ids) - 1
    return total / count, count


if __name__ == "__main__":
    loss, tokens = mixtral_loss(sys.argv[1], sys.argv[2])
    print(json.dumps({"loss": loss, "tokens": tokens}))
