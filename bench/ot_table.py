"""Turns bench/ot_bench.sh's JSON lines into the docs' tables and plot.

    /usr/bin/python3 bench/ot_table.py build/bench-ot/results.jsonl docs/ot-time.png

Each cell is the median over the seeds with [min-max]; speed-ups are the
median of the per-seed ratios (same instance, same run) with their range.
"""
import json, statistics, subprocess, sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in rows if "impl" in r]
by = {}
for r in runs:
    key = (r["impl"], r["solver"], r["id"]) + ((r["level_tolerance"],) if "level_tolerance" in r else ())
    by[key] = r
ids = defaultdict(list)  # (family, n, K) -> instance ids, by seed
for r in rows:
    if "manifest" in r:
        ids[(r["family"], r["n"], r["K"])].append(r["manifest"])


def spread(values, fmt):
    values = sorted(values)
    if not values:
        return "-"
    med = statistics.median(values)
    return f"{fmt(med)} [{fmt(values[0])}-{fmt(values[-1])}]" if len(values) > 1 else fmt(med)


sec = lambda x: f"{x:.4f}" if x < 10 else f"{x:.1f}"
ratio = lambda x: f"{x:.1f}x" if x < 100 else f"{x:.0f}x"
sci = lambda x: f"{x:.1e}"
count = lambda x: f"{x:.0f}"


def pair_table(title, loom_solver, base_solver, base_name, family, K, extra=None):
    print(f"\n{title}\n")
    head = f"| n | loom s | {base_name} s | speed-up | max abs objective difference |"
    cols = "|---|---|---|---|---|"
    if extra:
        head += "".join(f" {h} |" for h, _ in extra)
        cols += "---|" * len(extra)
    print(head)
    print(cols)
    for (fam, n, k), members in sorted(ids.items()):
        if fam != family or k != K:
            continue
        pairs = [(by.get(("loom", loom_solver, i)), by.get(("python", base_solver, i))) for i in members]
        pairs = [(l, p) for l, p in pairs if l and p]
        if not pairs:
            continue
        line = (f"| {n} | {spread([l['seconds'] for l, _ in pairs], sec)} | {spread([p['seconds'] for _, p in pairs], sec)}"
                f" | {spread([p['seconds'] / l['seconds'] for l, p in pairs], ratio)}"
                f" | {sci(max(abs(l['cost'] - p['cost']) for l, p in pairs))} |")
        for _, f in extra or []:
            line += f" {f(pairs)} |"
        print(line)


print("Threads: " + sys.argv[3] if len(sys.argv) > 3 else "")
pair_table("**Exact OT**: loom `emd` (own network simplex) vs POT `ot.emd`", "emd", "emd", "POT", "points", 0,
           [("loom pivots", lambda ps: spread([l["iterations"] for l, _ in ps], count))])
pair_table("**Sinkhorn**, reg 0.05, POT's rule (L2 column error < 1e-9): loom vs POT `ot.sinkhorn`", "sinkhorn",
           "sinkhorn", "POT", "points", 0,
           [("iterations loom / POT", lambda ps: spread([l["iterations"] for l, _ in ps], count) + " / " +
             spread([p["iterations"] for _, p in ps], count)),
            ("status", lambda ps: ", ".join(sorted({l["status"] for l, _ in ps} | {p["status"] for _, p in ps})))])
for K in (1, 3):
    pair_table(f"**Order-constrained exact, K = {K}**: loom flow (cutting planes + network simplex) vs scipy HiGHS",
               "oc_flow", "oc_lp_highs", "HiGHS", "points", K,
               [("loom flow solves", lambda ps: spread([l["iterations"] for l, _ in ps], count)),
                ("Clp LP s", lambda ps: spread([by[("loom", "oc_lp_clp", l["id"])]["seconds"] for l, _ in ps], sec)),
                ("Clp vs HiGHS", lambda ps: spread([p["seconds"] / by[("loom", "oc_lp_clp", l["id"])]["seconds"]
                                                    for l, p in ps], ratio))])

levels = sorted({r["level_tolerance"] for r in runs if "level_tolerance" in r}, reverse=True)
default_level = min(levels) if levels else None
print("\n**Order-constrained ADMM** (the issue's instances): the reference's numpy ADMM (rho 1, 10,000 iterations) vs "
      "loom's ADMM. Relative error against the exact optimum (loom flow).\n")
print("| n | K | reference s | reference status | reference marginal error | reference relative error "
      "| loom s to the reference's accuracy | speed-up there | loom s to converge | loom iterations "
      "| loom marginal error | loom relative error | speed-up, converged vs reference |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (fam, n, K), members in sorted(ids.items()):
    if fam != "issue":
        continue
    ref, matched, conv, exact = [], [], [], []
    for i in members:
        p = by.get(("python", "oc_admm_numpy", i))
        x = by.get(("loom", "oc_flow", i))
        if not p or not x:
            continue
        rel_p = abs(p["cost"] - x["cost"]) / x["cost"]
        # The loosest certified level at least as accurate as the reference got
        # (marginals and objective); the default level is the tightest.
        level = next((t for t in levels if t <= p["marginal_error"] and
                      by[("loom", "oc_admm", i, t)]["level_gap"] <= rel_p), default_level)
        ref.append((p, rel_p))
        matched.append((by[("loom", "oc_admm", i, level)], p))
        conv.append(by[("loom", "oc_admm", i, default_level)])
    if not ref:
        continue
    statuses = sorted({p["status"] for p, _ in ref})
    cstat = sorted({c["status"] for c in conv})
    print(f"| {n} | {K} | {spread([p['seconds'] for p, _ in ref], sec)} | {', '.join(statuses)} "
          f"| {spread([p['marginal_error'] for p, _ in ref], sci)} | {spread([r for _, r in ref], sci)} "
          f"| {spread([l['seconds'] for l, _ in matched], sec)} | {spread([p['seconds'] / l['seconds'] for l, p in matched], ratio)} "
          f"| {spread([c['seconds'] for c in conv], sec)} ({', '.join(cstat)}) | {spread([c['iterations'] for c in conv], count)} "
          f"| {spread([c['marginal_error'] for c in conv], sci)} | {spread([abs(c['relative_error']) for c in conv], sci)} "
          f"| {spread([p['seconds'] / c['seconds'] for c, (p, _) in zip(conv, ref)], ratio)} |")

if len(sys.argv) > 2:
    series = defaultdict(dict)
    names = {("loom", "emd"): "loom emd", ("python", "emd"): "POT emd", ("loom", "sinkhorn"): "loom sinkhorn",
             ("python", "sinkhorn"): "POT sinkhorn", ("loom", "oc_flow"): "loom exact K=3 (flow)",
             ("python", "oc_lp_highs"): "HiGHS K=3", ("loom", "oc_lp_clp"): "loom Clp LP K=3"}
    for r in runs:
        name = names.get((r["impl"], r["solver"]))
        if not name or r["family"] != "points" or (r["K"] not in (0, 3)) or ("K=3" in name) != (r["K"] == 3):
            continue
        series[name].setdefault(r["n"], []).append(r["seconds"])
    script = ["set terminal pngcairo size 900,600", f"set output '{sys.argv[2]}'", "set logscale xy",
              "set xrange [80:2500]", "set xlabel 'n (m = n)'", "set ylabel 'seconds (median of 3 seeds)'", "set key left top", "set grid"]
    plots, data = [], []
    for name, pts in sorted(series.items()):
        plots.append(f"'-' with linespoints title '{name}'")
        data.append("\n".join(f"{n} {statistics.median(s)}" for n, s in sorted(pts.items())) + "\ne")
    script.append("plot " + ", ".join(plots))
    subprocess.run(["gnuplot"], input="\n".join(script + data) + "\n", text=True, check=True)
