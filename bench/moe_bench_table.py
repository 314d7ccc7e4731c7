"""docs/moe.md's benchmark tables from bench/moe_bench.sh's JSON lines:
mean ± half the range over seeds of each rate and of each seed's ratio.

    /usr/bin/python3 bench/moe_bench_table.py build/bench-moe/results.jsonl
"""
import collections
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]


def stat(values, digits=0):
    m = sum(values) / len(values)
    half = (max(values) - min(values)) / 2
    return f"{m:.{digits}f} ± {half:.{digits}f}"


groups = collections.defaultdict(list)
for r in rows:
    if r["bench"] == "dispatch":
        l = r["loom"]
        groups[(l["hidden"], l["inter"], l["threads"])].append(r)
if groups:
    print("| hidden/inter | threads | seeds | loom sparse fwd tok/s | loom dense fwd tok/s | sparse / dense "
          "| PyTorch HF-style fwd tok/s | loom / PyTorch fwd | matmuls alone tok/s | loom / matmuls "
          "| loom fwd+bwd tok/s | PyTorch fwd+bwd tok/s | loom / PyTorch fwd+bwd | largest expert share | max abs diff |")
    print("|---" * 15 + "|")
    for (h, i, t), rs in sorted(groups.items()):
        L = [r["loom"] for r in rs]
        P = [r["pytorch"] for r in rs]
        sp = [l["sparse_forward_tokens_per_s"] for l in L]
        de = [l["dense_forward_tokens_per_s"] for l in L]
        gm = [l["gemm_only_forward_tokens_per_s"] for l in L]
        tr = [l["sparse_train_tokens_per_s"] for l in L]
        pf = [p["forward_tokens_per_s"] for p in P]
        pt = [p["train_tokens_per_s"] for p in P]
        print(f"| {h}/{i} | {t} | {len(rs)} | {stat(sp)} | {stat(de)} | {stat([a / b for a, b in zip(sp, de)], 2)} "
              f"| {stat(pf)} | {stat([a / b for a, b in zip(sp, pf)], 2)} | {stat(gm)} "
              f"| {stat([a / b for a, b in zip(sp, gm)], 2)} | {stat(tr)} | {stat(pt)} "
              f"| {stat([a / b for a, b in zip(tr, pt)], 2)} | {max(l['max_expert_share'] for l in L):.3f} "
              f"| {max(p['max_diff_vs_loom'] for p in P):.1e} |")
    print()
train = [r["loom"] for r in rows if r["bench"] == "train"]
if train:
    print("| threads | seeds | tokens/step | dense Llama train tok/s | top-2-of-4 Mixtral train tok/s | MoE / dense "
          "| params dense / MoE total / MoE active |")
    print("|---" * 7 + "|")
    by_threads = collections.defaultdict(list)
    for r in train:
        by_threads[r["threads"]].append(r)
    for t, rs in sorted(by_threads.items()):
        r0 = rs[0]
        print(f"| {t} | {len(rs)} | {r0['tokens_per_step']} | {stat([r['dense_tokens_per_s'] for r in rs])} "
              f"| {stat([r['moe_tokens_per_s'] for r in rs])} | {stat([r['moe_vs_dense'] for r in rs], 2)} "
              f"| {r0['dense_parameters'] / 1e6:.1f}M / {r0['moe_parameters'] / 1e6:.1f}M / "
              f"{r0['moe_active_parameters'] / 1e6:.1f}M |")
