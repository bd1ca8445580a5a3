#!/usr/bin/env python3
"""btfit against its peers, end to end, on the same files and the same objective.

    f(theta) = sum_k NLL_k(theta) + (lambda / 2) ||theta||^2,  lambda = 1

Bradley-Terry: theta are the item strengths (no intercept; every item penalized). Logistic
regression: theta are the coefficients, no intercept (btfit runs with --no-intercept, as the
peers fit none). Every run is one fresh process (a peer in a child of this script, btfit as
its command line), timed from start to exit: reading the file, building the data, fitting
and, for btfit, writing the result. Each run's parameters are read back and the objective is
evaluated here, in float64, by one function for all; a run "reaches the optimum" when its
objective is within a relative 1e-9 of the best one found. Peers that are not installed are
skipped and named.

Peers (each with tight tolerances):
  btfit       btfit fit / btfit logistic, --l2 1 --no-se (the peers compute no SEs)
  sklearn     LogisticRegression(C = 1/lambda, fit_intercept=False): Bradley-Terry on the
              +1/-1 sparse design (half the rows mirrored so both classes occur), newton-cg;
              dense rows newton-cholesky; sparse rows newton-cg
  numpy       Newman's (2023) iteration in plain numpy (np.bincount sums), with the L2 term
              in the step (one Newton step of its equation) and the best common shift after
              each step (btfit's newman.cpp without its Anderson acceleration)
  torch       PyTorch L-BFGS (strong Wolfe line search), float64, CPU
  choix       choix.opt_pairwise(alpha = lambda / 2, Newton-CG): choix's penalty is
              alpha ||theta||^2. A Python loop per comparison and a dense n x n Hessian
  evalica     evalica.bradley_terry: the unpenalized MLE only (a dense n x n matrix); its gap
              to the penalized objective is reported
  liblinear   LIBLINEAR -s 0 -c 1/lambda (C sum NLL + ||w||^2 / 2, the same minimizer), rows only

Usage:
  tools/bench_peers.py [--small] [--btfit build/btfit] [--repeat N] [--timeout S]
                       [--out FILE.md] [--work DIR] [--only SCENARIO,...]
  --small runs a tiny ladder in well under a minute (a check that every peer path works).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

LAMBDA = 1.0
EQUAL_GAP = 1e-9

# --------------------------------------------------------------------------------------
# The ladder


def ladder(small: bool):
    if small:
        return [
            dict(name="BT 100 x 1e4", kind="bt", items=100, rows=10000, popularity="uniform"),
            dict(name="BT 100 x 1e4 heavy", kind="bt", items=100, rows=10000, popularity="heavy"),
            dict(name="logistic dense 2000 x 10", kind="dense", rows=2000, features=10),
            dict(name="logistic sparse 2000 x 200", kind="sparse", rows=2000, features=200, nnz_per_row=10),
        ]
    return [
        dict(name="BT 1e3 x 1e5", kind="bt", items=1000, rows=100000, popularity="uniform"),
        dict(name="BT 1e3 x 1e5 heavy", kind="bt", items=1000, rows=100000, popularity="heavy"),
        dict(name="BT 1e4 x 1e6", kind="bt", items=10000, rows=1000000, popularity="uniform"),
        dict(name="BT 1e4 x 1e6 heavy", kind="bt", items=10000, rows=1000000, popularity="heavy"),
        dict(name="BT 1e5 x 1e7", kind="bt", items=100000, rows=10000000, popularity="uniform"),
        dict(name="BT 1e5 x 1e7 heavy", kind="bt", items=100000, rows=10000000, popularity="heavy"),
        dict(name="logistic dense 1e5 x 50", kind="dense", rows=100000, features=50),
        dict(name="logistic dense 1e6 x 100", kind="dense", rows=1000000, features=100),
        dict(name="logistic sparse 1e6 x 1e5", kind="sparse", rows=1000000, features=100000, nnz_per_row=17),
    ]


# Peers that cannot run a size at all (memory or a per-comparison Python loop), with why.
def peer_limit(peer: str, scenario: dict):
    if peer == "choix" and scenario["kind"] == "bt" and (scenario["items"] > 1000 or scenario["rows"] > 100000):
        return "Python loop per comparison and a dense n x n Hessian: runs above 1e3 x 1e5 take hours"
    if peer == "evalica" and scenario["kind"] == "bt" and scenario["items"] > 1000:
        return "dense n x n matrices and no L2 term: minutes already at 1e3 items (80 GB at 1e5)"
    return None


PEERS = {
    "bt": ["btfit", "numpy", "sklearn", "torch", "evalica", "choix"],
    "dense": ["btfit", "sklearn", "torch", "liblinear"],
    "sparse": ["btfit", "liblinear", "sklearn", "torch"],
}


def peer_available(peer: str):
    modules = {"sklearn": "sklearn", "torch": "torch", "choix": "choix", "evalica": "evalica",
               "liblinear": "liblinear.liblinearutil", "numpy": "numpy"}
    if peer == "btfit":
        return True
    try:
        __import__(modules[peer])
        return True
    except Exception:
        return False


# --------------------------------------------------------------------------------------
# Data files


def make_files(scenario: dict, work: str, btfit: str) -> dict:
    """Writes the scenario's data file(s); returns the paths."""
    kind = scenario["kind"]
    if kind == "bt":
        path = os.path.join(work, "bt.csv")
        subprocess.run([btfit, "simulate", "comparisons", "--items", str(scenario["items"]), "--comparisons",
                        str(scenario["rows"]), "--popularity", scenario["popularity"], "--seed", "1", "--out", path],
                       check=True)
        return {"file": path}
    if kind == "dense":
        path = os.path.join(work, "rows.csv")
        subprocess.run([btfit, "simulate", "rows", "--rows", str(scenario["rows"]), "--features",
                        str(scenario["features"]), "--seed", "1", "--out", path], check=True)
        return {"file": path}
    path = os.path.join(work, "rows.svm")
    write_libsvm(path, scenario["rows"], scenario["features"], scenario["nnz_per_row"], seed=1)
    return {"file": path}


def write_libsvm(path: str, n_rows: int, n_features: int, nnz_per_row: int, seed: int):
    """Sparse rows like bag-of-words data: Zipf-distributed feature indices (1-based,
    increasing within a row), values 1 to 3, labels +1/-1 from a sparse logistic model."""
    rng = np.random.default_rng(seed)
    beta = np.where(rng.random(n_features) < 0.1, rng.normal(0.0, 1.0, n_features), 0.0)
    ranks = np.arange(1, n_features + 1)
    popularity = 1.0 / ranks**0.8
    popularity /= popularity.sum()
    order = rng.permutation(n_features)  # which feature has which popularity rank
    chunk = 100000
    with open(path, "w") as out:
        for begin in range(0, n_rows, chunk):
            rows = min(chunk, n_rows - begin)
            counts = rng.poisson(nnz_per_row - 1, rows) + 1
            picks = order[rng.choice(n_features, size=counts.sum(), p=popularity)]
            values = rng.integers(1, 4, size=picks.size)
            lines = []
            offset = 0
            for i in range(rows):
                idx = picks[offset:offset + counts[i]]
                val = values[offset:offset + counts[i]]
                offset += counts[i]
                idx, first = np.unique(idx, return_index=True)
                val = val[first]
                if begin + i == 0:  # the last feature occurs, so every tool sees all of them
                    idx = np.append(idx[idx != n_features - 1], n_features - 1)
                    val = np.append(val[: idx.size - 1], 1)
                eta = float(beta[idx] @ val) * 0.5
                label = "+1" if rng.random() < 1.0 / (1.0 + np.exp(-eta)) else "-1"
                lines.append(label + " " + " ".join(f"{j + 1}:{v}" for j, v in zip(idx, val)))
            out.write("\n".join(lines))
            out.write("\n")


# --------------------------------------------------------------------------------------
# Reading the data (peers time this; the objective check reuses it untimed)


def read_bt(path: str):
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, engine="c")
    codes, names = pd.factorize(pd.concat([frame["winner"], frame["loser"]], ignore_index=True))
    n = len(frame)
    return codes[:n].astype(np.int64), codes[n:].astype(np.int64), np.asarray(names)


def read_dense(path: str):
    import pandas as pd

    frame = pd.read_csv(path, engine="c", dtype=np.float64)
    y = frame.pop("y").to_numpy()
    return np.ascontiguousarray(frame.to_numpy()), y, list(frame.columns)


def read_sparse(path: str):
    from sklearn.datasets import load_svmlight_file

    x, y = load_svmlight_file(path, dtype=np.float64)
    return x.tocsr(), (y > 0).astype(np.float64)


def softplus(t):
    return np.logaddexp(0.0, t)


def bt_objective(theta, winner, loser):
    return float(softplus(-(theta[winner] - theta[loser])).sum() + 0.5 * LAMBDA * theta @ theta)


def logistic_objective(beta, x, y):
    eta = x @ beta
    return float((softplus(eta) - y * eta).sum() + 0.5 * LAMBDA * beta @ beta)


# --------------------------------------------------------------------------------------
# The peers (each runs in a child process: python3 bench_peers.py --peer NAME ...)


def newman_numpy(winner, loser, n_items, tol=1e-10, max_iter=10000):
    """Newman's iteration with the L2 term (lambda), vectorized with np.bincount: per item
    A = sum of wins x P(lose), B = sum of losses x P(win); the gradient is B - A + lambda s.
    Newman's step exp(delta) = A / B solves A e^(-delta/2) = B e^(delta/2); with the L2 term
    the step equation A e^(-delta/2) - B e^(delta/2) = lambda (s + delta) is solved by one
    Newton step from 0, delta = (A - B - lambda s) / ((A + B)/2 + lambda) (the same fixed
    points), then the strengths are recentred (the best common shift under L2)."""
    s = np.zeros(n_items)
    g0 = None
    for _ in range(max_iter):
        q = 1.0 / (1.0 + np.exp(s[winner] - s[loser]))  # P(the winner loses)
        a = np.bincount(winner, weights=q, minlength=n_items)  # wins x P(lose)
        b = np.bincount(loser, weights=q, minlength=n_items)   # losses x P(win)
        g = b - a + LAMBDA * s
        gnorm = np.sqrt(g @ g)
        if g0 is None:
            g0 = gnorm
        if gnorm <= tol * g0:
            break
        s = s - g / (0.5 * (a + b) + LAMBDA)
        s -= s.mean()
    return s


def run_peer(peer: str, kind: str, path: str, out_path: str):
    start = time.perf_counter()
    info = {}
    if kind == "bt":
        winner, loser, names = read_bt(path)
        n_items = len(names)
        if peer == "numpy":
            theta = newman_numpy(winner, loser, n_items)
        elif peer == "sklearn":
            import scipy.sparse as sp
            from sklearn.linear_model import LogisticRegression

            n = winner.size
            sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # mirror every other row: y = 0
            rows = np.repeat(np.arange(n), 2)
            cols = np.stack([winner, loser], axis=1).ravel()
            vals = np.stack([sign, -sign], axis=1).ravel()
            x = sp.csr_matrix((vals, (rows, cols)), shape=(n, n_items))
            y = (sign > 0).astype(np.float64)
            model = LogisticRegression(C=1.0 / LAMBDA, fit_intercept=False, solver="newton-cg", tol=1e-10,
                                       max_iter=1000)
            model.fit(x, y)
            theta = model.coef_.ravel()
            info["iterations"] = int(np.max(model.n_iter_))
        elif peer == "torch":
            import torch

            torch.set_default_dtype(torch.float64)
            w = torch.from_numpy(winner)
            l = torch.from_numpy(loser)
            t = torch.zeros(n_items, requires_grad=True)
            opt = torch.optim.LBFGS([t], lr=1, max_iter=10000, tolerance_grad=1e-12, tolerance_change=1e-16,
                                    history_size=10, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                loss = torch.nn.functional.softplus(-(t[w] - t[l])).sum() + 0.5 * LAMBDA * (t * t).sum()
                loss.backward()
                return loss

            opt.step(closure)
            theta = t.detach().numpy().copy()
            info["iterations"] = int(opt.state[opt._params[0]]["n_iter"])
        elif peer == "choix":
            import choix

            data = list(zip(winner.tolist(), loser.tolist()))
            theta = choix.opt_pairwise(n_items, data, alpha=LAMBDA / 2, method="Newton-CG", tol=1e-10)
        elif peer == "evalica":
            import evalica
            import pandas as pd

            result = evalica.bradley_terry(winner, loser, [evalica.Winner.X] * winner.size, tolerance=1e-12,
                                           limit=100000)
            scores = result.scores.reindex(range(n_items)).to_numpy()
            theta = np.log(scores)
            theta -= theta.mean()
            info["note"] = "the unpenalized MLE (evalica has no L2 term)"
        else:
            raise SystemExit("unknown peer " + peer)
    else:
        if kind == "dense":
            x, y, _ = read_dense(path)
        else:
            x, y = read_sparse(path)
        if peer == "sklearn":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(C=1.0 / LAMBDA, fit_intercept=False,
                                       solver="newton-cholesky" if kind == "dense" else "newton-cg", tol=1e-10,
                                       max_iter=1000)
            model.fit(x, y)
            theta = model.coef_.ravel()
            info["iterations"] = int(np.max(model.n_iter_))
        elif peer == "liblinear":
            import scipy.sparse as sp
            from liblinear.liblinearutil import train

            xs = sp.csr_matrix(x)
            model = train(np.where(y > 0, 1.0, -1.0), xs, f"-s 0 -c {1.0 / LAMBDA} -e 1e-10 -q")
            w = np.array(model.get_decfun()[0])
            labels = model.get_labels()
            theta = w if labels[0] == 1 else -w
        elif peer == "torch":
            import torch

            torch.set_default_dtype(torch.float64)
            if kind == "dense":
                xt = torch.from_numpy(x)
            else:
                xt = torch.sparse_csr_tensor(torch.from_numpy(x.indptr), torch.from_numpy(x.indices),
                                             torch.from_numpy(x.data), size=x.shape)
            yt = torch.from_numpy(y)
            b = torch.zeros(x.shape[1], requires_grad=True)
            opt = torch.optim.LBFGS([b], lr=1, max_iter=10000, tolerance_grad=1e-12, tolerance_change=1e-16,
                                    history_size=10, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                eta = xt @ b
                loss = (torch.nn.functional.softplus(eta) - yt * eta).sum() + 0.5 * LAMBDA * (b * b).sum()
                loss.backward()
                return loss

            opt.step(closure)
            theta = b.detach().numpy().copy()
            info["iterations"] = int(opt.state[opt._params[0]]["n_iter"])
        else:
            raise SystemExit("unknown peer " + peer)
    info["seconds"] = time.perf_counter() - start
    np.save(out_path, np.asarray(theta, dtype=np.float64))
    with open(out_path + ".json", "w") as f:
        json.dump(info, f)


# --------------------------------------------------------------------------------------
# Running and checking


def timed(cmd, timeout):
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", ""
    return time.perf_counter() - start, proc.stdout, proc.stderr if proc.returncode == 0 else (
        "exit %d: %s" % (proc.returncode, proc.stderr[-500:]))


def btfit_theta(kind, csv_text, names):
    """Parameters from btfit's result CSV, in the peers' order."""
    lines = csv_text.strip().split("\n")[1:]
    values = {}
    for line in lines:
        fields = line.split(",")
        values[fields[0]] = float(fields[1])
    if kind == "bt":
        return np.array([values[name] for name in names])
    return np.array([values.get(name, 0.0) for name in names])


def run_scenario(scenario, args, work):
    files = make_files(scenario, work, args.btfit)
    path = files["file"]
    kind = scenario["kind"]
    # The data once more, untimed, for the objective check.
    if kind == "bt":
        winner, loser, names = read_bt(path)
        objective = lambda theta: bt_objective(theta, winner, loser)
        term_names = list(names)
    elif kind == "dense":
        x, y, columns = read_dense(path)
        objective = lambda theta: logistic_objective(theta, x, y)
        term_names = columns
    else:
        x, y = read_sparse(path)
        objective = lambda theta: logistic_objective(theta, x, y)
        term_names = [str(j + 1) for j in range(x.shape[1])]
    size_mb = os.path.getsize(path) / 1e6
    results = []
    for peer in PEERS[kind]:
        row = dict(peer=peer, seconds=None, objective=None, note="")
        why = peer_limit(peer, scenario)
        if not peer_available(peer):
            row["note"] = "not installed"
            results.append(row)
            continue
        if why:
            row["note"] = "skipped: " + why
            results.append(row)
            continue
        best = None
        repeats = args.repeat if scenario["rows"] <= args.repeat_max_rows else 1
        for _ in range(repeats):
            out = os.path.join(work, peer + ".npy")
            if peer == "btfit":
                result_csv = os.path.join(work, "btfit_out.csv")
                if kind == "bt":
                    cmd = [args.btfit, "fit", path, "--l2", str(LAMBDA), "--no-se", "--out", result_csv]
                else:
                    cmd = [args.btfit, "logistic", path, "--l2", str(LAMBDA), "--no-intercept", "--no-se",
                           "--out", result_csv]
                    if kind == "dense":
                        cmd += ["--label", "y"]
                seconds, _, err = timed(cmd, args.timeout)
                if seconds is not None and not err.startswith("exit"):
                    with open(result_csv) as f:
                        theta = btfit_theta(kind, f.read(), term_names)
                    solver_line = [l for l in err.split("\n") if "iterations of" in l]
                    row["note"] = solver_line[0].strip() if solver_line else ""
            else:
                cmd = [sys.executable, os.path.abspath(__file__), "--peer", peer, "--kind", kind, "--file", path,
                       "--result", out]
                seconds, _, err = timed(cmd, args.timeout)
                if seconds is not None and not err.startswith("exit"):
                    theta = np.load(out)
                    with open(out + ".json") as f:
                        info = json.load(f)
                    if "iterations" in info:
                        row["note"] = "%d iterations" % info["iterations"]
                    if "note" in info:
                        row["note"] = info["note"]
            if seconds is None or err.startswith("exit"):
                why = ("> %d s (timed out)" % args.timeout if seconds is None
                       else "failed: " + err.strip().split("\n")[-1][:200])
                row["note"] = why if best is None else row["note"] + "; a later run: " + why
                break
            if best is None or seconds < best:
                best = seconds
                row["objective"] = objective(theta)
        row["seconds"] = best
        results.append(row)
        print("  %-10s %s  %s" % (peer, "%.3f s" % best if best else "-", row["note"]), file=sys.stderr, flush=True)
    finite = [r["objective"] for r in results if r["objective"] is not None and np.isfinite(r["objective"])]
    f_best = min(finite) if finite else float("nan")
    btfit_row = next(r for r in results if r["peer"] == "btfit")
    for r in results:
        if r["objective"] is not None:
            r["gap"] = (r["objective"] - f_best) / abs(f_best)
    return dict(scenario=scenario, size_mb=size_mb, results=results, best=f_best, btfit=btfit_row)


def machine():
    model, cores = platform.processor() or "unknown", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        for line in out.split("\n"):
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except FileNotFoundError:
        pass
    return model, cores


def versions():
    from importlib import metadata

    out = []
    for package in ["numpy", "scipy", "pandas", "scikit-learn", "torch", "choix", "evalica", "liblinear-official"]:
        try:
            out.append("%s %s" % (package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            out.append("%s not installed" % package)
    return ", ".join(out)


def markdown(all_results, args, load_before, load_after):
    model, cores = machine()
    lines = []
    lines.append("Machine: %s, %d cores; %s; Python %s; %s." % (
        model, cores, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        platform.python_version(), versions()))
    lines.append("Load average (1 min) before and after: %.2f, %.2f. Times are the best of %d runs (one run "
                 "above %.0e rows)%s." % (load_before, load_after, args.repeat, args.repeat_max_rows,
        "; the load average shows other work on the machine, so they are upper bounds" if max(load_before, load_after) > 1.5
        else ""))
    lines.append("")
    lines.append("Command: `python3 tools/bench_peers.py%s --repeat %d --repeat-max-rows %.0e --timeout %d`" % (
        " --small" if args.small else "", args.repeat, args.repeat_max_rows, args.timeout))
    lines.append("")
    lines.append("| data | file MB | tool | seconds end to end | objective | relative gap | btfit/tool | note |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for sr in all_results:
        name = sr["scenario"]["name"]
        bt = sr["btfit"]
        for r in sr["results"]:
            seconds = "%.3f" % r["seconds"] if r["seconds"] is not None else "-"
            objective = "%.10g" % r["objective"] if r["objective"] is not None else "-"
            gap = "%.1e" % r["gap"] if r.get("gap") is not None else "-"
            ratio = "-"
            if r["peer"] != "btfit" and r["seconds"] and bt["seconds"]:
                ratio = "%.3f" % (bt["seconds"] / r["seconds"])
                if r.get("gap") is not None and r["gap"] > EQUAL_GAP:
                    ratio += " (peer short of the optimum)"
            lines.append("| %s | %.0f | %s | %s | %s | %s | %s | %s |" % (
                name, sr["size_mb"], r["peer"], seconds, objective, gap, ratio, r["note"]))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="a tiny ladder, under a minute")
    parser.add_argument("--btfit", default="build/btfit", help="the btfit binary (default build/btfit)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per tool, best kept (default 3, 1 with --small)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per run before giving up (default 600)")
    parser.add_argument("--repeat-max-rows", type=float, default=1e6,
                        help="larger scenarios run once per tool (default 1e6 rows)")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    parser.add_argument("--work", default=None, help="folder for the data files (default: a temporary one)")
    parser.add_argument("--only", default=None, help="comma-separated scenario names (substrings) to run")
    # A peer run (internal).
    parser.add_argument("--peer")
    parser.add_argument("--kind")
    parser.add_argument("--file")
    parser.add_argument("--result")
    args = parser.parse_args()
    if args.peer:
        run_peer(args.peer, args.kind, args.file, args.result)
        return
    if args.repeat is None:
        args.repeat = 1 if args.small else 3
    if not (os.path.exists(args.btfit) and os.access(args.btfit, os.X_OK)):
        raise SystemExit("bench_peers: no btfit binary at %s (build first, or pass --btfit)" % args.btfit)
    args.btfit = os.path.abspath(args.btfit)
    missing = [p for p in ["sklearn", "torch", "choix", "evalica", "liblinear"] if not peer_available(p)]
    if missing:
        print("bench_peers: not installed, skipped: " + ", ".join(missing), file=sys.stderr)
    work = args.work or tempfile.mkdtemp(prefix="btfit_peers_")
    os.makedirs(work, exist_ok=True)
    load_before = os.getloadavg()[0]
    all_results = []
    try:
        for scenario in ladder(args.small):
            if args.only and not any(s.strip() in scenario["name"] for s in args.only.split(",")):
                continue
            print("bench_peers: %s" % scenario["name"], file=sys.stderr, flush=True)
            all_results.append(run_scenario(scenario, args, work))
            if args.out:  # the table so far, after every scenario
                with open(args.out, "w") as f:
                    f.write(markdown(all_results, args, load_before, os.getloadavg()[0]))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    table = markdown(all_results, args, load_before, os.getloadavg()[0])
    if not args.small:
        table += ("\nNot run: Bradley-Terry 1e6 items x 1e8 comparisons (a 2 GB CSV; the peers alone would take "
                  "hours on this machine).\n")
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)


if __name__ == "__main__":
    main()
