"""Baselines for bench/ot_bench.sh on loom's .otb instances, listed by the
manifest lines of bench_ot's output: POT 0.8.2's ot.emd and ot.sinkhorn
(Debian python3-pot), scipy's HiGHS on the order-constrained LP
(python3-scipy), and the reference's ADMM in numpy (IBM/otoc's iteration,
rewritten here, not copied).

    /usr/bin/python3 bench/ot_baseline.py OUT_DIR/results.jsonl OUT_DIR

Every import and a warm-up call of each solver happen before any timer
starts: the timers cover the solve only (for HiGHS, building its sparse
constraint matrices and linprog, the same scope as loom's Clp LP).
"""
import json, struct, sys, time

import numpy as np
import ot
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, vstack


def read_otb(path):
    raw = open(path, "rb").read()
    assert raw[:8] == b"LOOMOT01"
    m, n, k = struct.unpack("<3Q", raw[8:32])
    off = 32
    a = np.frombuffer(raw, np.float64, m, off).copy(); off += 8 * m
    b = np.frombuffer(raw, np.float64, n, off).copy(); off += 8 * n
    C = np.frombuffer(raw, np.float64, m * n, off).reshape(m, n).copy(); off += 8 * m * n
    order = np.frombuffer(raw, np.int64, 2 * k, off).reshape(k, 2)
    return a, b, C, [tuple(int(v) for v in x) for x in order]


def oc_lp_highs(a, b, C, order):
    m, n = C.shape
    idx = np.arange(m * n).reshape(m, n)
    rows = coo_matrix((np.ones(m * n), (np.repeat(np.arange(m), n), idx.ravel())), shape=(m, m * n))
    cols = coo_matrix((np.ones(m * n), (np.tile(np.arange(n), m), idx.ravel())), shape=(n, m * n))
    cells = [i * n + j for i, j in order]
    others = np.setdiff1d(np.arange(m * n), cells)
    ub = []  # X[other] - X[last] <= 0 and X[k+1] - X[k] <= 0
    r = np.arange(len(others))
    ub.append(coo_matrix((np.r_[np.ones(len(others)), -np.ones(len(others))],
                          (np.r_[r, r], np.r_[others, np.full(len(others), cells[-1])])), shape=(len(others), m * n)))
    for k in range(len(cells) - 1):
        ub.append(coo_matrix(([1.0, -1.0], ([0, 0], [cells[k + 1], cells[k]])), shape=(1, m * n)))
    res = linprog(C.ravel(), A_ub=vstack(ub), b_ub=np.zeros(sum(x.shape[0] for x in ub)),
                  A_eq=vstack([rows, cols]), b_eq=np.r_[a, b], bounds=(0, None), method="highs")
    X = res.x.reshape(m, n)
    return float(res.fun), res.nit, X, "optimal" if res.status == 0 else res.message


def project_order(w, cells):
    """The reference's Z-step projection: pool-adjacent-violators on the chain
    (first cell the largest), the last block also pooling every other entry
    above its level, found on a full descending sort of the other entries
    each call (the reference's O(mn log mn) step)."""
    chain = w[cells].copy()
    others = np.delete(w, cells)
    srt = np.sort(others)[::-1]
    csum = np.cumsum(srt)
    counts = np.arange(1, len(srt) + 1)

    def tail_level(s, c):
        levels = (s + csum) / (c + counts)      # the level after pooling the j largest
        before = np.r_[s / c, levels[:-1]]      # the level each entry is compared with
        stop = np.flatnonzero(srt <= before)
        return before[stop[0]] if len(stop) else levels[-1]

    blocks = []  # [sum, count, first]
    for k in range(len(cells)):
        blocks.append([chain[k], 1, k])
        tail = k == len(cells) - 1
        while len(blocks) > 1:
            last = tail_level(blocks[-1][0], blocks[-1][1]) if tail else blocks[-1][0] / blocks[-1][1]
            if blocks[-2][0] / blocks[-2][1] >= last:
                break
            blocks[-2][0] += blocks[-1][0]
            blocks[-2][1] += blocks[-1][1]
            blocks.pop()
    out = np.minimum(w, tail_level(blocks[-1][0], blocks[-1][1]))  # the tail level caps the others
    for bi, (s, c, first) in enumerate(blocks):
        tail = bi == len(blocks) - 1
        end = len(cells) if tail else blocks[bi + 1][2]
        out[cells[first:end]] = tail_level(s, c) if tail else s / c
    return out


def oc_admm_numpy(a, b, C_raw, order, rho=1.0, tol=1e-4, max_iter=10000):
    """The reference's ADMM: rho = 1, start a b^T / total with U = 0, stop on
    max(||X - Z||_F, rho ||Z - Z_prev||_F) <= 1e-4 or 10,000 iterations.
    Setting fair to it: the costs are divided by their largest magnitude,
    the scale its rho = 1 was meant for (on the raw costs in [0, 10) it
    collapses to the zero plan at 200 x 200); the objective is reported on
    the raw costs."""
    C = C_raw / max(np.abs(C_raw).max(), 1e-300)
    m, n = C.shape
    cells = [i * n + j for i, j in order]
    Z = np.outer(a, b) / a.sum(); U = np.zeros_like(Z)
    status = "max_iterations"
    for it in range(1, max_iter + 1):
        Y = Z - U - C / rho
        r = (a - Y.sum(1)) / n
        c = (b - Y.sum(0) - r.sum()) / m
        X = Y + r[:, None] + c[None, :]
        Zp = Z
        Z = np.maximum(0, project_order((X + U).ravel(), cells).reshape(m, n))
        U = U + X - Z
        if max(np.linalg.norm(X - Z), rho * np.linalg.norm(Z - Zp)) <= tol:
            status = "converged (reference rule)"
            break
    return float((C_raw * Z).sum()), it, Z, status


def marginal_error(a, b, X):
    return float(max(np.abs(X.sum(1) - a).max(), np.abs(X.sum(0) - b).max()))


def emd(a, b, C):
    X, log = ot.emd(a, b, C, numItermax=100_000_000, log=True)
    return float((X * C).sum()), None, X, log["warning"] or "optimal"


def sinkhorn(a, b, C):
    # POT's own rule and threshold: L2 norm of the column error < 1e-9,
    # checked after iterations 1, 11, 21, ...; the same in loom's run.
    X, log = ot.sinkhorn(a, b, C, 0.05, numItermax=100000, stopThr=1e-9, log=True, warn=False)
    return float((X * C).sum()), int(log["niter"]) + 1, X, "converged" if log["err"][-1] < 1e-9 else "max_iterations"


SOLVERS = {"emd": emd, "sinkhorn": sinkhorn, "oc_lp_highs": oc_lp_highs, "oc_admm_numpy": oc_admm_numpy}


def warm_up():
    a = np.full(3, 1 / 3); C = np.arange(9.0).reshape(3, 3)
    emd(a, a, C); sinkhorn(a, a, C); oc_lp_highs(a, a, C, [(0, 2)]); oc_admm_numpy(a, a, C, [(0, 2)], max_iter=3)


def main(results, out_dir):
    warm_up()
    for line in open(results):
        row = json.loads(line)
        if "manifest" not in row:
            continue
        a, b, C, order = read_otb(f"{out_dir}/{row['manifest']}.otb")
        for name in row["runs"]:
            t = time.perf_counter()
            cost, iters, X, status = SOLVERS[name](a, b, C, order) if order else SOLVERS[name](a, b, C)
            seconds = time.perf_counter() - t
            print(json.dumps({"impl": "python", "solver": name, "id": row["manifest"], "family": row["family"],
                              "m": row["m"], "n": row["n"], "K": row["K"], "seed": row["seed"], "seconds": seconds,
                              "cost": cost, "iterations": iters, "status": status,
                              "marginal_error": marginal_error(a, b, X)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
