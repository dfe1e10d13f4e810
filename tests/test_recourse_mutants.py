"""Recourse where the other tests could not tell a bug from the right answer
(found by mutation testing, ``benchmarks/run_mutation.py --modules
recourse``).

- Integer features: the enumerated values against a brute force, the mixed
  program against a brute force over the integers with cvxpy for the
  continuous part, and the search path's rounding away from the current
  value (it had no test at all).
- The search: a direction per set of one feature is the exact action up to
  the bisection's precision, whatever the constraint's sign; bounds hold;
  ``max_cost`` is in the cost's units (L1 or L2); the cost reported is the
  cost of the action reported; fixed features and zero-cost directions are
  handled without a warning.
- ``recourse_disparity`` and the scorer pass their options on, and their
  empty cases (a group nobody in which is denied, rows without recourse,
  three levels) give the documented values.
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from test_recourse import COEFFICIENTS, EDGES, _binary_sex_data, recourse_setting

from skcausal_trust.causal import LinearSCM
from skcausal_trust.recourse import causal_recourse, make_recourse_scorer, recourse_disparity
from skcausal_trust.recourse._linear import (
    MAX_INTEGER_COMBINATIONS, _integer_values, _round_integer, _search_action,
    _solve_integer, solve_action, solve_action_cvxpy)

SCALES = {"sex": 1.0, "age": 1.0, "education": 1.0, "income": 0.5, "savings": 2.0}


@pytest.fixture(scope="module")
def setting():
    return recourse_setting()


# -- integer features -----------------------------------------------------------------

def test_integer_values_are_every_integer_within_the_bounds_and_the_limit():
    rng = np.random.default_rng(0)
    for _ in range(300):
        current = float(rng.choice([rng.uniform(-5, 5), rng.integers(-5, 5)]))
        low = float(rng.choice([-np.inf, 0.0, -rng.uniform(0, 4)]))
        high = float(rng.choice([np.inf, 0.0, rng.uniform(0, 4)]))
        limit = float(rng.choice([np.inf, rng.uniform(0, 4)]))
        if np.isinf(limit) and (np.isinf(low) or np.isinf(high)):
            continue
        got = _integer_values(current, low, high, limit)
        candidates = np.arange(np.floor(current) - 10, np.ceil(current) + 11) - current
        expected = candidates[(candidates >= max(low, -limit) - 1e-9)
                              & (candidates <= min(high, limit) + 1e-9)]
        np.testing.assert_allclose(got, expected, atol=1e-12)
        assert np.allclose((current + got) % 1.0, 0.0) or not got.size
    # On an integer, a change of 0 is included; at a bound reached within
    # rounding, the bound's integer too.
    np.testing.assert_array_equal(_integer_values(3.0, 0.0, 0.0, np.inf), [0.0])
    np.testing.assert_allclose(_integer_values(2.5, -0.5 + 1e-12, 0.5 - 1e-12, np.inf),
                               [-0.5, 0.5])
    assert _integer_values(2.5, -0.4, 0.4, np.inf).size == 0


def test_the_count_of_integer_values_is_capped_on_the_range_not_the_values():
    """Exactly MAX_INTEGER_COMBINATIONS + 1 values are enumerated; one more is
    refused; far from 0 a short range is not."""
    n = MAX_INTEGER_COMBINATIONS
    assert _integer_values(0.0, 0.0, float(n), np.inf).size == n + 1
    with pytest.raises(ValueError, match="too many integer values to enumerate"):
        _integer_values(0.0, 0.0, float(n + 1), np.inf)
    np.testing.assert_array_equal(_integer_values(1e6, -1.0, 1.0, np.inf), [-1.0, 0.0, 1.0])


def _brute_force_integer(a, r, costs, low, high, cost, is_int, current):
    """The cheapest action with the integer coordinates' new values integers:
    every integer combination within the (finite) bounds, the continuous
    coordinates solved by cvxpy."""
    ranges = [np.arange(np.ceil(current[j] + low[j] - 1e-9),
                        np.floor(current[j] + high[j] + 1e-9) + 1) - current[j]
              for j in np.flatnonzero(is_int)]
    cont = ~is_int
    best = np.inf
    for combo in itertools.product(*ranges):
        d_int = np.array(combo)
        need = r - a[is_int] @ d_int
        if not cont.any() or need <= 0:
            if cont.any() or need <= 1e-12 * max(1.0, abs(r)):
                parts = costs[is_int] * d_int
                best = min(best, np.abs(parts).sum() if cost == "l1"
                           else np.sqrt(np.sum(parts**2)))
            continue
        d, _ = solve_action_cvxpy(a[cont], need, costs[cont], low[cont], high[cont], cost)
        if d is None:
            continue
        parts = np.r_[costs[is_int] * d_int, costs[cont] * d]
        best = min(best, np.abs(parts).sum() if cost == "l1" else np.sqrt(np.sum(parts**2)))
    return best


@pytest.mark.parametrize("cost", ["l1", "l2"])
def test_integer_actions_match_a_brute_force_with_cvxpy(cost):
    """Random programs of 1 to 3 coordinates, 1 or 2 of them integers, with
    bounds (finite on the integer coordinates, often tight, some rounding
    out of the box), non-integer current values, and integer changes alone
    enough or not."""
    rng = np.random.default_rng(11 if cost == "l1" else 12)
    checked = 0
    for _ in range(40):
        k = int(rng.integers(1, 4))
        is_int = np.zeros(k, bool)
        is_int[rng.choice(k, size=int(rng.integers(1, min(k, 2) + 1)), replace=False)] = True
        a = rng.normal(size=k)
        costs = rng.uniform(0.5, 2.0, size=k)
        current = np.where(rng.uniform(size=k) < 0.3, rng.integers(-3, 3, size=k),
                           rng.uniform(-3, 3, size=k))
        low = -rng.uniform(0.2, 4.0, size=k)
        high = rng.uniform(0.2, 4.0, size=k)
        low[~is_int & (rng.uniform(size=k) < 0.5)] = -np.inf
        high[~is_int & (rng.uniform(size=k) < 0.5)] = np.inf
        r = float(rng.uniform(0.05, 3.0))
        delta, value = _solve_integer(a, r, costs, low, high, cost, is_int, current)
        expected = _brute_force_integer(a, r, costs, low, high, cost, is_int, current)
        if np.isinf(expected):
            assert delta is None and np.isinf(value)
            continue
        checked += 1
        assert delta is not None
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-7)
        assert a @ delta >= r * (1 - 1e-9)
        assert (delta >= low - 1e-12).all() and (delta <= high + 1e-12).all()
        np.testing.assert_allclose((current + delta)[is_int],
                                   np.round((current + delta)[is_int]), atol=1e-9)
        weighted = costs * delta
        assert value == pytest.approx(np.abs(weighted).sum() if cost == "l1"
                                      else np.linalg.norm(weighted), rel=1e-12)
    assert checked >= 20


def test_without_integer_coordinates_the_program_is_solve_action():
    a, costs = np.array([1.0, 2.0]), np.array([1.0, 0.5])
    low, high = np.array([-1.0, -np.inf]), np.array([1.0, np.inf])
    for cost in ("l1", "l2"):
        d, value = _solve_integer(a, 1.5, costs, low, high, cost, np.zeros(2, bool),
                                  np.zeros(2))
        ref, ref_value = solve_action(a, 1.5, costs, low, high, cost)
        np.testing.assert_array_equal(d, ref)
        assert value == ref_value


def test_rounding_of_searched_integer_changes_is_away_from_the_current_value():
    current = np.array([2.3, 5.0, -1.5])
    is_int = np.array([True, False, True])
    deltas = np.array([[[0.1, 0.4, -0.1], [-0.2, -0.4, 0.6]],
                       [[0.0, 7.0, 0.0], [1.7 - 1e-12, 0.0, -2.0]]])
    out = _round_integer(deltas, is_int, current)
    assert out.shape == deltas.shape
    np.testing.assert_allclose(out[..., 1], deltas[..., 1])  # not an integer feature
    new = current[is_int] + out[..., is_int]
    np.testing.assert_allclose(new, [[[3.0, -2.0], [2.0, 0.0]],
                                     [[3.0, -1.0], [4.0, -4.0]]], atol=1e-12)
    assert np.shares_memory(_round_integer(deltas, np.zeros(3, bool), current), deltas)
    assert not np.shares_memory(out, deltas)


def test_a_searched_integer_action_is_valid_and_no_cheaper_than_the_exact_one(setting):
    scm, _, clf, denied = setting
    rows = denied.head(6)
    exact = causal_recourse(clf, rows, scm, ["education", "income"], integer=["education"])
    search = causal_recourse(clf, rows, scm, ["education", "income"], integer=["education"],
                             method="search", n_directions=128, random_state=0)
    found = (search.table["status"] == "found").to_numpy()
    assert found.all()
    assert (clf.predict(search.counterfactuals) == 1).all()
    for action in search.interventions:
        if "education" in action:
            assert action["education"] == pytest.approx(round(action["education"]), abs=1e-9)
    assert (search.table["cost"] >= exact.table["cost"] * (1 - 1e-6)).all()
    assert (search.table["cost"] <= exact.table["cost"] * 1.5).all()


# -- the search -------------------------------------------------------------------------

def _threshold(w, r):
    def is_desired(rows):
        return rows @ w >= r
    return is_desired


@pytest.mark.parametrize("cost", ["l1", "l2"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_direction_in_one_feature_is_the_exact_action(cost, sign):
    """One feature, one direction: its sign comes from the constraint, not
    the draw, and the bisection reaches the exact cost, for any seed; with
    a bound the direction stops at it (infeasible beyond)."""
    w = np.array([sign * 2.0])
    effect = np.eye(1)
    costs = np.array([1.0 / 0.4])
    for seed in range(8):
        rng = np.random.default_rng(seed)
        r = float(rng.uniform(0.05, 1.5))
        low, high = (np.array([0.0]), np.array([np.inf])) if sign > 0 else (
            np.array([-np.inf]), np.array([0.0]))
        delta, value = _search_action(_threshold(w, r), np.zeros(1), effect, costs, low,
                                      high, cost, np.zeros(1, bool), np.zeros(1), 1, 10.0, rng)
        assert delta is not None, seed
        assert delta[0] == pytest.approx(sign * r / 2.0, rel=1e-7)
        assert value == pytest.approx(costs[0] * r / 2.0, rel=1e-7)
        # A bound below what is needed: infeasible; above it: the exact action.
        bound = abs(delta[0])
        for factor, feasible in ((0.9, False), (1.1, True)):
            box = np.array([sign * bound * factor])
            low2, high2 = (np.array([0.0]), box) if sign > 0 else (box, np.array([0.0]))
            got, got_value = _search_action(_threshold(w, r), np.zeros(1), effect, costs,
                                            low2, high2, cost, np.zeros(1, bool),
                                            np.zeros(1), 4, 10.0, rng)
            if feasible:
                assert got[0] == pytest.approx(delta[0], rel=1e-7)
                assert sign * got[0] <= bound * factor
            else:
                assert got is None and np.isinf(got_value)


def test_a_first_grid_point_that_is_valid_is_refined_down():
    """A small need (valid at the first of the 24 grid steps): the action is
    still the exact one, not a grid point."""
    w, costs = np.array([1.0]), np.array([1.0])
    delta, value = _search_action(_threshold(w, 0.01), np.zeros(1), np.eye(1), costs,
                                  np.array([-np.inf]), np.array([np.inf]), "l2",
                                  np.zeros(1, bool), np.zeros(1), 16, 10.0,
                                  np.random.default_rng(0))
    assert value == pytest.approx(0.01, rel=1e-7)


def test_fixed_features_take_no_direction_and_raise_no_warning():
    """A feature that cannot move (outside its bounds: low = high = 0) beside
    one that can: the search acts on the free one only; all fixed: none."""
    w = np.array([1.0, 3.0])
    costs = np.array([1.0, 1.0])
    low, high = np.array([-np.inf, 0.0]), np.array([np.inf, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        delta, value = _search_action(_threshold(w, 1.0), np.zeros(2), np.eye(2), costs,
                                      low, high, "l2", np.zeros(2, bool), np.zeros(2), 8,
                                      10.0, np.random.default_rng(0))
        assert delta[1] == 0.0 and delta[0] == pytest.approx(1.0, rel=1e-7)
        none, none_value = _search_action(_threshold(w, 1.0), np.zeros(2), np.eye(2), costs,
                                          np.zeros(2), np.zeros(2), "l2", np.zeros(2, bool),
                                          np.zeros(2), 8, 10.0, np.random.default_rng(0))
    assert none is None and np.isinf(none_value)


def test_cheap_features_are_searched_at_their_cost():
    """Costs far below 1 (large scales): every direction is kept and scanned
    in cost units."""
    w = np.array([1.0, 1.0])
    costs = np.array([0.01, 0.02])
    delta, value = _search_action(_threshold(w, 5.0), np.zeros(2), np.eye(2), costs,
                                  np.full(2, -np.inf), np.full(2, np.inf), "l2",
                                  np.zeros(2, bool), np.zeros(2), 256, 10.0,
                                  np.random.default_rng(0))
    exact, exact_value = solve_action(w, 5.0, costs, np.full(2, -np.inf), np.full(2, np.inf))
    assert exact_value * (1 - 1e-9) <= value <= exact_value * 1.05


def _action_cost(rows, action_row, cost):
    """The cost of an intervention, from its new values (noise units)."""
    parts = np.array([(value - rows[v]) / SCALES[v] for v, value in action_row.items()])
    return float(np.abs(parts).sum() if cost == "l1" else np.sqrt(np.sum(parts**2)))


@pytest.mark.parametrize("cost", ["l1", "l2"])
def test_the_search_respects_max_cost_bounds_and_reports_its_actions_cost(setting, cost):
    """Two features, one bounded on both sides: every searched action stays
    in the bounds and costs what is reported (computed here from its new
    values); no action costs more than max_cost, rows whose exact cost is
    above it are infeasible, and the others are found close to exact."""
    scm, _, clf, denied = setting
    rows = denied.head(16)
    bounds = {"income": (-3.0, 3.0)}
    exact = causal_recourse(clf, rows, scm, ["education", "income"], cost=cost,
                            bounds=bounds)
    max_cost = float(exact.table["cost"].median())
    search = causal_recourse(clf, rows, scm, ["education", "income"], cost=cost,
                             bounds=bounds, method="search", n_directions=256,
                             max_cost=max_cost, random_state=0)
    found = (search.table["status"] == "found").to_numpy()
    assert (search.table.loc[found, "cost"] <= max_cost * (1 + 1e-9)).all()
    above = (exact.table["cost"] > max_cost).to_numpy()
    assert (~found[above]).all()
    cheap = (exact.table["cost"] <= 0.8 * max_cost).to_numpy()
    assert cheap.sum() >= 4 and found[cheap].all()
    ratio = search.table["cost"][cheap] / exact.table["cost"][cheap]
    assert (ratio >= 1 - 1e-6).all() and ratio.median() < 1.05
    for (label, row), action, text in zip(rows.iterrows(), search.interventions,
                                          search.table["actions"]):
        if not action:
            continue
        assert -3.0 - 1e-9 <= action.get("income", row["income"]) - row["income"] <= 3.0 + 1e-9
        assert _action_cost(row, action, cost) == pytest.approx(
            search.table.loc[label, "cost"], rel=1e-9)
    assert (clf.predict(search.counterfactuals[found]) == 1).all()


# -- disparity and scorer --------------------------------------------------------------

def test_recourse_disparity_passes_its_options_and_refuses_a_string_actionable_sex():
    scm = LinearSCM.from_coefficients(EDGES, COEFFICIENTS,
                                      noise_scales={"income": 0.5, "savings": 2.0})
    X = _binary_sex_data(n=600)
    clf = LogisticRegression().fit(X, (X["savings"] > 1.5).astype(int))
    result = recourse_disparity(clf, X, scm, ["education", "income"], "sex", cost="l1")
    direct = causal_recourse(clf, X, scm, ["education", "income"], cost="l1").table
    denied = direct["status"] != "already"
    pd.testing.assert_series_equal(result.individual["cost"], direct.loc[denied, "cost"])
    twins = scm.counterfactual(X[denied], {"sex": 1.0 - X.loc[denied, "sex"]})[X.columns]
    twin = causal_recourse(clf, twins, scm, ["education", "income"], cost="l1").table
    np.testing.assert_array_equal(result.individual["twin_cost"], twin["cost"])
    with pytest.raises(ValueError, match="sensitive='sex' is actionable"):
        recourse_disparity(clf, X, scm, "sex", "sex")
    with pytest.raises(ValueError, match=r"sensitive='sex' has one level \[1.0\] in X"):
        recourse_disparity(clf, X[X["sex"] == 1.0], scm, ["education"], "sex")


def test_recourse_disparity_of_groups_with_nobody_denied_or_nobody_helped():
    """Group 0 is denied and, within tight bounds, never helped; group 1 is
    never denied: shares, costs and the gap are NaN where they have no rows,
    and 0 or 1 where they do."""
    scm = LinearSCM.from_coefficients(EDGES, COEFFICIENTS,
                                      noise_scales={"income": 0.5, "savings": 2.0})
    X = _binary_sex_data(n=400)
    X["sex"] = (X["savings"] > 1.5).astype(float)
    clf = LogisticRegression().fit(X, X["sex"].astype(int))
    assert (clf.predict(X) == X["sex"]).mean() > 0.9
    X = X[clf.predict(X) == X["sex"]]
    result = recourse_disparity(clf, X, scm, ["education"], "sex",
                                bounds={"education": (-5.0, -4.9)})
    groups = result.groups
    assert groups.loc[0.0, "n_denied"] == groups.loc[0.0, "n"] > 0
    assert groups.loc[1.0, "n_denied"] == 0
    assert groups.loc[0.0, "share_with_recourse"] == 0.0
    assert np.isnan(groups.loc[1.0, "share_with_recourse"])
    for column in ("mean_cost", "median_cost", "q90_cost"):
        assert groups[column].isna().all(), column
    assert np.isnan(result.gap)
    # Helped, within loose bounds: shares of 1 and finite costs.
    helped = recourse_disparity(clf, X, scm, ["education"], "sex")
    assert helped.groups.loc[0.0, "share_with_recourse"] == 1.0
    assert helped.groups.loc[0.0, "mean_cost"] > 0
    assert np.isnan(helped.gap)  # one group with costs
    # Some denied rows without recourse: the share is the fraction found.
    some = recourse_disparity(clf, X, scm, ["education"], "sex",
                              bounds={"education": (-10.0, 1.0)})
    table = causal_recourse(clf, X, scm, ["education"], bounds={"education": (-10.0, 1.0)})
    status = table.table.loc[X["sex"] == 0.0, "status"]
    share = (status == "found").sum() / (status != "already").sum()
    assert 0 < share < 1
    assert some.groups.loc[0.0, "share_with_recourse"] == pytest.approx(share, rel=1e-12)


def test_three_levels_have_group_costs_but_no_twins(setting):
    scm, X, clf, _ = setting
    rows = X.head(300).assign(sex=lambda d: np.digitize(d["sex"], [-0.5, 0.5]).astype(float))
    scm3 = LinearSCM(EDGES).fit(rows)
    result = recourse_disparity(clf, rows, scm3, ["education", "income"], "sex")
    assert list(result.groups.index) == [0.0, 1.0, 2.0]
    assert result.individual is None
    assert result.gap == pytest.approx(result.groups["mean_cost"].max()
                                       - result.groups["mean_cost"].min())


def test_the_scorer_passes_its_options_and_counts_rows_without_recourse(setting):
    scm, _, clf, denied = setting
    rows = denied.head(12)
    bounds = {"education": (-10.0, float(rows["education"].median()))}
    table = causal_recourse(clf, rows, scm, ["education"], cost="l1", bounds=bounds).table
    costs = table["cost"].to_numpy()
    finite = np.isfinite(costs)
    assert 0 < finite.sum() < len(costs)
    filled = np.where(finite, costs, costs[finite].max())
    for statistic, reduce in (("mean", np.mean), ("median", np.median)):
        scorer = make_recourse_scorer(scm, ["education"], statistic=statistic, cost="l1",
                                      bounds=bounds)
        assert scorer(clf, rows) == pytest.approx(-reduce(filled), rel=1e-12)
    # Nobody helped: 0 per row; nobody denied: 0.
    nobody = make_recourse_scorer(scm, ["education"], bounds={"education": (-10.0, -9.0)})
    assert nobody(clf, rows) == 0.0
    already = make_recourse_scorer(scm, ["education"], desired=0)
    assert already(clf, rows) == 0.0


def test_the_reference_program_returns_its_minimiser():
    """L2 has one minimiser: cvxpy's equals the fast path's."""
    rng = np.random.default_rng(4)
    for _ in range(10):
        k = int(rng.integers(1, 4))
        a = rng.normal(size=k)
        costs = rng.uniform(0.5, 2.0, size=k)
        low, high = -rng.uniform(0.5, 5.0, size=k), np.full(k, np.inf)
        fast, _ = solve_action(a, 1.0, costs, low, high, "l2")
        ref, _ = solve_action_cvxpy(a, 1.0, costs, low, high, "l2")
        if ref is None:
            continue
        assert ref.dtype == np.float64 and ref.shape == (k,)
        np.testing.assert_allclose(ref, fast, atol=1e-4)

