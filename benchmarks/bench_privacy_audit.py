#!/usr/bin/env python
"""Empirical privacy audit of ``DPCausalRegressor`` and membership inference.

1. Audit (Jagielski, Ullman and Oprea 2020): ``DPCausalRegressor(epsilon=1,
   delta=1e-6, feature_bound=1, target_bound=1)`` is fitted ``n_runs +
   n_threshold_runs`` times (default 100,000 + 5,000) on D = two zero rows
   (``X`` of shape (2, 1)) and as many times on D' = D plus the record
   ``x = [1.0], y = 1.0``; ``release_projection([1.0], 1.0, 1.0, 1.0)``
   reduces each fit to the likelihood-ratio statistic of its release, and
   ``empirical_epsilon_lower_bound`` turns the best threshold test into a
   lower bound on epsilon holding with 95% confidence. A fit without
   environments releases one matrix, the upper triangle of the Gram of
   ``z = [1, x / B, y / T]`` whose entry (i, j) is multiplied by the public
   weight ``W_ij`` (``release_weights_``; pooled profile
   ``POOLED_BLOCK_WEIGHTS``) before Gaussian noise of sd ``noise_scale_`` is
   added and divided back, so entry (i, j) carries noise of sd
   ``noise_scale_ / W_ij``; the L2 sensitivity is ``sensitivity_`` =
   sqrt(count^2 + 2 sums^2 + 1/2 + cross^2 + yy^2) = 1.404 here. The
   statistic is the weighted projection ``sum_{i<=j} W_ij^2 released_ij
   (z z')_ij`` with ``z = [1, 1, 1]``, the likelihood-ratio statistic for
   this heteroscedastic noise. Two estimators:

   - the correct one: the bound must not exceed the claimed epsilon = 1
     (target: lower bound <= 1, not flagged);
   - a deliberately mis-calibrated one with half the noise
     (``skcausal_trust.privacy._regressor.gaussian_noise_scale`` patched
     with ``unittest.mock.patch.object`` to return half): the audit must
     flag it (target: lower bound > 1). The patch lives in this process
     only, so this audit always runs with ``n_jobs=1`` (joblib's worker
     processes would import the unpatched module); the noise scales seen by
     the fits are recorded and printed to show that the patch took effect.

   Before the fits, the statistic's exact Gaussian distributions are
   computed from a fitted estimator's ``release_weights_``,
   ``sensitivity_`` and ``noise_scale_``: mean ``sum W^2 G_D z z'`` on D
   (only the count entry of D's Gram is nonzero: ``2 W_00^2``), that plus
   ``sum W^2 (z z')^2 = sensitivity^2`` on D', standard deviation
   ``noise_scale * sqrt(sum W^2 (z z')^2) = noise_scale * sensitivity``.
   ``--check-fits`` fits (OpenDP noise) per data set compare the empirical
   means and standard deviations with them, and ``--reference-sims``
   simulated audits of the same size drawn from them (no fits) show what
   the audit can be expected to report.

2. Membership inference (loss-threshold attack, Yeom et al. 2018; the
   advantage is TPR - FPR at the best threshold): on a simulated linear SCM
   with spurious child features (``make_invariant_regression`` with one
   regime, 2 ancestors, 2 parents, 4 children), models on the causal parents
   against models on all features, each trained on ``--mi-train`` rows and
   attacked with as many unseen rows from the same distribution:
   ``DecisionTreeRegressor(max_depth=4 / 8)``, ``LinearRegression`` and
   ``DPCausalRegressor(epsilon=1)`` (public bounds: predictors clipped to
   [-10, 10], ``target_bound=10``). "chance" is the advantage of the same
   model trained on a third, disjoint sample (no member at all): the KS
   statistic's level when nothing leaks.

The script prints tables and PASS / MISS lines; it never asserts. The
100,000-run audits take 6-7 minutes each (1.6-2 ms per fit): run it in the
background and follow the output. Smaller audits cannot flag the half-noise
estimator reliably (its true epsilon is 2.12, but the bound an audit can
reach grows with its size: the reference medians are about 0.92 at 20,000
runs, 1.1 at 50,000 and 1.2 at 100,000)::

    python benchmarks/bench_privacy_audit.py > audit.out 2>&1 &
    python benchmarks/bench_privacy_audit.py --n-runs 50000 --n-threshold-runs 5000  # ~7 min
    python benchmarks/bench_privacy_audit.py --skip-audit      # membership inference only
"""

import os

# One BLAS/OpenMP thread: must be set before numpy is imported (see
# NOTES.md, "Timing").
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
from importlib import metadata  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from unittest import mock  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import skcausal_trust  # noqa: E402
from skcausal_trust.datasets import make_invariant_regression  # noqa: E402
from skcausal_trust.privacy import DPCausalRegressor  # noqa: E402
import skcausal_trust.privacy._regressor as regressor_module  # noqa: E402
from skcausal_trust.privacy.audit import (  # noqa: E402
    _bound_from_statistics,
    empirical_epsilon_lower_bound,
    membership_inference_advantage,
    release_projection,
)

EPSILON, DELTA = 1.0, 1e-6
CONFIDENCE = 0.95
MI_CLIP, MI_TARGET_BOUND = 10.0, 10.0


# The record that D' adds to D (inside the bounds 1: the worst case, with
# all of x's norm on one coordinate and |y| at its bound).
AUDIT_X, AUDIT_Y = np.array([1.0]), 1.0


def audit_data():
    X, y = np.zeros((2, 1)), np.zeros(2)
    X1, y1 = np.vstack([X, [AUDIT_X]]), np.append(y, AUDIT_Y)
    return (X, y), (X1, y1)


def estimator():
    return DPCausalRegressor(epsilon=EPSILON, delta=DELTA, feature_bound=1.0,
                             target_bound=1.0)


def normalised_gram(X, y, feature_bound, target_bound):
    """Upper triangle of the Gram of z = [1, x / B, y / T] (no clipping
    needed: the audit's records are inside the bounds)."""
    Z = np.column_stack([np.ones(len(y)), np.asarray(X, float) / feature_bound,
                         np.asarray(y, float) / target_bound])
    return np.triu(Z.T @ Z)


def exact_statistics(fitted, noise_scale):
    """Means on D and D' and standard deviation of the audit statistic.

    The statistic (``release_projection``) is ``sum_{i<=j} W_ij^2 R_ij d_ij``
    with ``R`` the released matrix, ``W = fitted.release_weights_`` and
    ``d = triu(z z')`` for the differing record ``z = [1, 1, 1]``. Entry
    (i, j) of ``R`` is ``G_ij + e_ij / W_ij`` with ``e_ij ~ N(0, noise_scale^2)``
    i.i.d., so the statistic is Gaussian with mean ``sum W^2 G d`` (``G`` the
    data set's normalised Gram) and sd ``noise_scale * sqrt(sum W^2 d^2)``.
    D' adds ``z z'`` to D's Gram, so ``mean1 - mean0 = sum W^2 d^2``, which
    for this record (all of ``x``'s norm on one coordinate, ``|y| = 1``) is
    ``fitted.sensitivity_ ** 2``; the sd is then ``noise_scale *
    sensitivity_``. Returns ``(mean0, mean1, sd)``."""
    (X, y), (X1, y1) = audit_data()
    B, T = fitted.feature_bound_, fitted.target_bound_
    W2 = np.triu(np.asarray(fitted.release_weights_, float) ** 2)
    z = np.concatenate([[1.0], AUDIT_X / B, [AUDIT_Y / T]])
    d = np.triu(np.outer(z, z))
    mean0 = float(np.sum(W2 * normalised_gram(X, y, B, T) * d))
    mean1 = float(np.sum(W2 * normalised_gram(X1, y1, B, T) * d))
    sd = float(noise_scale * np.sqrt(np.sum(W2 * d**2)))
    return mean0, mean1, sd


def reference_bound(fitted, noise_scale, n_runs, n_threshold_runs, sims, seed):
    mean0, mean1, sd = exact_statistics(fitted, noise_scale)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(sims):
        s0 = rng.normal(mean0, sd, n_runs + n_threshold_runs)
        s1 = rng.normal(mean1, sd, n_runs + n_threshold_runs)
        out.append(_bound_from_statistics(s0[:n_threshold_runs], s1[:n_threshold_runs],
                                          s0[n_threshold_runs:], s1[n_threshold_runs:],
                                          DELTA, CONFIDENCE)[0])
    return np.array(out)


def run_audit(label, n_runs, n_threshold_runs, n_jobs, record):
    (X, y), (X1, y1) = audit_data()
    base = release_projection(AUDIT_X, AUDIT_Y, 1.0, 1.0)

    def statistic(fitted):
        if record is not None:
            record.add(round(float(fitted.noise_scale_), 9))
        return base(fitted)

    total = 2 * (n_runs + n_threshold_runs)
    print(f"  {label}: {total:,} fits (n_jobs={n_jobs}) started at "
          f"{time.strftime('%H:%M:%S')} ...", flush=True)
    t0 = time.perf_counter()
    result = empirical_epsilon_lower_bound(
        estimator(), (X, y), (X1, y1), statistic=statistic, n_runs=n_runs,
        n_threshold_runs=n_threshold_runs, confidence=CONFIDENCE, n_jobs=n_jobs)
    elapsed = time.perf_counter() - t0
    print(f"  {label}: done in {elapsed:.1f} s ({elapsed / total * 1e3:.2f} ms per fit)",
          flush=True)
    return result, elapsed


def part_audit(args, summary):
    print("\n" + "=" * 78)
    print(f"1. Empirical audit: epsilon={EPSILON:g}, delta={DELTA:g}, D = 2 zero rows, "
          "D' = D + (x=[1.0], y=1.0)")
    print("=" * 78)
    orig = regressor_module.gaussian_noise_scale
    half = lambda eps, delta, sens: 0.5 * orig(eps, delta, sens)  # noqa: E731
    (X, y), (X1, y1) = audit_data()
    fitted = estimator().fit(X, y)
    fitted1 = estimator().fit(X1, y1)
    sigma, sens = fitted.noise_scale_, fitted.sensitivity_
    W = fitted.release_weights_
    if not (np.array_equal(W, fitted1.release_weights_)
            and sens == fitted1.sensitivity_ and sigma == fitted1.noise_scale_):
        print("WARNING: D and D' fits use different weights / sensitivity / noise")
    iu = np.triu_indices(W.shape[0])
    print(f"release: {fitted.released_statistics_.shape[0]} matrix (pooled fit), the "
          f"upper triangle ({iu[0].size} entries) of the Gram of z = [1, x, y]")
    print(f"  weights W_ij (release_weights_), upper triangle row by row: "
          f"[{', '.join(f'{w:.4g}' for w in W[iu])}]")
    print(f"  sensitivity_ = {sens:.4f}; noise_scale_ sigma = {sigma:.4f} (correct) / "
          f"{sigma / 2:.4f} (half noise); entry (i, j) has noise sd sigma / W_ij")
    mean0, mean1, sd = exact_statistics(fitted, sigma)
    print("statistic sum_(i<=j) W_ij^2 released_ij (z z')_ij, z = [1, 1, 1]: "
          "N(m0, s^2) on D, N(m1, s^2) on D'")
    print(f"  m0 = 2 W_00^2 = {mean0:.4f}; m1 = m0 + sum W^2 (z z')^2 = {mean1:.4f} "
          f"(m1 - m0 = {mean1 - mean0:.4f}, sensitivity^2 = {sens ** 2:.4f})")
    print(f"  s = sigma sqrt(sum W^2 (z z')^2) = {sd:.4f} (sigma * sensitivity = "
          f"{sigma * sens:.4f}); half noise s / 2 = {sd / 2:.4f}")
    print(f"  (m1 - m0) / s = sensitivity / sigma = {(mean1 - mean0) / sd:.4f} correct, "
          f"{2 * (mean1 - mean0) / sd:.4f} half noise")
    # What the half-noise mechanism really guarantees (analytic Gaussian):
    # the smallest epsilon whose calibrated sigma is <= sigma / 2.
    lo, hi = EPSILON, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if orig(mid, DELTA, sens) <= sigma / 2 else (mid, hi)
    print(f"the half-noise mechanism's true epsilon at delta={DELTA:g}: {hi:.3f}")

    if args.check_fits:
        stat = release_projection(AUDIT_X, AUDIT_Y, 1.0, 1.0)
        t0 = time.perf_counter()
        s0 = np.array([stat(estimator().fit(X, y)) for _ in range(args.check_fits)])
        s1 = np.array([stat(estimator().fit(X1, y1)) for _ in range(args.check_fits)])
        se = sd / np.sqrt(args.check_fits)
        print(f"check of m0, m1, s against {args.check_fits:,} fits per data set "
              f"(OpenDP noise, {time.perf_counter() - t0:.1f} s):")
        print(f"  mean on D {s0.mean():.4f} (m0 {mean0:.4f}, z = "
              f"{(s0.mean() - mean0) / se:+.2f}), on D' {s1.mean():.4f} (m1 {mean1:.4f}, "
              f"z = {(s1.mean() - mean1) / se:+.2f}); z in units of s / sqrt(fits)")
        print(f"  sd on D {s0.std(ddof=1):.4f}, on D' {s1.std(ddof=1):.4f} (s {sd:.4f}; "
              f"ratios {s0.std(ddof=1) / sd:.3f} / {s1.std(ddof=1) / sd:.3f}, 2 standard "
              f"errors +-{2 / np.sqrt(2 * (args.check_fits - 1)):.3f})")

    # Pilot: time per fit.
    est = estimator()
    clone(est).fit(X, y)
    t0 = time.perf_counter()
    for _ in range(300):
        clone(est).fit(X, y)
    per_fit = (time.perf_counter() - t0) / 300
    total = 2 * (args.n_runs + args.n_threshold_runs)
    print(f"pilot: {per_fit * 1e3:.2f} ms per fit -> ~{total * per_fit / 60:.1f} min per "
          f"audit on one core ({total:,} fits)")

    t0 = time.perf_counter()
    ref = {name: reference_bound(fitted, s, args.n_runs, args.n_threshold_runs,
                                 args.reference_sims, seed)
           for name, s, seed in (("correct", sigma, 1), ("half noise", sigma / 2, 2))}
    print(f"reference (exact Gaussian statistics, no fits, {args.reference_sims} "
          f"simulated audits of the same size, {time.perf_counter() - t0:.1f} s): "
          + "; ".join(f"{k} median {np.median(v):.3f} [{np.min(v):.3f}, {np.max(v):.3f}]"
                      for k, v in ref.items()))
    sys.stdout.flush()

    results = {}
    results["correct"] = run_audit("correct", args.n_runs, args.n_threshold_runs,
                                   args.n_jobs, None)
    seen = set()
    with mock.patch.object(regressor_module, "gaussian_noise_scale", half):
        results["half noise"] = run_audit("half noise (patched)", args.n_runs,
                                          args.n_threshold_runs, 1, seen)
    print(f"  noise scales seen by the patched fits: {sorted(seen)}")

    head = (f"{'estimator':22s} {'claimed eps':>11} {'lower bound':>12} {'flagged':>8} "
            f"{'reference median':>17} {'threshold':>10} {'FPR upper':>10} "
            f"{'TPR lower':>10} {'runs':>8} {'seconds':>8}")
    print("\n" + head)
    print("-" * len(head))
    for name, (res, elapsed) in results.items():
        print(f"{name:22s} {res.claimed_epsilon:11g} {res.epsilon_lower_bound:12.4f} "
              f"{str(res.flagged):>8} {np.median(ref[name]):17.3f} {res.threshold:10.3f} "
              f"{res.fpr_upper:10.5f} {res.tpr_lower:10.5f} {res.n_runs:8,d} "
              f"{elapsed:8.1f}")
    print(f"(lower bounds hold with confidence {CONFIDENCE}; threshold chosen on "
          f"{args.n_threshold_runs:,} separate runs per data set; direction +1 = "
          "'neighbour' above the threshold)")

    print("\ntargets:")
    res = results["correct"][0]
    tag = "PASS" if res.epsilon_lower_bound <= EPSILON and not res.flagged else "MISS"
    print(f"  {tag}  correct estimator: lower bound {res.epsilon_lower_bound:.4f} <= "
          f"{EPSILON:g} (not flagged)")
    summary.append((tag, f"audit, correct: lower bound {res.epsilon_lower_bound:.4f} "
                         f"(target <= {EPSILON:g})"))
    res = results["half noise"][0]
    tag = "PASS" if res.flagged and res.epsilon_lower_bound > EPSILON else "MISS"
    print(f"  {tag}  half-noise estimator flagged: lower bound "
          f"{res.epsilon_lower_bound:.4f} > {EPSILON:g}")
    summary.append((tag, f"audit, half noise: lower bound {res.epsilon_lower_bound:.4f} "
                         f"flagged={res.flagged} (target > {EPSILON:g})"))


def part_membership(args, summary):
    print("\n" + "=" * 78)
    print("2. Membership inference: causal parents vs all features (loss-threshold "
          "attack)")
    print("=" * 78)
    n = args.mi_train
    print(f"make_invariant_regression(one regime: intervention_strength=0), 2 ancestors, "
          f"2 parents, 4 children (spurious); {n} members, {n} non-members, {n} "
          f"rows for the chance level; {args.mi_seeds} seeds (new SCM each); DP bounds: "
          f"predictors clipped to [-{MI_CLIP:g}, {MI_CLIP:g}], target_bound "
          f"{MI_TARGET_BOUND:g}")
    models = [
        ("DecisionTree(max_depth=4)", lambda: DecisionTreeRegressor(max_depth=4, random_state=0)),
        ("DecisionTree(max_depth=8)", lambda: DecisionTreeRegressor(max_depth=8, random_state=0)),
        ("LinearRegression", LinearRegression),
        ("DPCausalRegressor(eps=1)", None),
    ]
    rows = {}
    t0 = time.perf_counter()
    for seed in range(args.mi_seeds):
        X, y, _, parents = make_invariant_regression(
            (3 * n + 1) // 2, 2, n_ancestors=2, n_parents=2, n_children=4,
            intervention_strength=0.0, random_state=seed)
        idx = np.random.default_rng(seed).permutation(len(y))
        i_in, i_out, i_other = idx[:n], idx[n:2 * n], idx[2 * n:3 * n]
        for name, make in models:
            for scope, cols in (("parents", parents), ("all", list(X.columns))):
                Xs = X[cols]
                if make is None:
                    p = len(cols)
                    make_est = lambda p=p: DPCausalRegressor(  # noqa: E731
                        epsilon=1.0, delta=DELTA, feature_bound=MI_CLIP * np.sqrt(p),
                        target_bound=MI_TARGET_BOUND)
                    Xfit = Xs.clip(-MI_CLIP, MI_CLIP)
                else:
                    make_est, Xfit = make, Xs
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = make_est().fit(Xfit.iloc[i_in], y[i_in])
                    null = make_est().fit(Xfit.iloc[i_other], y[i_other])
                adv = membership_inference_advantage(est, Xs.iloc[i_in], y[i_in],
                                                     Xs.iloc[i_out], y[i_out])
                chance = membership_inference_advantage(null, Xs.iloc[i_in], y[i_in],
                                                        Xs.iloc[i_out], y[i_out])
                mse_in = float(np.mean((y[i_in] - est.predict(Xs.iloc[i_in])) ** 2))
                mse_out = float(np.mean((y[i_out] - est.predict(Xs.iloc[i_out])) ** 2))
                rows.setdefault((name, scope), []).append((adv, chance, mse_in, mse_out))
    elapsed = time.perf_counter() - t0
    head = (f"{'model':28s} {'features':>8} {'advantage':>10} {'chance':>8} "
            f"{'train MSE':>10} {'held-out MSE':>13} {'adv. parents<all':>17}")
    print("\n" + head)
    print("-" * len(head))
    for name, _ in models:
        for scope in ("parents", "all"):
            v = np.median(np.array(rows[(name, scope)]), axis=0)
            wins = "" if scope == "parents" else (
                f"{sum(a[0] < b[0] for a, b in zip(rows[(name, 'parents')], rows[(name, 'all')]))}"
                f"/{args.mi_seeds}")
            print(f"{name:28s} {scope:>8} {v[0]:10.3f} {v[1]:8.3f} {v[2]:10.3f} "
                  f"{v[3]:13.3f} {wins:>17}")
    print(f"(medians over {args.mi_seeds} seeds; advantage = max over thresholds of "
          f"TPR - FPR, 0 = no leak, 1 = perfect attack; noise variance of y is 1; "
          f"{elapsed:.1f} s)")
    for name, _ in models:
        a = np.median([r[0] for r in rows[(name, "parents")]])
        b = np.median([r[0] for r in rows[(name, "all")]])
        summary.append(("INFO", f"membership advantage {name}: parents {a:.3f} vs all "
                                f"{b:.3f}"))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-runs", type=int, default=100_000)
    parser.add_argument("--n-threshold-runs", type=int, default=5_000)
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="joblib jobs for the correct estimator's audit (the "
                             "patched one always runs with 1); on a loaded 2-core "
                             "machine 2 jobs were slower per fit than 1")
    parser.add_argument("--reference-sims", type=int, default=50,
                        help="simulated audits from the exact Gaussian statistics")
    parser.add_argument("--check-fits", type=int, default=2000,
                        help="fits per data set checking the exact means and sd "
                             "of the statistic (0: skip)")
    parser.add_argument("--skip-audit", action="store_true")
    parser.add_argument("--mi-seeds", type=int, default=20)
    parser.add_argument("--mi-train", type=int, default=500,
                        help="members (and non-members) per seed")
    args = parser.parse_args(argv)
    limiter = threadpool_limits(limits=1)  # noqa: F841

    print(f"bench_privacy_audit: python {platform.python_version()}, numpy "
          f"{np.__version__}, scikit-learn {sklearn.__version__}, opendp "
          f"{metadata.version('opendp')}, dp-accounting {metadata.version('dp-accounting')}, "
          f"skcausal_trust {skcausal_trust.__version__}")
    print(f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}, started "
          f"{time.strftime('%H:%M:%S')}")
    sys.stdout.flush()
    summary = []
    t_start = time.perf_counter()
    if not args.skip_audit:
        part_audit(args, summary)
    part_membership(args, summary)
    print("\n" + "=" * 78)
    print("summary:")
    for tag, text in summary:
        print(f"  {tag:4s}  {text}")
    print(f"total {time.perf_counter() - t_start:.1f} s, load avg at the end "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
