"""Tests that kill surviving mutants of ``privacy/_regressor.py`` outside
its dask path (issue 17, ``benchmarks/run_mutation.py --modules
private_regressor``): ``count_clipped`` and ``predict`` on the spellings of
numeric predictors a user passes (booleans, an object array of numbers),
and their refusals.

The expected values are computed on the rows with numpy: a row is clipped
when its Euclidean norm exceeds ``feature_bound_`` (booleans count as 0 and
1), a target when its absolute value exceeds ``target_bound_``; a
prediction is ``X @ coef_ + intercept_`` over the released predictors.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.privacy import DPCausalRegressor

N = 120


def _bool_data(seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.integers(0, 2, N).astype(bool),
                      "b": rng.integers(0, 2, N).astype(bool),
                      "c": rng.integers(0, 2, N).astype(bool)})
    y = X.to_numpy(dtype=float) @ np.array([1.0, -0.5, 0.8]) + rng.normal(size=N)
    return X, y


def _fit(X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DPCausalRegressor(epsilon=1.0, delta=1e-5, feature_bound=1.2,
                                 target_bound=1.5, random_state=0).fit(X, y)


def _counts_by_hand(reg, X, y):
    Z = np.asarray(X, dtype=float)
    return (int((np.linalg.norm(Z, axis=1) > reg.feature_bound_).sum()),
            int((np.abs(y) > reg.target_bound_).sum()))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("spelling", ["bool frame", "bool array", "object array",
                                      "bool and float frame"])
def test_boolean_and_object_predictors_are_counted_and_predicted_as_numbers(spelling):
    X, y = _bool_data()
    if spelling == "bool and float frame":
        X = X.assign(c=X["c"].astype(float) * 0.7)
    reg = _fit(X, y)
    given = {"bool frame": X, "bool and float frame": X, "bool array": X.to_numpy(),
             "object array": X.to_numpy(dtype=object)}[spelling]
    expected = _counts_by_hand(reg, X, y)
    # Two or three true indicators (norm sqrt(2), sqrt(3)) exceed 1.2; one
    # does not: both kinds are present.
    assert 0 < expected[0] < N
    assert reg.count_clipped(given, y) == expected
    Z = X.to_numpy(dtype=float)
    np.testing.assert_allclose(reg.predict(given), Z @ reg.coef_ + reg.intercept_,
                               rtol=1e-12, atol=1e-12)


def test_count_clipped_refuses_a_target_of_another_length():
    X, y = _bool_data()
    reg = _fit(X, y)
    with pytest.raises(ValueError, match=f"y has {N - 1} rows but X has {N}"):
        reg.count_clipped(X, y[:-1])


# --------------------------------------------------------------------------
# The calibration under replace-one neighbours: the replace-one sensitivity
# plus the rounding allowance (never minus it), and sqrt(2) times the
# add/remove one when a record can move environment.
# --------------------------------------------------------------------------
@pytest.mark.parametrize("by_environment", [False, True], ids=["pooled", "by-environment"])
def test_replace_one_calibration_adds_the_rounding_allowance(by_environment):
    dp_accounting = pytest.importorskip("dp_accounting")
    from test_privacy_enforced import (
        DOCUMENTED_WEIGHTS,
        _documented_sensitivity,
        _documented_weights,
        _rounding_allowance,
    )
    from test_private_regressor_mutants import _reference_replace_one

    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, (80, 3))
    y = X @ np.array([0.5, -0.2, 0.1]) + 0.1 * rng.normal(size=80)
    env = np.repeat([0, 1], 40)
    blocks = DOCUMENTED_WEIGHTS[by_environment]
    reg = DPCausalRegressor(epsilon=2.0, delta=1e-6, feature_bound=np.sqrt(3),
                            target_bound=1.5, neighbouring="replace_one",
                            environment_levels=[0, 1] if by_environment else None,
                            gamma=2.0 if by_environment else 1.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, y, environments=env if by_environment else None)
    W = _documented_weights(3, **blocks)
    allowance = _rounding_allowance(W)
    same = _reference_replace_one(3, **blocks, by_environment=False) + allowance
    expected = (max(same, np.sqrt(2.0) * (_documented_sensitivity(3, **blocks) + allowance))
                if by_environment else same)
    assert reg.sensitivity_ == pytest.approx(expected, rel=1e-12)
    # The allowance is far above the tolerance: minus it is another value.
    assert allowance / expected > 1e-7
    sigma = dp_accounting.get_sigma_gaussian(2.0, 1e-6) * expected
    assert reg.noise_scale_ == pytest.approx(sigma, rel=1e-9)


# --------------------------------------------------------------------------
# The eigenvalue floor of the solve is taken on the selected predictors'
# block of the release (their rows and columns of the noise scale), with
# the estimator's intercept setting.
# --------------------------------------------------------------------------
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_floor_is_that_of_the_selected_block_of_the_release(fit_intercept):
    from skcausal_trust.privacy._regressor import eigenvalue_floor

    rng = np.random.default_rng(8)
    n = 6000
    env = np.repeat([0, 1, 2], n // 3)
    # b: the cause, shifted by the environment (so that the empty set is
    # rejected); a: a child of y whose mechanism shifts too. ICP keeps b,
    # the second predictor: a selection that is not a prefix of the
    # released columns.
    b = rng.uniform(-0.5, 0.5, n) + np.array([-0.4, 0.0, 0.4])[env]
    y = 0.8 * b + 0.1 * rng.normal(size=n)
    a = np.clip(y + np.array([-0.6, 0.0, 0.6])[env] + 0.1 * rng.normal(size=n), -1, 1)
    X = np.column_stack([a, b, rng.uniform(-1, 1, n)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = DPCausalRegressor(epsilon=50.0, feature_bound=np.sqrt(3), target_bound=2.0,
                                causal_features="icp", environment_levels=[0, 1, 2],
                                fit_intercept=fit_intercept, gamma=2.0,
                                random_state=1).fit(X, y, environments=env)
    assert reg.selected_features_ == ["x1"]
    grams = reg.released_statistics_.copy()
    grams[:, 0, 0] = np.maximum(grams[:, 0, 0], 2.0)
    cols = [0, 2, 4]
    scale = reg.noise_scale_ / reg.release_weights_
    expected = eigenvalue_floor(grams[:, cols][:, :, cols], scale[np.ix_(cols, cols)],
                                2.0, fit_intercept)
    assert reg.eigenvalue_floor_ == pytest.approx(expected, rel=1e-12)
    other = eigenvalue_floor(grams[:, cols][:, :, cols], scale[np.ix_(cols, cols)],
                             2.0, not fit_intercept)
    assert abs(other - expected) > 1e-6 * expected
