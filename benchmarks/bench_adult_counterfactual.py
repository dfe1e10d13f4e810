#!/usr/bin/env python
"""Counterfactually fair logistic regression on full UCI Adult: timings.

Times, in one run and on the same data (best of ``k`` repeats):

1. scikit-learn ``LogisticRegression`` (lbfgs, tol 1e-4): the baseline;
2. fairlearn ``ExponentiatedGradient(LogisticRegression, DemographicParity())``;
3. ``CounterfactuallyFairClassifier(graph, epsilon=0)``, fast path;
4. the same with ``epsilon=0.5`` (fast path, L-BFGS-B over a box);
5. the same with ``solver="cvxpy"`` (``epsilon=0``): the reference program
   with one constraint per sample, solved by Clarabel. It may take minutes; it
   runs in a forked child process so that a time limit (``--cvxpy-timeout``)
   can stop it and its peak memory can be reported.

Data: ``load_adult()`` (48,842 rows), features are the nodes of
``adult_causal_graph()`` except ``sex``, one-hot encoded with
``one_hot_encode(frame, graph, exclude=["sex"])`` (a missing categorical value
gets all-zero indicators), numeric columns standardised with the statistics of
the training split; sensitive attribute ``sex``; target ``income == ">50K"``.

Timed fits use every row (full Adult, or the ``--quick`` subsample). The
accuracy column comes from separate, untimed fits on a fixed stratified 75%
split, scored on the remaining 25% (not computed for the cvxpy path, whose
solution is instead compared with the fast path's: see ``max |coef diff|``).

The script prints ratios and PASS/MISS lines against the targets; it never
asserts timings (they depend on the machine and its load).

Run from the repository root::

    python benchmarks/bench_adult_counterfactual.py              # full run
    python benchmarks/bench_adult_counterfactual.py --quick      # smoke run
    python benchmarks/bench_adult_counterfactual.py --no-cvxpy   # fast part
    python benchmarks/bench_adult_counterfactual.py --cvxpy-rows 10000
"""

import os

# One BLAS/OpenMP thread: must be set before numpy is imported (see
# NOTES.md, "Timing": two BLAS threads on a loaded 2-core machine distort
# timings by orders of magnitude).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import skcausal_trust  # noqa: E402
from skcausal_trust.causal import one_hot_encode  # noqa: E402
from skcausal_trust.datasets import adult_causal_graph, load_adult  # noqa: E402
from skcausal_trust.fairness import CounterfactuallyFairClassifier  # noqa: E402

LR_MAX_ITER = 10_000
TARGETS = {"eps0_vs_lr": 2.0, "epsilon_vs_lr": 5.0, "eg_speedup": 5.0}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def load_data(n_rows=None, seed=0):
    """Encoded Adult: X (DataFrame), y (0/1), sex (Series), graph, split."""
    bunch = load_adult()
    graph = adult_causal_graph()
    frame = bunch.data[list(graph.nodes)]
    y = (bunch.target.astype(str) == ">50K").to_numpy().astype(int)
    if n_rows is not None and n_rows < len(frame):
        keep, _ = train_test_split(
            np.arange(len(frame)), train_size=n_rows, stratify=y, random_state=seed
        )
        keep = np.sort(keep)
        frame, y = frame.iloc[keep].reset_index(drop=True), y[keep]
    encoded, expanded = one_hot_encode(frame, graph, exclude=["sex"])
    sex = encoded.pop("sex")
    numeric = [
        c for c in frame.columns
        if c != "sex" and pd.api.types.is_numeric_dtype(frame[c])
    ]
    X = encoded.astype(np.float64)
    train, test = train_test_split(
        np.arange(len(X)), test_size=0.25, stratify=y, random_state=seed
    )
    mean = X.iloc[train][numeric].mean()
    std = X.iloc[train][numeric].std(ddof=0)
    X[numeric] = (X[numeric] - mean) / std
    return X, y, sex, expanded, numeric, (np.sort(train), np.sort(test))


def stratified_rows(y, n_rows, seed=1):
    if n_rows is None or n_rows >= len(y):
        return np.arange(len(y))
    rows, _ = train_test_split(
        np.arange(len(y)), train_size=n_rows, stratify=y, random_state=seed
    )
    return np.sort(rows)


# ---------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------
def make_lr(graph):
    return LogisticRegression(max_iter=LR_MAX_ITER)


def make_eg(graph):
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient

    return ExponentiatedGradient(
        LogisticRegression(max_iter=LR_MAX_ITER), constraints=DemographicParity()
    )


def make_cf(epsilon, **params):
    def make(graph):
        return CounterfactuallyFairClassifier(graph, epsilon=epsilon, **params)

    return make


def status_lr(est, caught):
    conv = "converged" if not caught else "NOT converged"
    return f"n_iter={int(np.max(est.n_iter_))} ({conv})"


def status_eg(est, caught):
    text = (
        f"{est.n_oracle_calls_} oracle fits, last_iter={est.last_iter_}, "
        f"best_gap={est.best_gap_:.1e}"
    )
    return text + (f", {len(caught)} ConvergenceWarning(s)" if caught else "")


def status_cf(est, caught):
    text = (
        f"n_iter={est.n_iter_} {est.solver_path_}/{est.solver_}: "
        f"{est.solver_status_}; gap={est.counterfactual_gap_:.1e}"
    )
    return text + (" [ConvergenceWarning]" if caught else "")


def predict_eg(est, X):
    return est.predict(X, random_state=0)


def fit_once(make, graph, X, y, sex, uses_sex):
    est = make(graph)
    kwargs = {"sensitive_features": sex} if uses_sex else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y, **kwargs)
        seconds = time.perf_counter() - start
    caught = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    return est, seconds, caught


def time_method(make, graph, X, y, sex, uses_sex, repeats):
    times, est, caught = [], None, []
    for _ in range(repeats):
        est, seconds, caught = fit_once(make, graph, X, y, sex, uses_sex)
        times.append(seconds)
    return est, times, caught


# ---------------------------------------------------------------------------
# The cvxpy path, in a child process
# ---------------------------------------------------------------------------
def _rss_mb(pid, field):
    """VmRSS / VmHWM of a process in MB (None if unavailable)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _cvxpy_child(conn, graph, X, y, sex, repeats):
    threadpool_limits(limits=1)
    result = {"ok": False, "times": []}
    try:
        for _ in range(repeats):
            est, seconds, _ = fit_once(
                make_cf(0.0, solver="cvxpy"), graph, X, y, sex, True
            )
            result["times"].append(seconds)
        result.update(
            ok=True,
            coef=est.coef_,
            intercept=est.intercept_,
            status=est.solver_status_,
            solver=est.solver_,
            path=est.solver_path_,
            gap=est.counterfactual_gap_,
            objective=est.objective_,
        )
    except BaseException as exc:  # report anything, including MemoryError
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send(result)
    conn.close()


def run_cvxpy(graph, X, y, sex, repeats, timeout, poll=5.0, report_every=60.0):
    """Run the cvxpy fit in a forked child; returns a result dict."""
    ctx = multiprocessing.get_context("fork")
    recv_end, send_end = ctx.Pipe(duplex=False)
    parent_rss = _rss_mb(os.getpid(), "VmRSS")
    proc = ctx.Process(
        target=_cvxpy_child, args=(send_end, graph, X, y, sex, repeats), daemon=True
    )
    start = time.perf_counter()
    proc.start()
    send_end.close()
    peak, next_report, result = 0.0, report_every, None
    while True:
        if recv_end.poll(poll):
            try:
                result = recv_end.recv()
            except EOFError:  # the child died without reporting (OOM kill?)
                result = None
            break
        elapsed = time.perf_counter() - start
        peak = max(peak, _rss_mb(proc.pid, "VmHWM") or 0.0)
        if elapsed >= next_report:
            rss = _rss_mb(proc.pid, "VmRSS")
            print(
                f"    ... cvxpy still running: {elapsed:7.0f} s, "
                f"RSS {rss or float('nan'):.0f} MB, peak {peak:.0f} MB",
                flush=True,
            )
            next_report += report_every
        if timeout and elapsed > timeout:
            proc.terminate()  # only the child this function started
            proc.join(30)
            return {
                "ok": False,
                "error": f"timed out after {elapsed:.0f} s (--cvxpy-timeout)",
                "times": [],
                "maxrss_mb": peak,
                "wall": elapsed,
                "parent_rss_mb": parent_rss,
            }
    proc.join(60)
    wall = time.perf_counter() - start
    if result is None:
        result = {
            "ok": False,
            "error": f"child process died (exit code {proc.exitcode}; -9 is "
            "SIGKILL, e.g. the OOM killer)",
            "times": [],
            "maxrss_mb": peak,
        }
    result["wall"] = wall
    result["parent_rss_mb"] = parent_rss
    return result


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------
def blas_summary():
    parts = []
    for info in threadpool_info():
        parts.append(
            f"{info.get('internal_api')} ({info.get('user_api')}): "
            f"{info.get('num_threads')} thread(s)"
        )
    return "; ".join(parts) or "none detected"


def print_table(rows, lr_seconds):
    header = (
        f"{'method':<34} {'seconds':>9} {'k':>2} {'x LR':>7} {'test acc':>8}  "
        "n_iter / status"
    )
    print(header)
    print("-" * len(header) + "-" * 40)
    for row in rows:
        seconds = row["seconds"]
        sec = f"{seconds:9.3f}" if seconds is not None else f"{'-':>9}"
        ratio = (
            f"{seconds / lr_seconds:7.2f}"
            if seconds is not None and lr_seconds else f"{'-':>7}"
        )
        acc = f"{row['acc']:8.4f}" if row.get("acc") is not None else f"{'-':>8}"
        print(
            f"{row['name']:<34} {sec} {row['k']:>2} {ratio} {acc}  {row['status']}"
        )


def check_line(ok, text):
    label = "SKIP" if ok is None else ("PASS" if ok else "MISS")
    print(f"{label}  {text}")


def profile_fit(graph, X, y, sex, top):
    import cProfile
    import pstats

    est = CounterfactuallyFairClassifier(graph, epsilon=0.0)
    profiler = cProfile.Profile()
    profiler.enable()
    est.fit(X, y, sensitive_features=sex)
    profiler.disable()
    print(f"\ncProfile of one CounterfactuallyFairClassifier(epsilon=0) fit "
          f"(top {top} by internal time):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats of the fast fits (best time is reported)")
    parser.add_argument("--slow-repeats", type=int, default=1,
                        help="repeats of ExponentiatedGradient and the cvxpy fit")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run on a stratified subsample (--quick-rows)")
    parser.add_argument("--quick-rows", type=int, default=5000,
                        help="rows used by --quick")
    parser.add_argument("--cvxpy", action=argparse.BooleanOptionalAction,
                        default=True, help="run the cvxpy reference path")
    parser.add_argument("--cvxpy-rows", type=int, default=None,
                        help="fit the cvxpy path on a stratified subsample of N "
                        "rows (None: every row)")
    parser.add_argument("--cvxpy-timeout", type=float, default=1800.0,
                        help="stop the cvxpy fit after this many seconds "
                        "(0: no limit)")
    parser.add_argument("--epsilon", type=float, default=0.5,
                        help="epsilon of the relaxed fast fit")
    parser.add_argument("--no-accuracy", dest="accuracy", action="store_false",
                        help="skip the hold-out accuracy fits")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one fast epsilon=0 fit")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    limiter = threadpool_limits(limits=1)  # noqa: F841 (kept for the whole run)
    wall_start = time.perf_counter()

    X, y, sex, graph, numeric, (train, test) = load_data(
        args.quick_rows if args.quick else None, seed=args.seed
    )
    n, p = X.shape
    full = not args.quick
    print("Counterfactually fair logistic regression on UCI Adult")
    print(
        f"  rows={n:,} ({'full Adult' if full else 'QUICK subsample'}), "
        f"features={p} (one-hot, sex excluded; standardised: {', '.join(numeric)}), "
        f"positives={y.mean():.3f}, sex levels={sorted(map(str, sex.unique()))}"
    )
    print(
        f"  python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, skcausal_trust "
        f"{getattr(skcausal_trust, '__version__', '?')}, cpus={os.cpu_count()}, "
        f"load avg {os.getloadavg()[0]:.2f}"
    )
    print(f"  BLAS/OpenMP: {blas_summary()}")
    print(f"  repeats: fast={args.repeats}, slow={args.slow_repeats} (best time)\n")

    methods = [
        ("LogisticRegression (lbfgs)", make_lr, False, args.repeats, status_lr, None),
        ("ExponentiatedGradient(DP, LR)", make_eg, True, args.slow_repeats,
         status_eg, predict_eg),
        ("CFClassifier eps=0 (fast)", make_cf(0.0), True, args.repeats,
         status_cf, None),
        (f"CFClassifier eps={args.epsilon:g} (fast)", make_cf(args.epsilon), True,
         args.repeats, status_cf, None),
    ]
    rows, fitted = [], {}
    for name, make, uses_sex, k, status, predict in methods:
        print(f"  timing {name} ...", flush=True)
        est, times, caught = time_method(make, graph, X, y, sex, uses_sex, k)
        acc = None
        if args.accuracy:
            held, _, _ = fit_once(
                make, graph, X.iloc[train], y[train], sex.iloc[train], uses_sex
            )
            pred = (predict or (lambda e, Z: e.predict(Z)))(held, X.iloc[test])
            acc = float(np.mean(np.asarray(pred) == y[test]))
        rows.append({"name": name, "seconds": min(times), "k": k, "acc": acc,
                     "status": status(est, caught), "times": times})
        fitted[name] = est
    lr_s, eg_s = rows[0]["seconds"], rows[1]["seconds"]
    eps0_s, epsp_s = rows[2]["seconds"], rows[3]["seconds"]
    epsp_est = fitted[rows[3]["name"]]

    # -- the cvxpy reference path --------------------------------------------
    cvx, cvx_rows, comparison = None, None, None
    if args.cvxpy:
        cvx_idx = stratified_rows(y, args.cvxpy_rows, seed=args.seed + 1)
        cvx_rows = len(cvx_idx)
        Xc, yc, sc = X.iloc[cvx_idx], y[cvx_idx], sex.iloc[cvx_idx]
        print(f"  timing CFClassifier eps=0 (cvxpy) on {cvx_rows:,} rows "
              f"(timeout {args.cvxpy_timeout:g} s) ...", flush=True)
        cvx = run_cvxpy(graph, Xc, yc, sc, args.slow_repeats, args.cvxpy_timeout)
        if cvx["ok"]:
            # Tight fast fit on the same rows. tol does not reach the cvxpy
            # path (Clarabel runs with fixed tight tolerances), so the timed
            # cvxpy solution above is the comparison's reference.
            tight, tight_s, _ = fit_once(
                make_cf(0.0, solver="fast", tol=1e-8, max_iter=LR_MAX_ITER),
                graph, Xc, yc, sc, True,
            )
            comparison = {
                "coef": float(np.max(np.abs(tight.coef_ - cvx["coef"]))),
                "coef_scale": float(np.max(np.abs(tight.coef_))),
                "intercept": float(np.max(np.abs(tight.intercept_ - cvx["intercept"]))),
                "objective_fast": tight.objective_,
                "objective_cvxpy": cvx["objective"],
                "fast_seconds": tight_s,
                "fast_n_iter": tight.n_iter_,
            }
        label = "cvxpy" if cvx_rows == n else f"cvxpy, {cvx_rows:,} rows"
        if cvx["ok"]:
            status = (f"{cvx['path']}/{cvx['solver']}: {cvx['status']}; "
                      f"gap={cvx['gap']:.1e}; peak RSS {cvx['maxrss_mb']:.0f} MB")
        else:
            status = f"FAILED: {cvx['error']}; peak RSS {cvx['maxrss_mb']:.0f} MB"
        rows.append({"name": f"CFClassifier eps=0 ({label})",
                     "seconds": min(cvx["times"]) if cvx["times"] else None,
                     "k": args.slow_repeats, "acc": None, "status": status,
                     "times": cvx["times"]})

    if args.profile:
        profile_fit(graph, X, y, sex, 20)

    # -- report ----------------------------------------------------------------
    print()
    print_table(rows, lr_s)
    for row in rows:
        if len(row["times"]) > 1:
            times = ", ".join(f"{t:.3f}" for t in row["times"])
            print(f"  {row['name']}: all times [{times}] s")
    print("  (x LR: seconds / LogisticRegression seconds; test acc: separate fit "
          "on a fixed 75% split, scored on the 25% hold-out)")

    if args.cvxpy:
        print()
        where = "full Adult" if (full and cvx_rows == n) else f"{cvx_rows:,} rows"
        if cvx["ok"]:
            print(f"cvxpy path on {where}: completed in {min(cvx['times']):.1f} s "
                  f"(child wall {cvx['wall']:.1f} s), status {cvx['status']!r}, "
                  f"peak RSS {cvx['maxrss_mb']:.0f} MB (parent at fork "
                  f"{cvx['parent_rss_mb'] or float('nan'):.0f} MB)")
            if str(cvx["solver"]).upper() != "CLARABEL":
                print(f"  note: solved by {cvx['solver']}, not Clarabel: Clarabel "
                      "failed and skcausal_trust.utils._convex.solve_problem fell "
                      "back; the time includes the failed Clarabel attempt")
            c = comparison
            print(f"  max |coef diff| cvxpy vs fast(tol=1e-8) = {c['coef']:.2e} "
                  f"(max |coef| {c['coef_scale']:.2f}); max |intercept diff| = "
                  f"{c['intercept']:.2e}")
            print(f"  objective: fast {c['objective_fast']:.10g}, cvxpy "
                  f"{c['objective_cvxpy']:.10g} (diff "
                  f"{c['objective_cvxpy'] - c['objective_fast']:+.2e}); "
                  f"fast tol=1e-8 fit: {c['fast_seconds']:.2f} s, "
                  f"n_iter={c['fast_n_iter']}")
        else:
            print(f"cvxpy path on {where}: DID NOT COMPLETE: {cvx['error']} "
                  f"(peak RSS {cvx['maxrss_mb']:.0f} MB, parent at fork "
                  f"{cvx['parent_rss_mb'] or float('nan'):.0f} MB)")

    print()
    if not full:
        print("(quick run: the targets are defined on full Adult; indicative only)")
    t = TARGETS
    check_line(eps0_s <= t["eps0_vs_lr"] * lr_s,
               f"fast epsilon=0 <= {t['eps0_vs_lr']:g}x LogisticRegression "
               f"(ratio {eps0_s / lr_s:.2f})")
    fast_ok = epsp_est.solver_path_ == "fast"
    check_line(epsp_s <= t["epsilon_vs_lr"] * lr_s and fast_ok,
               f"fast epsilon={args.epsilon:g} <= {t['epsilon_vs_lr']:g}x "
               f"LogisticRegression (ratio {epsp_s / lr_s:.2f}; solver_path_="
               f"{epsp_est.solver_path_!r})")
    for label, sec in (("epsilon=0", eps0_s), (f"epsilon={args.epsilon:g}", epsp_s)):
        check_line(eg_s >= t["eg_speedup"] * sec,
                   f"fast {label} >= {t['eg_speedup']:g}x faster than "
                   f"ExponentiatedGradient (speed-up {eg_s / sec:.1f}x)")
    if not args.cvxpy:
        check_line(None, "cvxpy path completes on full Adult (--no-cvxpy)")
    elif not (full and cvx_rows == n):
        check_line(None, f"cvxpy path completes on full Adult (ran on {cvx_rows:,} "
                   f"rows: {'completed' if cvx['ok'] else 'did not complete'})")
    else:
        check_line(cvx["ok"], "cvxpy path completes on full Adult"
                   + (f" ({min(cvx['times']):.0f} s)" if cvx["ok"] else
                      f" ({cvx['error']})"))
    print(f"\nwall time {time.perf_counter() - wall_start:.1f} s; "
          f"load avg {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
