"""The environment labels reach ``fit`` (and the worst-environment scorer) by
every route, for InvariantCausalPrediction and AnchorRegression.

Routes: scikit-learn metadata routing (``environments``), a column of ``X``
(``environment_column``, name or position), and the unrouted
``step__environments`` of a Pipeline. Through Pipeline, GridSearchCV and
cross_validate each fold's fit must get exactly its training rows' labels,
the refit all rows' labels, and each scorer its test rows' labels; every
route must give the same fitted model and the same scores.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    cross_validate,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.exceptions import NoEnvironmentsWarning
from skcausal_trust.invariance import (
    AnchorRegression,
    InvariantCausalPrediction,
    make_worst_environment_scorer,
    worst_fold_refit,
)

# Shuffled folds: slicing by position must pick scattered rows, not blocks
# (the data come sorted by environment).
CV = KFold(3, shuffle=True, random_state=0)
ALPHAS = [0.01, 0.1]
GAMMAS = [0.0, 0.5, 1.0, 2.0, 5.0, 20.0, 100.0]


def routing():
    return sklearn.config_context(enable_metadata_routing=True)


@pytest.fixture(scope="module")
def icp_data():
    # 4 environments of 100 rows; parents x2, x3 among 6 predictors.
    X, y, env, parents = make_invariant_regression(100, 4, random_state=0)
    assert parents == ["x2", "x3"]
    return X, y, env, parents


@pytest.fixture(scope="module")
def shift_data():
    # 5 strongly shifted environments: the pooled error prefers small gamma,
    # the worst held-out environment prefers large gamma.
    X, y, env, parents = make_invariant_regression(
        100, 5, n_ancestors=1, n_parents=2, n_children=2,
        intervention_strength=2.0, random_state=0,
    )
    return X, y, env, parents


def _codes(env):
    """Environment labels as 0, 1, ... in sorted order (a numeric column)."""
    return np.unique(env, return_inverse=True)[1]


class SpyICP(InvariantCausalPrediction):
    """Records the rows and environment labels every ``fit`` receives."""

    calls = []

    def fit(self, X, y, *, environments=None):
        SpyICP.calls.append({
            "index": np.asarray(X.index) if hasattr(X, "index") else None,
            "environments": None if environments is None
            else np.asarray(environments).copy(),
            "alpha": self.alpha,
        })
        return super().fit(X, y, environments=environments)


class SpyAnchor(AnchorRegression):
    """Records the rows and environment labels every ``fit`` receives."""

    calls = []

    def fit(self, X, y, *, environments=None, anchors=None, sample_weight=None):
        SpyAnchor.calls.append({
            "index": np.asarray(X.index) if hasattr(X, "index") else None,
            "environments": None if environments is None
            else np.asarray(environments).copy(),
            "gamma": self.gamma,
        })
        return super().fit(X, y, environments=environments, anchors=anchors,
                           sample_weight=sample_weight)


@pytest.fixture
def spies():
    SpyICP.calls.clear()
    SpyAnchor.calls.clear()
    yield
    SpyICP.calls.clear()
    SpyAnchor.calls.clear()


def _scaler():
    return StandardScaler().set_output(transform="pandas")


def _icp_pipeline(icp=None, scaler=None):
    return Pipeline([
        ("scale", _scaler() if scaler is None else scaler),
        ("icp", InvariantCausalPrediction() if icp is None else icp),
        ("ols", LinearRegression()),
    ])


def _scaled(X, rows=None):
    """X scaled as the pipeline's scaler does on ``rows`` (all by default)."""
    Xr = X if rows is None else X.iloc[rows]
    return _scaler().fit_transform(Xr)


def _worst_mse_by_hand(model, X, y, env):
    return -max(
        mean_squared_error(y[env == e], model.predict(X[env == e]))
        for e in np.unique(env)
    )


# --------------------------------------------------------------------------
# Pipeline: the routed environments reach ICP and AnchorRegression
# --------------------------------------------------------------------------
def test_routed_pipeline_icp_equals_direct_fit_on_scaled_data(icp_data):
    X, y, env, parents = icp_data
    with routing():
        pipe = _icp_pipeline().fit(X, y, environments=env)
    icp = pipe.named_steps["icp"]
    direct = InvariantCausalPrediction().fit(_scaled(X), y, environments=env)
    assert_array_equal(icp.environments_, ["e0", "e1", "e2", "e3"])
    assert list(icp.get_feature_names_out()) == parents
    assert icp.subset_pvalues_.keys() == direct.subset_pvalues_.keys()
    for subset, pvalue in icp.subset_pvalues_.items():
        assert pvalue == direct.subset_pvalues_[subset], subset
    # The tests are invariant to scaling the predictors: the unscaled fit
    # has the same p-values up to rounding.
    unscaled = InvariantCausalPrediction().fit(X, y, environments=env)
    for subset, pvalue in icp.subset_pvalues_.items():
        assert pvalue == pytest.approx(unscaled.subset_pvalues_[subset],
                                       rel=1e-8, abs=1e-14), subset
    # The parents are accepted, a set without x3 is not: the labels arrived.
    assert icp.subset_pvalues_[("x2", "x3")] > 0.05
    assert icp.subset_pvalues_[("x2",)] < 1e-3


def test_routed_pipeline_anchor_equals_direct_fit_on_scaled_data(shift_data):
    X, y, env, _ = shift_data
    with routing():
        pipe = Pipeline([("scale", _scaler()),
                         ("anchor", AnchorRegression(gamma=20.0))]).fit(
            X, y, environments=env)
    direct = AnchorRegression(gamma=20.0).fit(_scaled(X), y, environments=env)
    assert_allclose(pipe[-1].coef_, direct.coef_, rtol=1e-12)
    assert pipe[-1].n_anchors_ == 5
    ols = LinearRegression().fit(_scaled(X), y)
    assert not np.allclose(pipe[-1].coef_, ols.coef_, atol=0.05)


# --------------------------------------------------------------------------
# cross_validate and GridSearchCV: per-fold slicing
# --------------------------------------------------------------------------
def test_routed_cross_validate_slices_environments_per_fold_for_icp(icp_data, spies):
    X, y, env, _ = icp_data
    pipe = _icp_pipeline(SpyICP())
    with routing():
        cv = cross_validate(pipe, X, y, cv=CV, params={"environments": env},
                            return_estimator=True, return_indices=True,
                            error_score="raise")
    folds = list(CV.split(X))
    assert len(SpyICP.calls) == len(folds)
    for k, (train, test) in enumerate(folds):
        assert_array_equal(cv["indices"]["train"][k], train)
        call = SpyICP.calls[k]
        # The fit saw exactly the training rows and their own labels.
        assert_array_equal(call["index"], train)
        assert_array_equal(call["environments"], env[train])
        # ...and tested what a manual fit on those rows tests.
        manual = _icp_pipeline().fit(X.iloc[train], y[train],
                                     icp__environments=env[train])
        fitted = cv["estimator"][k].named_steps["icp"]
        assert fitted.subset_pvalues_ == manual.named_steps["icp"].subset_pvalues_
        assert cv["test_score"][k] == pytest.approx(
            manual.score(X.iloc[test], y[test]), rel=1e-12)


def test_routed_cross_validate_slices_environments_per_fold_for_anchor(
    shift_data, spies
):
    X, y, env, _ = shift_data
    pipe = Pipeline([("scale", _scaler()), ("anchor", SpyAnchor(gamma=5.0))])
    scoring = {"worst": make_worst_environment_scorer(),
               "mse": "neg_mean_squared_error"}
    with routing():
        cv = cross_validate(pipe, X, y, cv=CV, params={"environments": env},
                            scoring=scoring, return_estimator=True,
                            error_score="raise")
    for k, (train, test) in enumerate(CV.split(X)):
        call = SpyAnchor.calls[k]
        assert_array_equal(call["index"], train)
        assert_array_equal(call["environments"], env[train])
        manual = AnchorRegression(gamma=5.0).fit(
            _scaled(X, train), y[train], environments=env[train])
        est = cv["estimator"][k]
        assert_allclose(est[-1].coef_, manual.coef_, rtol=1e-12)
        # The scorer got the test rows' labels: its value is the worst of
        # the five environments' errors on the test rows, computed by hand.
        worst = _worst_mse_by_hand(est, X.iloc[test], y[test], env[test])
        assert cv["test_worst"][k] == pytest.approx(worst, rel=1e-12)
        # ...which is not the pooled error: the labels mattered.
        assert cv["test_worst"][k] < cv["test_mse"][k] - 0.1


def test_routed_grid_search_slices_per_fold_and_refits_on_all_rows(icp_data, spies):
    X, y, env, parents = icp_data
    grid = GridSearchCV(_icp_pipeline(SpyICP()), {"icp__alpha": ALPHAS}, cv=CV,
                        error_score="raise")
    with routing():
        grid.fit(X, y, environments=env)
    folds = list(CV.split(X))
    assert len(SpyICP.calls) == len(ALPHAS) * len(folds) + 1
    cv_calls, refit = SpyICP.calls[:-1], SpyICP.calls[-1]
    for call in cv_calls:
        fold = [k for k, (train, _) in enumerate(folds)
                if np.array_equal(call["index"], train)]
        assert len(fold) == 1
        assert_array_equal(call["environments"], env[folds[fold[0]][0]])
    assert_array_equal(refit["index"], np.arange(len(y)))
    assert_array_equal(refit["environments"], env)
    for i, alpha in enumerate(ALPHAS):
        for k, (train, test) in enumerate(folds):
            manual = _icp_pipeline(InvariantCausalPrediction(alpha=alpha)).fit(
                X.iloc[train], y[train], icp__environments=env[train])
            assert grid.cv_results_[f"split{k}_test_score"][i] == pytest.approx(
                manual.score(X.iloc[test], y[test]), rel=1e-12)
    assert list(grid.best_estimator_[:-1].get_feature_names_out()) == parents


# --------------------------------------------------------------------------
# AnchorRegression tuned for the worst environment
# --------------------------------------------------------------------------
def test_grid_search_leave_one_environment_out_routes_groups_and_environments(
    shift_data, spies
):
    X, y, env, _ = shift_data
    grid = GridSearchCV(
        SpyAnchor(), {"gamma": GAMMAS}, cv=LeaveOneGroupOut(),
        scoring=make_worst_environment_scorer(), refit=worst_fold_refit(),
        error_score="raise",
    )
    # The splitter requests groups, the estimator and the scorer environments.
    with routing():
        grid.fit(X, y, groups=env, environments=env)
    levels = np.unique(env)
    folds = list(LeaveOneGroupOut().split(X, y, groups=env))
    assert len(SpyAnchor.calls) == len(GAMMAS) * len(levels) + 1
    for call in SpyAnchor.calls[:-1]:
        fold = [k for k, (train, _) in enumerate(folds)
                if np.array_equal(call["index"], train)]
        assert len(fold) == 1
        train, test = folds[fold[0]]
        assert_array_equal(call["environments"], env[train])
        # Each fit saw every environment but the held-out one.
        assert_array_equal(np.setdiff1d(levels, call["environments"]),
                           np.unique(env[test]))
    assert_array_equal(SpyAnchor.calls[-1]["environments"], env)
    # Split scores by hand: fit on four environments, error on the fifth.
    for i, gamma in enumerate(GAMMAS):
        for k, (train, test) in enumerate(folds):
            manual = AnchorRegression(gamma=gamma).fit(
                X.iloc[train], y[train], environments=env[train])
            expected = -mean_squared_error(y[test], manual.predict(X.iloc[test]))
            assert grid.cv_results_[f"split{k}_test_score"][i] == pytest.approx(
                expected, rel=1e-10)


def test_worst_fold_refit_chooses_the_best_worst_split(shift_data):
    X, y, env, _ = shift_data
    scorer = make_worst_environment_scorer()
    common = dict(cv=LeaveOneGroupOut(), scoring=scorer, error_score="raise")
    with routing():
        worst = GridSearchCV(AnchorRegression(), {"gamma": GAMMAS},
                             refit=worst_fold_refit(), **common)
        worst.fit(X, y, groups=env, environments=env)
        mean = GridSearchCV(AnchorRegression(), {"gamma": GAMMAS}, **common)
        mean.fit(X, y, groups=env, environments=env)
    results = worst.cv_results_
    splits = np.column_stack([results[f"split{k}_test_score"] for k in range(5)])
    by_hand = int(np.argmax(splits.min(axis=1)))
    assert worst.best_index_ == by_hand
    assert worst.best_params_ == {"gamma": GAMMAS[by_hand]}
    # The mean over environments ranks differently on this shift: the
    # default refit picks another gamma, so the test tells them apart.
    assert mean.best_index_ == int(np.argmax(splits.mean(axis=1)))
    assert mean.best_index_ != worst.best_index_
    # The refit used every row and every environment.
    direct = AnchorRegression(gamma=GAMMAS[by_hand]).fit(X, y, environments=env)
    assert_allclose(worst.best_estimator_.coef_, direct.coef_, rtol=1e-12)
    assert_array_equal(worst.best_estimator_.environments_, np.unique(env))


def test_worst_environment_scorer_receives_the_test_rows_environments(shift_data):
    X, y, env, _ = shift_data
    cv = GroupKFold(n_splits=2)
    grid = GridSearchCV(
        AnchorRegression(), {"gamma": [1.0, 20.0]}, cv=cv,
        scoring={"worst": make_worst_environment_scorer(),
                 "mse": "neg_mean_squared_error"},
        refit="worst", error_score="raise",
    )
    with routing():
        grid.fit(X, y, groups=env, environments=env)
    folds = list(cv.split(X, y, groups=env))
    for k, (train, test) in enumerate(folds):
        # Several environments in each test fold: the worst is not the mean.
        assert np.unique(env[test]).size >= 2
        for i, gamma in enumerate([1.0, 20.0]):
            manual = AnchorRegression(gamma=gamma).fit(
                X.iloc[train], y[train], environments=env[train])
            worst = _worst_mse_by_hand(manual, X.iloc[test], y[test], env[test])
            assert grid.cv_results_[f"split{k}_test_worst"][i] == pytest.approx(
                worst, rel=1e-10)
            assert grid.cv_results_[f"split{k}_test_worst"][i] < (
                grid.cv_results_[f"split{k}_test_mse"][i] - 0.1)


# --------------------------------------------------------------------------
# Routes agree: routing, column name, column position, step__param
# --------------------------------------------------------------------------
def _icp_routes(X, y, env):
    codes = _codes(env)
    Xc = X.assign(env=codes)
    Xn = np.column_stack([X.to_numpy(), codes])
    grid = {"icp__alpha": ALPHAS}
    out = {}

    def run(name, pipe, Xfit, params, routed):
        with sklearn.config_context(enable_metadata_routing=routed):
            search = GridSearchCV(pipe, grid, cv=CV, error_score="raise")
            search.fit(Xfit, y, **params)
        out[name] = search

    run("routed", _icp_pipeline(), X, {"environments": env}, True)
    run("column name", _icp_pipeline(InvariantCausalPrediction(
        environment_column="env")), Xc, {}, False)
    run("column position", _icp_pipeline(InvariantCausalPrediction(
        environment_column=-1), scaler=StandardScaler()), Xn, {}, False)
    run("step param", _icp_pipeline(), X, {"icp__environments": env}, False)
    return out


def _anchor_routes(X, y, env):
    codes = _codes(env)
    Xc = X.assign(env=codes)
    Xn = np.column_stack([X.to_numpy(), codes])
    # Three penalties suffice for the routes to agree (the grid's choices
    # are tested above).
    grid = {"anchor__gamma": [0.0, 2.0, 100.0]}
    out = {}

    def pipe(**params):
        scaler = _scaler() if params.pop("pandas", True) else StandardScaler()
        return Pipeline([("scale", scaler), ("anchor", AnchorRegression(**params))])

    def run(name, est, Xfit, params, scorer, routed):
        with sklearn.config_context(enable_metadata_routing=routed):
            # Without routing a scorer cannot get the labels unless it reads
            # them from a column of X: the step-param route has no "worst".
            scoring = {"mse": "neg_mean_squared_error"}
            if scorer is not None:
                scoring["worst"] = scorer
            search = GridSearchCV(
                est, grid, cv=LeaveOneGroupOut(), error_score="raise",
                scoring=scoring, refit=worst_fold_refit("worst" if scorer else "mse"),
            )
            search.fit(Xfit, y, groups=codes, **params)
        out[name] = search

    run("routed", pipe(), X, {"environments": env},
        make_worst_environment_scorer(), True)
    run("column name", pipe(environment_column="env"), Xc, {},
        make_worst_environment_scorer(environment_column="env"), False)
    run("column position", pipe(environment_column=5, pandas=False), Xn, {},
        make_worst_environment_scorer(environment_column=-1), False)
    run("step param", pipe(), X, {"anchor__environments": env},
        None, False)
    return out


@pytest.fixture(scope="module")
def routes(icp_data, shift_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoEnvironmentsWarning)
        return {"icp": _icp_routes(*icp_data[:3]),
                "anchor": _anchor_routes(*shift_data[:3])}


@pytest.mark.parametrize("route", ["column name", "column position", "step param"])
def test_unrouted_icp_routes_equal_routed_pvalues_and_scores(routes, route):
    routed, search = routes["icp"]["routed"], routes["icp"][route]
    for key in routed.cv_results_:
        if key.startswith(("split", "mean_test", "std_test")):
            assert_allclose(search.cv_results_[key], routed.cv_results_[key],
                            rtol=1e-10, err_msg=key)
    icp, icp_r = (s.best_estimator_.named_steps["icp"] for s in (search, routed))
    assert icp.subset_pvalues_.keys() == icp_r.subset_pvalues_.keys()
    for subset, pvalue in icp_r.subset_pvalues_.items():
        assert icp.subset_pvalues_[subset] == pytest.approx(
            pvalue, rel=1e-8, abs=1e-14), subset
    # The environment column is read, then dropped from the predictors.
    assert list(icp.get_feature_names_out()) == ["x2", "x3"]
    assert icp.support_.sum() == 2
    assert icp.environments_.size == 4


@pytest.mark.parametrize("route", ["column name", "column position", "step param"])
def test_unrouted_anchor_routes_equal_routed_coefficients_and_scores(routes, route):
    routed, search = routes["anchor"]["routed"], routes["anchor"][route]
    assert search.best_index_ == routed.best_index_
    for key in search.cv_results_:
        if key.startswith(("split", "mean_test", "std_test")):
            assert_allclose(search.cv_results_[key], routed.cv_results_[key],
                            rtol=1e-10, err_msg=key)
    # With one environment per test fold, the worst environment is the fold:
    # the worst-environment scores equal the plain ones.
    for k in range(5):
        assert_allclose(routed.cv_results_[f"split{k}_test_worst"],
                        routed.cv_results_[f"split{k}_test_mse"], rtol=1e-12)
    assert_allclose(search.best_estimator_[-1].coef_,
                    routed.best_estimator_[-1].coef_, rtol=1e-9)
    assert search.best_estimator_[-1].n_anchors_ == 5


# --------------------------------------------------------------------------
# ICP as a feature selector
# --------------------------------------------------------------------------
def test_icp_selector_pipeline_keeps_the_parents_for_the_regression(icp_data):
    X, y, env, parents = icp_data
    with routing():
        pipe = _icp_pipeline().set_output(transform="pandas").fit(
            X, y, environments=env)
    selected = pipe[:-1].transform(X)
    assert isinstance(selected, pd.DataFrame)
    assert list(selected.columns) == parents
    assert_array_equal(selected.index, X.index)
    assert_allclose(selected.to_numpy(), _scaled(X)[parents].to_numpy(), rtol=1e-15)
    assert list(pipe[:-1].get_feature_names_out()) == parents
    assert list(pipe[-1].feature_names_in_) == parents
    # The regression is ordinary least squares on the selected columns.
    ols = LinearRegression().fit(_scaled(X)[parents], y)
    assert_allclose(pipe[-1].coef_, ols.coef_, rtol=1e-12)
    assert_allclose(pipe.predict(X), ols.predict(_scaled(X)[parents]), rtol=1e-12)


@pytest.mark.parametrize("as_frame", [True, False])
def test_icp_selector_drops_the_environment_column(icp_data, as_frame):
    X, y, env, parents = icp_data
    Xc = X.assign(env=env) if as_frame else np.column_stack([X.to_numpy(), _codes(env)])
    icp = InvariantCausalPrediction(environment_column="env" if as_frame else 6)
    icp.set_output(transform="pandas").fit(Xc, y)
    assert icp.support_.tolist() == [False, False, True, True, False, False, False]
    assert list(icp.get_feature_names_out()) == parents
    out = icp.transform(Xc)
    assert list(out.columns) == parents
    assert_array_equal(out.to_numpy(dtype=float), X[parents].to_numpy())
    # The environment column has no p-value: it is not a predictor.
    assert np.isnan(icp.pvalues_[-1]) and np.all(np.isfinite(icp.pvalues_[:-1]))


# --------------------------------------------------------------------------
# Pickling
# --------------------------------------------------------------------------
def test_pickle_round_trip_gives_identical_outputs(icp_data, shift_data):
    X, y, env, _ = icp_data
    Xs, ys, envs, _ = shift_data
    with routing():
        pipe = _icp_pipeline().set_output(transform="pandas").fit(
            X, y, environments=env)
        grid = GridSearchCV(
            AnchorRegression(), {"gamma": GAMMAS}, cv=LeaveOneGroupOut(),
            scoring=make_worst_environment_scorer(), refit=worst_fold_refit(),
        ).fit(Xs, ys, groups=envs, environments=envs)
    icp = InvariantCausalPrediction(environment_column="env").fit(X.assign(env=env), y)
    for name, model, Xp in [("pipeline", pipe, X), ("grid search", grid, Xs),
                            ("anchor", grid.best_estimator_, Xs)]:
        restored = pickle.loads(pickle.dumps(model))
        assert_array_equal(restored.predict(Xp), model.predict(Xp), err_msg=name)
    restored = pickle.loads(pickle.dumps(pipe))
    assert_array_equal(restored[:-1].transform(X), pipe[:-1].transform(X))
    restored = pickle.loads(pickle.dumps(icp))
    assert restored.subset_pvalues_ == icp.subset_pvalues_
    assert_array_equal(restored.support_, icp.support_)
    # The refit rule and the scorer survive pickling and still work.
    restored = pickle.loads(pickle.dumps(grid))
    assert restored.refit(restored.cv_results_) == grid.best_index_
    assert restored.scorer_(restored.best_estimator_, Xs, ys, environments=envs) == \
        grid.scorer_(grid.best_estimator_, Xs, ys, environments=envs)
    assert clone(restored).refit(grid.cv_results_) == grid.best_index_


# --------------------------------------------------------------------------
# Fallbacks without environments
# --------------------------------------------------------------------------
def test_icp_without_environments_warns_and_keeps_every_feature(icp_data):
    X, y, env, _ = icp_data
    with pytest.warns(NoEnvironmentsWarning, match="every feature is kept"):
        icp = InvariantCausalPrediction().fit(X, y)
    assert icp.support_.all() and icp.support_.size == 6
    assert icp.subset_pvalues_ == {} and icp.n_subsets_tested_ == 0
    assert_array_equal(icp.transform(X), X.to_numpy())
    # Under routing, a pipeline fitted without environments falls back too.
    with routing(), pytest.warns(NoEnvironmentsWarning):
        pipe = _icp_pipeline().fit(X, y)
    ols = LinearRegression().fit(_scaled(X), y)
    assert_allclose(pipe[-1].coef_, ols.coef_, rtol=1e-12)
    # With the labels the same estimator drops the non-parents.
    assert InvariantCausalPrediction().fit(X, y, environments=env).support_.sum() == 2


@pytest.mark.parametrize("alpha", [0.0, 0.05])
@pytest.mark.parametrize("gamma", [0.0, 5.0])
def test_anchor_without_environments_warns_and_is_least_squares(
    shift_data, alpha, gamma
):
    X, y, env, _ = shift_data
    with pytest.warns(NoEnvironmentsWarning, match="least squares"):
        anchor = AnchorRegression(gamma=gamma, alpha=alpha).fit(X, y)
    # alpha is per row: Ridge's penalty on the summed loss is n * alpha.
    ref = (LinearRegression() if alpha == 0 else Ridge(alpha=alpha * len(y))).fit(X, y)
    assert_allclose(anchor.coef_, ref.coef_, rtol=1e-9)
    assert anchor.intercept_ == pytest.approx(ref.intercept_, rel=1e-9)
    assert anchor.n_anchors_ == 0 and anchor.environments_ is None
    with_env = AnchorRegression(gamma=gamma, alpha=alpha).fit(X, y, environments=env)
    if gamma != 1.0:
        assert not np.allclose(with_env.coef_, ref.coef_, atol=0.05)
    # Under routing, nothing passed: the same fallback, with the warning.
    with routing(), pytest.warns(NoEnvironmentsWarning):
        routed = Pipeline([("anchor", AnchorRegression(gamma=gamma, alpha=alpha))])
        routed.fit(X, y)
    assert_allclose(routed[-1].coef_, anchor.coef_, rtol=1e-12)
