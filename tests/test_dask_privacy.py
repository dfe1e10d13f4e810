"""DPCausalRegressor on dask collections (issue 16).

A dask array or dataframe is read partition by partition: each record is
clipped and rounded on its own, the partitions' exact integer Gram sums add
up exactly, and the release, the accounting, private ICP and the solve are
the in-memory code. So, for the same ``random_state``, every fitted
attribute equals the in-memory fit's bit for bit; with the noise switched
off the dask fit equals the fit on data clipped beforehand; whatever is
public (bounds, categories, environment levels) must be declared and is
checked before any task runs; bad rows raise, naming the argument, before
the release.

The partitions are unequal (one of one row, one empty) and the data have
outliers beyond the bounds, in X and in y, so that clipping matters. The
equality fits and the refusals of undeclared quantities run twice (the
fixture ``dask_scheduler``): on dask's synchronous scheduler, and, marked
slow, on a two-process LocalCluster; the other checks on the synchronous
scheduler (``dask_sync``).
"""

import warnings
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import ran_on_the_workers, task_stream

from skcausal_trust.exceptions import PrivacyLeakWarning
from skcausal_trust.privacy import DPCausalRegressor, _regressor

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

N = 3000
#: Unequal row partitions: one of a single row, one empty.
CHUNKS = (700, 1, 0, 1299, 1000)
LEVELS = ["s0", "s1", "s2"]
BOUNDS = {"feature_bound": 3.0, "target_bound": 4.0}
seeded = pytest.mark.filterwarnings("ignore::skcausal_trust.exceptions.PrivacyLeakWarning")


@pytest.fixture(scope="module")
def data():
    """Three environments that shift the predictors (y's mechanism is
    invariant), a categorical column with missing values, outliers in X
    (whole rows far outside ``feature_bound``) and in y."""
    rng = np.random.default_rng(16)
    codes = rng.integers(0, 3, N)
    X = rng.normal(size=(N, 3)) + np.array([[0.0, 0.5, -0.5], [0.8, 0.0, 0.3],
                                            [-0.6, 0.6, 0.0]])[codes]
    job = rng.choice(["x", "y", "z"], N).astype(object)
    job[::53] = None
    y = X[:, 0] - 0.5 * X[:, 1] + 0.7 * (job == "x") + 0.3 * rng.normal(size=N)
    X[::97] *= 40.0
    y[::89] *= 25.0
    frame = pd.DataFrame({"a": X[:, 0], "job": pd.Series(job, dtype="str"),
                          "b": X[:, 1], "c": X[:, 2],
                          "site": np.array(LEVELS, dtype=object)[codes]})
    return X, y, codes, frame


def _dask_arrays(*arrays):
    return [da.from_array(a, chunks=(CHUNKS,) + a.shape[1:]) for a in arrays]


def _dask_frame(frame):
    """A dask dataframe with the partitions of CHUNKS (the empty one included)."""
    ends = np.cumsum((0,) + CHUNKS)
    parts = [dd.from_pandas(frame.iloc[a:b], npartitions=1)
             for a, b in zip(ends[:-1], ends[1:])]
    return dd.concat(parts)


FITTED = ["coef_", "intercept_", "epsilon_", "delta_", "is_private_", "privacy_leaks_",
          "noise_scale_", "sensitivity_", "release_weights_", "feature_bound_",
          "target_bound_", "released_statistics_", "predictors_", "released_features_",
          "selected_features_", "icp_subset_pvalues_", "eigenvalue_floor_", "categories_",
          "environments_", "n_features_in_"]


def _assert_same_prediction(computed, expected):
    """The fit is the same bit for bit; its prediction ``X @ coef_`` is
    BLAS's, partition by partition, whose order of the additions may
    depend on the number of rows (a one-row partition is a dot product):
    the same up to rounding."""
    assert computed.shape == expected.shape
    assert_allclose(computed, expected, rtol=1e-14, atol=1e-14 * np.abs(expected).max())


def _assert_same_fit(remote, local):
    for name in FITTED:
        a, b = getattr(remote, name), getattr(local, name)
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype, name
            assert_array_equal(a, b, err_msg=name)
        elif b is None:
            assert a is None, name
        else:
            assert a == b, name
    assert (hasattr(remote, "feature_names_in_") == hasattr(local, "feature_names_in_"))
    if hasattr(local, "feature_names_in_"):
        assert_array_equal(remote.feature_names_in_, local.feature_names_in_)


ARRAY_CASES = {
    # name: (parameters, environments: "routed", "column" or None)
    "pooled": ({}, None),
    "pooled-routed-environments": ({"environment_levels": [0, 1, 2]}, "routed"),
    "anchor-routed": ({"gamma": 5.0, "environment_levels": [0, 1, 2]}, "routed"),
    "anchor-column": ({"gamma": 5.0, "environment_levels": [0, 1, 2],
                       "environment_column": 3, "fit_intercept": False}, "column"),
    "icp-routed": ({"causal_features": "icp", "environment_levels": [0, 1, 2],
                    "epsilon": 5.0}, "routed"),
    "causal-list-replace-one": ({"causal_features": [0, 2],
                                 "neighbouring": "replace_one"}, None),
}


@seeded
@pytest.mark.parametrize("case", list(ARRAY_CASES))
def test_dask_array_fit_equals_the_in_memory_fit_bit_for_bit(dask_scheduler, data, case):
    params, route = ARRAY_CASES[case]
    X, y, codes, _ = data
    reg = DPCausalRegressor(**{"epsilon": 2.0, **BOUNDS, "random_state": 7, **params})
    if route == "column":
        X = np.column_stack([X, codes])
    Xd, yd, ed = _dask_arrays(X, y, codes)
    fit_env = {"environments": codes} if route == "routed" else {}
    fit_env_d = {"environments": ed} if route == "routed" else {}

    local = reg.__class__(**reg.get_params()).fit(X, y, **fit_env)
    with task_stream(dask_scheduler) as stream:
        remote = reg.fit(Xd, yd, **fit_env_d)
    # The partitions were read on the cluster's workers.
    assert ran_on_the_workers(dask_scheduler, stream)
    assert stream is None or len(stream.data) >= len(CHUNKS)
    _assert_same_fit(remote, local)
    assert remote.epsilon_ == np.inf  # seeded noise: reported, as in memory
    if route == "routed" and "gamma" in params:
        assert remote.released_statistics_.shape[0] == 3
    if case == "icp-routed":  # a non-trivial choice: the parents of y
        assert remote.selected_features_ == ["x0", "x1"]

    prediction = remote.predict(Xd)
    assert isinstance(prediction, da.Array)
    assert prediction.chunks == (CHUNKS,)
    _assert_same_prediction(prediction.compute(), local.predict(X))
    # The outliers are beyond the bounds (so clipping matters), on both routes.
    clipped = remote.count_clipped(Xd, yd)
    assert clipped == local.count_clipped(X, y)
    assert min(clipped) > 10


@seeded
@pytest.mark.parametrize("route", ["column", "routed"])
def test_dask_dataframe_with_declared_categories_equals_the_in_memory_fit(
        dask_sync, data, route):
    _, y, _, frame = data
    full = frame.assign(target=y)
    ddf = _dask_frame(full)
    assert ddf.npartitions == len(CHUNKS)
    params = {"epsilon": 2.0, **BOUNDS, "random_state": np.random.default_rng(3),
              "gamma": 3.0, "environment_levels": LEVELS,
              "categories": {"job": ["x", "y", "z"]}}
    if route == "column":
        params["environment_column"] = "site"
        local = DPCausalRegressor(**params).fit(frame, y)
        params["random_state"] = np.random.default_rng(3)
        Xd = ddf.drop(columns="target")
        remote = DPCausalRegressor(**params).fit(Xd, ddf["target"])
    else:
        local = DPCausalRegressor(**params).fit(frame.drop(columns="site"), y,
                                                environments=frame["site"])
        params["random_state"] = np.random.default_rng(3)
        Xd = ddf.drop(columns=["target", "site"])
        remote = DPCausalRegressor(**params).fit(Xd, ddf["target"],
                                                 environments=ddf["site"])
    _assert_same_fit(remote, local)
    assert remote.predictors_ == ["a", "job_x", "job_y", "job_z", "job_nan", "b", "c"]
    assert remote.categories_ == {"job": ["x", "y", "z"]}
    assert list(remote.environments_) == LEVELS

    prediction = remote.predict(Xd)
    assert isinstance(prediction, dd.Series)
    computed = prediction.compute()
    expected = local.predict(frame if route == "column" else frame.drop(columns="site"))
    _assert_same_prediction(computed.to_numpy(), expected)
    assert_array_equal(computed.index, frame.index)


def test_private_dask_fit_spends_exactly_what_the_in_memory_fit_spends(dask_sync, data):
    """Without a seed the dask fit is private (every public quantity was
    declared): no leak, and the same calibration as in memory."""
    X, y, codes, _ = data
    params = {"epsilon": 0.5, "delta": 1e-7, **BOUNDS, "gamma": 2.0,
              "environment_levels": [0, 1, 2]}
    Xd, yd, ed = _dask_arrays(X, y, codes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        remote = DPCausalRegressor(**params).fit(Xd, yd, environments=ed)
        local = DPCausalRegressor(**params).fit(X, y, environments=codes)
    for name in ["epsilon_", "delta_", "is_private_", "privacy_leaks_", "noise_scale_",
                 "sensitivity_", "feature_bound_", "target_bound_"]:
        assert getattr(remote, name) == getattr(local, name), name
    assert (remote.epsilon_, remote.delta_, remote.is_private_) == (0.5, 1e-7, True)
    assert remote.privacy_leaks_ == []
    assert_array_equal(remote.release_weights_, local.release_weights_)


# dp-accounting's calibration at epsilon = 1e9 takes a log of 0 on the way.
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log1p:RuntimeWarning")
@pytest.mark.parametrize("gamma", [1.0, 5.0])
def test_without_noise_the_dask_fit_is_the_fit_on_data_clipped_beforehand(
        dask_sync, data, gamma):
    """Clipping happens row by row before the sums: with the noise switched
    off, the dask fit on the raw rows equals the in-memory fit on rows
    clipped to the bounds beforehand (which the fit then leaves as they
    are), and differs from least squares on the raw rows."""
    X, y, codes, _ = data
    feature_bound, target_bound = BOUNDS["feature_bound"], BOUNDS["target_bound"]
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    over = norms > feature_bound
    # Rescaled to just inside the ball (a row rescaled to norm exactly B may
    # round to a norm above it, and be rescaled again by the fit).
    factor = np.where(over, feature_bound / np.where(over, norms, 1.0) * (1 - 1e-14), 1.0)
    X_clipped = X * factor[:, None]
    y_clipped = np.clip(y, -target_bound, target_bound)
    assert over.sum() > 20 and (np.abs(y) > target_bound).sum() > 20

    params = {"epsilon": 1e9, **BOUNDS, "gamma": gamma, "environment_levels": [0, 1, 2]}
    Xd, yd, ed = _dask_arrays(X, y, codes)
    calls = []

    def no_noise(values, sigma, sensitivity, *args, **kwargs):
        calls.append(sigma)
        return np.array(values, dtype=float, copy=True)

    with mock.patch.object(_regressor, "release_gaussian", no_noise):
        remote = DPCausalRegressor(**params).fit(Xd, yd, environments=ed)
        preclipped = DPCausalRegressor(**params).fit(X_clipped, y_clipped,
                                                     environments=codes)
    assert len(calls) == 2  # one release per fit
    # The pre-clipped rows are inside the bounds: the fit leaves them as they are.
    assert preclipped.count_clipped(X_clipped, y_clipped) == (0, 0)
    assert_array_equal(remote.released_statistics_, preclipped.released_statistics_)
    assert_array_equal(remote.coef_, preclipped.coef_)
    assert remote.intercept_ == preclipped.intercept_
    # ...which is least squares on the clipped rows (gamma = 1), not on the raw ones.
    if gamma == 1.0:
        design = np.column_stack([np.ones(N), X_clipped])
        expected = np.linalg.lstsq(design, y_clipped, rcond=None)[0]
        np.testing.assert_allclose(remote.coef_, expected[1:], rtol=1e-5, atol=1e-5)
        raw = np.linalg.lstsq(np.column_stack([np.ones(N), X]), y, rcond=None)[0]
        assert np.abs(raw[1:] - remote.coef_).max() > 0.1


def _poisoned(collection):
    """The collection, with every partition raising when computed."""

    def poison(part):
        raise RuntimeError("a partition was computed")

    if isinstance(collection, da.Array):
        return collection.map_blocks(poison, dtype=collection.dtype)
    return collection.map_partitions(poison, meta=collection._meta)


UNDECLARED = {
    # name: (parameters changed, the parameter the error names)
    "feature_bound": ({"feature_bound": None}, "feature_bound"),
    "target_bound": ({"target_bound": None}, "target_bound"),
    "both-bounds": ({"feature_bound": None, "target_bound": None},
                    "feature_bound and target_bound"),
    "environment_levels": ({"environment_levels": None}, "environment_levels"),
    "categories": ({"categories": None}, "categories"),
    "categories-of-another-column": ({"categories": {"a": [0.0, 1.0]}}, "categories"),
}


@pytest.mark.parametrize("case", list(UNDECLARED))
def test_undeclared_public_quantities_raise_before_any_computation(
        dask_scheduler, data, case):
    changed, named = UNDECLARED[case]
    _, y, _, frame = data
    ddf = _dask_frame(frame.assign(target=y))
    X, target = _poisoned(ddf.drop(columns="target")), _poisoned(ddf["target"])
    params = {**BOUNDS, "gamma": 5.0, "environment_levels": LEVELS,
              "environment_column": "site", "categories": {"job": ["x", "y", "z"]},
              **changed}
    reg = DPCausalRegressor(**params)
    with task_stream(dask_scheduler) as stream:
        with pytest.raises(ValueError, match=named) as error:
            reg.fit(X, target)
    assert "Nothing was computed" in str(error.value)
    assert stream is None or stream.data == []  # no task ran on the cluster
    assert not hasattr(reg, "coef_") and not hasattr(reg, "n_features_in_")
    # The poisoned collections would have raised had they been read.
    with pytest.raises(RuntimeError, match="computed"):
        target.sum().compute()


def test_dask_and_in_memory_arguments_do_not_mix(data):
    X, y, codes, _ = data
    Xd, yd, ed = _dask_arrays(X, y, codes)
    reg = DPCausalRegressor(**BOUNDS)
    with pytest.raises(ValueError, match="^y is a ndarray in memory while X is a dask "
                                         "collection: pass X, y"):
        reg.fit(Xd, y)
    with pytest.raises(ValueError, match="^X is a ndarray in memory while y is a dask "
                                         "collection: pass X, y"):
        reg.fit(X, yd)
    with pytest.raises(ValueError, match="^environments is a ndarray in memory while X "
                                         "and y are dask collections: pass X, y"):
        reg.fit(Xd, yd, environments=codes)
    with pytest.raises(ValueError, match="^y is a dask"):
        reg.fit(Xd, da.from_array(y[:, None], chunks=(CHUNKS, 1)))
    with pytest.raises(ValueError, match="either as environments or through "
                                         "environment_column"):
        reg.set_params(environment_column=0).fit(Xd, yd, environments=ed)


def _with_value(array, row, value):
    out = np.array(array, dtype=float if array.dtype.kind != "O" else object, copy=True)
    out[row] = value
    return out


@pytest.mark.parametrize("case", [
    "misaligned-rows", "misaligned-partitions", "X-nan", "X-inf", "y-nan",
    "environments-nan", "environment-column-nan", "environment-outside-levels",
    "category-outside", "categorical-column-missing-ok"])
def test_bad_rows_raise_naming_the_argument_before_the_release(dask_sync, data, case):
    X, y, codes, frame = data
    params = {**BOUNDS, "gamma": 5.0, "environment_levels": [0, 1, 2]}
    fit_args, match = None, None
    Xd, yd, ed = _dask_arrays(X, y, codes)
    if case == "misaligned-rows":
        # Five partitions each, the last five rows short in y.
        fit_args = (Xd, da.from_array(y[:-5], chunks=(CHUNKS[:-1] + (995,),)))
        match = r"not aligned: one partition holds X 1000, y 995, environments 1000 rows"
    elif case == "misaligned-partitions":
        fit_args = (Xd, da.from_array(y, chunks=1500))
        match = r"not aligned: X 5, y 2, environments 5 partitions"
    elif case in ("X-nan", "X-inf"):
        Xbad = X.copy()
        Xbad[2500, 1] = np.nan if case == "X-nan" else np.inf
        fit_args = (_dask_arrays(Xbad)[0], yd)
        match = r"^Input X contains NaN or infinity"
    elif case == "y-nan":
        fit_args = (Xd, _dask_arrays(_with_value(y, 701, np.nan))[0])
        match = r"^Input y contains NaN"
    elif case == "environments-nan":
        fit_args = (Xd, yd)
        params["_environments"] = _dask_arrays(_with_value(codes, 5, np.nan))[0]
        match = r"^environments has missing values"
    elif case == "environment-column-nan":
        fit_args = (_dask_arrays(np.column_stack([X, _with_value(codes, 9, np.nan)]))[0],
                    yd)
        params["environment_column"] = 3
        match = r"^X\[3\] \(environment_column\) has missing values"
    elif case == "environment-outside-levels":
        fit_args = (Xd, yd)
        params["_environments"] = _dask_arrays(_with_value(codes, 2999, 7))[0]
        match = r"^environments has labels outside environment_levels=\[0, 1, 2\]"
    else:
        bad = frame.copy()
        if case == "category-outside":
            bad.loc[1500, "job"] = "w"
        ddf = _dask_frame(bad.assign(target=y))
        fit_args = (ddf.drop(columns="target"), ddf["target"])
        params.update(environment_column="site", environment_levels=LEVELS,
                      categories={"job": ["x", "y", "z"]})
        match = r"^column 'job' holds values outside its declared categories"
    environments = params.pop("_environments", ed if case in (
        "misaligned-rows", "misaligned-partitions", "X-nan", "X-inf", "y-nan") else None)
    reg = DPCausalRegressor(**params)
    kwargs = {} if environments is None else {"environments": environments}
    calls = []
    with mock.patch.object(_regressor, "release_gaussian",
                           lambda *a, **k: calls.append(a) or a[0]):
        if case == "categorical-column-missing-ok":
            # Missing values of a declared categorical column are a level of
            # their own (the "job_nan" indicator), not an error.
            reg.fit(*fit_args, **kwargs)
            assert calls and "job_nan" in reg.predictors_
            return
        with pytest.raises(ValueError, match=match):
            reg.fit(*fit_args, **kwargs)
    assert calls == []  # nothing was released
    assert not hasattr(reg, "coef_")


@seeded
def test_dask_predict_checks_the_columns_before_computing(data):
    X, y, _, _ = data
    Xd, yd = _dask_arrays(X, y)
    reg = DPCausalRegressor(**BOUNDS, random_state=0).fit(Xd, yd)
    with pytest.raises(ValueError, match="X has 2 features"):
        reg.predict(_poisoned(Xd[:, :2]))
    # Lazy: nothing is computed until asked.
    lazy = reg.predict(_poisoned(Xd))
    assert isinstance(lazy, da.Array) and lazy.shape == (N,)
    with pytest.raises(RuntimeError, match="computed"):
        lazy.compute(scheduler="sync")
