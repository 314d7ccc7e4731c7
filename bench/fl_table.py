"""Tables for docs/fl.md from bench/fl_grid.sh's runs: final test accuracy
(mean over seeds) per aggregator x corruption x bad fraction, per non-IID
level, and the detection precision/recall of the inferred weights.
Usage: fl_table.py RUN_DIR"""
import glob, json, os, statistics, sys
from collections import defaultdict

runs = [json.load(open(f)) for f in glob.glob(os.path.join(sys.argv[1], "*", "results.json"))]
acc = defaultdict(list)
det = defaultdict(list)
aggs = None
for r in runs:
    aggs = aggs or list(r["aggregators"])
    for a, x in r["aggregators"].items():
        key = (r["dirichlet_alpha"], r["corruption"], r["bad_fraction"], a)
        acc[key].append(x["accuracy"][-1])
        if r["bad_fraction"] > 0:
            d = x["detection"][-1]
            det[(r["corruption"], r["bad_fraction"], a)].append((d["precision"], d["recall"]))
if not runs:
    sys.exit("no runs found")
cases = sorted({(k[1], k[2]) for k in acc}, key=lambda c: (c[0] != "none", c[0], c[1]))
for alpha in sorted({k[0] for k in acc}):
    print(f"\n**Dirichlet α = {alpha:g}** — final test accuracy after 8 rounds (mean of seeds; best per row in bold)\n")
    print("| corruption | bad | " + " | ".join(aggs) + " |")
    print("|---|---|" + "---|" * len(aggs))
    for c, f in cases:
        vals = [statistics.mean(acc[(alpha, c, f, a)]) if acc[(alpha, c, f, a)] else float("nan") for a in aggs]
        best = max(vals)
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in vals]
        print(f"| {c} | {f:g} | " + " | ".join(cells) + " |")
print("\n**Detection** — precision / recall of parties whose final weight is below half of 1/K, against the true bad set (both α and seeds pooled)\n")
print("| corruption | bad | " + " | ".join(aggs) + " |")
print("|---|---|" + "---|" * len(aggs))
for c, f in cases:
    if f == 0:
        continue
    cells = []
    for a in aggs:
        v = det[(c, f, a)]
        cells.append(f"{statistics.mean(p for p, _ in v):.2f} / {statistics.mean(q for _, q in v):.2f}" if v else "–")
    print(f"| {c} | {f:g} | " + " | ".join(cells) + " |")
# Where Bayesian aggregation wins: share of cases in which the best Bayesian
# variant beats the best standard/robust aggregator.
bayes = [a for a in aggs if a.startswith("bayes")]
other = [a for a in aggs if not a.startswith("bayes")]
wins = total = 0
for alpha in sorted({k[0] for k in acc}):
    for c, f in cases:
        b = max(statistics.mean(acc[(alpha, c, f, a)]) for a in bayes)
        o = max(statistics.mean(acc[(alpha, c, f, a)]) for a in other)
        total += 1
        wins += b > o
print(f"\nBest Bayesian variant beats the best non-Bayesian aggregator in {wins} of {total} settings.")
