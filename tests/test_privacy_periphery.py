"""Nothing data-dependent escapes DPCausalRegressor unaccounted.

- Environment levels and categories are public by declaration: a declared
  level with one row or none releases its block or column like any other,
  so neighbouring data sets give outputs of the same shape and names.
- A fit whose guarantee does not hold (bounds, levels or categories from the
  data, seeded noise) says so in its fitted attributes: ``epsilon_ = inf``,
  ``is_private_ = False``, ``privacy_leaks_``.
- Every fitted attribute is either public by declaration (identical between
  neighbouring data sets) or computed from the noisy release; nothing else is
  stored (the clipping counts are not).
- Floating point: the released sums are exact (independent of the rows'
  order, and a record's addition changes them by exactly its contribution);
  each rounded record lies inside the unit ball, checked in integers; a row
  whose squares overflow is clipped onto the sphere, not zeroed.
"""

import pickle
import warnings
from fractions import Fraction
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.causal import one_hot_encode
from skcausal_trust.datasets import load_adult
from skcausal_trust.exceptions import PrivacyLeakWarning, UnknownCategoryWarning
from skcausal_trust.privacy import DPCausalRegressor, _regressor, _statistics

#: Fitted attributes that are public by declaration: the same on
#: neighbouring data sets.
PUBLIC = {
    "n_features_in_", "feature_names_in_", "epsilon_", "delta_", "noise_scale_",
    "sensitivity_", "release_weights_", "feature_bound_", "target_bound_",
    "predictors_", "released_features_", "categories_", "environments_",
    "is_private_", "privacy_leaks_",
}
#: Fitted attributes computed from the noisy release (post-processing).
FROM_RELEASE = {
    "coef_", "intercept_", "released_statistics_", "selected_features_",
    "icp_subset_pvalues_", "eigenvalue_floor_",
}


def _fitted(reg):
    return {k: v for k, v in vars(reg).items() if k.endswith("_") and not k.startswith("_")}


def _no_noise(values, *args, **kwargs):
    return np.array(values, dtype=float, copy=True)


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(n, 2)), columns=["a", "b"])
    X["job"] = rng.choice(["clerk", "nurse"], size=n)
    y = X["a"] - 0.5 * X["b"] + (X["job"] == "nurse") + 0.1 * rng.normal(size=n)
    env = rng.choice(["north", "south"], size=n)
    return X, y.to_numpy(), env


PRIVATE = dict(epsilon=1.0, feature_bound=3.0, target_bound=4.0, gamma=3.0,
               categories={"job": ["clerk", "nurse", "pilot"]},
               environment_levels=["north", "south", "east"])


def _with_rare_record(X, y, env):
    """The neighbour: one more record, alone in its environment and its level."""
    extra = pd.DataFrame({"a": [0.2], "b": [-0.1], "job": ["pilot"]})
    return (pd.concat([X, extra], ignore_index=True), np.append(y, 1.0),
            np.append(env, "east"))


def test_declared_levels_release_every_block_whatever_their_counts():
    """'east' and 'pilot' have no row in D and one in D': both fits succeed and
    release the same blocks and columns, under the same names."""
    X, y, env = _data()
    D1 = _with_rare_record(X, y, env)
    fits = []
    for Xd, yd, envd in [(X, y, env), D1]:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PrivacyLeakWarning)
            fits.append(DPCausalRegressor(**PRIVATE).fit(Xd, yd, environments=envd))
    for reg in fits:
        assert reg.is_private_ and reg.epsilon_ == 1.0 and reg.privacy_leaks_ == []
        assert reg.released_statistics_.shape == (3, 8, 8)  # 3 declared environments
        assert reg.predictors_ == ["a", "b", "job_clerk", "job_nurse", "job_pilot",
                                   "job_nan"]
        assert list(reg.environments_) == ["north", "south", "east"]
    a, b = (_fitted(r) for r in fits)
    assert a.keys() == b.keys()
    for name in a:
        assert np.shape(a[name]) == np.shape(b[name]), name


@pytest.mark.parametrize("gamma", [1.0, 3.0], ids=["pooled", "by-environment"])
def test_every_fitted_attribute_is_public_or_from_the_release(gamma):
    """With the noise switched off, neighbouring fits may differ only in what
    is computed from the release; the public attributes are identical, and
    no attribute is of a third kind."""
    X, y, env = _data()
    fits = []
    for Xd, yd, envd in [(X, y, env), _with_rare_record(X, y, env)]:
        with mock.patch.object(_regressor, "release_gaussian", _no_noise):
            params = dict(PRIVATE, gamma=gamma)
            fits.append(DPCausalRegressor(**params).fit(Xd, yd, environments=envd))
    a, b = (_fitted(r) for r in fits)
    assert set(a) <= PUBLIC | FROM_RELEASE, set(a) - PUBLIC - FROM_RELEASE
    for name in PUBLIC & set(a):
        if isinstance(a[name], np.ndarray):
            np.testing.assert_array_equal(a[name], b[name])
        else:
            assert a[name] == b[name], name
    # The release does differ (the record is in it), by exactly its
    # contribution (see test_a_record_changes_the_sums_by_exactly_its_contribution).
    assert not np.array_equal(a["released_statistics_"], b["released_statistics_"])
    # Nothing survives pickling that the fitted attributes do not show.
    restored = pickle.loads(pickle.dumps(fits[1]))
    assert not any(k.startswith("n_clipped") for k in vars(restored))


def test_the_pooled_fit_does_not_read_the_environments():
    X, y, env = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        reg = DPCausalRegressor(**dict(PRIVATE, gamma=1.0, environment_levels=None)).fit(
            X, y, environments=env)
    assert reg.environments_ is None and reg.is_private_
    assert reg.released_statistics_.shape[0] == 1


@pytest.mark.parametrize("leak,params,match", [
    ("bounds", {"feature_bound": None}, "bounds taken from the data"),
    ("seed", {"random_state": 3}, "seeded"),
    ("generator", {"random_state": np.random.default_rng(3)}, "seeded"),
    ("categories", {"categories": None}, "levels of 'job' were taken from the data"),
    ("environments", {"environment_levels": None}, "environment_levels is not declared"),
])
def test_a_void_guarantee_reports_epsilon_inf(leak, params, match):
    X, y, env = _data()
    with pytest.warns(PrivacyLeakWarning, match=match):
        reg = DPCausalRegressor(**dict(PRIVATE, **params)).fit(X, y, environments=env)
    assert reg.epsilon_ == np.inf and not reg.is_private_
    assert len(reg.privacy_leaks_) == 1
    # Under the filter that silences UserWarnings the attributes still tell.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        quiet = DPCausalRegressor(**dict(PRIVATE, **params)).fit(X, y, environments=env)
    assert quiet.epsilon_ == np.inf


def test_data_derived_categories_change_the_columns_between_neighbours():
    """What the declaration prevents: taken from the data, a level with one
    record makes a column that exists because of that record."""
    X, y, env = _data()
    X1, y1, env1 = _with_rare_record(X, y, env)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        params = dict(PRIVATE, categories=None)
        a = DPCausalRegressor(**params).fit(X, y, environments=env)
        b = DPCausalRegressor(**params).fit(X1, y1, environments=env1)
    assert "job_pilot" in b.predictors_ and "job_pilot" not in a.predictors_


def test_undeclared_levels_are_refused_before_any_release():
    X, y, env = _data()
    env = env.astype(object)
    env[7] = "west"
    X.loc[9, "job"] = "baker"
    for data, params, match in [
        ((X.assign(job="clerk"), y, env), PRIVATE, r"labels outside environment_levels"),
        ((X, y, np.where(env == "west", "east", env)), PRIVATE,
         r"column 'job' holds values outside its declared categories"),
    ]:
        reg = DPCausalRegressor(**params)
        with mock.patch.object(_regressor, "release_gaussian") as release, \
                pytest.raises(ValueError, match=match) as excinfo:
            reg.fit(data[0], data[1], environments=data[2])
        release.assert_not_called()
        assert not hasattr(reg, "coef_")
        # The message does not repeat the records' values.
        assert "west" not in str(excinfo.value) and "baker" not in str(excinfo.value)


@pytest.mark.parametrize("params,match", [
    ({"environment_levels": ["north"]}, "declares one level"),
    ({"environment_levels": ["north", "north"]}, "distinct levels"),
    ({"categories": {"salary": ["low"]}}, r"categories names columns \['salary'\]"),
    ({"categories": {"job": ["clerk", "clerk"]}}, "repeats a level"),
    ({"categories": {"job": "clerk"}}, "must be a list of levels"),
])
def test_bad_declarations_name_the_argument(params, match):
    X, y, env = _data()
    with pytest.raises(ValueError, match=match):
        DPCausalRegressor(**dict(PRIVATE, **params)).fit(X, y, environments=env)


def test_categorical_columns_route_like_the_encoded_frame():
    """Raw categorical columns with declared levels give the fit of the frame
    encoded by hand with the same levels (noise switched off)."""
    X, y, env = _data()
    levels = PRIVATE["categories"]["job"]
    by_hand = X.drop(columns="job")
    for level in levels:
        by_hand[f"job_{level}"] = (X["job"] == level).astype(float)
    by_hand["job_nan"] = 0.0
    with mock.patch.object(_regressor, "release_gaussian", _no_noise):
        raw = DPCausalRegressor(**PRIVATE).fit(X, y, environments=env)
        encoded = DPCausalRegressor(**dict(PRIVATE, categories=None)).fit(
            by_hand, y, environments=env)
    np.testing.assert_array_equal(raw.released_statistics_, encoded.released_statistics_)
    np.testing.assert_allclose(raw.coef_, encoded.coef_, rtol=1e-12)
    np.testing.assert_allclose(raw.predict(X), encoded.predict(by_hand), rtol=1e-12)
    # A raw column's name stands for its indicators in causal_features.
    with mock.patch.object(_regressor, "release_gaussian", _no_noise):
        chosen = DPCausalRegressor(**dict(PRIVATE, gamma=1.0, causal_features=["job"])).fit(
            X, y)
    assert chosen.released_features_ == ["job_clerk", "job_nurse", "job_pilot", "job_nan"]
    # Unknown levels at predict time: all-zero indicators, and a warning.
    with pytest.warns(UnknownCategoryWarning, match="baker"):
        raw.predict(X.assign(job="baker"))
    restored = pickle.loads(pickle.dumps(raw))
    np.testing.assert_array_equal(restored.predict(X), raw.predict(X))


def test_adult_categories_are_the_data_dictionarys():
    """The loader's categories are declared (adult.names): without the one
    Holand-Netherlands row the encoding keeps its column."""
    adult = load_adult()
    data = adult.data[["native-country", "sex"]]
    without = data[data["native-country"] != "Holand-Netherlands"]
    declared = {c: adult.categories[c] for c in data.columns}
    columns = [one_hot_encode(d, categories=declared)[0].columns for d in
               (data, without.astype(object))]
    assert list(columns[0]) == list(columns[1])
    assert "native-country_Holand-Netherlands" in columns[1]


# -- floating point -------------------------------------------------------------------

def _exact_sums(kx, ky):
    """Gram of ``[1, kx 2^-20, ky 2^-20]`` in exact rational arithmetic."""
    z = [[Fraction(1)] + [Fraction(int(v), 2**20) for v in row] + [Fraction(int(t), 2**20)]
         for row, t in zip(kx, ky)]
    m = len(z[0])
    return np.array([[float(sum(r[i] * r[j] for r in z)) for j in range(m)]
                     for i in range(m)])


def test_released_sums_are_exact_and_independent_of_the_rows_order():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9000, 3)) / 3.0
    y = rng.normal(size=9000) / 7.0
    kx, ky = _statistics.clip_records(X, y, 2.0, 1.0)
    G = _statistics.exact_gram_sums(kx, ky)[0]
    small = _statistics.exact_gram_sums(kx[:400], ky[:400])[0]
    np.testing.assert_array_equal(small, _exact_sums(kx[:400], ky[:400]))
    order = rng.permutation(9000)
    np.testing.assert_array_equal(G, _statistics.exact_gram_sums(kx[order], ky[order])[0])
    # Float sums of the unrounded records (BLAS) depend on the order.
    Z = np.column_stack([np.ones(9000), X / 2.0, y])
    assert not np.array_equal(Z.T @ Z, Z[order].T @ Z[order])


def test_a_record_changes_the_sums_by_exactly_its_contribution():
    rng = np.random.default_rng(2)
    kx, ky = _statistics.clip_records(rng.normal(size=(5000, 2)) / 3, rng.normal(size=5000),
                                      1.0, 1.0)
    codes = rng.integers(0, 2, 5000)
    G0 = _statistics.exact_gram_sums(kx[1:], ky[1:], codes[1:], 2)
    G1 = _statistics.exact_gram_sums(kx, ky, codes, 2)
    z = np.concatenate([[2**20], kx[0], [ky[0]]]) / 2**20
    expected = np.zeros_like(G0)
    expected[codes[0]] = np.outer(z, z)
    # The sums are below 2**13 here: their floats are the exact rationals.
    np.testing.assert_array_equal(G1 - G0, expected)


def test_rounded_records_stay_in_the_unit_ball_exactly():
    rng = np.random.default_rng(3)
    p = 5
    X = rng.normal(size=(20_000, p))
    X /= np.linalg.norm(X, axis=1, keepdims=True)  # on the sphere of radius 1
    X[:100] *= 1 + 1e-15                           # and a hair outside
    X[100] = [1.0, 0, 0, 0, 0]
    kx, ky = _statistics.clip_records(X, np.ones(20_000), 1.0, 1.0)
    norms2 = (kx.astype(np.int64) ** 2).sum(axis=1)
    assert norms2.max() <= 2**40
    assert np.abs(ky).max() == 2**20
    # Rounding loses at most sqrt(p + 1) + sqrt(p) / 2 grid steps of norm.
    assert np.sqrt(norms2.min()) >= 2**20 - np.sqrt(p + 1) - np.sqrt(p) / 2 - 1e-9


def test_a_row_whose_squares_overflow_is_clipped_onto_the_sphere():
    X = np.array([[1e200, -1e200], [3e-200, 4e-200], [0.6, 0.8]])
    kx, _ = _statistics.clip_records(X, np.zeros(3), 1.0, 1.0)
    np.testing.assert_allclose(kx[0] / 2**20, [np.sqrt(0.5), -np.sqrt(0.5)], atol=1e-5)
    np.testing.assert_array_equal(kx[1], [0.0, 0.0])  # tiny: rounds to 0
    np.testing.assert_allclose(kx[2] / 2**20, [0.6, 0.8], atol=1e-5)
    np.testing.assert_allclose(_statistics.row_norms(X), [np.sqrt(2) * 1e200, 5e-200, 1.0])


def test_more_rows_than_the_cap_are_refused(monkeypatch):
    monkeypatch.setattr(_statistics, "MAX_ROWS", 10)
    with pytest.raises(ValueError, match="MAX_ROWS"):
        _statistics.exact_gram_sums(np.zeros((11, 1)), np.zeros(11))


def test_partial_sums_are_flushed_exactly(monkeypatch):
    """Small blocks flushed every 2 blocks (the accumulation path of data
    beyond 2**10 blocks): the sums stay exact, per group."""
    monkeypatch.setattr(_statistics, "_BLOCK_ROWS", 5)
    monkeypatch.setattr(_statistics, "_FLUSH_BLOCKS", 2)
    rng = np.random.default_rng(7)
    kx, ky = _statistics.clip_records(rng.normal(size=(103, 2)) / 2, rng.normal(size=103),
                                      1.0, 1.0)
    codes = rng.integers(0, 3, 103)
    grams = _statistics.exact_gram_sums(kx, ky, codes, 3)
    assert grams.shape == (3, 4, 4)
    for g in range(3):
        np.testing.assert_array_equal(grams[g], _exact_sums(kx[codes == g], ky[codes == g]))
    assert _statistics.exact_gram_sums(kx, ky).shape == (1, 4, 4)  # one group by default


def test_the_row_cap_is_inclusive(monkeypatch):
    monkeypatch.setattr(_statistics, "MAX_ROWS", 10)
    assert _statistics.exact_gram_sums(np.zeros((10, 1)), np.zeros(10))[0, 0, 0] == 10


def test_icp_over_too_many_predictors_is_refused_before_the_release():
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(60, 13)), columns=[f"x{j}" for j in range(13)])
    reg = DPCausalRegressor(feature_bound=4.0, target_bound=1.0, causal_features="icp",
                            environment_levels=["a", "b"])
    with mock.patch.object(_regressor, "release_gaussian") as release, \
            pytest.raises(ValueError, match="more than 12"):
        reg.fit(X, X["x0"] / 2, environments=np.repeat(["a", "b"], 30))
    release.assert_not_called()
