"""Larger than memory: the linear SCM and the counterfactual estimators fit
on dask collections, partition by partition, with the in-memory result.

The equality tests run twice (the fixture ``dask_scheduler``): on dask's
synchronous scheduler, and, marked slow, on a two-worker LocalCluster on
loopback, where the partition statistics are computed in other processes and
only they come back. Weights, paths and refusals run on the synchronous
scheduler (``dask_sync``).
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from conftest import ran_on_the_workers, task_stream

from skcausal_trust.causal import LinearSCM

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

RTOL = 1e-10


def _sizes(ddf):
    return tuple(ddf.map_partitions(len).compute().tolist())


def _unequal(frame, cuts):
    """A dask dataframe whose partitions have unequal sizes (``cuts`` are the
    first row of each partition after the first)."""
    return dd.from_pandas(frame, npartitions=1).repartition(
        divisions=[0, *cuts, len(frame) - 1]).persist()


@pytest.fixture(scope="module")
def scm_data():
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.choice(["f", "m"], n)
    r = rng.choice(["x", "y", "z"], n)
    # x sits far from 0: the mid-range offsets keep its digits.
    x = 1e3 + 2.0 * (a == "m") + rng.normal(size=n)
    z = 0.5 * x - (r == "y") + rng.normal(size=n)
    frame = pd.DataFrame({"a": pd.Categorical(a), "r": r, "x": x, "z": z})
    return frame, rng.uniform(0.1, 3.0, n)


GRAPH = [("a", "x"), ("x", "z"), ("r", "z")]


def _assert_same_scm(dask_scm, scm):
    assert {v: list(c) for v, c in dask_scm.categories_.items()} == {
        v: list(c) for v, c in scm.categories_.items()}
    for v, eq in scm.equations_.items():
        for key in ("intercept", "coef", "noise_scale"):
            assert_allclose(dask_scm.equations_[v][key], eq[key], rtol=RTOL, atol=1e-12)
    for v, root in scm.roots_.items():
        for key, value in root.items():
            assert_allclose(dask_scm.roots_[v][key], value, rtol=RTOL)


def test_scm_fit_on_a_dask_dataframe_equals_the_in_memory_fit(dask_scheduler, scm_data):
    frame, weights = scm_data
    ddf = _unequal(frame, [400, 1700, 1750, 2600])
    assert ddf.npartitions == 5
    _assert_same_scm(LinearSCM(GRAPH).fit(ddf), LinearSCM(GRAPH).fit(frame))
    dw = da.from_array(weights, chunks=(_sizes(ddf),))
    _assert_same_scm(LinearSCM(GRAPH).fit(ddf, sample_weight=dw),
                     LinearSCM(GRAPH).fit(frame, sample_weight=weights))
    # The routed weights as a series of the same dataframe.
    with_w = ddf.assign(w=dd.from_pandas(pd.Series(weights), npartitions=1)
                        .repartition(divisions=ddf.divisions))
    _assert_same_scm(LinearSCM(GRAPH).fit(with_w, sample_weight=with_w["w"]),
                     LinearSCM(GRAPH).fit(frame, sample_weight=weights))


def test_integer_weights_on_dask_equal_repeated_rows(dask_sync, scm_data):
    frame, _ = scm_data
    counts = np.random.default_rng(1).integers(0, 4, len(frame))
    ddf = dd.from_pandas(frame, npartitions=4)
    dw = da.from_array(counts.astype(float), chunks=(_sizes(ddf),))
    repeated = frame.loc[frame.index.repeat(counts)].reset_index(drop=True)
    _assert_same_scm(LinearSCM(GRAPH).fit(ddf, sample_weight=dw),
                     LinearSCM(GRAPH).fit(repeated))


def test_scm_fit_on_dask_refuses_what_it_cannot_know(dask_sync, scm_data):
    frame, weights = scm_data
    unknown = dd.from_pandas(frame, npartitions=3)
    unknown["a"] = unknown["a"].cat.as_unknown()
    with pytest.raises(ValueError, match=r"data\['a'\] is a categorical column of "
                       "unknown categories"):
        LinearSCM(GRAPH).fit(unknown)
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(ValueError, match="not aligned: data 3, sample_weight 2 partitions"):
        LinearSCM(GRAPH).fit(ddf, sample_weight=da.from_array(weights, chunks=2000))
    with pytest.raises(ValueError, match="sample_weight must be a dask array or series"):
        LinearSCM(GRAPH).fit(ddf, sample_weight=weights)
    holed = frame.copy()
    holed.loc[2500, "z"] = np.nan
    fresh = LinearSCM(GRAPH)
    with pytest.raises(ValueError, match=r"data\['z'\] has 1 missing value"):
        fresh.fit(dd.from_pandas(holed, npartitions=3))
    assert not hasattr(fresh, "equations_")
    with pytest.raises(ValueError, match=r"causal graph nodes \[.r.\] are not columns of data"):
        LinearSCM(GRAPH).fit(ddf[["a", "x", "z"]])


# -- the counterfactual estimators ----------------------------------------

from scipy.linalg import null_space  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from skcausal_trust.causal import CausalGraph  # noqa: E402
from skcausal_trust.fairness import (  # noqa: E402
    CounterfactualResidualizer,
    CounterfactuallyFairClassifier,
    CounterfactuallyFairRegressor,
)

CF_GRAPH = CausalGraph([("a", "x1"), ("a", "x3"), ("x1", "x3"), ("r", "x3")],
                       nodes=["x2"])
FEATURES = ["x1", "x2", "x3"]


@pytest.fixture(scope="module")
def cf_data():
    """Two sensitive attributes (sex, a 3-level region), a feature far from
    0, a binary and a continuous target."""
    rng = np.random.default_rng(3)
    n = 3000
    a = rng.choice(["f", "m"], n)
    r = rng.choice(["n", "s", "w"], n)
    x1 = 1.0 * (a == "m") + rng.normal(size=n)
    x2 = 50.0 + rng.normal(size=n)
    x3 = 0.5 * x1 - 0.8 * (a == "m") + 0.6 * (r == "s") + rng.normal(size=n)
    score = x1 + (x2 - 50.0) + 0.5 * x3
    frame = pd.DataFrame({"a": a, "x1": x1, "x2": x2, "r": r, "x3": x3})
    label = np.where(score + rng.logistic(size=n) > 0.5, "yes", "no")
    return frame, label, score + rng.normal(size=n)


def _partitioned(frame, y, weights=None):
    ddf = _unequal(frame, [500, 1400, 1450, 2300])
    sizes = _sizes(ddf)
    out = [ddf, dd.from_pandas(pd.Series(y), npartitions=1).repartition(
        divisions=ddf.divisions).persist()]
    if weights is not None:
        out.append(da.from_array(np.asarray(weights, dtype=float), chunks=(sizes,)))
    return out


def _eliminated_newton(est, frame, y, weights=None, features=FEATURES):
    """An independent fit of the same problem: scikit-learn's Newton-Cholesky
    on the inputs projected on the directions' null space."""
    p = est.coef_.shape[1]
    N = null_space(est.counterfactual_directions_.reshape(-1, p))
    lr = LogisticRegression(C=est.C, solver="newton-cholesky", tol=1e-15, max_iter=100)
    lr.fit(frame[features].to_numpy() @ N, y, sample_weight=weights)
    return lr.coef_ @ N.T, lr.intercept_


@pytest.mark.parametrize("route", ["columns", "routed"])
def test_classifier_on_dask_equals_the_in_memory_fit(dask_scheduler, cf_data, route):
    frame, label, _ = cf_data
    weights = np.random.default_rng(4).uniform(0.5, 2.0, len(frame))
    ddf, dy, dw = _partitioned(frame, label, weights)
    if route == "columns":
        make = dict(sensitive_feature_ids=["a", "r"])
        mem_args, dask_args = (frame, label), (ddf, dy)
        mem_kw, dask_kw = {}, {}
    else:
        make = {}
        mem_args, dask_args = (frame[FEATURES], label), (ddf[FEATURES], dy)
        mem_kw = {"sensitive_features": frame[["a", "r"]]}
        dask_kw = {"sensitive_features": ddf[["a", "r"]]}
    with task_stream(dask_scheduler) as stream:
        est = CounterfactuallyFairClassifier(CF_GRAPH, **make).fit(
            *dask_args, sample_weight=dw, **dask_kw)
    assert ran_on_the_workers(dask_scheduler, stream)
    mem = CounterfactuallyFairClassifier(CF_GRAPH, tol=1e-12, max_iter=10_000, **make).fit(
        *mem_args, sample_weight=weights, **mem_kw)
    # The worlds (two attributes: 5 directions) from the partition statistics.
    assert est.counterfactual_directions_.shape == (1, 5, 3)
    assert_allclose(est.counterfactual_directions_, mem.counterfactual_directions_,
                    rtol=RTOL, atol=1e-12)
    assert list(est.classes_) == ["no", "yes"]
    assert est.solver_ == "newton (dask)" and est.solver_status_ == "converged"
    # Newton's solution against an independent one, to 1e-10...
    coef, intercept = _eliminated_newton(est, frame, label, weights)
    assert_allclose(est.coef_, coef, rtol=RTOL, atol=1e-12)
    assert_allclose(est.intercept_, intercept, rtol=RTOL)
    # ...and against the estimator in memory, to its L-BFGS precision.
    assert_allclose(est.coef_, mem.coef_, rtol=1e-6)
    assert_allclose(est.objective_, mem.objective_, rtol=1e-12)
    assert est.counterfactual_gap_ < 1e-12
    # predict and predict_proba: dask in, dask out, the in-memory values.
    X_mem, X_dask = mem_args[0], dask_args[0]
    proba = est.predict_proba(X_dask)
    assert isinstance(proba, dd.DataFrame) and list(proba.columns) == ["no", "yes"]
    assert_allclose(proba.compute().to_numpy(), est.predict_proba(X_mem), rtol=1e-12)
    labels = est.predict(X_dask)
    assert isinstance(labels, dd.Series)
    assert_array_equal(labels.compute().to_numpy(), est.predict(X_mem))


def test_classifier_integer_weights_on_dask_equal_repeated_rows(dask_sync, cf_data):
    frame, label, _ = cf_data
    counts = np.random.default_rng(5).integers(0, 3, len(frame))
    ddf, dy, dw = _partitioned(frame, label, counts)
    est = CounterfactuallyFairClassifier(CF_GRAPH, sensitive_feature_ids=["a", "r"]).fit(
        ddf, dy, sample_weight=dw)
    repeated = frame.loc[frame.index.repeat(counts)].reset_index(drop=True)
    ref = CounterfactuallyFairClassifier(CF_GRAPH, sensitive_feature_ids=["a", "r"]).fit(
        dd.from_pandas(repeated, npartitions=3),
        dd.from_pandas(pd.Series(np.repeat(label, counts)), npartitions=3))
    assert_allclose(est.coef_, ref.coef_, rtol=1e-9)
    assert_allclose(est.intercept_, ref.intercept_, rtol=1e-9)


def test_path_specific_classifier_on_dask(dask_sync, cf_data):
    frame, label, _ = cf_data
    ddf, dy = _partitioned(frame, label)
    kw = dict(sensitive_feature_ids="a", fair_paths=[("a", "x1")])
    graph = CausalGraph([("a", "x1"), ("a", "x3"), ("x1", "x3")], nodes=["x2"])
    est = CounterfactuallyFairClassifier(graph, **kw).fit(ddf.drop(columns="r"), dy)
    mem = CounterfactuallyFairClassifier(graph, **kw).fit(frame.drop(columns="r"), label)
    assert_allclose(est.counterfactual_directions_, mem.counterfactual_directions_,
                    rtol=RTOL)
    coef, _ = _eliminated_newton(est, frame, label)
    assert_allclose(est.coef_, coef, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("ids", [["a", "r"], "a"])
def test_relaxed_classifier_on_dask_runs_the_in_memory_solver(dask_sync, cf_data, ids):
    """epsilon > 0: the in-memory box (L-BFGS-B, one attribute) or polytope
    (SLSQP, two) solver, its loss and gradient summed over the partitions at
    each step: the same iterates, so the same model to rounding."""
    frame, label, _ = cf_data
    columns = FEATURES + (["a", "r"] if ids != "a" else ["a"])
    graph = CF_GRAPH if ids != "a" else CausalGraph(
        [("a", "x1"), ("a", "x3"), ("x1", "x3")], nodes=["x2"])
    ddf, dy = _partitioned(frame, label)
    kw = dict(sensitive_feature_ids=ids, epsilon=0.3, tol=1e-10, max_iter=5000)
    est = CounterfactuallyFairClassifier(graph, **kw).fit(ddf[columns], dy)
    mem = CounterfactuallyFairClassifier(graph, **kw).fit(frame[columns], label)
    assert est.solver_ == ("SLSQP (dask)" if ids != "a" else "L-BFGS-B (dask)")
    assert_allclose(est.coef_, mem.coef_, rtol=1e-8, atol=1e-12)
    assert_allclose(est.intercept_, mem.intercept_, rtol=1e-8)
    assert_allclose(est.objective_, mem.objective_, rtol=1e-12)
    # The constraints bind: the largest change of a score between levels is
    # epsilon (the counterfactual gap), as in memory.
    assert_allclose(est.counterfactual_gap_, 0.3, rtol=1e-6)


CLASSIFIER_CASES = {
    # name: (graph, sensitive_feature_ids, columns, epsilon)
    "exact": (CF_GRAPH, ["a", "r"], FEATURES + ["a", "r"], 0.0),
    "relaxed": (CausalGraph([("a", "x1"), ("a", "x3"), ("x1", "x3")], nodes=["x2"]), "a",
                FEATURES + ["a"], 0.3),
    # No input descends from the attribute: its directions are zero.
    "no descendant": (CausalGraph([("x1", "x3")], nodes=["a", "x2"]), "a",
                      FEATURES + ["a"], 0.0),
}


@pytest.mark.parametrize("case", list(CLASSIFIER_CASES))
def test_classifier_on_dask_sets_the_in_memory_attributes(dask_sync, cf_data, case):
    """Every fitted attribute the dask route sets as the in-memory fit does,
    at C != 1 (where a penalty of |w|^2 / (2C) and C |w|^2 / 2 differ)."""
    graph, ids, columns, epsilon = CLASSIFIER_CASES[case]
    frame, label, _ = cf_data
    ddf, dy = _partitioned(frame, label)
    kw = dict(sensitive_feature_ids=ids, epsilon=epsilon, C=0.05, tol=1e-10, max_iter=5000)
    est = CounterfactuallyFairClassifier(graph, **kw).fit(ddf[columns], dy)
    mem = CounterfactuallyFairClassifier(graph, **kw).fit(frame[columns], label)
    assert list(est.input_features_) == list(mem.input_features_) == FEATURES
    assert est.input_features_.dtype == object
    assert est.n_free_directions_ == mem.n_free_directions_
    assert est.solver_path_ == mem.solver_path_ == (
        "unconstrained" if case == "no descendant" else "fast")
    assert_allclose(est.coef_, mem.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(est.objective_, mem.objective_, rtol=1e-10)
    assert isinstance(est.n_iter_, int) and est.n_iter_ >= 1
    assert_allclose(est.counterfactual_gap_, mem.counterfactual_gap_, atol=1e-6)


def test_classifier_on_dask_warns_when_no_direction_is_free(dask_sync, cf_data):
    """Every input descends from the attribute and epsilon = 0: the model is
    constant, with the in-memory warning naming the estimator."""
    from skcausal_trust.exceptions import DegenerateConstraintWarning

    frame, label, _ = cf_data
    ddf, dy = _partitioned(frame, label)
    graph = CausalGraph([("a", "x1")])
    est = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a")
    with pytest.warns(DegenerateConstraintWarning,
                      match=r"^CounterfactuallyFairClassifier: the counterfactual "
                            r"constraints \(epsilon=0\) leave no free direction"):
        est.fit(ddf[["x1", "a"]], dy)
    assert est.n_free_directions_ == 0
    assert_allclose(est.coef_, 0.0, atol=1e-12)


@pytest.mark.parametrize("route", ["memory", "dask"])
def test_labels_of_mixed_types_are_refused_on_both_routes(dask_sync, cf_data, route):
    """Numbers beside strings do not sort: the same ValueError in memory
    (numpy's TypeError before) and on dask. (A dask dataframe column would
    turn them all into strings, dask's string conversion, before the
    estimator sees them; a dask array of objects keeps them.)"""
    from skcausal_trust.fairness import CausallyRobustFairClassifier

    frame, label, _ = cf_data
    mixed = np.asarray(label, dtype=object)
    mixed[2000:] = np.where(mixed[2000:] == "yes", 1, 0)
    X, y, estimators = frame, mixed, [CounterfactuallyFairClassifier,
                                      CausallyRobustFairClassifier]
    if route == "dask":
        X = _unequal(frame, [500, 1400, 1450, 2300])
        y = da.from_array(mixed, chunks=(_sizes(X),))
        estimators = [CounterfactuallyFairClassifier]
    for Est in estimators:
        with pytest.raises(ValueError, match=r"^y has labels of mixed types\.$"):
            Est(CF_GRAPH, sensitive_feature_ids=["a", "r"]).fit(X, y)


def test_classifier_on_dask_warns_its_fallback_without_an_attribute(dask_sync, cf_data):
    from skcausal_trust.exceptions import NoSensitiveFeaturesWarning

    frame, label, _ = cf_data
    ddf, dy = _partitioned(frame, label)
    with pytest.warns(NoSensitiveFeaturesWarning,
                      match="it falls back to unconstrained L2-regularised logistic "
                            "regression"):
        est = CounterfactuallyFairClassifier(CF_GRAPH).fit(ddf[FEATURES], dy)
    assert est.solver_path_ == "unconstrained"


@pytest.mark.parametrize("epsilon", [0.0, 0.2])
def test_regressor_on_dask_equals_the_in_memory_fit(dask_scheduler, cf_data, epsilon):
    frame, _, target = cf_data
    weights = np.random.default_rng(6).uniform(0.5, 2.0, len(frame))
    ddf, dy, dw = _partitioned(frame, target, weights)
    kw = dict(sensitive_feature_ids=["a", "r"], epsilon=epsilon, alpha=0.5)
    est = CounterfactuallyFairRegressor(CF_GRAPH, **kw).fit(ddf, dy, sample_weight=dw)
    mem = CounterfactuallyFairRegressor(CF_GRAPH, **kw).fit(frame, target,
                                                             sample_weight=weights)
    assert_allclose(est.coef_, mem.coef_, rtol=RTOL, atol=1e-12)
    assert_allclose(est.intercept_, mem.intercept_, rtol=RTOL)
    assert_allclose(est.objective_, mem.objective_, rtol=RTOL)
    assert est.solver_path_ == mem.solver_path_
    prediction = est.predict(ddf)
    assert isinstance(prediction, dd.Series)
    assert_allclose(prediction.compute().to_numpy(), est.predict(frame), rtol=1e-12)
    # A dask array in, a dask array out.
    sizes = _sizes(ddf)
    arr = da.from_array(frame[FEATURES].to_numpy(), chunks=(sizes, 3))
    graph = CausalGraph([("a", 0), ("a", 2), (0, 2), ("r", 2)], nodes=[1])
    # Integer-coded attributes (the same order of levels as the strings).
    codes = pd.DataFrame({"a": (frame["a"] == "m").astype(int),
                          "r": frame["r"].map({"n": 0, "s": 1, "w": 2})})
    coded = dd.from_pandas(codes, npartitions=1).repartition(divisions=ddf.divisions)
    on_array = CounterfactuallyFairRegressor(graph, epsilon=epsilon, alpha=0.5).fit(
        arr, da.from_array(target, chunks=(sizes,)), sensitive_features=coded,
        sample_weight=dw)
    assert list(on_array.sensitive_levels_[1]) == [0, 1]
    assert_allclose(on_array.coef_, mem.coef_, rtol=RTOL, atol=1e-12)
    out = on_array.predict(arr)
    assert isinstance(out, da.Array)
    assert_allclose(out.compute(), on_array.predict(frame[FEATURES].to_numpy()), rtol=1e-12)


def test_residualizer_on_dask_transforms_lazily(dask_scheduler, cf_data):
    frame, _, _ = cf_data
    ddf = _unequal(frame, [500, 1400, 1450, 2300])
    kw = dict(sensitive_feature_ids=["a", "r"])
    est = CounterfactualResidualizer(CF_GRAPH, **kw).fit(ddf)
    mem = CounterfactualResidualizer(CF_GRAPH, **kw).fit(frame)
    out = est.transform(ddf)
    assert isinstance(out, dd.DataFrame)
    assert list(out.columns) == list(mem.get_feature_names_out())
    assert_allclose(out.compute().to_numpy(), mem.transform(frame), rtol=1e-10, atol=1e-12)
    # Routed attributes, aligned dask series.
    routed = CounterfactualResidualizer(CF_GRAPH).fit(
        ddf[FEATURES], sensitive_features=ddf[["a", "r"]])
    lazy = routed.transform(ddf[FEATURES], sensitive_features=ddf[["a", "r"]])
    assert_allclose(lazy.compute().to_numpy(), mem.transform(frame), rtol=1e-10,
                    atol=1e-12)


def test_the_dask_route_refuses_what_it_cannot_do(dask_sync, cf_data):
    frame, label, target = cf_data
    ddf, dy = _partitioned(frame, label)
    kw = dict(sensitive_feature_ids=["a", "r"])
    with pytest.raises(ValueError, match="solver='cvxpy' states the program"):
        CounterfactuallyFairClassifier(CF_GRAPH, solver="cvxpy", **kw).fit(ddf, dy)
    encoded = dd.from_pandas(pd.get_dummies(frame.drop(columns="r"), columns=["a"],
                                            dtype=float), npartitions=3)
    with pytest.raises(ValueError, match=r"sensitive_feature_ids='a' names the one-hot "
                       r"columns \['a_f', 'a_m'\]; on a dask collection"):
        CounterfactuallyFairClassifier(CF_GRAPH, sensitive_feature_ids="a").fit(
            encoded, dd.from_pandas(pd.Series(label), npartitions=3))
    with pytest.raises(ValueError, match=r"X has non-numeric columns \['r'\]"):
        CounterfactuallyFairClassifier(CF_GRAPH, sensitive_feature_ids="a").fit(ddf, dy)
    with pytest.raises(ValueError, match="sensitive_features must be a dask"):
        CounterfactuallyFairRegressor(CF_GRAPH).fit(ddf[FEATURES], dy,
                                                    sensitive_features=frame["a"])
    with pytest.raises(ValueError, match="y must be a dask Series or array"):
        CounterfactuallyFairRegressor(CF_GRAPH, **kw).fit(ddf, target)
    holed = frame.copy()
    holed.loc[1700, "x3"] = np.inf
    fresh = CounterfactuallyFairRegressor(CF_GRAPH, **kw)
    with pytest.raises(ValueError, match=r"X has NaN or infinite values in columns \['x3'\]"):
        fresh.fit(*_partitioned(holed, target))
    assert not hasattr(fresh, "coef_")
    misaligned = dd.from_pandas(pd.Series(target), npartitions=2)
    with pytest.raises(ValueError, match="not aligned"):
        CounterfactuallyFairRegressor(CF_GRAPH, **kw).fit(ddf, misaligned)


@pytest.mark.parametrize("Est, argument", [
    (Est, argument)
    for Est in [CounterfactuallyFairClassifier, CounterfactuallyFairRegressor,
                CounterfactualResidualizer]
    for argument in ["y", "sensitive_features", "sample_weight"]
    # The residualizer never reads y.
    if (Est, argument) != (CounterfactualResidualizer, "y")])
def test_in_memory_x_with_a_dask_partner_is_a_type_error(cf_data, Est, argument):
    """X in memory with a dask y, attribute or weights: refused before any
    computation, as ICP and anchor regression refuse it (it used to be
    computed whole and fitted in memory)."""
    frame, label, target = cf_data
    y = label if Est is CounterfactuallyFairClassifier else target
    given = {"y": y, "sensitive_features": frame[["a", "r"]],
             "sample_weight": np.ones(len(frame))}
    as_dask = {"y": dd.from_pandas(pd.Series(y), npartitions=3),
               "sensitive_features": dd.from_pandas(frame[["a", "r"]], npartitions=3),
               "sample_weight": da.ones(len(frame), chunks=1000)}
    given[argument] = as_dask[argument]
    est = Est(CF_GRAPH)
    with dask.config.set(scheduler=_never_computed):
        with pytest.raises(TypeError, match=rf"^{argument} is a dask collection but X is "
                                            "not: pass X as a dask array or dataframe"):
            est.fit(frame[FEATURES], given.pop("y"), **given)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


def _never_computed(*args, **kwargs):
    raise AssertionError("a dask collection was computed")


def test_counterfactual_unfairness_on_dask_equals_the_in_memory_value(dask_scheduler, cf_data):
    from skcausal_trust.fairness import counterfactual_unfairness

    frame, label, _ = cf_data
    weights = np.random.default_rng(7).uniform(0.0, 2.0, len(frame))
    ddf, dy, dw = _partitioned(frame, label, weights)
    clf = LogisticRegression().fit(frame[FEATURES], label)
    scm = LinearSCM(CF_GRAPH).fit(frame)
    for kind in ("probability", "flip"):
        lazy = counterfactual_unfairness(clf, ddf[FEATURES], scm=scm, kind=kind,
                                         sensitive_features=ddf[["a", "r"]],
                                         sample_weight=dw)
        eager = counterfactual_unfairness(clf, frame[FEATURES], scm=scm, kind=kind,
                                          sensitive_features=frame[["a", "r"]],
                                          sample_weight=weights)
        assert eager > 0.01
        assert_allclose(lazy, eager, rtol=1e-12)
    # The column route, with a model that drops the attribute's columns.
    relaxed = CounterfactuallyFairClassifier(CF_GRAPH, epsilon=1.0,
                                             sensitive_feature_ids=["a", "r"]).fit(frame, label)
    lazy = counterfactual_unfairness(relaxed, ddf, scm=scm, sensitive_feature_ids=["a", "r"])
    eager = counterfactual_unfairness(relaxed, frame, scm=scm,
                                      sensitive_feature_ids=["a", "r"])
    assert eager > 0.01
    assert_allclose(lazy, eager, rtol=1e-12)
    with pytest.raises(ValueError, match="sensitive_features must be a dask collection"):
        counterfactual_unfairness(clf, ddf[FEATURES], scm=scm,
                                  sensitive_features=frame[["a", "r"]])


def test_partitions_holding_one_level_each_combine(dask_sync):
    """Rows sorted by the sensitive attribute (partitions written per group):
    a partition without a level adds nothing for it, not an error; the fit is
    the in-memory one."""
    from skcausal_trust.utils._dask import reduce_partitions

    assert reduce_partitions(
        lambda part: {"mass": {v: float((part == v).sum()) for v in pd.unique(part)}},
        {"a": dd.from_pandas(pd.Series(["f"] * 5 + ["m"] * 3), npartitions=2)},
    ) == {"mass": {"f": 5.0, "m": 3.0}}
    rng = np.random.default_rng(6)
    n = 1200
    a = np.repeat(["f", "m"], [700, 500])
    x1 = 1.0 * (a == "m") + rng.normal(size=n)
    x2 = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "x1": x1, "x2": x2})
    label = (x1 + x2 + rng.logistic(size=n) > 0.5).astype(int)
    ddf = dd.from_pandas(frame, npartitions=4)
    assert [set(p) for p in ddf["a"].map_partitions(set).compute()] != [{"f", "m"}] * 4
    graph = CausalGraph([("a", "x1")], nodes=["x2"])
    est = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a").fit(
        ddf, dd.from_pandas(pd.Series(label), npartitions=4))
    mem = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a").fit(frame, label)
    assert_allclose(est.counterfactual_directions_, mem.counterfactual_directions_,
                    rtol=RTOL)
    coef, _ = _eliminated_newton(est, frame, label, features=["x1", "x2"])
    assert_allclose(est.coef_, coef, rtol=RTOL, atol=1e-12)


def _count_passes(monkeypatch):
    """Count the passes over the partitions (every reduction the fit runs)."""
    import skcausal_trust.causal._scm as scm_module
    import skcausal_trust.fairness._dask as dask_module

    calls = []
    original = dask_module.reduce_partitions

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(dask_module, "reduce_partitions", counting)
    monkeypatch.setattr(scm_module, "reduce_partitions", counting)
    return calls


@pytest.mark.parametrize("kind", ["classifier", "regressor", "residualizer"])
def test_the_first_pass_gathers_the_scms_statistics(dask_sync, cf_data, monkeypatch,
                                                     kind):
    """The SCMs are fitted from statistics gathered with the rows' summary
    (no pass of their own): the regressor and the residualizer fit in one
    pass, the classifier in one plus its Newton iterations after the first,
    whose step comes from the same pass. The SCMs are the in-memory ones."""
    frame, label, target = cf_data
    weights = np.random.default_rng(7).uniform(0.5, 2.0, len(frame))
    ddf, dy, dw = _partitioned(frame, label if kind == "classifier" else target, weights)
    make = {"classifier": CounterfactuallyFairClassifier,
            "regressor": CounterfactuallyFairRegressor,
            "residualizer": CounterfactualResidualizer}[kind]
    kw = dict(sensitive_feature_ids=["a", "r"])
    calls = _count_passes(monkeypatch)
    est = make(CF_GRAPH, **kw).fit(ddf, dy, sample_weight=dw)
    expected = est.n_iter_ if kind == "classifier" else 1
    assert len(calls) == expected
    if kind == "classifier":
        assert est.n_iter_ <= 4
    mem = make(CF_GRAPH, **kw).fit(frame, label if kind == "classifier" else target,
                                   sample_weight=weights)
    _assert_same_scm(est.scms_[0], mem.scms_[0])


@pytest.mark.parametrize("scale", [1e6, 1e200])
def test_a_first_partition_on_another_scale_gives_the_in_memory_scm(
        dask_sync, cf_data, monkeypatch, scale):
    """The first pass measures the inputs from the first partition's offsets
    and scales; rows elsewhere on a scale 1e6 larger are rescaled exactly
    (powers of two), and at 1e200 (their squares overflow) the SCM falls
    back to passes of its own: both give the in-memory model."""
    frame, _, target = cf_data
    frame = frame.copy()
    frame.loc[500:, "x2"] = frame.loc[500:, "x2"] * scale
    ddf, dy = _partitioned(frame, target)
    calls = _count_passes(monkeypatch)
    kw = dict(sensitive_feature_ids=["a", "r"])
    est = CounterfactualResidualizer(CF_GRAPH, **kw).fit(ddf)
    mem = CounterfactualResidualizer(CF_GRAPH, **kw).fit(frame)
    _assert_same_scm(est.scms_[0], mem.scms_[0])
    assert len(calls) == (1 if scale == 1e6 else 2)
    regressor = CounterfactuallyFairRegressor(CF_GRAPH, **kw)
    if scale == 1e6:
        assert_allclose(regressor.fit(ddf, dy).coef_, regressor.fit(frame, target).coef_,
                        rtol=RTOL, atol=1e-12)
    else:
        # The regressor's own sums of squares overflow: a clear error on both
        # routes (before, a LinAlgError from the solver in memory).
        for X, y in [(ddf, dy), (frame, target)]:
            with pytest.raises(ValueError, match=r"\['x2'\].*overflow"):
                regressor.fit(X, y)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_regressor_in_one_pass_with_and_without_intercept(dask_sync, cf_data,
                                                           fit_intercept):
    frame, _, target = cf_data
    ddf, dy = _partitioned(frame, target + 40.0)
    kw = dict(sensitive_feature_ids=["a", "r"], fit_intercept=fit_intercept, alpha=0.1)
    est = CounterfactuallyFairRegressor(CF_GRAPH, **kw).fit(ddf, dy)
    mem = CounterfactuallyFairRegressor(CF_GRAPH, **kw).fit(frame, target + 40.0)
    assert_allclose(est.coef_, mem.coef_, rtol=RTOL, atol=1e-12)
    assert_allclose(est.intercept_, mem.intercept_, rtol=RTOL, atol=1e-12)
    assert_allclose(est.objective_, mem.objective_, rtol=RTOL)


def test_classifier_starts_anywhere_and_reaches_the_same_solution(dask_sync, cf_data):
    """The warm start only saves passes: rows sorted by the label (a first
    partition of one class: no start) and rows without a sensitive attribute
    (a start of plain logistic regression) give the independent solution."""
    frame, label, _ = cf_data
    order = np.argsort(label, kind="stable")
    sorted_frame = frame.iloc[order].reset_index(drop=True)
    sorted_label = label[order]
    ddf, dy = _partitioned(sorted_frame, sorted_label)
    assert dy.partitions[0].compute().nunique() == 1
    est = CounterfactuallyFairClassifier(CF_GRAPH, sensitive_feature_ids=["a", "r"]).fit(
        ddf, dy)
    coef, intercept = _eliminated_newton(est, sorted_frame, sorted_label)
    assert_allclose(est.coef_, coef, rtol=RTOL, atol=1e-12)
    assert_allclose(est.intercept_, intercept, rtol=RTOL)
    ddf, dy = _partitioned(frame, label)
    with pytest.warns(UserWarning, match="without sensitive features"):
        plain = CounterfactuallyFairClassifier(CF_GRAPH).fit(ddf[FEATURES], dy)
    lr = LogisticRegression(solver="newton-cholesky", tol=1e-15, max_iter=100).fit(
        frame[FEATURES], label)
    assert_allclose(plain.coef_, lr.coef_, rtol=RTOL)
    assert_allclose(plain.intercept_, lr.intercept_, rtol=RTOL)


def _group_data():
    rng = np.random.default_rng(8)
    n = 2000
    frame = pd.DataFrame({"sex": rng.choice(["f", "m"], n),
                          "race": rng.choice(["a", "b", "c"], n)})
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    pred[(frame["sex"] == "m").to_numpy() & (rng.random(n) < 0.2)] = 1
    return frame, y, pred, rng.integers(0, 4, n).astype(float)


def test_fairlearn_metrics_on_the_contingency_table_equal_them_on_the_rows():
    """Integer weights, two attributes, three metrics: fairlearn on the
    weighted table gives fairlearn's value on the rows."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        selection_rate,
    )

    from skcausal_trust.fairness import group_contingency

    frame, y, pred, weights = _group_data()
    for sensitive in (frame["sex"], frame[["sex", "race"]]):
        for w in (None, weights):
            table = group_contingency(y, pred, sensitive, sample_weight=w)
            assert len(table) <= 4 * 6
            assert table["weight"].sum() == (len(y) if w is None else w.sum())
            levels = table[list(sensitive.columns) if sensitive.ndim == 2 else "sex"]
            on_table = dict(y_true=table["y_true"], y_pred=table["y_pred"],
                            sensitive_features=levels, sample_weight=table["weight"])
            on_rows = dict(y_true=y, y_pred=pred, sensitive_features=sensitive,
                           sample_weight=w)
            for metric in (demographic_parity_difference, equalized_odds_difference):
                assert metric(**on_table) == pytest.approx(metric(**on_rows), abs=1e-15)
            by_table = MetricFrame(metrics=selection_rate, **{
                k: v for k, v in on_table.items() if k != "sample_weight"},
                sample_params={"sample_weight": table["weight"]}).by_group
            by_rows = MetricFrame(metrics=selection_rate, **{
                k: v for k, v in on_rows.items() if k != "sample_weight"},
                sample_params={"sample_weight": w if w is not None else np.ones(len(y))}
            ).by_group
            assert_allclose(by_table.to_numpy(), by_rows.to_numpy(), rtol=1e-14)


def test_group_contingency_and_scorer_on_dask_equal_memory(dask_scheduler, cf_data):
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    from skcausal_trust.fairness import group_contingency, make_group_fairness_scorer

    frame, y, pred, weights = _group_data()
    table = group_contingency(y, pred, frame[["sex", "race"]], sample_weight=weights)
    parts = dict(npartitions=3)
    lazy = group_contingency(
        dd.from_pandas(pd.Series(y), **parts), dd.from_pandas(pd.Series(pred), **parts),
        dd.from_pandas(frame[["sex", "race"]], **parts),
        sample_weight=dd.from_pandas(pd.Series(weights), **parts))
    pd.testing.assert_frame_equal(lazy, table, check_exact=False, rtol=1e-15)
    # The scorer: predictions partition by partition, the same score.
    data, label, _ = cf_data
    label = (label == "yes").astype(int)  # fairlearn's rates want 0/1 labels
    est = CounterfactuallyFairClassifier(CF_GRAPH, sensitive_feature_ids=["a", "r"]).fit(
        data, label)
    ddf, dy = _partitioned(data, label)
    for metric in (demographic_parity_difference, equalized_odds_difference):
        scorer = make_group_fairness_scorer(metric, sensitive_feature_ids=["a", "r"])
        assert scorer(est, ddf, dy) == pytest.approx(scorer(est, data, label), abs=1e-15)
        routed = make_group_fairness_scorer(metric)
        assert routed(est, ddf, dy, sensitive_features=ddf["a"]) == pytest.approx(
            routed(est, data, label, sensitive_features=data["a"]), abs=1e-15)


def test_group_contingency_refuses_what_it_cannot_tabulate():
    from skcausal_trust.fairness import group_contingency

    frame, y, pred, _ = _group_data()
    scores = np.random.default_rng(0).random(len(y))
    with pytest.raises(ValueError, match="more than 100 distinct.*continuous"):
        group_contingency(y, scores, frame["sex"], max_cells=100)
    with pytest.raises(ValueError, match="dask collections but"):
        group_contingency(dd.from_pandas(pd.Series(y), npartitions=2), pred, frame["sex"])
    with pytest.raises(ValueError, match="has 2000 rows but"):
        group_contingency(y, pred[:-1], frame["sex"])
    with pytest.raises(ValueError, match="'sex'.*missing"):
        group_contingency(y, pred, frame["sex"].where(frame.index > 0))
    with pytest.raises(ValueError, match="sample_weight has negative"):
        group_contingency(y, pred, frame["sex"], sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="max_cells"):
        group_contingency(y, pred, frame["sex"], max_cells=0)


@pytest.mark.parametrize("epsilon", [0.0, 0.3])
def test_multiclass_classifier_on_dask_equals_the_in_memory_fit(dask_sync, cf_data,
                                                                 epsilon):
    """Three classes: the multinomial model, by Newton's method (epsilon = 0:
    against scikit-learn's multinomial Newton-Cholesky on the projected
    inputs, to 1e-10) or by the in-memory solver of the relaxed constraints
    with its loss summed over the partitions (the same iterates)."""
    frame, _, target = cf_data
    weights = np.random.default_rng(9).uniform(0.5, 2.0, len(frame))
    three = np.asarray(pd.cut(target + np.random.default_rng(10).logistic(size=len(frame)),
                              [-np.inf, -0.5, 1.5, np.inf], labels=["lo", "mid", "hi"]),
                       dtype=object)
    ddf, dy, dw = _partitioned(frame, three, weights)
    kw = dict(sensitive_feature_ids=["a", "r"], epsilon=epsilon, tol=1e-10, max_iter=5000)
    est = CounterfactuallyFairClassifier(CF_GRAPH, **kw).fit(ddf, dy, sample_weight=dw)
    mem = CounterfactuallyFairClassifier(CF_GRAPH, **kw).fit(frame, three,
                                                             sample_weight=weights)
    assert list(est.classes_) == list(mem.classes_) == ["hi", "lo", "mid"]
    assert est.coef_.shape == (3, 3)
    proba = est.predict_proba(frame)
    assert_allclose(proba, mem.predict_proba(frame), rtol=1e-5, atol=1e-7)
    assert_allclose(est.objective_, mem.objective_, rtol=1e-9)
    if epsilon == 0:
        assert est.solver_ == "newton (dask)" and est.solver_status_ == "converged"
        assert est.counterfactual_gap_ < 1e-12
        p = est.coef_.shape[1]
        N = null_space(est.counterfactual_directions_.reshape(-1, p))
        lr = LogisticRegression(C=est.C, solver="newton-cholesky", tol=1e-15,
                                max_iter=200).fit(frame[FEATURES].to_numpy() @ N, three,
                                                  sample_weight=weights)
        assert_allclose(est.coef_, lr.coef_ @ N.T, rtol=RTOL, atol=1e-10)
        # Intercepts are defined up to a common shift: compare the
        # probabilities, which are not.
        assert_allclose(proba, lr.predict_proba(frame[FEATURES].to_numpy() @ N),
                        rtol=1e-9, atol=1e-12)
    else:
        # The losses summed in another order: the polytope solver (SLSQP)
        # stops at a point within its precision of the in-memory one.
        assert_allclose(est.coef_, mem.coef_, rtol=1e-6, atol=1e-7)
        assert_allclose(est.counterfactual_gap_, mem.counterfactual_gap_, rtol=1e-6)
    labels = est.predict(ddf)
    assert_array_equal(labels.compute().to_numpy(), est.predict(frame))


def test_tasks_do_not_carry_the_first_partition():
    """The rows object travels with every partition's task: the first
    partition it keeps in memory (for the warm start) is left behind."""
    import pickle

    from skcausal_trust.fairness._dask import DaskRows

    rows = DaskRows(None, ["x"], None, None, None)
    rows.first = (np.zeros((100_000, 20)), None, np.ones(100_000), None)
    shipped = pickle.loads(pickle.dumps(rows))
    assert shipped.first is None and rows.first is not None
    assert len(pickle.dumps(rows)) < 10_000


@pytest.mark.parametrize("make, column", [
    ("regressor", "a"), ("icp", "env"), ("private", "env"),
])
def test_a_column_parameter_naming_every_column_of_dask_x_is_refused(dask_sync, make,
                                                                      column):
    """With nothing left to fit on, the dask routes name the parameter, as in
    memory (the plugin's checks), before reading a partition."""
    from skcausal_trust.invariance import InvariantCausalPrediction
    from skcausal_trust.privacy import DPCausalRegressor

    estimator = {
        "regressor": lambda: CounterfactuallyFairRegressor(sensitive_feature_ids="a"),
        "icp": lambda: InvariantCausalPrediction(environment_column="env"),
        "private": lambda: DPCausalRegressor(
            environment_column="env", environment_levels=[0, 1, 2], gamma=2.0,
            feature_bound=1.0, target_bound=1.0),
    }[make]()
    frame = pd.DataFrame({column: np.arange(30) % (2 if column == "a" else 3)})
    X = dd.from_pandas(frame, npartitions=2)
    y = dd.from_pandas(pd.Series(np.linspace(0, 1, 30)), npartitions=2)
    parameter = "sensitive_feature_ids" if column == "a" else "environment_column"
    with pytest.raises(ValueError, match=rf"^{parameter}='{column}' names every column of X"):
        estimator.fit(X, y)
    assert not [k for k in vars(estimator) if k.endswith("_") and not k.startswith("_")]
