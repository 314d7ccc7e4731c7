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

methods = settings["portfolio_methods"]


def curves_of(domain):
    return {m: [load_curve(f"{domain}/{m}-{s}") for s in seeds] for m in methods}


def learning_curve(domain, title, unit, curves):
    """Tuning-split return of t0 against steps, then the steps each set-up needs to reach a target."""
    steps = [p["step"] for p in curves[methods[0]][0]]
    out.append(f"### {title}: tuning-split return of the target task t0 against environment steps\n")
    out.append("Mean ± sd over seeds " + ", ".join(map(str, seeds)) + f" ({unit}).\n")
    out.append("| steps | " + " | ".join(methods) + " |")
    out.append("|---|" + "---|" * len(methods))
    for i, st in enumerate(steps):
        row = [fmt(*mean_sd([c[i]["eval"]["t0"] for c in curves[m]])) for m in methods]
        out.append(f"| {st} | " + " | ".join(row) + " |")
    return steps


def steps_to_target(domain, title, baseline_name, baseline_t0, margin, steps_per_episode, curves):
    target = baseline_t0 + margin
    out.append(f"\n### {title}: steps to reach a tuning return of {target:.4f} on t0 ({baseline_name} + {margin})\n")
    out.append("First evaluation at or above the target, per seed; target-task steps count only t0's episodes. "
               "A run that never reaches it counts as not reached.\n")
    out.append("| method | steps (all tasks) per seed | target-task steps per seed | reached |")
    out.append("|---|---|---|---|")
    for m in methods:
        per_seed, per_seed_task = [], []
        for s, c in zip(seeds, curves[m]):
            hit = next((p["step"] for p in c if p["eval"]["t0"] >= target), None)
            per_seed.append(hit)
            t0_steps = None
            if hit is not None:
                t0_steps = 0
                with open(os.path.join(data, f"{domain}/{m}-{s}", "metrics.jsonl")) as f:
                    for line in f:
                        row = json.loads(line)
                        if row.get("task") == "t0" and row["step"] <= hit:
                            t0_steps += steps_per_episode
            per_seed_task.append(t0_steps)
        out.append(f"| {m} | {per_seed} | {per_seed_task} | {sum(h is not None for h in per_seed)}/{len(seeds)} |")
    out.append("")


# ---- Portfolio ----
portfolio_curves = curves_of("portfolio")
portfolio_steps = learning_curve("portfolio", "Portfolio", "log-wealth per 30-day episode, 2006", portfolio_curves)
uniform = load_json("portfolio/uniform-tune.json")
if uniform:
    u0 = uniform["baselines"]["uniform"]["t0"]
    out.append(f"\nUniform constant rebalancing (UCRP) on t0, same episodes: {u0:.4f}.")
    steps_to_target("portfolio", "Portfolio", "UCRP", u0, settings["target_margin"], settings["episode_days"],
                    portfolio_curves)

# ---- Portfolio: test split (2007, 2008 crash), training and held-out tasks ----
out.append("### Portfolio: test-split return (mean of the two 30-day windows), after training\n")
test = {m: [load_json(f"portfolio/{m}-{s}-test.json") for s in seeds] for m in methods}
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
fl_curves = None
if settings.get("meta_fl"):
    fl_curves = curves_of("meta_fl")
    learning_curve("meta_fl", "Meta-FL", "10 × test-accuracy gain over an FL episode", fl_curves)
    tune = load_json("meta_fl/baselines-tune.json")
    if tune:
        name = settings["fl_target_baseline"]
        out.append("\nFixed rules on t0, same episodes: " +
                   ", ".join(f"{b} {v['t0']:.3f}" for b, v in tune["baselines"].items()) + ".")
        steps_to_target("meta_fl", "Meta-FL", name, tune["baselines"][name]["t0"], settings["fl_target_margin"],
                        settings["fl_rounds"], fl_curves)
    out.append("### Meta-FL: test accuracy gain on held-out corruption mixes, after training\n")
    out.append("Return = 10 × (final − initial test accuracy) over an episode of FL rounds; mean ± sd over seeds for "
               "the learned policies; the fixed rules are deterministic given the task.\n")
    runs = {m: [load_json(f"meta_fl/{m}-{s}-test.json") for s in seeds] for m in methods}
    base = load_json("meta_fl/baselines-test.json")
    first = runs[methods[0]][0]["returns"]
    holdouts = sorted(k for k in first if k.startswith("h"))
    names = list(base["baselines"].keys()) if base else []
    out.append("| task | " + " | ".join(methods + names) + " |")
    out.append("|---|" + "---|" * (len(methods) + len(names)))
    for h in holdouts + ["mean (held out)", "mean (training tasks)"]:
        def pick(returns):
            if h.startswith("mean (held"):
                return statistics.mean(returns[k] for k in holdouts)
            if h.startswith("mean (training"):
                return statistics.mean(v for k, v in returns.items() if k.startswith("t"))
            return returns[h]
        row = [fmt(*mean_sd([pick(r["returns"]) for r in runs[m]]), 3) for m in methods]
        row += [f"{pick(base['baselines'][b]):.3f}" for b in names]
        out.append(f"| {h} | " + " | ".join(row) + " |")
    out.append("")

with open(os.path.join(data, "report.md"), "w") as f:
    f.write("\n".join(out) + "\n")
print("\n".join(out))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def plot(curves, baseline, ylabel, path):
        steps = [p["step"] for p in curves[methods[0]][0]]
        fig, ax = plt.subplots(figsize=(7, 4))
        for m in methods:
            ms = [mean_sd([c[i]["eval"]["t0"] for c in curves[m]]) for i in range(len(steps))]
            mu = [x[0] for x in ms]
            sd = [x[1] for x in ms]
            ax.plot(steps, mu, label=m)
            ax.fill_between(steps, [a - b for a, b in zip(mu, sd)], [a + b for a, b in zip(mu, sd)], alpha=0.2)
        if baseline:
            ax.axhline(baseline[1], color="k", ls="--", lw=1, label=baseline[0])
        ax.set_xlabel("environment steps (all tasks)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(data, path), dpi=110)

    plot(portfolio_curves, ("UCRP", uniform["baselines"]["uniform"]["t0"]) if uniform else None,
         "tuning return on t0", "portfolio_curves.png")
    if fl_curves:
        tune = load_json("meta_fl/baselines-tune.json")
        name = settings["fl_target_baseline"]
        plot(fl_curves, (name, tune["baselines"][name]["t0"]) if tune else None, "tuning gain on t0 (meta-FL)",
             "meta_fl_curves.png")
except ImportError:
    pass
