"""Bad input to the invariance estimators fails early with an error that names
the argument at fault, and a failed fit leaves nothing half-fitted behind.

Bad environment labels (missing, wrong length, both routes, unknown or
out-of-range columns, a single environment) are checked for every estimator
by the plugin's own checks (``skcausal_trust.utils.estimator_checks``, run in
``test_common.py``); this module covers the rest."""

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.exceptions import SolverError
from skcausal_trust.invariance import (
    AnchorRegression,
    InvariantCausalPrediction,
    make_worst_environment_scorer,
    worst_fold_refit,
)

N = 90  # 3 environments of 30 rows, 6 predictors
ESTIMATORS = [InvariantCausalPrediction, AnchorRegression]


@pytest.fixture(scope="module")
def data():
    # (A seed at which ICP selects a parent even from 30 rows per environment,
    # so that "the same output after a failed refit" is not an empty array.)
    X, y, env, parents = make_invariant_regression(30, 3, random_state=2)
    return X, y, env


def _with_env(X, env, name="env"):
    return X.assign(**{name: env})


def _fitted_attributes(est):
    return sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("__"))


def _output(est, X):
    return est.transform(X) if isinstance(est, InvariantCausalPrediction) else (
        est.predict(X))


# --------------------------------------------------------------------------
# Environments: how many, how large
# --------------------------------------------------------------------------
def test_icp_environment_smaller_than_predictors_plus_two_is_rejected(data):
    X, y, env = data
    # Keep 7 rows of e2: ICP needs 6 predictors + 2 = 8 per environment.
    rows = np.r_[0:67]
    message = (r"^environments: environments \{'e2': 7\} have fewer than 8 rows "
               r"\(predictors \+ 2.* 6 predictors\); merge or drop them")
    with pytest.raises(ValueError, match=message):
        InvariantCausalPrediction().fit(X.iloc[rows], y[rows], environments=env[rows])
    # The boundary: 8 rows are enough.
    icp = InvariantCausalPrediction().fit(X.iloc[:68], y[:68], environments=env[:68])
    assert icp.n_subsets_tested_ == 2**6
    # As the message says, subsets of at most 5 predictors need only 7 rows.
    icp = InvariantCausalPrediction(max_subset_size=5).fit(
        X.iloc[rows], y[rows], environments=env[rows])
    assert icp.n_subsets_tested_ == 2**6 - 1


def test_icp_constant_columns_are_rejected_by_name(data):
    X, y, env = data
    Xc = X.assign(c=1.0, d=-2.0)
    with pytest.raises(ValueError, match=r"^X has constant columns \['c', 'd'\]: their "
                                         "coefficient is not identified"):
        InvariantCausalPrediction().fit(Xc, y, environments=env)


# --------------------------------------------------------------------------
# Non-finite values
# --------------------------------------------------------------------------
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("value, message", [(np.nan, "Input X contains NaN"),
                                            (np.inf, "Input X contains infinity")])
@pytest.mark.parametrize("as_array", [False, True])
def test_non_finite_X_is_rejected_naming_X(data, Est, value, message, as_array):
    X, y, env = data
    Xb = X.copy()
    Xb.iloc[3, 2] = value
    if as_array:
        Xb = Xb.to_numpy()
    with pytest.raises(ValueError, match=message):
        Est().fit(Xb, y, environments=env)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("value, message", [(np.nan, "Input y contains NaN"),
                                            (np.inf, "Input y contains infinity")])
def test_non_finite_y_is_rejected_naming_y(data, Est, value, message):
    X, y, env = data
    yb = y.copy()
    yb[5] = value
    with pytest.raises(ValueError, match=message):
        Est().fit(X, yb, environments=env)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_non_finite_environments_are_rejected(data, Est):
    X, y, env = data
    bad = env.copy()
    bad[[4, 7]] = np.nan
    with pytest.raises(ValueError, match=r"^environments has 2 missing value"):
        Est().fit(X, y, environments=bad)
    codes = np.unique(env, return_inverse=True)[1].astype(float)
    codes[4] = np.inf
    with pytest.raises(ValueError, match=r"^environments has infinite values"):
        Est().fit(X, y, environments=codes)
    Xe = _with_env(X, np.unique(env, return_inverse=True)[1].astype(float))
    Xe.loc[9, "env"] = np.nan
    with pytest.raises(ValueError, match=r"^X\['env'\] \(environment_column\) has 1 "
                                         "missing value"):
        Est(environment_column="env").fit(Xe, y)


def test_anchor_non_finite_or_text_anchors_are_rejected_by_source(data):
    X, y, env = data
    z = np.linspace(0.0, 1.0, N)
    z[2] = np.nan
    with pytest.raises(ValueError, match=r"^X\[\['z'\]\] \(anchor_columns\) has NaN "
                                         "or infinite values"):
        AnchorRegression(anchor_columns=["z"]).fit(X.assign(z=z), y)
    z[2] = np.inf
    with pytest.raises(ValueError, match=r"^anchors has NaN or infinite values"):
        AnchorRegression().fit(X, y, anchors=z)
    with pytest.raises(ValueError, match=r"^anchors must be numeric \(continuous "
                                         r"anchors\); pass labels as environments"):
        AnchorRegression().fit(X, y, anchors=env)


# --------------------------------------------------------------------------
# Shapes and columns
# --------------------------------------------------------------------------
def test_anchors_of_the_wrong_length(data):
    X, y, env = data
    with pytest.raises(ValueError, match=f"^anchors has {N - 2} rows but X has {N}"):
        AnchorRegression().fit(X, y, anchors=np.ones(N - 2))


def test_icp_y_of_the_wrong_length_names_y(data):
    X, y, env = data
    with pytest.raises(ValueError, match=f"^y has {N - 1} samples but X has {N}"):
        InvariantCausalPrediction().fit(X, y[:-1], environments=env)


def test_unknown_anchor_columns(data):
    X, y, env = data
    with pytest.raises(ValueError, match=r"^anchor_columns='z' is not a column of X"):
        AnchorRegression(anchor_columns=["x0", "z"]).fit(X, y)
    with pytest.raises(ValueError, match=r"^anchor_columns=6 is out of range for X "
                                         "with 6 columns"):
        AnchorRegression(anchor_columns=[6]).fit(X.to_numpy(), y)
    with pytest.raises(ValueError, match="^anchor_columns repeats the "
                                         "environment_column"):
        AnchorRegression(environment_column="x0", anchor_columns=["x0"]).fit(X, y)


# --------------------------------------------------------------------------
# ICP: the size of the search, the kind of target
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def many_predictors():
    # 13 predictors, parents x5 and x6.
    X, y, env, parents = make_invariant_regression(
        200, 3, n_ancestors=5, n_parents=2, n_children=6, random_state=3)
    assert parents == ["x5", "x6"]
    return X, y, env, parents


def test_too_many_predictors_state_the_number_of_subsets(many_predictors):
    X, y, env, _ = many_predictors
    with pytest.raises(ValueError, match=r"^X has 13 predictors: an exhaustive search "
                                         r"tests 8,192 subsets \(more than "
                                         r"2\*\*max_predictors = 4,096\)\. Set "
                                         r"screening='lasso'"):
        InvariantCausalPrediction().fit(X, y, environments=env)
    # A bound that still leaves too many subsets: sum_{k<=6} C(20, k).
    X20, y20, env20, _ = make_invariant_regression(
        30, 3, n_ancestors=10, n_parents=2, n_children=8, random_state=0)
    with pytest.raises(ValueError, match=r"X has 20 predictors: an exhaustive search "
                                         r"tests 60,460 subsets"):
        InvariantCausalPrediction(max_subset_size=6).fit(X20, y20, environments=env20)


def test_a_subset_bound_resolves_too_many_predictors(many_predictors):
    X, y, env, parents = many_predictors
    icp = InvariantCausalPrediction(max_subset_size=3).fit(X, y, environments=env)
    # 1 + 13 + 78 + 286 subsets of at most 3 of the 13 predictors.
    assert icp.n_subsets_tested_ == 378
    assert max(len(s) for s in icp.subset_pvalues_) == 3
    assert list(icp.get_feature_names_out()) == parents


def test_lasso_screening_resolves_too_many_predictors(many_predictors):
    X, y, env, parents = many_predictors
    icp = InvariantCausalPrediction(screening="lasso").fit(X, y, environments=env)
    assert len(icp.screened_features_) == 12
    assert set(parents) <= set(icp.screened_features_)
    assert icp.n_subsets_tested_ == 2**12
    assert list(icp.get_feature_names_out()) == parents
    # The screened-out predictor is never tested: p-value 1, not selected.
    (dropped,) = set(X.columns) - set(icp.screened_features_)
    assert icp.pvalues_[list(X.columns).index(dropped)] == 1.0


@pytest.mark.parametrize("target", ["strings", "categorical"])
def test_icp_rejects_a_non_binary_categorical_target(data, target):
    X, y, env = data
    thirds = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    labels = np.array(["low", "mid", "high"])[thirds]
    yc = labels if target == "strings" else pd.Series(labels, dtype="category")
    with pytest.raises(ValueError, match=r"^y must be (numeric|continuous).*; got a "
                                         "multiclass target"):
        InvariantCausalPrediction().fit(X, yc, environments=env)
    # The counterpart: a binary text target is a classification ICP.
    binary = np.where(y > np.median(y), "high", "low")
    icp = InvariantCausalPrediction().fit(X[["x2", "x3"]], binary, environments=env)
    assert icp.n_subsets_tested_ == 4


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------
@pytest.mark.parametrize("params, name", [
    ({"gamma": -0.5}, "gamma"),
    ({"alpha": -0.1}, "alpha"),
    ({"l1_ratio": 1.5}, "l1_ratio"),
    ({"l1_ratio": -0.1}, "l1_ratio"),
    ({"solver": "newton"}, "solver"),
    ({"tol": 0.0}, "tol"),
    ({"max_iter": 0}, "max_iter"),
    ({"anchor_columns": "z"}, "anchor_columns"),
])
def test_anchor_invalid_parameters_raise_invalid_parameter_error(data, params, name):
    X, y, env = data
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of "
                                                    "AnchorRegression"):
        AnchorRegression(**params).fit(X, y, environments=env)


@pytest.mark.parametrize("params, name", [
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": 1.0}, "alpha"),
    ({"test": "chow"}, "test"),
    ({"max_subset_size": -1}, "max_subset_size"),
    ({"max_predictors": 0}, "max_predictors"),
    ({"screening": "ridge"}, "screening"),
])
def test_icp_invalid_parameters_raise_invalid_parameter_error(data, params, name):
    X, y, env = data
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of "
                                                    "InvariantCausalPrediction"):
        InvariantCausalPrediction(**params).fit(X, y, environments=env)


# --------------------------------------------------------------------------
# Scorer and refit rule
# --------------------------------------------------------------------------
def test_worst_environment_scorer_without_environments_says_how_to_pass_them(data):
    X, y, env = data
    model = AnchorRegression().fit(X, y, environments=env)
    with pytest.raises(ValueError, match="needs environments: route them to it"):
        make_worst_environment_scorer()(model, X, y)
    with pytest.raises(ValueError, match=f"^environments has {N - 1} rows but X has "
                                         f"{N}"):
        make_worst_environment_scorer()(model, X, y, environments=env[:-1])
    with pytest.raises(ValueError, match="^environment_column='site' is not a column"):
        make_worst_environment_scorer(environment_column="site")(model, X, y)
    with pytest.raises(ValueError, match="^metric must be callable"):
        make_worst_environment_scorer("mse")


def test_worst_fold_refit_with_an_unknown_scorer_names_it():
    results = {"split0_test_r2": [0.1, 0.2], "split1_test_r2": [0.3, 0.0]}
    with pytest.raises(ValueError, match=r"cv_results_ has no split scores for 'mse'"):
        worst_fold_refit("mse")(results)
    assert worst_fold_refit("r2")(results) == 0


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


def test_anchor_cvxpy_solver_failure_names_every_solver_and_status(
    data, every_solver_fails
):
    X, y, env = data
    est = AnchorRegression(solver="cvxpy")
    with pytest.raises(SolverError, match=r"^the anchor regression program "
                                          r"\(solver='cvxpy'\) was not solved: "
                                          r"CLARABEL: status 'user_limit'; "
                                          r"SCS: status 'user_limit'"):
        est.fit(X, y, environments=env)
    assert every_solver_fails == ["CLARABEL", "SCS"]
    assert _fitted_attributes(est) == []
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_anchor_cvxpy_solver_exception_is_reported_with_its_message(data, monkeypatch):
    X, y, env = data

    def crash(self, *args, solver=None, **kwargs):
        raise cp.error.SolverError(f"{solver} crashed")

    monkeypatch.setattr(cp.Problem, "solve", crash)
    with pytest.raises(SolverError, match="CLARABEL: CLARABEL crashed; SCS: SCS "
                                          "crashed"):
        AnchorRegression(solver="cvxpy").fit(X, y, environments=env)


def test_failed_cvxpy_refit_keeps_the_previous_fit(data, monkeypatch):
    X, y, env = data
    est = AnchorRegression(gamma=3.0).fit(X, y, environments=env)
    state = dict(vars(est))
    prediction = est.predict(X)

    def fail(self, *args, solver=None, **kwargs):
        self._status = cp.SOLVER_ERROR

    monkeypatch.setattr(cp.Problem, "solve", fail)
    est.set_params(solver="cvxpy")
    with pytest.raises(SolverError, match="status 'solver_error'"):
        est.fit(X.iloc[:60], y[:60], environments=env[:60])
    est.set_params(solver="auto")
    assert vars(est).keys() == state.keys()
    for key, value in state.items():
        assert vars(est)[key] is value, key
    assert est.solver_ == "lstsq"
    np.testing.assert_array_equal(est.predict(X), prediction)


# --------------------------------------------------------------------------
# Nothing half-fitted
# --------------------------------------------------------------------------
def _failures(data):
    """{name: (estimator parameters, fit arguments, fit keyword arguments)}."""
    X, y, env = data
    Xnan = X.copy()
    Xnan.iloc[0, 0] = np.nan
    labels = np.array(["a", "b", "c"])[np.arange(N) % 3]
    return {
        "single environment": ({}, (X, y), {"environments": np.zeros(N)}),
        "NaN in X": ({}, (Xnan, y), {"environments": env}),
        "extra column, wrong length": ({}, (X.assign(c=1.0).iloc[:-1], y[:-1]),
                                       {"environments": env}),
        "unknown column": ({"environment_column": "site"}, (_with_env(X, env), y), {}),
        "given twice": ({"environment_column": "env"}, (_with_env(X, env), y),
                        {"environments": env}),
        "constant column": ({}, (X.assign(c=1.0), y), {"environments": env}),
        "multiclass target": ({}, (X, labels), {"environments": env}),
    }


FAILURES = {
    InvariantCausalPrediction: ["single environment", "NaN in X",
                                "extra column, wrong length", "unknown column",
                                "given twice", "constant column", "multiclass target"],
    AnchorRegression: ["single environment", "NaN in X", "extra column, wrong length",
                       "unknown column", "given twice"],
}
CASES = [(Est, failure) for Est, names in FAILURES.items() for failure in names]


@pytest.mark.parametrize("Est, failure", CASES)
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
        est.get_support() if hasattr(est, "get_support") else est.predict(data[0])


@pytest.mark.parametrize("Est, failure", CASES)
def test_failed_refit_keeps_the_previous_fit(data, Est, failure):
    X, y, env = data
    params, args, kwargs = _failures(data)[failure]
    est = Est().fit(X, y, environments=env)
    state = dict(vars(est))
    out = _output(est, X)
    assert out.size > 0
    est.set_params(**params)
    with pytest.raises(ValueError):
        est.fit(*args, **kwargs)
    est.set_params(**{k: state[k] for k in params})
    assert vars(est).keys() == state.keys()
    for key, value in state.items():
        assert vars(est)[key] is value, key
    assert est.n_features_in_ == X.shape[1]
    assert list(est.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(_output(est, X), out)


# --------------------------------------------------------------------------
# Dates and durations are not numbers
# --------------------------------------------------------------------------
@pytest.mark.parametrize("columns", [["x", "when", "env"], ["when", "env"],
                                     ["x", "lag", "env"]])
@pytest.mark.parametrize("name", ["icp", "anchor", "private"])
def test_date_or_duration_predictors_are_refused_by_name(name, columns):
    """numpy reads a date or duration column alone as nanoseconds, and beside
    numbers fails to promote it: either way a clear refusal naming it."""
    from skcausal_trust.privacy import DPCausalRegressor

    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"x": rng.normal(size=n),
                          "when": pd.date_range("2020-01-01", periods=n),
                          "lag": pd.timedelta_range("1D", periods=n),
                          "env": np.arange(n) % 2})
    y = frame["x"].to_numpy() + rng.normal(size=n)
    est = {"icp": InvariantCausalPrediction(environment_column="env"),
           "anchor": AnchorRegression(environment_column="env"),
           "private": DPCausalRegressor(environment_column="env", feature_bound=3.0,
                                        target_bound=4.0)}[name]
    bad = [c for c in columns if c in ("when", "lag")]
    with pytest.raises(ValueError) as error:
        est.fit(frame[columns], y)
    assert str(error.value).startswith(f"X has date or duration columns {bad!r}")
    assert not hasattr(est, "coef_")
