"""CounterfactuallyFairRegressor at the edges of the float range, in memory
with ``alpha=0`` (solved in working units): a target near 1e306 is fitted
exactly (the solution is linear in y: it equals 1e306 times the fit on y),
with ``objective_ = inf`` and no RuntimeWarning; sums that overflow anyway
(weights near 1e300) are refused by a message that names the columns, or y.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.fairness import CounterfactuallyFairRegressor


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    x1 = rng.normal(size=n) + a
    x2 = rng.normal(size=n)
    y = x1 + 0.5 * x2 + rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2}), y, a


def test_a_target_near_the_float_limit_is_fitted_exactly():
    X, y, a = _data()
    unit = CounterfactuallyFairRegressor(alpha=0).fit(X, y, sensitive_features=a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = CounterfactuallyFairRegressor(alpha=0).fit(X, y * 1e306, sensitive_features=a)
    assert np.allclose(big.coef_ / 1e306, unit.coef_, rtol=1e-9, atol=1e-12)
    assert big.intercept_ / 1e306 == pytest.approx(unit.intercept_, rel=1e-9, abs=1e-12)
    assert big.objective_ == np.inf and np.isfinite(unit.objective_)


def test_overflowing_sums_name_the_columns_or_y():
    X, y, a = _data()
    n = len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"sums of squares of X's columns \['x1', 'x2'\] "
                                             r".*overflow.*or the sample weights"):
            CounterfactuallyFairRegressor(alpha=0).fit(
                X, y, sensitive_features=a, sample_weight=np.full(n, 1e307))
        with pytest.raises(ValueError, match="products of y with X's columns overflow"
                                             ".*rescale y, or the sample weights"):
            CounterfactuallyFairRegressor(alpha=0).fit(
                X, y * 1e200, sensitive_features=a, sample_weight=np.full(n, 1e150))
    fresh = CounterfactuallyFairRegressor(alpha=0)
    with pytest.raises(ValueError, match="overflow"):
        fresh.fit(X, y * 1e200, sensitive_features=a, sample_weight=np.full(n, 1e150))
    assert not hasattr(fresh, "coef_")
