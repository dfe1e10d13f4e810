#!/usr/bin/env python
"""Differentially private causal regression: utility, shift and time.

Three parts, each printing a table and ``PASS`` / ``MISS`` lines (never
asserting):

(a) Utility on UCI Adult. Target ``hours-per-week`` centred by the public
    constant 50 (the data dictionary's range is 1..99, so ``|y| <= 49`` =
    ``target_bound``). Predictors: the 8 categorical columns one-hot encoded
    (the 3 columns that the data dictionary lists with missing values,
    workclass, occupation and native-country, get a missing-value indicator:
    ``one_hot_encode(dummy_na=...)``; without it the effect of a missing
    value is spread over all the column's indicators, along a direction
    whose eigenvalue the eigenvalue floor shrinks) and 4 numeric columns mapped onto
    [-1, 1] (centre of the range at 0, which doubles their spread against
    [0, 1] at the same cost in the norm bound) with PUBLIC ranges from the
    data dictionary (``adult.rst`` / ``adult.names``), never computed from the data: age 17..90,
    education-num 1..16, capital-gain 0..99999 (the 5-digit field and its top
    code), capital-loss 0..99999 (same field width; no range is published for
    it). Each categorical group adds at most 1 to a row's squared norm and
    each numeric column at most 1, so ``||x|| <= sqrt(8 + 4) = sqrt(12)`` =
    ``feature_bound``, whatever the data. Fixed 75/25 split; for epsilon in
    {0.1, 1, 10} (delta = 1e-6), ``--seeds`` fits with OpenDP noise
    (``random_state=None``); median test R^2 against scikit-learn's
    ``LinearRegression`` and ``Ridge`` fitted in the same run on the same
    features. Targets: median R^2 at epsilon=1 >= 0.95 x, and at
    epsilon=0.1 >= 0.6 x, the non-private ``LinearRegression`` R^2.
    diffprivlib's ``LinearRegression`` is put beside it when it imports
    (``--diffprivlib-path DIR`` adds a directory to ``sys.path``;
    ``--diffprivlib-shim`` defines the two constants it imports from
    ``sklearn.tree._tree`` that scikit-learn 1.9 removed); otherwise the
    import error is printed. When a target is missed (or with
    ``--diagnose``), a decomposition shows where the R^2 goes.

(b) Distribution shift. Simulation: ``make_invariant_regression`` (2
    ancestors, 2 parents, 2 children) with 4 training environments at
    ``intervention_strength=1``; the test environment is environment ``e4``
    of the SAME call with 5 environments and ``intervention_strength=3``
    (same ``random_state``: the simulator draws every mechanism coefficient
    before the shifts, so the mechanisms are identical and only the shifts
    are larger; the script checks it by comparing the parents' OLS
    coefficients in train and test). Public bounds: training predictors
    clipped coordinate-wise to [-30, 30] (``feature_bound = 30 sqrt(p)``),
    ``target_bound = 30``. Sachs: log abundances, target ``p44/42``,
    predictors the other 10 proteins, environments the 9 conditions; each
    condition held out in turn. Public bounds: the cytometer's 4-decade
    readout [1, 1e4], i.e. log values in [0, 9.21], centred at 4.61, so each
    coordinate is within 4.61 (``feature_bound = 4.61 sqrt(p)``,
    ``target_bound = 4.61``). Models: DP on all features, DP on the causal
    parents (true parents / consensus parents ``pmek``, ``PKA``) through
    ``causal_features``, DP with ``causal_features="icp"`` (the private
    statistics), and non-private OLS. A list of causal features releases only
    those columns, so its ``feature_bound`` is theirs (``clip sqrt(k)``). The non-ICP DP models are
    fitted without environments (one pooled release: summing E per
    environment releases would add E times the noise variance); ICP needs
    them. Held-out test MSE, medians over seeds, epsilon in {1, 10}. A
    calibration check of the private ICP test is printed (rejection rate of
    the true parents, which are invariant).

(c) Time per fit at n=50,000, d=40 (Gaussian predictors clipped to [-3, 3]):
    ``DPCausalRegressor(epsilon=1)`` against ``LinearRegression`` in the
    same run, one BLAS thread, best of ``--repeats``. Target: within 3x.

Run from the repository root::

    python benchmarks/bench_dp_regression.py               # all parts, ~5 min
    python benchmarks/bench_dp_regression.py --parts a     # one part
    python benchmarks/bench_dp_regression.py --seeds 3 --shift-seeds 3  # smoke
"""

import os

# One BLAS/OpenMP thread: must be set before numpy is imported (see
# NOTES.md, "Timing").
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
from importlib import metadata  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import skcausal_trust  # noqa: E402
from skcausal_trust.causal import one_hot_encode  # noqa: E402
from skcausal_trust.datasets import (  # noqa: E402
    load_adult,
    load_sachs,
    make_invariant_regression,
)
from skcausal_trust.invariance._stats import EnvironmentStatistics  # noqa: E402
from skcausal_trust.privacy import DPCausalRegressor  # noqa: E402
from skcausal_trust.privacy._mechanisms import (  # noqa: E402
    gaussian_noise_scale,
    release_gaussian,
)
from skcausal_trust.privacy._regressor import (  # noqa: E402
    ENVIRONMENT_BLOCK_WEIGHTS,
    POOLED_BLOCK_WEIGHTS,
    eigenvalue_floor,
    release_weights,
)

DELTA = 1e-6

# (a) Adult: public ranges (data dictionary), never computed from the data.
ADULT_CATEGORICAL = ["workclass", "education", "marital-status", "occupation",
                     "relationship", "race", "sex", "native-country"]
ADULT_MISSING = ["workclass", "occupation", "native-country"]  # adult.rst
ADULT_NUMERIC_RANGES = {"age": (17, 90), "education-num": (1, 16),
                        "capital-gain": (0, 99999), "capital-loss": (0, 99999)}
ADULT_TARGET = "hours-per-week"
ADULT_TARGET_CENTRE = 50.0  # hours-per-week in [1, 99]
ADULT_TARGET_BOUND = 49.0
ADULT_FEATURE_BOUND = float(np.sqrt(len(ADULT_CATEGORICAL) + len(ADULT_NUMERIC_RANGES)))
ADULT_EPSILONS = (0.1, 1.0, 10.0)
ADULT_TARGETS = {1.0: 0.95, 0.1: 0.6}  # epsilon -> min ratio of median R^2

# (b) shift.
SIM_KW = dict(n_ancestors=2, n_parents=2, n_children=2)
SIM_TRAIN_ENVS = 4
SIM_CLIP = 30.0  # public per-coordinate bound on the predictors
SIM_TARGET_BOUND = 30.0
SHIFT_EPSILONS = (1.0, 10.0)
SACHS_TARGET = "p44/42"
SACHS_LOG_HALF_RANGE = float(np.log(1e4) / 2)  # log readout in [0, log 1e4]

# (c) timing.
TIME_N, TIME_D = 50_000, 40
TIME_RATIO_TARGET = 3.0


def fmt(x, digits=4):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}" if abs(x) < 1e4 else f"{x:.3g}"


def quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kwargs)


# ---------------------------------------------------------------------------
# diffprivlib
# ---------------------------------------------------------------------------
def import_diffprivlib(path, shim):
    """Return (LinearRegression class or None, message)."""
    if path:
        sys.path.insert(0, path)
    try:
        from diffprivlib.models import LinearRegression as DPLinearRegression
        return DPLinearRegression, f"diffprivlib {metadata.version('diffprivlib')} imports"
    except Exception as exc:  # noqa: BLE001 - report whatever it is
        first = f"{type(exc).__name__}: {exc}"
        where = traceback.extract_tb(exc.__traceback__)[-1]
        first += f" (raised at {os.path.basename(where.filename)}:{where.lineno}: {where.line})"
    if not shim:
        return None, f"diffprivlib does not import: {first}"
    # diffprivlib 0.6.6's forest module imports DOUBLE and DTYPE from
    # sklearn.tree._tree (gone in scikit-learn 1.9); its LinearRegression
    # does not use them. Define the old values and retry.
    import sklearn.tree._tree as tree_mod
    for name in ("diffprivlib", *[m for m in sys.modules if m.startswith("diffprivlib.")]):
        sys.modules.pop(name, None)
    tree_mod.DOUBLE = np.float64
    tree_mod.DTYPE = np.float32
    try:
        from diffprivlib.models import LinearRegression as DPLinearRegression
        return DPLinearRegression, (
            f"diffprivlib {metadata.version('diffprivlib')} does not import as is "
            f"({first}); imported with --diffprivlib-shim (sklearn.tree._tree.DOUBLE"
            "/DTYPE defined)")
    except Exception as exc:  # noqa: BLE001
        return None, f"diffprivlib does not import ({first}); with the shim: {exc!r}"


# ---------------------------------------------------------------------------
# (a) Adult utility
# ---------------------------------------------------------------------------
def adult_data():
    df = load_adult().data
    X, _ = one_hot_encode(df[ADULT_CATEGORICAL], dummy_na=ADULT_MISSING)
    for col, (lo, hi) in ADULT_NUMERIC_RANGES.items():
        X[col] = 2.0 * np.clip((df[col].to_numpy(float) - lo) / (hi - lo), 0.0, 1.0) - 1.0
    y = df[ADULT_TARGET].to_numpy(float) - ADULT_TARGET_CENTRE
    perm = np.random.default_rng(0).permutation(len(y))
    n_train = int(round(0.75 * len(y)))
    tr, te = perm[:n_train], perm[n_train:]
    return X.iloc[tr], X.iloc[te], y[tr], y[te]


def centred_system(G):
    """Centred scatter (A, b) and means from a Gram of [1, x, y]."""
    G = np.asarray(G, float).copy()
    G[0, 0] = max(G[0, 0], 2.0)
    n, s = G[0, 0], G[0, 1:]
    C = G[1:, 1:] - np.outer(s, s) / n
    k = C.shape[0] - 1
    return (C[:k, :k] + C[:k, :k].T) / 2, C[:k, k], s / n


def predict_from_gram(G, X, B, T, floor):
    """Least squares from a normalised Gram (one environment, gamma=1), its
    eigenvalues raised to ``floor`` (the package's rule)."""
    A, b, mu = centred_system(G)
    k = A.shape[0]
    w, V = np.linalg.eigh(A)
    beta = V @ ((V.T @ b) / np.maximum(w, floor))
    intercept = mu[-1] - mu[:k] @ beta
    return np.asarray(X, float) @ (beta * T / B) + intercept * T


def part_a(args, summary):
    print("\n" + "=" * 78)
    print("(a) Utility on UCI Adult: hours-per-week, DP (OpenDP noise) vs non-private")
    print("=" * 78)
    Xtr, Xte, ytr, yte = adult_data()
    B, T = ADULT_FEATURE_BOUND, ADULT_TARGET_BOUND
    norms = np.linalg.norm(Xtr.to_numpy(), axis=1)
    print(f"train {len(ytr):,} rows / test {len(yte):,} rows (fixed 75/25 split, "
          f"seed 0); {Xtr.shape[1]} predictors: 8 categorical groups one-hot "
          f"(missing-value indicators for {', '.join(ADULT_MISSING)}) + 4 "
          "numeric in [-1, 1]")
    print("public scaling: " + ", ".join(f"{c} {lo}..{hi}" for c, (lo, hi)
                                         in ADULT_NUMERIC_RANGES.items())
          + f"; y = hours-per-week - {ADULT_TARGET_CENTRE:g}")
    print(f"feature_bound = sqrt(8 + 4) = {B:.4f}, target_bound = {T:g}, "
          f"delta = {DELTA:g}")
    print(f"(check, not used by any model: rows above feature_bound "
          f"{int((norms > B).sum())}, |y| above target_bound "
          f"{int((np.abs(ytr) > T).sum())})")
    t0 = time.perf_counter()
    lr = LinearRegression().fit(Xtr, ytr)
    t_lr = time.perf_counter() - t0
    r2_lr = r2_score(yte, lr.predict(Xte))
    t0 = time.perf_counter()
    ridge = Ridge(alpha=1.0).fit(Xtr, ytr)
    t_ridge = time.perf_counter() - t0
    r2_ridge = r2_score(yte, ridge.predict(Xte))

    dpl_cls, dpl_msg = import_diffprivlib(args.diffprivlib_path, args.diffprivlib_shim)
    print(dpl_msg)

    rows = [("LinearRegression (non-private)", None, [r2_lr], [t_lr]),
            ("Ridge(alpha=1) (non-private)", None, [r2_ridge], [t_ridge])]
    fits = {}
    for eps in ADULT_EPSILONS:
        r2s, times = [], []
        models = []
        for _ in range(args.seeds):
            est = DPCausalRegressor(epsilon=eps, delta=DELTA, feature_bound=B,
                                    target_bound=T)
            t0 = time.perf_counter()
            quiet_fit(est, Xtr, ytr)
            times.append(time.perf_counter() - t0)
            r2s.append(r2_score(yte, est.predict(Xte)))
            models.append(est)
        fits[eps] = models
        rows.append((f"DPCausalRegressor eps={eps:g}", eps, r2s, times))
        print(f"  eps={eps:g}: {args.seeds} fits, median R^2 {np.median(r2s):.4f}, "
              f"{np.median(times):.2f} s/fit", flush=True)
    if dpl_cls is not None:
        lo, hi = np.zeros(Xtr.shape[1]), np.ones(Xtr.shape[1])
        for eps in ADULT_EPSILONS:
            r2s, times = [], []
            for _ in range(args.seeds):
                est = dpl_cls(epsilon=eps, bounds_X=(lo, hi), bounds_y=(-T, T))
                t0 = time.perf_counter()
                quiet_fit(est, Xtr.to_numpy(), ytr)
                times.append(time.perf_counter() - t0)
                r2s.append(r2_score(yte, est.predict(Xte.to_numpy())))
            rows.append((f"diffprivlib LinearRegression eps={eps:g}", eps, r2s, times))

    head = (f"{'model':40s} {'median R^2':>11} {'min':>9} {'max':>9} "
            f"{'/ LR':>7} {'/ Ridge':>8} {'s/fit':>7}")
    print("\n" + head)
    print("-" * len(head))
    for name, _, r2s, times in rows:
        med = float(np.median(r2s))
        print(f"{name:40s} {fmt(med):>11} {fmt(min(r2s)):>9} {fmt(max(r2s)):>9} "
              f"{fmt(med / r2_lr, 3):>7} {fmt(med / r2_ridge, 3):>8} "
              f"{np.median(times):7.3f}")
    print(f"({args.seeds} fits per DP row; ratio = median R^2 / non-private R^2; "
          "diffprivlib's epsilon is pure (delta = 0))")

    missed = False
    print("\ntargets:")
    for eps, target in sorted(ADULT_TARGETS.items(), reverse=True):
        med = float(np.median([r2_score(yte, m.predict(Xte)) for m in fits[eps]]))
        ratio = med / r2_lr
        ok = ratio >= target
        missed |= not ok
        tag = "PASS" if ok else "MISS"
        print(f"  {tag}  eps={eps:g}: median R^2 {med:.4f} = {ratio:.3f} x "
              f"LinearRegression's {r2_lr:.4f} (target >= {target:g} x)")
        summary.append((tag, f"(a) Adult eps={eps:g}: R^2 ratio {ratio:.3f} "
                             f"(target >= {target:g})"))
    if missed or args.diagnose:
        adult_diagnosis(fits, Xtr, Xte, ytr, yte, r2_lr)


def adult_diagnosis(fits, Xtr, Xte, ytr, yte, r2_lr):
    """Where the R^2 goes: the eigenvalue floor's shrinkage (on noise-free
    statistics) vs the noise itself, and how it scales with the rows."""
    B, T = ADULT_FEATURE_BOUND, ADULT_TARGET_BOUND
    Z = np.column_stack([np.ones(len(ytr)), Xtr.to_numpy() / B, ytr / T])
    exact = Z.T @ Z
    A_ex, _, _ = centred_system(exact)
    eig = np.linalg.eigvalsh(A_ex)
    print("\ndiagnosis (R^2 ratios to LinearRegression, median over the first 5 "
          "releases of each epsilon; every variant re-solves the released "
          "statistics or the exact ones):")
    multipliers = np.array([0.25, 0.35, 0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 3.0])
    head = (f"{'eps':>5} {'sigma':>7} {'sens':>6} {'floor':>8} {'#eig<floor':>11} "
            f"{'package':>8} {'exact+same floor':>17} {'best floor x (oracle)':>22}")
    print(head)
    print("-" * len(head))
    check = []
    for eps, models in sorted(fits.items()):
        cols = {k: [] for k in ("pkg", "exact", "best")}
        best_m = []
        for m in models[:5]:
            G, floor = m.released_statistics_[0], m.eigenvalue_floor_
            check.append(np.max(np.abs(predict_from_gram(G, Xte, B, T, floor)
                                       - m.predict(Xte))))
            r2 = lambda pred: r2_score(yte, pred) / r2_lr  # noqa: E731
            cols["pkg"].append(r2(m.predict(Xte)))
            cols["exact"].append(r2(predict_from_gram(exact, Xte, B, T, floor)))
            scores = [r2(predict_from_gram(G, Xte, B, T, f * floor)) for f in multipliers]
            cols["best"].append(max(scores))
            best_m.append(multipliers[int(np.argmax(scores))])
        med = {k: float(np.median(v)) for k, v in cols.items()}
        floor = float(np.median([m.eigenvalue_floor_ for m in models[:5]]))
        print(f"{eps:5g} {models[0].noise_scale_:7.2f} {models[0].sensitivity_:6.3f} "
              f"{floor:8.1f} {int((eig < floor).sum()):>5d} of {len(eig):<3d} "
              f"{med['pkg']:8.3f} {med['exact']:17.3f} "
              f"{med['best']:10.3f} (x{np.median(best_m):.2f})")
    print(f"(re-solving reproduces the package's predictions to {max(check):.1e})")
    # Sample size: the same distribution with m times the rows has Gram
    # m * exact; the package's release (weights, sigma) and floor rule.
    print("\nR^2 ratio if Adult had m times the training rows (Gram = m x exact + "
          "the package's release noise, seeded NumPy, median of 3 draws):")
    mults = (1, 2, 4, 8)
    print(f"{'eps':>5} " + "".join(f"{f'm={m_} (n={m_ * len(ytr) // 1000}k)':>16}"
                                  for m_ in mults))
    rng = np.random.default_rng(7)
    size = exact.shape[0]
    iu = np.triu_indices(size)
    k = size - 2
    W, sensitivity = release_weights(k, **POOLED_BLOCK_WEIGHTS)
    for eps in sorted(fits):
        sigma = gaussian_noise_scale(eps, DELTA, sensitivity)
        cells = []
        for mult in mults:
            r = []
            for _ in range(3):
                N = np.zeros_like(exact)
                N[iu] = rng.normal(0.0, sigma / W[iu])
                G = mult * exact + N + np.triu(N, 1).T
                floor = eigenvalue_floor(G[None], sigma / W)
                r.append(r2_score(yte, predict_from_gram(G, Xte, B, T, floor)) / r2_lr)
            cells.append(f"{np.median(r):.3f}")
        print(f"{eps:5g} " + "".join(f"{c:>16}" for c in cells))
    print("reading: 'exact+same floor' is the package's floor on noise-free statistics\n"
          "(the cost of the regularisation alone); 'oracle' picks the multiplier of the\n"
          "floor on the TEST set (optimistic: not a private procedure).")


# ---------------------------------------------------------------------------
# (b) shift
# ---------------------------------------------------------------------------
def simulate_shift(seed, n, test_strength):
    X, y, env, parents = make_invariant_regression(
        n, SIM_TRAIN_ENVS, intervention_strength=1.0, random_state=seed, **SIM_KW)
    Xt, yt, envt, parents_t = make_invariant_regression(
        n, SIM_TRAIN_ENVS + 1, intervention_strength=test_strength,
        random_state=seed, **SIM_KW)
    assert parents == parents_t
    held = envt == f"e{SIM_TRAIN_ENVS}"
    return X, y, env, Xt[held], yt[held], parents


def shift_models(X, y, env, Xt, yt, parents, clip, target_bound, epsilons):
    """Test MSE of every model; one draw of DP noise each. Returns dict and
    the ICP selections."""
    p, k = X.shape[1], len(parents)
    Xc = X.clip(-clip, clip)
    out, icp = {}, {}

    def mse(est, cols=None):
        Xe = Xt if cols is None else Xt[cols]
        return float(np.mean((yt - est.predict(Xe)) ** 2))

    out["training mean (non-private)"] = float(np.mean((yt - np.mean(y)) ** 2))
    out["OLS all (non-private)"] = mse(LinearRegression().fit(X, y))
    out["OLS parents (non-private)"] = mse(LinearRegression().fit(X[parents], y), parents)
    for eps in epsilons:
        common = dict(epsilon=eps, delta=DELTA, target_bound=target_bound)
        B = clip * np.sqrt(p)
        est = quiet_fit(DPCausalRegressor(feature_bound=B, **common), Xc, y)
        out[f"DP all, eps={eps:g}"] = mse(est)
        # A list of causal features releases only those columns, so the
        # bound is theirs: clip * sqrt(k).
        est = quiet_fit(DPCausalRegressor(feature_bound=clip * np.sqrt(k),
                                          causal_features=list(parents), **common), Xc, y)
        out[f"DP causal_features=parents, eps={eps:g}"] = mse(est)
        est = quiet_fit(DPCausalRegressor(feature_bound=B, causal_features="icp",
                                          **common), Xc, y, environments=env)
        out[f"DP causal_features='icp', eps={eps:g}"] = mse(est)
        pv = est.icp_subset_pvalues_
        icp[eps] = (tuple(est.selected_features_),
                    sum(v > est.icp_alpha for v in pv.values()),
                    pv.get(tuple(parents), np.nan))
    return out, icp


def print_mse_table(title, results, order):
    head = f"{'model':52s} {'median MSE':>11} {'min':>9} {'max':>9}"
    print(f"\n{title}")
    print(head)
    print("-" * len(head))
    for name in order:
        v = [r[name] for r in results]
        print(f"{name:52s} {fmt(float(np.median(v))):>11} {fmt(min(v)):>9} "
              f"{fmt(max(v)):>9}")


def icp_calibration(seeds, n, draws):
    """Rejection rate of the (invariant) true parents by the private ICP test
    (the estimator's own path: ``_test_chunk`` on the released statistics, as
    ``linear_subset_pvalues`` calls it), and, when the statistics expose them,
    where a miscalibration comes from: the variance of the test components
    over the noise draws (data fixed) against the variance the package adds
    for the noise, and their shift from the noise-free value."""
    from skcausal_trust.invariance._icp import _test_chunk

    print(f"\nprivate ICP calibration: rejection rate at alpha=0.05 of the TRUE "
          f"parents (invariant, so the rate should be <= 0.05), {draws} releases "
          "(seeded NumPy noise, the package's sigma) of the exact training "
          "statistics of each SCM:")
    diag_ok = all(hasattr(EnvironmentStatistics, a) for a in
                  ("_components", "_noise_variance_by_simulation"))
    head = (f"{'seed':>5} {'eps':>5} {'non-private p':>14} {'reject rate':>12} "
            f"{'median p':>9}")
    if diag_ok:
        head += (f" {'mean test: noise var true/added':>32} {'shift/sd':>9}"
                 f" {'var test: true/added':>21} {'shift/sd':>9}")
    print(head)
    print("-" * len(head))
    p = sum(SIM_KW.values())
    B = SIM_CLIP * np.sqrt(p)
    rng = np.random.default_rng(12345)
    rates = []
    for seed in seeds:
        X, y, env, _, _, parents = simulate_shift(seed, n, 3.0)
        Xn = X.clip(-SIM_CLIP, SIM_CLIP).to_numpy() / B
        yn = np.clip(y, -SIM_TARGET_BOUND, SIM_TARGET_BOUND) / SIM_TARGET_BOUND
        codes = np.unique(env, return_inverse=True)[1]
        Z = np.column_stack([np.ones(len(y)), Xn, yn])
        E, m = codes.max() + 1, Z.shape[1]
        G = np.stack([Z[codes == e].T @ Z[codes == e] for e in range(E)])
        subset = np.array([[list(X.columns).index(c) for c in parents]])
        exact = EnvironmentStatistics.from_grams(G)
        p_np = float(_test_chunk(exact, subset, "approximate")[0])
        iu = np.triu_indices(m)
        W, sensitivity = release_weights(m - 2, **ENVIRONMENT_BLOCK_WEIGHTS)
        for eps in SHIFT_EPSILONS:
            sigma = gaussian_noise_scale(eps, DELTA, sensitivity)
            pvals, comps, added = [], [], []
            for _ in range(draws):
                N = np.zeros_like(G)
                N[:, iu[0], iu[1]] = rng.normal(0.0, sigma / W[iu], (E, iu[0].size))
                N = N + np.triu(N, 1).transpose(0, 2, 1)
                noisy = G + N
                noisy[:, 0, 0] = np.maximum(noisy[:, 0, 0], 2.0)  # as in fit
                st = EnvironmentStatistics.from_grams(noisy, noise_scale=sigma / W)
                pvals.append(float(_test_chunk(st, subset, "approximate")[0]))
                if diag_ok:
                    comps.append(st._components(subset))
                    added.append(st._noise_variance_by_simulation(subset))
            pvals = np.array(pvals)
            rate = float(np.mean(pvals <= 0.05))
            rates.append(rate)
            line = f"{seed:5d} {eps:5g} {p_np:14.3g} {rate:12.3f} {np.median(pvals):9.2g}"
            if diag_ok:
                ex = exact._components(subset)
                cells = []
                for j, k in ((0, 2), (1, 3)):  # (mean diff, its sampling var), (variance diff, ...)
                    vals = np.array([c[j] for c in comps])[..., 0]  # draws x E
                    true_var = vals.var(axis=0, ddof=1)
                    add = np.array([a[j] for a in added])[..., 0]
                    ratio = np.median(true_var / np.median(add, axis=0))
                    samp = np.median(np.array([c[k] for c in comps])[..., 0], axis=0)
                    shift = np.abs(vals.mean(axis=0) - ex[j][:, 0]) / np.sqrt(samp + true_var)
                    cells.append((ratio, float(np.max(shift))))
                line += (f" {cells[0][0]:32.2f} {cells[0][1]:9.2f}"
                         f" {cells[1][0]:21.2f} {cells[1][1]:9.2f}")
            print(line, flush=True)
    if diag_ok:
        print("(true/added: variance of the component over the releases, data fixed, "
              "over the noise variance the package adds (median over environments);\n"
              " shift/sd: largest |mean over releases - noise-free value| in units of "
              "the component's total sd)")
    return rates


def part_b(args, summary):
    print("\n" + "=" * 78)
    print("(b) Shift: DP causal regression vs DP regression on all features")
    print("=" * 78)
    n = args.shift_rows
    print(f"simulation: make_invariant_regression({n} rows/env, {SIM_TRAIN_ENVS} train "
          f"envs, strength 1; test = env e{SIM_TRAIN_ENVS} of the same SCM at strength "
          f"{args.test_strength:g}), {SIM_KW}; bounds: predictors clipped to "
          f"[-{SIM_CLIP:g}, {SIM_CLIP:g}], feature_bound = {SIM_CLIP:g}*sqrt(p), "
          f"target_bound = {SIM_TARGET_BOUND:g}; {args.shift_seeds} seeds (a new SCM "
          "and new OpenDP noise each)")
    results, icp_sel, coef_gap, clipped = [], {e: [] for e in SHIFT_EPSILONS}, [], []
    t0 = time.perf_counter()
    for seed in range(args.shift_seeds):
        X, y, env, Xt, yt, parents = simulate_shift(seed, n, args.test_strength)
        c_tr = LinearRegression().fit(X[parents], y).coef_
        c_te = LinearRegression().fit(Xt[parents], yt).coef_
        coef_gap.append(float(np.max(np.abs(c_tr - c_te))))
        clipped.append((int((np.abs(X.to_numpy()) > SIM_CLIP).any(axis=1).sum()),
                        int((np.abs(y) > SIM_TARGET_BOUND).sum())))
        out, icp = shift_models(X, y, env, Xt, yt, parents, SIM_CLIP, SIM_TARGET_BOUND,
                                SHIFT_EPSILONS)
        results.append(out)
        for eps, sel in icp.items():
            icp_sel[eps].append((sel, parents))
    order = list(results[0])
    print(f"(same mechanism check: max |parents' OLS coef, train - test env| median "
          f"{np.median(coef_gap):.4f}, max {max(coef_gap):.4f}; rows clipped per seed "
          f"(X, y): {clipped}; {time.perf_counter() - t0:.1f} s)")
    print_mse_table("simulation: test MSE on the held-out, more shifted environment "
                    "(noise variance of y is 1)", results, order)
    print("\nICP on the private statistics (per seed: selected / #accepted subsets / "
          "p-value of the true parents):")
    for eps, sels in icp_sel.items():
        right = sum(set(s[0]) == set(p) for s, p in sels)
        empty = sum(len(s[0]) == 0 for s, _ in sels)
        none_acc = sum(s[1] == 0 for s, _ in sels)
        print(f"  eps={eps:g}: true parents selected {right}/{len(sels)}, empty "
              f"selection {empty}/{len(sels)} (every subset rejected: {none_acc}); "
              + "; ".join(f"{list(s[0])}/{s[1]}/{s[2]:.1e}" for s, _ in sels))
    for eps in SHIFT_EPSILONS:
        a = np.median([r[f"DP all, eps={eps:g}"] for r in results])
        c = np.median([r[f"DP causal_features=parents, eps={eps:g}"] for r in results])
        i = np.median([r[f"DP causal_features='icp', eps={eps:g}"] for r in results])
        wins = sum(r[f"DP causal_features=parents, eps={eps:g}"]
                   < r[f"DP all, eps={eps:g}"] for r in results)
        summary.append(("INFO", f"(b) simulation eps={eps:g}: median MSE DP parents "
                                f"{c:.3f}, DP icp {i:.3f}, DP all {a:.3f}; parents beat "
                                f"all in {wins}/{len(results)} seeds"))

    rates = icp_calibration(range(args.calibration_seeds), n, args.calibration_draws) \
        if args.calibration_draws else []
    if rates:
        worst = max(rates)
        tag = "PASS" if worst <= 0.1 else "MISS"
        print(f"  {tag}  private ICP keeps the true parents: worst rejection rate "
              f"{worst:.3f} (level 0.05; PASS up to 0.1 for Monte-Carlo error)")
        summary.append((tag, f"(b) private ICP rejection rate of the true parents "
                             f"{worst:.3f} (should be <= 0.05)"))

    # -- Sachs -------------------------------------------------------------
    sachs = load_sachs(target=SACHS_TARGET)
    data = sachs.data.drop(columns="experiment")
    X_all = np.log(data) - SACHS_LOG_HALF_RANGE
    y_all = np.log(sachs.target.to_numpy(float)) - SACHS_LOG_HALF_RANGE
    env_all = sachs.environment.astype(str).to_numpy()
    edges = sachs.consensus_edges
    parents = sorted(edges.loc[edges["effect"] == SACHS_TARGET, "cause"])
    print(f"\nSachs: log abundances minus {SACHS_LOG_HALF_RANGE:.3f}, target "
          f"{SACHS_TARGET}, {X_all.shape[1]} predictors, consensus parents {parents}; "
          f"each coordinate within {SACHS_LOG_HALF_RANGE:.3f} (public readout range "
          f"[1, 1e4]; largest raw value here {float(data.to_numpy().max()):.0f}); "
          f"{args.sachs_seeds} noise draws per held-out condition")
    levels = list(dict.fromkeys(env_all))
    per_condition = {}
    t0 = time.perf_counter()
    for held in levels:
        tr, te = env_all != held, env_all == held
        res = []
        for _ in range(args.sachs_seeds):
            out, icp = shift_models(
                X_all[tr], y_all[tr], env_all[tr], X_all[te], y_all[te], parents,
                SACHS_LOG_HALF_RANGE, SACHS_LOG_HALF_RANGE, SHIFT_EPSILONS)
            out["_icp"] = icp
            res.append(out)
        per_condition[held] = res
    print(f"({time.perf_counter() - t0:.1f} s)")
    names = [k for k in per_condition[levels[0]][0] if not k.startswith("_")]
    cols = ["training mean (non-private)", "OLS all (non-private)",
            "OLS parents (non-private)"] + [
        k for eps in SHIFT_EPSILONS for k in names if k.endswith(f"eps={eps:g}")]
    print("\nSachs: held-out condition test MSE (median over noise draws)")
    labels = ["mean", "OLS all", "OLS par"] + [
        lab + f" e{eps:g}" for eps in SHIFT_EPSILONS
        for lab in ("DP all", "DP par", "DP icp")]
    head = f"{'held out':17s}" + "".join(f"{lab:>11}" for lab in labels)
    print(head)
    print("-" * len(head))
    table = {}
    for held in levels:
        res = per_condition[held]
        meds = [float(np.median([r[c] for r in res])) for c in cols]
        table[held] = dict(zip(cols, meds))
        print(f"{held:17s}" + "".join(f"{fmt(v, 3):>11}" for v in meds))
    meds = [float(np.median([table[h][c] for h in levels])) for c in cols]
    print(f"{'median':17s}" + "".join(f"{fmt(v, 3):>11}" for v in meds))
    print("(mean: the training mean as prediction; par: consensus parents through "
          f"causal_features, feature_bound {SACHS_LOG_HALF_RANGE:.3f}*sqrt(2); "
          "e1/e10: epsilon)")
    for eps in SHIFT_EPSILONS:
        sel = [tuple(r["_icp"][eps][0]) for h in levels for r in per_condition[h]]
        counts = pd.Series([", ".join(s) if s else "(none)" for s in sel]).value_counts()
        print(f"ICP on private statistics, eps={eps:g}: selections over "
              f"{len(sel)} fits: " + "; ".join(f"{k}: {v}" for k, v in counts.items()))
        a = f"DP all, eps={eps:g}"
        c = f"DP causal_features=parents, eps={eps:g}"
        wins = sum(table[h][c] < table[h][a] for h in levels)
        summary.append(("INFO", f"(b) Sachs eps={eps:g}: median over conditions of MSE "
                                f"DP parents {np.median([table[h][c] for h in levels]):.3f}"
                                f" vs DP all {np.median([table[h][a] for h in levels]):.3f};"
                                f" parents better on {wins}/{len(levels)} conditions"))


# ---------------------------------------------------------------------------
# (c) time
# ---------------------------------------------------------------------------
def best_of(k, func):
    times = []
    for _ in range(max(1, k)):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def part_c(args, summary):
    print("\n" + "=" * 78)
    print(f"(c) Time per fit, n={TIME_N:,}, d={TIME_D}, one BLAS thread")
    print("=" * 78)
    rng = np.random.default_rng(0)
    X = np.clip(rng.normal(size=(TIME_N, TIME_D)), -3.0, 3.0)
    y = np.clip(X @ (0.2 * rng.normal(size=TIME_D)) + rng.normal(size=TIME_N), -10, 10)
    B, T = 3.0 * np.sqrt(TIME_D), 10.0
    dp = lambda: DPCausalRegressor(epsilon=1.0, delta=DELTA, feature_bound=B,  # noqa: E731
                                   target_bound=T).fit(X, y)
    dp()  # warm: OpenDP library load, dp_accounting calibration cache
    LinearRegression().fit(X, y)
    rows = []
    t_lr = best_of(args.repeats, lambda: LinearRegression().fit(X, y))
    t_dp = best_of(args.repeats, dp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_seed = best_of(args.repeats, lambda: DPCausalRegressor(
            epsilon=1.0, delta=DELTA, feature_bound=B, target_bound=T,
            random_state=0).fit(X, y))
    Z = np.column_stack([np.ones(TIME_N), X / B, y / T])
    m = Z.shape[1]
    n_release = m * (m + 1) // 2
    t_gram = best_of(args.repeats, lambda: Z.T @ Z)
    codes = np.zeros(TIME_N, dtype=int)
    t_gram_mask = best_of(args.repeats, lambda: Z[codes == 0].T @ Z[codes == 0])
    _, sensitivity = release_weights(m - 2, **POOLED_BLOCK_WEIGHTS)
    sigma = gaussian_noise_scale(1.0, DELTA, sensitivity)
    vals = np.zeros(n_release)
    release_gaussian(vals, sigma, sensitivity)
    t_noise = best_of(args.repeats, lambda: release_gaussian(vals, sigma, sensitivity))
    rows = [("LinearRegression().fit", t_lr),
            ("DPCausalRegressor(epsilon=1).fit (OpenDP noise)", t_dp),
            ("DPCausalRegressor(..., random_state=0).fit (NumPy noise)", t_seed),
            (f"  part: Z'Z, Z = [1, x, y] ({m} columns, as in fit)", t_gram),
            ("  part: Z[codes == e].T @ Z[codes == e] (fit with environments)",
             t_gram_mask),
            (f"  part: OpenDP Gaussian noise on {n_release} entries", t_noise)]
    head = f"{'operation':58s} {'best s':>9} {'median s':>9} {'/ LR':>7}"
    print(head)
    print("-" * len(head))
    for name, (best, med) in rows:
        print(f"{name:58s} {best:9.4f} {med:9.4f} {best / t_lr[0]:7.2f}")
    print(f"(best / median of {args.repeats}; load avg {os.getloadavg()[0]:.2f})")
    ratio = t_dp[0] / t_lr[0]
    tag = "PASS" if ratio <= TIME_RATIO_TARGET else "MISS"
    print(f"\ntargets:\n  {tag}  DPCausalRegressor {ratio:.2f}x LinearRegression "
          f"(target <= {TIME_RATIO_TARGET:g}x)")
    summary.append((tag, f"(c) time per fit {ratio:.2f}x LinearRegression "
                         f"(target <= {TIME_RATIO_TARGET:g}x)"))
    if tag == "MISS" or args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3):
            dp()
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
        lines = buf.getvalue().splitlines()
        start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
        print("\ncProfile of 3 DP fits, top 12 by tottime:")
        print("\n".join(lines[start - 2: start + 13]))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["a", "b", "c"],
                        choices=["a", "b", "c"])
    parser.add_argument("--seeds", type=int, default=20, help="(a) DP fits per epsilon")
    parser.add_argument("--diagnose", action="store_true",
                        help="(a) print the decomposition even when targets pass")
    parser.add_argument("--diffprivlib-path", default=None, metavar="DIR",
                        help="(a) directory to add to sys.path for diffprivlib "
                             "(e.g. pip install --no-deps --target DIR diffprivlib)")
    parser.add_argument("--diffprivlib-shim", action="store_true",
                        help="(a) if diffprivlib fails to import, define "
                             "sklearn.tree._tree.DOUBLE/DTYPE and retry")
    parser.add_argument("--shift-seeds", type=int, default=10,
                        help="(b) simulated SCMs")
    parser.add_argument("--shift-rows", type=int, default=20_000,
                        help="(b) simulated rows per environment")
    parser.add_argument("--test-strength", type=float, default=3.0,
                        help="(b) intervention strength of the held-out environment")
    parser.add_argument("--sachs-seeds", type=int, default=10,
                        help="(b) noise draws per held-out Sachs condition")
    parser.add_argument("--calibration-seeds", type=int, default=3,
                        help="(b) SCMs in the private ICP calibration check")
    parser.add_argument("--calibration-draws", type=int, default=200,
                        help="(b) noise draws per SCM in the calibration check (0: off)")
    parser.add_argument("--repeats", type=int, default=15, help="(c) best of K fits")
    parser.add_argument("--profile", action="store_true",
                        help="(c) print a cProfile of the DP fit")
    args = parser.parse_args(argv)
    limiter = threadpool_limits(limits=1)  # noqa: F841 (kept for the whole run)

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "MISSING"

    print(f"bench_dp_regression: python {platform.python_version()}, numpy "
          f"{np.__version__}, pandas {pd.__version__}, scikit-learn "
          f"{sklearn.__version__}, opendp {version('opendp')}, dp-accounting "
          f"{version('dp-accounting')}, skcausal_trust {skcausal_trust.__version__}")
    print(f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}, parts "
          f"{' '.join(args.parts)}")
    sys.stdout.flush()
    summary = []
    t_start = time.perf_counter()
    for part, func in (("a", part_a), ("b", part_b), ("c", part_c)):
        if part in args.parts:
            t0 = time.perf_counter()
            func(args, summary)
            print(f"\n[part ({part}): {time.perf_counter() - t0:.1f} s]", flush=True)
    print("\n" + "=" * 78)
    print("summary:")
    for tag, text in summary:
        print(f"  {tag:4s}  {text}")
    print(f"total {time.perf_counter() - t_start:.1f} s, load avg at the end "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
