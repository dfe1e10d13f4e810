"""The Pareto front of a multi-metric search, its refit rule and display,
against a brute-force front and on a real search over a fair classifier."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from skcausal_trust.datasets import make_counterfactual_classification  # noqa: E402
from skcausal_trust.fairness import (  # noqa: E402
    CounterfactuallyFairClassifier,
    make_counterfactual_unfairness_scorer,
)
from skcausal_trust.privacy import DPCausalRegressor  # noqa: E402
from skcausal_trust.tradeoffs import (  # noqa: E402
    ParetoFrontDisplay,
    epsilon_scorer,
    pareto_front,
    pareto_refit,
)


def _brute_force_front(values, directions):
    """Indices of the rows no other row dominates, by a double loop."""
    signs = np.array([1.0 if d == "max" else -1.0 for d in directions])
    V = values * signs
    keep = []
    for i in range(len(V)):
        dominated = any(np.all(V[j] >= V[i]) and np.any(V[j] > V[i])
                        for j in range(len(V)) if j != i)
        if not dominated:
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_the_front_is_the_brute_force_front(seed):
    rng = np.random.default_rng(seed)
    # Few distinct values: ties and duplicates are common.
    values = rng.integers(0, 5, size=(40, 3)).astype(float)
    directions = ("max", "min", "max")
    cv_results = {"mean_test_a": values[:, 0], "mean_test_b": values[:, 1],
                  "param_c": values[:, 2], "params": [{"i": i} for i in range(40)]}
    front = pareto_front(cv_results, {"a": "max", "b": "min", "param_c": "max"})
    assert sorted(front.index) == _brute_force_front(values, directions)
    # Sorted by the first objective, best first; the params come along.
    assert list(front["a"]) == sorted(front["a"], reverse=True)
    assert [p["i"] for p in front["params"]] == list(front.index)


def _search(refit):
    X, y, a, scm = make_counterfactual_classification(600, 4, random_state=1)
    X = X.assign(A=a)
    search = GridSearchCV(
        CounterfactuallyFairClassifier(scm.graph, sensitive_feature_ids="A"),
        {"epsilon": [0.0, 0.05, 0.2, 1.0, 5.0]},
        scoring={"accuracy": "accuracy",
                 "cf": make_counterfactual_unfairness_scorer(scm, sensitive_feature_ids="A")},
        refit=refit, cv=StratifiedKFold(3, shuffle=True, random_state=0),
        error_score="raise")
    return search.fit(X, y)


def test_the_refit_rule_picks_the_most_accurate_candidate_within_the_budget():
    objectives = {"accuracy": "max", "cf": "max"}
    results = pd.DataFrame(_search(refit=False).cv_results_)
    # A budget that excludes the most accurate candidate (the scorer returns
    # minus the unfairness): halfway to the fairest candidate.
    most_accurate = results["mean_test_accuracy"].idxmax()
    budget = (results.loc[most_accurate, "mean_test_cf"] + results["mean_test_cf"].max()) / 2
    rule = pareto_refit(objectives, select="accuracy", constraints={"cf": (">=", budget)})
    chosen = rule(results.to_dict("list"))
    front = pareto_front(results.to_dict("list"), objectives)
    feasible = results[results["mean_test_cf"] >= budget]
    assert chosen != most_accurate and chosen in front.index
    assert results.loc[chosen, "mean_test_cf"] >= budget
    assert results.loc[chosen, "mean_test_accuracy"] == feasible["mean_test_accuracy"].max()
    # The same rule as a search's refit.
    search = _search(rule)
    assert search.best_index_ == chosen and hasattr(search, "best_estimator_")
    # An impossible budget is a clear error naming it.
    impossible = pareto_refit(objectives, select="accuracy", constraints={"cf": (">=", 1.0)})
    with pytest.raises(ValueError, match="no Pareto-optimal candidate meets"):
        impossible(results.to_dict("list"))


def test_the_display_draws_every_candidate_and_the_front():
    search = _search(refit=False)
    display = ParetoFrontDisplay.from_cv_results(search.cv_results_, "accuracy", "cf")
    n = len(search.cv_results_["params"])
    points = sum(len(c.get_offsets()) for c in display.ax_.collections)
    line = display.ax_.lines[0]
    assert points + len(line.get_xdata()) == n
    assert sorted(display.front_.index) == _brute_force_front(
        np.column_stack([search.cv_results_["mean_test_accuracy"],
                         search.cv_results_["mean_test_cf"]]), ("max", "max"))
    assert "higher is better" in display.ax_.get_xlabel()


def test_epsilon_scorer_in_a_search_over_a_private_model():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    y = X[:, 0] + 0.1 * rng.normal(size=300)
    search = GridSearchCV(DPCausalRegressor(feature_bound=1.5, target_bound=2.0),
                          {"epsilon": [0.5, 2.0]}, scoring={"r2": "r2", "eps": epsilon_scorer},
                          refit=False, cv=3)
    with pytest.warns(UserWarning):
        search.fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_eps"], [-0.5, -2.0])
    with pytest.raises(ValueError, match="has no epsilon_"):
        from sklearn.linear_model import LinearRegression
        epsilon_scorer(LinearRegression().fit(X, y))


@pytest.mark.parametrize("objectives,match", [
    ({}, "non-empty dict"),
    ({"accuracy": "up"}, "'max' or 'min'"),
    ({"recall": "max"}, r"not in cv_results.*\['accuracy'\]"),
])
def test_bad_objectives_are_named(objectives, match):
    with pytest.raises(ValueError, match=match):
        pareto_front({"mean_test_accuracy": [0.5, 0.6]}, objectives)


def test_bad_refit_rules_are_named():
    with pytest.raises(ValueError, match="select='f1'"):
        pareto_refit({"accuracy": "max"}, select="f1")
    with pytest.raises(ValueError, match=r"constraints\['cf'\]"):
        pareto_refit({"accuracy": "max"}, select="accuracy", constraints={"cf": 0.1})
    with pytest.raises(ValueError, match="NaN"):
        pareto_front({"mean_test_accuracy": [0.5, np.nan]}, {"accuracy": "max"})
