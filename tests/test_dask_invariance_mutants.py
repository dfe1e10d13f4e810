"""Tests that kill the survivors of mutation testing of the dask routes of
the invariance estimators (issue 17, ``benchmarks/run_mutation.py --modules
icp anchor``): ``InvariantCausalPrediction._fit_dask`` and
``_transform_dask``, ``AnchorRegression._fit_dask`` and the partition-wise
statistics they sum.

The oracles: the documented claim that a dask fit equals the in-memory fit
of the same rows (to 1e-10), the in-memory transform's values and dtype,
the stated row requirements and messages, and, for anchor regression, the
normal equations of the objective stated on the rows (``I + (gamma - 1) P``,
``P`` the projection on the weighted, centred anchors). Everything runs on
dask's synchronous scheduler, in this process, on a few hundred rows.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.exceptions import ModelRejectedWarning, NoEnvironmentsWarning
from skcausal_trust.invariance import InvariantCausalPrediction

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

RTOL = 1e-10


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="sync"):
        yield


@pytest.fixture(scope="module")
def icp_data():
    """Two environments of 60 rows; x1 the parent of y among 3 predictors."""
    X, y, env, parents = make_invariant_regression(
        60, 2, n_ancestors=1, n_parents=1, n_children=1, random_state=1)
    return X, y, env, parents


def _assert_icp_equal(remote, local, rtol=RTOL):
    assert list(remote.subset_pvalues_) == list(local.subset_pvalues_)
    assert_allclose(list(remote.subset_pvalues_.values()),
                    list(local.subset_pvalues_.values()), rtol=rtol, atol=0)
    assert remote.accepted_subsets_ == local.accepted_subsets_
    assert_array_equal(remote.support_, local.support_)
    assert_allclose(remote.pvalues_, local.pvalues_, rtol=rtol, atol=0)
    assert_allclose(remote.confidence_intervals_, local.confidence_intervals_,
                    rtol=rtol, atol=0)
    assert_array_equal(remote.environments_, local.environments_)


# --------------------------------------------------------------------------
# InvariantCausalPrediction._fit_dask
# --------------------------------------------------------------------------
@pytest.mark.parametrize("column", [1, -3])
def test_icp_dask_two_environments_in_a_column_given_by_position(icp_data, column):
    """Two environments (the fewest allowed), their labels in a column of a
    dask array named by its position, and a target far from 0: the
    in-memory fit, its intervals included."""
    X, y, env, parents = icp_data
    Xa = np.column_stack([X.to_numpy()[:, :1], (env == "e1").astype(float),
                          X.to_numpy()[:, 1:]])
    y = y + 1000.0  # centring changes y's power of two: the intervals depend on it
    local = InvariantCausalPrediction(environment_column=column).fit(Xa, y)
    remote = InvariantCausalPrediction(environment_column=column).fit(
        da.from_array(Xa, chunks=(50, 4)), da.from_array(y, chunks=50))
    _assert_icp_equal(remote, local)
    assert list(remote.environments_) == [0.0, 1.0]
    assert list(remote.get_feature_names_out()) == ["x2"]  # x1 of X, after the labels


def _small_environment_frame(icp_data, rows_b):
    """Environments "a" (60 rows) and "b" (``rows_b`` rows of e1, split
    over two partitions), and "c" (60 rows)."""
    X, y, env, _ = icp_data
    b = np.flatnonzero(env == "e1")[:rows_b]
    a = np.flatnonzero(env == "e0")
    rng = np.random.default_rng(0)
    c = rng.normal(size=(60, 3))
    frame = pd.concat([
        X.iloc[a].assign(env="a", y=y[a]),
        X.iloc[b].assign(env="b", y=y[b]),
        pd.DataFrame(c, columns=X.columns).assign(env="c", y=c @ [0.0, 1.0, 0.0]
                                                  + rng.normal(size=60)),
    ], ignore_index=True)
    n = len(frame)
    divisions = [0, 62, n - 1] if rows_b > 2 else [0, 61, n - 1]
    return frame, dd.from_pandas(frame, npartitions=1).repartition(divisions=divisions)


def test_icp_dask_counts_an_environment_over_partitions_at_the_minimum(icp_data):
    """3 predictors need 5 rows per environment: "b" with 5 rows, split over
    two partitions (2 + 3), is enough, as in memory; with 4 the error names
    it, its count, the minimum and where the labels came from."""
    columns = ["x0", "x1", "x2", "env"]
    frame, ddf = _small_environment_frame(icp_data, 5)
    assert (frame["env"].iloc[:62] == "b").sum() == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        local = InvariantCausalPrediction(environment_column="env").fit(
            frame[columns], frame["y"])
        remote = InvariantCausalPrediction(environment_column="env").fit(
            ddf[columns], ddf["y"])
    _assert_icp_equal(remote, local, rtol=1e-8)
    frame, ddf = _small_environment_frame(icp_data, 4)
    message = (r"^X\['env'\] \(environment_column\): environments \{'b': 4\} have fewer "
               r"than 5 rows \(predictors \+ 2, with subsets of up to 3 predictors\)")
    with pytest.raises(ValueError, match=message):
        InvariantCausalPrediction(environment_column="env").fit(frame[columns], frame["y"])
    with pytest.raises(ValueError, match=message):
        InvariantCausalPrediction(environment_column="env").fit(ddf[columns], ddf["y"])


def test_icp_dask_refuses_targets_and_columns_it_cannot_use(icp_data):
    X, y, env, _ = icp_data
    Xd = da.from_array(X.to_numpy(), chunks=(50, 3))
    envd = da.from_array(env.astype(object), chunks=50)
    with pytest.raises(ValueError, match=r"^y must be 1-dimensional; got 2 columns\.$"):
        InvariantCausalPrediction().fit(Xd, da.from_array(np.column_stack([y, y]),
                                                          chunks=(50, 2)), environments=envd)
    with pytest.raises(ValueError, match=r"^y is a 3-D dask array; expected 1-D or 2-D\.$"):
        InvariantCausalPrediction().fit(Xd, da.from_array(y.reshape(-1, 1, 1), chunks=50),
                                        environments=envd)
    frame = dd.from_pandas(X.assign(env=env, label=np.where(y > 0, "up", "down")),
                           npartitions=2)
    with pytest.raises(ValueError, match=r"^y must be numeric for the linear tests; got "
                                         r"dtype \w+\.$"):
        InvariantCausalPrediction().fit(frame[list(X.columns)], frame["label"],
                                        environments=frame["env"])
    with pytest.raises(ValueError, match=r"^environment_column='env' names every column of "
                                         "X"):
        InvariantCausalPrediction(environment_column="env").fit(frame[["env"]],
                                                                 da.from_array(y, chunks=60))
    with pytest.warns(NoEnvironmentsWarning, match="^InvariantCausalPrediction was fitted "
                                                   "without environments"):
        InvariantCausalPrediction().fit(Xd, da.from_array(y, chunks=50))


# --------------------------------------------------------------------------
# InvariantCausalPrediction._transform_dask
# --------------------------------------------------------------------------
def test_icp_dask_transform_keeps_the_columns_dtype_and_checks_the_columns(icp_data):
    X, y, env, parents = icp_data
    model = InvariantCausalPrediction().fit(X.to_numpy(), y, environments=env)
    assert list(model.get_feature_names_out()) == parents == ["x1"]
    X32 = X.to_numpy().astype(np.float32)
    out = model.transform(da.from_array(X32, chunks=(50, 3)))
    expected = model.transform(X32)
    assert expected.dtype == np.float32
    assert out.dtype == np.float32
    computed = out.compute()
    assert computed.dtype == np.float32
    assert_array_equal(computed, expected)
    with pytest.raises(ValueError, match="X has 4 features"):
        model.transform(da.from_array(np.column_stack([X32, X32[:, 0]]), chunks=(50, 4)))
    assert model.n_features_in_ == 3
    named = InvariantCausalPrediction().fit(X, y, environments=env)
    ddf = dd.from_pandas(X, npartitions=3)
    with pytest.raises(ValueError, match="feature names"):
        named.transform(ddf[["x2", "x1", "x0"]])
    assert list(named.feature_names_in_) == ["x0", "x1", "x2"]
    # Nullable (extension) float columns: their float values, also next to
    # a column of labels (where the in-memory transform gives objects).
    nullable = dd.from_pandas(X.astype("Float64"), npartitions=3)
    computed = named.transform(nullable).compute()
    assert list(computed.dtypes) == [np.dtype(float)]
    assert_array_equal(computed.to_numpy(), X[["x1"]].to_numpy())
    labelled = InvariantCausalPrediction(environment_column="env").fit(X.assign(env=env), y)
    nullable = dd.from_pandas(X.astype("Float64").assign(env=env), npartitions=3)
    computed = labelled.transform(nullable).compute()
    assert list(computed.dtypes) == [np.dtype(float)]
    assert_array_equal(computed.to_numpy(), X[["x1"]].to_numpy())


def test_icp_dask_transform_of_a_rejected_model_has_no_column(icp_data):
    X, y, env, _ = icp_data
    y = y + 8.0 * (env == "e1") * np.sign(y)  # the target's own mechanism shifts
    with pytest.warns(ModelRejectedWarning):
        model = InvariantCausalPrediction().fit(X.to_numpy(), y, environments=env)
    assert not model.support_.any()
    with pytest.warns(UserWarning, match="No features were selected"):
        out = model.transform(da.from_array(X.to_numpy(), chunks=(50, 3))).compute()
    assert out.shape == (len(y), 0) and out.dtype == np.float64


def test_icp_dask_rejected_model_warns_and_selects_nothing(icp_data):
    """Every subset rejected on dask: the warning, nothing selected, the
    p-values 1 and the intervals NaN. (Where the warning points is not
    checked: mutation testing's trampolines add frames.)"""
    X, y, env, _ = icp_data
    y = y + 8.0 * (env == "e1") * np.sign(y)
    with pytest.warns(ModelRejectedWarning, match="rejected all 8 subsets"):
        model = InvariantCausalPrediction().fit(
            da.from_array(X.to_numpy(), chunks=(50, 3)), da.from_array(y, chunks=50),
            environments=da.from_array(env.astype(object), chunks=50))
    assert model.model_rejected_ and not model.support_.any()
    assert (model.pvalues_ == 1).all() and np.isnan(model.confidence_intervals_).all()


# --------------------------------------------------------------------------
# The target's kind, read partition by partition (_TargetValues)
# --------------------------------------------------------------------------
BINARY = r"^y has two values \[0\.0, 1\.0\]: with target_type='auto' it is a binary target"
MULTICLASS = r"^y must be continuous or binary with target_type='auto'; got a multiclass"


@pytest.mark.parametrize("chunks, kind", [
    ((40, 0, 40, 40), "binary"),  # 0 only, none (an empty partition), both, 1 only
    ((50, 70), "binary"),  # one value per partition: 0 in the first, 1 in the second
    ((50, 70), "multiclass"),  # 0, 1 in the first, 1, 2 in the second: 3 in all
    ((120,), "multiclass"),  # 3 values in one partition
])
def test_icp_dask_reads_a_float_target_of_integers_as_in_memory(icp_data, chunks, kind):
    """A float y holding integers is a binary target with two values and a
    multiclass one with more (as scikit-learn's type_of_target reads it),
    however they fall in the partitions; each is refused with target_type=
    'auto' on dask, with its own message."""
    from sklearn.utils.multiclass import type_of_target

    X, _, env, _ = icp_data
    values = np.r_[np.zeros(50), np.ones(70)]
    if kind == "multiclass":
        values[40:50] = 1.0
        values[-10:] = 2.0
    assert type_of_target(values) == kind
    expected = BINARY if kind == "binary" else MULTICLASS
    with pytest.raises(ValueError, match=expected):
        InvariantCausalPrediction().fit(da.from_array(X.to_numpy(), chunks=(chunks, 3)),
                                        da.from_array(values, chunks=(chunks,)),
                                        environments=da.from_array(env.astype(object),
                                                                   chunks=(chunks,)))


def test_icp_dask_target_at_1e300_is_continuous_without_warning(icp_data):
    """Values beyond the integers' range are not cast with a warning (as
    type_of_target reads them): a continuous target, the in-memory fit."""
    X, y, env, _ = icp_data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        local = InvariantCausalPrediction().fit(X.to_numpy(), y * 1e300, environments=env)
        remote = InvariantCausalPrediction().fit(
            da.from_array(X.to_numpy(), chunks=(50, 3)), da.from_array(y * 1e300, chunks=50),
            environments=da.from_array(env.astype(object), chunks=50))
    _assert_icp_equal(remote, local)


# --------------------------------------------------------------------------
# AnchorRegression._fit_dask against the normal equations on the rows
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def anchor_data():
    """Two environments of 60 rows shifting x0 and x1, three continuous
    anchors, a hidden confounder of x0 and y; weights 0.5 in the first
    environment and 1.5 in the second (their total is the row count, but
    not their shares)."""
    rng = np.random.default_rng(12)
    env = np.repeat([0.0, 1.0], 60)
    A = rng.normal(size=(120, 3))
    h = rng.normal(size=120)
    x0 = 1.5 * env + A[:, 0] + h + rng.normal(size=120)
    x1 = -env + 0.5 * A[:, 1] + rng.normal(size=120)
    x2 = rng.normal(size=120) + A[:, 2]
    y = 2.0 + x0 - 0.5 * x1 + 0.25 * x2 + 2.0 * h + rng.normal(size=120)
    w = np.where(env == 0, 0.5, 1.5)
    return np.column_stack([x0, x1, x2]), y, env, A, w


def _anchor_by_normal_equations(X, y, env, anchors, w, gamma):
    """coef and intercept minimising (t - D theta)' M (t - D theta) with
    D = sqrt(w) [1, X], t = sqrt(w) y, M = I + (gamma - 1) P and P the
    projection on sqrt(w) times the weighted-centred [one-hot env, anchors]."""
    root = np.sqrt(w)
    A = np.column_stack([(env[:, None] == np.unique(env)).astype(float), anchors])
    As = root[:, None] * (A - np.average(A, axis=0, weights=w))
    M = np.eye(len(y)) + (gamma - 1.0) * As @ np.linalg.pinv(As)
    D = root[:, None] * np.column_stack([np.ones(len(y)), X])
    theta = np.linalg.solve(D.T @ M @ D, D.T @ M @ (root * y))
    return theta[1:], theta[0]


def test_anchor_dask_positions_two_environments_and_anchors_from_both_sources(anchor_data):
    """The labels (two environments) and one anchor as columns of a dask
    array named by position, two more anchors routed, weights whose
    environments' shares are not their row shares: the normal equations;
    the same for weights 1000 times smaller (a total below 1)."""
    from skcausal_trust.invariance import AnchorRegression

    X, y, env, A, w = anchor_data
    Xa = np.column_stack([X[:, 0], env, X[:, 1], A[:, 0], X[:, 2]])
    coef, intercept = _anchor_by_normal_equations(X, y, env, A, w, 4.0)
    for scale in (1.0, 1e-3):
        fit = AnchorRegression(gamma=4.0, environment_column=1, anchor_columns=[3]).fit(
            da.from_array(Xa, chunks=(50, 5)), da.from_array(y, chunks=50),
            anchors=da.from_array(A[:, 1:], chunks=(50, 2)),
            sample_weight=da.from_array(w * scale, chunks=50))
        assert_allclose(fit.coef_, coef, rtol=1e-9)
        assert fit.intercept_ == pytest.approx(intercept, rel=1e-9)
    assert fit.n_anchors_ == 5 and list(fit.environments_) == [0.0, 1.0]
    assert (fit.solver_, fit.solver_status_, fit.n_iter_) == ("lstsq", "optimal", 1)


def test_anchor_dask_penalised_accepts_a_peak_at_the_bound_in_several_partitions(anchor_data):
    """With a penalty a predictor's largest magnitude may be 2**400: here
    column x2 reaches it in every partition (the partitions' peaks are
    combined by their maximum, not added); the in-memory fit. (Every
    predictor is at that scale here; for predictors of very different
    scales with a penalty, see test_dask_invariance.py.)"""
    from skcausal_trust.invariance import AnchorRegression

    X, y, env, _, _ = anchor_data
    Xb = X / np.abs(X).max(axis=0) * 2.0**400
    Xb[[0, 55, 110], 2] = 2.0**400
    local = AnchorRegression(gamma=2.0, alpha=0.3).fit(Xb, y, environments=env)
    remote = AnchorRegression(gamma=2.0, alpha=0.3).fit(
        da.from_array(Xb, chunks=(50, 3)), da.from_array(y, chunks=50),
        environments=da.from_array(env, chunks=50))
    assert_allclose(remote.coef_, local.coef_, rtol=1e-9)
    assert remote.intercept_ == pytest.approx(local.intercept_, rel=1e-9)
    assert (remote.solver_, remote.solver_status_) == ("ridge", "optimal")


def test_anchor_dask_refuses_with_messages_naming_the_argument(anchor_data):
    from skcausal_trust.invariance import AnchorRegression

    X, y, env, A, w = anchor_data
    frame = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "env": env, "a": A[:, 0],
                          "s": np.where(y > 0, "p", "n"), "y": y, "w": w})
    ddf = dd.from_pandas(frame, npartitions=3)
    Xd, yd = da.from_array(X, chunks=(50, 3)), da.from_array(y, chunks=50)
    envd = da.from_array(env, chunks=50)

    def refused(message, *args, **params):
        fit_params = {k: params.pop(k) for k in list(params)
                      if k in ("environments", "anchors", "sample_weight")}
        with pytest.raises(ValueError, match=message):
            AnchorRegression(**params).fit(*args, **fit_params)

    refused(r"^anchor_columns repeats the environment_column\.$", ddf[["x0", "env"]],
            ddf["y"], environment_column="env", anchor_columns=["env"])
    refused(r"^X\[\['s'\]\] \(anchor_columns\) must be numeric \(continuous anchors\); "
            r"pass labels as environments instead\.$", ddf[["x0", "s"]], ddf["y"],
            anchor_columns=["s"])
    refused(r"^anchor_columns='nope' is not a column of X", ddf[["x0", "x1"]], ddf["y"],
            anchor_columns=["nope"])
    refused(r"^X has no predictor left after removing the environment and anchor "
            r"columns\.$", ddf[["env", "a"]], ddf["y"], environment_column="env",
            anchor_columns=["a"])
    refused(r"non-numeric .*\['s'\]", ddf[["x0", "s"]], ddf["y"], environments=ddf["env"])
    refused(r"^y must be 1-dimensional; got 2 columns\.$", Xd,
            da.from_array(np.column_stack([y, y]), chunks=(50, 2)), environments=envd)
    refused(r"^sample_weight must be 1-dimensional; got 2 columns\.$", Xd, yd,
            environments=envd, sample_weight=da.from_array(np.column_stack([w, w]),
                                                           chunks=(50, 2)))
    refused(r"^y is a 3-D dask array", Xd, da.from_array(y.reshape(-1, 1, 1), chunks=50),
            environments=envd)
    refused(r"^anchors must be numeric \(continuous anchors\); pass labels as "
            r"environments instead\.$", ddf[["x0", "x1"]], ddf["y"], anchors=ddf["s"])
    refused(r"^sample_weight must be numeric\.$", ddf[["x0", "x1"]], ddf["y"],
            environments=ddf["env"], sample_weight=ddf["s"])
    empty = da.from_array(np.zeros((0, 3)), chunks=(0, 3))
    refused(r"^X has no rows \(0 samples\); nothing to fit\.$", empty,
            da.from_array(np.zeros(0), chunks=0), environments=da.from_array(
                np.zeros(0), chunks=0))
    refused(r"^sample_weight: every weight is zero; nothing to fit\.$", Xd, yd,
            environments=envd, sample_weight=da.from_array(np.zeros(120), chunks=50))
    huge = X.copy()
    huge[:2, 0] = 1e308
    with np.errstate(over="ignore"):
        refused(r"^the weighted sums of \[X, y, anchors\] overflow", da.from_array(
            huge, chunks=(50, 3)), yd, environments=envd)
    nan = X.copy()
    nan[70, 1] = np.nan
    refused(r"^X has NaN or infinite values", da.from_array(nan, chunks=(50, 3)), yd,
            environments=envd)
    refused(r"^y has NaN or infinite values", Xd, da.from_array(np.r_[y[:-1], np.inf],
                                                                chunks=50), environments=envd)
    refused(r"^anchors has NaN or infinite values", Xd, yd,
            anchors=da.from_array(np.r_[A[:-1, 0], np.nan], chunks=50))
    refused(r"^environments has 1 missing value", ddf[["x0", "x1"]], ddf["y"],
            environments=dd.from_pandas(frame["env"].where(frame.index != 3), npartitions=3))
    with pytest.warns(NoEnvironmentsWarning, match="^AnchorRegression was fitted without "
                                                   "anchors"):
        AnchorRegression().fit(Xd, yd)
