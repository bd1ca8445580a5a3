#!/usr/bin/env python3
"""Reference values for btfit's robust (HC0) and cluster-robust standard errors, computed
offline with statsmodels.

Run from the repository root, before make_reference_uncertainty.R (which cross-checks these
files with R's sandwich package and adds the quasi-variances):

    python3 tests/reference/make_reference_uncertainty.py

Reads tests/data/{baseball.csv, baseball_games.csv, pima_tr.csv, pima_weighted.csv} and writes
into tests/data/:

    baseball_cluster.csv                  baseball.csv plus cluster = k mod 17 (k = data row index)
    pima_cluster.csv                      pima_weighted.csv plus cluster = k mod 17
    ref_robust_bt_baseball.csv            HC0 SEs of the mean-zero BT strengths (baseball.csv)
    ref_robust_bt_baseball_home.csv       HC0 SEs with a home advantage (baseball_games.csv)
    ref_cluster_bt_baseball.csv           cluster-robust SEs (baseball_cluster.csv)
    ref_robust_logistic_pima.csv          HC0 SEs, pima_tr.csv
    ref_robust_logistic_pima_weighted.csv HC0 SEs, pima_weighted.csv (w = frequency weight)
    ref_cluster_logistic_pima.csv         cluster-robust SEs, pima_cluster.csv without weights
    ref_cluster_logistic_pima_weighted.csv cluster-robust SEs, pima_cluster.csv with weights w

Conventions (CONVENTIONS.md): the sandwich is H^-1 B H^-1 (H^+ for the unpenalized BT fit),
B = sum_k w_k r_k^2 x_k x_k^T, r_k = sigmoid(eta_k) - y_k: a frequency weight w counts w
independent units. So every reference is computed by statsmodels on the data EXPANDED to one
row per unit of weight (a row of count 3 becomes three rows, each in the row's cluster), where
there is no doubt about what a unit is. Cluster-robust: scores summed within each cluster,
times statsmodels' default correction G/(G-1) * (N-1)/(N-K), with N the number of units (the
expanded rows), G the number of clusters and K the number of identified parameters.

Each value is cross-checked: statsmodels with freq_weights on the aggregated rows (HC0), and
the sandwich written out with numpy (pinv(H) B pinv(H) in all n strengths). The script stops
on a failed check. Numbers are written with repr(float).
"""

import csv
import os
import sys

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm
from scipy.special import expit

DATA = os.path.join("tests", "data")
N_CLUSTERS = 17


def check(cond, what):
    if not cond:
        sys.exit(f"CROSS-CHECK FAILED: {what}")
    print(f"  ok: {what}")


def rel(a, b):
    """Largest relative difference (relative to max(|b|, 1e-300))."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def write_csv(name, header, rows):
    path = os.path.join(DATA, name)
    with open(path, "w", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(header)
        for row in rows:
            wr.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in row])
    print(f"  wrote {path}")


def bt_design(a, b, items):
    idx = {it: i for i, it in enumerate(items)}
    X = np.zeros((len(a), len(items)))
    X[np.arange(len(a)), [idx[v] for v in a]] += 1.0
    X[np.arange(len(a)), [idx[v] for v in b]] -= 1.0
    return X


def sandwich_numpy(X, y, w, theta, bread, cluster=None, k_params=None):
    """bread B bread with B = sum_k w_k r_k^2 x_k x_k^T, or the cluster form with the
    G/(G-1) (N-1)/(N-K) correction (N = sum of weights)."""
    r = expit(X @ theta) - y
    if cluster is None:
        meat = X.T @ ((w * r * r)[:, None] * X)
    else:
        groups = np.unique(cluster)
        S = np.zeros((len(groups), X.shape[1]))
        for gi, g in enumerate(groups):
            m = cluster == g
            S[gi] = (w[m] * r[m]) @ X[m]
        meat = S.T @ S
        G, N = len(groups), w.sum()
        meat *= G / (G - 1.0) * (N - 1.0) / (N - k_params)
    return bread @ meat @ bread


def bt_reference(tag, winner, loser, count, items, cluster=None, home=None):
    """Mean-zero BT strengths (and h) with robust covariance from statsmodels on the expanded
    games. Returns (theta, cov) in (items, [home])."""
    n = len(items)
    rep = np.repeat(np.arange(len(winner)), count.astype(int))
    Xf = bt_design(np.asarray(winner)[rep], np.asarray(loser)[rep], items)
    if home is not None:
        Xf = np.column_stack([Xf, np.asarray(home, float)[rep]])
    y = np.ones(len(rep))
    X = Xf[:, 1:]  # drop the first item (the GLM's reference level)
    if cluster is None:
        r = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200, cov_type="HC0")
    else:
        r = sm.GLM(y, X, family=sm.families.Binomial()).fit(
            tol=1e-14, maxiter=200, cov_type="cluster", cov_kwds={"groups": np.asarray(cluster)[rep]})
    p = Xf.shape[1]
    M = np.eye(p)  # centring of the item block
    M[:n, :n] -= np.ones((n, n)) / n
    E = np.zeros((p, p - 1))
    E[1:, :] = np.eye(p - 1)
    theta = M @ E @ r.params
    cov = M @ E @ r.cov_params() @ E.T @ M.T
    # cross-check: the sandwich with the pseudo-inverse of the Hessian in all parameters
    pr = expit(Xf @ theta)
    g = Xf.T @ (pr - y)
    check(np.linalg.norm(g) < 1e-10, f"{tag}: gradient {np.linalg.norm(g):.1e} < 1e-10 at the optimum")
    H = Xf.T @ ((pr * (1 - pr))[:, None] * Xf)
    Hp = np.linalg.pinv(H)
    ones = np.ones(len(rep))
    cov2 = sandwich_numpy(Xf, y, ones, theta, Hp,
                          None if cluster is None else np.asarray(cluster)[rep], p - 1)
    check(rel(np.diag(cov2), np.diag(cov)) < 1e-9, f"{tag}: statsmodels == pinv(H) B pinv(H) (diag, 1e-9)")
    # cross-check with weights on the aggregated rows (numpy, frequency-weight form)
    Xa = bt_design(winner, loser, items)
    if home is not None:
        Xa = np.column_stack([Xa, np.asarray(home, float)])
    cov3 = sandwich_numpy(Xa, np.ones(len(winner)), count.astype(float), theta, Hp,
                          None if cluster is None else np.asarray(cluster), p - 1)
    check(rel(np.diag(cov3), np.diag(cov)) < 1e-9, f"{tag}: weighted aggregated rows == expanded rows (1e-9)")
    if cluster is None and home is None:
        ra = sm.GLM(np.ones(len(winner)), Xa[:, 1:], family=sm.families.Binomial(),
                    freq_weights=count.astype(float)).fit(tol=1e-14, maxiter=200, cov_type="HC0")
        cov4 = M @ E @ ra.cov_params() @ E.T @ M.T
        check(rel(np.diag(cov4), np.diag(cov)) < 1e-8,
              f"{tag}: statsmodels freq_weights HC0 on the aggregated rows agrees (1e-8)")
    return theta, cov


def logistic_reference(tag, X, y, w, cluster=None):
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    Xe, ye = X[rep], y[rep]
    if cluster is None:
        r = sm.GLM(ye, Xe, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200, cov_type="HC0")
    else:
        r = sm.GLM(ye, Xe, family=sm.families.Binomial()).fit(
            tol=1e-14, maxiter=200, cov_type="cluster", cov_kwds={"groups": np.asarray(cluster)[rep]})
    b = r.params
    pr = expit(X @ b)
    g = X.T @ (w * (pr - y))
    check(np.linalg.norm(g) < 1e-9, f"{tag}: gradient {np.linalg.norm(g):.1e} < 1e-9 at the optimum")
    H = X.T @ ((w * pr * (1 - pr))[:, None] * X)
    cov2 = sandwich_numpy(X, y, w, b, np.linalg.inv(H), cluster, X.shape[1])
    check(rel(np.diag(cov2), np.diag(r.cov_params())) < 1e-9,
          f"{tag}: statsmodels == inv(H) B inv(H) with weights on the aggregated rows (1e-9)")
    if cluster is None:
        ra = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w).fit(
            tol=1e-14, maxiter=200, cov_type="HC0")
        check(rel(ra.bse, r.bse) < 1e-8, f"{tag}: statsmodels freq_weights HC0 agrees (1e-8)")
    elif np.any(w != 1):
        ra = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w).fit(
            tol=1e-14, maxiter=200, cov_type="cluster", cov_kwds={"groups": np.asarray(cluster)})
        ratio = ra.bse / r.bse
        print(f"  note: statsmodels freq_weights + cluster on the aggregated rows takes N = {len(y)} rows, "
              f"not {int(w.sum())} units: its SEs differ by the factor {ratio[0]:.6f} "
              f"(= sqrt(((n_rows-1)/(n_rows-K)) / ((N-1)/(N-K))))")
        k = X.shape[1]
        expect = np.sqrt(((len(y) - 1) / (len(y) - k)) / ((w.sum() - 1) / (w.sum() - k)))
        check(np.max(np.abs(ratio - expect)) < 1e-8, "the difference is exactly that factor")
    return b, r.cov_params()


def main():
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"statsmodels {statsmodels.__version__}")
    bb = pd.read_csv(os.path.join(DATA, "baseball.csv"))
    games = pd.read_csv(os.path.join(DATA, "baseball_games.csv"))
    items = sorted(set(bb.winner) | set(bb.loser))
    n = len(items)

    # Derived inputs with a deterministic cluster column.
    bc = bb.copy()
    bc["cluster"] = np.arange(len(bb)) % N_CLUSTERS
    bc.to_csv(os.path.join(DATA, "baseball_cluster.csv"), index=False, lineterminator="\n")
    print(f"  wrote {os.path.join(DATA, 'baseball_cluster.csv')}")
    pw = pd.read_csv(os.path.join(DATA, "pima_weighted.csv"))
    pc = pw.copy()
    pc["cluster"] = np.arange(len(pw)) % N_CLUSTERS
    pc.to_csv(os.path.join(DATA, "pima_cluster.csv"), index=False, lineterminator="\n")
    print(f"  wrote {os.path.join(DATA, 'pima_cluster.csv')}")

    print("1. ref_robust_bt_baseball.csv (HC0, 273 games expanded from the counts)")
    th, cov = bt_reference("bt_baseball", bb.winner, bb.loser, bb["count"].to_numpy(), items)
    write_csv("ref_robust_bt_baseball.csv", ["item", "strength", "robust_se"],
              zip(items, th, np.sqrt(np.diag(cov))))

    print("2. ref_robust_bt_baseball_home.csv (HC0, a = home side, one row per game)")
    gw = np.where(games.outcome == 1, games.home, games.away)
    gl = np.where(games.outcome == 1, games.away, games.home)
    home_sign = np.where(games.outcome == 1, 1.0, -1.0)  # winner at home: +h, loser at home: -h
    th, cov = bt_reference("bt_baseball_home", gw, gl, np.ones(len(games)), items, home=home_sign)
    write_csv("ref_robust_bt_baseball_home.csv", ["item", "strength", "robust_se"],
              zip(items + ["(home)"], th, np.sqrt(np.diag(cov))))

    print(f"3. ref_cluster_bt_baseball.csv (cluster = row index mod {N_CLUSTERS})")
    th, cov = bt_reference("bt_baseball_cluster", bc.winner, bc.loser, bc["count"].to_numpy(), items,
                           cluster=bc.cluster.to_numpy())
    write_csv("ref_cluster_bt_baseball.csv", ["item", "strength", "cluster_se"],
              zip(items, th, np.sqrt(np.diag(cov))))

    pima = pd.read_csv(os.path.join(DATA, "pima_tr.csv"))
    feats = [c for c in pima.columns if c != "y"]
    terms = ["(intercept)"] + feats
    X = np.column_stack([np.ones(len(pima)), pima[feats].to_numpy(float)])
    y = pima.y.to_numpy(float)
    w = pc.w.to_numpy(float)
    cl = pc.cluster.to_numpy()
    check(pc[feats + ["y"]].equals(pima), "pima_cluster.csv holds pima_tr.csv's rows")

    print("4. ref_robust_logistic_pima.csv")
    b, cov = logistic_reference("pima", X, y, np.ones(len(y)))
    write_csv("ref_robust_logistic_pima.csv", ["term", "estimate", "robust_se"], zip(terms, b, np.sqrt(np.diag(cov))))
    print("5. ref_robust_logistic_pima_weighted.csv")
    b, cov = logistic_reference("pima_weighted", X, y, w)
    write_csv("ref_robust_logistic_pima_weighted.csv", ["term", "estimate", "robust_se"],
              zip(terms, b, np.sqrt(np.diag(cov))))
    print("6. ref_cluster_logistic_pima.csv")
    b, cov = logistic_reference("pima_cluster", X, y, np.ones(len(y)), cl)
    write_csv("ref_cluster_logistic_pima.csv", ["term", "estimate", "cluster_se"], zip(terms, b, np.sqrt(np.diag(cov))))
    print("7. ref_cluster_logistic_pima_weighted.csv")
    b, cov = logistic_reference("pima_cluster_weighted", X, y, w, cl)
    write_csv("ref_cluster_logistic_pima_weighted.csv", ["term", "estimate", "cluster_se"],
              zip(terms, b, np.sqrt(np.diag(cov))))
    print("all cross-checks passed")


if __name__ == "__main__":
    main()
