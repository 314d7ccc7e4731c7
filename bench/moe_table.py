"""docs/moe.md's tables from bench/moe_results.sh's scores: mean ± half-range
over seeds of every variant's per-domain held-out score, completion loss, base
perplexity, parameters and generation speed; also draws RUN/scores.png (completion loss per domain).

    /usr/bin/python3 bench/moe_table.py runs/moe-results > runs/moe-results/tables.md
"""
import collections
import json
import os
import subprocess
import sys

run = sys.argv[1]
rows = [json.loads(l) for l in open(f"{run}/scores.jsonl") if l.strip()]
by_variant = collections.defaultdict(list)
for r in rows:
    by_variant[r["variant"]].append(r)
DOMAINS = ["elements", "eng_fra", "foldoc"]
METRIC = {"elements": "exact match", "eng_fra": "edit sim.", "foldoc": "ROUGE-L"}


def stat(values, digits=3):
    m = sum(values) / len(values)
    half = (max(values) - min(values)) / 2
    return f"{m:.{digits}f} ± {half:.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"


def mean(values):
    return sum(values) / len(values)


def table(title, variants, labels):
    print(f"**{title}**\n")
    print("| model | " + " | ".join(f"{d} ({METRIC[d]})" for d in DOMAINS) +
          " | mean score | mean completion loss | base ppl | params total / active | gen tok/s |")
    print("|---|" + "---|" * (len(DOMAINS) + 5))
    for v in variants:
        rs = by_variant.get(v)
        if not rs:
            continue
        cells = [stat([r["domains"][d]["score"] for r in rs]) for d in DOMAINS]
        cells.append(stat([mean([r["domains"][d]["score"] for d in DOMAINS]) for r in rs]))
        cells.append(stat([mean([r["domains"][d]["completion_loss"] for d in DOMAINS]) for r in rs], 2))
        cells.append(stat([r["base_perplexity"] for r in rs], 0))
        cells.append(f"{rs[0]['total_parameters'] / 1e6:.2f}M / {rs[0]['active_parameters'] / 1e6:.2f}M")
        cells.append(f"{mean([mean([r['domains'][d]['generate_tokens_per_s'] for d in DOMAINS]) for r in rs]):.0f}")
        print(f"| {labels.get(v, v)} | " + " | ".join(cells) + " |")
    print()


def loss_table(title, variants, labels):
    print(f"**{title}** (nats per completion token, lower is better)\n")
    print("| model | " + " | ".join(DOMAINS) + " |")
    print("|---|" + "---|" * len(DOMAINS))
    for v in variants:
        rs = by_variant.get(v)
        if rs:
            print(f"| {labels.get(v, v)} | " +
                  " | ".join(stat([r["domains"][d]["completion_loss"] for r in rs], 2) for d in DOMAINS) + " |")
    print()


labels = {
    "base": "base (expert 0)",
    "expert-elements": "elements expert alone", "expert-eng_fra": "eng_fra expert alone",
    "expert-foldoc": "foldoc expert alone",
    "merge-average": "average merge of the 3 experts",
    "moe-gateless": "MoE gate-less (1/4 each)", "moe-noisy": "MoE noisy (random router, top-2)",
    "moe-hidden": "MoE hidden-state router init (untrained, top-2)",
    "moe-trained": "MoE trained router (top-2)", "moe-always-on-trained": "MoE always-on base + top-2 of 3 (trained)",
    "moe-attn-gateless": "MLP + q/k/v experts, gate-less", "moe-attn-trained": "MLP + q/k/v experts, trained router",
    "moe3-gateless": "FFN mixture of the 3 experts, gate-less",
    "blend-svd-gateless": "the 3 experts as rank-16 SVD adapters, gate-less",
    "blend-gateless": "3 LoRA experts blended, gate-less", "blend-trained": "3 LoRA experts blended, trained router",
    "lora-expert-elements": "LoRA elements expert alone", "lora-expert-eng_fra": "LoRA eng_fra expert alone",
    "lora-expert-foldoc": "LoRA foldoc expert alone",
    "domainbase-plain-trained": "plain base as expert 0 (+ elements, eng_fra), trained",
    "domainbase-foldoc-trained": "foldoc-tuned base as expert 0 (+ elements, eng_fra), trained",
}
main = ["base", "expert-elements", "expert-eng_fra", "expert-foldoc", "merge-average", "moe-gateless", "moe-noisy",
        "moe-hidden", "moe-trained", "moe-always-on-trained"]
seeds = sorted({r["seed"] for r in rows})
print(f"Seeds {', '.join(map(str, seeds))}; ± is half the range over seeds.\n")
table("Experts, merge and MoE variants (base + 3 domain experts, MLP experts)", main, labels)
loss_table("Held-out completion loss per domain", main, labels)
for title, variants in (
        ("MLP-only against MLP + attention experts",
         ["moe-gateless", "moe-attn-gateless", "moe-trained", "moe-attn-trained"]),
        ("Mixing full FFNs against blending adapters",
         ["moe3-gateless", "blend-svd-gateless", "blend-gateless", "blend-trained", "lora-expert-elements",
          "lora-expert-eng_fra", "lora-expert-foldoc"]),
        ("The base model's domain", ["domainbase-plain-trained", "domainbase-foldoc-trained"])):
    table(title, variants, labels)
    loss_table(title + ": completion loss per domain", variants, labels)

# Per-domain held-out completion loss of the main variants (the generation
# scores are near zero at this scale), as a clustered bar chart.
plot = [v for v in main if v in by_variant]
data = os.path.join(run, "scores.dat")
with open(data, "w") as f:
    for v in plot:
        f.write(f"\"{v}\" " + " ".join(f"{mean([r['domains'][d]['completion_loss'] for r in by_variant[v]]):.4f}" for d in DOMAINS) + "\n")
script = f"""set terminal pngcairo size 960,480 noenhanced
set output '{run}/scores.png'
set title 'held-out completion loss per domain, nats/token (mean over seeds; lower is better)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -35 scale 0
set yrange [0:*]
set key outside right
plot '{data}' using 2:xtic(1) title 'elements', '' using 3 title 'eng_fra', '' using 4 title 'foldoc'
"""
subprocess.run(["gnuplot"], input=script.encode(), check=True)
