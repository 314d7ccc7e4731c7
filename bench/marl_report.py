#!/usr/bin/env python3
"""Tables and plots for docs/marl.md from bench/marl_experiments.sh's runs.

  marl_report.py DATA_DIR DOC

Rewrites the part of DOC between '<!-- results:begin -->' and
'<!-- results:end -->' and writes the plots beside it (docs/marl-*.png).
"""
import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SHARINGS = ["consensus", "central", "independent"]
ALGOS = ["on_policy", "off_policy"]
ENVS = ["bandit", "resource", "navigation"]


def load(path):
    with open(path) as f:
        return json.load(f)


def mean_std(values):
    if not values:
        return float("nan"), float("nan")
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def runs(data, env, algo, sharing):
    return [load(p) for p in sorted(glob.glob(f"{data}/curves/{env}-{algo}-{sharing}-*/metrics.json"))]


def curve_plot(data, env, docs):
    has_distance = any(r["curve"][-1]["distance"] >= 0 for r in runs(data, env, "on_policy", "consensus"))
    rows = 2 if has_distance else 1
    fig, axes = plt.subplots(rows, 2, figsize=(10, 3.6 * rows), squeeze=False)
    for col, algo in enumerate(ALGOS):
        for sharing in SHARINGS:
            rs = runs(data, env, algo, sharing)
            if not rs:
                continue
            steps = [p["step"] for p in rs[0]["curve"]]
            for row, key in enumerate(["team_reward", "distance"][:rows]):
                series = [[p[key] for p in r["curve"]] for r in rs]
                mean = [statistics.mean(v) for v in zip(*series)]
                std = [statistics.stdev(v) if len(v) > 1 else 0 for v in zip(*series)]
                ax = axes[row][col]
                ax.plot(steps, mean, label=f"{sharing} ({len(rs)} seeds)")
                ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
                ax.set_title(f"{env}, {algo}: {'mean reward of mu' if key == 'team_reward' else 'RMS distance to optimum'}")
                ax.set_xlabel("step")
                if key == "distance":
                    ax.set_yscale("log")
                ax.legend(fontsize=8)
    fig.tight_layout()
    name = f"marl-curves-{env}.png"
    fig.savefig(os.path.join(docs, name), dpi=90)
    plt.close(fig)
    return name


def fmt(m, s, digits=3):
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def main():
    data, doc = sys.argv[1], sys.argv[2]
    docs = os.path.dirname(doc)
    out = []
    out.append("### Final evaluation (mean ± standard deviation over seeds)\n")
    out.append("| environment | algorithm | critics | seeds | mean reward of μ | RMS distance to optimum | consensus error | consensus vs central | consensus vs independent |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    plots = []
    for env in ENVS:
        if not glob.glob(f"{data}/curves/{env}-*"):
            continue
        plots.append(curve_plot(data, env, docs))
        for algo in ALGOS:
            finals = {}
            for sharing in SHARINGS:
                rs = runs(data, env, algo, sharing)
                finals[sharing] = rs
            ref = {}
            for sharing in SHARINGS:
                rs = finals[sharing]
                if not rs:
                    continue
                rew = mean_std([r["curve"][-1]["team_reward"] for r in rs])
                dist_values = [r["curve"][-1]["distance"] for r in rs if r["curve"][-1]["distance"] >= 0]
                dist = mean_std(dist_values)
                cons = mean_std([r["curve"][-1]["consensus_error"] for r in rs])
                ref[sharing] = rew
                verdict_c = verdict_i = ""
                if sharing == "consensus":
                    verdict_c = "__central__"
                    verdict_i = "__independent__"
                out.append(f"| {env} | {algo} | {sharing} | {len(rs)} | {fmt(*rew)} | "
                           f"{fmt(*dist) if dist_values else 'unknown'} | {fmt(*cons, 4)} | {verdict_c} | {verdict_i} |")

            def compare(a, b):
                (ma, sa), (mb, sb) = ref[a], ref[b]
                if abs(ma - mb) <= sa + sb:
                    return "tie (inside spread)"
                return "higher" if ma > mb else "lower"

            if "consensus" in ref:
                out[-3] = out[-3].replace("__central__", compare("consensus", "central") if "central" in ref else "")
                out[-3] = out[-3].replace("__independent__",
                                          compare("consensus", "independent") if "independent" in ref else "")
    out.append("")
    for p in plots:
        out.append(f"![{p}]({p})\n")

    drops = sorted({os.path.basename(p).split("-")[1] for p in glob.glob(f"{data}/drop/drop-*")}, key=float)
    if drops:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        out.append("### Consensus error against the link-drop rate (bandit, 8 agents on a ring, linear actors, on-policy, 3 seeds)\n")
        out.append("| link drop | consensus error at 25% of training | at the end | RMS distance to optimum at the end |")
        out.append("|---|---|---|---|")
        for drop in drops:
            rs = [load(p) for p in sorted(glob.glob(f"{data}/drop/drop-{drop}-*/metrics.json"))]
            steps = [p["step"] for p in rs[0]["curve"]]
            series = [[p["consensus_error"] for p in r["curve"]] for r in rs]
            mean = [statistics.mean(v) for v in zip(*series)]
            ax.plot(steps, mean, label=f"link drop {drop}")
            quarter = len(steps) // 4
            q = mean_std([s[quarter] for s in series])
            end = mean_std([s[-1] for s in series])
            dist = mean_std([r["curve"][-1]["distance"] for r in rs])
            out.append(f"| {drop} | {fmt(*q, 4)} | {fmt(*end, 4)} | {fmt(*dist)} |")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title("spread of the agents' critic parameters")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(docs, "marl-consensus.png"), dpi=90)
        plt.close(fig)
        out.append("\n![marl-consensus.png](marl-consensus.png)\n")

    scaling = sorted(glob.glob(f"{data}/scaling/processes-*/metrics.json"), key=lambda p: int(p.split("-")[-1].split("/")[0]))
    if scaling:
        out.append("### Wall-clock scaling (bandit, neural actors, 3000 steps, training loop only, no other experiment running)\n")
        out.append("| agents | in-process s | one process per agent s | processes / in-process | steps/s (processes) |")
        out.append("|---|---|---|---|---|")
        for p in scaling:
            agents = int(p.split("-")[-1].split("/")[0])
            proc = load(p)
            inproc = load(p.replace("processes-", "in_process-"))
            steps = proc["curve"][-1]["step"]
            out.append(f"| {agents} | {inproc['seconds']:.2f} | {proc['seconds']:.2f} | "
                       f"{proc['seconds'] / inproc['seconds']:.2f} | {steps / proc['seconds']:.0f} |")
        out.append("")

    text = open(doc).read()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin not in text or end not in text:
        sys.exit(f"{doc}: no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(doc + ".tmp", "w") as f:
        f.write(head + begin + "\n" + "\n".join(out) + "\n" + end + tail)
    os.replace(doc + ".tmp", doc)


if __name__ == "__main__":
    main()
