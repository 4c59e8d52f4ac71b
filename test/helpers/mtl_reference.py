"""Independent reference for mean-regularized multi-task learning with any built-in loss (scipy, float64).

Reads a JSON problem on stdin: {"loss": name, "delta": δ (huber), "lambda": λ, "ridge": ρ, "outputs": k,
"tasks": [{"X": n×d rows, "y": n labels, "bias": column, or -1 to ridge-penalize the bias too}]} and prints the joint minimizer as JSON rows (one
per task, θ row-major d×k):

    min_Θ  Σ_t L(y_t, X_t Θ_t) + ρ Σ_t ‖P Θ_t‖² + λ Σ_t ‖Θ_t − Θ̄‖²,   Θ̄ = mean_t Θ_t, P zeroing the bias row.

Its fixed points are those of weightshare's rounds of propagate identity → fuse mean → optimize (each task pulled
towards the mean of the previous round): the gradient of the joint penalty w.r.t. Θ_t is 2λ(Θ_t − Θ̄), because the
deviations from the mean sum to zero. Written from the formulas, not from weightshare's code.
"""
import json
import sys

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax


def loss_and_grad(name, delta, y, Z):
    """Σ_i L(y_i, z_i) and dL/dZ; Z is n×k."""
    if name == "squared":
        r = Z[:, 0] - y
        return np.sum(r * r), (2 * r)[:, None]
    if name == "logistic":
        z = Z[:, 0]
        value = np.sum(np.logaddexp(0, z) - y * z)
        return value, (1 / (1 + np.exp(-z)) - y)[:, None]
    if name == "huber":
        r = Z[:, 0] - y
        a = np.abs(r)
        inside = a <= delta
        value = np.sum(np.where(inside, r * r, delta * (2 * a - delta)))
        return value, np.where(inside, 2 * r, 2 * delta * np.sign(r))[:, None]
    if name == "poisson":
        z = Z[:, 0]
        mu = np.exp(z)
        return np.sum(mu - y * z), (mu - y)[:, None]
    if name == "softmax":
        c = y.astype(int)
        lse = logsumexp(Z, axis=1)
        value = np.sum(lse - Z[np.arange(len(c)), c])
        G = softmax(Z, axis=1)
        G[np.arange(len(c)), c] -= 1
        return value, G
    raise ValueError(name)


def main():
    prob = json.load(sys.stdin)
    k = prob["outputs"]
    lam, rho = prob["lambda"], prob["ridge"]
    tasks = [(np.array(t["X"], float), np.array(t["y"], float), t["bias"]) for t in prob["tasks"]]
    T = len(tasks)
    d = tasks[0][0].shape[1]
    # the ridge mask of each task: its bias row is free, unless the task gives bias -1 (every entry penalized)
    Ps = []
    for _, _, b in tasks:
        P = np.ones((d, k))
        if b >= 0:
            P[b, :] = 0
        Ps.append(P)

    def f(flat):
        th = flat.reshape(T, d, k)
        mean = th.mean(axis=0)
        total = 0.0
        grad = np.zeros_like(th)
        for t, (X, y, _) in enumerate(tasks):
            v, dZ = loss_and_grad(prob["loss"], prob.get("delta", 1.0), y, X @ th[t])
            dev = th[t] - mean
            total += v + rho * np.sum((Ps[t] * th[t]) ** 2) + lam * np.sum(dev * dev)
            grad[t] = X.T @ dZ + 2 * rho * Ps[t] * th[t] + 2 * lam * dev
        return total, grad.ravel()

    res = minimize(f, np.zeros(T * d * k), jac=True, method="L-BFGS-B",
                   options={"maxiter": 100000, "maxfun": 200000, "gtol": 1e-13, "ftol": 1e-16, "maxcor": 30})
    # polish with Newton steps on a Hessian from central differences of the analytic gradient: L-BFGS-B stops where
    # differences of f drown in rounding (|∇f| ≈ 1e-7), Newton needs only the gradient, accurate to ~1e-13
    x = res.x
    n = x.size
    for _ in range(4):
        _, g = f(x)
        H = np.empty((n, n))
        h = 1e-5
        for i in range(n):
            e = np.zeros(n)
            e[i] = h
            H[:, i] = (f(x + e)[1] - f(x - e)[1]) / (2 * h)
        H = (H + H.T) / 2
        x = x - np.linalg.lstsq(H, g, rcond=None)[0]
    _, g = f(x)
    th = x.reshape(T, d, k)
    if prob["loss"] == "softmax" and tasks[0][2] >= 0:
        # softmax is unchanged by adding one constant to every bias entry of every task (the loss sees only
        # differences between classes, the pull only differences between tasks): return the minimizer whose bias
        # entries sum to zero, where gradient methods started from zero stay (their gradients sum to zero over classes)
        b = tasks[0][2]
        th[:, b, :] -= th[:, b, :].mean()
    th = th.reshape(T, d * k)
    json.dump({"theta": th.tolist(), "gradNorm": float(np.max(np.abs(g)))}, sys.stdout)


main()
