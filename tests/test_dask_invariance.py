"""ICP and anchor regression on dask arrays and dataframes: rows ->
sufficient statistics partition by partition on a local cluster, then the
in-memory code; the results equal the in-memory fit.

The partitions have unequal sizes (an empty one, a one-row one) and most
hold rows of only some environments (the rows come sorted by environment).
The sweep over anchor regression's settings and most of the errors found in
a pass use the synchronous scheduler; the other tests run twice (the fixture
``dask_scheduler``): on the synchronous scheduler, and, marked slow, on a
two-process LocalCluster, where errors raised on a worker come back as the
same exception.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import ran_on_the_workers, task_stream

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.exceptions import NoEnvironmentsWarning
from skcausal_trust.invariance import AnchorRegression, InvariantCausalPrediction

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

RTOL = 1e-10
CHUNKS = (700, 1100, 0, 900, 300)  # rows per partition: unequal, one empty
DIVISIONS = [0, 700, 1800, 1801, 2700, 2999]  # a dataframe's: unequal, one of one row


@pytest.fixture(scope="module")
def data():
    X, y, env, parents = make_invariant_regression(
        1000, 3, n_ancestors=2, n_parents=2, n_children=2, random_state=3)
    rng = np.random.default_rng(0)
    frame = X.assign(env=env, y=y, w=rng.uniform(0.0, 2.0, len(y)),
                     a=rng.normal(size=len(y)) + (env == "e1"))
    frame.loc[:9, "w"] = 0.0  # rows without weight
    return frame, list(X.columns), parents


def _ddf(frame):
    return dd.from_pandas(frame, npartitions=1).repartition(divisions=DIVISIONS)


def _darr(values):
    values = np.asarray(values)
    return da.from_array(values, chunks=(CHUNKS,) + values.shape[1:])


def _synchronous():
    """The synchronous scheduler, for checks that need a pass but not the
    cluster."""
    return dask.config.set(scheduler="sync")


def _assert_icp_equal(remote, local):
    assert remote.accepted_subsets_ == local.accepted_subsets_
    assert list(remote.subset_pvalues_) == list(local.subset_pvalues_)
    assert_allclose(list(remote.subset_pvalues_.values()),
                    list(local.subset_pvalues_.values()), rtol=RTOL, atol=0)
    assert_array_equal(remote.support_, local.support_)
    assert_allclose(remote.pvalues_, local.pvalues_, rtol=RTOL, atol=0)
    assert_allclose(remote.confidence_intervals_, local.confidence_intervals_,
                    rtol=RTOL, atol=0)
    assert_array_equal(remote.environments_, local.environments_)
    assert remote.n_features_in_ == local.n_features_in_


# -- InvariantCausalPrediction ---------------------------------------------
def test_icp_on_a_dask_dataframe_with_the_environment_column(dask_scheduler, data):
    frame, names, parents = data
    Xf = frame[names + ["env"]]
    local = InvariantCausalPrediction(environment_column="env").fit(Xf, frame["y"])
    ddf = _ddf(frame)
    with task_stream(dask_scheduler) as stream:
        remote = InvariantCausalPrediction(environment_column="env").fit(
            ddf[names + ["env"]], ddf["y"])
    assert ran_on_the_workers(dask_scheduler, stream)
    _assert_icp_equal(remote, local)
    assert list(remote.feature_names_in_) == names + ["env"]
    assert list(remote.get_feature_names_out()) == parents  # a non-trivial result
    assert len(remote.accepted_subsets_) > 1
    # transform: a lazy dask dataframe of the selected columns.
    out = remote.transform(ddf[names + ["env"]])
    assert isinstance(out, dd.DataFrame)
    assert list(out.columns) == parents
    computed = out.compute()
    assert_array_equal(computed.to_numpy(dtype=float),
                       np.asarray(local.transform(Xf), dtype=float))
    assert_array_equal(computed.index, frame.index)


def test_icp_on_dask_arrays_with_routed_environments(dask_scheduler, data):
    frame, names, _ = data
    # Shuffled rows, and a scale far from 1 (exact powers of two inside).
    order = np.random.default_rng(1).permutation(len(frame))
    X = frame[names].to_numpy()[order] * 1e300
    y, env = frame["y"].to_numpy()[order] * 1e-300, frame["env"].to_numpy()[order]
    local = InvariantCausalPrediction().fit(X, y, environments=env)
    remote = InvariantCausalPrediction().fit(_darr(X), _darr(y), environments=_darr(env))
    _assert_icp_equal(remote, local)
    out = remote.transform(_darr(X))
    assert isinstance(out, da.Array) and out.chunks[0] == CHUNKS
    assert_array_equal(out.compute(), local.transform(X))


def test_icp_exact_test_routed_dask_series_and_an_integer_target(dask_scheduler, data):
    frame, names, _ = data
    frame = frame.assign(y=np.round(4 * frame["y"]).astype(int))
    params = dict(test="exact", target_type="continuous", max_subset_size=2)
    local = InvariantCausalPrediction(**params).fit(
        frame[names], frame["y"], environments=frame["env"])
    ddf = _ddf(frame)
    remote = InvariantCausalPrediction(**params).fit(
        ddf[names], ddf["y"], environments=ddf["env"])
    _assert_icp_equal(remote, local)
    assert remote.n_subsets_tested_ == 1 + 6 + 15


def test_icp_refuses_what_needs_the_rows(data):
    frame, names, _ = data
    ddf = _ddf(frame)
    X, env = ddf[names], ddf["env"]
    binary = (ddf["y"] > 0).astype(float)
    # Refused before reading a row (no scheduler would run anything) ...
    with pytest.raises(ValueError, match="target_type='binary' is not supported on a dask"):
        InvariantCausalPrediction(target_type="binary").fit(X, binary, environments=env)
    with pytest.raises(ValueError, match="dtype int64 and target_type='auto'"):
        InvariantCausalPrediction().fit(X, (ddf["y"] > 0).astype(int), environments=env)
    # ... or after the first pass, for a float y of integers: read as binary
    # or multiclass in memory.
    with _synchronous():
        with pytest.raises(ValueError, match="binary target.*target_type='continuous'"):
            InvariantCausalPrediction().fit(X, binary, environments=env)
        with pytest.raises(ValueError, match="multiclass target.*target_type='continuous'"):
            InvariantCausalPrediction().fit(X, ddf["y"].round(), environments=env)
    with pytest.raises(ValueError, match="screening='lasso' with 6 predictors"):
        InvariantCausalPrediction(screening="lasso", max_predictors=4).fit(
            X, ddf["y"], environments=env)
    with pytest.raises(TypeError, match="X is a dask collection but y is a ndarray"):
        InvariantCausalPrediction().fit(X, frame["y"].to_numpy(), environments=env)
    with pytest.raises(TypeError, match="environments is a dask collection but X is not"):
        InvariantCausalPrediction().fit(frame[names], frame["y"], environments=env)
    with pytest.raises(ValueError, match="non-numeric.*'env'"):
        InvariantCausalPrediction().fit(ddf[names + ["env"]], ddf["y"], environments=env)


def test_icp_on_dask_raises_for_bad_rows_naming_the_argument(dask_scheduler, data):
    frame, names, _ = data
    X, y, env = frame[names].to_numpy(), frame["y"].to_numpy(), frame["env"].to_numpy()
    # Raised on a worker, and back in this process as the same error.
    bad = X.copy()
    bad[2000, 1] = np.nan  # in the fourth partition
    with pytest.raises(ValueError, match="^X has NaN or infinite values"):
        InvariantCausalPrediction().fit(_darr(bad), _darr(y), environments=_darr(env))
    # Misaligned partitions: other row chunks, or another number of them.
    other = da.from_array(y, chunks=((800, 1000, 0, 900, 300),))
    with pytest.raises(ValueError,
                       match=r"not aligned: one partition holds X \d+, y \d+, environments"):
        InvariantCausalPrediction().fit(_darr(X), other, environments=_darr(env))
    with pytest.raises(ValueError, match=r"not aligned: X 5, y 2, environments 5 partitions"):
        InvariantCausalPrediction().fit(_darr(X), da.from_array(y, chunks=1500),
                                        environments=_darr(env))
    with _synchronous():
        bad_y = y.copy()
        bad_y[5] = np.inf
        with pytest.raises(ValueError, match="^y has NaN or infinite values"):
            InvariantCausalPrediction().fit(_darr(X), _darr(bad_y), environments=_darr(env))
        ddf = _ddf(frame.assign(env=frame["env"].where(frame.index != 1500)))
        with pytest.raises(ValueError,
                           match=r"X\['env'\] \(environment_column\) has 1 missing"):
            InvariantCausalPrediction(environment_column="env").fit(
                ddf[names + ["env"]], ddf["y"])
        # A constant column and a single environment, found in the first pass.
        constant = X.copy()
        constant[:, 2] = 1.5
        with pytest.raises(ValueError, match=r"constant columns \['x2'\]"):
            InvariantCausalPrediction().fit(_darr(constant), _darr(y),
                                            environments=_darr(env))
        with pytest.raises(ValueError, match="environments has a single environment 'e0'"):
            InvariantCausalPrediction().fit(_darr(X), _darr(y),
                                            environments=_darr(np.full(len(y), "e0")))


# -- AnchorRegression -------------------------------------------------------
SETTINGS = [
    dict(gamma=0.0),
    dict(gamma=1.0),
    dict(gamma=5.0),
    dict(gamma=50.0, fit_intercept=False),
    dict(gamma=5.0, alpha=0.1),  # ridge
    dict(gamma=5.0, alpha=0.05, l1_ratio=0.5),  # elastic net
    dict(gamma=2.0, alpha=0.01, l1_ratio=1.0),  # lasso
]


def _assert_anchor_equal(remote, local):
    # Elastic net: the same coordinate-descent iterates up to rounding (the
    # same number of sweeps), so equal well within the solver's tolerance.
    assert_allclose(remote.coef_, local.coef_, rtol=RTOL, atol=0)
    assert_allclose(remote.intercept_, local.intercept_, rtol=RTOL, atol=0)
    assert_allclose(remote.objective_, local.objective_, rtol=RTOL, atol=0)
    assert (remote.solver_, remote.n_iter_, remote.n_anchors_) == (
        local.solver_, local.n_iter_, local.n_anchors_)
    assert_array_equal(remote.environments_, local.environments_)


def test_anchor_on_a_dask_dataframe_with_anchor_columns(dask_scheduler, data):
    frame, names, _ = data
    columns = names + ["env", "a"]
    ddf = _ddf(frame)
    for i, setting in enumerate([SETTINGS[2], SETTINGS[5]]):
        params = dict(environment_column="env", anchor_columns=["a"], **setting)
        local = AnchorRegression(**params).fit(frame[columns], frame["y"],
                                               sample_weight=frame["w"])
        with task_stream(dask_scheduler) as stream:
            remote = AnchorRegression(**params).fit(ddf[columns], ddf["y"],
                                                    sample_weight=ddf["w"])
        assert i or ran_on_the_workers(dask_scheduler, stream)
        _assert_anchor_equal(remote, local)
    assert remote.n_anchors_ == 4  # three environments and one continuous anchor
    prediction = remote.predict(ddf[columns])
    assert isinstance(prediction, dd.Series)
    assert_allclose(prediction.compute().to_numpy(), local.predict(frame[columns]),
                    rtol=RTOL, atol=1e-12)


def test_anchor_on_dask_arrays_with_routed_environments_anchors_and_weights(
        dask_scheduler, data):
    frame, names, _ = data
    X, y = frame[names].to_numpy(), frame["y"].to_numpy()
    env, anchors, w = frame["env"].to_numpy(), frame[["a"]].to_numpy(), frame["w"].to_numpy()
    local = AnchorRegression().fit(X, y, environments=env, anchors=anchors,
                                   sample_weight=w)
    remote = AnchorRegression().fit(_darr(X), _darr(y), environments=_darr(env),
                                    anchors=_darr(anchors), sample_weight=_darr(w))
    _assert_anchor_equal(remote, local)
    prediction = remote.predict(_darr(X))
    assert isinstance(prediction, da.Array) and prediction.chunks[0] == CHUNKS
    assert_allclose(prediction.compute(), local.predict(X), rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(
    f"{k}={v}" for k, v in s.items()))
def test_anchor_settings_on_dask_equal_in_memory(data, setting):
    frame, names, _ = data
    X, y = frame[names].to_numpy(), frame["y"].to_numpy()
    env, anchors, w = frame["env"].to_numpy(), frame["a"].to_numpy(), frame["w"].to_numpy()
    with dask.config.set(scheduler="sync"):
        for weights in (None, w):
            local = AnchorRegression(**setting).fit(
                X, y, environments=env, anchors=anchors, sample_weight=weights)
            remote = AnchorRegression(**setting).fit(
                _darr(X), _darr(y), environments=_darr(env), anchors=_darr(anchors),
                sample_weight=None if weights is None else _darr(weights))
            _assert_anchor_equal(remote, local)


def test_anchor_on_dask_collinear_predictors_give_the_minimum_norm_solution(data):
    frame, names, _ = data
    X = frame[names].to_numpy()
    X = np.column_stack([X, X[:, 0] + X[:, 1], 2 * X[:, 2]])  # rank 6 of 8
    y, env = frame["y"].to_numpy(), frame["env"].to_numpy()
    with _synchronous():
        for gamma in (0.0, 5.0):
            local = AnchorRegression(gamma=gamma).fit(X, y, environments=env)
            remote = AnchorRegression(gamma=gamma).fit(_darr(X), _darr(y),
                                                       environments=_darr(env))
            _assert_anchor_equal(remote, local)


@pytest.mark.parametrize("exponent", [0, 20, 30])
def test_penalised_anchor_on_dask_with_predictors_of_different_scales(exponent):
    """A ridge-penalised fit stays in the data's units, where one predictor
    may be 2**30 times another. Its coefficients equal the ridge solution of
    the anchor-transformed rows (normal equations written out with numpy,
    columns brought to unit scale) and the in-memory fit, to the problem's
    rounding, in units of each column's spread. (The dask route once factored the Gram matrix unscaled: the
    small predictors' directions fell under its rounding floor, and x0's
    coefficient came out 1e-20 instead of 1.53 at 2**30.)"""
    rng = np.random.default_rng(12)
    env = np.repeat([0.0, 1.0], 60)
    noise, hidden = rng.normal(size=(120, 3)), rng.normal(size=120)
    X = np.column_stack([1.5 * env + noise[:, 0] + hidden + rng.normal(size=120),
                         -env + 0.5 * noise[:, 1] + rng.normal(size=120),
                         rng.normal(size=120) + noise[:, 2]])
    y = 2 + X @ [1.0, -0.5, 0.25] + 2 * hidden + rng.normal(size=120)
    X[:, 2] *= 2.0**exponent / np.abs(X[:, 2]).max()
    gamma, alpha, n = 2.0, 0.3, 120
    # (I - s P) on centred rows, P the projection on the centred environment.
    a = env - env.mean()
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    shrink = 1 - np.sqrt(gamma)
    Xs = Xc - shrink * np.outer(a, a @ Xc) / (a @ a)
    ys = yc - shrink * a * (a @ yc) / (a @ a)
    scale = np.sqrt((Xs**2).sum(axis=0))
    lhs = (Xs.T @ Xs + alpha * n * np.eye(3)) / np.outer(scale, scale)
    expected = np.linalg.solve(lhs, Xs.T @ ys / scale) / scale
    local = AnchorRegression(gamma=gamma, alpha=alpha).fit(X, y, environments=env)
    with _synchronous():
        remote = AnchorRegression(gamma=gamma, alpha=alpha).fit(
            da.from_array(X, chunks=(50, 3)), da.from_array(y, chunks=50),
            environments=da.from_array(env, chunks=50))
    # Compared in units of each column's spread. This reference agrees with
    # a 60-digit one to 3e-14. Both routes solve in the data's units, which
    # is backward stable there: their error grows with the scales' ratio
    # (measured: 4e-7 of x2's coefficient on both routes at 2**20 and 2**30,
    # 1e-8 of the largest coefficient at 2**30).
    tolerance = (1e-12 + 2.0**exponent * 1e-14) * np.abs(expected * scale).max()
    for fitted in (local, remote):
        assert_allclose(fitted.coef_ * scale, expected * scale, rtol=0, atol=tolerance)


def test_icp_on_dask_without_environments_keeps_every_feature(data):
    frame, names, _ = data
    ddf = _ddf(frame)
    with pytest.warns(NoEnvironmentsWarning), _synchronous():
        remote = InvariantCausalPrediction().fit(ddf[names], ddf["y"])
    assert remote.support_.all() and remote.environments_ is None
    assert list(remote.transform(ddf[names]).columns) == names


def test_anchor_on_dask_without_anchors_is_least_squares(data):
    frame, names, _ = data
    ddf = _ddf(frame)
    with pytest.warns(NoEnvironmentsWarning):
        local = AnchorRegression(alpha=0.1).fit(frame[names], frame["y"])
    with pytest.warns(NoEnvironmentsWarning), dask.config.set(scheduler="sync"):
        remote = AnchorRegression(alpha=0.1).fit(ddf[names], ddf["y"])
    _assert_anchor_equal(remote, local)
    assert remote.environments_ is None and remote.n_anchors_ == 0


def test_anchor_on_dask_refuses_and_raises_clearly(dask_scheduler, data):
    frame, names, _ = data
    ddf = _ddf(frame)
    X, y, env = ddf[names], ddf["y"], ddf["env"]
    with pytest.raises(ValueError, match="solver='cvxpy' states the program on the rows"):
        AnchorRegression(solver="cvxpy").fit(X, y, environments=env)
    with pytest.raises(TypeError, match="X is a dask collection but sample_weight"):
        AnchorRegression().fit(X, y, environments=env, sample_weight=frame["w"].to_numpy())
    with pytest.raises(ValueError, match="anchors must be numeric"):
        AnchorRegression().fit(X, y, anchors=env)
    bad = frame.assign(w=frame["w"].where(frame.index != 2500))
    with pytest.raises(ValueError, match="^sample_weight has NaN or infinite values"):
        AnchorRegression().fit(X, y, environments=env, sample_weight=_ddf(bad)["w"])
    with _synchronous():
        negative = frame.assign(w=frame["w"] - 1.0)
        with pytest.raises(ValueError, match="^sample_weight has negative values"):
            AnchorRegression().fit(X, y, environments=env,
                                   sample_weight=_ddf(negative)["w"])
        bad = frame.assign(a=frame["a"].where(frame.index != 100))
        with pytest.raises(ValueError, match=r"X\[\['a'\]\] \(anchor_columns\) has NaN"):
            AnchorRegression(anchor_columns=["a"]).fit(_ddf(bad)[names + ["a"]], y)
        # A failed fit leaves a fitted estimator as it was.
        model = AnchorRegression().fit(X, y, environments=env)
        coef = model.coef_.copy()
        with pytest.raises(ValueError, match="not aligned"):
            model.fit(X, y, environments=env.repartition(npartitions=2))
        assert_array_equal(model.coef_, coef)
    # predict checks the columns at once, and is lazy.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(model.predict(X), dd.Series)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(ddf[names[::-1]])
    assert isinstance(model.predict(frame[names]), np.ndarray)
