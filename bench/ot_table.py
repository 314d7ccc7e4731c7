"""Turns bench/ot_bench.sh's JSON lines into the docs table and plot."""
import json, subprocess, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["impl"], r["solver"], r["n"]): r for r in rows}
pairs = [("emd", "emd", "exact OT"), ("sinkhorn", "sinkhorn", "Sinkhorn, reg 0.05, tol 1e-9"),
         ("oc_flow", "oc_lp_highs", "order-constrained exact: loom flow vs HiGHS LP"),
         ("oc_lp_clp", "oc_lp_highs", "order-constrained LP: loom+Clp vs HiGHS"),
         ("oc_admm", "oc_admm_numpy", "order-constrained ADMM, tol 1e-4: loom vs numpy")]
print("| problem | n | loom s | baseline s | speed-up | loom objective | baseline objective |")
print("|---|---|---|---|---|---|---|")
for ls, ps, label in pairs:
    for n in sorted({r["n"] for r in rows}):
        l, p = by.get(("loom", ls, n)), by.get(("python", ps, n))
        if l and p:
            print(f"| {label} | {n} | {l['seconds']:.4f} | {p['seconds']:.4f} | {p['seconds']/l['seconds']:.1f}x | "
                  f"{l['cost']:.8f} | {p['cost']:.8f} |")
if len(sys.argv) > 2:
    series = {}
    for r in rows:
        series.setdefault(f"{r['impl']} {r['solver']}", []).append((r["n"], r["seconds"]))
    script = ["set terminal pngcairo size 900,600", f"set output '{sys.argv[2]}'", "set logscale xy",
              "set xlabel 'n (m = n)'", "set ylabel 'seconds'", "set key left top", "set grid"]
    plots, data = [], []
    for name, pts in sorted(series.items()):
        plots.append(f"'-' with linespoints title '{name}'")
        data.append("\n".join(f"{n} {s}" for n, s in sorted(pts)) + "\ne")
    script.append("plot " + ", ".join(plots))
    subprocess.run(["gnuplot"], input="\n".join(script + data) + "\n", text=True, check=True)
