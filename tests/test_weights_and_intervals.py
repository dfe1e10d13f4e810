"""Tests that catch the silent bugs.

1. Integer sample weights equal repeated rows, for every estimator that takes
   ``sample_weight`` and for every component it shares (the causal model
   fitted inside the counterfactual estimators, the metric). Each weighted
   fit is compared with the same object fitted on the repeated rows
   ``X.iloc[np.repeat(idx, w)]`` (zero weights drop rows), never with another
   weighted route: two routes that share a component cannot see a bug in it
   (the fast path and the cvxpy reference share the causal model).
2. Intervals and standard errors against independent computations: ICP's
   confidence intervals from our own OLS and scipy quantiles, to 1e-8; the
   decomposition's influence-function standard errors against a
   nonparametric bootstrap of the whole procedure.

``AnchorRegression`` exposes no standard errors (only ``coef_`` and
``intercept_``), so there is nothing of it to check in part 2.
"""

import itertools

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.datasets import (
    make_counterfactual_classification,
    make_invariant_regression,
)
from skcausal_trust.decomposition import causal_fairness_decomposition
from skcausal_trust.fairness import (
    CounterfactualResidualizer,
    CounterfactuallyFairClassifier,
    CounterfactuallyFairRegressor,
    counterfactual_unfairness,
)
from skcausal_trust.invariance import AnchorRegression, InvariantCausalPrediction

# Stated tolerances. Weighted and repeated fits solve the same problem from
# the same sufficient statistics up to summation order: measured ~1e-14 for
# the SCM and for lbfgs. The iterative solvers (L-BFGS-B, SLSQP, coordinate
# descent) stop at slightly different iterates (measured up to 4e-8); the
# interior-point cvxpy path is accurate to ~1e-7.
SCM_TOL = {"rtol": 1e-9, "atol": 1e-10}
FAST_TOL = {"rtol": 1e-6, "atol": 1e-8}
CVXPY_TOL = {"rtol": 1e-4, "atol": 1e-5}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _integer_weights(n, seed):
    """Weights in {0, 1, 2, 3}: zeros drop rows, 2 and 3 repeat them."""
    w = np.random.default_rng(seed).integers(0, 4, size=n)
    w[:4] = [0, 1, 2, 3]
    return w


def _repeated(w):
    return np.repeat(np.arange(len(w)), w)


def _check_levels_survive(w, *columns):
    """Guard of the test's own validity: every level of every label column
    keeps a row of positive weight, so the repeated data have the same
    levels (a level seen only on zero-weight rows is another question)."""
    for column in columns:
        values = np.asarray(column, dtype=object)
        assert set(values[w > 0]) == set(values), "a level lost all its weight"


def _assert_same_scm(weighted, repeated, tol=SCM_TOL, what="scm"):
    """Every fitted part of two LinearSCMs: variables, levels, equations
    (parents, intercepts, coefficients, noise scales) and roots."""
    assert weighted.variables_ == repeated.variables_, what
    assert weighted.design_columns_ == repeated.design_columns_, what
    assert weighted.categories_.keys() == repeated.categories_.keys(), what
    for v, levels in weighted.categories_.items():
        assert list(levels) == list(repeated.categories_[v]), (what, v)
    assert weighted.equations_.keys() == repeated.equations_.keys(), what
    for v, eq in weighted.equations_.items():
        other = repeated.equations_[v]
        assert eq["parents"] == other["parents"], (what, v)
        for key in ("intercept", "coef", "noise_scale"):
            assert_allclose(eq[key], other[key], **tol,
                            err_msg=f"{what}: equation of {v!r}, {key}")
    assert weighted.roots_.keys() == repeated.roots_.keys(), what
    for v, root in weighted.roots_.items():
        assert root.keys() == repeated.roots_[v].keys(), (what, v)
        for key, value in root.items():
            assert_allclose(value, repeated.roots_[v][key], **tol,
                            err_msg=f"{what}: root {v!r}, {key}")


def _scm_parameters(scm):
    """All fitted numbers of an SCM, flattened (to show weights matter)."""
    parts = [np.concatenate([np.ravel(eq[k]) for k in ("intercept", "coef", "noise_scale")])
             for eq in scm.equations_.values()]
    parts += [np.ravel(value) for root in scm.roots_.values() for value in root.values()]
    return np.concatenate(parts)


def _assert_same_worlds(weighted, repeated, tol=SCM_TOL):
    """The fitted worlds of two counterfactual estimators, and the
    counterfactual directions the constraints are built from."""
    scms_w = weighted.scms_ if hasattr(weighted, "scms_") else [weighted.scm_]
    scms_r = repeated.scms_ if hasattr(repeated, "scms_") else [repeated.scm_]
    assert len(scms_w) == len(scms_r) > 0
    for k, (a, b) in enumerate(zip(scms_w, scms_r)):
        _assert_same_scm(a, b, tol, what=f"world {k}")
    assert_allclose(weighted.counterfactual_directions_,
                    repeated.counterfactual_directions_, **tol,
                    err_msg="counterfactual_directions_")
    assert list(weighted.sensitive_levels_) == list(repeated.sensitive_levels_)


def _fit(estimator, X, y, sensitive, **kwargs):
    return clone(estimator).fit(X, y, sensitive_features=sensitive, **kwargs)


@pytest.fixture(scope="module")
def raw_task():
    """A raw DataFrame with a categorical feature (x0, a categorical
    descendant of A with real-valued counterfactuals), three levels of A."""
    X, y, a, scm = make_counterfactual_classification(
        240, 5, n_levels=3, n_categorical=1, random_state=0)
    y_reg = X["x1"].to_numpy() - 0.5 * X["x3"].to_numpy() + np.random.default_rng(
        0).normal(size=len(y))
    w = _integer_weights(len(y), seed=1)
    _check_levels_survive(w, a, X["x0"])
    return X, y, y_reg, a, scm, w


@pytest.fixture(scope="module")
def two_attribute_task():
    X, y, s, scm = make_counterfactual_classification(
        240, 5, n_sensitive=2, n_levels=[2, 3], n_categorical=1, random_state=2)
    w = _integer_weights(len(y), seed=3)
    _check_levels_survive(w, s["A"], s["B"], X["x0"])
    return X, y, s, scm, w


def _other_world(X, sensitive_nodes):
    """A second world: the sensitive attribute(s) cause every feature."""
    return CausalGraph([(s, f) for s in sensitive_nodes for f in X.columns])


# ---------------------------------------------------------------------------
# 1. Weights equal repeated rows
# ---------------------------------------------------------------------------
def test_linear_scm_fit_integer_weights_equal_repeated_rows():
    """Equations, noise scales and root distributions (categorical and
    numeric roots) of a weighted fit equal the fit on repeated rows."""
    X, _, a, scm = make_counterfactual_classification(
        300, 5, n_levels=3, n_categorical=2, random_state=4)
    rng = np.random.default_rng(4)
    data = X.assign(A=a, r=2.0 * rng.normal(size=len(X)) + 1.0)
    graph = CausalGraph(scm.graph_.edges + [("r", "x4"), ("r", "x2")])
    w = _integer_weights(len(data), seed=5)
    _check_levels_survive(w, data["A"], data["x0"], data["x1"])
    weighted = LinearSCM(graph).fit(data, sample_weight=w)
    repeated = LinearSCM(graph).fit(data.iloc[_repeated(w)])
    assert set(weighted.roots_) == {"A", "r"}  # a categorical and a numeric root
    _assert_same_scm(weighted, repeated)
    # The weights change every part of the fit (else the test could not fail).
    unweighted = LinearSCM(graph).fit(data)
    changed = ~np.isclose(_scm_parameters(weighted), _scm_parameters(unweighted),
                          rtol=1e-6, atol=1e-8)
    assert changed.mean() > 0.9


@pytest.mark.parametrize("epsilon", [0.0, 0.3])
@pytest.mark.parametrize("n_worlds", [1, 2])
def test_classifier_weights_equal_repeated_rows_raw_route(raw_task, epsilon, n_worlds):
    """Raw DataFrame (categorical column encoded inside), routed attribute:
    the fitted worlds, their directions and the coefficients."""
    X, y, _, a, scm, w = raw_task
    worlds = scm.graph_ if n_worlds == 1 else [scm.graph_, _other_world(X, ["A"])]
    est = CounterfactuallyFairClassifier(worlds, epsilon=epsilon, tol=1e-10)
    rows = _repeated(w)
    weighted = _fit(est, X, y, a, sample_weight=w)
    repeated = _fit(est, X.iloc[rows], y[rows], a.iloc[rows])
    assert weighted.solver_path_ == "fast"
    _assert_same_worlds(weighted, repeated)
    assert_allclose(weighted.coef_, repeated.coef_, **FAST_TOL)
    assert_allclose(weighted.intercept_, repeated.intercept_, **FAST_TOL)
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-7)
    assert weighted.counterfactual_gap_ == pytest.approx(
        repeated.counterfactual_gap_, abs=1e-6)
    # Weights move the causal model: a model fitted without them differs.
    unweighted = _fit(est, X, y, a)
    assert not np.allclose(weighted.counterfactual_directions_,
                           unweighted.counterfactual_directions_, rtol=1e-4)


def test_classifier_weights_equal_repeated_rows_column_route(raw_task):
    """The attribute as a column of X (sensitive_feature_ids)."""
    X, y, _, a, scm, w = raw_task
    XA = X.assign(A=a)
    est = CounterfactuallyFairClassifier(scm.graph_, epsilon=0.2, sensitive_feature_ids="A",
                                         tol=1e-10)
    rows = _repeated(w)
    weighted = clone(est).fit(XA, y, sample_weight=w)
    repeated = clone(est).fit(XA.iloc[rows], y[rows])
    _assert_same_worlds(weighted, repeated)
    assert_allclose(weighted.coef_, repeated.coef_, **FAST_TOL)
    assert_allclose(weighted.predict_proba(XA), repeated.predict_proba(XA), **FAST_TOL)


@pytest.mark.parametrize("epsilon", [0.0, 0.3])
def test_classifier_weights_equal_repeated_rows_two_attributes(two_attribute_task,
                                                               epsilon):
    """Two intersected attributes (epsilon > 0: dependent directions, the
    polytope path) and two worlds."""
    X, y, s, scm, w = two_attribute_task
    est = CounterfactuallyFairClassifier(
        [scm.graph_, _other_world(X, ["A", "B"])], epsilon=epsilon, tol=1e-10)
    rows = _repeated(w)
    weighted = _fit(est, X, y, s, sample_weight=w)
    repeated = _fit(est, X.iloc[rows], y[rows], s.iloc[rows])
    assert weighted.solver_ == ("lbfgs" if epsilon == 0 else "SLSQP")
    _assert_same_worlds(weighted, repeated)
    assert_allclose(weighted.coef_, repeated.coef_, **FAST_TOL)
    assert_allclose(weighted.intercept_, repeated.intercept_, **FAST_TOL)


@pytest.mark.filterwarnings("ignore::skcausal_trust.exceptions.SolverFallbackWarning")
def test_classifier_cvxpy_reference_weights_equal_repeated_rows(raw_task):
    """The reference program weighs its loss and its (per-sample) constraints
    come from the weighted worlds."""
    X, y, _, a, scm, w = raw_task
    est = CounterfactuallyFairClassifier(scm.graph_, epsilon=0.3, solver="cvxpy")
    rows = _repeated(w)
    weighted = _fit(est, X, y, a, sample_weight=w)
    repeated = _fit(est, X.iloc[rows], y[rows], a.iloc[rows])
    _assert_same_worlds(weighted, repeated)
    assert_allclose(weighted.coef_, repeated.coef_, **CVXPY_TOL)


@pytest.mark.parametrize("seed,weighted", [(0, True), (1, True), (1, False)],
                         ids=["seed0-weighted", "seed1-weighted", "seed1-unweighted"])
def test_classifier_fast_path_equals_cvxpy_with_two_worlds(seed, weighted):
    """Two worlds, three levels, epsilon > 0: the fast path solves the same
    program as the cvxpy reference (same objective_, same coefficients).
    L-BFGS-B used to stop far from the optimum here (projected gradient 0.19,
    no warning); the fast path now restarts it until the projected gradient
    meets tol."""
    X, y, a, scm = make_counterfactual_classification(
        240, 5, n_levels=3, n_categorical=1, random_state=seed)
    w = _integer_weights(len(y), seed=1) if weighted else None
    worlds = [scm.graph_, _other_world(X, ["A"])]
    fits = {solver: CounterfactuallyFairClassifier(
        worlds, epsilon=0.3, solver=solver, tol=1e-10).fit(
        X, y, sensitive_features=a, sample_weight=w) for solver in ("fast", "cvxpy")}
    fast, ref = fits["fast"], fits["cvxpy"]
    assert fast.solver_ == "L-BFGS-B"
    assert fast.counterfactual_gap_ <= 0.3 + 1e-7
    assert fast.objective_ == pytest.approx(ref.objective_, rel=1e-6)
    assert_allclose(fast.coef_, ref.coef_, atol=1e-4)


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("epsilon,n_worlds", [(0.0, 1), (0.3, 1), (0.3, 2)])
def test_regressor_weights_equal_repeated_rows_raw_route(raw_task, epsilon, n_worlds,
                                                         solver):
    X, _, y, a, scm, w = raw_task
    worlds = scm.graph_ if n_worlds == 1 else [scm.graph_, _other_world(X, ["A"])]
    est = CounterfactuallyFairRegressor(worlds, epsilon=epsilon, alpha=0.5, solver=solver)
    rows = _repeated(w)
    weighted = _fit(est, X, y, a, sample_weight=w)
    repeated = _fit(est, X.iloc[rows], y[rows], a.iloc[rows])
    _assert_same_worlds(weighted, repeated)
    tol = FAST_TOL if solver == "fast" else CVXPY_TOL
    assert_allclose(weighted.coef_, repeated.coef_, **tol)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, abs=tol["atol"])
    unweighted = _fit(est, X, y, a)
    assert not np.allclose(weighted.counterfactual_directions_,
                           unweighted.counterfactual_directions_, rtol=1e-4)


def test_regressor_weights_equal_repeated_rows_two_attributes(two_attribute_task):
    X, y, s, scm, w = two_attribute_task
    y = y + X["x2"].to_numpy()
    est = CounterfactuallyFairRegressor([scm.graph_, _other_world(X, ["A", "B"])],
                                        epsilon=0.3, alpha=0.5)
    rows = _repeated(w)
    weighted = _fit(est, X, y, s, sample_weight=w)
    repeated = _fit(est, X.iloc[rows], y[rows], s.iloc[rows])
    _assert_same_worlds(weighted, repeated)
    assert_allclose(weighted.coef_, repeated.coef_, **FAST_TOL)


@pytest.mark.parametrize("route", ["routed", "column"])
def test_residualizer_weights_equal_repeated_rows(raw_task, route):
    """The residualizer's SCM, and hence its transform of the same rows."""
    X, _, _, a, scm, w = raw_task
    rows = _repeated(w)
    if route == "routed":
        est = CounterfactualResidualizer(scm.graph_)
        weighted = clone(est).fit(X, sensitive_features=a, sample_weight=w)
        repeated = clone(est).fit(X.iloc[rows], sensitive_features=a.iloc[rows])
        unweighted = clone(est).fit(X, sensitive_features=a)
        outputs = [e.transform(X, sensitive_features=a)
                   for e in (weighted, repeated, unweighted)]
    else:
        XA = X.assign(A=a)
        est = CounterfactualResidualizer(scm.graph_, sensitive_feature_ids="A")
        weighted = clone(est).fit(XA, sample_weight=w)
        repeated = clone(est).fit(XA.iloc[rows])
        unweighted = clone(est).fit(XA)
        outputs = [e.transform(XA) for e in (weighted, repeated, unweighted)]
    _assert_same_worlds(weighted, repeated)
    assert weighted.descendants_ == repeated.descendants_
    assert_allclose(outputs[0], outputs[1], **SCM_TOL)
    assert not np.allclose(outputs[0], outputs[2], rtol=1e-4)


@pytest.mark.parametrize(
    "params",
    [
        {"gamma": 5.0},
        {"gamma": 0.0},
        {"gamma": 5.0, "alpha": 0.1},
        {"gamma": 5.0, "alpha": 0.02, "l1_ratio": 0.5},
        {"gamma": 5.0, "fit_intercept": False},
        {"gamma": 5.0, "alpha": 0.05, "l1_ratio": 0.5, "solver": "cvxpy"},
    ],
    ids=["lstsq", "partial-out", "ridge", "elasticnet", "no-intercept", "cvxpy"],
)
@pytest.mark.parametrize("route", ["routed", "column", "continuous-anchors"])
def test_anchor_regression_weights_equal_repeated_rows(params, route):
    X, y, env, _ = make_invariant_regression(60, 3, random_state=0)
    w = _integer_weights(len(y), seed=6)
    _check_levels_survive(w, env)
    rows = _repeated(w)
    anchors = np.column_stack([np.random.default_rng(6).normal(size=len(y)),
                               (env == "e1").astype(float)])
    if route == "routed":
        est = AnchorRegression(**params)

        def fit(idx, **kw):
            return clone(est).fit(X.iloc[idx], y[idx], environments=env[idx], **kw)
    elif route == "column":
        est = AnchorRegression(environment_column="env", **params)
        XE = X.assign(env=env)

        def fit(idx, **kw):
            return clone(est).fit(XE.iloc[idx], y[idx], **kw)
    else:
        est = AnchorRegression(**params)

        def fit(idx, **kw):
            return clone(est).fit(X.iloc[idx], y[idx], anchors=anchors[idx], **kw)

    everything = np.arange(len(y))
    weighted = fit(everything, sample_weight=w)
    repeated = fit(rows)
    tol = CVXPY_TOL if params.get("solver") == "cvxpy" else FAST_TOL
    assert_allclose(weighted.coef_, repeated.coef_, **tol)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, abs=tol["atol"])
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=tol["rtol"])
    assert not np.allclose(weighted.coef_, fit(everything).coef_, rtol=1e-4)


def _metric_case(case, X, y, y_reg, a, scm):
    """A fitted model and the kind of change the metric averages."""
    if case.startswith("classifier"):
        model = CounterfactuallyFairClassifier(scm.graph_, epsilon=1.0).fit(
            X, y, sensitive_features=a)
        return model, case.split("-")[1]
    if case == "pipeline-probability":
        encode_x0 = ColumnTransformer(
            [("onehot", OneHotEncoder(handle_unknown="ignore"), ["x0"])],
            remainder="passthrough")
        return make_pipeline(encode_x0, LogisticRegression()).fit(X, y), "probability"
    model = CounterfactuallyFairRegressor(scm.graph_, epsilon=1.0).fit(
        X, y_reg, sensitive_features=a)
    return model, "prediction"


@pytest.mark.parametrize("case", ["classifier-probability", "classifier-flip",
                                  "pipeline-probability", "regressor-prediction"])
def test_counterfactual_unfairness_weights_equal_repeated_rows(raw_task, case):
    """The metric with integer weights equals the same computation on the
    repeated rows (with a categorical descendant, whose twins are real-valued
    indicator vectors fed through the model's encoding)."""
    X, y, y_reg, a, scm, w = raw_task
    estimator, kind = _metric_case(case, X, y, y_reg, a, scm)
    rows = _repeated(w)
    weighted = counterfactual_unfairness(estimator, X, scm=scm, sensitive_features=a,
                                         kind=kind, sample_weight=w)
    repeated = counterfactual_unfairness(estimator, X.iloc[rows], scm=scm,
                                         sensitive_features=a.iloc[rows], kind=kind)
    unweighted = counterfactual_unfairness(estimator, X, scm=scm, sensitive_features=a,
                                           kind=kind)
    assert weighted == pytest.approx(repeated, rel=1e-12)
    assert weighted != pytest.approx(unweighted, rel=1e-3)


def test_counterfactual_unfairness_weights_equal_repeated_rows_column_route(raw_task):
    X, y, _, a, scm, w = raw_task
    XA = X.assign(A=a)
    clf = CounterfactuallyFairClassifier(scm.graph_, epsilon=1.0,
                                         sensitive_feature_ids="A").fit(XA, y)
    rows = _repeated(w)
    weighted = counterfactual_unfairness(clf, XA, scm=scm, sensitive_feature_ids="A",
                                         sample_weight=w)
    repeated = counterfactual_unfairness(clf, XA.iloc[rows], scm=scm,
                                         sensitive_feature_ids="A")
    assert weighted == pytest.approx(repeated, rel=1e-12)


# ---------------------------------------------------------------------------
# 2. ICP: p-values and confidence intervals from an independent computation
# ---------------------------------------------------------------------------
def _ols(D, y):
    """Our own OLS with intercept: slopes, their standard errors (residual
    variance with n - k - 1 degrees of freedom) and the residuals."""
    D1 = np.column_stack([np.ones(len(y)), D])
    beta, *_ = np.linalg.lstsq(D1, y, rcond=None)
    resid = y - D1 @ beta
    sigma2 = resid @ resid / (len(y) - D1.shape[1])
    cov = sigma2 * np.linalg.inv(D1.T @ D1)
    return beta[1:], np.sqrt(np.diag(cov))[1:], resid


def _approximate_pvalue(X, y, env, subset):
    """Method II of Peters et al.: pooled OLS residuals, each environment
    against the others by Welch's t-test and the two-sided F-test of
    variances; Bonferroni over the 2 E tests (as documented)."""
    _, _, resid = _ols(X[:, subset], y)
    levels = np.unique(env)
    pvalues = []
    for e in levels:
        inside, outside = resid[env == e], resid[env != e]
        pvalues.append(stats.ttest_ind(inside, outside, equal_var=False).pvalue)
        ratio = np.var(inside, ddof=1) / np.var(outside, ddof=1)
        cdf = stats.f.cdf(ratio, len(inside) - 1, len(outside) - 1)
        pvalues.append(2 * min(cdf, 1 - cdf))
    return min(1.0, 2 * len(levels) * min(pvalues))


def _chow_pvalue(X, y, env, subset):
    """Method I: Chow's test of predicting each environment from the fit on
    the others; Bonferroni over the E tests (as documented)."""
    levels = np.unique(env)
    D = np.column_stack([np.ones(len(y)), X[:, subset]])
    k = D.shape[1]
    pvalues = []
    for e in levels:
        inside = env == e
        Di, Do, yi, yo = D[inside], D[~inside], y[inside], y[~inside]
        beta_o, *_ = np.linalg.lstsq(Do, yo, rcond=None)
        rss_o = np.sum((yo - Do @ beta_o) ** 2)
        resid = yi - Di @ beta_o
        cov = np.eye(len(yi)) + Di @ np.linalg.solve(Do.T @ Do, Di.T)
        quad = resid @ np.linalg.solve(cov, resid)
        F = (quad / len(yi)) / (rss_o / (len(yo) - k))
        pvalues.append(stats.f.sf(F, len(yi), len(yo) - k))
    return min(1.0, len(levels) * min(pvalues))


def _union_of_intervals(X, y, accepted, quantile):
    """Union over the accepted subsets of the per-subset OLS intervals
    ``beta +- quantile * se``; a predictor outside a subset has coefficient
    exactly 0 there."""
    p = X.shape[1]
    lo, hi = np.full(p, np.inf), np.full(p, -np.inf)
    for subset in accepted:
        set_lo, set_hi = np.zeros(p), np.zeros(p)
        if subset:
            beta, se, _ = _ols(X[:, list(subset)], y)
            set_lo[list(subset)] = beta - quantile * se
            set_hi[list(subset)] = beta + quantile * se
        lo, hi = np.minimum(lo, set_lo), np.maximum(hi, set_hi)
    return np.column_stack([lo, hi])


@pytest.fixture(scope="module")
def icp_task():
    # Four predictors (an ancestor, two parents, a child), 3 x 150 rows:
    # several subsets are accepted, one without the child, so the union
    # has interval endpoints from several subsets and an endpoint at 0.
    X, y, env, parents = make_invariant_regression(
        150, 3, n_ancestors=1, n_parents=2, n_children=1, intervention_strength=0.5,
        random_state=3)
    return X, y, env, parents


@pytest.mark.parametrize("test", ["approximate", "exact"])
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_icp_pvalues_and_confidence_intervals_match_independent_computation(
        icp_task, test, alpha):
    """``confidence_intervals_`` is, as documented, the union over accepted
    subsets of the OLS coefficient intervals at level ``1 - alpha/2``
    (two-sided normal quantile ``z_{1 - alpha/4}``), with 0 for a predictor
    outside a subset; the subsets' p-values are the documented
    Bonferroni-corrected tests. Both from our own OLS and scipy, to 1e-8."""
    X, y, env, _ = icp_task
    icp = InvariantCausalPrediction(alpha=alpha, test=test).fit(X, y, environments=env)
    Xa, names = X.to_numpy(), list(X.columns)
    pvalue = _approximate_pvalue if test == "approximate" else _chow_pvalue
    subsets = [s for k in range(len(names) + 1)
               for s in itertools.combinations(range(len(names)), k)]
    expected_p = {s: pvalue(Xa, y, env, list(s)) for s in subsets}
    for s, p in expected_p.items():
        got = icp.subset_pvalues_[tuple(names[i] for i in s)]
        if p > 1e-12:
            assert got == pytest.approx(p, rel=1e-8, abs=1e-14), s
        else:  # deep in the tail: relative accuracy is not the point
            assert got < 1e-10, s
    accepted = [s for s, p in expected_p.items() if p > alpha]
    assert sorted(icp.accepted_subsets_) == sorted(
        tuple(names[i] for i in s) for s in accepted)
    # The data exercise the union: several accepted subsets, and a
    # predictor left out of one of them.
    assert len(accepted) >= 2
    assert any(set(a) != set(b) for a in accepted for b in accepted)

    z = stats.norm.ppf(1 - alpha / 4)
    expected = _union_of_intervals(Xa, y, accepted, z)
    assert_allclose(icp.confidence_intervals_, expected, rtol=1e-8, atol=1e-8)

    # Teeth: the plausible wrong quantiles move an endpoint by far more than
    # the tolerance, so this test fails if any of them were used.
    n_dof = len(y) - max(len(s) for s in accepted) - 1
    wrong = {
        "1 - alpha/2 (no Bonferroni)": stats.norm.ppf(1 - alpha / 2),
        "1 - alpha (one-sided)": stats.norm.ppf(1 - alpha),
        "1 - alpha/8": stats.norm.ppf(1 - alpha / 8),
        "Student t": stats.t.ppf(1 - alpha / 4, n_dof),
    }
    for label, q in wrong.items():
        moved = np.abs(_union_of_intervals(Xa, y, accepted, q) - expected).max()
        assert moved > 1e-5, label


# ---------------------------------------------------------------------------
# 3. Decomposition: influence-function standard errors against the bootstrap
# ---------------------------------------------------------------------------
MEASURES = ("TV", "DE", "IE", "SE")


def _simulate_decomposition(n, rng):
    """Linear SCM z -> x -> w -> y with z -> w, z -> y: the nuisances are
    linear (outcome) and logistic (propensities P(x | z), P(x | z, w)), so
    least squares and logistic regression are well specified; the groups
    overlap well (moderate inverse-propensity weights)."""
    z = rng.normal(size=n)
    x = (rng.uniform(size=n) < 1 / (1 + np.exp(-0.5 * z))).astype(int)
    w = 0.5 * x + 0.5 * z + rng.normal(size=n)
    y = 1.0 * x + 2.0 * w + z + rng.normal(size=n)
    return pd.DataFrame({"x": x, "z": z, "w": w, "y": y})


class _OLS(RegressorMixin, BaseEstimator):
    """Least squares with intercept (the outcome regressions)."""

    def fit(self, X, y):
        self.coef_ = np.linalg.lstsq(_with_intercept(X), np.asarray(y, dtype=float),
                                     rcond=None)[0]
        return self

    def predict(self, X):
        return _with_intercept(X) @ self.coef_


class _Logit(ClassifierMixin, BaseEstimator):
    """Unpenalised logistic regression by Newton's method (the propensities;
    scikit-learn's LogisticRegression has an L2 penalty by default, and this
    costs a fraction of its per-fit validation in a 150-fold bootstrap)."""

    def fit(self, X, y):
        self.classes_, target = np.unique(y, return_inverse=True)
        A = _with_intercept(X)
        beta = np.zeros(A.shape[1])
        for _ in range(50):
            p = expit(A @ beta)
            step = np.linalg.solve((A * (p * (1 - p))[:, None]).T @ A, A.T @ (target - p))
            beta += step
            if np.abs(step).max() < 1e-10:
                break
        self.coef_ = beta
        return self

    def predict_proba(self, X):
        p = expit(_with_intercept(X) @ self.coef_)
        return np.column_stack([1 - p, p])


def _with_intercept(X):
    return np.column_stack([np.ones(len(X)), np.asarray(X, dtype=float)])


NUISANCES = {"outcome_model": _OLS(), "propensity_model": _Logit(), "n_folds": 2}


@pytest.fixture(scope="module")
def decomposition_task():
    data = _simulate_decomposition(1000, np.random.default_rng(0))
    res = causal_fairness_decomposition(data, "x", "z", "w", "y", random_state=0,
                                        **NUISANCES)
    return data, res


@pytest.mark.slow
def test_decomposition_influence_se_matches_bootstrap_of_whole_procedure(
        decomposition_task):
    """Nonparametric bootstrap of the whole procedure (resampled rows, new
    folds, nuisances refitted): its standard deviation agrees with the
    influence-function standard error within 25% for each measure. With 150
    resamples the Monte Carlo error of the bootstrap SD is about 6%; over ten
    simulated data sets (seeds 0-9) the ratio ranged from 0.90 to 1.18."""
    data, res = decomposition_task
    rng = np.random.default_rng(100)
    draws = []
    for b in range(150):
        rows = rng.integers(0, len(data), len(data))
        boot = causal_fairness_decomposition(
            data.iloc[rows].reset_index(drop=True), "x", "z", "w", "y",
            random_state=b, **NUISANCES)
        draws.append([boot.estimates[m] for m in MEASURES])
    bootstrap_sd = np.std(draws, axis=0, ddof=1)
    influence_se = np.array([res.standard_errors[m] for m in MEASURES])
    assert_allclose(influence_se / bootstrap_sd, 1.0, atol=0.25,
                    err_msg=f"{MEASURES}: IF SE {influence_se}, bootstrap {bootstrap_sd}")


def test_decomposition_total_variation_se_is_the_two_sample_se(decomposition_task):
    """TV is a difference of two group means: its influence-function SE is
    the classical two-sample one, sqrt(s1^2/n1 + s0^2/n0), up to the
    n versus n - 1 of the variances (under 1% here)."""
    data, res = decomposition_task
    y1, y0 = data.loc[data["x"] == 1, "y"], data.loc[data["x"] == 0, "y"]
    classical = np.sqrt(y1.var() / len(y1) + y0.var() / len(y0))
    assert res.standard_errors["TV"] == pytest.approx(classical, rel=0.01)


def test_decomposition_n_bootstrap_agrees_with_influence_se(decomposition_task):
    """The documented ``n_bootstrap`` option (resampling the cross-fitted
    scores) gives the same estimates and standard errors within 10% of the
    influence-function ones (2,000 resamples: Monte Carlo error ~1.6%)."""
    data, res = decomposition_task
    boot = causal_fairness_decomposition(data, "x", "z", "w", "y", random_state=0,
                                         n_bootstrap=2000, **NUISANCES)
    assert boot.estimates == res.estimates
    for m in MEASURES:
        assert boot.standard_errors[m] == pytest.approx(res.standard_errors[m],
                                                        rel=0.10), m
