#!/usr/bin/env python
"""Raw columns, intersectional attributes: timings against peers on full Adult.

Measured in one run, on the same rows (best of ``--repeats``):

1. ``CounterfactuallyFairClassifier`` on the raw DataFrame (categorical
   columns one-hot encoded inside) against the same estimator on columns
   one-hot encoded by hand with the graph expanded (the cost of the raw
   route), and both against scikit-learn's ``LogisticRegression`` on the
   one-hot columns;
2. two sensitive attributes (``race`` x ``sex``: 10 combinations) with
   ``epsilon > 0``: the constraints form a polytope and the fast path solves
   it with SLSQP; against ``LogisticRegression``, and against the cvxpy
   reference program on a ``--cvxpy-rows`` subsample (time ratio and the
   largest coefficient difference);
3. ``counterfactual_unfairness`` of a pipeline (ColumnTransformer with
   OneHotEncoder, then the classifier) under an SCM on the raw columns (soft
   counterfactuals of categorical descendants pushed through the encoder)
   against the same value on pre-encoded columns under an SCM on them.

Numeric columns are standardised once on every route. Ratios are printed,
never asserted.

Run from the repository root::

    python benchmarks/bench_raw_columns.py
    python benchmarks/bench_raw_columns.py --quick
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder  # noqa: E402

from skcausal_trust.causal import LinearSCM, one_hot_encode  # noqa: E402
from skcausal_trust.datasets import adult_causal_graph, load_adult  # noqa: E402
from skcausal_trust.exceptions import UnknownCategoryWarning  # noqa: E402
from skcausal_trust.fairness import (  # noqa: E402
    CounterfactuallyFairClassifier,
    counterfactual_unfairness,
)


def best_of(repeats, fn):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def load(n_rows, seed=0):
    graph = adult_causal_graph()
    frame = load_adult().frame.dropna()
    if n_rows is not None and n_rows < len(frame):
        frame = frame.sample(n_rows, random_state=seed)
    X = frame[graph.nodes].reset_index(drop=True)
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    X[numeric] = (X[numeric] - X[numeric].mean()) / X[numeric].std()
    y = (frame["income"].astype(str) == ">50K").astype(int).to_numpy()
    return X, y, graph, numeric


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="default: all")
    parser.add_argument("--cvxpy-rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true",
                        help="5,000 rows, 1,000 for cvxpy, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.cvxpy_rows, args.repeats = 5000, 1000, 1
    warnings.simplefilter("ignore", UnknownCategoryWarning)
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y, graph, numeric = load(args.rows)
    encoded, expanded = one_hot_encode(X, graph, exclude=["sex"])
    features = encoded.drop(columns="sex")
    print(f"Adult: {len(X)} rows, {features.shape[1]} one-hot inputs; "
          f"best of {args.repeats}")

    t_lr, _ = best_of(args.repeats, lambda: LogisticRegression(max_iter=2000).fit(
        features, y))
    print("\n1. one attribute (sex), epsilon=0")
    print(f"   LogisticRegression on one-hot columns    {t_lr:8.3f} s   1.00x")
    t_pre, _ = best_of(args.repeats, lambda: CounterfactuallyFairClassifier(
        expanded, sensitive_feature_ids="sex", max_iter=2000).fit(encoded, y))
    print(f"   CF, pre-encoded columns + expanded graph {t_pre:8.3f} s   "
          f"{t_pre / t_lr:5.2f}x LR")
    t_raw, raw = best_of(args.repeats, lambda: CounterfactuallyFairClassifier(
        graph, sensitive_feature_ids="sex", max_iter=2000).fit(X, y))
    print(f"   CF, raw DataFrame                        {t_raw:8.3f} s   "
          f"{t_raw / t_lr:5.2f}x LR, {t_raw / t_pre:5.2f}x pre-encoded")

    print(f"\n2. two attributes (race x sex), epsilon={args.epsilon:g}")
    t_two0, _ = best_of(args.repeats, lambda: CounterfactuallyFairClassifier(
        graph, sensitive_feature_ids=["race", "sex"], max_iter=2000).fit(X, y))
    print(f"   CF epsilon=0 (eliminated)                {t_two0:8.3f} s   "
          f"{t_two0 / t_lr:5.2f}x LR")
    t_two, two = best_of(args.repeats, lambda: CounterfactuallyFairClassifier(
        graph, sensitive_feature_ids=["race", "sex"], epsilon=args.epsilon,
        max_iter=2000).fit(X, y))
    print(f"   CF epsilon>0 ({two.solver_}, {two.n_iter_} iterations)  {t_two:8.3f} s   "
          f"{t_two / t_lr:5.2f}x LR; gap {two.counterfactual_gap_:.6f}")
    sub = np.random.default_rng(1).choice(len(X), args.cvxpy_rows, replace=False)
    Xs, ys = X.iloc[sub].reset_index(drop=True), y[sub]
    params = dict(sensitive_feature_ids=["race", "sex"], epsilon=args.epsilon)
    t_fast, fast = best_of(1, lambda: CounterfactuallyFairClassifier(
        graph, tol=1e-10, max_iter=5000, **params).fit(Xs, ys))
    t_cvx, ref = best_of(1, lambda: CounterfactuallyFairClassifier(
        graph, solver="cvxpy", **params).fit(Xs, ys))
    print(f"   on {args.cvxpy_rows} rows: SLSQP {t_fast:.3f} s, cvxpy ({ref.solver_}) "
          f"{t_cvx:.3f} s: {t_cvx / t_fast:.0f}x; max |coef diff| "
          f"{np.abs(fast.coef_ - ref.coef_).max():.2e}, objective (SLSQP - cvxpy) / "
          f"cvxpy {(fast.objective_ - ref.objective_) / ref.objective_:+.1e}, gaps "
          f"{fast.counterfactual_gap_:.10f} / {ref.counterfactual_gap_:.10f}")

    print("\n3. counterfactual_unfairness (sex, epsilon=0.5 model)")
    categorical = [c for c in X.columns if c not in numeric and c != "sex"]
    pipe = Pipeline([
        ("prep", ColumnTransformer(
            [("onehot", OneHotEncoder(sparse_output=False, handle_unknown="ignore"),
              categorical)], remainder="passthrough").set_output(transform="pandas")),
        ("clf", CounterfactuallyFairClassifier(graph, sensitive_feature_ids="sex",
                                               epsilon=0.5, max_iter=2000)),
    ]).fit(X, y)
    pre = CounterfactuallyFairClassifier(expanded, sensitive_feature_ids="sex",
                                         epsilon=0.5, max_iter=2000).fit(encoded, y)
    raw_scm, enc_scm = LinearSCM(graph).fit(X), LinearSCM(expanded).fit(encoded)
    t_m_pre, u_pre = best_of(args.repeats, lambda: counterfactual_unfairness(
        pre, encoded, scm=enc_scm, sensitive_feature_ids="sex"))
    t_m_raw, u_raw = best_of(args.repeats, lambda: counterfactual_unfairness(
        pipe, X, scm=raw_scm, sensitive_feature_ids="sex"))
    print(f"   pre-encoded columns, one-hot SCM          {t_m_pre:8.3f} s   1.00x "
          f"(value {u_pre:.10f})")
    print(f"   pipeline on raw columns, raw SCM          {t_m_raw:8.3f} s   "
          f"{t_m_raw / t_m_pre:5.2f}x (value {u_raw:.10f}; |diff| "
          f"{abs(u_raw - u_pre):.1e})")


if __name__ == "__main__":
    main()
