"""CausallyRobustFairClassifier against scikit-learn's LogisticRegression
where the two programs coincide: with an attribute that causes no feature
and ``radius=0`` (every twin is the sample itself, nothing moves), and
without sensitive features (the documented fallback), the robust program
is L2-regularised logistic regression, ``sum_i w_i logloss_i + ||w||^2 /
(2 C)`` with an unpenalised intercept; both solvers, with and without the
intercept, at a C other than 1 and with weights. The reported objective is
checked against the same formula written out here.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import log_expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skcausal_trust.causal import CausalGraph
from skcausal_trust.exceptions import NoSensitiveFeaturesWarning
from skcausal_trust.fairness import CausallyRobustFairClassifier


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    x1 = rng.normal(size=n)
    x2 = 0.8 * x1 + rng.normal(size=n)
    y = (0.7 + 1.5 * x1 - x2 + rng.logistic(size=n) > 0).astype(int)
    X = pd.DataFrame({"x1": x1, "x2": x2})
    weights = rng.integers(1, 4, n).astype(float)
    return X, y, a, weights


def _objective(model, X, y, weights, C):
    """``sum_i w_i logloss_i + ||w||^2 / (2 C)`` of the fitted linear score."""
    score = X.to_numpy() @ model.coef_.ravel() + model.intercept_[0]
    sign = 2.0 * y - 1.0
    w = model.coef_.ravel()
    return float(-np.dot(weights, log_expit(sign * score)) + w @ w / (2.0 * C))


@pytest.mark.parametrize("solver", ["fast", "cvxpy"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_an_attribute_that_causes_nothing_at_radius_zero_is_logistic_regression(
        solver, fit_intercept):
    X, y, a, weights = _data()
    graph = CausalGraph([("x1", "x2")], nodes=["A", "x1", "x2"])
    C = 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = CausallyRobustFairClassifier(
            graph, radius=0.0, C=C, fit_intercept=fit_intercept, solver=solver,
        ).fit(X, y, sensitive_features=a, sample_weight=weights)
    reference = LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-12,
                                   max_iter=10_000).fit(X, y, sample_weight=weights)
    assert model.solver_path_ == solver
    assert model.n_iter_ == 0 if solver == "cvxpy" else model.n_iter_ > 0
    assert np.allclose(model.coef_, reference.coef_, atol=2e-5)
    assert np.allclose(model.intercept_, reference.intercept_, atol=2e-5)
    if not fit_intercept:
        assert model.intercept_[0] == 0.0
    assert model.counterfactual_gap_ == pytest.approx(0.0, abs=1e-12)
    assert model.objective_ == pytest.approx(_objective(model, X, y, weights, C),
                                             rel=1e-10)
    assert model.objective_ == pytest.approx(_objective(reference, X, y, weights, C),
                                             rel=1e-7)


def test_without_sensitive_features_it_is_logistic_regression():
    X, y, _, weights = _data(seed=1)
    C = 0.3
    with pytest.warns(NoSensitiveFeaturesWarning):
        model = CausallyRobustFairClassifier(radius=0.2, C=C).fit(
            X, y, sample_weight=weights)
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(
        X, y, sample_weight=weights)
    assert model.solver_path_ == "unconstrained"
    assert np.allclose(model.coef_, reference.coef_, atol=2e-5)
    assert np.allclose(model.intercept_, reference.intercept_, atol=2e-5)
    assert model.objective_ == pytest.approx(_objective(model, X, y, weights, C),
                                             rel=1e-10)
