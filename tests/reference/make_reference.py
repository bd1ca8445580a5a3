#!/usr/bin/env python3
"""Reference values for btfit's tests, computed offline with statsmodels / scipy / scikit-learn.

Run from the repository root:

    python3 tests/reference/make_reference.py

Reads tests/data/{baseball.csv, baseball_games.csv, pima_tr.csv} and writes into tests/data/:

    prior_baseball.csv            Gaussian priors used by ref_bt_baseball_prior.csv (input)
    pima_weighted.csv             pima_tr.csv plus a frequency weight column w = 1 + (k mod 3)
    ref_bt_baseball.csv           unpenalized Bradley-Terry MLE, mean-zero strengths, SE from pinv(H)
    ref_bt_baseball_home.csv      the same from baseball_games.csv with a home advantage `(home)`
    ref_bt_baseball_l2.csv        L2 penalty (lambda/2) sum s_i^2, lambda = 2.5
    ref_bt_baseball_pseudo.csv    pseudo-comparisons C = 1 against a virtual item at strength 0
    ref_bt_baseball_prior.csv     Gaussian priors from prior_baseball.csv
    ref_logistic_pima.csv         unpenalized logistic regression with intercept
    ref_logistic_pima_l2.csv      L2 lambda = 3.0 on the feature coefficients (not the intercept)
    ref_logistic_pima_weighted.csv  unpenalized, frequency weights from pima_weighted.csv
    ref_nll.csv                   NLL (a sum) and full objective (NLL + penalty) at each optimum

Conventions (see CONVENTIONS.md): f(theta) = sum_k w_k [softplus(eta_k) - y_k eta_k] + penalty;
SE = sqrt(diag(H^-1)) with H the Hessian of f (Moore-Penrose pseudo-inverse when H is singular,
i.e. for the unpenalized Bradley-Terry fits, which report mean-zero strengths).
Every value is cross-checked by a second, independent computation; the script stops on failure.
Numbers are written with repr(float): the shortest decimal that reads back to the same double.
"""

import csv
import os
import sys

import numpy as np
import pandas as pd
import scipy
import scipy.optimize
import sklearn
import statsmodels
import statsmodels.api as sm
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

DATA = os.path.join("tests", "data")


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

def softplus(t):
    t = np.asarray(t, dtype=float)
    return np.maximum(t, 0.0) + np.log1p(np.exp(-np.abs(t)))


def nll(X, y, w, theta):
    """sum_k w_k [softplus(eta_k) - y_k eta_k], eta = X theta."""
    eta = X @ theta
    return float(np.sum(w * (softplus(eta) - y * eta)))


def check(cond, what):
    if not cond:
        sys.exit(f"CROSS-CHECK FAILED: {what}")
    print(f"  ok: {what}")


def close(a, b):
    """max absolute difference, relative for entries larger than 1."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def write_csv(name, header, rows):
    path = os.path.join(DATA, name)
    with open(path, "w", newline="") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(header)
        for row in rows:
            wr.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in row])
    print(f"  wrote {path}")


class Quadratic:
    """Diagonal Gaussian penalty sum_j prec_j/2 (theta_j - mean_j)^2 (L2: prec = lambda, mean = 0)."""

    def __init__(self, prec, mean=None):
        self.prec = np.asarray(prec, float)
        self.mean = np.zeros_like(self.prec) if mean is None else np.asarray(mean, float)

    def value(self, theta):
        return float(0.5 * np.sum(self.prec * (theta - self.mean) ** 2))

    def grad(self, theta):
        return self.prec * (theta - self.mean)


def fit_penalized(X, y, w, pen, what):
    """Minimize sum w [softplus(X theta) - y X theta] + pen(theta) with scipy trust-exact
    (exact gradient and Hessian), then polish with scipy.optimize.root on the gradient: near the
    optimum trust-exact can stop on function-value roundoff (|grad| ~ 1e-8) while solving
    grad = 0 directly reaches roundoff in the gradient. Returns theta, H (Hessian of the
    objective), gradient norm."""

    def fun(th):
        return nll(X, y, w, th) + pen.value(th)

    def jac(th):
        return X.T @ (w * (expit(X @ th) - y)) + pen.grad(th)

    def hess(th):
        p = expit(X @ th)
        return X.T @ ((w * p * (1 - p))[:, None] * X) + np.diag(pen.prec)

    res = scipy.optimize.minimize(fun, np.zeros(X.shape[1]), jac=jac, hess=hess,
                                  method="trust-exact",
                                  options={"gtol": 1e-12, "maxiter": 1000})
    g0 = float(np.linalg.norm(jac(res.x)))
    rt = scipy.optimize.root(jac, res.x, jac=hess, method="hybr", options={"xtol": 1e-15})
    x = rt.x if np.linalg.norm(jac(rt.x)) <= g0 else res.x
    gnorm = float(np.linalg.norm(jac(x)))
    print(f"  {what}: trust-exact nit={res.nit} |grad|={g0:.3e} ({res.message}); "
          f"after root polish |grad|={gnorm:.3e}")
    return x, hess(x), gnorm


def newton_logistic(X, y, w, prec=None, mean=None, tol=1e-13, maxit=100):
    """Plain Newton-Raphson with step halving for
    sum w [softplus(X th) - y X th] + sum prec/2 (th - mean)^2, written independently of
    fit_penalized (also used with pinv for the singular, unpenalized Bradley-Terry case)."""
    k = X.shape[1]
    prec = np.zeros(k) if prec is None else np.asarray(prec, float)
    mean = np.zeros(k) if mean is None else np.asarray(mean, float)
    th = np.zeros(k)

    def obj(t):
        e = X @ t
        return np.sum(w * (softplus(e) - y * e)) + 0.5 * np.sum(prec * (t - mean) ** 2)

    for _ in range(maxit):
        p = expit(X @ th)
        g = X.T @ (w * (p - y)) + prec * (th - mean)
        if np.linalg.norm(g) < tol:
            break
        H = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(prec)
        step = np.linalg.solve(H, g)
        f0, t = obj(th), 1.0
        while obj(th - t * step) > f0 + 1e-12 * abs(f0) and t > 1e-10:
            t *= 0.5
        th = th - t * step
    p = expit(X @ th)
    H = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(prec)
    g = X.T @ (w * (p - y)) + prec * (th - mean)
    return th, H, float(np.linalg.norm(g))


# ---------------------------------------------------------------------------------------------
# Bradley-Terry
# ---------------------------------------------------------------------------------------------

def bt_design(a, b, items):
    """Rows e_a - e_b over all items."""
    idx = {it: i for i, it in enumerate(items)}
    X = np.zeros((len(a), len(items)))
    X[np.arange(len(a)), [idx[v] for v in a]] += 1.0
    X[np.arange(len(a)), [idx[v] for v in b]] -= 1.0
    return X


def bt_laplacian(a, b, w, s, items):
    """Hessian of the BT NLL in all n strengths, built edge by edge:
    sum_k w_k p_k (1 - p_k) (e_a - e_b)(e_a - e_b)^T."""
    idx = {it: i for i, it in enumerate(items)}
    H = np.zeros((len(items), len(items)))
    for ak, bk, wk in zip(a, b, w):
        i, j = idx[ak], idx[bk]
        p = expit(s[i] - s[j])
        c = wk * p * (1 - p)
        H[i, i] += c
        H[j, j] += c
        H[i, j] -= c
        H[j, i] -= c
    return H


def main():
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"pandas {pd.__version__}, statsmodels {statsmodels.__version__}, "
          f"scikit-learn {sklearn.__version__}")
    nll_rows = []

    bb = pd.read_csv(os.path.join(DATA, "baseball.csv"))
    games = pd.read_csv(os.path.join(DATA, "baseball_games.csv"))
    items = sorted(set(bb.winner) | set(bb.loser))
    n = len(items)
    A = np.eye(n) - np.ones((n, n)) / n  # centring: s -> s - mean(s)

    # The game-by-game file is the same season: its winner/loser tallies must equal baseball.csv.
    gw = np.where(games.outcome == 1, games.home, games.away)
    gl = np.where(games.outcome == 1, games.away, games.home)
    tally = pd.Series(1, index=pd.MultiIndex.from_arrays([gw, gl])).groupby(level=[0, 1]).sum()
    agg = bb.set_index(["winner", "loser"])["count"]
    print("baseball_games.csv vs baseball.csv")
    check(tally.sort_index().equals(agg.sort_index().rename(None)),
          "games tallied by winner/loser equal baseball.csv counts")

    Xb = bt_design(bb.winner, bb.loser, items)
    yb = np.ones(len(bb))
    wb = bb["count"].to_numpy(float)

    # 1. Unpenalized BT MLE -------------------------------------------------------------------
    print("1. ref_bt_baseball.csv (reference item for the GLM:", items[0] + ")")
    glm = sm.GLM(yb, Xb[:, 1:], family=sm.families.Binomial(), freq_weights=wb)
    r = glm.fit(tol=1e-14, maxiter=200)
    s_full = np.concatenate([[0.0], r.params])
    s = s_full - s_full.mean()
    Sig = np.zeros((n, n))
    Sig[1:, 1:] = r.cov_params()
    cov = A @ Sig @ A.T
    se = np.sqrt(np.diag(cov))
    H = bt_laplacian(bb.winner, bb.loser, wb, s, items)
    g = Xb.T @ (wb * (expit(Xb @ s) - yb))
    print(f"  |grad| at GLM optimum = {np.linalg.norm(g):.3e}")
    check(np.linalg.norm(g) < 1e-10, "gradient norm < 1e-10 at the GLM optimum")
    check(close(cov, np.linalg.pinv(H)) < 1e-9, "A Sigma A^T == pinv(Laplacian Hessian) to 1e-9")
    check(close(se, np.sqrt(np.diag(np.linalg.pinv(H)))) < 1e-9, "se == sqrt(diag(pinv(H)))")
    s_n, _, gn = newton_logistic(Xb[:, 1:], yb, wb)
    check(close(np.concatenate([[0.0], s_n]), s_full) < 1e-10, "own Newton gives the same MLE")
    check(abs(s.mean()) < 1e-14, "strengths are mean zero")
    write_csv("ref_bt_baseball.csv", ["item", "strength", "se"], zip(items, s, se))
    v = nll(Xb, yb, wb, s)
    check(abs(v - (-r.llf)) < 1e-9, "NLL equals -statsmodels llf")
    nll_rows.append(("bt_baseball", v, v))

    # 2. Home advantage ----------------------------------------------------------------------
    print("2. ref_bt_baseball_home.csv")
    Xg = np.column_stack([bt_design(games.home, games.away, items), np.ones(len(games))])
    yg = games.outcome.to_numpy(float)
    wg = np.ones(len(games))
    r = sm.GLM(yg, Xg[:, 1:], family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    th_full = np.concatenate([[0.0], r.params])  # (s_1 = 0, s_2..s_n, h)
    B = np.eye(n + 1)
    B[:n, :n] = A
    th = B @ th_full
    Sig = np.zeros((n + 1, n + 1))
    Sig[1:, 1:] = r.cov_params()
    cov = B @ Sig @ B.T
    se = np.sqrt(np.diag(cov))
    p = expit(Xg @ th)
    Hfull = Xg.T @ ((wg * p * (1 - p))[:, None] * Xg)
    g = Xg.T @ (wg * (p - yg))
    print(f"  |grad| at GLM optimum = {np.linalg.norm(g):.3e}")
    check(np.linalg.norm(g) < 1e-10, "gradient norm < 1e-10 at the GLM optimum")
    check(np.linalg.matrix_rank(Hfull) == n, "full Hessian in (s, h) has rank n (one null direction)")
    check(close(cov, np.linalg.pinv(Hfull)) < 1e-9, "B Sigma B^T == pinv(full Hessian in (s, h))")
    check(abs(th[:n].mean()) < 1e-14, "item strengths are mean zero")
    write_csv("ref_bt_baseball_home.csv", ["item", "strength", "se"],
              list(zip(items + ["(home)"], th, se)))
    v = nll(Xg, yg, wg, th)
    check(abs(v - (-r.llf)) < 1e-9, "NLL equals -statsmodels llf")
    nll_rows.append(("bt_baseball_home", v, v))

    # 3.-5. Penalized BT fits in all n strengths ----------------------------------------------
    def bt_penalized(tag, pen, X, y, w, data_rows):
        s, H, gn = fit_penalized(X, y, w, pen, tag)
        check(gn < 1e-10, f"gradient norm {gn:.2e} < 1e-10")
        check(np.min(np.linalg.eigvalsh(H)) > 1e-6, "penalized Hessian is positive definite")
        # independent Hessian: edge-by-edge Laplacian of the data plus the penalty/pseudo part
        H2 = bt_laplacian(bb.winner, bb.loser, wb, s, items) + np.diag(pen.prec)
        if X.shape[0] > data_rows:  # pseudo-comparisons: C [softplus(s)-s] + C softplus(s)
            C = w[data_rows]
            H2 += np.diag(2 * C * expit(s) * (1 - expit(s)))
        check(close(H, H2) < 1e-12, "Hessian equals edge-by-edge Laplacian + penalty part")
        s_n, _, _ = newton_logistic(X, y, w, pen.prec, pen.mean)
        check(close(s_n, s) < 1e-10, "own Newton gives the same optimum")
        se = np.sqrt(np.diag(np.linalg.inv(H)))
        write_csv(f"ref_{tag}.csv", ["item", "strength", "se"], zip(items, s, se))
        v = nll(Xb, yb, wb, s)
        obj = nll(X, y, w, s) + pen.value(s)
        nll_rows.append((tag, v, obj))
        return s

    print("3. ref_bt_baseball_l2.csv (lambda = 2.5)")
    lam = 2.5
    s3 = bt_penalized("bt_baseball_l2", Quadratic(np.full(n, lam)), Xb, yb, wb, len(bb))
    check(abs(s3.mean()) < 1e-12, "L2 optimum is mean zero by itself")

    print("4. ref_bt_baseball_pseudo.csv (C = 1)")
    C = 1.0
    Xp = np.vstack([Xb, np.eye(n), np.eye(n)])  # C wins and C losses against a virtual item at 0
    yp = np.concatenate([yb, np.ones(n), np.zeros(n)])
    wp = np.concatenate([wb, np.full(n, C), np.full(n, C)])
    s4 = bt_penalized("bt_baseball_pseudo", Quadratic(np.zeros(n)), Xp, yp, wp, len(bb))
    extra = float(np.sum(C * (softplus(s4) - s4) + C * softplus(s4)))
    check(abs((nll(Xp, yp, wp, s4) - nll(Xb, yb, wb, s4)) - extra) < 1e-10,
          "pseudo rows add C[softplus(s)-s] + C softplus(s) per item")

    print("5. ref_bt_baseball_prior.csv")
    prior = [("Boston", 0.3, 0.5), ("Detroit", -0.1, 1.0), ("Toronto", 0.0, 2.0)]
    write_csv("prior_baseball.csv", ["name", "mean", "sd"], prior)
    pr = pd.read_csv(os.path.join(DATA, "prior_baseball.csv"))
    prec, mean = np.zeros(n), np.zeros(n)
    for name, m, sd in zip(pr.name, pr["mean"], pr.sd):
        prec[items.index(name)] = 1.0 / sd ** 2
        mean[items.index(name)] = m
    s5 = bt_penalized("bt_baseball_prior", Quadratic(prec, mean), Xb, yb, wb, len(bb))
    # independent check: stationarity of the prior objective, written out by hand
    g = Xb.T @ (wb * (expit(Xb @ s5) - 1.0)) + prec * (s5 - mean)
    check(np.linalg.norm(g) < 1e-10, "hand-written gradient of NLL + prior vanishes")
    # the likelihood gradient sums to 0, so the prior gradient must too
    check(abs(np.sum(prec * (s5 - mean))) < 1e-10, "prior gradient sums to zero at the optimum")

    # Logistic regression (Pima) ------------------------------------------------------------
    pima = pd.read_csv(os.path.join(DATA, "pima_tr.csv"))
    feats = [c for c in pima.columns if c != "y"]
    terms = ["(intercept)"] + feats
    X = np.column_stack([np.ones(len(pima)), pima[feats].to_numpy(float)])
    y = pima.y.to_numpy(float)
    w1 = np.ones(len(pima))

    print("6. ref_logistic_pima.csv")
    r = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    rl = sm.Logit(y, X).fit(method="newton", tol=1e-14, maxiter=200, disp=0)
    b_n, H_n, gn = newton_logistic(X, y, w1)
    print(f"  own Newton |grad| = {gn:.3e}")
    check(close(r.params, b_n) < 1e-10, "GLM == own Newton (estimate)")
    check(close(r.params, rl.params) < 1e-10, "GLM == Logit (estimate)")
    check(close(r.bse, np.sqrt(np.diag(np.linalg.inv(H_n)))) < 1e-10, "GLM se == sqrt(diag(inv(H)))")
    check(close(r.bse, rl.bse) < 1e-10, "GLM se == Logit se")
    write_csv("ref_logistic_pima.csv", ["term", "estimate", "se"], zip(terms, r.params, r.bse))
    v = nll(X, y, w1, r.params)
    check(abs(v + r.llf) < 1e-9, "NLL equals -statsmodels llf")
    nll_rows.append(("logistic_pima", v, v))

    print("7. ref_logistic_pima_l2.csv (lambda = 3.0, intercept not penalized)")
    lam = 3.0
    prec = np.full(X.shape[1], lam)
    prec[0] = 0.0
    pen = Quadratic(prec)
    b, H, gn = fit_penalized(X, y, w1, pen, "logistic_pima_l2")
    check(gn < 1e-9, f"gradient norm {gn:.2e} < 1e-9")
    b_n, H_n, _ = newton_logistic(X, y, w1, prec)
    check(close(b, b_n) < 1e-10, "own Newton gives the same optimum")
    check(close(H, H_n) < 1e-12, "same penalized Hessian")
    sk = LogisticRegression(C=1.0 / lam, l1_ratio=0.0, solver="newton-cholesky", tol=1e-14,
                            max_iter=1000, fit_intercept=True).fit(X[:, 1:], y)
    b_sk = np.concatenate([sk.intercept_, sk.coef_.ravel()])
    print(f"  sklearn max rel diff = {close(b_sk, b):.2e}")
    check(close(b_sk, b) < 1e-6, "scikit-learn LogisticRegression(C=1/lambda) agrees to 1e-6")
    se = np.sqrt(np.diag(np.linalg.inv(H)))
    write_csv("ref_logistic_pima_l2.csv", ["term", "estimate", "se"], zip(terms, b, se))
    nll_rows.append(("logistic_pima_l2", nll(X, y, w1, b), nll(X, y, w1, b) + pen.value(b)))

    print("8. ref_logistic_pima_weighted.csv (w = 1 + (k mod 3))")
    wk = 1.0 + (np.arange(len(pima)) % 3)
    pw = pima.copy()
    pw["w"] = wk.astype(int)
    pw.to_csv(os.path.join(DATA, "pima_weighted.csv"), index=False, lineterminator="\n")
    print(f"  wrote {os.path.join(DATA, 'pima_weighted.csv')}")
    pw = pd.read_csv(os.path.join(DATA, "pima_weighted.csv"))
    check(pw[feats + ["y"]].equals(pima), "pima_weighted.csv reads back to pima_tr.csv + w")
    r = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=pw.w.to_numpy(float)).fit(
        tol=1e-14, maxiter=200)
    b_n, H_n, _ = newton_logistic(X, y, wk)
    check(close(r.params, b_n) < 1e-10, "GLM freq_weights == own weighted Newton")
    check(close(r.bse, np.sqrt(np.diag(np.linalg.inv(H_n)))) < 1e-10, "se == sqrt(diag(inv(H)))")
    rep = np.repeat(np.arange(len(pima)), wk.astype(int))
    rd = sm.GLM(y[rep], X[rep], family=sm.families.Binomial()).fit(tol=1e-14, maxiter=200)
    check(close(rd.params, r.params) < 1e-10, "duplicating rows gives the same estimate")
    check(close(rd.bse, r.bse) < 1e-10, "duplicating rows gives the same se")
    write_csv("ref_logistic_pima_weighted.csv", ["term", "estimate", "se"], zip(terms, r.params, r.bse))
    v = nll(X, y, wk, r.params)
    check(abs(v - nll(X[rep], y[rep], np.ones(len(rep)), r.params)) < 1e-9,
          "weighted NLL == NLL of the duplicated data")
    check(abs(v + r.llf) < 1e-9, "NLL equals -statsmodels llf")
    nll_rows.append(("logistic_pima_weighted", v, v))

    print("NLL at each optimum (sum over rows; objective includes the penalty)")
    for name, v, obj in nll_rows:
        print(f"  {name:24s} nll={v!r:24s} objective={obj!r}")
    write_csv("ref_nll.csv", ["name", "nll", "objective"], nll_rows)
    print("all cross-checks passed")


if __name__ == "__main__":
    main()
