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


# --------------------------------------------------------------------------
# Bounds taken from the data (_bounds 5, 9): the largest row norm and |y|
# --------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [0.4, 3.0])
def test_bounds_taken_from_the_data_are_the_largest_norms(scale):
    rng = np.random.default_rng(24)
    X = scale * rng.uniform(-0.5, 0.5, size=(40, 2))
    y = scale * rng.uniform(-0.5, 0.5, size=40)
    reg = _fit_seeded(X, y)
    assert reg.feature_bound_ == pytest.approx(np.sqrt((X**2).sum(axis=1)).max(),
                                               rel=1e-12)
    assert reg.target_bound_ == pytest.approx(np.abs(y).max(), rel=1e-12)
    assert reg.epsilon_ == np.inf and not reg.is_private_
    assert any(leak.startswith("the bounds were taken from the data")
               for leak in reg.privacy_leaks_)


def test_bounds_taken_from_all_zero_data_are_one():
    reg = _fit_seeded(np.zeros((10, 2)), np.zeros(10))
    assert (reg.feature_bound_, reg.target_bound_) == (1.0, 1.0)


# --------------------------------------------------------------------------
# The seed named in the leak record (_release_and_solve 42-45)
# --------------------------------------------------------------------------
def test_the_leak_record_names_the_seed():
    X, y = _clipping_data()
    for seed, name in ((3, "random_state=3"),
                       (np.random.default_rng(0), "random_state=Generator")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrivacyLeakWarning)
            reg = DPCausalRegressor(feature_bound=5.0, target_bound=2.0,
                                    random_state=seed).fit(X, y)
        assert any(name + ")" in leak for leak in reg.privacy_leaks_), reg.privacy_leaks_
        assert reg.epsilon_ == np.inf


# --------------------------------------------------------------------------
# No causal feature, the noise off (_release_and_solve 68, 69; _solve 28):
# the model is the mean of y over the records, nothing is floored
# --------------------------------------------------------------------------
def test_without_causal_features_the_noiseless_fit_is_the_mean_of_two_records():
    from unittest import mock

    from skcausal_trust.privacy import _regressor

    X = np.array([[0.1, 0.2], [0.3, -0.1]])
    y = np.array([0.5, 0.25])  # on the release's grid
    with mock.patch.object(_regressor, "release_gaussian", lambda v, *a, **k: v):
        reg = DPCausalRegressor(epsilon=1.0, feature_bound=1.0, target_bound=1.0,
                                causal_features=[]).fit(X, y)
    assert reg.intercept_ == pytest.approx(y.mean(), rel=1e-12)
    assert_allclose(reg.coef_, 0.0)
    assert reg.selected_features_ == [] and reg.icp_subset_pvalues_ is None
    assert reg.eigenvalue_floor_ == 0.0


# --------------------------------------------------------------------------
# Eigenvalue floor without intercept (_solve 37): uncentred, the scatter's
# change is the noise of its one entry, sd sigma * sqrt(2)
# --------------------------------------------------------------------------
def test_eigenvalue_floor_without_intercept_is_the_quantile_of_one_entrys_noise():
    """One predictor, pooled, fit_intercept=False: A = G_xx uncentred, its
    noise N(0, 2 sigma^2) (diagonal weight 1/sqrt(2)): the floor is the 95%
    quantile of |N|, 1.96 sigma sqrt(2), to Monte-Carlo error (200 draws,
    about 7%). With centring, the noisy sums of records near the bound would
    make it about four times larger."""
    from scipy import stats

    rng = np.random.default_rng(23)
    X = rng.uniform(0.85, 0.95, size=(200, 1))
    y = 0.5 * X[:, 0] + 0.1 * rng.normal(size=200)
    reg = _fit_seeded(X, y, feature_bound=1.0, target_bound=1.0, fit_intercept=False)
    expected = stats.norm.ppf(0.975) * np.sqrt(2.0) * reg.noise_scale_
    assert reg.eigenvalue_floor_ == pytest.approx(expected, rel=0.2)


# --------------------------------------------------------------------------
# ICP tests every subset of at most 12 predictors (_released_predictors 7)
# --------------------------------------------------------------------------
def test_private_icp_takes_twelve_predictors_and_refuses_thirteen():
    """The subset tests replaced by a stub accepting the empty set (4,096
    real tests are too slow here): 12 predictors fit, 13 raise."""
    from unittest import mock

    from skcausal_trust.privacy import _regressor

    rng = np.random.default_rng(25)
    env = np.repeat([0, 1], 30)
    with mock.patch.object(_regressor, "linear_subset_pvalues",
                           lambda statistics, max_size: {(): 0.5}):
        for p, ok in ((12, True), (13, False)):
            X, y = rng.uniform(-0.2, 0.2, size=(60, p)), rng.uniform(-1, 1, 60)
            reg = DPCausalRegressor(feature_bound=1.0, target_bound=1.0,
                                    causal_features="icp", environment_levels=[0, 1],
                                    random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrivacyLeakWarning)
                if ok:
                    reg.fit(X, y, environments=env)
                    assert reg.released_statistics_.shape == (2, p + 2, p + 2)
                    assert reg.selected_features_ == []
                else:
                    with pytest.raises(ValueError, match="more than 12"):
                        reg.fit(X, y, environments=env)


# --------------------------------------------------------------------------
# Environment levels (_environment_codes 5-10, 22): declared levels are kept
# by a pooled fit; levels from the data are a recorded leak
# --------------------------------------------------------------------------
def test_environment_levels_of_a_pooled_fit_and_levels_from_the_data():
    X, y = _clipping_data()
    env = np.repeat([0, 1], 30)
    pooled = _fit_seeded(X, y, feature_bound=5.0, target_bound=2.0,
                         environment_levels=[1, 0])
    assert pooled.released_statistics_.shape[0] == 1
    assert pooled.environments_.dtype == object and list(pooled.environments_) == [1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        observed = DPCausalRegressor(feature_bound=5.0, target_bound=2.0, gamma=2.0,
                                     random_state=0).fit(X, y, environments=env)
    assert list(observed.environments_) == [0, 1]
    assert any(leak.startswith("the environment levels were taken from the data")
               for leak in observed.privacy_leaks_)
    assert observed.epsilon_ == np.inf


def test_declared_environment_levels_keep_their_types():
    """Levels of mixed types (an integer and a string) are reported as
    declared, in a pooled fit and in one per environment (an array of
    strings would turn 0 into '0')."""
    X, y = _clipping_data()
    env = np.array([0] * 30 + ["b"] * 30, dtype=object)
    pooled = _fit_seeded(X, y, feature_bound=5.0, target_bound=2.0,
                         environment_levels=[0, "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        compared = DPCausalRegressor(feature_bound=5.0, target_bound=2.0, gamma=2.0,
                                     environment_levels=[0, "b"],
                                     random_state=0).fit(X, y, environments=env)
    for reg in (pooled, compared):
        assert list(reg.environments_) == [0, "b"]
        assert type(reg.environments_[0]) is int


# --------------------------------------------------------------------------
# centred_scatter's defaults (1, 2): least squares, centred, from the rows
# --------------------------------------------------------------------------
def test_centred_scatter_defaults_are_the_centred_least_squares_scatter():
    from skcausal_trust.privacy._regressor import centred_scatter

    rng = np.random.default_rng(26)
    x = rng.normal(1.0, 1.0, size=(50, 2))
    y = x @ [0.5, -1.0] + rng.normal(size=50)
    env = np.repeat([0, 1], 25)
    x[env == 1] += 2.0  # the environments' means differ
    z = np.column_stack([np.ones(50), x, y])
    grams = np.stack([z[env == e].T @ z[env == e] for e in (0, 1)])
    A, b, mean = centred_scatter(grams)
    xc, yc = x - x.mean(axis=0), y - y.mean()
    assert_allclose(A, xc.T @ xc, rtol=1e-10)
    assert_allclose(b, xc.T @ yc, rtol=1e-10)
    assert_allclose(mean, np.append(x.mean(axis=0), y.mean()), rtol=1e-12)


# --------------------------------------------------------------------------
# release_weights' matrix is the documented symmetric layout (43-45: the
# lower triangle of the cross-products), centred_scatter batches (56)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("p", [1, 3])
def test_release_weights_matrix_is_the_documented_symmetric_layout(p):
    from skcausal_trust.privacy._regressor import release_weights

    blocks = dict(count=0.25, sums=0.4, cross=0.7, yy=0.3)
    W, _ = release_weights(p, **blocks)
    assert_allclose(W, _weights(p, **blocks), rtol=0, atol=0)
    assert_allclose(W, W.T, rtol=0, atol=0)


def test_centred_scatter_over_two_batch_dimensions_is_per_batch():
    from skcausal_trust.privacy._regressor import centred_scatter

    rng = np.random.default_rng(27)
    z = np.concatenate([np.ones((2, 4, 2, 20, 1)), rng.normal(size=(2, 4, 2, 20, 3))],
                       axis=-1)
    grams = np.einsum("...ni,...nj->...ij", z, z)  # (2, 4, E=2, 4, 4)
    A, b, mean = centred_scatter(grams, 2.0)
    for i in range(2):
        for j in range(4):
            rows = z[i, j].reshape(40, 4)[:, 1:]
            env_mean = z[i, j, :, :, 1:].mean(axis=1)  # (E, 3)
            within = sum((z[i, j, e, :, 1:] - env_mean[e]).T
                         @ (z[i, j, e, :, 1:] - env_mean[e]) for e in range(2))
            centred = env_mean - rows.mean(axis=0)
            M = within + 2.0 * 20 * centred.T @ centred
            assert_allclose(A[i, j], M[:2, :2], rtol=1e-10)
            assert_allclose(b[i, j], M[:2, 2], rtol=1e-10)
            assert_allclose(mean[i, j], rows.mean(axis=0), rtol=1e-12)


# --------------------------------------------------------------------------
# Bad causal features and categories on an array (_resolve_causal_features
# 38, 39; _check_categories_parameter 11)
# --------------------------------------------------------------------------
def test_a_position_equal_to_the_number_of_predictors_is_out_of_range():
    X, y = _clipping_data()
    with pytest.raises(ValueError, match="position 2 is out of range"):
        _fit_seeded(X, y, feature_bound=5.0, target_bound=2.0, causal_features=[0, 2])
    with pytest.raises(ValueError, match="needs X as a DataFrame"):
        _fit_seeded(X, y, feature_bound=5.0, target_bound=2.0,
                    categories={"x0": ["a"]})
