"""CausalGraph and LinearSCM against hand-computed ground truth."""

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from skcausal_trust.causal import CausalGraph, LinearSCM, one_hot_encode
from skcausal_trust.exceptions import CyclicGraphError, RoundedCounterfactualWarning


def test_graph_queries_match_networkx():
    edges = [("a", "m"), ("m", "y"), ("a", "y"), ("c", "m"), ("c", "y")]
    g = CausalGraph(edges)
    assert g.parents("y") == ["a", "m", "c"]
    assert g.children("a") == ["m", "y"]
    assert set(g.ancestors("y")) == nx.ancestors(nx.DiGraph(edges), "y")
    assert g.descendants("a") == ["m", "y"]
    assert g.directed_paths("a", "y") == [["a", "y"], ["a", "m", "y"]]
    order = g.topological_order()
    assert all(order.index(u) < order.index(v) for u, v in edges)


def test_graph_from_parents_and_csv_equal_edges(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("cause,effect\na,b\n# comment\nb,c\nlonely\n")
    from_csv = CausalGraph.from_csv(path)
    assert from_csv == CausalGraph.from_parents({"b": ["a"], "c": ["b"], "lonely": []})
    assert "lonely" in from_csv and from_csv.parents("lonely") == []


def test_graph_rejects_cycles_and_names_them():
    with pytest.raises(CyclicGraphError, match="'a' -> 'b' -> 'a'"):
        CausalGraph([("a", "b"), ("b", "a")])
    with pytest.raises(CyclicGraphError, match="itself"):
        CausalGraph([("a", "a")])


def test_check_nodes_in_names_missing_nodes():
    with pytest.raises(ValueError, match=r"\['z'\] are not columns of data"):
        CausalGraph([("a", "z")]).check_nodes_in(["a", "b"])


def test_expand_copies_edges_to_group_members():
    g = CausalGraph([("a", "job"), ("job", "y")]).expand({"job": ["job_x", "job_y"]})
    assert g.parents("y") == ["job_x", "job_y"]
    assert g.children("a") == ["job_x", "job_y"]


def _simulate_chain(n, rng):
    """A -> X1 -> X2 and A -> X2, with known coefficients and noises."""
    a = rng.integers(0, 2, n)
    u1, u2 = rng.normal(size=n), rng.normal(scale=0.5, size=n)
    x1 = 1.0 + 2.0 * a + u1
    x2 = -0.5 + 0.7 * x1 - 1.5 * a + u2
    data = pd.DataFrame({"a": a.astype(float), "x1": x1, "x2": x2})
    return data, (u1, u2)


TRUE = {"x1": {"a": 2.0}, "x2": {"x1": 0.7, "a": -1.5}}
GRAPH = [("a", "x1"), ("x1", "x2"), ("a", "x2")]


def test_counterfactuals_of_true_model_equal_regenerated_rows():
    rng = np.random.default_rng(0)
    data, (u1, u2) = _simulate_chain(200, rng)
    scm = LinearSCM.from_coefficients(
        GRAPH, TRUE, intercepts={"x1": 1.0, "x2": -0.5}
    )
    twins = scm.counterfactual(data, {"a": 1.0 - data["a"]})
    # Ground truth: regenerate each row with the same noise and A flipped.
    a_cf = 1.0 - data["a"].to_numpy()
    x1_cf = 1.0 + 2.0 * a_cf + u1
    x2_cf = -0.5 + 0.7 * x1_cf - 1.5 * a_cf + u2
    np.testing.assert_allclose(twins["x1"], x1_cf, atol=1e-12)
    np.testing.assert_allclose(twins["x2"], x2_cf, atol=1e-12)
    noise = scm.abduct(data)
    np.testing.assert_allclose(noise["x1"], u1, atol=1e-12)
    np.testing.assert_allclose(noise["x2"], u2, atol=1e-12)


def test_total_effect_is_the_sum_over_directed_paths():
    scm = LinearSCM.from_coefficients(GRAPH, TRUE)
    # a -> x2 directly (-1.5) and through x1 (2.0 * 0.7).
    np.testing.assert_allclose(
        scm.total_effect("a", 0.0, 1.0), [1.0, 2.0, 2.0 * 0.7 - 1.5], atol=1e-12
    )


def test_fit_recovers_true_coefficients_and_weights_equal_repeats():
    rng = np.random.default_rng(1)
    data, _ = _simulate_chain(20_000, rng)
    scm = LinearSCM(GRAPH).fit(data)
    assert scm.equations_["x2"]["parents"] == ["a", "x1"]
    np.testing.assert_allclose(scm.equations_["x2"]["coef"][0], [-1.5, 0.7], atol=0.03)
    np.testing.assert_allclose(scm.equations_["x1"]["intercept"], [1.0], atol=0.03)
    np.testing.assert_allclose(scm.equations_["x2"]["noise_scale"], [0.5], atol=0.01)
    # Integer weights equal repeated rows.
    small = data.iloc[:50]
    w = rng.integers(0, 3, 50)
    weighted = LinearSCM(GRAPH).fit(small, sample_weight=w)
    repeated = LinearSCM(GRAPH).fit(small.loc[small.index.repeat(w)])
    np.testing.assert_allclose(
        weighted.equations_["x2"]["coef"], repeated.equations_["x2"]["coef"], rtol=1e-10
    )


def test_sample_reproduces_the_model_moments():
    scm = LinearSCM.from_coefficients(
        GRAPH, TRUE, categories={}, root_distributions={"a": {"mean": 0.5, "scale": 0.5}}
    )
    draws = scm.sample(100_000, random_state=0)
    # Var(x1) = 4 Var(a) + 1 = 2; Cov(a, x2) = (1.4 - 1.5) Var(a) = -0.025.
    assert draws["x1"].var() == pytest.approx(2.0, rel=0.02)
    assert np.cov(draws["a"], draws["x2"])[0, 1] == pytest.approx(-0.025, abs=0.01)


def test_categorical_parent_is_one_hot_and_child_counterfactual_is_rounded():
    rng = np.random.default_rng(2)
    n = 20_000
    group = rng.choice(["g0", "g1", "g2"], n)
    effect = {"g0": 0.0, "g1": 1.0, "g2": -2.0}
    x = np.array([effect[g] for g in group]) + rng.normal(size=n)
    job = np.where(x + rng.normal(size=n) > 0, "hi", "lo")
    data = pd.DataFrame({"group": group, "x": x, "job": job})
    scm = LinearSCM([("group", "x"), ("x", "job")]).fit(data)
    assert scm.design_columns_["group"] == ["group_g1", "group_g2"]
    np.testing.assert_allclose(scm.equations_["x"]["coef"][0], [1.0, -2.0], atol=0.05)
    with pytest.warns(RoundedCounterfactualWarning, match="job"):
        twins = scm.counterfactual(data, {"group": "g2"})
    assert set(twins["job"]) <= {"hi", "lo"}
    assert (twins["group"] == "g2").all()
    # One-hot encoding first keeps the twins exact (no warning, soft values).
    encoded, graph = one_hot_encode(data, [("group", "x"), ("x", "job")], exclude=["group"])
    scm_1h = LinearSCM(graph).fit(encoded)
    twins_1h = scm_1h.counterfactual(encoded, {"group": "g2"})
    shift = twins_1h["job_hi"] - encoded["job_hi"]
    assert np.ptp(shift[data["group"] == "g0"]) < 1e-12  # same shift per level


def test_unseen_intervention_level_is_an_error():
    data = pd.DataFrame({"g": ["a", "b", "a"], "x": [1.0, 2.0, 0.0]})
    scm = LinearSCM([("g", "x")]).fit(data)
    with pytest.raises(ValueError, match=r"intervention\['g'\] has level\(s\) \['c'\]"):
        scm.counterfactual(data, {"g": "c"})


def test_dummy_na_gives_missing_values_their_own_indicator():
    data = pd.DataFrame({
        "job": pd.Categorical(["a", None, "b", "a", None], categories=["a", "b"]),
        "sex": ["F", "M", "M", "F", "F"],
        "h": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    plain, _ = one_hot_encode(data)
    assert plain.loc[1, ["job_a", "job_b"]].sum() == 0  # default: no indicator
    encoded, graph = one_hot_encode(data, [("job", "h")], dummy_na=["job"])
    assert list(encoded.columns) == ["job_a", "job_b", "job_nan", "sex_F", "sex_M", "h"]
    np.testing.assert_array_equal(encoded["job_nan"], [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(encoded[["job_a", "job_b", "job_nan"]].sum(axis=1), 1.0)
    assert graph.parents("h") == ["job_a", "job_b", "job_nan"]
    # The column is there whatever the data: the encoding is data-independent.
    complete, _ = one_hot_encode(data.dropna(), dummy_na=True)
    assert {"job_nan", "sex_nan"} <= set(complete.columns)
    assert complete[["job_nan", "sex_nan"]].to_numpy().sum() == 0


def test_dummy_na_leaves_least_squares_fitted_values_unchanged():
    rng = np.random.default_rng(3)
    n = 2_000
    job = pd.Categorical(rng.choice(["a", "b", "c", None], n, p=[0.4, 0.3, 0.2, 0.1]))
    effect = pd.Series(job).astype(object).map({"a": 0.0, "b": 1.0, "c": 2.0})
    y = rng.normal(size=n) + effect.fillna(-3.0).to_numpy(float)
    data = pd.DataFrame({"job": job})
    for dummy_na in (False, ["job"]):
        X, _ = one_hot_encode(data, dummy_na=dummy_na)
        fitted = LinearRegression().fit(X, y).predict(X)
        if dummy_na is False:
            reference = fitted
    np.testing.assert_allclose(fitted, reference, atol=1e-9)


@pytest.mark.parametrize("dummy_na, match", [
    ("job", r"dummy_na must be a bool or a list.*\['job'\]"),
    (["nope"], r"dummy_na names columns \['nope'\] not in data"),
    (["h"], r"dummy_na names columns \['h'\] that are not one-hot encoded"),
])
def test_dummy_na_bad_input_names_itself(dummy_na, match):
    data = pd.DataFrame({"job": ["a", "b"], "h": [1.0, 2.0]})
    with pytest.raises(ValueError, match=match):
        one_hot_encode(data, dummy_na=dummy_na)


def test_declared_categories_encode_unknown_values_without_pandas_deprecations():
    """Values outside the declared levels: refused by default, all-zero
    indicators with handle_unknown='ignore'; a missing value gets the
    '_nan' indicator. No pandas warning (building a Categorical of values
    outside its categories is deprecated and will raise)."""
    import warnings

    data = pd.DataFrame({"c": ["a", "b", "z", None], "k": [0, 1, 1, 0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoded, _ = one_hot_encode(data, categories={"c": ["a", "b"], "k": [0, 1]},
                                    handle_unknown="ignore", dummy_na=["c"])
        with pytest.raises(ValueError, match=r"values \['z'\] outside its declared"):
            one_hot_encode(data, categories={"c": ["a", "b"]})
    assert encoded.to_dict("list") == {
        "c_a": [1.0, 0.0, 0.0, 0.0], "c_b": [0.0, 1.0, 0.0, 0.0],
        "c_nan": [0.0, 0.0, 0.0, 1.0], "k_0": [1.0, 0.0, 0.0, 1.0],
        "k_1": [0.0, 1.0, 1.0, 0.0]}
