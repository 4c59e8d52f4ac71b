"""NumPy reference implementations of the benchmark workloads: the same algorithms, hyperparameters and iteration
counts as weightshare's plugins, vectorized the way a NumPy user would write them. Usage:

    python3 bench/reference/mtl.py <workload> <data-dir> <out-dir>

Reads the workload's data and parameters (params.json) from <data-dir>, writes result .npy files and
timing.json (wall seconds, peak RSS) to <out-dir>.
"""
import json
import resource
import sys
import time

import numpy as np


ARRAYS = {}


def load(d, name):
    """The workload's arrays are read before the clock starts (as the JS implementations do)."""
    return ARRAYS[name]


def estimate_relation(B, bias, knn):
    """Cosine similarity of task weights (bias left out), negatives clipped, diagonal 1, kNN union symmetrized by max."""
    V = np.delete(B, bias, axis=1)
    norms = np.linalg.norm(V, axis=1)
    S = (V @ V.T) / np.outer(norms, norms)
    S = np.maximum(S, 0)
    np.fill_diagonal(S, 1)
    T = S.shape[0]
    off = S.copy()
    np.fill_diagonal(off, -np.inf)
    idx = np.argsort(-off, axis=1, kind="stable")[:, :knn]
    keep = np.zeros_like(S, dtype=bool)
    keep[np.arange(T)[:, None], idx] = True
    keep = keep | keep.T
    A = np.where(keep, np.maximum(S, S.T), 0.0)
    np.fill_diagonal(A, np.diag(S))
    return A


def laplacian_smooth(A, B, alpha):
    W = A.copy()
    np.fill_diagonal(W, 0)
    L = np.diag(W.sum(1)) - W
    return np.linalg.solve(np.eye(A.shape[0]) + alpha * L, B)


def logistic_adam(X, Y, E, pull, ridge, P, W0, epochs, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Full-batch Adam on every task at once. X: (T, n, d), Y: (T, n), E/W0: (T, d), pull: (T,)."""
    W = W0.copy()
    m = np.zeros_like(W)
    v = np.zeros_like(W)
    for t in range(1, epochs + 1):
        Z = np.einsum("tnd,td->tn", X, W)
        G = np.einsum("tnd,tn->td", X, 1 / (1 + np.exp(-Z)) - Y) + 2 * pull[:, None] * (W - E) + 2 * ridge * P * W
        m = b1 * m + (1 - b1) * G
        v = b2 * v + (1 - b2) * G * G
        W -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return W


def workload_logistic(d, p):
    T, n, dim = p["T"], p["n"], p["d"]
    X = load(d, "X").reshape(T, n, dim)
    Y = load(d, "y").reshape(T, n)
    bias = dim - 1
    P = np.ones(dim)
    P[bias] = 0
    zeros = np.zeros((T, dim))
    # initial weights: each task alone (lambda = 0)
    W = logistic_adam(X, Y, zeros, np.zeros(T), p["initRidge"], P, zeros, p["epochs"], p["lr"])
    A = estimate_relation(W, bias, p["knn"])
    for _ in range(p["rounds"]):
        C = laplacian_smooth(A, W, p["alpha"])
        E = C  # fuse identity: each task's target is its smoothed weights
        W = logistic_adam(X, Y, E, np.full(T, p["lambda"]), p["ridge"], P, W, p["epochs"], p["lr"])
    # the objective after the last round, as weightshare records it: the logistic loss summed over rows, lambda
    # times sum_t <w_t, w_t - E_t(W)> with E(W) = (I + alpha L)^-1 W (the quadratic form of Laplacian smoothing),
    # the ridge on every weight but the bias
    Z = np.einsum("tnd,td->tn", X, W)
    loss = (np.logaddexp(0, Z) - Y * Z).sum()
    penalty = (W * (W - laplacian_smooth(A, W, p["alpha"]))).sum()
    return {"W": W, "objective": np.array([[loss + p["lambda"] * penalty + p["ridge"] * (W * W * P).sum()]])}


def workload_squared(d, p):
    T, n, dim = p["T"], p["n"], p["d"]
    X = load(d, "X").reshape(T, n, dim)
    Y = load(d, "y").reshape(T, n)
    lam, ridge = p["lambda"], p["ridge"]
    P = np.ones(dim)
    P[dim - 1] = 0
    # sufficient statistics, once: the same algorithm as plugin-cpu. Batched matmul (BLAS); np.einsum without
    # optimize=True would run its own loops here, ~20x slower
    G = X.transpose(0, 2, 1) @ X
    b = (X.transpose(0, 2, 1) @ Y[..., None])[..., 0]
    out = {}
    # gd: 200 epochs, step 1/L per task; one round from zero weights towards the mean (fuse mean of zeros = 0)
    L = 2 * np.linalg.eigvalsh(G)[:, -1] + 2 * ridge + 2 * lam
    W = np.zeros((T, dim))
    E = np.zeros((T, dim))
    for _ in range(p["epochs"]):
        grad = 2 * (np.einsum("tde,te->td", G, W) - b) + 2 * lam * (W - E) + 2 * ridge * P * W
        W -= grad / L[:, None]
    out["W_gd"] = W
    H = G + np.diag(ridge * P + lam)[None]
    out["W_exact"] = np.linalg.solve(H, (b + lam * E)[..., None])[..., 0]
    # the objective of each run's final weights, as weightshare records it after the last round: the squared loss
    # over all rows (one pass over X: batched matmul, the fastest of matmul and einsum here), lambda times the
    # squared distances to the mean of the weights, the ridge on every weight but the bias
    for key in ("gd", "exact"):
        W = out[f"W_{key}"]
        R = Y - (X @ W[..., None])[..., 0]
        total = np.einsum("tn,tn->", R, R) + lam * ((W - W.mean(0)) ** 2).sum() + ridge * (W * W * P).sum()
        out[f"objective_{key}"] = np.array([[total]])
    return out


def workload_propagate(d, p):
    A = load(d, "A")
    B = load(d, "B")
    out = {"C_solve": np.linalg.solve(A, B), "C_laplacian": laplacian_smooth(A, B, p["alpha"])}
    W = A.copy()
    np.fill_diagonal(W, 1)
    s = 1 / np.sqrt(W.sum(1))
    S = s[:, None] * W * s[None, :]
    out["C_ppr"] = p["pprAlpha"] * np.linalg.solve(np.eye(A.shape[0]) - (1 - p["pprAlpha"]) * S, B)
    return out


def standardize(Xtr, Xte):
    mean = Xtr.mean(0)
    std = Xtr.std(0)
    keep = std > 1e-12 * np.maximum(1, np.abs(mean))
    f = lambda X: np.hstack([(X[:, keep] - mean[keep]) / std[keep], np.ones((X.shape[0], 1))])
    return f(Xtr), f(Xte)


def workload_school(d, p):
    """Mean-regularized MTL on School: every split x every lambda, `rounds` rounds of exact per-task solves."""
    raw = np.loadtxt(p["data"], delimiter=",", skiprows=1)
    splits = np.loadtxt(p["splits"], delimiter=",", skiprows=1)
    task, X, y = raw[:, 0].astype(int), raw[:, 1:-1], raw[:, -1]
    tasks = np.unique(task)
    mses = []
    objectives = []
    for s in range(1, p["nSplits"] + 1):
        tr = splits[:, s] == 1
        Xtr, Xte = standardize(X[tr], X[~tr])
        ttr, tte, ytr, yte = task[tr], task[~tr], y[tr], y[~tr]
        dim = Xtr.shape[1]
        P = np.ones(dim)
        P[-1] = 0
        G = np.stack([Xtr[ttr == t].T @ Xtr[ttr == t] for t in tasks])
        b = np.stack([Xtr[ttr == t].T @ ytr[ttr == t] for t in tasks])
        for lam in p["lambdas"]:
            # initial weights: each task alone with ridge initRidge
            W = np.linalg.solve(G + p["initRidge"] * np.diag(P)[None], b[..., None])[..., 0]
            H = G + (p["ridge"] * np.diag(P) + lam * np.eye(dim))[None]
            for _ in range(p["rounds"]):
                E = W.mean(0)
                W = np.linalg.solve(H, (b + lam * E)[..., None])[..., 0]
            pred = np.einsum("nd,nd->n", Xte, W[np.searchsorted(tasks, tte)])
            mses.append(np.mean((yte - pred) ** 2))
            # the objective after the last round, as weightshare records it: squared loss over the training rows,
            # lambda times the squared distances to the mean of the weights, the ridge on every weight but the bias
            res = ytr - np.einsum("nd,nd->n", Xtr, W[np.searchsorted(tasks, ttr)])
            objectives.append(res @ res + lam * ((W - W.mean(0)) ** 2).sum() + p["ridge"] * (W * W * P).sum())
    return {"mse": np.array(mses)[None, :], "objective": np.array(objectives)[None, :]}


def workload_predict(d, p):
    """A model folder applied to a CSV file as a NumPy user would: loadtxt, standardize with the recorded centres
    and scales, one dot product per row with its task's parameters, savetxt (task, row, prediction, unseen)."""
    m = json.load(open(f"{p['modelDir']}/model.json"))
    theta = np.load(f"{p['modelDir']}/parameters.npy")
    feats = m["preprocessing"]["features"]
    center = np.array([f["center"] for f in feats])
    scale = np.array([f["scale"] for f in feats])
    data = np.loadtxt(p["csv"], delimiter=",", skiprows=1)
    task = data[:, 0].astype(np.int64)  # task ids are 0..T-1 here, so the id is the row of theta
    Z = (data[:, 1:] - center) / scale
    W = theta[task]
    pred = np.einsum("nd,nd->n", Z, W[:, :-1]) + W[:, -1]
    out = np.empty((len(pred), 4))
    out[:, 0] = task
    out[:, 1] = np.arange(len(pred))
    out[:, 2] = pred
    out[:, 3] = 0
    np.savetxt(f"{p['outDir']}/predictions.csv", out, fmt=["%d", "%d", "%.17g", "%d"], delimiter=",", header="task,row,prediction,unseen", comments="")
    return {"pred": pred[None, :]}


def mlp_adam(X, Y, E, pull, ridge, P, W0, h, epochs, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Full-batch Adam on every task at once for a one-hidden-layer tanh network, squared loss summed over rows.
    X: (T, n, d) with the bias column, Y: (T, n), E/W0: (T, p) with p = d*h + h + 1 (layer1 [d, h] row-major, its
    bias the row of X's bias column; output [h + 1, 1], its last row the bias), pull: (T,), P: ridge mask (p,)."""
    T, n, d = X.shape
    dh = d * h
    XT = X.transpose(0, 2, 1)
    W = W0.copy()
    m = np.zeros_like(W)
    v = np.zeros_like(W)
    G = np.empty_like(W)
    for t in range(1, epochs + 1):
        W1 = W[:, :dh].reshape(T, d, h)
        wo = W[:, dh:dh + h]
        A = np.tanh(X @ W1)  # (T, n, h)
        Z = (A @ wo[..., None])[..., 0] + W[:, dh + h:]  # (T, n)
        R = 2 * (Z - Y)  # dL/dZ of the summed squared error
        G[:, dh:dh + h] = (A.transpose(0, 2, 1) @ R[..., None])[..., 0]
        G[:, dh + h] = R.sum(1)
        D = R[..., None] * wo[:, None, :]
        D *= 1 - A * A
        G[:, :dh] = (XT @ D).reshape(T, dh)
        G += 2 * pull[:, None] * (W - E) + 2 * ridge * P * W
        m = b1 * m + (1 - b1) * G
        v = b2 * v + (1 - b2) * G * G
        W -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return W


def workload_mlp(d, p):
    """Mean-regularized soft sharing of an MLP: every task starts from the one initialization theta0 (drawn by the
    framework's mlp component), fits alone (lambda = 0), then `rounds` rounds of E = mean of the tasks' parameters and
    `epochs` Adam steps on sum (y - f(x))^2 + lambda ||theta - E||^2 from the current parameters."""
    T, n, dim, h = p["T"], p["n"], p["d"], p["hidden"][0]
    X = load(d, "X").reshape(T, n, dim)
    Y = load(d, "y").reshape(T, n)
    theta0 = load(d, "theta0")[0]
    P = np.ones(theta0.size)
    P[(dim - 1) * h:dim * h] = 0  # layer 1's bias row (X's bias column)
    P[-1] = 0  # the output bias
    W = np.tile(theta0, (T, 1))
    zeros = np.zeros_like(W)
    W = mlp_adam(X, Y, zeros, np.zeros(T), p["ridge"], P, W, h, p["epochs"], p["lr"])
    for _ in range(p["rounds"]):
        E = np.broadcast_to(W.mean(0), W.shape)
        W = mlp_adam(X, Y, E, np.full(T, p["lambda"]), p["ridge"], P, W, h, p["epochs"], p["lr"])
    # the objective the rounds minimize, at the final parameters
    Z = (np.tanh(X @ W[:, :dim * h].reshape(T, dim, h)) @ W[:, dim * h:dim * h + h, None])[..., 0] + W[:, -1:]
    objective = ((Y - Z) ** 2).sum() + p["lambda"] * ((W - W.mean(0)) ** 2).sum() + p["ridge"] * (P * W * W).sum()
    return {"W": W, "objective": np.array([[objective]])}


def save(out_dir, name, arr):
    arr = np.atleast_2d(np.asarray(arr, dtype=np.float64))
    np.save(f"{out_dir}/{name}.npy", arr)


if __name__ == "__main__":
    workload, data_dir, out_dir = sys.argv[1:4]
    params = json.load(open(f"{data_dir}/params.json"))
    params["outDir"] = out_dir
    import glob, os
    for f in glob.glob(f"{data_dir}/*.npy"):
        ARRAYS[os.path.basename(f)[:-4]] = np.load(f)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    result = {"logistic-many": workload_logistic, "squared-big": workload_squared, "propagate": workload_propagate, "school-sweep": workload_school, "predict": workload_predict, "mlp": workload_mlp}[workload](data_dir, params)
    seconds = time.perf_counter() - t0
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    for k, v in result.items():
        save(out_dir, k, v)
    # VmHWM is this address space's peak; ru_maxrss would include the peak of the process that forked us
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    json.dump({"seconds": seconds, "peakRssBytes": hwm * 1024, "minorFaults": faults, "numpy": np.__version__}, open(f"{out_dir}/timing.json", "w"))
