"""Invariance conflicts read off a graph, checked against data simulated from
it, and the selector that enforces the chosen invariances on every route.

The running example (conflict by construction): ``site`` (an environment)
shifts ``edu``, which the sensitive ``sex`` also causes, and ``edu`` causes
``income``; ``age`` causes ``income``; ``spend`` is caused by ``income`` and
shifted by ``site``. Invariance under shift needs ``edu`` (the shift reaches
``income`` through it), counterfactual fairness forbids it; ``spend`` is a
collider of ``site`` and ``income`` and breaks invariance when used.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcausal_trust.causal import CausalGraph
from skcausal_trust.exceptions import ModelRejectedWarning, NoCausalModelWarning
from skcausal_trust.tradeoffs import SelectiveInvarianceSelector, invariance_conflicts

EDGES = [("sex", "edu"), ("site", "edu"), ("edu", "income"), ("age", "income"),
         ("income", "spend"), ("site", "spend"), ("sex", "marital"),
         ("marital", "income")]
GRAPH = CausalGraph(EDGES)


def _simulate(n=30_000, seed=0):
    """A linear SCM on GRAPH with three sites."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, 3, n)
    sex = rng.integers(0, 2, n)
    age = rng.normal(size=n)
    edu = sex + 2.0 * site + rng.normal(size=n)
    marital = 0.5 * sex + rng.normal(size=n)
    income = edu + age + 0.7 * marital + rng.normal(size=n)
    spend = income + 3.0 * site + rng.normal(size=n)
    X = pd.DataFrame({"sex": sex, "edu": edu, "age": age, "marital": marital,
                      "spend": spend})
    return X, income, site


def _environment_spread(X, y, site, columns):
    """Largest difference between sites of the least-squares fit of y on
    ``columns`` (coefficients and intercept): 0 for an invariant conditional."""
    fits = []
    for e in np.unique(site):
        model = LinearRegression().fit(X.loc[site == e, columns], y[site == e])
        fits.append(np.r_[model.intercept_, model.coef_])
    fits = np.array(fits)
    return float(np.abs(fits - fits.mean(axis=0)).max())


def test_the_report_names_the_conflicts_built_into_the_graph():
    table = invariance_conflicts(GRAPH, "income", "sex", "site")
    assert set(table.index) == {"edu", "age", "spend", "marital"}
    assert table.loc["edu", "paths_from_sensitive"] == ["sex -> edu"]
    assert table.loc["marital", "paths_from_sensitive"] == ["sex -> marital"]
    assert table.loc["edu", "shifted_by"] == ["site"] == table.loc["spend", "shifted_by"]
    assert table["counterfactually_fair"].to_dict() == {
        "edu": False, "age": True, "spend": False, "marital": False}
    assert table["shift_invariant"].to_dict() == {
        "edu": True, "age": True, "spend": False, "marital": True}
    assert table["parent_of_target"].to_dict() == {
        "edu": True, "age": True, "spend": False, "marital": True}
    assert table.loc["spend", "descendant_of_target"]
    # Exactly one conflicting feature: edu (marital is unfair but not shifted).
    conflicted = [v for v in table.index if table.loc[v, "conflicts"]]
    assert conflicted == ["edu"]
    assert "site is d-connected to income" in table.loc["edu", "conflicts"][0]
    assert table.attrs["invariant_set"] == ["edu", "age", "marital"]
    assert any("counterfactual fairness conflict" in s for s in table.attrs["summary"])
    assert table.loc["edu", "path_specific_fair"] is None


def test_the_graphs_claims_hold_on_data_simulated_from_it():
    """What the report says invariant is invariant across sites, and what it
    says breaks invariance does, on 30,000 simulated rows per fit."""
    X, y, site = _simulate()
    invariant = _environment_spread(X, y, site, ["edu", "age", "marital"])
    without_edu = _environment_spread(X, y, site, ["age", "marital"])
    with_spend = _environment_spread(X, y, site, ["edu", "age", "marital", "spend"])
    assert invariant < 0.1
    assert without_edu > 1.0      # the conflict: the fair set is not invariant
    assert with_spend > 0.5       # the collider breaks invariance


def test_path_specific_fairness_moves_the_conflict_to_the_collider_path():
    """Allowing sex -> edu -> income keeps edu, but edu is a collider of site
    and sex: conditioning on it opens site -> edu <- sex -> marital -> income,
    so invariance now needs marital, which the unfair path sex -> marital
    forbids. The data agree: income on (edu, age) is not invariant across
    sites, on (edu, age, marital) it is."""
    allowed = ["sex -> edu -> income"]
    table = invariance_conflicts(GRAPH, "income", "sex", "site", fair_paths=allowed)
    assert table["path_specific_fair"].to_dict() == {
        "edu": True, "age": True, "spend": False, "marital": False}
    assert table.loc["marital", "conflicts"] and "path-specific" in \
        table.loc["marital", "conflicts"][0]
    assert not any("path-specific" in c for c in table.loc["edu", "conflicts"])
    X, y, site = _simulate()
    assert _environment_spread(X, y, site, ["edu", "age"]) > 0.1
    assert _environment_spread(X, y, site, ["edu", "age", "marital"]) < 0.1
    # Allowing both mediated paths removes the path-specific conflict.
    both = invariance_conflicts(GRAPH, "income", "sex", "site",
                                fair_paths=allowed + [("sex", "marital", "income")])
    assert not any("path-specific" in s for s in both.attrs["summary"])


def test_an_environment_acting_on_the_target_leaves_no_invariant_set():
    graph = CausalGraph(EDGES + [("site", "income")])
    table = invariance_conflicts(graph, "income", "sex", "site")
    assert not table["shift_invariant"].any()
    assert table.attrs["invariant_set"] == []
    assert "no set of features is invariant" in table.attrs["summary"][0]
    X, _, _ = _simulate(200)
    with pytest.raises(ValueError, match="no set of features is invariant"):
        SelectiveInvarianceSelector(graph, "income", "sex", "site",
                                    invariances=("shift",)).fit(X)


@pytest.mark.parametrize("invariances,kept", [
    (("counterfactual",), ["age"]),
    (("shift",), ["sex", "edu", "age", "marital"]),
    (("path_specific",), ["edu", "age"]),
])
def test_the_selector_keeps_what_the_invariances_allow(invariances, kept):
    X, y, _ = _simulate(500)
    selector = SelectiveInvarianceSelector(
        GRAPH, "income", "sex", "site", invariances=invariances,
        fair_paths=["sex -> edu -> income"]).fit(X, y)
    assert list(selector.get_feature_names_out()) == kept
    np.testing.assert_array_equal(selector.transform(X), X[kept].to_numpy())


@pytest.mark.parametrize("invariances", [("counterfactual", "shift"),
                                         ("path_specific", "shift")])
def test_conflicting_invariances_are_a_clear_error(invariances):
    X, y, _ = _simulate(500)
    with pytest.raises(ValueError, match="conflict"):
        SelectiveInvarianceSelector(GRAPH, "income", "sex", "site", invariances=invariances,
                                    fair_paths=["sex -> edu -> income"]).fit(X, y)


def test_the_selector_after_a_one_hot_encoder_and_in_a_pipeline():
    """Encoded columns map to their raw nodes by the column rule; the kept
    columns are the nodes' indicators; pandas output, pickling."""
    X, y, _ = _simulate(600)
    X["marital"] = np.where(X["marital"] > 0, "married", "single")
    encoder = ColumnTransformer(
        [("onehot", OneHotEncoder(sparse_output=False), ["marital"])],
        remainder="passthrough").set_output(transform="pandas")
    selector = SelectiveInvarianceSelector(
        GRAPH, "income", "sex", "site", invariances=("shift",))
    pipe = make_pipeline(encoder, selector, LinearRegression())
    pipe.set_output(transform="pandas").fit(X, y)
    kept = list(pipe[1].get_feature_names_out())
    assert kept == ["onehot__marital_married", "onehot__marital_single",
                    "remainder__sex", "remainder__edu", "remainder__age"]
    out = pipe[1].transform(pipe[0].transform(X))
    assert list(out.columns) == kept
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_allclose(restored.predict(X), pipe.predict(X))


def test_without_a_graph_every_column_is_kept_and_said():
    X, y, _ = _simulate(100)
    with pytest.warns(NoCausalModelWarning):
        selector = SelectiveInvarianceSelector().fit(X, y)
    assert list(selector.get_feature_names_out()) == list(X.columns)


@pytest.mark.parametrize("call,match", [
    (lambda: invariance_conflicts(GRAPH, "wage", "sex"), r"target names \['wage'\]"),
    (lambda: invariance_conflicts(GRAPH, "income", "sex", "sex"), "two roles"),
    (lambda: invariance_conflicts(GRAPH, "income", "income", "site"),
     r"nodes \['income'\] have two roles"),
    (lambda: invariance_conflicts(GRAPH, "income", "sex", "income"),
     r"nodes \['income'\] have two roles"),
    (lambda: invariance_conflicts(GRAPH, "income", "sex", fair_paths=["edu -> income"]),
     "must run from a sensitive attribute"),
    (lambda: invariance_conflicts(GRAPH, "income", "sex",
                                  fair_paths=["sex -> age -> income"]), "not in the causal"),
    (lambda: invariance_conflicts(GRAPH, ["income"], "sex"), "target must be one node"),
    (lambda: invariance_conflicts([("a", "b")], "b"), "CausalGraph or a LinearSCM"),
])
def test_bad_roles_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_selector_input_is_named():
    X, y, _ = _simulate(50)
    with pytest.raises(ValueError, match="invariances must be"):
        SelectiveInvarianceSelector(GRAPH, "income", "sex", "site",
                                    invariances=("privacy",)).fit(X)
    with pytest.raises(ValueError, match="pass fair_paths"):
        SelectiveInvarianceSelector(GRAPH, "income", "sex", "site",
                                    invariances=("path_specific",)).fit(X)
    with pytest.raises(ValueError, match=r"columns \['zip'\] of X are not nodes"):
        SelectiveInvarianceSelector(GRAPH, "income", "sex", "site",
                                    invariances=("shift",)).fit(X.assign(zip=1.0))
    with pytest.raises(ValueError, match="target or an environment node"):
        SelectiveInvarianceSelector(GRAPH, "income", "sex", "site",
                                    invariances=("shift",)).fit(X.assign(income=y))


def test_the_selection_is_confirmed_on_data_from_the_graph():
    X, y, site = _simulate(6000)
    selector = SelectiveInvarianceSelector(GRAPH, "income", "sex", "site",
                                           invariances=("shift",), confirm=True)
    selector.fit(X, y, environments=site)
    assert selector.selected_nodes_ == ["sex", "edu", "age", "marital"]
    assert selector.confirmation_["confirmed"]
    assert selector.confirmation_["pvalue"] > 0.05
    # ICP's own p-value of the same set, computed directly.
    from skcausal_trust.invariance import InvariantCausalPrediction
    icp = InvariantCausalPrediction().fit(X[["sex", "edu", "age", "marital"]], y,
                                          environments=site)
    direct = {frozenset(k): v for k, v in icp.subset_pvalues_.items()}
    assert selector.confirmation_["pvalue"] == pytest.approx(
        direct[frozenset(["sex", "edu", "age", "marital"])])


def test_a_wrong_graph_is_rejected_by_the_data():
    """A graph that says spending causes income (not the reverse) keeps the
    collider ``spend``; ICP rejects that set and the selector says so."""
    wrong = CausalGraph([(u, v) if (u, v) != ("income", "spend") else ("spend", "income")
                         for u, v in EDGES])
    X, y, site = _simulate(6000)
    selector = SelectiveInvarianceSelector(wrong, "income", "sex", "site",
                                           invariances=("shift",), confirm=True)
    with pytest.warns(ModelRejectedWarning, match="reject the invariance"):
        selector.fit(X, y, environments=site)
    assert "spend" in selector.selected_nodes_
    assert not selector.confirmation_["confirmed"]
    with pytest.raises(ValueError, match="pass y and the rows' environments"):
        SelectiveInvarianceSelector(GRAPH, "income", "sex", "site", invariances=("shift",),
                                    confirm=True).fit(X, y)


def test_a_direct_edge_is_a_fair_path_of_two_nodes():
    """``"sex -> income"`` (one edge) is a path: allowing it alone leaves the
    mediators edu and marital unfair and age (no path from sex) fair; a
    one-node "path" is refused by name."""
    graph = CausalGraph(EDGES + [("sex", "income")])
    table = invariance_conflicts(graph, "income", "sex", "site", fair_paths=["sex -> income"])
    assert table["path_specific_fair"].to_dict() == {
        "edu": False, "age": True, "spend": False, "marital": False}
    with pytest.raises(ValueError, match="fair_paths: 'income' must run from a sensitive "
                                         "attribute"):
        invariance_conflicts(graph, "income", "sex", "site", fair_paths=[["income"]])


def test_a_descendant_of_the_target_that_no_environment_shifts_stays_invariant():
    """A child of the target is outside the base set (the local Markov
    property) yet keeps the conditional invariant when no environment shifts
    it: ``savings`` (caused by income alone) is shift-invariant, ``spend``
    (also shifted by site) is not; the data from the graph agree."""
    graph = CausalGraph(EDGES + [("income", "savings")])
    table = invariance_conflicts(graph, "income", "sex", "site")
    assert table.loc["savings", "descendant_of_target"]
    assert table.loc["savings", "shift_invariant"]
    assert not table.loc["spend", "shift_invariant"]
    X, y, site = _simulate(seed=3)
    X["savings"] = 0.8 * y + np.random.default_rng(4).normal(size=len(y))
    base = ["edu", "age", "marital"]
    assert _environment_spread(X, y, site, base + ["savings"]) < 0.05
    assert _environment_spread(X, y, site, base + ["spend"]) > 0.3


def test_the_report_without_environments_and_with_two_sensitive_attributes():
    """Without environments invariance under shift holds vacuously: every
    feature is shift-invariant, nothing conflicts and nothing is said. Two
    sensitive attributes given as a list: a feature is counterfactually
    fair when neither causes it; ``site``, given no role, is a feature."""
    graph = CausalGraph(EDGES + [("race", "marital")])
    table = invariance_conflicts(graph, "income", ["sex", "race"])
    assert table.index.name == "feature"
    assert set(table.index) == {"site", "edu", "age", "spend", "marital"}
    assert table["shift_invariant"].all()
    assert table["conflicts"].map(len).sum() == 0
    assert table.attrs["summary"] == []
    assert sorted(table.attrs["invariant_set"]) == ["age", "edu", "marital", "site"]
    assert table["counterfactually_fair"].to_dict() == {
        "site": True, "edu": False, "age": True, "spend": False, "marital": False}
    assert table.loc["marital", "paths_from_sensitive"] == [
        "sex -> marital", "race -> marital"]


def test_the_summary_says_only_what_holds():
    """With an invariant set the summary names the one conflict and does not
    claim there is no invariant set; without one it says so and lists no
    per-feature conflict (none can be resolved by a feature's return)."""
    table = invariance_conflicts(GRAPH, "income", "sex", "site")
    assert len(table.attrs["summary"]) == 1
    assert table.attrs["summary"][0].startswith(
        "invariance under shift and counterfactual fairness conflict")
    hopeless = invariance_conflicts(CausalGraph(EDGES + [("site", "income")]),
                                    "income", "sex", "site")
    assert len(hopeless.attrs["summary"]) == 1
    assert hopeless["conflicts"].map(len).sum() == 0
