"""Tests that kill the surviving mutants of ``privacy/_regressor.py``
(issue 17, ``benchmarks/run_mutation.py --modules private_regressor``).

Expected values come from independent computations: the replace-one
sensitivity from the norms of explicit matrix differences at each block's
maximising pair of records, counts of clipped rows and predictions from their
definitions (``X @ coef_ + intercept_`` over the documented predictor
names), a mechanism that changes across environments (ICP must reject it).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.exceptions import (
    ModelRejectedWarning,
    PrivacyLeakWarning,
    UnknownCategoryWarning,
)
from skcausal_trust.privacy import DPCausalRegressor
from skcausal_trust.privacy._regressor import replace_one_sensitivity


# --------------------------------------------------------------------------
# replace_one_sensitivity (mutants 1-4 of its defaults, 10-34 of its formula)
# --------------------------------------------------------------------------
def _weights(p, count, sums, cross, yy):
    """The documented layout of the release weights of z = [1, x~, y~]."""
    m = p + 2
    W = np.ones((m, m))
    W[np.arange(1, m - 1), np.arange(1, m - 1)] = 1.0 / np.sqrt(2.0)
    W[0, :] = W[:, 0] = sums
    W[0, 0] = count
    W[1:-1, -1] = W[-1, 1:-1] = cross
    W[-1, -1] = yy
    return W


def _blocks(p):
    """Boolean masks (upper triangle) of the blocks of a (p+2)x(p+2) matrix."""
    m = p + 2
    upper = np.triu(np.ones((m, m), dtype=bool))
    idx = np.arange(m)
    row, col = np.meshgrid(idx, idx, indexing="ij")
    predictor = (row >= 1) & (row <= p)
    return {
        "sums": upper & (row == 0) & (col >= 1),
        "cross": upper & predictor & (col == m - 1),
        "yy": upper & (row == m - 1) & (col == m - 1),
        "predictors": upper & predictor & (col >= 1) & (col <= p),
    }


def _z(x, y):
    return np.concatenate([[1.0], x, [y]])


def _block_sq(W, z_new, z_old, mask):
    D = W * (np.outer(z_new, z_new) - np.outer(z_old, z_old))
    return float(np.sum(D[mask] ** 2))


def _reference_replace_one(p, count, sums, cross, yy, by_environment):
    """Sum over blocks of each block's largest squared change, each at its
    maximising pair (||x~|| <= 1, |y~| <= 1): the bound is attained block by
    block (for p >= 2), so it is their sum."""
    W = _weights(p, count, sums, cross, yy)
    blocks = _blocks(p)
    e = np.eye(p)
    if p == 0:
        total = (_block_sq(W, _z([], 1.0), _z([], -1.0), blocks["sums"])
                 + _block_sq(W, _z([], 1.0), _z([], 0.0), blocks["yy"]))
    else:
        total = (_block_sq(W, _z(e[0], 1.0), _z(-e[0], -1.0), blocks["sums"])
                 + _block_sq(W, _z(e[0], 1.0), _z(-e[0], 1.0), blocks["cross"])
                 + _block_sq(W, _z(0 * e[0], 1.0), _z(0 * e[0], 0.0), blocks["yy"])
                 + _block_sq(W, _z(e[0], 0.0), _z(e[1], 0.0), blocks["predictors"]))
    same = np.sqrt(total)
    if not by_environment:
        return same
    # A record moving environment: one record's contribution added to one
    # matrix and removed from another; the worst record has all of x~'s norm
    # on one coordinate and |y~| = 1.
    upper = np.triu(np.ones_like(W, dtype=bool))
    z = _z(e[0], 1.0) if p else _z([], 1.0)
    one = np.sqrt(np.sum((W * np.outer(z, z))[upper] ** 2))
    return max(same, np.sqrt(2.0) * one)


@pytest.mark.parametrize("p", [0, 2, 4])
@pytest.mark.parametrize("by_environment", [False, True])
def test_replace_one_sensitivity_is_the_sum_of_the_blockwise_maxima(p, by_environment):
    rng = np.random.default_rng(p)
    cases = [dict(count=1.0, sums=1.0, cross=1.0, yy=1.0),
             dict(count=0.25, sums=0.4, cross=1.0, yy=0.3),
             dict(count=3.0, sums=0.7, cross=0.5, yy=0.2)]  # the move dominates
    cases += [dict(zip(("count", "sums", "cross", "yy"), rng.uniform(0.2, 3.0, 4)))
              for _ in range(4)]
    for blocks in cases:
        got = replace_one_sensitivity(p, **blocks, by_environment=by_environment)
        ref = _reference_replace_one(p, **blocks, by_environment=by_environment)
        assert got == pytest.approx(ref, rel=1e-12), blocks


@pytest.mark.parametrize("p", [0, 3])
@pytest.mark.parametrize("by_environment", [False, True])
def test_replace_one_sensitivity_defaults_are_unit_weights(p, by_environment):
    ref = _reference_replace_one(p, 1.0, 1.0, 1.0, 1.0, by_environment)
    assert replace_one_sensitivity(p, by_environment=by_environment) == \
        pytest.approx(ref, rel=1e-12)


# --------------------------------------------------------------------------
# count_clipped: "above" the bound, in memory and on dask (_count_clipped_rows
# 23, 26; count_clipped 2-9, 16-26)
# --------------------------------------------------------------------------
def _fit_seeded(X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return DPCausalRegressor(random_state=0, **kw).fit(X, y)


def _clipping_data():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(60, 2))
    X[0] = [3.0, 4.0]     # norm exactly 5: on the bound, not above it
    X[1] = [6.0, 8.0]     # norm 10: above
    X[2] = [-5.0, 0.0]    # norm 5: on the bound
    y = rng.uniform(-1, 1, 60)
    y[3], y[4], y[5] = 2.0, -2.0, 2.5  # on, on, above the bound 2
    return X, y


def test_count_clipped_counts_rows_strictly_above_the_bounds():
    X, y = _clipping_data()
    reg = _fit_seeded(X, y, feature_bound=5.0, target_bound=2.0)
    expected = (int(np.sum(np.sqrt((X**2).sum(axis=1)) > 5.0)),
                int(np.sum(np.abs(y) > 2.0)))
    assert expected == (1, 1)
    assert reg.count_clipped(X, y) == expected


def test_count_clipped_and_predict_on_dask_collections():
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    from skcausal_trust.utils._dask import is_dask_collection

    X, y = _clipping_data()
    reg = _fit_seeded(X, y, feature_bound=5.0, target_bound=2.0)
    dX, dy = da.from_array(X, chunks=(25, 2)), da.from_array(y, chunks=25)
    with dask.config.set(scheduler="sync"):
        assert reg.count_clipped(dX, dy) == (1, 1)
        lazy = reg.predict(dX)
        assert is_dask_collection(lazy)
        assert_allclose(np.asarray(lazy.compute()), X @ reg.coef_ + reg.intercept_,
                        rtol=1e-12)
        with pytest.raises(ValueError, match="both in memory or both dask"):
            reg.count_clipped(dX, y)
        with pytest.raises(ValueError, match="both in memory or both dask"):
            reg.count_clipped(X, dy)


# --------------------------------------------------------------------------
# predict with declared categories: missing values, arrays, unknown levels
# (_design 25, 26, 37, 10/12; _encoded_names 9)
# --------------------------------------------------------------------------
def _categorical_data(n=400, seed=4):
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "blue"], n).astype(object)
    colour[:20] = None
    x1 = rng.uniform(-1, 1, n)
    x2 = rng.uniform(-1, 1, n)
    y = (0.5 * (colour == "red") + 0.4 * x1 - 0.3 * x2
         + 0.05 * rng.normal(size=n))
    X = pd.DataFrame({"colour": colour, "x1": x1, "x2": x2})
    return X, np.clip(y, -2, 2)


def _by_hand(reg, X):
    """X @ coef_ + intercept_ over the documented predictor names."""
    coef = dict(zip(reg.predictors_, reg.coef_))
    out = np.full(len(X), reg.intercept_)
    for level in ("red", "blue"):
        out += coef[f"colour_{level}"] * (X["colour"] == level).to_numpy()
    out += coef["colour_nan"] * X["colour"].isna().to_numpy()
    return out + coef["x1"] * X["x1"].to_numpy() + coef["x2"] * X["x2"].to_numpy()


def test_predict_with_declared_categories_missing_values_and_arrays():
    X, y = _categorical_data()
    reg = _fit_seeded(X, y, feature_bound=2.0, target_bound=2.0, epsilon=5.0,
                      categories={"colour": ["red", "blue"]})
    assert reg.predictors_ == ["colour_red", "colour_blue", "colour_nan", "x1", "x2"]
    expected = _by_hand(reg, X)
    with warnings.catch_warnings():
        # A missing value is not an unknown level.
        warnings.simplefilter("error", UnknownCategoryWarning)
        assert_allclose(reg.predict(X), expected, rtol=1e-12)
    assert reg.coef_[0] - reg.coef_[1] == pytest.approx(0.5, abs=0.1)
    unknown = X.head(3).copy()
    unknown["colour"] = ["green", None, "red"]
    with pytest.warns(UnknownCategoryWarning, match="green"):
        got = reg.predict(unknown)
    coef = dict(zip(reg.predictors_, reg.coef_))
    base = reg.intercept_ + coef["x1"] * unknown["x1"] + coef["x2"] * unknown["x2"]
    assert_allclose(got, base + np.array([0.0, coef["colour_nan"], coef["colour_red"]]),
                    rtol=1e-12)


def test_predict_on_an_array_of_categorical_columns():
    """A model fitted on a DataFrame predicts on its values as an array (the
    categorical column read by position)."""
    X, y = _categorical_data(seed=7)
    X = X.assign(size=np.where(X["x1"] > 0, "large", "small"))[["colour", "size"]]
    reg = _fit_seeded(X, y, feature_bound=2.0, target_bound=2.0, epsilon=5.0,
                      categories={"colour": ["red", "blue"],
                                  "size": ["large", "small"]})
    coef = dict(zip(reg.predictors_, reg.coef_))
    expected = reg.intercept_ + sum(
        coef[f"{column}_{level}"] * (X[column] == level).to_numpy()
        for column, levels in (("colour", ["red", "blue"]), ("size", ["large", "small"]))
        for level in levels) + coef["colour_nan"] * X["colour"].isna().to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names
        warnings.simplefilter("error", UnknownCategoryWarning)
        got = reg.predict(X.to_numpy())
    assert_allclose(got, expected, rtol=1e-12)


def test_predict_on_an_array_with_categorical_and_numeric_columns():
    """An array of a model fitted on a DataFrame with declared categories and
    numeric columns: its numeric columns are numbers (they were one-hot
    encoded as levels, and predict raised a shape error)."""
    X, y = _categorical_data(seed=8)
    reg = _fit_seeded(X, y, feature_bound=2.0, target_bound=2.0,
                      categories={"colour": ["red", "blue"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names
        got = reg.predict(X.to_numpy())
    assert_allclose(got, _by_hand(reg, X), rtol=1e-12)


def test_a_categorical_causal_feature_stands_for_its_indicators_only():
    X, y = _categorical_data(seed=5)
    reg = _fit_seeded(X, y, feature_bound=2.0, target_bound=2.0,
                      categories={"colour": ["red", "blue"]},
                      causal_features=["colour", "x2"])
    assert reg.released_features_ == ["colour_red", "colour_blue", "colour_nan", "x2"]
    assert reg.coef_[reg.predictors_.index("x1")] == 0.0


def test_predict_rejects_a_different_number_of_columns():
    X, y = _clipping_data()
    reg = _fit_seeded(X, y, feature_bound=5.0, target_bound=2.0)
    with pytest.raises(ValueError, match="features"):
        reg.predict(np.c_[X, X[:, :1]])
    assert reg.n_features_in_ == 2


# --------------------------------------------------------------------------
# Private ICP that rejects every subset (_private_icp 20, 23, 31)
# --------------------------------------------------------------------------
def test_private_icp_rejecting_every_subset_predicts_the_mean():
    rng = np.random.default_rng(6)
    n = 6000
    env = np.repeat([0, 1, 2], n // 3)
    x = rng.uniform(-1, 1, (n, 2))
    # The mechanism of y changes across environments: no subset is invariant.
    slope = np.array([-0.8, 0.0, 0.8])[env]
    y = slope * x[:, 0] + np.array([-0.5, 0.0, 0.5])[env] + 0.05 * rng.normal(size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        with pytest.warns(ModelRejectedWarning, match="rejected every subset"):
            reg = DPCausalRegressor(epsilon=10.0, feature_bound=np.sqrt(2),
                                    target_bound=2.0, causal_features="icp",
                                    environment_levels=[0, 1, 2],
                                    random_state=0).fit(x, y, environments=env)
    assert reg.selected_features_ == []
    assert_allclose(reg.coef_, 0.0)
    assert reg.intercept_ == pytest.approx(y.mean(), abs=0.02)


# --------------------------------------------------------------------------
# eigenvalue_floor with many predictors: the draws are chunked (mutant 27:
# a float chunk size) and the floor is the edge of Wigner's semicircle
# --------------------------------------------------------------------------
def test_eigenvalue_floor_of_many_predictors_is_the_semicircle_edge():
    """Noise on the predictors' block only (sd sigma off the diagonal,
    sigma * sqrt(2) on it: a GOE matrix) and fit_intercept=False: the
    change of the scatter matrix is that noise, whose spectral norm is
    2 sigma sqrt(k) to within a few percent at k = 148 (Tracy-Widom
    fluctuations are O(k^(-2/3)) relative). 4e6 // (150 * 150) = 177 < 200
    draws: the draws come in two chunks."""
    from skcausal_trust.privacy._regressor import eigenvalue_floor

    k, sigma = 148, 0.01
    m = k + 2
    grams = np.zeros((1, m, m))
    grams[0, 0, 0] = 1e6
    grams[0, 1:, 1:] = np.eye(k + 1) * 1e6
    noise = np.full((m, m), sigma)
    noise[np.arange(1, m - 1), np.arange(1, m - 1)] = sigma * np.sqrt(2.0)
    noise[0, :] = noise[:, 0] = 0.0  # exact count and sums
    floor = eigenvalue_floor(grams, noise, fit_intercept=False)
    assert floor == pytest.approx(2.0 * sigma * np.sqrt(k), rel=0.06)
