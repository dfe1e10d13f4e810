"""Anchor regression and the counterfactually fair regressor at extreme and
mixed column scales: without a penalty the fit is equivariant under scaling
a column (exact in working units, in memory and on dask); with a penalty
(stated in the data's units), out-of-range magnitudes are an error."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.datasets import make_counterfactual_classification
from skcausal_trust.fairness import CounterfactuallyFairRegressor
from skcausal_trust.invariance import AnchorRegression

GAMMA = 5.0


def _data(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    env = rng.integers(0, 3, n)
    X = pd.DataFrame({"a": rng.normal(size=n) + env, "b": rng.normal(size=n),
                      "c": rng.normal(size=n)})
    y = pd.Series(X["a"] + 2 * X["b"] - X["c"] + rng.normal(size=n) + 0.5 * env, name="y")
    return X, y, env


def _reference(X, y, env):
    """Anchor regression written out with numpy on well-scaled data:
    least squares on the centred rows mapped by I - (1 - sqrt(gamma)) P_A,
    P_A the projection on the centred environment indicators."""
    Xc = X.to_numpy() - X.to_numpy().mean(axis=0)
    yc = y.to_numpy() - y.mean()
    A = np.eye(env.max() + 1)[env]
    A = A - A.mean(axis=0)
    P = A @ np.linalg.pinv(A, rcond=1e-10)  # rank 2: the centred indicators sum to 0
    W = np.eye(len(y)) - (1 - np.sqrt(GAMMA)) * P
    coef = np.linalg.lstsq(W @ Xc, W @ yc, rcond=None)[0]
    return coef, y.mean() - X.to_numpy().mean(axis=0) @ coef


@pytest.mark.parametrize("scales", [(1.0, 1e160, 1.0), (1.0, 1e-160, 1.0),
                                    (1e10, 1e-7, 1.0), (1e300, 1.0, 1e-300)])
def test_unpenalised_fit_is_equivariant_under_column_scales(scales):
    X, y, env = _data()
    coef, intercept = _reference(X, y, env)
    scaled = X * np.asarray(scales)
    fit = AnchorRegression(gamma=GAMMA).fit(scaled, y, environments=env)
    assert_allclose(fit.coef_ * np.asarray(scales), coef, rtol=1e-10)
    assert fit.intercept_ == pytest.approx(intercept, rel=1e-10)
    assert np.isfinite(fit.objective_)


def test_a_large_target_scales_coefficients_and_intercept():
    X, y, env = _data()
    coef, intercept = _reference(X, y, env)
    fit = AnchorRegression(gamma=GAMMA).fit(X, y * 1e150, environments=env)
    assert_allclose(fit.coef_ / 1e150, coef, rtol=1e-10)
    assert fit.intercept_ / 1e150 == pytest.approx(intercept, rel=1e-10)
    # The objective is in squared units of y: 1e300 times the unscaled one.
    unscaled = AnchorRegression(gamma=GAMMA).fit(X, y, environments=env)
    assert fit.objective_ / 1e300 == pytest.approx(unscaled.objective_, rel=1e-10)


def test_a_target_near_the_largest_float_is_fitted_exactly():
    """y near 1e306: its sums over the rows (the projection on the anchors)
    would overflow in the data's units; in working units (y divided by a
    power of two) the fit is the unit-scale fit times that power, bit for
    bit."""
    X, y, env = _data()
    unit = AnchorRegression(gamma=GAMMA).fit(X, y, environments=env)
    huge = AnchorRegression(gamma=GAMMA).fit(X, y * 2.0**1015, environments=env)
    np.testing.assert_array_equal(huge.coef_, unit.coef_ * 2.0**1015)
    assert huge.intercept_ == unit.intercept_ * 2.0**1015
    assert huge.objective_ == np.inf  # 2**2030 times unit.objective_: beyond the range


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_penalised_fit_refuses_out_of_range_magnitudes(scale):
    X, y, env = _data()
    fit = AnchorRegression(gamma=GAMMA, alpha=0.1)
    with pytest.raises(ValueError, match=r"X\['b'\] has values of magnitude .*alpha=0.1"):
        fit.fit(X.assign(b=X["b"] * scale), y, environments=env)
    assert not hasattr(fit, "coef_")


def test_on_dask_the_same_working_units(dask_sync):
    dd = pytest.importorskip("dask.dataframe")
    X, y, env = _data()
    scales = np.array([1e10, 1e-160, 1e150])
    scaled = X * scales
    memory = AnchorRegression(gamma=GAMMA).fit(scaled, y, environments=env)
    lazy = AnchorRegression(gamma=GAMMA).fit(
        dd.from_pandas(scaled, npartitions=3), dd.from_pandas(y, npartitions=3),
        environments=dd.from_pandas(pd.Series(env), npartitions=3))
    assert_allclose(lazy.coef_, memory.coef_, rtol=1e-10)
    assert lazy.intercept_ == pytest.approx(memory.intercept_, rel=1e-10)
    assert lazy.objective_ == pytest.approx(memory.objective_, rel=1e-10)
    with pytest.raises(ValueError, match=r"X\['b'\] has values of magnitude"):
        AnchorRegression(gamma=GAMMA, alpha=0.1).fit(
            dd.from_pandas(scaled, npartitions=3), dd.from_pandas(y, npartitions=3),
            environments=dd.from_pandas(pd.Series(env), npartitions=3))


def _cf_data():
    X, _, a, scm = make_counterfactual_classification(600, 3, random_state=0)
    y = X.to_numpy() @ np.array([1.0, -1.0, 0.5]) + np.random.default_rng(0).normal(size=600)
    return X, pd.Series(y, name="y"), a, scm.graph_


@pytest.mark.parametrize("epsilon,rtol", [(0.0, 1e-12), (0.1, 1e-8)])
@pytest.mark.parametrize("scales", [(1.0, 1e10, 1e-7), (1.0, 1e-160, 1.0),
                                    (1.0, 1e160, 1.0), (1e300, 1.0, 1.0)])
def test_unpenalised_fair_regressor_is_equivariant_under_column_scales(scales, epsilon,
                                                                       rtol):
    """Constraints on the twins' differences and least squares are both
    equivariant under scaling an input (the coefficient scales inversely):
    the fit at any finite scale is the unscaled fit's (before: the input at
    1e-160 or 1e160 got a zero coefficient, 1e10 beside 1e-7 lost digits)."""
    X, y, a, graph = _cf_data()
    base = CounterfactuallyFairRegressor(graph, alpha=0, epsilon=epsilon).fit(
        X, y, sensitive_features=a)
    fit = CounterfactuallyFairRegressor(graph, alpha=0, epsilon=epsilon).fit(
        X * np.asarray(scales), y, sensitive_features=a)
    assert_allclose(fit.coef_ * np.asarray(scales), base.coef_, rtol=rtol)
    assert fit.intercept_ == pytest.approx(base.intercept_, rel=rtol)
    assert fit.objective_ == pytest.approx(base.objective_, rel=rtol)
    assert fit.counterfactual_gap_ <= epsilon + 1e-9


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_ridge_fair_regressor_refuses_out_of_range_magnitudes(scale):
    X, y, a, graph = _cf_data()
    fit = CounterfactuallyFairRegressor(graph, alpha=1.0)
    with pytest.raises(ValueError, match=r"X's inputs \['x1'\] have values of magnitude"):
        fit.fit(X.assign(x1=X["x1"] * scale), y, sensitive_features=a)
    assert not hasattr(fit, "coef_")


def test_fair_regressor_on_dask_at_mixed_scales(dask_sync):
    """On dask the statistics are rescaled before the solve (the products
    themselves are formed in the data's units): 1e60 beside 1e-40."""
    dd = pytest.importorskip("dask.dataframe")
    X, y, a, graph = _cf_data()
    scaled = X * np.array([1.0, 1e60, 1e-40])
    memory = CounterfactuallyFairRegressor(graph, alpha=0).fit(scaled, y, sensitive_features=a)
    lazy = CounterfactuallyFairRegressor(graph, alpha=0).fit(
        dd.from_pandas(scaled, npartitions=3), dd.from_pandas(y, npartitions=3),
        sensitive_features=dd.from_pandas(a, npartitions=3))
    assert_allclose(lazy.coef_, memory.coef_, rtol=1e-9)
    assert lazy.intercept_ == pytest.approx(memory.intercept_, rel=1e-9)


@pytest.mark.parametrize("scale", [1e160, 1e-160])
@pytest.mark.parametrize("route", ["memory", "dask", "robust"])
def test_penalised_classifiers_refuse_out_of_range_magnitudes(scale, route, dask_sync):
    """Their L2 penalty is stated in the data's units (as scikit-learn's
    LogisticRegression, which returns zero coefficients at 1e160): an input
    outside 2**±400 is named before any fit."""
    from skcausal_trust.fairness import (
        CausallyRobustFairClassifier,
        CounterfactuallyFairClassifier,
    )

    X, y, a, scm = make_counterfactual_classification(300, 3, random_state=0)
    X = X.assign(x1=X["x1"] * scale)
    est = (CausallyRobustFairClassifier(scm.graph_) if route == "robust"
           else CounterfactuallyFairClassifier(scm.graph_))
    if route == "dask":
        dd = pytest.importorskip("dask.dataframe")
        X, y, a = (dd.from_pandas(v, npartitions=2) for v in (X, pd.Series(y), a))
    # Refused before any fit: no solver runs on such values (nor warns).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"X's inputs \['x1'\] have values of "
                                             r"magnitude.*L2 penalty \(C=1.0\)"):
            est.fit(X, y, sensitive_features=a)
    assert not hasattr(est, "coef_")


@pytest.mark.parametrize("scale", [1e-160, 1e10])
def test_anchor_cvxpy_reference_in_working_units(scale):
    """The reference solver gets the same working units: before, 1e-160
    gave a zero coefficient with status optimal and 1e10 a SolverError."""
    X, y, env = _data(300)
    coef, _ = _reference(X, y, env)
    scaled = X.assign(b=X["b"] * scale)
    fit = AnchorRegression(gamma=GAMMA, solver="cvxpy").fit(scaled, y, environments=env)
    assert_allclose(fit.coef_ * np.array([1.0, scale, 1.0]), coef, rtol=1e-5)


def test_anchors_are_rescaled_even_with_a_penalty():
    """Anchors enter through the projection on their span, which scaling
    them leaves as it is: with alpha > 0 an anchor at 1e-130 or 1e130 gives
    the fit at scale 1 (it was refused)."""
    X, y, env = _data(400)
    anchor = np.random.default_rng(3).normal(size=len(y)) + env
    fits = [AnchorRegression(gamma=GAMMA, alpha=0.1).fit(X, y, anchors=anchor * s).coef_
            for s in (1.0, 1e-130, 1e130)]
    assert_allclose(fits[1], fits[0], rtol=1e-10)
    assert_allclose(fits[2], fits[0], rtol=1e-10)


def test_ridge_anchor_scales_the_target():
    """A ridge penalty keeps the solution linear in y: y at 1e200 is fitted
    (coefficients 1e200 times those at scale 1); the elastic net's L1 term
    is not, so there y at 1e200 is refused by name."""
    X, y, env = _data(400)
    at_one = AnchorRegression(gamma=GAMMA, alpha=0.1).fit(X, y, environments=env)
    large = AnchorRegression(gamma=GAMMA, alpha=0.1).fit(X, y * 1e200, environments=env)
    assert_allclose(large.coef_ / 1e200, at_one.coef_, rtol=1e-10)
    with pytest.raises(ValueError, match=r"y has values of magnitude"):
        AnchorRegression(gamma=GAMMA, alpha=0.1, l1_ratio=0.5).fit(
            X, y * 1e200, environments=env)


@pytest.mark.parametrize("alpha,solver,route,message", [
    (0.0, "cvxpy", "memory", r"reference program \(solver='cvxpy'\)"),
    (1.0, "auto", "dask", r"ridge penalty \(alpha=1.0\)"),
    (0.0, "auto", "dask", "on dask the sums of squares"),
])
def test_fair_regressor_refuses_what_it_states_in_the_data_units(alpha, solver, route,
                                                                message, dask_sync):
    """The cvxpy reference, and on dask the partition sums (formed before
    the solve), work in the data's units: an input at 1e-160 is named (on
    dask it was fitted with a relative error of 2.5e-6 at alpha=0, and a
    zero coefficient at alpha=1)."""
    X, y, a, graph = _cf_data()
    X = X.assign(x1=X["x1"] * 1e-160)
    if route == "dask":
        dd = pytest.importorskip("dask.dataframe")
        X, y, a = (dd.from_pandas(v, npartitions=2) for v in (X, y, a))
    est = CounterfactuallyFairRegressor(graph, alpha=alpha, solver=solver)
    with pytest.raises(ValueError, match=r"X's inputs \['x1'\] have values of magnitude.*"
                                         + message):
        est.fit(X, y, sensitive_features=a)
    assert not hasattr(est, "coef_")
