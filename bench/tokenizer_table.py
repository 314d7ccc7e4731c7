#!/usr/bin/python3
"""Markdown table of bench/tokenizer_bench.sh's JSON lines: median MB/s of
each side (min-max over the repeats), the ratio loom / HF of the medians, and
whether both sides produced the same tokens (count and sum of ids)."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["tokenizer"], r["threads"], r["side"])].append(r)

print("| tokenizer | threads | loom MB/s (min-max) | HF tokenizers MB/s (min-max) | loom / HF | same tokens |")
print("|---|---|---|---|---|---|")
order = []
for (name, threads, side) in runs:
    if (name, threads) not in order:
        order.append((name, threads))
for name, threads in order:
    loom, hf = runs[(name, threads, "loom")], runs[(name, threads, "hf")]
    if not loom or not hf:
        continue
    def cell(rs):
        v = [r["mb_per_s"] for r in rs]
        return statistics.median(v), f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})"
    lm, lc = cell(loom)
    hm, hc = cell(hf)
    same = all((r["tokens"], r["id_sum"]) == (hf[0]["tokens"], hf[0]["id_sum"]) for r in loom + hf)
    print(f"| {name} | {threads} | {lc} | {hc} | {lm / hm:.2f} | {'yes' if same else 'NO'} |")
