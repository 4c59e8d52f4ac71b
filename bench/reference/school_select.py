"""What `weightshare sweep pipelines/school-mean-regularized.yaml` does, as a NumPy user would write it: for each of
the 10 published School splits, standardize with the training rows' statistics, hold out a seeded quarter of each
school's training rows for validation, fit mean-regularized MTL (Evgeniou & Pontil 2004) for every λ of the grid on
the rest, choose the λ with the lowest validation MSE, refit on all training rows and score the test rows; plus the
two baselines the sweep reports (each school alone and one pooled model, ridge 1). The fit is the closed form of the
rounds' fixed point: with H_t = X_tᵀX_t + ρP + λI, every W_t = H_t⁻¹(X_tᵀy_t + λē) and the mean ē solves
(I − (λ/T) Σ_t H_t⁻¹) ē = (1/T) Σ_t H_t⁻¹X_tᵀy_t — one batched solve and one d×d solve per λ.

    python3 bench/reference/school_select.py <school.csv> <school_splits.csv> [--json]

Prints the wall time (the whole script after imports: reading the files included, as the CLI's time includes its
own reading) and the test MSE of each model over the splits (mean ± std).
"""
import json
import sys
import time

import numpy as np

LAMBDAS = [30, 100, 300, 1000, 3000]
RIDGE = 1.0
VALIDATION = 0.25


def standardize(Xtr, *others):
    mean = Xtr.mean(0)
    std = Xtr.std(0)
    keep = std > 1e-12 * np.maximum(1, np.abs(mean))
    f = lambda X: np.hstack([(X[:, keep] - mean[keep]) / std[keep], np.ones((X.shape[0], 1))])
    return [f(Xtr)] + [f(X) for X in others]


def stats(X, y, task, T):
    """Per-task XᵀX and Xᵀy, stacked (T, d, d) and (T, d)."""
    d = X.shape[1]
    G = np.zeros((T, d, d))
    b = np.zeros((T, d))
    order = np.argsort(task, kind="stable")
    bounds = np.searchsorted(task[order], np.arange(T + 1))
    Xs, ys = X[order], y[order]
    for t in range(T):
        Xt = Xs[bounds[t]:bounds[t + 1]]
        G[t] = Xt.T @ Xt
        b[t] = Xt.T @ ys[bounds[t]:bounds[t + 1]]
    return G, b


def mean_regularized(G, b, lam):
    T, d, _ = G.shape
    P = np.eye(d)
    P[-1, -1] = 0  # the bias is not ridge-penalized
    H = G + (RIDGE * P + lam * np.eye(d))[None]
    S = np.linalg.solve(H, np.concatenate([b[..., None], np.broadcast_to(np.eye(d), (T, d, d))], axis=2))
    Hb, Hinv = S[..., 0], S[..., 1:]
    e = np.linalg.solve(np.eye(d) - lam / T * Hinv.sum(0), Hb.mean(0))
    return Hb + lam * np.einsum("tij,j->ti", Hinv, e)


def ridge_each(G, b):
    d = G.shape[1]
    P = np.eye(d)
    P[-1, -1] = 0
    return np.linalg.solve(G + RIDGE * P[None], b[..., None])[..., 0]


def mse(X, y, task, W):
    return float(np.mean((y - np.einsum("nd,nd->n", X, W[task])) ** 2))


def main():
    data_path, splits_path = sys.argv[1:3]
    t0 = time.perf_counter()
    raw = np.loadtxt(data_path, delimiter=",", skiprows=1)
    splits = np.loadtxt(splits_path, delimiter=",", skiprows=1)
    ids, task = np.unique(raw[:, 0].astype(int), return_inverse=True)
    T = len(ids)
    X, y = raw[:, 1:-1], raw[:, -1]
    rng = np.random.default_rng(1)
    out = {"shared": [], "independent": [], "pooled": [], "lambda": []}
    for s in range(1, splits.shape[1]):
        tr = splits[:, s] == 1
        # a quarter of each school's training rows (at least one, leaving at least one) for validation
        val = np.zeros(len(y), dtype=bool)
        for t in range(T):
            rows = np.flatnonzero(tr & (task == t))
            k = min(len(rows) - 1, max(1, round(VALIDATION * len(rows))))
            val[rng.permutation(rows)[:k]] = True
        fit = tr & ~val
        # model selection: statistics of the fitting rows, standardized by them
        Xf, Xv = standardize(X[fit], X[val])
        G, b = stats(Xf, y[fit], task[fit], T)
        scores = [mse(Xv, y[val], task[val], mean_regularized(G, b, lam)) for lam in LAMBDAS]
        lam = LAMBDAS[int(np.argmin(scores))]
        # refit on all training rows
        Xtr, Xte = standardize(X[tr], X[~tr])
        G, b = stats(Xtr, y[tr], task[tr], T)
        out["lambda"].append(lam)
        out["shared"].append(mse(Xte, y[~tr], task[~tr], mean_regularized(G, b, lam)))
        out["independent"].append(mse(Xte, y[~tr], task[~tr], ridge_each(G, b)))
        pooled = ridge_each(G.sum(0, keepdims=True), b.sum(0, keepdims=True))[0]
        out["pooled"].append(mse(Xte, y[~tr], task[~tr], np.broadcast_to(pooled, (T, len(pooled)))))
    seconds = time.perf_counter() - t0
    summary = {k: (float(np.mean(v)), float(np.std(v))) for k, v in out.items() if k != "lambda"}
    if "--json" in sys.argv:
        print(json.dumps({"seconds": seconds, "mse": summary, "lambda": out["lambda"]}))
    else:
        print(f"{seconds:.3f} s; test MSE " + ", ".join(f"{k} {m:.2f} ± {sd:.2f}" for k, (m, sd) in summary.items()) + f"; λ {out['lambda']}")


if __name__ == "__main__":
    main()
