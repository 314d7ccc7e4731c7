#!/usr/bin/python3
"""Tables and plots of bench/mtrl_experiment.sh's runs (docs/mtrl.md).

Usage: bench/mtrl_report.py DATA_DIR  -> DATA_DIR/report.md, DATA_DIR/*.png
"""
import json
import math
import os
import statistics
import sys

data = sys.argv[1]


def load_curve(run):
    points = []
    with open(os.path.join(data, run, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if "eval" in row:
                points.append(row)
    return points


def load_json(name):
    path = os.path.join(data, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def mean_sd(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(m, s, digits=4):
    if math.isnan(m):
        return "n/a"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


with open(os.path.join(data, "settings.json")) as f:
    settings = json.load(f)
seeds = settings["seeds"]
out = []

# ---- Portfolio: curves of the target task t0 ----
methods = settings["portfolio_methods"]
curves = {m: [load_curve(f"portfolio/{m}-{s}") for s in seeds] for m in methods}
steps = [p["step"] for p in curves[methods[0]][0]]
out.append("### Portfolio: tuning-split return of the target task t0 against environment steps\n")
out.append("Mean ± sd over seeds " + ", ".join(map(str, seeds)) + " (log-wealth per 30-day episode, 2006).\n")
out.append("| steps | " + " | ".join(methods) + " |")
out.append("|---|" + "---|" * len(methods))
for i, st in enumerate(steps):
    row = [fmt(*mean_sd([c[i]["eval"]["t0"] for c in curves[m]])) for m in methods]
    out.append(f"| {st} | " + " | ".join(row) + " |")
uniform = load_json("portfolio/uniform-tune.json")
if uniform:
    out.append(f"\nUniform constant rebalancing (UCRP) on t0, same episodes: {uniform['baselines']['uniform']['t0']:.4f}.")

# Steps to reach a fixed return: the UCRP's tuning return on t0 plus a margin.
target = uniform["baselines"]["uniform"]["t0"] + settings["target_margin"] if uniform else None
if target is not None:
    out.append(f"\n### Steps to reach a tuning return of {target:.4f} on t0 (UCRP + {settings['target_margin']})\n")
    out.append("First evaluation at or above the target, per seed; target-task steps count only t0's episodes. "
               "A run that never reaches it counts as not reached.\n")
    out.append("| method | steps (all tasks) per seed | target-task steps per seed | reached |")
    out.append("|---|---|---|---|")
    reach = {}
    for m in methods:
        per_seed, per_seed_task = [], []
        for s, c in zip(seeds, curves[m]):
            hit = next((p["step"] for p in c if p["eval"]["t0"] >= target), None)
            per_seed.append(hit)
            t0_steps = None
            if hit is not None:
                t0_steps = 0
                with open(os.path.join(data, f"portfolio/{m}-{s}", "metrics.jsonl")) as f:
                    for line in f:
                        row = json.loads(line)
                        if row.get("task") == "t0" and row["step"] <= hit:
                            t0_steps += settings["episode_days"]
            per_seed_task.append(t0_steps)
        reach[m] = (per_seed, per_seed_task)
        out.append(f"| {m} | {per_seed} | {per_seed_task} | {sum(h is not None for h in per_seed)}/{len(seeds)} |")
    out.append("")

# ---- Portfolio: test split (2007, 2008 crash), training and held-out tasks ----
out.append("### Portfolio: test-split return (mean of the two 30-day windows), after training\n")
test = {m: [load_json(f"portfolio/{m}-{s}-test.json") for s in seeds] for m in methods}
tasks = sorted(test[methods[0]][0]["returns"].keys(), key=lambda t: (t[0] != "t", t))
out.append("| method | t0 (target) | mean over t0..t7 | h0 (zero-shot) | h1 (zero-shot) | 6-asset subset (zero-shot) |")
out.append("|---|---|---|---|---|---|")
for m in methods:
    t0 = mean_sd([r["returns"]["t0"] for r in test[m]])
    train_mean = mean_sd([statistics.mean(v for k, v in r["returns"].items() if k.startswith("t")) for r in test[m]])
    h0 = mean_sd([r["returns"].get("h0", float("nan")) for r in test[m]])
    h1 = mean_sd([r["returns"].get("h1", float("nan")) for r in test[m]])
    big = [load_json(f"portfolio/{m}-{s}-size6.json") for s in seeds]
    b = mean_sd([r["returns"]["h0"] if r else float("nan") for r in big])
    out.append(f"| {m} | {fmt(*t0)} | {fmt(*train_mean)} | {fmt(*h0)} | {fmt(*h1)} | {fmt(*b)} |")
ut = load_json("portfolio/uniform-test.json")
if ut:
    u = ut["baselines"]["uniform"]
    tm = statistics.mean(v for k, v in u.items() if k.startswith("t"))
    big = load_json("portfolio/uniform-size6.json")
    out.append(f"| UCRP | {u['t0']:.4f} | {tm:.4f} | {u.get('h0', float('nan')):.4f} | {u.get('h1', float('nan')):.4f} | "
               f"{big['baselines']['uniform']['h0'] if big else float('nan'):.4f} |")
out.append("")

# ---- Meta-FL ----
if settings.get("meta_fl"):
    out.append("### Meta-FL: test accuracy gain over 10 rounds on held-out corruption mixes\n")
    out.append("Return = 10 x (final - initial test accuracy); mean ± sd over seeds for the learned policy, "
               "per held-out task (FL baselines are deterministic given the task).\n")
    runs = [load_json(f"meta_fl/mtrl-{s}-test.json") for s in seeds]
    holdouts = sorted(k for k in runs[0]["returns"] if k.startswith("h"))
    names = ["learned (equivariant)"] + list(runs[0].get("baselines", {}).keys())
    out.append("| task | " + " | ".join(names) + " |")
    out.append("|---|" + "---|" * len(names))
    for h in holdouts + ["mean (held out)", "mean (training tasks)"]:
        def pick(returns):
            if h.startswith("mean (held"):
                return statistics.mean(returns[k] for k in holdouts)
            if h.startswith("mean (training"):
                return statistics.mean(v for k, v in returns.items() if k.startswith("t"))
            return returns[h]
        row = [fmt(*mean_sd([pick(r["returns"]) for r in runs]), 3)]
        for b in names[1:]:
            row.append(fmt(*mean_sd([pick(r["baselines"][b]) for r in runs]), 3))
        out.append(f"| {h} | " + " | ".join(row) + " |")
    out.append("")

with open(os.path.join(data, "report.md"), "w") as f:
    f.write("\n".join(out) + "\n")
print("\n".join(out))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for m in methods:
        ms = [mean_sd([c[i]["eval"]["t0"] for c in curves[m]]) for i in range(len(steps))]
        mu = [x[0] for x in ms]
        sd = [x[1] for x in ms]
        ax.plot(steps, mu, label=m)
        ax.fill_between(steps, [a - b for a, b in zip(mu, sd)], [a + b for a, b in zip(mu, sd)], alpha=0.2)
    if uniform:
        ax.axhline(uniform["baselines"]["uniform"]["t0"], color="k", ls="--", lw=1, label="UCRP")
    ax.set_xlabel("environment steps (all tasks)")
    ax.set_ylabel("tuning return on t0")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(data, "portfolio_curves.png"), dpi=110)
except ImportError:
    pass
