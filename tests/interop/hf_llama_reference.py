"""An independent implementation of Hugging Face's LlamaForCausalLM forward
pass in plain PyTorch (Debian's python3-torch), reading a loom model directory
exactly as transformers would: config.json field names, safetensors tensor
names, rotate-half RoPE, repeat_kv for grouped-query attention, RMSNorm, tied
embeddings. Prints the mean token loss over {"input_ids": [...]} rows.
With ADAPTER_DIR, a PEFT LoRA adapter is applied as PEFT does:
W += (lora_alpha / r) * B @ A for every "base_model.model.<module>.lora_A.weight"
(alpha / sqrt(r) with use_rslora).

    /usr/bin/python3 tests/interop/hf_llama_reference.py MODEL_DIR DATA.jsonl [ADAPTER_DIR]
"""
import json, math, struct, sys
import torch
import torch.nn.functional as F

model_dir, data = sys.argv[1], sys.argv[2]
cfg = json.load(open(f"{model_dir}/config.json"))
assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["model_type"] == "llama"


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = bytearray(raw[8 + n + b:8 + n + e])
        out[name] = torch.frombuffer(buf, dtype=dtypes[info["dtype"]]).reshape(info["shape"]).float()
    return out


W = load_safetensors(f"{model_dir}/model.safetensors")
if len(sys.argv) > 3:
    acfg = json.load(open(f"{sys.argv[3]}/adapter_config.json"))
    assert acfg["peft_type"] == "LORA" and not acfg.get("use_dora") and acfg.get("bias", "none") == "none"
    scaling = acfg["lora_alpha"] / (math.sqrt(acfg["r"]) if acfg.get("use_rslora") else acfg["r"])
    AW = load_safetensors(f"{sys.argv[3]}/adapter_model.safetensors")
    prefix = "base_model.model."
    for key in AW:
        assert key.startswith(prefix) and (key.endswith(".lora_A.weight") or key.endswith(".lora_B.weight")), key
        if key.endswith(".lora_A.weight"):
            module = key[len(prefix):-len(".lora_A.weight")]
            W[module + ".weight"] = W[module + ".weight"] + scaling * AW[prefix + module + ".lora_B.weight"] @ AW[key]
H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
D = cfg.get("head_dim") or cfg["hidden_size"] // H
eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]


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
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, H, D).transpose(0, 1)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, KV, D).transpose(0, 1)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, KV, D).transpose(0, 1)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)  # HF's repeat_kv
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(D) + mask, -1) @ v
        x = x + a.transpose(0, 1).reshape(T, H * D) @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        x = x + (F.silu(h @ W[p + "mlp.gate_proj.weight"].T) * (h @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return rms(x, W["model.norm.weight"]) @ head.T


total, count = 0.0, 0
for line in open(data):
    if not line.strip():
        continue
    ids = json.loads(line)["input_ids"]
    logits = forward(ids)
    total += F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="sum").item()
    count += len(ids) - 1
print(json.dumps({"loss": total / count, "tokens": count}))
