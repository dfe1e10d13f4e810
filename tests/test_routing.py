"""The sensitive attribute reaches ``fit`` (and the scorers) by every route.

Routes: scikit-learn metadata routing (``sensitive_features``), a column of
``X`` (``sensitive_feature_ids``, name or position), and the unrouted
``step__sensitive_features`` of a Pipeline. Through Pipeline, GridSearchCV
and cross_validate, each fold's fit must get exactly its training rows'
values and each scorer its test rows' values, and every route must give the
same fitted model and the same scores.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from fairlearn.metrics import demographic_parity_difference
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausal_trust.causal import CausalGraph
from skcausal_trust.datasets import make_counterfactual_classification
from skcausal_trust.exceptions import NoSensitiveFeaturesWarning
from skcausal_trust.fairness import (
    CounterfactualResidualizer,
    CounterfactuallyFairClassifier,
    counterfactual_unfairness,
    make_counterfactual_unfairness_scorer,
    make_group_fairness_scorer,
)

N_SAMPLES = 240
# Shuffled folds: slicing by position must pick scattered rows, not blocks.
CV = KFold(3, shuffle=True, random_state=0)
EPSILONS = [0.0, 0.3]
# A tight tolerance so that different routes agree to many digits.
TOL = 1e-10
STEP = "counterfactuallyfairclassifier"


@pytest.fixture(scope="module")
def data():
    X, y, a, scm = make_counterfactual_classification(N_SAMPLES, random_state=0)
    return X, y, a, scm


@pytest.fixture(scope="module")
def X_with_a(data):
    X, _, a, _ = data
    return pd.concat([X, a], axis=1)


def routing():
    return sklearn.config_context(enable_metadata_routing=True)


def _pipeline(graph, sensitive_feature_ids=None, pandas=True, **params):
    scaler = StandardScaler()
    if pandas:
        scaler = scaler.set_output(transform="pandas")
    clf = CounterfactuallyFairClassifier(
        graph, sensitive_feature_ids=sensitive_feature_ids, tol=TOL, **params
    )
    return make_pipeline(scaler, clf)


class SpyClassifier(CounterfactuallyFairClassifier):
    """Records the rows and sensitive values every ``fit`` receives."""

    calls = []

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        SpyClassifier.calls.append(
            {
                "index": np.asarray(X.index),
                "sensitive": None
                if sensitive_features is None
                else np.asarray(sensitive_features).copy(),
                "epsilon": self.epsilon,
            }
        )
        return super().fit(
            X, y, sensitive_features=sensitive_features, sample_weight=sample_weight
        )


@pytest.fixture
def spy():
    SpyClassifier.calls.clear()
    yield SpyClassifier
    SpyClassifier.calls.clear()


def _train_test(X):
    return [(train, test) for train, test in CV.split(X)]


# --------------------------------------------------------------------------
# Metadata routing: per-fold slicing of the sensitive attribute
# --------------------------------------------------------------------------
def test_routed_pipeline_fit_equals_direct_fit_on_scaled_data(data):
    X, y, a, scm = data
    with routing():
        pipe = _pipeline(scm.graph_, epsilon=0.3).fit(X, y, sensitive_features=a)
    Xs = StandardScaler().set_output(transform="pandas").fit_transform(X)
    direct = CounterfactuallyFairClassifier(scm.graph_, epsilon=0.3, tol=TOL).fit(
        Xs, y, sensitive_features=a
    )
    assert_allclose(pipe[-1].coef_, direct.coef_, rtol=1e-12, atol=1e-14)
    assert_array_equal(pipe[-1].sensitive_levels_, [0, 1])
    assert pipe[-1].sensitive_node_ == "A"
    # The constraint bound: it is active, so it proves the attribute arrived.
    assert pipe[-1].counterfactual_gap_ == pytest.approx(0.3, abs=1e-6)


def test_routed_cross_validate_slices_sensitive_features_per_fold(data, spy):
    X, y, a, scm = data
    pipe = make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        SpyClassifier(scm.graph_, epsilon=0.3, tol=TOL),
    )
    cf_scorer = make_counterfactual_unfairness_scorer(scm)
    dp_scorer = make_group_fairness_scorer(demographic_parity_difference)
    with routing():
        cv = cross_validate(
            pipe, X, y, cv=CV, params={"sensitive_features": a},
            scoring={"cf": cf_scorer, "dp": dp_scorer, "acc": "accuracy"},
            return_estimator=True, return_indices=True, error_score="raise",
        )
    folds = _train_test(X)
    assert len(spy.calls) == len(folds)
    for k, (train, test) in enumerate(folds):
        assert_array_equal(cv["indices"]["train"][k], train)
        call = spy.calls[k]
        # The fit saw exactly the training rows and their own sensitive values.
        assert_array_equal(call["index"], train)
        assert_array_equal(call["sensitive"], a.to_numpy()[train])
        # ...and fitted what a manual fit on those rows fits.
        est = cv["estimator"][k]
        manual = _pipeline(scm.graph_, epsilon=0.3).fit(
            X.iloc[train], y[train],
            **{f"{STEP}__sensitive_features": a.iloc[train]},
        )
        assert_allclose(est[-1].coef_, manual[-1].coef_, rtol=1e-12, atol=1e-14)
        for fitted, expected in zip(est[-1].scms_, manual[-1].scms_):
            assert_allclose(fitted.equations_["x0"]["coef"],
                            expected.equations_["x0"]["coef"], rtol=1e-12)
        # The scorers got the test rows' sensitive values.
        Xt, at = X.iloc[test], a.iloc[test]
        assert cv["test_cf"][k] == pytest.approx(
            -counterfactual_unfairness(est, Xt, scm=scm, sensitive_features=at),
            rel=1e-12,
        )
        assert cv["test_dp"][k] == pytest.approx(
            -demographic_parity_difference(
                y[test], est.predict(Xt), sensitive_features=at
            ),
            rel=1e-12,
        )
    # A constrained model under a model fitted on 160 rows is nearly but not
    # exactly fair under the true model; unfairness is not the trivial 0.
    assert np.all(cv["test_cf"] < 0) and np.all(cv["test_cf"] > -0.1)


def test_routed_grid_search_slices_per_fold_and_refits_on_all_rows(data, spy):
    X, y, a, scm = data
    pipe = make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        SpyClassifier(scm.graph_, tol=TOL),
    )
    cf_scorer = make_counterfactual_unfairness_scorer(scm)
    grid = GridSearchCV(
        pipe, {"spyclassifier__epsilon": EPSILONS}, cv=CV,
        scoring={"acc": "accuracy", "cf": cf_scorer}, refit="acc",
        error_score="raise",
    )
    with routing():
        grid.fit(X, y, sensitive_features=a)
    folds = _train_test(X)
    assert len(spy.calls) == len(EPSILONS) * len(folds) + 1
    cv_calls, refit = spy.calls[:-1], spy.calls[-1]
    for call in cv_calls:
        fold = [k for k, (train, _) in enumerate(folds)
                if np.array_equal(call["index"], train)]
        assert len(fold) == 1
        assert_array_equal(call["sensitive"], a.to_numpy()[folds[fold[0]][0]])
    assert_array_equal(refit["index"], np.arange(N_SAMPLES))
    assert_array_equal(refit["sensitive"], a.to_numpy())
    # Every split score equals a manual fit on the training rows scored on
    # the test rows with the test rows' sensitive values.
    for i, eps in enumerate(EPSILONS):
        for k, (train, test) in enumerate(folds):
            manual = _pipeline(scm.graph_, epsilon=eps).fit(
                X.iloc[train], y[train],
                **{f"{STEP}__sensitive_features": a.iloc[train]},
            )
            expected = -counterfactual_unfairness(
                manual, X.iloc[test], scm=scm, sensitive_features=a.iloc[test]
            )
            assert grid.cv_results_[f"split{k}_test_cf"][i] == pytest.approx(
                expected, rel=1e-9, abs=1e-12
            )
    # epsilon = 0 is (nearly) counterfactually fair, 0.3 is measurably not.
    mean_cf = grid.cv_results_["mean_test_cf"]
    assert mean_cf[0] > mean_cf[1]


# --------------------------------------------------------------------------
# Routes agree: routing, column name, column position, step__param
# --------------------------------------------------------------------------
def _run_routes(data, X_with_a):
    """Fit GridSearchCV and cross_validate by each route; return results."""
    X, y, a, scm = data
    Xn = np.column_stack([X.to_numpy(), a.to_numpy().astype(float)])
    dp = demographic_parity_difference
    grid_params = {f"{STEP}__epsilon": EPSILONS}
    out = {}

    def run(name, est, Xfit, fit_params, scoring, routed):
        grid = GridSearchCV(est, grid_params, cv=CV, scoring=scoring,
                            refit="acc", error_score="raise")
        cv_kwargs = dict(cv=CV, scoring=scoring, return_estimator=True,
                         error_score="raise")
        with sklearn.config_context(enable_metadata_routing=routed):
            grid.fit(Xfit, y, **fit_params)
            cv = cross_validate(clone(est).set_params(**{f"{STEP}__epsilon": 0.3}),
                                Xfit, y, params=fit_params, **cv_kwargs)
        out[name] = (grid, cv)

    run("routed", _pipeline(scm.graph_), X, {"sensitive_features": a},
        {"acc": "accuracy",
         "dp": make_group_fairness_scorer(dp),
         "cf": make_counterfactual_unfairness_scorer(scm)}, True)
    run("column name", _pipeline(scm.graph_, sensitive_feature_ids="A"), X_with_a,
        {}, {"acc": "accuracy",
             "dp": make_group_fairness_scorer(dp, sensitive_feature_ids="A"),
             "cf": make_counterfactual_unfairness_scorer(
                 scm, sensitive_feature_ids="A")}, False)
    # Arrays have no column names: the graph names columns by position.
    positions = {f"x{j}": j for j in range(X.shape[1])} | {"A": X.shape[1]}
    positional = CausalGraph([(positions[u], positions[v]) for u, v in scm.graph_.edges],
                             nodes=list(positions.values()))
    run("column position", _pipeline(positional, sensitive_feature_ids=-1,
                                     pandas=False), Xn,
        {}, {"acc": "accuracy",
             "dp": make_group_fairness_scorer(dp, sensitive_feature_ids=6)}, False)
    run("step param", _pipeline(scm.graph_), X,
        {f"{STEP}__sensitive_features": a},
        {"acc": "accuracy"}, False)
    return out


@pytest.fixture(scope="module")
def routes(data, X_with_a):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoSensitiveFeaturesWarning)
        return _run_routes(data, X_with_a)


@pytest.mark.parametrize("route", ["column name", "column position", "step param"])
def test_unrouted_routes_equal_routed_coefficients_and_scores(routes, route):
    grid_r, cv_r = routes["routed"]
    grid, cv = routes[route]
    assert grid.best_params_ == grid_r.best_params_
    assert_allclose(grid.best_estimator_[-1].coef_, grid_r.best_estimator_[-1].coef_,
                    rtol=1e-6, atol=1e-8)
    assert_allclose(grid.best_estimator_[-1].counterfactual_directions_,
                    grid_r.best_estimator_[-1].counterfactual_directions_,
                    rtol=1e-10, atol=1e-12)
    for key in grid.cv_results_:
        if key.startswith(("split", "mean_test", "std_test")) and key in grid_r.cv_results_:
            assert_allclose(grid.cv_results_[key], grid_r.cv_results_[key],
                            rtol=1e-7, atol=1e-10, err_msg=key)
    for key in cv:
        if key.startswith("test_"):
            assert_allclose(cv[key], cv_r[key], rtol=1e-7, atol=1e-10, err_msg=key)
    for est, est_r in zip(cv["estimator"], cv_r["estimator"]):
        assert_allclose(est[-1].coef_, est_r[-1].coef_, rtol=1e-6, atol=1e-8)
        # A column of X goes through the scaler too: its levels are scaled,
        # but they are still two, in the same order.
        levels = est[-1].sensitive_levels_.astype(float)
        assert levels.shape == (2,) and levels[0] < levels[1]
        if route == "step param":
            assert_array_equal(levels, est_r[-1].sensitive_levels_.astype(float))


def test_routes_score_the_fairness_metrics_they_were_given(routes):
    # Guards the comparison above against vacuous equality: the scorers ran
    # and found the constrained model at epsilon=0.3 unfair, and the epsilon=0
    # candidate (near) fair on the test folds.
    grid, cv = routes["routed"]
    assert {"test_cf", "test_dp", "test_acc"} <= set(cv)
    assert np.all(cv["test_cf"] < -1e-3)
    assert grid.cv_results_["mean_test_cf"][0] > grid.cv_results_["mean_test_cf"][1]
    assert routes["column name"][1]["test_cf"].shape == (3,)


# --------------------------------------------------------------------------
# CounterfactualResidualizer in a Pipeline
# --------------------------------------------------------------------------
EXPECTED_RESIDUAL_COLUMNS = [
    "x0_residual", "x1_residual", "x2_residual", "x3", "x4_residual", "x5_residual"
]


def test_residualizer_pipeline_routed_equals_column_route(data, X_with_a):
    X, y, a, scm = data
    with routing():
        routed = make_pipeline(
            CounterfactualResidualizer(scm.graph_).set_output(transform="pandas")
            .set_fit_request(sensitive_features=True)
            .set_transform_request(sensitive_features=True),
            LogisticRegression(tol=TOL),
        ).fit(X, y, sensitive_features=a)
        proba_routed = routed.predict_proba(X, sensitive_features=a)
        Z = routed[0].transform(X, sensitive_features=a)
    column = make_pipeline(
        CounterfactualResidualizer(scm.graph_, sensitive_feature_ids="A")
        .set_output(transform="pandas"),
        LogisticRegression(tol=TOL),
    ).fit(X_with_a, y)
    assert_allclose(routed[-1].coef_, column[-1].coef_, rtol=1e-10)
    assert_allclose(proba_routed, column.predict_proba(X_with_a), rtol=1e-10)

    # set_output: a DataFrame with get_feature_names_out's columns and X's index.
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == EXPECTED_RESIDUAL_COLUMNS
    assert list(routed[0].get_feature_names_out()) == EXPECTED_RESIDUAL_COLUMNS
    assert list(column[0].transform(X_with_a).columns) == EXPECTED_RESIDUAL_COLUMNS
    assert_array_equal(Z.index, X.index)
    # x3 is not a descendant of A: passed through unchanged.
    assert_array_equal(Z["x3"], X["x3"])
    # Least-squares residuals of A's children (A's indicator among their
    # regressors) have zero mean within each level of A; the raw mediator x0
    # does not.
    group_means = Z.groupby(a.to_numpy()).mean()
    children = [f"{c}_residual" for c in scm.graph_.children("A")]
    assert children == ["x0_residual", "x1_residual", "x2_residual"]
    assert_allclose(group_means[children].to_numpy(), 0.0, atol=1e-10)
    raw_gap = X["x0"].groupby(a.to_numpy()).mean().diff().iloc[-1]
    assert abs(raw_gap) > 0.5


def test_residualizer_in_model_selection_never_scores_nan(data, X_with_a):
    """Reproducer: with routed sensitive_features and scoring="accuracy" every
    mean_test_score was NaN (the scorer calls predict with X alone, so the
    attribute never reached transform) and the first candidate won."""
    X, y, a, scm = data
    grid = {"logisticregression__C": [0.01, 1.0]}
    # Routing is not requested by default: every fit fails with
    # scikit-learn's error naming the way out, so the search raises instead
    # of scoring NaN.
    with routing():
        pipe = make_pipeline(CounterfactualResidualizer(scm.graph_), LogisticRegression())
        with pytest.raises(UnsetMetadataPassedError,
                           match=r"CounterfactualResidualizer.set_fit_request"):
            pipe.fit(X, y, sensitive_features=a)
        search = GridSearchCV(pipe, grid, cv=CV, scoring="accuracy")
        with pytest.raises(ValueError, match=r"(?s)All the 6 fits failed.*"
                                             r"UnsetMetadataPassedError"):
            search.fit(X, y, sensitive_features=a)
    # The column route works with any scorer, routing on or off.
    for routed in (False, True):
        with sklearn.config_context(enable_metadata_routing=routed):
            column = GridSearchCV(
                make_pipeline(CounterfactualResidualizer(
                    scm.graph_, sensitive_feature_ids="A"), LogisticRegression()),
                grid, cv=CV, scoring="accuracy", error_score="raise",
            ).fit(X_with_a, y)
        scores = column.cv_results_["mean_test_score"]
        assert np.all(np.isfinite(scores)) and scores[0] != scores[1]
    # Explicit routing to transform: Pipeline.score (the default scoring)
    # routes the test rows' values, and predict without them names the gap.
    with routing():
        pipe = make_pipeline(
            CounterfactualResidualizer(scm.graph_)
            .set_fit_request(sensitive_features=True)
            .set_transform_request(sensitive_features=True),
            LogisticRegression()).fit(X, y, sensitive_features=a)
        with pytest.raises(ValueError, match="needs the sensitive attribute 'A'.*"
                           "pass sensitive_features"):
            pipe.predict(X)
        cv = cross_validate(pipe, X, y, cv=CV, params={"sensitive_features": a},
                            return_estimator=True, error_score="raise")
        for k, (_, test) in enumerate(_train_test(X)):
            assert cv["test_score"][k] == pytest.approx(
                cv["estimator"][k].score(X.iloc[test], y[test],
                                         sensitive_features=a.iloc[test])
            )


def test_residualizer_with_true_scm_makes_any_model_counterfactually_fair(
    data, X_with_a
):
    X, y, a, scm = data
    fair = make_pipeline(
        CounterfactualResidualizer(scm, sensitive_feature_ids="A"),
        LogisticRegression(),
    ).fit(X_with_a, y)
    unfair = LogisticRegression().fit(X, y)
    assert counterfactual_unfairness(
        fair, X_with_a, scm=scm, sensitive_feature_ids="A"
    ) < 1e-12
    assert counterfactual_unfairness(unfair, X, scm=scm, sensitive_features=a) > 0.05


# --------------------------------------------------------------------------
# Pickling and cloning
# --------------------------------------------------------------------------
def _fitted_models(data, X_with_a):
    X, y, a, scm = data
    with routing():
        grid = GridSearchCV(_pipeline(scm.graph_), {f"{STEP}__epsilon": EPSILONS},
                            cv=CV).fit(X, y, sensitive_features=a)
    return {
        "graph, epsilon>0": (CounterfactuallyFairClassifier(
            scm.graph_, epsilon=0.3).fit(X, y, sensitive_features=a), X, {}),
        "true scm": (CounterfactuallyFairClassifier(scm).fit(
            X, y, sensitive_features=a), X, {}),
        "column, multiclass": (CounterfactuallyFairClassifier(
            sensitive_feature_ids="A", epsilon=0.1).fit(
                X_with_a, np.digitize(X["x3"], [-0.5, 0.5])), X_with_a, {}),
        "residualizer pipeline": (make_pipeline(
            CounterfactualResidualizer(scm.graph_, sensitive_feature_ids="A"),
            LogisticRegression()).fit(X_with_a, y), X_with_a, {}),
        "grid search": (grid, X, {}),
    }


def test_pickle_round_trip_gives_identical_predictions(data, X_with_a):
    for name, (model, Xp, kw) in _fitted_models(data, X_with_a).items():
        restored = pickle.loads(pickle.dumps(model))
        assert_array_equal(restored.predict_proba(Xp), model.predict_proba(Xp),
                           err_msg=name)
        assert_array_equal(restored.predict(Xp), model.predict(Xp), err_msg=name)


def test_pickle_round_trip_of_residualizer_transforms_identically(data):
    X, _, a, scm = data
    res = CounterfactualResidualizer(scm.graph_).fit(X, sensitive_features=a)
    restored = pickle.loads(pickle.dumps(res))
    assert_array_equal(restored.transform(X, sensitive_features=a),
                       res.transform(X, sensitive_features=a))
    assert restored.descendants_ == ["x0", "x1", "x2", "x4", "x5"]


def test_clone_keeps_a_fitted_true_scm_usable(data):
    X, y, a, scm = data
    est = CounterfactuallyFairClassifier(scm, epsilon=0.2, tol=TOL)
    cloned = clone(est)
    assert cloned.causal_model is not scm
    assert cloned.causal_model.equations_.keys() == scm.equations_.keys()
    cloned.fit(X, y, sensitive_features=a)
    # The fitted model is used as it is, not refitted: its directions are
    # the true total effects of A, which a model refitted on data is not.
    true_effect = scm.total_effect("A", 0, 1, list(X.columns))
    assert_allclose(cloned.counterfactual_directions_[0, 0], true_effect, rtol=1e-12)
    refitted = CounterfactuallyFairClassifier(scm.graph_, epsilon=0.2, tol=TOL).fit(
        X, y, sensitive_features=a)
    assert not np.allclose(refitted.counterfactual_directions_, true_effect,
                           atol=1e-3)
    assert cloned.scms_[0] is cloned.causal_model
    assert_allclose(cloned.coef_, est.fit(X, y, sensitive_features=a).coef_,
                    rtol=1e-12)
    # The clone of a clone (as GridSearchCV makes) still works, and the
    # residualizer accepts a cloned fitted SCM too.
    res = clone(CounterfactualResidualizer(scm)).fit(X, sensitive_features=a)
    noise = scm.abduct(pd.concat([X, a], axis=1))
    assert_allclose(res.transform(X, sensitive_features=a)[:, 0],
                    noise["x0"].to_numpy(), rtol=1e-12)


# --------------------------------------------------------------------------
# Fallback without sensitive information
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3])
def test_fallback_without_sensitive_features_is_logistic_regression(n_classes):
    X, y, a, _ = make_counterfactual_classification(
        N_SAMPLES, n_classes=n_classes, random_state=1
    )
    C = 0.5
    with pytest.warns(NoSensitiveFeaturesWarning, match="falls back"):
        clf = CounterfactuallyFairClassifier(C=C, tol=TOL).fit(X, y)
    lr = LogisticRegression(C=C, tol=TOL, max_iter=10_000).fit(X, y)
    # Both are lbfgs to a 1e-10 gradient: coefficients agree to 1e-6.
    assert_allclose(clf.coef_, lr.coef_, rtol=1e-6, atol=1e-8)
    intercept = lr.intercept_ - (lr.intercept_.mean() if n_classes > 2 else 0.0)
    assert_allclose(clf.intercept_, intercept, rtol=1e-6, atol=1e-8)
    assert_allclose(clf.predict_proba(X), lr.predict_proba(X), atol=1e-8)
    assert clf.solver_path_ == "unconstrained"
    assert clf.scms_ == [] and clf.sensitive_levels_ is None
    # With the attribute the same estimator is constrained, hence different.
    fair = CounterfactuallyFairClassifier(C=C, tol=TOL).fit(X, y, sensitive_features=a)
    assert not np.allclose(fair.coef_, lr.coef_, atol=1e-2)


def test_fallback_under_routing_when_nothing_is_passed(data):
    X, y, _, scm = data
    with routing(), pytest.warns(NoSensitiveFeaturesWarning):
        pipe = _pipeline(scm.graph_).fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    lr = LogisticRegression(tol=TOL, max_iter=10_000).fit(Xs, y)
    assert_allclose(pipe[-1].coef_, lr.coef_, rtol=1e-6, atol=1e-8)
