"""Tests that kill the surviving mutants of ``fairness/_counterfactual.py``
(issue 17, ``benchmarks/run_mutation.py --modules classifier``).

Every expected value comes from an independent computation:

* with one mediator ``a -> m`` (``z`` not caused by ``a``) every
  counterfactual direction lies along ``m``, so ``epsilon=0`` sets ``m``'s
  weight to zero and the fair model *is* scikit-learn's
  ``LogisticRegression`` on ``z`` (and, without a sensitive attribute, on
  every column);
* when every input is a mediator only the intercepts remain: the (weighted)
  log prior odds, a closed form (and ``DummyClassifier``'s probabilities);
* with ``epsilon > 0`` the program is re-solved here by scipy's SLSQP in the
  original coordinates (every weight free, one pair of inequalities per
  pairwise level change, world and class row), with its own loss and
  gradient, the counterfactual directions being the differences of the
  (weighted) group means of the mediators (the OLS fit of a linear SCM on
  one-hot parents);
* integer sample weights equal repeated rows; the objective is scikit-learn's
  ``log_loss`` (unnormalised) plus the ridge term.
"""

import ast
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from skcausal_trust.causal import CausalGraph
from skcausal_trust.exceptions import (
    DegenerateConstraintWarning,
    NoSensitiveFeaturesWarning,
)
from skcausal_trust.fairness import CounterfactuallyFairClassifier

ONE_MEDIATOR = CausalGraph([("a", "m")], nodes=["z"])
TWO_MEDIATORS = CausalGraph([("a", "m1"), ("a", "m2")], nodes=["z"])
ONLY_MEDIATOR = CausalGraph([("a", "m")])


def _data(n=120, seed=0, levels=("f", "g"), n_classes=2, m_weight=2.0, two=False):
    """a -> m (level effects 1.5, -1, ...), z independent of a, a target that
    leans on m (so that the constraints bind) and on z. Columns z, m (or m1,
    m2), a."""
    rng = np.random.default_rng(seed)
    a = rng.choice(list(levels), n)
    codes = np.searchsorted(np.array(sorted(levels)), a)
    effects = np.array([0.0, 1.5, -1.0, 0.5])[codes]
    m = effects + rng.normal(size=n)
    z = rng.normal(size=n)
    columns = {"z": z, "m": m}
    score = 0.8 * z + m_weight * m
    if two:
        effects2 = np.array([0.0, -1.0, 2.0, 0.3])[codes]
        m2 = effects2 + rng.normal(size=n)
        columns = {"z": z, "m1": m, "m2": m2}
        score = score + 1.5 * m2
    latent = score[:, None] * np.arange(n_classes)[None, :] / max(n_classes - 1, 1)
    latent = latent + rng.gumbel(size=(n, n_classes))
    y = np.argmax(latent, axis=1)
    X = pd.DataFrame({**columns, "a": a})
    return X, y


def _directions(X, mediators, sw=None):
    """(n_levels - 1, n_inputs) changes of the inputs from the first level to
    each other one: weighted group-mean differences of each mediator."""
    sw = np.ones(len(X)) if sw is None else np.asarray(sw, dtype=float)
    levels = np.sort(X["a"].unique())
    inputs = [c for c in X.columns if c != "a"]
    rows = []
    for level in levels[1:]:
        row = np.zeros(len(inputs))
        for j, col in enumerate(inputs):
            if col in mediators:
                v = X[col].to_numpy()
                here, ref = X["a"].to_numpy() == level, X["a"].to_numpy() == levels[0]
                row[j] = (np.average(v[here], weights=sw[here])
                          - np.average(v[ref], weights=sw[ref]))
        rows.append(row)
    return np.array(rows)


def _pairwise(directions_by_world):
    rows = []
    for world in directions_by_world:
        full = np.vstack([np.zeros((1, world.shape[1])), world])
        for i in range(len(full)):
            for j in range(i + 1, len(full)):
                rows.append(full[j] - full[i])
    return np.array(rows)


def _reference(Z, y, sw, C, rows, eps, n_classes, fit_intercept=True):
    """min sum_i s_i logloss_i + ||W||^2 / (2 C) s.t. |r . W_c| <= eps for every
    constraint row r and class row c, by SLSQP in the original coordinates."""
    n, p = Z.shape
    k = 1 if n_classes == 2 else n_classes
    nb = 1 if fit_intercept else 0
    onehot = np.eye(n_classes)[y]
    total = sw.sum()

    def unpack(t):
        t = t.reshape(k, p + nb)
        return t[:, :p], (t[:, p] if nb else np.zeros(k))

    def fun(t):
        W, b = unpack(t)
        S = Z @ W.T + b
        if k == 1:
            S = np.column_stack([np.zeros(n), S])
        logp = log_softmax(S, axis=1)
        loss = -np.sum(sw * np.sum(onehot * logp, axis=1))
        G = (np.exp(logp) - onehot) * sw[:, None]
        if k == 1:
            G = G[:, 1:]
        gW = G.T @ Z + W / C
        grad = np.column_stack([gW, G.sum(axis=0)]) if nb else gW
        return (loss + np.sum(W * W) / (2 * C)) / total, grad.ravel() / total

    A = np.zeros((k * len(rows), k * (p + nb)))
    for c in range(k):
        A[c * len(rows):(c + 1) * len(rows), c * (p + nb):c * (p + nb) + p] = rows
    cons = [{"type": "ineq", "fun": lambda t: eps - A @ t, "jac": lambda t: -A},
            {"type": "ineq", "fun": lambda t: eps + A @ t, "jac": lambda t: A}]
    res = minimize(fun, np.zeros(k * (p + nb)), jac=True, method="SLSQP",
                   constraints=cons, options={"maxiter": 2000, "ftol": 1e-15})
    W, b = unpack(res.x)
    if k > 1:
        b = b - b.mean()
    return W, b, res.fun * total, res.message


def _objective(clf, Z, y, sw):
    proba = clf.predict_proba(Z) if not isinstance(clf, np.ndarray) else clf
    return log_loss(y, proba, sample_weight=sw, normalize=False)


def _assert_predictions_match(clf, X, ref, Xref):
    """decision_function, predict_proba, predict_log_proba and predict of the
    fair model against those of a scikit-learn reference model."""
    assert_allclose(clf.decision_function(X), ref.decision_function(Xref),
                    rtol=1e-6, atol=1e-7)
    assert_allclose(clf.predict_proba(X), ref.predict_proba(Xref), rtol=1e-6, atol=1e-9)
    assert_allclose(clf.predict_log_proba(X), ref.predict_log_proba(Xref),
                    rtol=1e-6, atol=1e-7)
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(clf.predict(X), ref.predict(Xref))


# --------------------------------------------------------------------------
# No sensitive attribute: plain LogisticRegression (_solve's unconstrained
# branch, _solve_eliminated with N = I, the prediction methods)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes,epsilon", [(2, 0.0), (3, 0.0), (2, 0.5)])
def test_without_sensitive_features_it_is_sklearn_logistic_regression(n_classes, epsilon):
    """Whatever epsilon: nothing to constrain, scikit-learn's lbfgs runs."""
    X, y = _data(seed=1, n_classes=n_classes)
    Xf = X[["z", "m"]]
    with pytest.warns(NoSensitiveFeaturesWarning):
        clf = CounterfactuallyFairClassifier(C=0.5, tol=1e-10, epsilon=epsilon).fit(Xf, y)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=1000).fit(Xf, y)
    assert_allclose(clf.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(clf.intercept_, ref.intercept_ - ref.intercept_.mean() * (n_classes > 2),
                    rtol=1e-6, atol=1e-8)
    _assert_predictions_match(clf, Xf, ref, Xf)
    assert clf.solver_path_ == "unconstrained"
    assert clf.solver_ == "lbfgs"
    assert clf.solver_status_ == "converged"
    assert clf.n_iter_ == int(np.max(ref.n_iter_))
    assert clf.counterfactual_gap_ == 0.0
    expected = _objective(ref, Xf, y, None) + np.sum(ref.coef_**2) / (2 * 0.5)
    assert clf.objective_ == pytest.approx(expected, rel=1e-8)


# --------------------------------------------------------------------------
# epsilon=0 with one mediator: LogisticRegression on z (_solve_eliminated:
# null space, C, tol, intercept, weights; _solve's dispatch)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_epsilon_zero_is_logistic_regression_without_the_mediator(n_classes, fit_intercept):
    X, y = _data(seed=2, n_classes=n_classes)
    w = np.random.default_rng(3).integers(1, 4, size=len(y))
    clf = CounterfactuallyFairClassifier(
        ONE_MEDIATOR, sensitive_feature_ids="a", C=0.3, tol=1e-10,
        fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    ref = LogisticRegression(C=0.3, tol=1e-10, max_iter=1000,
                             fit_intercept=fit_intercept).fit(X[["z"]], y, sample_weight=w)
    assert np.all(np.abs(clf.coef_[:, 1]) < 1e-12)
    assert_allclose(clf.coef_[:, 0], ref.coef_[:, 0], rtol=1e-6, atol=1e-9)
    b = np.atleast_1d(ref.intercept_)
    assert_allclose(clf.intercept_, b - b.mean() * (n_classes > 2), rtol=1e-6, atol=1e-9)
    if not fit_intercept:
        assert np.all(clf.intercept_ == 0.0)
    _assert_predictions_match(clf, X, ref, X[["z"]])
    assert (clf.solver_path_, clf.solver_, clf.solver_status_) == ("fast", "lbfgs",
                                                                   "converged")
    assert clf.n_iter_ == int(np.max(ref.n_iter_))
    assert clf.counterfactual_gap_ < 1e-12
    assert clf.n_free_directions_ == 1
    # Integer weights are repeated rows.
    rep = np.repeat(np.arange(len(y)), w)
    again = CounterfactuallyFairClassifier(
        ONE_MEDIATOR, sensitive_feature_ids="a", C=0.3, tol=1e-10,
        fit_intercept=fit_intercept).fit(X.iloc[rep], y[rep])
    assert_allclose(again.coef_, clf.coef_, rtol=1e-6, atol=1e-9)
    expected = (_objective(ref, X[["z"]], y, w) + np.sum(ref.coef_**2) / (2 * 0.3))
    assert clf.objective_ == pytest.approx(expected, rel=1e-8)


def test_default_parameters_are_C_one_epsilon_zero_and_an_intercept():
    X, y = _data(seed=4)
    clf = CounterfactuallyFairClassifier(ONE_MEDIATOR, sensitive_feature_ids="a").fit(X, y)
    ref = LogisticRegression().fit(X[["z"]], y)
    assert abs(clf.coef_[0, 1]) < 1e-12
    # Default tol=1e-4 on both sides: the same lbfgs iterates.
    assert_allclose(clf.coef_[0, 0], ref.coef_[0, 0], rtol=1e-6)
    assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-6)
    assert clf.solver_path_ == "fast"


def test_max_iter_reaches_lbfgs_and_its_warning():
    X, y = _data(seed=5, n=200)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        clf = CounterfactuallyFairClassifier(ONE_MEDIATOR, sensitive_feature_ids="a",
                                             max_iter=2, tol=1e-12).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = LogisticRegression(max_iter=2, tol=1e-12).fit(X[["z"]], y)
    assert_allclose(clf.coef_[0, 0], ref.coef_[0, 0], rtol=1e-10)
    assert clf.solver_status_ == "max_iter reached"
    assert clf.n_iter_ == 2


# --------------------------------------------------------------------------
# Every input is a mediator: the intercepts alone, in closed form
# (_fit_intercept_only)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3])
def test_only_mediators_leave_the_weighted_log_prior(n_classes):
    X, y = _data(seed=6, n_classes=n_classes)
    X = X[["m", "a"]]
    w = np.random.default_rng(7).uniform(0.5, 3.0, size=len(y))
    with pytest.warns(DegenerateConstraintWarning):
        clf = CounterfactuallyFairClassifier(ONLY_MEDIATOR, sensitive_feature_ids="a").fit(
            X, y, sample_weight=w)
    prior = np.bincount(y, weights=w, minlength=n_classes) / w.sum()
    if n_classes == 2:
        expected = [np.log(prior[1] / prior[0])]
    else:
        expected = np.log(prior) - np.log(prior).mean()
    assert np.all(clf.coef_ == 0.0)
    assert clf.coef_.shape == (1 if n_classes == 2 else n_classes, 1)
    assert_allclose(clf.intercept_, expected, rtol=1e-12)
    dummy = DummyClassifier(strategy="prior").fit(X, y, sample_weight=w)
    assert_allclose(clf.predict_proba(X), dummy.predict_proba(X), rtol=1e-12)
    assert np.array_equal(clf.predict(X), dummy.predict(X))
    assert (clf.solver_, clf.solver_status_, clf.n_iter_) == ("closed form", "converged", 0)
    assert clf.solver_path_ == "fast"
    assert clf.objective_ == pytest.approx(log_loss(y, dummy.predict_proba(X),
                                                    sample_weight=w, normalize=False))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_balanced_classes_tie_to_the_first_class(n_classes):
    """Equal priors: every score is exactly 0 (binary) or equal (multiclass),
    and scikit-learn's rule picks the first class, as DummyClassifier."""
    y = np.tile(np.arange(n_classes), 20)
    a = np.where(np.arange(len(y)) % 2 == 0, "f", "g")
    X = pd.DataFrame({"m": np.linspace(-1, 1, len(y)) + (a == "g"), "a": a})
    with pytest.warns(DegenerateConstraintWarning):
        clf = CounterfactuallyFairClassifier(ONLY_MEDIATOR, sensitive_feature_ids="a").fit(
            X, y)
    assert np.all(clf.intercept_ == 0.0)
    assert np.all(clf.predict(X) == 0)
    dummy = DummyClassifier(strategy="prior").fit(X, y)
    assert np.array_equal(clf.predict(X), dummy.predict(X))
    assert_allclose(clf.predict_proba(X), 1.0 / n_classes, rtol=1e-15)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_class_of_zero_weight_gets_a_vanishing_but_finite_probability(n_classes):
    """The weighted maximum-likelihood prior of a class without weight is 0:
    its log is -inf, the fitted intercepts must stay finite, and the other
    classes share the probability as their weights do."""
    X, y = _data(seed=19, n_classes=n_classes)
    w = np.where(y == n_classes - 1, 0.0, 1.0 + (y == 0))
    with pytest.warns(DegenerateConstraintWarning):
        clf = CounterfactuallyFairClassifier(ONLY_MEDIATOR, sensitive_feature_ids="a").fit(
            X[["m", "a"]], y, sample_weight=w)
    assert np.all(np.isfinite(clf.intercept_))
    proba = clf.predict_proba(X[["m", "a"]])
    assert np.all(proba[:, -1] < 1e-250)
    prior = np.bincount(y, weights=w) / w.sum()
    assert_allclose(proba[:, :-1], np.broadcast_to(prior[:-1], (len(y), n_classes - 1)),
                    rtol=1e-12)


def test_only_mediators_without_intercept_give_the_zero_model():
    X, y = _data(seed=8, n_classes=3)
    with pytest.warns(DegenerateConstraintWarning):
        clf = CounterfactuallyFairClassifier(ONLY_MEDIATOR, sensitive_feature_ids="a",
                                             fit_intercept=False).fit(X[["m", "a"]], y)
    assert np.all(clf.coef_ == 0.0) and np.all(clf.intercept_ == 0.0)
    assert clf.intercept_.shape == (3,)
    assert clf.objective_ == pytest.approx(len(y) * np.log(3.0), rel=1e-12)


@pytest.mark.parametrize("epsilon,solver", [(0.0, "fast"), (0.5, "fast"), (0.0, "cvxpy")])
def test_an_attribute_that_causes_nothing_leaves_plain_logistic_regression(epsilon, solver):
    """The counterfactual directions are all zero: nothing is constrained."""
    X, y = _data(seed=20)
    graph = CausalGraph([], nodes=["z", "m", "a"])
    clf = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a", epsilon=epsilon,
                                         tol=1e-10, solver=solver).fit(X, y)
    ref = LogisticRegression(tol=1e-10, max_iter=1000).fit(X[["z", "m"]], y)
    assert np.all(clf.counterfactual_directions_ == 0.0)
    tol = 1e-6 if solver == "fast" else 1e-5
    assert_allclose(clf.coef_, ref.coef_, rtol=tol)
    assert_allclose(clf.intercept_, ref.intercept_, rtol=tol)
    if solver == "fast":
        assert (clf.solver_path_, clf.solver_) == ("unconstrained", "lbfgs")


def test_cvxpy_default_world_constrains_directions_without_zero_entries():
    """causal_model=None: a causes every input, so each twin change has no
    zero entry; with epsilon=0 the weights lie along the unit vector u
    orthogonal to the mean shift t, i.e. LogisticRegression on x . u."""
    X, y = _data(n=80, seed=26)
    X = X.assign(z=X["z"] - 0.7 * (X["a"] == "g"))
    clf = CounterfactuallyFairClassifier(sensitive_feature_ids="a", solver="cvxpy").fit(X, y)
    t = (X[X["a"] == "g"][["z", "m"]].mean() - X[X["a"] == "f"][["z", "m"]].mean()).to_numpy()
    assert np.all(np.abs(t) > 0.1)
    u = np.array([t[1], -t[0]]) / np.hypot(*t)
    ref = LogisticRegression(tol=1e-12).fit((X[["z", "m"]].to_numpy() @ u)[:, None], y)
    assert_allclose(clf.coef_[0], ref.coef_[0, 0] * u, atol=1e-5)
    assert clf.intercept_[0] == pytest.approx(ref.intercept_[0], abs=1e-5)


@pytest.mark.parametrize("which,solver", [("fair_paths", "fast"), ("unfair_paths", "fast"),
                                          ("fair_paths", "cvxpy")])
def test_path_specific_constraints_drop_the_constrained_mediator(which, solver):
    """a -> z and a -> m: allowing the path to m (fair_paths) constrains z,
    constraining only that path (unfair_paths) constrains m; with epsilon=0
    the constrained column's weight is zero and the rest is
    LogisticRegression on the other column."""
    X, y = _data(seed=21)
    X = X.assign(z=X["z"] + 1.2 * (X["a"] == "g"))
    graph = CausalGraph([("a", "z"), ("a", "m")])
    clf = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a", tol=1e-10,
                                         solver=solver, **{which: ["a -> m"]}).fit(X, y)
    kept, dropped = (1, 0) if which == "fair_paths" else (0, 1)
    ref = LogisticRegression(tol=1e-10).fit(X[[["z", "m"][kept]]], y)
    tol = 1e-6 if solver == "fast" else 1e-5
    assert abs(clf.coef_[0, dropped]) < tol * 1e-6
    assert clf.coef_[0, kept] == pytest.approx(ref.coef_[0, 0], rel=tol)
    assert clf.intercept_[0] == pytest.approx(ref.intercept_[0], rel=tol)


def test_nan_is_refused_as_by_logistic_regression():
    tags = CounterfactuallyFairClassifier().__sklearn_tags__()
    assert tags.input_tags.allow_nan is LogisticRegression().__sklearn_tags__(
    ).input_tags.allow_nan is False


def test_documented_defaults():
    """The defaults stated in the class docstring are those of __init__."""
    doc = CounterfactuallyFairClassifier.__doc__
    stated = {m.group(1): ast.literal_eval(m.group(2)) for m in re.finditer(
        r"^    (\w+) : [^\n]*default=([^\n]+)$", doc, re.M)}
    params = CounterfactuallyFairClassifier().get_params()
    assert len(stated) == 10 and set(stated) == set(params)
    for name, value in stated.items():
        assert params[name] == value and type(params[name]) is type(value), name


def test_raw_categorical_inputs_respond_as_the_reference_on_their_indicators():
    """The metrics' route for raw columns (encode, then respond by kind) is
    LogisticRegression on z and the indicators of the categorical column."""
    X, y = _data(seed=22, n_classes=3)
    c = np.random.default_rng(23).choice(["u", "v", "w"], len(y))
    X = X.assign(c=c)
    graph = CausalGraph([("a", "m")], nodes=["z", "c"])
    clf = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a", tol=1e-10).fit(
        X, y)
    onehot = pd.get_dummies(X["c"], dtype=float)
    Zref = np.column_stack([X["z"], onehot])
    ref = LogisticRegression(tol=1e-10, max_iter=1000).fit(Zref, y)
    encode, respond = clf._encoded_input_space()
    Z = encode(X)
    assert_allclose(respond(Z, "decision"), ref.decision_function(Zref), rtol=1e-6,
                    atol=1e-7)
    assert_allclose(respond(Z, "probability"), ref.predict_proba(Zref), rtol=1e-6)
    assert np.array_equal(respond(Z, "prediction"), ref.predict(Zref))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predictions_on_dask_collections_are_the_in_memory_ones(n_classes):
    dd = pytest.importorskip("dask.dataframe")
    X, y = _data(seed=24, n_classes=n_classes)
    labels = y if n_classes == 2 else np.array(["hi", "lo", "mid"])[y]
    clf = CounterfactuallyFairClassifier(ONE_MEDIATOR, sensitive_feature_ids="a",
                                         tol=1e-10).fit(X, labels)
    ref = LogisticRegression(tol=1e-10, max_iter=1000).fit(X[["z"]], labels)
    Xd = dd.from_pandas(X, npartitions=2)
    names = [str(c) for c in ref.classes_]
    decision = clf.decision_function(Xd).compute()
    if n_classes == 2:
        assert decision.name == "decision"
        assert_allclose(decision.to_numpy(), ref.decision_function(X[["z"]]), rtol=1e-6)
    else:
        assert list(decision.columns) == names
        assert_allclose(decision.to_numpy().sum(axis=1), 0.0, atol=1e-9)
    for method in ("predict_proba", "predict_log_proba"):
        out = getattr(clf, method)(Xd).compute()
        assert list(out.columns) == names
        assert_allclose(out.to_numpy(), getattr(ref, method)(X[["z"]]), rtol=1e-6,
                        atol=1e-9)
        assert_allclose(out.index, X.index)
    if n_classes == 2:  # integer labels: the lazy result's dtype is theirs
        assert clf.predict(Xd).dtype == ref.predict(X[["z"]]).dtype
    pred = clf.predict(Xd).compute()
    assert pred.name == "prediction"
    assert np.array_equal(pred.to_numpy(), ref.predict(X[["z"]]))


# --------------------------------------------------------------------------
# epsilon > 0, independent directions: the box solver (_solve_box, its
# unpacking, bounds and restarts, _LogisticTerms, _loss_and_score_gradient)
# --------------------------------------------------------------------------
BOX_CASES = {
    # name: (graph, data options, mediators)
    "binary": (ONE_MEDIATOR, {}, ["m"]),
    "three levels": (TWO_MEDIATORS, {"levels": ("f", "g", "h"), "two": True},
                     ["m1", "m2"]),
}


@pytest.mark.parametrize("case", sorted(BOX_CASES))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_box_solver_matches_slsqp_in_the_original_coordinates(case, n_classes):
    graph, options, mediators = BOX_CASES[case]
    X, y = _data(seed=9, n_classes=n_classes, **options)
    w = np.random.default_rng(10).integers(1, 4, size=len(y)).astype(float)
    eps = 0.25
    clf = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a", epsilon=eps,
                                         C=0.7, tol=1e-10).fit(X, y, sample_weight=w)
    Z = X.drop(columns="a").to_numpy()
    T = _directions(X, mediators, w)
    W, b, objective, _ = _reference(Z, y, w, 0.7, _pairwise([T]), eps, n_classes)
    assert (clf.solver_path_, clf.solver_) == ("fast", "L-BFGS-B")
    assert clf.solver_status_ == "converged"
    assert_allclose(clf.counterfactual_directions_[0], T, rtol=1e-10, atol=1e-12)
    assert_allclose(clf.coef_, W, atol=2e-5)
    assert_allclose(clf.intercept_, b, atol=2e-5)
    assert clf.objective_ == pytest.approx(objective, rel=1e-7)
    gap = np.max(np.abs(_pairwise([T]) @ W.T))
    assert gap == pytest.approx(eps, abs=1e-6)  # the constraint binds
    assert clf.counterfactual_gap_ == pytest.approx(eps, abs=1e-8)
    # The objective reported is that of the returned weights.
    scores = clf.decision_function(X)
    proba = clf.predict_proba(X)
    assert_allclose(clf.predict_log_proba(X), np.log(proba), atol=1e-12)
    if n_classes == 2:
        assert_allclose(scores, Z @ clf.coef_[0] + clf.intercept_[0], rtol=1e-12)
    recomputed = log_loss(y, proba, sample_weight=w, normalize=False) + np.sum(
        clf.coef_**2) / 1.4
    assert clf.objective_ == pytest.approx(recomputed, rel=1e-10)


def test_box_solver_with_two_worlds_and_no_intercept():
    """Two worlds, one mediator each: two independent directions, the box of
    n_worlds coordinates (L = identity)."""
    X, y = _data(seed=11, two=True)
    worlds = [CausalGraph([("a", "m1")], nodes=["z", "m2"]),
              CausalGraph([("a", "m2")], nodes=["z", "m1"])]
    eps = 0.2
    clf = CounterfactuallyFairClassifier(worlds, sensitive_feature_ids="a", epsilon=eps,
                                         fit_intercept=False, tol=1e-10).fit(X, y)
    Z = X.drop(columns="a").to_numpy()
    T = [_directions(X, ["m1"]), _directions(X, ["m2"])]
    W, b, objective, _ = _reference(Z, y, np.ones(len(y)), 1.0, _pairwise(T), eps, 2,
                                 fit_intercept=False)
    assert clf.solver_ == "L-BFGS-B"
    assert np.all(clf.intercept_ == 0.0)
    assert_allclose(clf.coef_, W, atol=2e-5)
    assert clf.objective_ == pytest.approx(objective, rel=1e-7)
    assert clf.counterfactual_gap_ == pytest.approx(eps, abs=1e-8)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_box_solver_with_two_worlds_and_three_levels(sign):
    """Two worlds of two mediators each, three levels: four independent
    directions, a box of two blocks (one per world) of three coordinates."""
    rng = np.random.default_rng(25)
    n = 150
    a = rng.choice(["f", "g", "h"], n)
    code = np.searchsorted(["f", "g", "h"], a)
    effects = {"m1": [0.0, 1.5, -1.0], "m2": [0.0, -1.0, 2.0],
               "m3": [0.0, 1.0, 0.5], "m4": [0.0, -0.5, 1.5]}
    X = pd.DataFrame({"z": rng.normal(size=n)})
    for name, effect in effects.items():
        X[name] = np.array(effect)[code] + rng.normal(size=n)
    score = X["z"] + X["m1"] - X["m2"] + sign * (X["m3"] + X["m4"])
    y = (score + rng.logistic(size=n) > 0).astype(int)
    X["a"] = a
    worlds = [CausalGraph([("a", "m1"), ("a", "m2")], nodes=["z", "m3", "m4"]),
              CausalGraph([("a", "m3"), ("a", "m4")], nodes=["z", "m1", "m2"])]
    eps = 0.2
    clf = CounterfactuallyFairClassifier(worlds, sensitive_feature_ids="a", epsilon=eps,
                                         tol=1e-10).fit(X, y)
    T = [_directions(X, ["m1", "m2"]), _directions(X, ["m3", "m4"])]
    W, b, objective, _ = _reference(X.drop(columns="a").to_numpy(), y, np.ones(n), 1.0,
                                 _pairwise(T), eps, 2)
    assert clf.solver_ == "L-BFGS-B"
    assert_allclose(clf.coef_, W, atol=2e-5)
    assert_allclose(clf.intercept_, b, atol=2e-5)
    assert clf.objective_ == pytest.approx(objective, rel=1e-7)
    assert clf.counterfactual_gap_ == pytest.approx(eps, abs=1e-8)


def test_slack_box_is_plain_logistic_regression():
    X, y = _data(seed=12, m_weight=0.05)
    clf = CounterfactuallyFairClassifier(ONE_MEDIATOR, sensitive_feature_ids="a",
                                         epsilon=5.0, tol=1e-10).fit(X, y)
    ref = LogisticRegression(tol=1e-12, max_iter=1000).fit(X[["z", "m"]], y)
    assert_allclose(clf.coef_, ref.coef_, atol=1e-6)
    assert_allclose(clf.intercept_, ref.intercept_, atol=1e-6)
    assert clf.counterfactual_gap_ < 5.0


def test_box_solver_warns_at_max_iter():
    X, y = _data(seed=13)
    with pytest.warns(ConvergenceWarning, match="L-BFGS-B did not converge"):
        clf = CounterfactuallyFairClassifier(ONE_MEDIATOR, sensitive_feature_ids="a",
                                             epsilon=0.2, max_iter=1, tol=1e-10).fit(X, y)
    assert clf.n_iter_ == 1
    # The status is scipy's own report of the iteration limit.
    rosen = minimize(lambda x: (1 - x[0])**2 + 100 * (x[1] - x[0]**2)**2, [-1.0, 2.0],
                     method="L-BFGS-B", options={"maxiter": 1})
    assert rosen.nit == 1 and clf.solver_status_ == str(rosen.message)


@pytest.mark.parametrize("m_weight", [0.4, -0.2])
def test_box_solver_warns_at_max_iter_on_the_constrained_coordinate_alone(m_weight):
    """One input, a mediator, no intercept: the only coordinate is the boxed
    one, with its optimum inside the box; one iteration does not reach it
    (the optimum, from a bounded 1-D minimisation, is not where it stopped)."""
    X, y = _data(seed=27, m_weight=m_weight)
    X = X[["m", "a"]]
    eps = 0.9
    with pytest.warns(ConvergenceWarning, match="L-BFGS-B did not converge"):
        clf = CounterfactuallyFairClassifier(ONLY_MEDIATOR, sensitive_feature_ids="a",
                                             epsilon=eps, fit_intercept=False,
                                             max_iter=1).fit(X, y)
    t = abs(_directions(X, ["m"])[0, 0])

    def objective(w):
        return log_loss(y, np.column_stack([1 - expit(w * X["m"]), expit(w * X["m"])]),
                        normalize=False) + w * w / 2

    best = minimize_scalar(objective, bounds=(-eps / t, eps / t), method="bounded",
                           options={"xatol": 1e-10})
    assert abs(best.x) < 0.9 * eps / t  # inside the box
    assert abs(clf.coef_[0, 0] - best.x) > 1e-6


# --------------------------------------------------------------------------
# epsilon > 0, dependent directions: the polytope solver (_solve_polytope)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes,fit_intercept", [(2, True), (3, True), (3, False)])
def test_polytope_solver_matches_slsqp_in_the_original_coordinates(n_classes,
                                                                   fit_intercept):
    """One mediator, three levels: two collinear directions."""
    X, y = _data(seed=14, n_classes=n_classes, levels=("f", "g", "h"))
    w = np.random.default_rng(15).uniform(0.5, 2.0, size=len(y))
    eps = 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converged and feasible
        clf = CounterfactuallyFairClassifier(
            ONE_MEDIATOR, sensitive_feature_ids="a", epsilon=eps, C=0.6,
            fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    Z = X.drop(columns="a").to_numpy()
    T = _directions(X, ["m"], w)
    W, b, objective, message = _reference(Z, y, w, 0.6, _pairwise([T]), eps, n_classes,
                                          fit_intercept=fit_intercept)
    assert (clf.solver_path_, clf.solver_) == ("fast", "SLSQP")
    assert clf.solver_status_ == message
    assert_allclose(clf.coef_, W, atol=2e-5)
    assert_allclose(clf.intercept_, b, atol=2e-5)
    assert clf.objective_ == pytest.approx(objective, rel=1e-7)
    assert clf.counterfactual_gap_ == pytest.approx(eps, abs=1e-7)
    assert clf.n_iter_ > 0
    if not fit_intercept:
        assert np.all(clf.intercept_ == 0.0)


def test_polytope_solver_warns_at_max_iter():
    X, y = _data(seed=16, levels=("f", "g", "h"))
    with pytest.warns(ConvergenceWarning, match="SLSQP did not converge"):
        CounterfactuallyFairClassifier(ONE_MEDIATOR, sensitive_feature_ids="a",
                                       epsilon=0.3, max_iter=1).fit(X, y)


# --------------------------------------------------------------------------
# The cvxpy reference path (_solve_cvxpy, _constraint_rows, _distinct_rows)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes,epsilon,fit_intercept",
                         [(2, 0.0, True), (3, 0.3, False), (2, 0.3, True), (2, 0.3, False),
                          (2, 1.0, True)])
def test_cvxpy_path_matches_the_independent_solutions(n_classes, epsilon, fit_intercept):
    X, y = _data(n=60, seed=17, n_classes=n_classes, levels=("f", "g", "h"))
    w = np.random.default_rng(18).uniform(0.5, 2.0, size=len(y))
    clf = CounterfactuallyFairClassifier(
        ONE_MEDIATOR, sensitive_feature_ids="a", epsilon=epsilon, C=0.8, solver="cvxpy",
        fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    Z = X.drop(columns="a").to_numpy()
    if epsilon == 0:
        ref = LogisticRegression(C=0.8, tol=1e-12, max_iter=1000,
                                 fit_intercept=fit_intercept).fit(X[["z"]], y,
                                                                  sample_weight=w)
        W = np.column_stack([ref.coef_[:, 0], np.zeros(len(ref.coef_))])
        b = np.atleast_1d(ref.intercept_)
        b = b - b.mean() * (n_classes > 2)
    else:
        T = _directions(X, ["m"], w)
        W, b, _, _ = _reference(Z, y, w, 0.8, _pairwise([T]), epsilon, n_classes,
                             fit_intercept=fit_intercept)
    assert clf.solver_path_ == "cvxpy"
    assert clf.n_iter_ == 0
    assert_allclose(clf.coef_, W, atol=1e-5)
    assert_allclose(clf.intercept_, b, atol=1e-5)
    assert clf.counterfactual_gap_ <= epsilon + 1e-6
