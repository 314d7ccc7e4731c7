"""Tables for docs/fl.md from bench/fl_grid.sh's runs: per setting (corruption,
bad fraction, Dirichlet α) and aggregator, the final test accuracy and the
area under the accuracy curve (mean accuracy over rounds), each as mean ± sample
standard deviation over seeds; robust baselines at their defaults and, marked *,
at the setting that fits the true bad count. A win of the Bayesian family is
counted only when its best mean beats the best other mean by more than the
larger of the two standard deviations; otherwise it is a tie (or a loss).
Aggregators with a server reference set (fltrust, zeno) are compared apart.
With PLOT set, also draws clean FedAvg's accuracy curve (mean and range over
seeds) to that PNG file.
Usage: [PLOT=FILE.png] fl_table.py RUN_DIR"""
import glob, json, os, re, statistics, sys
from collections import defaultdict

per_seed = defaultdict(dict)  # (setting, aggregator) -> seed -> (final accuracy, AUC, detection)
order, rounds = [], None
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "results.json"))):
    kind = re.search(r"-(main|ref|tuned|reftuned)$", os.path.dirname(f)).group(1)
    r = json.load(open(f))
    rounds = r["rounds"]
    setting = (r["corruption"], r["bad_fraction"], r["dirichlet_alpha"])
    for a, x in r["aggregators"].items():
        name = a + ("*" if kind in ("tuned", "reftuned") else "")
        if name not in order:
            order.append(name)
        d = x["detection"][-1]
        per_seed[(setting, name)][r["seed"]] = (x["accuracy"][-1], statistics.mean(x["accuracy"]),
                                                (d["precision"], d["recall"]) if r["bad_fraction"] > 0 else None)
if not per_seed:
    sys.exit("no runs found")
settings = sorted({k[0] for k in per_seed}, key=lambda s: (s[0] != "none", s[0], s[1], s[2]))
# A setting enters the tables with the seeds every aggregator of its main
# run finished, and only with 3 or more of them. The extra runs (tuned
# baselines, Zeno) fill their rows with the seeds of those they finished,
# when 3 or more; a cell over fewer seeds than its column says n.
extra_run = lambda a: a.endswith("*") or a == "zeno"
main_names = lambda s: [a for a in order if per_seed[(s, a)] and not extra_run(a)]
common = {s: set.intersection(*(set(per_seed[(s, a)]) for a in main_names(s))) for s in settings}
dropped = [s for s in settings if len(common[s]) < 3]
settings = [s for s in settings if s not in dropped]
for s in settings:
    for a in order:
        if extra_run(a) and len(common[s] & set(per_seed[(s, a)])) < 3:
            per_seed[(s, a)] = {}
acc, auc, det = defaultdict(list), defaultdict(list), defaultdict(list)
for s in settings:
    for a in order:
        for seed in sorted(common[s]):
            if seed in per_seed[(s, a)]:
                v = per_seed[(s, a)][seed]
                acc[(s, a)].append(v[0])
                auc[(s, a)].append(v[1])
                if v[2] is not None:
                    det[(s, a)].append(v[2])
base = [a for a in order if not a.endswith("*")]
tuned = [a for a in order if a.endswith("*")]
names = []
for a in base:  # each tuned variant right below its default
    names.append(a)
    names += [t for t in tuned if t[:-1] == a]
bayes = [a for a in names if a.startswith("bayes")]
with_reference = [a for a in names if a.rstrip("*") in ("fltrust", "zeno")]
others = [a for a in names if not a.startswith("bayes") and a not in with_reference]
mean_sd = lambda v: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
header = "| aggregator | " + " | ".join(f"{s[0]} {s[1]:g}, α={s[2]:g} (n={len(common[s])})" for s in settings) + " |"
if dropped:
    print("Left out (fewer than 3 seeds finished by every aggregator): " +
          ", ".join(f"{c} {f:g} α={al:g}" for c, f, al in dropped) + ".")


def table(values, title):
    print(f"\n**{title}** (n seeds per column, mean ± std; best mean per column in bold)\n")
    print(header)
    print("|---|" + "---|" * len(settings))
    best = {s: max(mean_sd(values[(s, a)])[0] for a in names if values[(s, a)]) for s in settings}
    for a in names:
        cells = []
        for s in settings:
            v = values[(s, a)]
            if not v:
                cells.append("–")
                continue
            m, sd = mean_sd(v)
            cell = f"{m:.3f} ± {sd:.3f}" + (f" (n={len(v)})" if len(v) < len(common[s]) else "")
            cells.append(f"**{cell}**" if m == best[s] else cell)
        print(f"| {a} | " + " | ".join(cells) + " |")


table(acc, f"Final test accuracy after {rounds} rounds")
table(auc, f"Area under the accuracy curve (mean accuracy over the {rounds} rounds)")

print("\n**Detection** — precision / recall at the last round of parties whose weight is below half of 1/K (mean over seeds)\n")
print(header)
print("|---|" + "---|" * len(settings))
for a in names:
    cells = []
    for s in settings:
        v = det[(s, a)]
        cells.append(f"{statistics.mean(p for p, _ in v):.2f} / {statistics.mean(q for _, q in v):.2f}" if v else "–")
    print(f"| {a} | " + " | ".join(cells) + " |")

print("\n**Best Bayesian variant vs the best aggregator without a reference set** (final accuracy; "
      "a win or loss needs a difference above the larger std)\n")
print("| setting | best Bayesian | best other | difference | verdict | " +
      " | ".join(f"{a} (reference set)" for a in with_reference) + " |")
print("|---|---|---|---|---|" + "---|" * len(with_reference))
tally = defaultdict(int)
for s in settings:
    b = max(bayes, key=lambda a: mean_sd(acc[(s, a)])[0])
    o = max(others, key=lambda a: mean_sd(acc[(s, a)])[0] if acc[(s, a)] else -1)
    (mb, sb), (mo, so) = mean_sd(acc[(s, b)]), mean_sd(acc[(s, o)])
    spread = max(sb, so)
    verdict = "win" if mb - mo > spread else "loss" if mo - mb > spread else "tie"
    tally[verdict] += 1
    refs = " | ".join("%.3f ± %.3f" % mean_sd(acc[(s, a)]) if acc[(s, a)] else "–" for a in with_reference)
    print(f"| {s[0]} {s[1]:g}, α={s[2]:g} | {b} {mb:.3f} ± {sb:.3f} | {o} {mo:.3f} ± {so:.3f} | "
          f"{mb - mo:+.3f} | {verdict} | {refs} |")
print(f"\nBayesian family: {tally['win']} wins, {tally['tie']} ties, {tally['loss']} losses in {len(settings)} settings.")

clean = sorted({k[0] for k in per_seed if k[0][0] == "none"})
if clean:
    s = clean[0]
    runs = [json.load(open(f)) for f in glob.glob(os.path.join(sys.argv[1], f"none-0-a{s[2]:g}-s*-main", "results.json"))]
    curve = [statistics.mean(r["aggregators"]["fedavg"]["accuracy"][i] for r in runs) for i in range(rounds)]
    marks = sorted({0, *range(4, rounds, 5), rounds - 1})
    print("\nClean FedAvg's curve (mean over seeds, α = %g): " % s[2] +
          ", ".join(f"round {i + 1}: {curve[i]:.3f}" for i in marks) + ".")
    if os.environ.get("PLOT"):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        x = range(1, rounds + 1)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name in ("fedavg", "bayes", "multi_krum"):
            per = [[r["aggregators"][name]["accuracy"][i] for r in runs] for i in range(rounds)]
            ax.plot(x, [statistics.mean(v) for v in per], label=name)
            ax.fill_between(x, [min(v) for v in per], [max(v) for v in per], alpha=0.2)
        ax.set_xlabel("round")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"clean, α = {s[2]:g}: mean and range over {len(runs)} seeds")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.environ["PLOT"], dpi=110)
