"""Mean-regularized MTL on School split 1 to a converged answer, two ways a NumPy user would write it:

  plain    alternate the batched exact solve W ← solve(H, b + λ·mean(W)) from the independent fits until the relative
           change ‖W⁺ − W‖/‖W⁺‖ is at most tol (the stopping rule of weightshare's rounds);
  closed   the fixed point in closed form: one batched solve of H_t [b_t | I] and one d×d solve for the mean.

    python3 bench/reference/school_converge.py <dir with X<t>.npy, y<t>.npy> <T> <lambda> <ridge> <tol> <out.npy prefix>

X<t>, y<t>: each task's prepared training rows (bias last). Times exclude reading them; prints JSON with the
seconds (median of 3) and rounds of each, and writes W of each to <prefix>-plain.npy and <prefix>-closed.npy.
"""
import json
import sys
import time

import numpy as np


def main():
    d_in, T, lam, rho, tol, prefix = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    X = [np.load(f"{d_in}/X{t}.npy") for t in range(T)]
    y = [np.load(f"{d_in}/y{t}.npy")[:, 0] for t in range(T)]
    d = X[0].shape[1]
    P = np.eye(d)
    P[-1, -1] = 0

    def stats():
        G = np.stack([x.T @ x for x in X])
        b = np.stack([x.T @ v for x, v in zip(X, y)])
        return G, b

    def plain():
        G, b = stats()
        W = np.linalg.solve(G + rho * P[None], b[..., None])[..., 0]  # the independent fits
        H = G + (rho * P + lam * np.eye(d))[None]
        rounds = 0
        while True:
            rounds += 1
            Wn = np.linalg.solve(H, (b + lam * W.mean(0))[..., None])[..., 0]
            change = np.linalg.norm(Wn - W) / max(np.linalg.norm(Wn), 1e-300)
            W = Wn
            if change <= tol or rounds >= 10**6:
                return W, rounds

    def closed():
        G, b = stats()
        H = G + (rho * P + lam * np.eye(d))[None]
        S = np.linalg.solve(H, np.concatenate([b[..., None], np.broadcast_to(np.eye(d), (T, d, d))], axis=2))
        Hb, Hinv = S[..., 0], S[..., 1:]
        e = np.linalg.solve(np.eye(d) - lam / T * Hinv.sum(0), Hb.mean(0))
        return Hb + lam * np.einsum("tij,j->ti", Hinv, e), 1

    out = {}
    for name, f in (("plain", plain), ("closed", closed)):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            W, rounds = f()
            times.append(time.perf_counter() - t0)
        np.save(f"{prefix}-{name}.npy", W)
        out[name] = {"seconds": sorted(times)[1], "rounds": rounds}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
