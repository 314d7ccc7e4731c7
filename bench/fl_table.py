"""Tables for docs/fl.md from bench/fl_grid.sh's runs: per setting (corruption,
bad fraction, Dirichlet α) and aggregator, the final test accuracy and the
area under the accuracy curve (mean accuracy over rounds), each as mean ± sample
standard deviation over seeds; robust baselines at their defaults and, marked *,
at the setting that fits the true bad count. A win of the Bayesian family is
counted only when its best mean beats the best other mean by more than the
larger of the two standard deviations; otherwise it is a tie (or a loss).
Usage: fl_table.py RUN_DIR"""
import glob, json, os, re, statistics, sys
from collections import defaultdict

acc, auc, det, seeds = defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(set)
order, rounds = [], None
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "results.json"))):
    kind = re.search(r"-(main|tuned)$", os.path.dirname(f)).group(1)
    r = json.load(open(f))
    rounds = r["rounds"]
    setting = (r["corruption"], r["bad_fraction"], r["dirichlet_alpha"])
    for a, x in r["aggregators"].items():
        name = a + ("*" if kind == "tuned" else "")
        if name not in order:
            order.append(name)
        acc[(setting, name)].append(x["accuracy"][-1])
        auc[(setting, name)].append(statistics.mean(x["accuracy"]))
        seeds[(setting, name)].add(r["seed"])
        if r["bad_fraction"] > 0:
            d = x["detection"][-1]
            det[(setting, name)].append((d["precision"], d["recall"]))
if not acc:
    sys.exit("no runs found")
settings = sorted({k[0] for k in acc}, key=lambda s: (s[0] != "none", s[0], s[1], s[2]))
# Only settings every seed finished (main and tuned runs) enter the tables.
full = max(len(v) for v in seeds.values())
dropped = [s for s in settings if any(len(seeds[(s, a)]) < full for a in order if seeds[(s, a)]) or
           not all(seeds[(s, a)] for a in order if not (s[0] == "none" and a.endswith("*")))]
settings = [s for s in settings if s not in dropped]
base = [a for a in order if not a.endswith("*")]
tuned = [a for a in order if a.endswith("*")]
names = []
for a in base:  # each tuned variant right below its default
    names.append(a)
    names += [t for t in tuned if t[:-1] == a]
bayes = [a for a in names if a.startswith("bayes")]
others = [a for a in names if not a.startswith("bayes") and a != "fltrust"]
mean_sd = lambda v: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
header = "| aggregator | " + " | ".join(f"{c} {f:g}, α={a:g}" for c, f, a in settings) + " |"
n_seeds = full
if dropped:
    print("Left out (not every seed finished): " + ", ".join(f"{c} {f:g} α={al:g}" for c, f, al in dropped) + ".")


def table(values, title):
    print(f"\n**{title}** ({n_seeds} seeds, mean ± std; best mean per column in bold)\n")
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
            cell = f"{m:.3f} ± {sd:.3f}"
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
print("| setting | best Bayesian | best other | difference | verdict | fltrust (reference set) |")
print("|---|---|---|---|---|---|")
tally = defaultdict(int)
for s in settings:
    b = max(bayes, key=lambda a: mean_sd(acc[(s, a)])[0])
    o = max(others, key=lambda a: mean_sd(acc[(s, a)])[0] if acc[(s, a)] else -1)
    (mb, sb), (mo, so) = mean_sd(acc[(s, b)]), mean_sd(acc[(s, o)])
    spread = max(sb, so)
    verdict = "win" if mb - mo > spread else "loss" if mo - mb > spread else "tie"
    tally[verdict] += 1
    ft = f"{mean_sd(acc[(s, 'fltrust')])[0]:.3f}" if acc[(s, "fltrust")] else "–"
    print(f"| {s[0]} {s[1]:g}, α={s[2]:g} | {b} {mb:.3f} ± {sb:.3f} | {o} {mo:.3f} ± {so:.3f} | "
          f"{mb - mo:+.3f} | {verdict} | {ft} |")
print(f"\nBayesian family: {tally['win']} wins, {tally['tie']} ties, {tally['loss']} losses in {len(settings)} settings.")

clean = [s for s in settings if s[0] == "none"]
if clean:
    s = clean[0]
    runs = [json.load(open(f)) for f in glob.glob(os.path.join(sys.argv[1], f"none-0-a{s[2]:g}-s*-main", "results.json"))]
    curve = [statistics.mean(r["aggregators"]["fedavg"]["accuracy"][i] for r in runs) for i in range(rounds)]
    marks = sorted({max(0, rounds // 2 - 1), max(0, 3 * rounds // 4 - 1), rounds - 1})
    print("\nPlateau check, clean FedAvg (mean over seeds): " +
          ", ".join(f"round {i + 1}: {curve[i]:.3f}" for i in marks) + ".")
