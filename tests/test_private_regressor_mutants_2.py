"""More tests that kill surviving mutants of ``privacy/_regressor.py``
(issue 17, ``benchmarks/run_mutation.py --modules private_regressor``): the
fit on dask collections (``_dask_statistics``, ``_partition_statistics``,
``_dask_encoding``) and the one-hot encoding of declared categories
(``_encode_fit``, ``_encode``).

With the noise switched off, the released statistics are the exact Gram
sums of the clipped records ``z = [1, x~, y~]`` of each environment: the
expected values are computed here from their definition, with NumPy (each
row of the released predictors rescaled onto the ball of radius
``feature_bound`` if outside, divided by the bound, shrunk by
``1 - sqrt(p + 1) 2**-20`` and rounded to multiples of ``2**-20``; ``y``
clipped to ``[-target_bound, target_bound]``, divided by it and rounded),
and a declared categorical column is written out as one indicator per
declared level, then a missing-value indicator, in the column's place.
"""

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.privacy import DPCausalRegressor, _regressor

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

#: Unequal row partitions: one of a single row (an outlier), one empty.
CHUNKS = (50, 1, 0, 69)
N = sum(CHUNKS)
SITES = ["s0", "s1", "s2"]
JOBS = ["x", "y", "z"]
FB, TB = 3.0, 4.0
# dp-accounting's calibration at epsilon = 1e9 takes a log of 0 on the way.
pytestmark = pytest.mark.filterwarnings(
    "ignore:divide by zero encountered in log1p:RuntimeWarning")


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 3, N)
    X = rng.normal(size=(N, 2)) + np.array([[0.0, 0.5], [0.8, 0.0], [-0.6, 0.6]])[codes]
    job = rng.choice(JOBS, N).astype(object)
    job[::17] = None
    y = X[:, 0] - 0.5 * X[:, 1] + 0.7 * (job == "x") + 0.3 * rng.normal(size=N)
    X[::13] *= 30.0
    X[50] = [40.0, -25.0]  # the single-row partition: far outside the ball
    y[::11] *= 20.0
    y[50] = -90.0
    return X, y, codes, job


def _records(P, y):
    """z = [1, x~, y~] of each row, from the definition."""
    p = P.shape[1]
    norms = np.sqrt((P**2).sum(axis=1))
    factor = np.where(norms > FB, FB / np.where(norms > 0, norms, 1.0), 1.0)
    scale = 2.0**20
    kx = np.rint(P * factor[:, None] / FB * (1.0 - np.sqrt(p + 1.0) / scale) * scale)
    ky = np.rint(np.clip(y, -TB, TB) / TB * scale)
    return np.column_stack([np.ones(len(y)), kx / scale, ky / scale])


def _grams(P, y, groups, n_groups):
    Z = _records(P, y)
    return np.stack([Z[groups == g].T @ Z[groups == g] for g in range(n_groups)])


def _onehot(job):
    """Indicators of the declared levels, then of a missing value."""
    missing = pd.isna(pd.Series(job)).to_numpy()
    return np.column_stack([(job == v) & ~missing for v in JOBS] + [missing]).astype(float)


def _arrays(*arrays):
    return [da.from_array(a, chunks=(CHUNKS,) + a.shape[1:]) for a in arrays]


def _dask_frame(frame):
    ends = np.cumsum((0,) + CHUNKS)
    return dd.concat([dd.from_pandas(frame.iloc[a:b], npartitions=1)
                      for a, b in zip(ends[:-1], ends[1:])])


def _fit_without_noise(reg, *args, **kwargs):
    calls = []

    def no_noise(values, sigma, sensitivity, *rest, **options):
        calls.append(sigma)
        return np.array(values, dtype=float, copy=True)

    with mock.patch.object(_regressor, "release_gaussian", no_noise):
        reg.fit(*args, **kwargs)
    assert len(calls) == 1
    return reg


def _assert_released(reg, expected):
    assert reg.released_statistics_.shape == expected.shape
    assert_allclose(reg.released_statistics_, expected, rtol=1e-12, atol=1e-9)


# --------------------------------------------------------------------------
# The released sums are the Gram sums of the clipped records
# --------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["series", "one-column frame", "column"])
def test_dask_frame_with_environments_and_declared_categories(dask_sync, rows, route):
    """Declared levels in an order of their own: group g is the g-th level;
    the environments a dask Series, a one-column dask DataFrame or a column
    of X (environment_column)."""
    X, y, codes, job = rows
    frame = pd.DataFrame({"a": X[:, 0], "job": pd.Series(job, dtype="str"), "b": X[:, 1],
                          "site": np.array(SITES, dtype=object)[codes], "target": y})
    ddf = _dask_frame(frame)
    order = ["s2", "s0", "s1"]
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=FB, target_bound=TB, gamma=3.0,
                            environment_levels=order, categories={"job": JOBS})
    if route == "column":
        reg.set_params(environment_column="site")
        _fit_without_noise(reg, ddf[["a", "job", "site", "b"]], ddf["target"])
    else:
        env = ddf["site"] if route == "series" else ddf[["site"]]
        _fit_without_noise(reg, ddf[["a", "job", "b"]], ddf["target"], environments=env)
    assert reg.predictors_ == ["a", "job_x", "job_y", "job_z", "job_nan", "b"]
    assert reg.categories_ == {"job": JOBS}
    assert list(reg.environments_) == order
    design = np.column_stack([X[:, :1], _onehot(job), X[:, 1:]])
    groups = np.array([order.index(s) for s in np.array(SITES)[codes]])
    _assert_released(reg, _grams(design, y, groups, 3))


def test_dask_causal_features_naming_a_declared_categorical_column(dask_sync, rows):
    """A categorical column named in causal_features releases all its
    indicators (after the two numeric columns before it), and only them."""
    X, y, codes, job = rows
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "job": pd.Series(job, dtype="str"),
                          "target": y})
    ddf = _dask_frame(frame)
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=FB, target_bound=TB,
                            categories={"job": JOBS}, causal_features=["job"])
    _fit_without_noise(reg, ddf[["a", "b", "job"]], ddf["target"])
    assert reg.released_features_ == ["job_x", "job_y", "job_z", "job_nan"]
    _assert_released(reg, _grams(_onehot(job), y, np.zeros(N, int), 1))


def test_dask_array_with_the_environment_column_in_the_middle(dask_sync, rows):
    X, y, codes, _ = rows
    Xe = np.column_stack([X[:, 0], codes, X[:, 1]])
    Xd, yd = _arrays(Xe, y)
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=FB, target_bound=TB, gamma=2.0,
                            environment_column=1, environment_levels=[0, 1, 2])
    _fit_without_noise(reg, Xd, yd)
    assert reg.predictors_ == ["x0", "x2"]
    _assert_released(reg, _grams(X, y, codes, 3))


def test_dask_array_pooled_with_some_causal_features(dask_sync, rows):
    """Only the released predictors are clipped and summed, in one group."""
    X, y, codes, _ = rows
    X3 = np.column_stack([X, codes.astype(float)])
    Xd, yd = _arrays(X3, y)
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=FB, target_bound=TB,
                            causal_features=[0, 2])
    _fit_without_noise(reg, Xd, yd)
    assert reg.released_features_ == ["x0", "x2"]
    _assert_released(reg, _grams(X3[:, [0, 2]], y, np.zeros(N, int), 1))


def test_dask_pooled_fit_with_declared_environments_sums_every_row(dask_sync, rows):
    """gamma=1 compares no environments: one group, every row in it."""
    X, y, codes, _ = rows
    Xd, yd, ed = _arrays(X, y, codes)
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=FB, target_bound=TB,
                            environment_levels=[0, 1, 2])
    _fit_without_noise(reg, Xd, yd, environments=ed)
    _assert_released(reg, _grams(X, y, np.zeros(N, int), 1))


def test_in_memory_declared_categories_are_encoded_in_place(rows):
    """_encode_fit / _encode: the declared levels' indicators and the
    missing-value indicator replace the column, in memory as on dask."""
    X, y, codes, job = rows
    frame = pd.DataFrame({"a": X[:, 0], "job": job, "b": X[:, 1]})
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=FB, target_bound=TB,
                            categories={"job": JOBS})
    _fit_without_noise(reg, frame, y)
    assert reg.predictors_ == ["a", "job_x", "job_y", "job_z", "job_nan", "b"]
    design = np.column_stack([X[:, :1], _onehot(job), X[:, 1:]])
    _assert_released(reg, _grams(design, y, np.zeros(N, int), 1))


# --------------------------------------------------------------------------
# Rows that make the dask fit raise, after the pass and before the release
# --------------------------------------------------------------------------
def _bad(case, rows):
    X, y, codes, job = rows
    params = {"feature_bound": FB, "target_bound": TB}
    env = None
    if case == "no-rows":
        Xd, yd = da.zeros((0, 2), chunks=(0, 2)), da.zeros(0, chunks=0)
        return params, (Xd, yd), {}, r"^X has no rows"
    if case == "y-inf":
        y = y.copy()
        y[60] = np.inf
        match = r"^Input y contains NaN or infinity"
    elif case == "X-nan":
        X = X.copy()
        X[50, 1] = np.nan
        match = r"^Input X contains NaN or infinity"
    elif case in ("environments-nan", "environments-inf", "environments-outside"):
        env = codes.astype(float)
        env[3] = {"environments-nan": np.nan, "environments-inf": np.inf,
                  "environments-outside": 7.0}[case]
        params.update(gamma=2.0, environment_levels=[0, 1, 2])
        match = {"environments-nan": r"^environments has missing values",
                 "environments-inf": r"^environments has infinite values",
                 "environments-outside":
                     r"^environments has labels outside environment_levels"}[case]
    else:  # category-outside
        job = job.copy()
        job[70] = "w"
        frame = pd.DataFrame({"a": X[:, 0], "job": pd.Series(job, dtype="str"),
                              "b": X[:, 1], "target": y})
        ddf = _dask_frame(frame)
        params["categories"] = {"job": JOBS}
        return (params, (ddf[["a", "job", "b"]], ddf["target"]), {},
                r"^column 'job' holds values outside its declared categories")
    Xd, yd = _arrays(X, y)
    kwargs = {} if env is None else {"environments": _arrays(env)[0]}
    return params, (Xd, yd), kwargs, match


@pytest.mark.parametrize("case", ["no-rows", "y-inf", "X-nan", "environments-nan",
                                  "environments-inf", "environments-outside",
                                  "category-outside"])
def test_bad_rows_raise_before_the_release(dask_sync, rows, case):
    params, args, kwargs, match = _bad(case, rows)
    reg = DPCausalRegressor(**params)
    calls = []
    with mock.patch.object(_regressor, "release_gaussian",
                           lambda *a, **k: calls.append(a) or a[0]):
        with pytest.raises(ValueError, match=match):
            reg.fit(*args, **kwargs)
    assert calls == []
    assert not hasattr(reg, "coef_")
