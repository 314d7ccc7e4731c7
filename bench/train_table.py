"""The training-throughput table of docs/core.md from bench/train_throughput.sh's
JSON lines: per thread count, the median over runs and the min-max spread of
each quantity; ratios are formed within a run (the processes of one run ran
back to back), then summarised.

    /usr/bin/python3 bench/train_table.py lines.jsonl
"""
import json, statistics, sys
from collections import defaultdict

runs = defaultdict(dict)  # (threads, run) -> side -> result
for line in open(sys.argv[1]):
    row = json.loads(line)
    runs[(row["result"]["threads"], row["run"])][row["side"]] = row["result"]


def cell(values, fmt):
    values = sorted(values)
    return f"{fmt(statistics.median(values))} ({fmt(values[0])}–{fmt(values[-1])})"


print("| threads | runs | loom tok/s | loom unfused tok/s | PyTorch eager tok/s | loom / PyTorch | "
      "loom / unfused | MFU vs 1-thread sgemm peak (unfused) | sgemm peak GFLOP/s | peak RSS MB: loom / unfused / PyTorch |")
print("|---|---|---|---|---|---|---|---|---|---|")
for threads in sorted({t for t, _ in runs}):
    rs = [v for (t, _), v in sorted(runs.items()) if t == threads and len(v) == 3]
    f, u, p = ([r[s] for r in rs] for s in ("fused", "unfused", "pytorch"))
    num = lambda x: f"{x:.0f}"
    two = lambda x: f"{x:.2f}"
    pct = lambda x: f"{100 * x:.0f} %"
    mfu = [x["mfu_vs_threads_x_peak"] for x in f]
    mfu_u = [x["mfu_vs_threads_x_peak"] for x in u]
    print(f"| {threads} | {len(rs)} | {cell([x['tokens_per_s'] for x in f], num)} | "
          f"{cell([x['tokens_per_s'] for x in u], num)} | {cell([x['tokens_per_s'] for x in p], num)} | "
          f"{cell([a['tokens_per_s'] / b['tokens_per_s'] for a, b in zip(f, p)], two)} | "
          f"{cell([a['tokens_per_s'] / b['tokens_per_s'] for a, b in zip(f, u)], two)} | "
          f"{cell(mfu, pct)} ({statistics.median(mfu_u) * 100:.0f} %) | "
          f"{cell([x['sgemm_peak_1thread_gflops'] for x in f], num)} | "
          f"{statistics.median([x['peak_rss_mb'] for x in f]):.0f} / {statistics.median([x['peak_rss_mb'] for x in u]):.0f} / "
          f"{statistics.median([x['peak_rss_mb'] for x in p]):.0f} |")
start = [r["fused"]["rss_start_mb"] for r in runs.values() if "fused" in r]
start_p = [r["pytorch"]["rss_start_mb"] for r in runs.values() if "pytorch" in r]
if start and start_p:
    print(f"\nRSS before the model is built (runtime loaded): loom {statistics.median(start):.0f} MB, "
          f"PyTorch {statistics.median(start_p):.0f} MB.")
