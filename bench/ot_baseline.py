"""Baselines for bench/ot_bench.sh on loom's .otb instances: POT's ot.emd and
ot.sinkhorn (Debian python3-pot), scipy's HiGHS on the order-constrained LP
(python3-scipy), and a straightforward numpy ADMM with the reference
implementation's iteration (IBM/otoc; rewritten here, not copied).

    /usr/bin/python3 bench/ot_baseline.py bench-out/n100.otb
"""
import json, struct, sys, time
import numpy as np


def read_otb(path):
    raw = open(path, "rb").read()
    assert raw[:8] == b"LOOMOT01"
    m, n, k = struct.unpack("<3Q", raw[8:32])
    off = 32
    a = np.frombuffer(raw, np.float64, m, off); off += 8 * m
    b = np.frombuffer(raw, np.float64, n, off); off += 8 * n
    C = np.frombuffer(raw, np.float64, m * n, off).reshape(m, n); off += 8 * m * n
    order = np.frombuffer(raw, np.int64, 2 * k, off).reshape(k, 2)
    return a, b, C, [tuple(x) for x in order]


def oc_lp_highs(a, b, C, order):
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack
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
    return res.fun


def project_order(w, cells):
    # K = 1 pooling on a full sort, as the reference does each iteration.
    (c,) = cells
    rest = np.delete(w, c)
    srt = np.sort(rest)[::-1]
    csum = np.cumsum(srt)
    j = np.arange(1, len(srt) + 1)
    levels = (w[c] + csum) / (j + 1)
    k = np.argmax(~(srt > np.r_[w[c], levels[:-1]]))  # first entry not above the running level
    level = w[c] if k == 0 else levels[k - 1]
    out = w.copy()
    out[out > level] = level
    out[c] = level
    return out


def oc_admm_numpy(a, b, C, order, rho=1.0, tol=1e-4, max_iter=10000):
    m, n = C.shape
    cells = [i * n + j for i, j in order]
    Z = np.outer(a, b) / a.sum(); U = np.zeros_like(Z)
    for it in range(1, max_iter + 1):
        Y = Z - U - C / rho
        r = (a - Y.sum(1)) / n
        c = (b - Y.sum(0) - r.sum()) / m
        X = Y + r[:, None] + c[None, :]
        Zp = Z
        Z = np.maximum(0, project_order((X + U).ravel(), cells).reshape(m, n))
        U = U + X - Z
        if max(np.linalg.norm(X - Z), rho * np.linalg.norm(Z - Zp)) <= tol:
            break
    return float((C * Z).sum()), it


def timed(solver, n, f):
    t = time.time()
    out = f()
    cost, iters = out if isinstance(out, tuple) else (out, None)
    print(json.dumps({"impl": "python", "solver": solver, "n": n, "seconds": time.time() - t,
                      "cost": float(cost), "iterations": iters}), flush=True)


for path in sys.argv[1:]:
    a, b, C, order = read_otb(path)
    n = C.shape[0]
    import ot
    timed("emd", n, lambda: float((ot.emd(a, b, C) * C).sum()))
    timed("sinkhorn", n, lambda: float((ot.sinkhorn(a, b, C, 0.05, numItermax=100000, stopThr=1e-9) * C).sum()))
    if n <= 400:
        timed("oc_lp_highs", n, lambda: oc_lp_highs(a, b, C, order))
    if n <= 200:
        timed("oc_admm_numpy", n, lambda: oc_admm_numpy(a, b, C, order))
