#!/usr/bin/python3
"""Combines `loom supernet experiment` runs of single seeds (run side by side
by bench/supernet_experiment.sh) into the tables of docs/supernet.md: mean ±
sample standard deviation over seeds for every method on the same probe
subnets, the searched subnets, γ as tuned per seed, and the cost table.

    bench/supernet_table.py OUT.md RUN_DIR...
"""
import json
import math
import re
import sys


def spread(values):
    n = len(values)
    if n == 0:
        return "—"
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return f"{mean:.3f} ± {std:.3f}"


def probe_params(run_dir):
    """The params column of the run's own probe table."""
    rows = []
    for line in open(f"{run_dir}/results.md"):
        m = re.match(r"\| ([0-9.]+) \| ([0-9]+) \|", line)
        if m:
            rows.append((float(m.group(1)), int(m.group(2))))
        elif rows:
            break
    return rows


def main(out, run_dirs):
    seeds, cost, tuning = [], None, []
    for d in run_dirs:
        r = json.load(open(f"{d}/results.json"))
        seeds += r["seeds"]
        cost = cost or r.get("cost")
        if "gamma_tuning" in r:
            tuning.append((r["seeds"][0]["seed"], r["gamma"], r["gamma_tuning"]))
    probes = probe_params(run_dirs[0])
    methods = [k[len("probe_"):] for k in seeds[0] if k.startswith("probe_")]
    order = ["mlfs"] + [m for m in methods if m not in ("mlfs", "scratch", "prune_distil")]
    order += [m for m in ("scratch", "prune_distil") if m in methods]
    md = [f"Seeds: {', '.join(str(s['seed']) for s in seeds)}.", ""]
    md.append("| subnet (of teacher params) | params | " + " | ".join(order) + " |")
    md.append("|---|---|" + "---|" * len(order))
    for i, (fraction, params) in enumerate(probes):
        cells = [spread([s["probe_" + m][i]["accuracy"] for s in seeds]) for m in order]
        md.append(f"| {fraction:.2f} | {params} | " + " | ".join(cells) + " |")
    teacher = [s["teacher_test"]["accuracy"] for s in seeds]
    md += ["", f"Teacher ({int(seeds[0]['teacher_params'])} params): {spread(teacher)} test accuracy.", ""]
    md.append("| budget (of teacher params) | searched subnet params | MLFS searched, extracted, reloaded |")
    md.append("|---|---|---|")
    for i, (fraction, _) in enumerate(probes):
        acc = [s["searched"][i]["test"]["accuracy"] for s in seeds]
        params = [s["searched"][i]["choice"]["cost"]["params"] for s in seeds]
        md.append(f"| {fraction:.2f} | {int(sum(params) / len(params))} | {spread(acc)} |")
    if tuning:
        md += ["", "| seed | γ = " + " | γ = ".join(str(t["gamma"]) for t in tuning[0][2]) + " | chosen |",
               "|---|" + "---|" * (len(tuning[0][2]) + 1)]
        for seed, chosen, rows in sorted(tuning):
            md.append(f"| {seed} | " + " | ".join(f"{t['valid_score']:.4f}" for t in rows) + f" | {chosen} |")
    if cost:
        md += ["", f"Supernet (stages 1 + 2): {cost['supernet_cpu_seconds']:.1f} CPU s; "
               f"teacher (stage 0, needed by both): {cost['teacher_cpu_seconds']:.1f} CPU s.", "",
               "| subnets delivered | MLFS CPU s | prune + distil CPU s | MLFS mean accuracy | baseline mean accuracy |",
               "|---|---|---|---|---|"]
        for row in cost["rows"]:
            md.append(f"| {row['subnets']} | {row['mlfs_cpu_seconds']:.1f} | {row['baseline_cpu_seconds']:.1f} | "
                      f"{row['mlfs_mean_score']:.3f} | {row['baseline_mean_score']:.3f} |")
    open(out, "w").write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
