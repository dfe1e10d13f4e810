"""The counterfactually fair and the causally robust classifiers weigh their
L2 penalty ``|coef|^2 / (2 C)`` against ``sum_i w_i loss_i``: only the
weights' ratios and ``C`` times their total define the model, so weights
``w * s`` with ``C / s`` give the model of ``w`` with ``C`` (checked on
every solver path and on dask). Weights whose total the program cannot sum
(outside about 1e-120 to 1e120, or times the squared largest input above
2**1000) are refused by name, before any fit, on both routes: before, a
total that overflowed gave zero coefficients with only numpy's overflow
warning in memory, and silently on dask with ``epsilon > 0``; weights of
1e100 on inputs of 1e105 gave zeros and a ConvergenceWarning.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.fairness import (CausallyRobustFairClassifier,
                                     CounterfactuallyFairClassifier,
                                     CounterfactuallyFairRegressor)
from skcausal_trust.utils._scaling import SAFE_MAGNITUDES, weight_total_is_safe

dd = pytest.importorskip("dask.dataframe")


def _data(n=300, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    x1 = rng.normal(size=n) + a
    x2 = rng.normal(size=n)
    score = x1 + 0.5 * x2 + rng.normal(size=n)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    weights = rng.integers(1, 4, n).astype(float)
    return pd.DataFrame({"x1": x1, "x2": x2}), y, a, weights


def _dask(X, y, a, w, parts=3):
    return (dd.from_pandas(X, npartitions=parts),
            dd.from_pandas(pd.Series(y), npartitions=parts),
            dd.from_pandas(pd.Series(a), npartitions=parts),
            dd.from_pandas(pd.Series(w), npartitions=parts))


@pytest.mark.parametrize("kw", [
    dict(epsilon=0.0),                       # lbfgs in the null space
    dict(epsilon=0.1),                       # L-BFGS-B in the box
    dict(epsilon=0.1, fit_intercept=False),
    dict(epsilon=0.0, solver="cvxpy"),
])
@pytest.mark.parametrize("classes", [2, 3])
def test_weights_times_s_with_C_over_s_is_the_same_model(kw, classes):
    X, y, a, w = _data(classes=classes)
    s = 2.0 ** 30 * 3  # not a power of two: the solvers see other numbers
    ref = CounterfactuallyFairClassifier(C=0.5, **kw).fit(
        X, y, sensitive_features=a, sample_weight=w)
    scaled = CounterfactuallyFairClassifier(C=0.5 / s, **kw).fit(
        X, y, sensitive_features=a, sample_weight=w * s)
    assert_allclose(scaled.coef_, ref.coef_, atol=2e-4)
    assert_allclose(scaled.intercept_, ref.intercept_, atol=2e-4)
    # The objective is a weighted sum: s times as large.
    assert scaled.objective_ / s == pytest.approx(ref.objective_, rel=1e-5)


@pytest.mark.parametrize("epsilon", [0.0, 0.1])
def test_the_scale_equivalence_on_dask(dask_sync, epsilon):
    X, y, a, w = _data()
    s = 1e12
    ref = CounterfactuallyFairClassifier(C=0.5, epsilon=epsilon).fit(
        *_dask(X, y, a, w)[:2], sensitive_features=_dask(X, y, a, w)[2],
        sample_weight=_dask(X, y, a, w)[3])
    Xd, yd, ad, wd = _dask(X, y, a, w * s)
    scaled = CounterfactuallyFairClassifier(C=0.5 / s, epsilon=epsilon).fit(
        Xd, yd, sensitive_features=ad, sample_weight=wd)
    assert_allclose(scaled.coef_, ref.coef_, atol=2e-4)
    assert_allclose(scaled.intercept_, ref.intercept_, atol=2e-4)


def test_the_scale_equivalence_of_the_robust_classifier():
    X, y, a, w = _data()
    s = 1e12
    ref = CausallyRobustFairClassifier(C=0.5).fit(X, y, sensitive_features=a, sample_weight=w)
    scaled = CausallyRobustFairClassifier(C=0.5 / s).fit(
        X, y, sensitive_features=a, sample_weight=w * s)
    assert_allclose(scaled.coef_, ref.coef_, atol=2e-4)
    assert_allclose(scaled.intercept_, ref.intercept_, atol=2e-4)


@pytest.mark.parametrize("weight, match", [
    (1e306, r"sample_weight sums to inf: the L2 penalty \(C=1.0\) is weighed"),
    # The first partition's sum overflows too: dask's warm start on it is
    # skipped (it failed in LAPACK).
    (1e307, r"sample_weight sums to inf"),
    (1e300, r"sample_weight sums to 3e\+302"),
    (1e-300, r"sample_weight sums to 3e-298"),
])
@pytest.mark.parametrize("epsilon", [0.0, 0.1])
@pytest.mark.parametrize("route", ["memory", "dask"])
def test_a_weight_total_out_of_range_is_refused_before_any_fit(dask_sync, weight, match,
                                                                 epsilon, route):
    X, y, a, _ = _data()
    w = np.full(len(y), weight)
    args = (X, y, a, w) if route == "memory" else _dask(X, y, a, w)
    model = CounterfactuallyFairClassifier(epsilon=epsilon)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning, no LAPACK failure
        with pytest.raises(ValueError, match=match + r".*sample_weight / s with C \* s"):
            model.fit(args[0], args[1], sensitive_features=args[2], sample_weight=args[3])
    assert not hasattr(model, "coef_")


def test_the_robust_classifier_refuses_a_total_that_overflows():
    X, y, a, _ = _data()
    model = CausallyRobustFairClassifier()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="sample_weight sums to inf"):
            model.fit(X, y, sensitive_features=a, sample_weight=np.full(len(y), 1e306))
    assert not hasattr(model, "coef_")


@pytest.mark.parametrize("route", ["memory", "dask"])
def test_weights_on_large_inputs_are_refused_by_both_magnitudes(dask_sync, route):
    """Weights of 1e100 (total 3e102, in range) on inputs near 1e105 (in
    range): the weighted curvature ``w x^2`` overflows (it gave zero
    coefficients and a ConvergenceWarning)."""
    X, y, a, _ = _data()
    w = np.full(len(y), 1e100)
    args = (X * 1e105, y, a, w)
    if route == "dask":
        args = _dask(*args)
    with pytest.raises(ValueError, match=r"sample_weight sums to 3e\+102 and X's largest "
                                         r"input has magnitude 3.\d+e\+105"):
        CounterfactuallyFairClassifier().fit(args[0], args[1], sensitive_features=args[2],
                                             sample_weight=args[3])


def test_the_bounds_of_a_safe_total():
    low, high = SAFE_MAGNITUDES
    assert weight_total_is_safe(low, 1.0) and weight_total_is_safe(high, 1.0)
    assert not weight_total_is_safe(np.nextafter(low, 0), 1.0)
    assert not weight_total_is_safe(np.nextafter(high, np.inf), 1.0)
    assert not weight_total_is_safe(np.inf, 0.0)
    # total * peak**2 up to 2**1000, exactly
    assert weight_total_is_safe(2.0 ** 200, 2.0 ** 400)
    assert not weight_total_is_safe(2.0 ** 200, np.nextafter(2.0 ** 400, np.inf))
    assert weight_total_is_safe(1.0, 0.0)


def test_the_regressor_keeps_fitting_such_weights_exactly():
    """The regressor is solved at any scale its sums hold: weights of 1e300
    with alpha are the model of unit weights with alpha / 1e300."""
    X, y, a, _ = _data()
    y = X["x1"].to_numpy() + np.random.default_rng(1).normal(size=len(y))
    ref = CounterfactuallyFairRegressor(alpha=1e-300 * len(y)).fit(
        X, y, sensitive_features=a)
    heavy = CounterfactuallyFairRegressor(alpha=len(y)).fit(
        X, y, sensitive_features=a, sample_weight=np.full(len(y), 1e300))
    assert_allclose(heavy.coef_, ref.coef_, rtol=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_the_regressor_on_dask_refuses_weights_that_overflow_without_warnings(dask_sync,
                                                                              alpha):
    """Its first pass's sums overflow to inf (numpy warned 'overflow
    encountered in reduce', then 'invalid value encountered in divide' for
    the means): refused by the message naming the columns and the weights."""
    X, _, a, _ = _data()
    y = X["x1"].to_numpy() + np.random.default_rng(1).normal(size=len(X))
    args = _dask(X, y, a, np.full(len(y), 1e307))
    model = CounterfactuallyFairRegressor(alpha=alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"X's columns \['x1', 'x2'\].*overflow.*"
                                             "or the sample weights"):
            model.fit(args[0], args[1], sensitive_features=args[2], sample_weight=args[3])
    assert not hasattr(model, "coef_")
