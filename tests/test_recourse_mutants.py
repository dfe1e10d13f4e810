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
from sklearn.svm import SVC
from test_recourse import (COEFFICIENTS, EDGES, _binary_sex_data, recourse_setting,
                           scaled_gains)

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


@pytest.mark.parametrize("cost", ["l1", "l2"])
def test_unbounded_integer_features_are_enumerated_within_a_rounded_actions_cost(cost):
    """No bounds and only integer features, of gains below 1 in absolute
    value and of both signs: the relaxed action rounded in the direction of
    each gain is feasible, its cost bounds the enumeration, and the result is
    the cheapest of a wide window of integer changes (vectorised here)."""
    a, costs = np.array([0.3, -0.4]), np.array([1.0, 1.5])
    current = np.array([0.25, -1.6])
    low, high = np.full(2, -np.inf), np.full(2, np.inf)
    is_int = np.ones(2, bool)
    for r in (0.05, 1.0, 2.7):
        delta, value = _solve_integer(a, r, costs, low, high, cost, is_int, current)
        grid = np.arange(-40, 41)
        d0 = np.ceil(current[0]) + grid[:, None] - current[0]
        d1 = np.floor(current[1]) + grid[None, :] - current[1]
        valid = a[0] * d0 + a[1] * d1 >= r * (1 - 1e-12)
        parts = (np.abs(costs[0] * d0) + np.abs(costs[1] * d1) if cost == "l1"
                 else np.hypot(costs[0] * d0, costs[1] * d1))
        assert value == pytest.approx(parts[valid].min(), rel=1e-12)
        assert a @ delta >= r * (1 - 1e-12)


def test_too_many_integer_combinations_are_refused_by_count():
    """Rounding the relaxed action up leaves the bounds (0.5 + 0.3 -> 1 >
    0.8), so nothing bounds the enumeration but the box: new values -399 to 0,
    400 x 400 changes."""
    a, costs = np.array([1.0, 1.0]), np.array([1.0, 1.0])
    low, high = np.full(2, -400.0), np.full(2, 0.3)
    with pytest.raises(ValueError, match=r"160000 integer changes to enumerate \(more than "
                                         r"100000\); give bounds"):
        _solve_integer(a, 0.5, costs, low, high, "l2", np.ones(2, bool), np.full(2, 0.5))


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
    # On an integer, a whole change stays whole.
    whole = _round_integer(np.array([[[-2.0], [2.0]]]), np.array([True]), np.array([5.0]))
    np.testing.assert_array_equal(whole, [[[-2.0], [2.0]]])
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
            low2, high2 = (np.array([-5.0]), box) if sign > 0 else (box, np.array([5.0]))
            got, got_value = _search_action(_threshold(w, r), np.zeros(1), effect, costs,
                                            low2, high2, cost, np.zeros(1, bool),
                                            np.zeros(1), 16, 10.0, rng)
            if feasible:
                assert got[0] == pytest.approx(delta[0], rel=1e-7)
                assert sign * got[0] <= bound * factor
            else:
                assert got is None and np.isinf(got_value)


def test_directions_are_scanned_in_the_costs_own_norm():
    """Gains (1, 0.5) at unit costs, need 1: the L1 optimum acts on the first
    feature alone (cost 1), the L2 optimum along (0.8, 0.4) (L2 cost 0.894,
    L1 cost 1.2). A max_cost between the two optima of each norm separates
    a scan in the right norm from one in the other."""
    w, costs = np.array([1.0, 0.5]), np.array([1.0, 1.0])
    free = np.full(2, -np.inf), np.full(2, np.inf)
    for cost, max_cost, best in (("l1", 1.1, 1.0), ("l2", 0.95, 1 / np.hypot(1, 0.5))):
        delta, value = _search_action(_threshold(w, 1.0), np.zeros(2), np.eye(2), costs,
                                      *free, cost, np.zeros(2, bool), np.zeros(2), 256,
                                      max_cost, np.random.default_rng(0))
        assert delta is not None, cost
        assert best * (1 - 1e-9) <= value <= min(max_cost, best * 1.05), cost


def test_directions_that_never_reach_the_goal_are_not_chosen():
    """The second feature may move by 0.1 at most: the directions mostly
    along it stop early without reaching the goal, and must not win over
    the valid ones because they stop early."""
    w, costs = np.array([1.0, 1.0]), np.array([1.0, 1.0])
    delta, value = _search_action(_threshold(w, 1.0), np.zeros(2), np.eye(2), costs,
                                  np.full(2, -np.inf), np.array([np.inf, 0.1]), "l2",
                                  np.zeros(2, bool), np.zeros(2), 64, 10.0,
                                  np.random.default_rng(0))
    assert delta is not None and delta[1] <= 0.1
    assert np.hypot(0.9, 0.1) * (1 - 1e-9) <= value <= np.hypot(0.9, 0.1) * 1.05


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
    costs = causal_recourse(clf, X[X["sex"] == 0.0], scm, ["education"]).table["cost"]
    for column, value in (("mean_cost", costs.mean()), ("median_cost", costs.median()),
                          ("q90_cost", np.quantile(costs, 0.9))):
        assert helped.groups.loc[0.0, column] == pytest.approx(value, rel=1e-12), column
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
    bounds = {"education": (-10.0, float(rows["education"].max()) + 1.0)}
    table = causal_recourse(clf, rows, scm, ["education"], cost="l1", bounds=bounds).table
    costs = table["cost"].to_numpy()
    finite = np.isfinite(costs)
    assert 2 < finite.sum() < len(costs)
    filled = np.where(finite, costs, costs[finite].max())
    assert abs(np.mean(filled) - np.median(filled)) > 0.1
    for statistic, reduce in (("mean", np.mean), ("median", np.median)):
        scorer = make_recourse_scorer(scm, ["education"], statistic=statistic, cost="l1",
                                      bounds=bounds)
        assert scorer(clf, rows) == pytest.approx(-reduce(filled), rel=1e-12)
    # Nobody helped: 0 per row; nobody denied: 0.
    nobody = make_recourse_scorer(scm, ["education"], bounds={"education": (-10.0, -9.0)})
    assert nobody(clf, rows) == 0.0
    already = make_recourse_scorer(scm, ["education"], desired=0)
    assert already(clf, rows) == 0.0



# -- constraints, classes and the linear score -----------------------------------------

@pytest.mark.parametrize("value,monotone,bounds,low,high", [
    (1.0, {}, {}, -np.inf, np.inf),
    (1.0, {"e": "increase"}, {}, 0.0, np.inf),
    (1.0, {"e": "decrease"}, {}, -np.inf, 0.0),
    (1.0, {"x": "increase"}, {}, -np.inf, np.inf),           # another feature's
    (1.0, {}, {"e": (-2.0, 4.0)}, -3.0, 3.0),
    (1.0, {"e": "increase"}, {"e": (-2.0, 4.0)}, 0.0, 3.0),
    (1.0, {"e": "decrease"}, {"e": (-2.0, 4.0)}, -3.0, 0.0),
    (-2.0, {}, {"e": (-2.0, 4.0)}, 0.0, 6.0),                # on the lower bound
    (4.0, {}, {"e": (-2.0, 4.0)}, -6.0, 0.0),                # on the upper bound
    (5.0, {}, {"e": (-2.0, 4.0)}, 0.0, 0.0),                 # outside: not acted on
    (-3.0, {"e": "increase"}, {"e": (-2.0, 4.0)}, 0.0, 0.0),
    (1.0, {}, {"x": (5.0, 6.0)}, -np.inf, np.inf),           # another feature's
])
def test_the_box_of_a_change_from_monotonicity_and_bounds(value, monotone, bounds, low,
                                                          high):
    from skcausal_trust.recourse._linear import _high, _low

    assert _low("e", value, monotone, bounds) == low
    assert _high("e", value, monotone, bounds) == high


def test_bounds_hold_on_the_counterfactual_and_rows_on_a_bound_act(setting):
    """Denied rows, education bounded below at one row's value (that row is
    inside: it may raise education) and above (rows beyond are not acted on
    in education): every new education lies in the bounds, and the row on
    the bound pays what the bounded program says, less than income alone."""
    scm, _, clf, denied = setting
    rows = denied.head(8)
    edge = rows.index[int(np.argmin(rows["education"].to_numpy()))]
    low_bound = float(rows.loc[edge, "education"])
    high_bound = float(rows["education"].median())
    bounds = {"education": (low_bound, high_bound)}
    result = causal_recourse(clf, rows, scm, ["education", "income"], bounds=bounds)
    for (label, row), action in zip(rows.iterrows(), result.interventions):
        new = action.get("education", row["education"])
        if low_bound <= row["education"] <= high_bound:
            assert low_bound - 1e-9 <= new <= high_bound + 1e-9
        else:
            assert new == row["education"]
    income_only = causal_recourse(clf, rows.loc[[edge]], scm, ["income"])
    assert result.table.loc[edge, "cost"] < income_only.table.loc[edge, "cost"]
    assert result.interventions[list(rows.index).index(edge)]["education"] > low_bound


def test_monotone_constraints_forbid_the_helpful_direction(setting):
    """Education only helps upwards for a denied row (its total effect on the
    score is positive) and downwards for an accepted one (desired 0):
    forbidding that direction leaves no recourse; allowing it, the action
    moves that way."""
    scm, X, clf, denied = setting
    approved = X[clf.predict(X) == 1].head(4)
    for data, desired, forbidden, allowed in ((denied.head(4), 1, "decrease", "increase"),
                                              (approved, 0, "increase", "decrease")):
        stuck = causal_recourse(clf, data, scm, ["education"], desired=desired,
                                monotone={"education": forbidden})
        assert (stuck.table["status"] == "infeasible").all()
        moved = causal_recourse(clf, data, scm, ["education"], desired=desired,
                                monotone={"education": allowed})
        free = causal_recourse(clf, data, scm, ["education"], desired=desired)
        pd.testing.assert_frame_equal(moved.table, free.table)
        change = moved.counterfactuals["education"] - data["education"]
        assert ((change > 0) if allowed == "increase" else (change < 0)).all()


def test_the_margin_is_in_the_decision_functions_units_towards_either_class(setting):
    """With margin 1, the counterfactual's decision value is exactly +1
    (desired 1) or -1 (desired 0): the score's sign is +-1, not rescaled."""
    scm, X, clf, denied = setting
    approved = X[clf.predict(X) == 1].head(4)
    up = causal_recourse(clf, denied.head(4), scm, ["education", "income"], margin=1.0)
    np.testing.assert_allclose(clf.decision_function(up.counterfactuals), 1.0, atol=1e-9)
    down = causal_recourse(clf, approved, scm, ["education", "income"], desired=0,
                           margin=1.0)
    np.testing.assert_allclose(clf.decision_function(down.counterfactuals), -1.0,
                               atol=1e-9)


def test_the_model_is_probed_with_its_feature_names(setting):
    scm, _, clf, denied = setting
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        causal_recourse(clf, denied.head(2), scm, ["education"])


def test_models_that_are_not_binary_classifiers_are_named(setting):
    from sklearn.linear_model import LinearRegression
    from sklearn.naive_bayes import GaussianNB

    scm, X, _, denied = setting
    regressor = LinearRegression().fit(X, X["savings"])
    with pytest.raises(ValueError, match=r"recourse needs a binary classifier; classes_ is "
                                         r"\[\]"):
        causal_recourse(regressor, denied.head(2), scm, ["education"])
    nb = GaussianNB().fit(X, (X["savings"] > 1.0).astype(int))
    with pytest.raises(ValueError, match="GaussianNB has no decision_function"):
        causal_recourse(nb, denied.head(2), scm, ["education"], method="exact")


# -- causal_recourse: arguments, options and the table -----------------------------------

def test_a_decision_function_off_affine_by_a_millionth_is_not_linear(setting):
    """The affine check is tight (1e-7 of the decision's scale): a model whose
    inputs are bent by 1e-6 x^2 is refused by the exact path, and a
    StandardScaler pipeline (affine up to rounding) is not."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    scm, X, _, _ = setting
    y = (X["savings"] + 0.5 * X["income"] > 1.0).astype(int)
    bent = make_pipeline(FunctionTransformer(lambda Z: Z + 1e-6 * Z**2),
                         LogisticRegression()).fit(X, y)
    rows = X[bent.predict(X) == 0].head(20)
    with pytest.raises(ValueError, match="not affine"):
        causal_recourse(bent, rows, scm, ["education"], method="exact")
    scaled = make_pipeline(StandardScaler(), LogisticRegression()).fit(X * 1e3, y)
    wide = X * 1e3
    causal_recourse(scaled, wide[scaled.predict(wide) == 0].head(20), scm, ["education"],
                    method="exact")


def _categorical_scm(X):
    """The SCM of EDGES with a categorical root, region, causing savings."""
    frame = X.assign(region=np.where(X["age"] > 0, "north", "south"))
    return LinearSCM(EDGES + [("region", "savings")]).fit(frame)


@pytest.mark.parametrize("kwargs,match", [
    (dict(actionable=[f"x{j}" for j in range(13)]),
     "13 actionable features: at most 12"),
    (dict(intervention="do"), "intervention must be 'hard' or 'soft'; got 'do'"),
    (dict(method="grid"), "method must be 'auto', 'exact' or 'search'; got 'grid'"),
    (dict(integer=["income"]), r"integer names \['income'\], which are not actionable"),
    (dict(n_directions=1.5), "n_directions must be an integer >= 1; got 1.5"),
    (dict(n_directions=0), "n_directions must be an integer >= 1; got 0"),
    (dict(max_cost=np.inf), "max_cost must be a finite number > 0; got inf"),
    (dict(max_cost=0.0), "max_cost must be a finite number > 0; got 0.0"),
    (dict(bounds={"income": (0.0, 1.0)}), r"bounds\['income'\] must name an actionable"),
    (dict(robustness=0.5, scm="categorical"),
     "robustness > 0 needs an SCM without categorical nodes"),
    (dict(robustness=0.5, method="search"), "method='search' was asked"),
])
def test_bad_arguments_are_named(setting, kwargs, match):
    scm, X, clf, denied = setting
    args = dict(actionable=["education"])
    args.update(kwargs)
    if args.get("scm") == "categorical":
        args["scm"] = _categorical_scm(X)
    if args["actionable"][0] == "x0":
        wide = pd.DataFrame(np.zeros((2, 13)), columns=args["actionable"])
        scm = LinearSCM([(f"x{j}", f"x{j + 1}") for j in range(12)]).fit(
            pd.DataFrame(np.random.default_rng(0).normal(size=(50, 13)),
                         columns=args["actionable"]))
        with pytest.raises(ValueError, match=match):
            causal_recourse(clf, wide, scm, args.pop("actionable"))
        return
    with pytest.raises(ValueError, match=match):
        causal_recourse(clf, denied.head(2), args.pop("scm", scm), args.pop("actionable"),
                        **args)


def test_categorical_nodes_of_x_are_refused_and_others_allowed(setting):
    scm, X, clf, denied = setting
    categorical = _categorical_scm(X)
    rows = denied.head(2)
    plain = causal_recourse(clf, rows, scm, ["education"])
    # region is a node of the SCM but not an input: allowed, robustness 0.
    with_region = causal_recourse(clf, rows, categorical, ["education"])
    assert (with_region.table["status"] == "found").all()
    assert with_region.table["cost"].to_numpy() == pytest.approx(
        plain.table["cost"].to_numpy(), rel=0.2)
    with pytest.raises(ValueError, match=r"X's columns \['region'\] are categorical nodes"):
        causal_recourse(clf, rows.assign(region="north"), categorical, ["education"])


def test_strings_name_one_feature_and_limits_are_inclusive(setting):
    """actionable and integer as strings; 12 actionable features, one
    direction and equal bounds are accepted."""
    scm, X, clf, denied = setting
    rows = denied.head(3)
    one = causal_recourse(clf, rows, scm, "education", integer="education")
    listed = causal_recourse(clf, rows, scm, ["education"], integer=["education"])
    pd.testing.assert_frame_equal(one.table, listed.table)
    causal_recourse(clf, rows, scm, ["education"], method="search", n_directions=1,
                    max_cost=0.5, random_state=0)
    fixed = causal_recourse(clf, rows, scm, ["education", "income"],
                            bounds={"education": (0.0, 0.0)})
    assert (fixed.counterfactuals["education"] == rows["education"]).all()
    names = [f"x{j}" for j in range(12)]
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 12)), columns=names)
    chain = LinearSCM([(names[j], names[j + 1]) for j in range(11)]).fit(wide)
    model = LogisticRegression().fit(wide, (wide["x11"] > 0).astype(int))
    result = causal_recourse(model, wide.head(2), chain, names, max_actions=1)
    assert (result.table["n_actions"] <= 1).all()


def test_max_actions_limits_the_sets_acted_on(setting):
    """L2 costs spread over several features; with max_actions=1 every
    action uses one feature, at the cost of the best single feature."""
    scm, _, clf, denied = setting
    rows = denied.head(6)
    actionable = ["education", "income", "savings"]
    free = causal_recourse(clf, rows, scm, actionable)
    single = causal_recourse(clf, rows, scm, actionable, max_actions=1)
    assert (free.table["n_actions"] >= 2).any()
    assert (single.table["n_actions"] == 1).all()
    alone = np.min([causal_recourse(clf, rows, scm, [v]).table["cost"] for v in actionable],
                   axis=0)
    np.testing.assert_allclose(single.table["cost"], alone, rtol=1e-9)


def test_l1_costs_match_a_closed_form():
    """L1 cost: the single best (set, feature) pair, |gain| x scale, carries
    the whole action: cost = (margin - f(x)) / max |gain_v^S| scale_v, with
    the gains of each set written out by hand (intervened nodes cut)."""
    scm = LinearSCM.from_coefficients(EDGES, COEFFICIENTS,
                                      noise_scales={"income": 0.5, "savings": 2.0})
    X = _binary_sex_data(n=400)
    clf = LogisticRegression().fit(X, (X["savings"] > 1.5).astype(int))
    w = dict(zip(X.columns, clf.coef_[0]))
    scale = {"education": 1.0, "income": 0.5, "savings": 2.0}
    best = max(float(np.abs(g).max()) for g in scaled_gains(w, scale).values())
    denied = X[clf.decision_function(X) < 1e-6]
    result = causal_recourse(clf, denied, scm, list(scale), cost="l1")
    np.testing.assert_allclose(result.table["cost"],
                               (1e-6 - clf.decision_function(denied)) / best, rtol=1e-9)
    assert (result.table["n_actions"] == 1).all()


def test_robust_soft_actions_keep_every_nodes_noise():
    """A soft intervention cuts no noise: the decision value to reach is the
    margin plus the radius times the norm of every node's total effect on the
    score times its noise scale (written out by hand)."""
    scm = LinearSCM.from_coefficients(EDGES, COEFFICIENTS,
                                      noise_scales={"income": 0.5, "savings": 2.0})
    X = _binary_sex_data(n=400)
    clf = LogisticRegression().fit(X, (X["savings"] > 1.5).astype(int))
    w = dict(zip(X.columns, clf.coef_[0]))
    total = {"sex": {"sex": 1, "education": 0.5, "income": 2.0, "savings": 1.0},
             "age": {"age": 1, "savings": 0.3},
             "education": {"education": 1, "income": 2.0, "savings": 1.0},
             "income": {"income": 1, "savings": 0.5}, "savings": {"savings": 1}}
    scales = {"sex": 1.0, "age": 1.0, "education": 1.0, "income": 0.5, "savings": 2.0}
    sensitivity = np.linalg.norm([sum(w[c] * e for c, e in total[v].items()) * scales[v]
                                  for v in total])
    denied = X[clf.predict(X) == 0].head(5)
    result = causal_recourse(clf, denied, scm, ["education", "income"], intervention="soft",
                             robustness=0.5)
    np.testing.assert_allclose(clf.decision_function(result.counterfactuals),
                               1e-6 + 0.5 * sensitivity, rtol=1e-7)


def test_options_reach_every_chunk_of_a_parallel_run(setting):
    """Each option changes its call's result (checked here by leaving it
    out); the chunks of a parallel run (threads) give the serial result, on
    the exact path and on the search (whose directions are seeded per row)."""
    from joblib import parallel_config

    scm, X, clf, denied = setting
    approved = X[clf.predict(X) == 1].head(6)
    low = float(approved["education"].median()) - 1.0
    calls = [
        (approved, ["education", "income"],
         dict(desired=0, cost="l1", margin=0.5, scales={"education": 0.5},
              bounds={"education": (low, 10.0)})),
        (approved, ["education", "income"],
         dict(desired=0, monotone={"education": "increase"}, integer=["income"])),
        (denied.head(6), ["education", "income", "savings"],
         dict(max_actions=1, robustness=0.2, intervention="soft")),
        (denied.head(6), ["education", "income"],
         dict(method="search", n_directions=3, max_cost=2.0, random_state=5)),
    ]
    for rows, actionable, options in calls:
        serial = causal_recourse(clf, rows, scm, actionable, **options)
        with parallel_config(backend="threading"):
            chunked = causal_recourse(clf, rows, scm, actionable, n_jobs=2, **options)
        pd.testing.assert_frame_equal(serial.table, chunked.table, rtol=1e-12)
        pd.testing.assert_frame_equal(serial.counterfactuals, chunked.counterfactuals,
                                      rtol=1e-12)
        for a, b in zip(serial.interventions, chunked.interventions, strict=True):
            assert a.keys() == b.keys()
            np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-12)
        for name in options:
            if name in ("method", "n_directions", "random_state"):
                continue
            fewer = {k: v for k, v in options.items() if k != name}
            without = causal_recourse(clf, rows, scm, actionable, **fewer)
            assert not without.table.equals(serial.table), name
    # The search's max_cost and seed reached the chunks.
    assert (chunked.table.loc[chunked.table["status"] == "found", "cost"] <= 2.0).all()
    again = causal_recourse(clf, denied.head(6), scm, ["education", "income"],
                            method="search", n_directions=3, max_cost=2.0, random_state=5)
    pd.testing.assert_frame_equal(again.table, serial.table)


def test_a_non_linear_search_reaches_either_class_and_knows_who_is_there(setting):
    scm, X, _, _ = setting
    target = (X["savings"] > 1.0).astype(int)
    rbf = SVC().fit(X.head(600), target.head(600))
    approved = X.head(600)[rbf.predict(X.head(600)) == 1].head(4)
    down = causal_recourse(rbf, approved, scm, ["education", "income"], desired=0,
                           method="search", random_state=0)
    found = (down.table["status"] == "found").to_numpy()
    assert found.sum() >= 3
    assert (rbf.predict(down.counterfactuals[found]) == 0).all()
    already = causal_recourse(rbf, approved, scm, ["education"], method="search",
                              random_state=0)
    assert (already.table["status"] == "already").all()
    assert already.interventions == [{}] * 4
    assert (already.table["n_actions"] == 0).all()


def test_the_search_asks_the_model_with_its_feature_names(setting):
    scm, _, clf, denied = setting
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        causal_recourse(clf, denied.head(3), scm, ["education", "income"], method="search",
                        n_directions=4, random_state=0)


def test_the_table_of_infeasible_whole_and_soft_actions(setting):
    scm, _, clf, denied = setting
    rows = denied.head(4)
    stuck = causal_recourse(clf, rows, scm, ["education"], monotone={"education": "decrease"})
    assert (stuck.table["n_actions"] == 0).all() and (stuck.table["actions"] == "").all()
    # A whole change of an integer feature on an integer value is listed.
    whole = rows.assign(education=np.round(rows["education"]))
    result = causal_recourse(clf, whole, scm, ["education"], integer=["education"])
    changes = result.counterfactuals["education"] - whole["education"]
    assert (result.table["n_actions"] == 1).all()
    for text, change in zip(result.table["actions"], changes):
        assert text == f"increase education by {change:.2f}"
    assert (changes == 1.0).any() or (changes > 1.0).all()
    soft = causal_recourse(clf, rows, scm, ["income"], intervention="soft")
    assert soft.table["actions"].str.match(r"shift income by \d+\.\d\d$").all()
    hard = causal_recourse(clf, rows, scm, ["income"])
    assert hard.table["actions"].str.match(r"increase income by \d+\.\d\d$").all()


def test_no_rows_give_an_empty_result(setting):
    scm, _, clf, denied = setting
    result = causal_recourse(clf, denied.iloc[:0], scm, ["education"])
    assert result.table.empty and list(result.table.columns) == [
        "status", "cost", "n_actions", "actions"]
    assert result.counterfactuals.shape == (0, denied.shape[1])
    assert list(result.counterfactuals.columns) == list(denied.columns)
    assert result.interventions == []
    assert result.table["cost"].dtype == float and result.table["n_actions"].dtype == int
    assert (result.counterfactuals.dtypes == float).all()


def test_the_default_search_scans_costs_up_to_ten(setting):
    """Costs scaled by 10 (scales a tenth of the noise scales): a row whose
    exact cost lies between 10 and 11 is infeasible for the default search
    and found with max_cost=12."""
    scm, X, clf, _ = setting
    denied = X[clf.predict(X) == 0]
    scales = {"education": 0.1, "income": 0.05}
    exact = causal_recourse(clf, denied.head(200), scm, ["education"], scales=scales)
    costs = exact.table["cost"]
    label = costs[(costs > 10.05) & (costs < 10.9)].index[0]
    row = denied.loc[[label]]
    default = causal_recourse(clf, row, scm, ["education"], scales=scales, method="search",
                              random_state=0)
    assert default.table["status"].iloc[0] == "infeasible"
    wider = causal_recourse(clf, row, scm, ["education"], scales=scales, method="search",
                            max_cost=12.0, random_state=0)
    assert wider.table["cost"].iloc[0] == pytest.approx(costs[label], rel=1e-6)


def test_zero_and_unit_gains_in_the_fast_path():
    """A feature the score does not depend on (gain 0, as an L1-penalised
    model gives) counts for nothing, without a warning; a gain of exactly 1
    is used like any other."""
    free = np.full(2, -np.inf), np.full(2, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cost in ("l1", "l2"):
            delta, value = solve_action(np.array([0.0, 1.0]), 0.5, np.ones(2), *free, cost)
            np.testing.assert_allclose(delta, [0.0, 0.5])
            assert value == pytest.approx(0.5)
    # Bounded: a zero gain does not make an unreachable goal reachable.
    delta, value = solve_action(np.array([0.0, 0.5]), 1.0, np.ones(2), np.full(2, -1.0),
                                np.full(2, 1.0), "l1")
    assert delta is None and np.isinf(value)
    delta, value = solve_action(np.array([1.0]), 1.5, np.ones(1), np.array([-2.0]),
                                np.array([2.0]), "l1")
    np.testing.assert_allclose(delta, [1.5])


def test_a_row_exactly_at_the_margin_is_already_desired(setting):
    """The desired decision value is "at least margin": a row whose score
    equals the margin exactly needs no action; a hair above it, it needs
    one (a score of savings - 1, exact in floating point)."""
    scm, X, _, _ = setting
    clf = LogisticRegression().fit(X, (X["savings"] > 1.0).astype(int))
    clf.coef_ = np.array([[0.0, 0.0, 0.0, 0.0, 1.0]])
    clf.intercept_ = np.array([-1.0])
    row = X.head(1).assign(savings=1.5)
    at = causal_recourse(clf, row, scm, ["savings"], margin=0.5)
    above = causal_recourse(clf, row, scm, ["savings"], margin=0.5 + 2.0**-20)
    assert (at.table["status"].iloc[0], at.table["cost"].iloc[0]) == ("already", 0.0)
    assert above.table["status"].iloc[0] == "found"
    assert above.interventions[0]["savings"] == pytest.approx(1.5 + 2.0**-20, abs=1e-12)


class _BothAbove:
    """A classifier (search path: no decision function) that accepts a row
    only when education and age both exceed 1: no causal path links them,
    so only an action on both reaches it."""

    classes_ = np.array([0, 1])

    def predict(self, X):
        return ((X["education"] > 1.0) & (X["age"] > 1.0)).astype(int).to_numpy()


@pytest.fixture(scope="module")
def both_below(setting):
    _, X, _, _ = setting
    return X[(X["education"] < 0.5) & (X["age"] < 0.5)].head(6)


@pytest.mark.parametrize("cost", ["l1", "l2"])
def test_a_searched_action_on_two_features_costs_what_its_norm_says(setting, both_below,
                                                                    cost):
    scm = setting[0]
    result = causal_recourse(_BothAbove(), both_below, scm, ["education", "age"],
                             cost=cost, method="search", n_directions=32, random_state=0)
    assert (result.table["status"] == "found").all()
    for (label, row), action in zip(both_below.iterrows(), result.interventions):
        assert set(action) == {"education", "age"}
        assert _action_cost(row, action, cost) == pytest.approx(
            result.table.loc[label, "cost"], rel=1e-9)


def test_the_search_is_reproducible_for_a_seed_and_depends_on_it(setting, both_below):
    scm = setting[0]

    def search(seed):
        return causal_recourse(_BothAbove(), both_below, scm, ["education", "age"],
                               method="search", n_directions=4, random_state=seed)

    first, again, other = search(0), search(0), search(1)
    pd.testing.assert_frame_equal(first.table, again.table)
    assert first.interventions == again.interventions
    assert not np.allclose(first.table["cost"], other.table["cost"], rtol=1e-6)


def test_a_tie_between_sets_keeps_the_smaller_one(setting):
    """A linear score of education alone: acting on age too gains nothing,
    so the pair's cheapest action is the single's (to rounding); the
    smaller set, tried first, is kept and age is not intervened on."""
    scm, X, _, _ = setting
    clf = LogisticRegression().fit(X, (X["education"] > 1.0).astype(int))
    clf.coef_ = np.array([[0.0, 0.0, 1.0, 0.0, 0.0]])
    clf.intercept_ = np.array([-1.0])
    rows = X[X["education"] < 0.5].head(5)
    result = causal_recourse(clf, rows, scm, ["education", "age"])
    assert all(set(action) == {"education"} for action in result.interventions)
    assert (result.table["n_actions"] == 1).all()


def test_the_empty_result_keeps_the_index_and_gives_float_counterfactuals(setting):
    scm, X, clf, _ = setting
    empty = X.astype({"age": int}).set_axis([f"r{i}" for i in range(len(X))]).iloc[:0]
    result = causal_recourse(clf, empty, scm, ["education"])
    pd.testing.assert_index_equal(result.table.index, empty.index, exact=True)
    pd.testing.assert_index_equal(result.counterfactuals.index, empty.index, exact=True)
    assert (result.counterfactuals.dtypes == float).all()
    assert list(result.table.columns) == ["status", "cost", "n_actions", "actions"]
