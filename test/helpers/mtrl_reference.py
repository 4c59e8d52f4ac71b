"""Independent reference for multi-task relationship learning (Zhang & Yeung 2010) with squared loss (numpy, float64).

Reads a JSON problem on stdin: {"lambda": λ, "ridge": ρ, "epsilon": ε (absolute), "rounds": N, "every": k,
"tasks": [{"X": n×p rows, "y": n targets, "bias": column}]} and prints JSON with

The bias is free (as in the paper): W̃ = W D, D zeroing the bias column, enters Ω and the penalty; ε is the one of
the objective's formula (weightshare reports it per update).

- "alternation": the same alternation weightshare's rounds run, written from the formulas: W0 the independent ridge
  fits; before round r (r = 1 and every k-th after) Ω = S^½ / tr S^½ with S = W̃ W̃ᵀ + εI; then one
  majorize-minimize step of the penalty λ tr(W̃ᵀ Ω⁻¹ W̃): c_t = P_tt + Σ_{s≠t} |P_ts| (P = Ω⁻¹),
  E = W − diag(c)⁻¹ P W, each task w_t = argmin ‖X_t w − y_t‖² + ρ‖D w‖² + λ c_t ‖D (w − E_t)‖². "weights" (T rows)
  after N rounds and "objectives", J(W_r, Ω_r) = Σ_t ‖X_t w_t − y_t‖² + ρ Σ_t ‖D w_t‖² + λ [tr(W̃_rᵀ P_r W̃_r)
  + ε tr P_r] per round.
- "joint": the minimizer of J over (W, Ω), by exact block coordinate descent: W given Ω by one linear solve of the
  whole Kronecker system (blockdiag(X_tᵀX_t + ρD) + λ (P ⊗ D)) vec W = vec(X_tᵀ y_t), Ω given W in closed form,
  until W stops changing. J is jointly convex, so this is the point weightshare's rounds must converge to.
"""
import json
import sys

import numpy as np


def omega_of(W, eps):
    S = W @ W.T + eps * np.eye(W.shape[0])
    vals, vecs = np.linalg.eigh(S)
    root = np.sqrt(vals)
    tr = root.sum()
    omega = (vecs * root) @ vecs.T / tr
    precision = (vecs / root) @ vecs.T * tr
    return omega, precision


def objective(tasks, W, P, lam, rho, eps, D):
    loss = sum(float(np.sum((X @ W[t] - y) ** 2)) for t, (X, y) in enumerate(tasks))
    ridge = rho * float(np.sum((W * D) ** 2))
    Wt = W * D
    return loss + ridge + lam * (float(np.trace(Wt.T @ P @ Wt)) + eps * float(np.trace(P)))


def main():
    prob = json.load(sys.stdin)
    lam, rho, eps = prob["lambda"], prob["ridge"], prob["epsilon"]
    tasks = [(np.array(t["X"], float), np.array(t["y"], float)) for t in prob["tasks"]]
    bias = prob["tasks"][0]["bias"]
    T = len(tasks)
    p = tasks[0][0].shape[1]
    D = np.ones(p)
    D[bias] = 0
    W0 = np.array([np.linalg.solve(X.T @ X + rho * np.diag(D), X.T @ y) for X, y in tasks])

    W = W0.copy()
    objectives = []
    for r in range(1, prob["rounds"] + 1):
        if r == 1 or (r - 1) % prob["every"] == 0:
            _, P = omega_of(W * D, eps)
        c = np.diag(P) + (np.abs(P).sum(axis=1) - np.abs(np.diag(P)))
        E = W - (P @ W) / c[:, None]
        W = np.array([np.linalg.solve(X.T @ X + rho * np.diag(D) + lam * c[t] * np.diag(D), X.T @ y + lam * c[t] * D * E[t]) for t, (X, y) in enumerate(tasks)])
        objectives.append(objective(tasks, W, P, lam, rho, eps, D))

    # the joint minimizer
    V = W0.copy()
    H0 = np.zeros((T * p, T * p))
    b = np.zeros(T * p)
    for t, (X, y) in enumerate(tasks):
        H0[t * p:(t + 1) * p, t * p:(t + 1) * p] = X.T @ X + rho * np.diag(D)
        b[t * p:(t + 1) * p] = X.T @ y
    for _ in range(20000):
        _, P = omega_of(V * D, eps)
        nxt = np.linalg.solve(H0 + lam * np.kron(P, np.diag(D)), b).reshape(T, p)
        done = np.linalg.norm(nxt - V) <= 1e-14 * np.linalg.norm(nxt)
        V = nxt
        if done:
            break
    omega, P = omega_of(V * D, eps)
    json.dump({
        "alternation": {"weights": W.tolist(), "objectives": objectives},
        "joint": {"weights": V.tolist(), "objective": objective(tasks, V, P, lam, rho, eps, D), "omega": omega.tolist()},
    }, sys.stdout)


if __name__ == "__main__":
    main()
