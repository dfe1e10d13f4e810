"""Tests that kill the surviving mutants of ``fairness/_regressor.py``
(issue 17, ``benchmarks/run_mutation.py --modules regressor``).

Every expected value comes from an independent computation: scikit-learn's
``Ridge`` on the columns a constraint leaves free (with one mediator, the
constraint ``w . t = 0`` sets the mediator's weight to zero, so the fair
model *is* ridge regression on the other columns), a target that is exactly a
feature (known coefficient), a constant target (known solution), or the
known effect of a simulated structural causal model.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import Ridge

from skcausal_trust.causal import CausalGraph
from skcausal_trust.exceptions import (
    DegenerateConstraintWarning,
    NoSensitiveFeaturesWarning,
)
from skcausal_trust.fairness import CounterfactuallyFairRegressor

ONE_MEDIATOR = CausalGraph([("a", "m")], nodes=["z"])
TWO_MEDIATORS = CausalGraph([("a", "m1"), ("a", "m2")], nodes=["z"])


def _one_mediator(n=300, seed=0, m_weight=1.0):
    """a -> m (effect 2), z independent of a; y with nonzero means, so that
    the intercept matters. Columns: z, m, a."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["f", "m"], n)
    m = 1.0 + 2.0 * (a == "m") + rng.normal(size=n)
    z = 1.0 + rng.normal(size=n)
    y = 2.0 + 1.5 * z + m_weight * m + 0.3 * rng.normal(size=n)
    return pd.DataFrame({"z": z, "m": m, "a": a}), y


def _two_mediators(n=300, seed=1):
    """a -> m1 (effect 2) and a -> m2 (effect -1.5), z independent of a."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["f", "m"], n)
    m1 = 2.0 * (a == "m") + rng.normal(size=n)
    m2 = -1.5 * (a == "m") + rng.normal(size=n)
    z = rng.normal(size=n)
    y = z + m1 + m2 + 0.3 * rng.normal(size=n)
    return pd.DataFrame({"z": z, "m1": m1, "m2": m2, "a": a}), y


# --------------------------------------------------------------------------
# Defaults: alpha=1, fit_intercept=True (mutants __init__ 2, 3) and the
# unconstrained closed form, its path label and predict (_solve_statistics
# 7-9, 28; _respond_inputs 1)
# --------------------------------------------------------------------------
def test_without_sensitive_features_it_is_sklearn_ridge_with_default_parameters():
    X, y = _one_mediator()
    Xf = X[["z", "m"]]
    with pytest.warns(NoSensitiveFeaturesWarning):
        reg = CounterfactuallyFairRegressor().fit(Xf, y)
    ref = Ridge(alpha=1.0, fit_intercept=True).fit(Xf, y)
    assert_allclose(reg.coef_, ref.coef_, rtol=1e-10)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-10)
    assert_allclose(reg.predict(Xf), ref.predict(Xf), rtol=1e-10)
    assert reg.solver_path_ == "unconstrained"
    assert reg.solver_ == "closed form"


def test_epsilon_zero_with_one_mediator_is_ridge_without_the_mediator():
    """Defaults again (alpha=1, intercept), a constraint that binds: the
    mediator's weight is zero and the rest is ridge on z, solved in closed
    form (not by the QP at epsilon=0: _solve_statistics 14, 17)."""
    X, y = _one_mediator()
    w = np.random.default_rng(5).integers(1, 4, size=len(y))
    reg = CounterfactuallyFairRegressor(ONE_MEDIATOR, sensitive_feature_ids="a").fit(
        X, y, sample_weight=w)
    ref = Ridge(alpha=1.0).fit(X[["z"]], y, sample_weight=w)
    assert abs(reg.coef_[1]) < 1e-12
    assert reg.coef_[0] == pytest.approx(ref.coef_[0], rel=1e-10)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-10)
    assert_allclose(reg.predict(X), ref.predict(X[["z"]]), rtol=1e-10)
    assert reg.solver_path_ == "fast"
    assert reg.solver_ == "closed form"


# --------------------------------------------------------------------------
# fit_intercept=False (_centred_statistics 15, 17, 18; _solve_statistics 64;
# _solve_cvxpy 17, 18, 66, 69)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
def test_without_intercept_it_is_ridge_through_the_origin_on_the_free_columns(solver):
    X, y = _one_mediator(seed=2)
    reg = CounterfactuallyFairRegressor(ONE_MEDIATOR, sensitive_feature_ids="a",
                                        alpha=0.5, fit_intercept=False,
                                        solver=solver).fit(X, y)
    ref = Ridge(alpha=0.5, fit_intercept=False).fit(X[["z"]], y)
    tol = 1e-10 if solver == "fast" else 1e-6
    assert reg.intercept_ == 0.0
    assert abs(reg.coef_[1]) < tol
    assert reg.coef_[0] == pytest.approx(ref.coef_[0], rel=tol)
    assert_allclose(reg.predict(X), ref.predict(X[["z"]]), rtol=10 * tol)


# --------------------------------------------------------------------------
# epsilon=1 (not the special value 0): a constraint that does not bind leaves
# plain ridge (_solve_statistics 17, _solve_cvxpy 44)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
def test_slack_constraint_at_epsilon_one_leaves_plain_ridge(solver):
    X, y = _one_mediator(seed=3, m_weight=0.2)  # |w_m * 2| ~ 0.4 < 1
    reg = CounterfactuallyFairRegressor(ONE_MEDIATOR, sensitive_feature_ids="a",
                                        epsilon=1.0, alpha=0.5, solver=solver).fit(X, y)
    ref = Ridge(alpha=0.5).fit(X[["z", "m"]], y)
    assert abs(ref.coef_[1]) * 2.5 < 1.0  # slack, from the reference alone
    assert_allclose(reg.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    assert reg.intercept_ == pytest.approx(ref.intercept_, abs=1e-5)
    assert reg.coef_[1] == pytest.approx(0.2, abs=0.1)  # the simulated weight


# --------------------------------------------------------------------------
# Path-specific constraints (__init__ 12, 13): with two mediators, only the
# path a -> m1 constrained sets m1's weight to zero and leaves m2 free
# --------------------------------------------------------------------------
@pytest.mark.parametrize("paths", [{"unfair_paths": ["a -> m1"]},
                                   {"fair_paths": ["a -> m2"]}])
def test_constraining_one_of_two_paths_is_ridge_without_that_mediator(paths):
    X, y = _two_mediators()
    reg = CounterfactuallyFairRegressor(TWO_MEDIATORS, sensitive_feature_ids="a",
                                        alpha=0.5, **paths).fit(X, y)
    ref = Ridge(alpha=0.5).fit(X[["z", "m2"]], y)
    assert abs(reg.coef_[1]) < 1e-12
    assert_allclose(reg.coef_[[0, 2]], ref.coef_, rtol=1e-10)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-10)


# --------------------------------------------------------------------------
# Degenerate and trivial solutions (_solve_statistics 32, 33;
# _solve_gram_qp 31, 32; _solve_cvxpy 3)
# --------------------------------------------------------------------------
def test_no_free_direction_gives_the_weighted_mean():
    X, y = _one_mediator(seed=4)
    X = X[["m", "a"]]
    w = np.random.default_rng(6).integers(1, 4, size=len(y))
    with pytest.warns(DegenerateConstraintWarning, match="no free direction"):
        reg = CounterfactuallyFairRegressor(CausalGraph([("a", "m")]),
                                            sensitive_feature_ids="a").fit(
            X, y, sample_weight=w)
    assert reg.coef_.shape == (1,)
    assert reg.coef_[0] == 0.0
    assert reg.intercept_ == pytest.approx(np.sum(w * y) / np.sum(w), rel=1e-12)
    assert_allclose(reg.predict(X), np.sum(w * y) / np.sum(w), rtol=1e-12)


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("level", [0.0, 3.0])
def test_constant_target_gives_a_constant_model(solver, level):
    X, _ = _one_mediator(seed=7)
    y = np.full(len(X), level)
    reg = CounterfactuallyFairRegressor(ONE_MEDIATOR, sensitive_feature_ids="a",
                                        epsilon=0.5, solver=solver).fit(X, y)
    assert reg.coef_.shape == (2,)
    assert_allclose(reg.coef_, 0.0, atol=1e-8)
    assert reg.intercept_ == pytest.approx(level, abs=1e-8)
    assert_allclose(reg.predict(X), level, atol=1e-7)


def test_target_equal_to_a_mediator_with_slack_constraint_has_unit_weight():
    """y = m exactly (integers, so every statistic is exact): least squares
    through the origin gives weight 1, and |1 * effect| is far below
    epsilon."""
    rng = np.random.default_rng(8)
    a = rng.choice([0, 1], 200)
    m = (a + rng.integers(-2, 3, size=200)).astype(float)
    X = pd.DataFrame({"m": m, "a": a})
    reg = CounterfactuallyFairRegressor(CausalGraph([("a", "m")]),
                                        sensitive_feature_ids="a", epsilon=100.0,
                                        alpha=0.0, fit_intercept=False).fit(X, m)
    assert reg.coef_[0] == pytest.approx(1.0, rel=1e-6)
    assert_allclose(reg.predict(X), m, atol=1e-5)


# --------------------------------------------------------------------------
# predict on a dask collection (predict 1, 2, 3, 5, 6)
# --------------------------------------------------------------------------
def test_predict_on_a_dask_dataframe_is_lazy_and_equals_the_linear_model():
    dd = pytest.importorskip("dask.dataframe")
    dask = pytest.importorskip("dask")
    from skcausal_trust.utils._dask import is_dask_collection

    X, y = _one_mediator(seed=9)
    reg = CounterfactuallyFairRegressor(ONE_MEDIATOR, sensitive_feature_ids="a",
                                        epsilon=0.3).fit(X, y)
    expected = X[["z", "m"]].to_numpy() @ reg.coef_ + reg.intercept_
    lazy = reg.predict(dd.from_pandas(X, npartitions=3))
    assert is_dask_collection(lazy)
    with dask.config.set(scheduler="sync"):
        got = np.asarray(lazy.compute())
    assert_allclose(got, expected, rtol=1e-12)
