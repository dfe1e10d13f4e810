"""Bad input fails early with an error that names the argument at fault, and a
failed fit leaves nothing half-fitted behind.

Bad values of the sensitive attribute itself (missing, wrong length, both
routes, unknown or out-of-range columns, a single level, a failed refit) are
checked for every estimator by the plugin's own checks
(``skcausal_trust.utils.estimator_checks``, run in ``test_common.py``); this
module covers what is specific to the counterfactual estimators: graphs,
causal models, levels, solvers and non-numeric input."""

import re

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.datasets import make_counterfactual_classification
from skcausal_trust.exceptions import CyclicGraphError, SolverError
from skcausal_trust.fairness import (
    CounterfactualResidualizer,
    CounterfactuallyFairClassifier,
    CounterfactuallyFairRegressor,
    counterfactual_unfairness,
    make_group_fairness_scorer,
)

N = 80
ESTIMATORS = [CounterfactuallyFairClassifier, CounterfactuallyFairRegressor,
              CounterfactualResidualizer]


@pytest.fixture(scope="module")
def data():
    X, y, a, scm = make_counterfactual_classification(N, random_state=0)
    return X, y, a, scm


def _with_a(X, a):
    return pd.concat([X, a], axis=1)


def _output(est, X, a):
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    if hasattr(est, "predict"):
        return est.predict(X)
    return est.transform(X, sensitive_features=a)


def _fitted_attributes(est):
    return sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("__"))


# --------------------------------------------------------------------------
# Non-finite values
# --------------------------------------------------------------------------
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("as_array", [False, True])
def test_non_finite_X_is_rejected_naming_the_column(data, Est, value, as_array):
    # The column is named (by its position for an array), and no fitted
    # attribute is left behind.
    X, y, a, _ = data
    Xb = X.copy()
    Xb.iloc[3, 2] = value
    name = X.columns[2]
    if as_array:
        Xb, name = Xb.to_numpy(), 2
    est = Est()
    with pytest.raises(ValueError, match=re.escape(
            f"X has NaN or infinite values in columns [{name!r}]")):
        est.fit(Xb, y, sensitive_features=a)
    assert _fitted_attributes(est) == []


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("as_array", [False, True])
def test_non_finite_X_at_predict_is_rejected_naming_the_column(data, Est, as_array):
    X, y, a, _ = data
    est = Est().fit(X.to_numpy() if as_array else X, y, sensitive_features=a)
    Xb = X.copy()
    Xb.iloc[0, 1] = np.nan
    Xb.iloc[5, 3] = np.inf
    names = [1, 3] if as_array else [X.columns[1], X.columns[3]]
    method = est.predict if hasattr(est, "predict") else (
        lambda Z: est.transform(Z, sensitive_features=a))
    with pytest.raises(ValueError, match=re.escape(
            f"X has NaN or infinite values in columns {names!r}")):
        method(Xb.to_numpy() if as_array else Xb)


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------
def test_a_single_column_frame_is_one_attribute(data):
    # The counterpart of the test above: (n, 1) input is accepted, named.
    X, y, a, scm = data
    est = CounterfactuallyFairClassifier(scm.graph_).fit(
        X, y, sensitive_features=a.to_frame())
    assert est.sensitive_node_ == "A"


def test_y_of_the_wrong_length_names_y(data):
    X, y, a, _ = data
    with pytest.raises(ValueError, match=f"^y has {N - 1} samples but X has {N}"):
        CounterfactuallyFairClassifier().fit(X, y[:-1], sensitive_features=a)


def test_residualizer_transform_checks_the_sensitive_length(data):
    X, _, a, scm = data
    res = CounterfactualResidualizer(scm.graph_).fit(X, sensitive_features=a)
    with pytest.raises(ValueError, match=f"sensitive_features has {N - 3} rows but X "
                                         f"has {N}"):
        res.transform(X, sensitive_features=a.iloc[:-3])


def test_scorers_reject_unknown_sensitive_columns(data):
    X, y, a, scm = data
    clf = CounterfactuallyFairClassifier(scm.graph_).fit(X, y, sensitive_features=a)
    scorer = make_group_fairness_scorer(lambda *a, **k: 0.0, sensitive_feature_ids="B")
    with pytest.raises(ValueError, match="sensitive_feature_ids='B' is not a column"):
        scorer(clf, X, y)
    with pytest.raises(ValueError, match="sensitive_feature_ids=9 is out of range"):
        counterfactual_unfairness(clf, X, scm=scm, sensitive_feature_ids=9)


# --------------------------------------------------------------------------
# Levels of the sensitive attribute
# --------------------------------------------------------------------------
@pytest.mark.parametrize("encode", ["categorical", "integer", "string"])
def test_residualizer_rejects_levels_unseen_in_fit(data, encode):
    X, _, a, scm = data
    seen = {"categorical": a, "integer": a.to_numpy(),
            "string": np.where(a.to_numpy() == 1, "M", "F")}[encode]
    unseen = {"categorical": np.full(N, 2), "integer": np.full(N, 2),
              "string": np.full(N, "X")}[encode]
    res = CounterfactualResidualizer(scm.graph_).fit(X, sensitive_features=seen)
    # An integer attribute is a numeric node of the SCM: without the check it
    # would be extrapolated to level 2 silently.
    with pytest.raises(ValueError, match=r"^sensitive_features has level\(s\) "
                                         r"\['(2|X)'\] unseen in fit"):
        res.transform(X, sensitive_features=unseen)


def test_residualizer_unseen_level_in_the_sensitive_column_names_it(data):
    X, _, a, scm = data
    res = CounterfactualResidualizer(scm.graph_, sensitive_feature_ids="A").fit(
        _with_a(X, a.astype(float)))
    Xb = _with_a(X, pd.Series(np.full(N, 3.0), name="A"))
    with pytest.raises(ValueError, match=r"^X\['A'\] \(sensitive_feature_ids\) has "
                                         r"level\(s\) \['3.0'\] unseen in fit"):
        res.transform(Xb)


def test_levels_unknown_to_a_fitted_true_scm_are_rejected_at_fit(data):
    X, y, a, scm = data
    other = np.where(a.to_numpy() == 1, 5, 0)
    with pytest.raises(ValueError, match=r"sensitive_features\['A'\] has level\(s\) "
                                         r"\['5'\] unseen"):
        CounterfactuallyFairClassifier(scm).fit(X, y, sensitive_features=other)


# --------------------------------------------------------------------------
# Graphs
# --------------------------------------------------------------------------
def test_cyclic_graph_raises_at_construction():
    with pytest.raises(CyclicGraphError, match="'a' -> 'b' -> 'c' -> 'a'"):
        CausalGraph([("a", "b"), ("b", "c"), ("c", "a")])
    with pytest.raises(CyclicGraphError, match="'u' -> 'v' -> 'u'"):
        CausalGraph({"u": ["v"], "v": ["u"]})
    with pytest.raises(CyclicGraphError, match=r"link a node to itself: \['a'\]"):
        CausalGraph([("a", "a")])


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_cyclic_causal_model_raises_at_fit_naming_it(data, Est):
    X, y, a, scm = data
    cyclic = LinearSCM([("A", "x0"), ("x0", "x1"), ("x1", "A")])
    est = Est(cyclic)  # __init__ only stores: the error comes at fit
    with pytest.raises(CyclicGraphError, match=r"^causal_model: edges contain the "
                                               "directed cycle 'A' -> 'x0' -> 'x1'"):
        est.fit(X, y, sensitive_features=a)
    if Est is CounterfactuallyFairClassifier:
        with pytest.raises(CyclicGraphError, match=r"^causal_model\[1\]: .*cycle"):
            Est([scm.graph_, cyclic]).fit(X, y, sensitive_features=a)


def test_cyclic_graph_of_a_linear_scm_names_graph(data):
    X, _, a, _ = data
    with pytest.raises(CyclicGraphError, match=r"^graph: edges contain the directed"):
        LinearSCM([("A", "x0"), ("x0", "A")]).fit(_with_a(X, a))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_graph_nodes_missing_from_the_data(data, Est):
    X, y, a, _ = data
    graph = CausalGraph([("A", "x0"), ("income", "x1")], nodes=list(X.columns))
    with pytest.raises(ValueError, match=r"causal_model has nodes \['income'\] that "
                                         "are neither columns of X nor the sensitive"):
        Est(graph).fit(X, y, sensitive_features=a)
    # Without a name for the attribute, two unobserved nodes are ambiguous.
    with pytest.raises(ValueError, match=r"causal_model: cannot tell which node is the "
                                         r"sensitive attribute.*\['A', 'income'\]"):
        Est(graph).fit(X, y, sensitive_features=a.to_numpy())


def test_linear_scm_nodes_missing_from_the_data(data):
    X, _, _, _ = data
    with pytest.raises(ValueError, match=r"causal graph nodes \['A'\] are not columns "
                                         "of data"):
        LinearSCM([("A", "x0")]).fit(X)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_feature_columns_missing_from_the_graph(data, Est):
    X, y, a, _ = data
    graph = CausalGraph([("A", "x0"), ("A", "x1")])
    with pytest.raises(ValueError, match=r"columns \['x2', 'x3', 'x4', 'x5'\] of X are "
                                         "not nodes of causal_model"):
        Est(graph).fit(X, y, sensitive_features=a)


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------
@pytest.mark.parametrize("params, name", [
    ({"epsilon": -0.1}, "epsilon"),
    ({"C": 0.0}, "C"),
    ({"C": -1.0}, "C"),
    ({"solver": "newton"}, "solver"),
    ({"max_iter": 0}, "max_iter"),
    ({"tol": 0.0}, "tol"),
])
def test_invalid_parameters_raise_invalid_parameter_error(data, params, name):
    X, y, a, _ = data
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of "
                                                    "CounterfactuallyFairClassifier"):
        CounterfactuallyFairClassifier(**params).fit(X, y, sensitive_features=a)


def test_residualizer_rejects_a_causal_model_of_the_wrong_type(data):
    X, _, a, _ = data
    with pytest.raises(InvalidParameterError, match="The 'causal_model' parameter"):
        CounterfactualResidualizer([("A", "x0")]).fit(X, sensitive_features=a)


# --------------------------------------------------------------------------
# Solver failure
# --------------------------------------------------------------------------
@pytest.fixture
def every_solver_fails(monkeypatch):
    tried = []

    def fail(self, *args, solver=None, **kwargs):
        tried.append(solver)
        self._status = cp.USER_LIMIT
        return None

    monkeypatch.setattr(cp.Problem, "solve", fail)
    return tried


def test_solver_failure_names_every_solver_and_status(data, every_solver_fails):
    X, y, a, scm = data
    est = CounterfactuallyFairClassifier(scm.graph_, epsilon=0.1, solver="cvxpy")
    with pytest.raises(SolverError, match=r"solver='cvxpy'\) was not solved: "
                                          r"CLARABEL: status 'user_limit'; "
                                          r"SCS: status 'user_limit'"):
        est.fit(X, y, sensitive_features=a)
    assert every_solver_fails == ["CLARABEL", "SCS"]
    assert _fitted_attributes(est) == []


def test_solver_exception_is_reported_with_its_message(data, monkeypatch):
    X, y, a, scm = data

    def crash(self, *args, solver=None, **kwargs):
        raise cp.error.SolverError(f"{solver} crashed")

    monkeypatch.setattr(cp.Problem, "solve", crash)
    with pytest.raises(SolverError, match="CLARABEL: CLARABEL crashed; SCS: SCS "
                                          "crashed"):
        CounterfactuallyFairClassifier(scm.graph_, solver="cvxpy").fit(
            X, y, sensitive_features=a)


# --------------------------------------------------------------------------
# Non-numeric features, unfitted use
# --------------------------------------------------------------------------
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", [object, "category", "str"])
def test_string_features_are_one_hot_encoded_and_arrays_of_them_refused(data, Est, dtype):
    X, y, a, _ = data
    Xs = X.copy()
    Xs["job"] = pd.Series(np.where(y == 1, "clerk", "nurse")).astype(dtype)
    est = Est().fit(Xs, y, sensitive_features=a)
    names = list(est.input_features_) if hasattr(est, "input_features_") else list(
        est.get_feature_names_out())
    assert [n for n in names if "job" in n] in (
        [["job_clerk", "job_nurse"]][0], ["job_clerk_residual", "job_nurse_residual"])
    # An array carries no dtypes: its text columns cannot be told apart from
    # numbers written as text, so they are refused, naming the column.
    with pytest.raises(ValueError, match=r"X has non-numeric columns \[6\], but it is "
                                         "an array"):
        Est().fit(Xs.to_numpy(), y, sensitive_features=a)


def test_a_missing_value_in_a_categorical_feature_names_it(data):
    X, y, a, _ = data
    Xs = X.copy()
    Xs["job"] = np.where(y == 1, "clerk", "nurse").astype(object)
    Xs.loc[3, "job"] = None
    with pytest.raises(ValueError, match=r"X\['job'\] has 1 missing value"):
        CounterfactuallyFairClassifier().fit(Xs, y, sensitive_features=a)


def test_string_sensitive_column_is_not_a_feature_error(data):
    # Strings are fine in the sensitive column itself: it is not a feature.
    X, y, a, _ = data
    Xa = _with_a(X, pd.Series(np.where(a.to_numpy() == 1, "M", "F"), name="A"))
    est = CounterfactuallyFairClassifier(sensitive_feature_ids="A").fit(Xa, y)
    assert list(est.sensitive_levels_) == ["F", "M"]
    assert est.coef_.shape == (1, X.shape[1])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "decision_function"])
def test_predict_before_fit_raises_not_fitted(data, method):
    X = data[0]
    with pytest.raises(NotFittedError, match="CounterfactuallyFairClassifier "
                                             "instance is not fitted"):
        getattr(CounterfactuallyFairClassifier(), method)(X)


@pytest.mark.parametrize("method", ["transform", "get_feature_names_out"])
def test_residualizer_before_fit_raises_not_fitted(data, method):
    X = data[0]
    args = (X,) if method == "transform" else ()
    with pytest.raises(NotFittedError, match="CounterfactualResidualizer instance is "
                                             "not fitted"):
        getattr(CounterfactualResidualizer(), method)(*args)


# --------------------------------------------------------------------------
# Nothing half-fitted
# --------------------------------------------------------------------------
def _failures(data):
    """(estimator parameters, fit arguments) that must fail, by name."""
    X, y, a, scm = data
    Xs = X.copy()
    Xs["job"] = np.where(y == 1, "clerk", "nurse")
    Xs.loc[2, "job"] = None
    Xnan = X.copy()
    Xnan.iloc[0, 0] = np.nan
    cyclic = LinearSCM([("A", "x0"), ("x0", "A")])
    return {
        "single level": ({}, (X, y), {"sensitive_features": np.zeros(N)}),
        "NaN in X": ({}, (Xnan, y), {"sensitive_features": a}),
        "missing category": ({}, (Xs, y), {"sensitive_features": a}),
        "extra column, wrong length": ({}, (Xs.iloc[:-1], y[:-1]),
                                       {"sensitive_features": a}),
        "cyclic world": ({"causal_model": cyclic}, (X, y), {"sensitive_features": a}),
        "unknown column": ({"sensitive_feature_ids": "sex"}, (_with_a(X, a), y), {}),
    }


FAILURES = ["single level", "NaN in X", "missing category",
            "extra column, wrong length", "cyclic world", "unknown column"]


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("failure", FAILURES)
def test_failed_fit_of_a_fresh_estimator_leaves_no_fitted_attribute(data, Est, failure):
    params, args, kwargs = _failures(data)[failure]
    est = Est(**params)
    before = dict(vars(est))
    with pytest.raises(ValueError):
        est.fit(*args, **kwargs)
    # validate_data sets n_features_in_ / feature_names_in_ before the fit
    # fails: they must be gone again.
    assert _fitted_attributes(est) == []
    assert vars(est) == before
    with pytest.raises(NotFittedError):
        est.predict(args[0]) if hasattr(est, "predict") else est.transform(args[0])


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("failure", FAILURES)
def test_failed_refit_keeps_the_previous_fit(data, Est, failure):
    X, y, a, scm = data
    params, args, kwargs = _failures(data)[failure]
    est = Est(scm.graph_).fit(X, y, sensitive_features=a)
    state = dict(vars(est))
    out = _output(est, X, a)
    est.set_params(**params)
    with pytest.raises(ValueError):
        est.fit(*args, **kwargs)
    est.set_params(**{k: state[k] for k in params})
    assert vars(est).keys() == state.keys()
    for key, value in state.items():
        assert vars(est)[key] is value, key
    assert est.n_features_in_ == X.shape[1]
    assert list(est.feature_names_in_) == list(X.columns)
    again = _output(est, X, a)
    np.testing.assert_array_equal(again, out)


def test_failed_cvxpy_refit_keeps_the_previous_fit(data, monkeypatch):
    X, y, a, scm = data
    est = CounterfactuallyFairClassifier(scm.graph_, epsilon=0.1).fit(
        X, y, sensitive_features=a)
    coef = est.coef_.copy()
    state = dict(vars(est))

    def fail(self, *args, solver=None, **kwargs):
        self._status = cp.SOLVER_ERROR

    monkeypatch.setattr(cp.Problem, "solve", fail)
    est.set_params(solver="cvxpy")
    with pytest.raises(SolverError, match="status 'solver_error'"):
        est.fit(X.iloc[:40], y[:40], sensitive_features=a.iloc[:40])
    assert {k: v for k, v in vars(est).items() if k != "solver"} == {
        k: v for k, v in state.items() if k != "solver"}
    np.testing.assert_array_equal(est.coef_, coef)
    assert est.solver_path_ == "fast"


@pytest.mark.parametrize("kind", ["date", "date with a time zone", "duration"])
def test_linear_scm_refuses_a_date_or_duration_node_by_name(kind):
    """numpy reads dates and durations as nanoseconds: an equation in that
    unit (a coefficient of 1e-13 per nanosecond) is refused, on dask too; a
    date column that is not a node is left alone."""
    rng = np.random.default_rng(0)
    n = 40
    when = pd.Series(pd.date_range("2020-01-01", periods=n, freq="D",
                                   tz="UTC" if "zone" in kind else None))
    if kind == "duration":
        when = when - when[0]
    data = pd.DataFrame({"a": pd.Categorical(rng.choice(["f", "m"], n)),
                         "x": rng.normal(size=n), "when": when})
    graph = CausalGraph([("a", "x"), ("when", "x")])
    message = r"^data has date or duration columns \['when'\], which numpy would read"
    with pytest.raises(ValueError, match=message):
        LinearSCM(graph).fit(data)
    dd = pytest.importorskip("dask.dataframe")
    with pytest.raises(ValueError, match=message):
        LinearSCM(graph).fit(dd.from_pandas(data, npartitions=2))
    scm = LinearSCM(CausalGraph([("a", "x")])).fit(data)
    assert scm.variables_ == ["a", "x"]
