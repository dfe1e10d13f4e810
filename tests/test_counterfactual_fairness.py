"""CounterfactuallyFairClassifier and CounterfactualResidualizer against ground
truth from simulated SCMs and against the cvxpy reference program."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline

from skcausal_trust.causal import LinearSCM
from skcausal_trust.datasets import make_counterfactual_classification
from skcausal_trust.fairness import (
    CounterfactualResidualizer,
    CounterfactuallyFairClassifier,
    counterfactual_unfairness,
)


@pytest.fixture(scope="module")
def task():
    X, y, a, scm = make_counterfactual_classification(
        6000, n_features=6, random_state=0
    )
    train, test = np.arange(4000), np.arange(4000, 6000)
    return X, y, a, scm, train, test


def test_epsilon0_with_true_scm_is_counterfactually_fair(task):
    X, y, a, scm, train, test = task
    clf = CounterfactuallyFairClassifier(scm, tol=1e-10).fit(
        X.iloc[train], y[train], sensitive_features=a.iloc[train]
    )
    unfair = counterfactual_unfairness(
        clf, X.iloc[test], scm=scm, sensitive_features=a.iloc[test]
    )
    flips = counterfactual_unfairness(
        clf, X.iloc[test], scm=scm, sensitive_features=a.iloc[test], kind="flip"
    )
    assert unfair <= 1e-6
    assert flips == 0.0
    assert clf.solver_path_ == "fast"
    assert clf.scms_[0] is not scm or clf.scms_[0].equations_ is scm.equations_


def test_epsilon0_with_fitted_scm_is_nearly_fair_and_baseline_is_not(task):
    X, y, a, scm, train, test = task
    clf = CounterfactuallyFairClassifier(scm.graph_).fit(
        X.iloc[train], y[train], sensitive_features=a.iloc[train]
    )
    base = LogisticRegression().fit(X.iloc[train], y[train])
    args = dict(scm=scm, sensitive_features=a.iloc[test])
    fair_value = counterfactual_unfairness(clf, X.iloc[test], **args)
    base_value = counterfactual_unfairness(base, X.iloc[test], **args)
    # Measured 2026-11: fair ~3e-3 (estimation error of the SCM from 4,000
    # rows), baseline ~0.13. Bound: 0.02, i.e. < 1/6 of the baseline.
    assert fair_value < 0.02
    assert base_value > 0.05
    assert base_value > 6 * fair_value


def test_accuracy_against_the_residualizer_route(task):
    """Both routes are exactly fair under the true model; report accuracy."""
    X, y, a, scm, train, test = task
    clf = CounterfactuallyFairClassifier(scm, tol=1e-10).fit(
        X.iloc[train], y[train], sensitive_features=a.iloc[train]
    )
    # The residualizer's output depends on A: twins must carry A too.
    Xa = X.assign(A=a)
    route_a = make_pipeline(
        CounterfactualResidualizer(scm, sensitive_feature_ids="A"), LogisticRegression()
    ).fit(Xa.iloc[train], y[train])
    unfair_route = counterfactual_unfairness(
        route_a, Xa.iloc[test], scm=scm, sensitive_feature_ids="A"
    )
    assert unfair_route <= 1e-6
    acc_clf = accuracy_score(y[test], clf.predict(X.iloc[test]))
    acc_route = accuracy_score(y[test], route_a.predict(Xa.iloc[test]))
    acc_base = accuracy_score(
        y[test], LogisticRegression().fit(X.iloc[train], y[train]).predict(X.iloc[test])
    )
    majority = max(np.mean(y[test]), 1 - np.mean(y[test]))
    print(f"accuracy: baseline {acc_base:.3f}, constrained {acc_clf:.3f}, "
          f"residualizer {acc_route:.3f}, majority {majority:.3f}")
    # Measured: baseline 0.934, constrained 0.696, residualizer 0.746, majority
    # 0.693. The residualizer's model class contains the constrained one (it
    # also uses the noise direction that the constrained model, blind to A,
    # cannot separate from A), so it is at least as accurate; fairness costs
    # accuracy here because the label depends on A's descendants.
    assert acc_route >= acc_clf - 0.005
    assert majority + 0.02 < acc_route
    assert max(acc_clf, acc_route) <= acc_base + 0.01


# Clarabel is inaccurate on one case and SCS solves it: warned, not an error.
@pytest.mark.filterwarnings("ignore::skcausal_trust.exceptions.SolverFallbackWarning")
@pytest.mark.parametrize("n_levels,n_classes", [(2, 2), (3, 2), (2, 3), (3, 3)])
@pytest.mark.parametrize("epsilon", [0.0, 0.3])
def test_fast_path_equals_cvxpy_reference(n_levels, n_classes, epsilon):
    X, y, a, scm = make_counterfactual_classification(
        300, n_features=5, n_levels=n_levels, n_classes=n_classes, random_state=3
    )
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    fits = {
        s: CounterfactuallyFairClassifier(
            scm.graph_, epsilon=epsilon, C=0.5, solver=s, tol=1e-10
        ).fit(X, y, sensitive_features=a, sample_weight=w)
        for s in ("fast", "cvxpy")
    }
    fast, ref = fits["fast"], fits["cvxpy"]
    assert fast.solver_path_ == "fast" and ref.solver_path_ == "cvxpy"
    # Stated tolerance: 1e-6 absolute on coefficients and intercepts
    # (measured ~1e-8).
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(fast.intercept_, ref.intercept_, atol=1e-6)
    assert fast.objective_ == pytest.approx(ref.objective_, rel=1e-8)
    assert fast.counterfactual_gap_ <= epsilon + 1e-9


def test_epsilon_bounds_the_score_change_and_binds(task):
    X, y, a, scm, train, _ = task
    gaps, objectives = [], []
    for eps in [0.0, 0.1, 0.5, 1e6]:
        clf = CounterfactuallyFairClassifier(scm.graph_, epsilon=eps, tol=1e-10).fit(
            X.iloc[train], y[train], sensitive_features=a.iloc[train]
        )
        gaps.append(clf.counterfactual_gap_)
        objectives.append(clf.objective_)
    assert gaps[0] < 1e-10
    assert gaps[1] == pytest.approx(0.1, abs=1e-8)  # active constraint
    assert gaps[2] == pytest.approx(0.5, abs=1e-8)
    assert np.all(np.diff(objectives) < 0)  # looser constraint, lower objective
    # A huge epsilon is unconstrained logistic regression.
    lr = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X.iloc[train], y[train])
    clf = CounterfactuallyFairClassifier(scm.graph_, epsilon=1e6, tol=1e-10).fit(
        X.iloc[train], y[train], sensitive_features=a.iloc[train]
    )
    np.testing.assert_allclose(clf.coef_, lr.coef_, atol=1e-5)


def test_several_worlds_are_all_enforced():
    X, y, a, scm1 = make_counterfactual_classification(800, random_state=4)
    _, _, _, scm2 = make_counterfactual_classification(800, random_state=5)
    frame = X.assign(A=a)
    eps = 0.2
    clf = CounterfactuallyFairClassifier([scm1, scm2], epsilon=eps, tol=1e-10).fit(
        X, y, sensitive_features=a
    )
    for scm in (scm1, scm2):
        single = CounterfactuallyFairClassifier(scm, epsilon=1e6).fit(
            X, y, sensitive_features=a
        )
        for model, bound in [(clf, eps + 1e-8), (single, None)]:
            twins = scm.counterfactual(frame, {"A": 1 - a.astype(int)})
            change = np.abs(
                model.decision_function(twins[X.columns]) - model.decision_function(X)
            )
            if bound is not None:
                assert change.max() <= bound
            else:
                assert change.max() > eps  # the constraint does bind
    # Identical worlds make the box path degenerate: the fast path solves the
    # polytope by SLSQP, and the cvxpy reference agrees.
    twice = CounterfactuallyFairClassifier([scm1, scm1], epsilon=eps).fit(
        X, y, sensitive_features=a
    )
    assert (twice.solver_path_, twice.solver_) == ("fast", "SLSQP")
    ref = CounterfactuallyFairClassifier([scm1, scm1], epsilon=eps, solver="cvxpy").fit(
        X, y, sensitive_features=a
    )
    np.testing.assert_allclose(twice.coef_, ref.coef_, atol=1e-6)
    once = CounterfactuallyFairClassifier(scm1, epsilon=eps, tol=1e-10).fit(
        X, y, sensitive_features=a
    )
    np.testing.assert_allclose(twice.coef_, once.coef_, atol=1e-5)


def test_default_world_removes_the_attributes_linear_signal():
    """causal_model=None: A causes every feature; then the score is
    uncorrelated with A's group means shift."""
    X, y, a, _ = make_counterfactual_classification(2000, random_state=6)
    clf = CounterfactuallyFairClassifier().fit(X, y, sensitive_features=a)
    scm = LinearSCM([("A", c) for c in X.columns]).fit(X.assign(A=a))
    assert counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a) < 1e-6
    # Under this model the twin shift is the difference of group means.
    shift = X[a == 1].mean() - X[a == 0].mean()
    assert abs(float(clf.coef_[0] @ shift.to_numpy())) < 1e-6


def test_multiclass_probabilities_and_unfairness():
    X, y, a, scm = make_counterfactual_classification(
        1500, n_classes=3, n_levels=3, random_state=7
    )
    clf = CounterfactuallyFairClassifier(scm, tol=1e-10).fit(X, y, sensitive_features=a)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.log(proba), clf.predict_log_proba(X), atol=1e-10)
    assert counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a) < 1e-6
    base = LogisticRegression().fit(X, y)
    assert counterfactual_unfairness(base, X, scm=scm, sensitive_features=a) > 0.05
