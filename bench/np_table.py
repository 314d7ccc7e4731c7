#!/usr/bin/env python3
"""docs/np.md's tables from bench/np_bench.sh's results directory.

  np_table.py RESULTS_DIR

Each row is one method, mean ± sd over the seeds (population sd of the
per-seed values); each paper claim is judged on per-seed paired differences:
"holds" when the mean difference is positive and larger than its sd,
"does not hold" when it is negative and larger than its sd, "tie" otherwise.
"""
import glob
import json
import math
import os
import statistics
import sys

root = sys.argv[1]


def load(prefix):
    runs = []
    for path in sorted(glob.glob(os.path.join(root, prefix + "-s*.json"))):
        runs.append(json.load(open(path)))
    return runs


def values(runs, method, key):
    if any(method not in r["methods"] for r in runs):
        raise KeyError(method)
    out = []
    for r in runs:
        m = r["methods"][method]
        if key.startswith("window"):
            k = int(key[-1])
            rewards = m["episode_rewards"]
            out.append(math.expm1(rewards[k]) if r["env"] == "portfolio" else rewards[k])
        else:
            out.append(m[key])
    return out


def fmt(xs, scale=1.0, digits=2):
    xs = [x * scale for x in xs]
    mean = statistics.fmean(xs)
    sd = statistics.pstdev(xs) if len(xs) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def table(rows, columns):
    head = "| method | " + " | ".join(c[0] for c in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 1)]
    for label, runs, method in rows:
        if not runs or any(method not in r["methods"] for r in runs):
            continue  # not run, or timed out
        cells = [fmt(values(runs, method, key), scale, digits) for _, key, scale, digits in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


portfolio_columns = [
    ("return % (mean of windows)", "cumulative_return", 100, 2),
    ("window 1 (Jul 2007) %", "window0", 100, 2),
    ("window 2 (Sep 2008) %", "window1", 100, 2),
    ("Sharpe (ann.)", "sharpe", 1, 2),
    ("CVaR95 daily loss %", "cvar95", 100, 2),
    ("violation rate", "violation_rate", 1, 3),
    ("decision ms", "decision_seconds", 1000, 1),
]
bike_columns = [
    ("reward per day", "total_reward", 1, 4),
    ("violation rate", "violation_rate", 1, 3),
    ("decision ms", "decision_seconds", 1000, 1),
]

free, free_weak = load("free-ddpg"), load("free-weak")
liq, liq_weak, liq_ppo, liq_cvar = load("liq-ddpg"), load("liq-weak"), load("liq-ppo"), load("liq-cvar")
bikes = load("bikes")
seeds = len(free)


def paired(a_runs, a_method, b_runs, b_method, key):
    if not a_runs or not b_runs or any(a_method not in r["methods"] for r in a_runs) or \
            any(b_method not in r["methods"] for r in b_runs):
        return float("nan"), float("nan"), "not measured (a run is missing or timed out)"
    d = [x - y for x, y in zip(values(a_runs, a_method, key), values(b_runs, b_method, key))]
    mean = statistics.fmean(d)
    sd = statistics.pstdev(d) if len(d) > 1 else 0.0
    verdict = "holds" if mean > sd and mean > 0 else "does not hold" if mean < -sd and mean < 0 else "tie (inside the spread)"
    if len(d) < 3:
        verdict += f" on {len(d)} seed(s) only: no spread, not settled"
    return mean, sd, verdict


print(f"### Portfolio, no liquidity constraint ({seeds} seeds)\n")
print(table([("DDPG", free, "policy"), ("NP (guided by DDPG)", free, "np"), ("SP (PH, κ = 0)", free, "sp"),
             ("extensive form", free, "ef"), ("uCRP", free, "ucrp"), ("OLMAR", free, "olmar"),
             ("DDPG, weak (half the steps)", free_weak, "policy"), ("NP (guided by the weak DDPG)", free_weak, "np")],
            portfolio_columns))
print(f"\n### Portfolio, liquidity constraint W·x_cash ≥ ξ ({seeds} seeds)\n")
print(table([("DDPG", liq, "policy"), ("DDPG-H", liq, "policy_h"), ("NP (guided by DDPG)", liq, "np"),
             ("NP, CVaR α = 0.95", liq_cvar, "np"), ("SP (PH, κ = 0)", liq, "sp"), ("extensive form", liq, "ef"),
             ("PPO-Lagrangian", liq_ppo, "policy"), ("uCRP", liq, "ucrp"), ("OLMAR", liq, "olmar"),
             ("DDPG, weak", liq_weak, "policy"), ("NP (guided by the weak DDPG)", liq_weak, "np")],
            portfolio_columns))
print(f"\n### Bikes ({len(bikes)} seeds; test days of 12 steps)\n")
print(table([("DDPG", bikes, "policy"), ("NP (guided by DDPG)", bikes, "np"), ("extensive form", bikes, "ef")],
            bike_columns))

print("\n### The paper's claims at our scale\n")
print("| claim | paired difference (mean ± sd over seeds) | verdict |\n|---|---|---|")
claims = []
m, s, v = paired(free, "np", free, "policy", "cumulative_return")
claims.append(("NP beats the policy alone (return, no constraint)", f"{100*m:+.2f} ± {100*s:.2f} %", v))
m, s, v = paired(free, "np", free, "policy", "window1")
claims.append(("... and adapts when the distribution shifts (window 2, the 2008 crash)", f"{100*m:+.2f} ± {100*s:.2f} %", v))
viol = {name: statistics.fmean(values(runs, meth, "violation_rate")) if runs else float("nan") for name, runs, meth in
        [("DDPG", liq, "policy"), ("DDPG-H", liq, "policy_h"), ("NP", liq, "np"), ("PPO-Lagrangian", liq_ppo, "policy"),
         ("uCRP", liq, "ucrp"), ("OLMAR", liq, "olmar")]}
only = all(not math.isnan(x) for x in viol.values()) and viol["NP"] == 0 and viol["DDPG-H"] == 0 and all(viol[k] > 0 for k in ["DDPG", "PPO-Lagrangian", "uCRP", "OLMAR"])
claims.append(("only NP and DDPG-H meet the liquidity constraint",
               "violation rates: " + ", ".join(f"{k} {x:.3f}" for k, x in viol.items()), "holds" if only else "not measured" if any(math.isnan(x) for x in viol.values()) else "does not hold"))
m, s, v = paired(liq, "np", liq, "policy_h", "cumulative_return")
claims.append(("NP earns more than DDPG-H (liquidity on)", f"{100*m:+.2f} ± {100*s:.2f} %", v))
m, s, v = paired(free_weak, "np", free, "policy", "cumulative_return")
claims.append(("NP guided by a weaker policy beats the stronger policy alone", f"{100*m:+.2f} ± {100*s:.2f} %", v))
if bikes:
    m, s, v = paired(bikes, "np", bikes, "policy", "total_reward")
    bounds = statistics.fmean(values(bikes, "np", "violation_rate")) == 0
    claims.append(("bikes: NP improves on the policy", f"{m:+.4f} ± {s:.4f} reward/day", v))
    claims.append(("bikes: NP meets every station bound",
                   f"NP violation rate {statistics.fmean(values(bikes, 'np', 'violation_rate')):.3f}, "
                   f"DDPG {statistics.fmean(values(bikes, 'policy', 'violation_rate')):.3f}",
                   "holds" if bounds else "does not hold"))
for c in claims:
    print(f"| {c[0]} | {c[1]} | {c[2]} |")

lat = []
for n in (1, 2):
    p = os.path.join(root, f"latency-{n}.json")
    if os.path.exists(p):
        lat.append(json.load(open(p)))
if lat:
    print(f"\n### One decision at {lat[0]['action_size'] - 1} assets + cash × {lat[0]['scenarios']} scenarios\n")
    print("| processes | extensive form s | PH (κ = 0) s | PH iterations | converged | residual | gap to EF (rel.) | EF / PH time |")
    print("|---|---|---|---|---|---|---|---|")
    base = None
    for L in lat:
        runs = L["runs"]
        ef = [r["ef_seconds"] for r in runs]
        ph = [r["ph_seconds"] for r in runs]
        base = base or statistics.fmean(ph)
        print(f"| {L['processes']} | {fmt(ef, 1, 3)} | {fmt(ph, 1, 3)} | "
              f"{'/'.join(str(r['ph_iterations']) for r in runs)} | {'/'.join('yes' if r['ph_converged'] else 'no' for r in runs)} | "
              f"{max(r['ph_residual'] for r in runs):.1e} | {max(abs(r['relative_gap']) for r in runs):.1e} | "
              f"{statistics.fmean(ef) / statistics.fmean(ph):.2f} |")
    if len(lat) == 2:
        print(f"\nSpeed-up of 2 processes over 1 (PH): {statistics.fmean(r['ph_seconds'] for r in lat[0]['runs']) / statistics.fmean(r['ph_seconds'] for r in lat[1]['runs']):.2f}×")
