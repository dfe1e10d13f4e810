"""Tests that kill the surviving mutants of ``fairness/_base.py`` (issue 17,
``benchmarks/run_mutation.py --modules fairness_base``): the shared machinery
of the counterfactual estimators (the worlds, their counterfactual
directions, path-specific directions, the causal perturbation basis, the
per-row twin changes, the level checks and the free directions).

Every expected value comes from an independent computation on the rows,
never from another route through the same code:

* in a linear SCM fitted by (weighted) least squares, the total effect of a
  categorical attribute on a child is the difference of the child's
  (weighted) group means, and on a grandchild ``x <- a, m`` it is
  ``b_a + b_m * d_m`` with ``b`` from ``np.linalg.lstsq`` of ``x`` on
  ``[1, one-hot(a), m]`` (each edge's coefficient; a path's effect is the
  product along it);
* a categorical descendant's direction is the difference of its levels'
  (weighted) proportions (the linear probability model);
* the noise scale of a node is the weighted root mean square of its
  least-squares residual (of a root: its weighted standard deviation);
* ``n_free_directions_`` is ``p`` minus the rank of the stacked directions,
  computed here from the reference directions; with ``epsilon=0`` the
  regressor is scikit-learn's ``Ridge`` on the columns that no direction
  moves.
"""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import Ridge

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.exceptions import (
    DegenerateConstraintWarning,
    NoSensitiveFeaturesWarning,
)
from skcausal_trust.fairness import CounterfactuallyFairRegressor
from skcausal_trust.fairness._base import (
    MAX_SENSITIVE_COMBINATIONS,
    MAX_SENSITIVE_LEVELS,
    check_level_masses,
    fit_worlds,
    free_directions,
)

CHAIN = CausalGraph([("a", "m"), ("m", "x"), ("a", "x")], nodes=["z"])
LEVELS = np.array(["f", "g", "h"])


def _chain(n=90, seed=0):
    """a -> m -> x, a -> x, z independent; columns z, m, x, a; integer
    weights."""
    rng = np.random.default_rng(seed)
    a = LEVELS[np.arange(n) % 3]
    code = np.arange(n) % 3
    m = np.array([0.0, 1.5, -1.0])[code] + rng.normal(size=n)
    x = 0.7 * m + np.array([0.0, -0.8, 2.0])[code] + rng.normal(size=n)
    z = rng.normal(size=n)
    y = z + m + x + rng.normal(size=n)
    w = rng.integers(1, 4, size=n).astype(float)
    return pd.DataFrame({"z": z, "m": m, "x": x, "a": a}), y, w


def _onehot(values, levels):
    return np.column_stack([(values == lv).astype(float) for lv in levels[1:]])


def _wlstsq(A, b, w):
    s = np.sqrt(w)
    return np.linalg.lstsq(A * s[:, None], b * s, rcond=None)[0]


def _chain_reference(X, w):
    """Per level k > 0: (d_m[k], b_a[k], b_m), the weighted least-squares
    pieces of the chain."""
    a = X["a"].to_numpy()
    d_m = np.array([np.average(X["m"][a == lv], weights=w[a == lv])
                    - np.average(X["m"][a == LEVELS[0]], weights=w[a == LEVELS[0]])
                    for lv in LEVELS[1:]])
    A = np.column_stack([np.ones(len(a)), _onehot(a, LEVELS), X["m"]])
    beta = _wlstsq(A, X["x"].to_numpy(), w)
    return d_m, beta[1:3], beta[3]


def _fit(X, y, w=None, **params):
    params.setdefault("sensitive_feature_ids", "a")
    return CounterfactuallyFairRegressor(**params).fit(X, y, sample_weight=w)


def _worlds(X, y, w, graph, ids="a"):
    """fit_worlds on the estimator's own inputs (as fit calls it)."""
    reg = CounterfactuallyFairRegressor(graph, sensitive_feature_ids=ids)
    Z, _, attribute, features, sw, inputs = reg._fit_inputs(
        X, y, sample_weight=w, y_numeric=True, require_y=True)
    return fit_worlds(graph, inputs, features, attribute, sw), Z


# --------------------------------------------------------------------------
# Counterfactual directions (fit_worlds, _fit_world, Worlds, World.direction)
# --------------------------------------------------------------------------
def test_total_effect_directions_are_the_least_squares_effects():
    X, y, w = _chain()
    reg = _fit(X, y, w, causal_model=CHAIN)
    d_m, b_a, b_m = _chain_reference(X, w)
    expected = np.column_stack([np.zeros(2), d_m, b_a + b_m * d_m])
    assert reg.counterfactual_directions_.shape == (1, 2, 3)
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)
    assert reg.sensitive_node_ == "a"
    assert list(reg.sensitive_levels_) == list(LEVELS)
    assert len(reg.scms_) == 1 and isinstance(reg.scms_[0], LinearSCM)
    assert reg.n_free_directions_ == 1
    # epsilon=0: only z is free, so the model is Ridge on z.
    ref = Ridge(alpha=1.0).fit(X[["z"]], y, sample_weight=w)
    assert_allclose(reg.coef_, [ref.coef_[0], 0.0, 0.0], atol=1e-9)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-9)


def test_two_worlds_stack_their_directions_and_share_the_rank():
    X, y, w = _chain(seed=1)
    worlds = [CausalGraph([("a", "m")], nodes=["z", "x"]),
              CausalGraph([("a", "x")], nodes=["z", "m"])]
    reg = _fit(X, y, w, causal_model=worlds)
    a = X["a"].to_numpy()

    def diff(col):
        ref = np.average(X[col][a == "f"], weights=w[a == "f"])
        return np.array([np.average(X[col][a == lv], weights=w[a == lv]) - ref
                         for lv in LEVELS[1:]])

    expected = np.zeros((2, 2, 3))
    expected[0, :, 1] = diff("m")
    expected[1, :, 2] = diff("x")
    assert_allclose(reg.counterfactual_directions_, expected, rtol=1e-9, atol=1e-12)
    assert len(reg.scms_) == 2
    T = expected.reshape(-1, 3)
    assert reg.n_free_directions_ == 3 - np.linalg.matrix_rank(T) == 1


def test_two_attributes_intersect_in_product_order():
    rng = np.random.default_rng(2)
    n = 120
    a = np.array(["f", "g"])[np.arange(n) % 2]
    b = np.array(["p", "q", "r"])[(np.arange(n) // 2) % 3]
    m = (1.0 * (a == "g") + np.select([b == "q", b == "r"], [2.0, -1.0], 0.0)
         + rng.normal(size=n))
    x = 0.5 * m + rng.normal(size=n)
    X = pd.DataFrame({"m": m, "x": x, "a": a, "b": b})
    y = m + x + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    graph = CausalGraph([("a", "m"), ("b", "m"), ("m", "x")])
    reg = _fit(X, y, w, causal_model=graph, sensitive_feature_ids=["a", "b"])
    A = np.column_stack([np.ones(n), a == "g", b == "q", b == "r"]).astype(float)
    cm = _wlstsq(A, m, w)
    cx = _wlstsq(np.column_stack([np.ones(n), m]), x, w)[1]
    combos = list(itertools.product(["f", "g"], ["p", "q", "r"]))

    def shift(combo):
        return (cm[1] * (combo[0] == "g") + cm[2] * (combo[1] == "q")
                + cm[3] * (combo[1] == "r"))

    expected = np.array([[shift(c) - shift(combos[0]), cx * (shift(c) - shift(combos[0]))]
                         for c in combos[1:]])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)
    assert reg.sensitive_node_ == ("a", "b")
    assert [tuple(c) for c in reg.sensitive_levels_] == combos
    assert reg.n_free_directions_ == 1
    # Each row's combination index, the last attribute fastest.
    worlds, _ = _worlds(X, y, w, graph, ids=["a", "b"])
    expected_codes = [combos.index((ai, bi)) for ai, bi in zip(a, b)]
    assert worlds.codes.tolist() == expected_codes
    assert worlds.combos == combos


def test_default_world_moves_every_feature_by_its_group_means():
    """causal_model=None: the attribute causes every feature directly."""
    X, y, w = _chain(seed=3)
    a = X["a"].to_numpy()
    reg = _fit(X, y, w)
    expected = np.array([[np.average(X[c][a == lv], weights=w[a == lv])
                          - np.average(X[c][a == "f"], weights=w[a == "f"])
                          for c in ["z", "m", "x"]] for lv in LEVELS[1:]])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)
    assert reg.n_free_directions_ == 1


def test_default_world_names_routed_attributes():
    X, y, w = _chain(seed=4)
    features = X[["z", "m", "x"]]
    reg = CounterfactuallyFairRegressor().fit(features, y,
                                             sensitive_features=X["a"].to_numpy())
    assert reg.sensitive_node_ == "sensitive"
    reg = CounterfactuallyFairRegressor().fit(features, y,
                                             sensitive_features=X["a"].rename("m"))
    assert reg.sensitive_node_ == "m__sensitive"
    two = np.column_stack([X["a"], np.where(X["z"] > 0, "u", "v")])
    reg = CounterfactuallyFairRegressor().fit(features, y, sensitive_features=two)
    assert reg.sensitive_node_ == ("sensitive_0", "sensitive_1")


def test_an_integer_coded_attribute_is_categorical():
    """Codes 0, 1, 2 with effects 0, 2, 1 on m: the directions are the group
    mean differences, not a line through the codes."""
    rng = np.random.default_rng(29)
    n = 60
    code = np.arange(n) % 3
    m = np.array([0.0, 2.0, 1.0])[code] + rng.normal(size=n)
    z = rng.normal(size=n)
    X = pd.DataFrame({"z": z, "m": m, "a": code})
    y = z + m
    reg = _fit(X, y, causal_model=CausalGraph([("a", "m")], nodes=["z"]))
    expected = [m[code == k].mean() - m[code == 0].mean() for k in (1, 2)]
    assert_allclose(reg.counterfactual_directions_[0, :, 1], expected, rtol=1e-9)
    assert list(reg.sensitive_levels_) == [0, 1, 2]


def test_routed_attribute_is_the_one_node_without_a_column():
    X, y, w = _chain(seed=5)
    reg = CounterfactuallyFairRegressor(CHAIN).fit(
        X[["z", "m", "x"]], y, sensitive_features=X["a"].to_numpy(), sample_weight=w)
    d_m, b_a, b_m = _chain_reference(X, w)
    assert reg.sensitive_node_ == "a"
    assert_allclose(reg.counterfactual_directions_[0, :, 2], b_a + b_m * d_m, rtol=1e-9)


def test_an_attribute_that_causes_nothing_leaves_ridge():
    X, y, w = _chain(seed=6)
    graph = CausalGraph([("m", "x")], nodes=["a", "z"])
    reg = _fit(X, y, w, causal_model=graph)
    assert np.all(reg.counterfactual_directions_ == 0.0)
    assert reg.n_free_directions_ == 3
    ref = Ridge(alpha=1.0).fit(X[["z", "m", "x"]], y, sample_weight=w)
    assert_allclose(reg.coef_, ref.coef_, rtol=1e-9)


# --------------------------------------------------------------------------
# Path-specific directions (restrict_to_paths, World.path_effect,
# check_paths, _restrict_paths)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("which,paths,part", [
    ("unfair_paths", ["a -> m -> x"], "indirect"),
    ("unfair_paths", ["a -> m", "a -> x"], "direct"),
    ("fair_paths", ["a -> m -> x"], "direct"),
    ("fair_paths", [("a", "x"), ("a", "m")], "indirect"),
    ("unfair_paths", ["a -> m", "a -> x", "a -> m -> x"], "total"),
])
def test_path_specific_directions_are_products_along_the_paths(which, paths, part):
    X, y, w = _chain(seed=7)
    d_m, b_a, b_m = _chain_reference(X, w)
    reg = _fit(X, y, w, causal_model=CHAIN, **{which: paths})
    expected = {
        "indirect": np.column_stack([np.zeros(2), np.zeros(2), b_m * d_m]),
        "direct": np.column_stack([np.zeros(2), d_m, b_a]),
        "total": np.column_stack([np.zeros(2), d_m, b_a + b_m * d_m]),
    }[part]
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)


def test_path_specific_directions_in_two_worlds():
    X, y, w = _chain(seed=8)
    d_m, b_a, b_m = _chain_reference(X, w)
    reg = _fit(X, y, w, causal_model=[CHAIN, CHAIN], unfair_paths=["a -> m -> x"])
    for world in range(2):
        assert_allclose(reg.counterfactual_directions_[world, :, 2], b_m * d_m, rtol=1e-9)
        assert np.all(reg.counterfactual_directions_[world, :, :2] == 0.0)


@pytest.mark.parametrize("paths", [["m -> x"], ["a"], ["a -> z"], ["a -> x -> m"]])
def test_paths_that_are_not_sensitive_paths_of_the_graph_are_refused(paths):
    X, y, w = _chain(seed=9)
    with pytest.raises(ValueError, match="unfair_paths"):
        _fit(X, y, w, causal_model=CHAIN, unfair_paths=paths)


@pytest.mark.parametrize("paths", [["m -> x"], ["a -> x -> m"]])
def test_refused_fair_paths_are_named_as_such(paths):
    X, y, w = _chain(seed=9)
    with pytest.raises(ValueError, match=r"^fair_paths: "):
        _fit(X, y, w, causal_model=CHAIN, fair_paths=paths)


def test_a_path_must_exist_in_every_world():
    X, y, w = _chain(seed=9)
    other = CausalGraph([("a", "m"), ("a", "x")], nodes=["z"])
    with pytest.raises(ValueError, match="not in the causal graph"):
        _fit(X, y, w, causal_model=[CHAIN, other], unfair_paths=["a -> m -> x"])


def test_fair_and_unfair_paths_together_are_refused():
    X, y, w = _chain(seed=9)
    with pytest.raises(ValueError, match="not both"):
        _fit(X, y, w, causal_model=CHAIN, unfair_paths=["a -> m"], fair_paths=["a -> x"])


# --------------------------------------------------------------------------
# The causal perturbation basis and per-row twins (World.perturbation,
# World.twin_changes, Worlds.codes)
# --------------------------------------------------------------------------
def test_perturbation_basis_is_each_noise_scale_through_the_equations():
    X, y, w = _chain(seed=10)
    worlds, _ = _worlds(X, y, w, CHAIN)
    world = worlds.worlds[0]
    nodes, Q = world.perturbation()
    a = X["a"].to_numpy()
    m, x, z = (X[c].to_numpy() for c in ["m", "x", "z"])
    Am = np.column_stack([np.ones(len(a)), _onehot(a, LEVELS)])
    s_m = np.sqrt(np.average((m - Am @ _wlstsq(Am, m, w))**2, weights=w))
    Ax = np.column_stack([Am, m])
    bx = _wlstsq(Ax, x, w)
    s_x = np.sqrt(np.average((x - Ax @ bx)**2, weights=w))
    s_z = np.sqrt(np.average((z - np.average(z, weights=w))**2, weights=w))
    expected = {"z": [s_z, 0, 0], "m": [0, s_m, bx[3] * s_m], "x": [0, 0, s_x]}
    assert sorted(nodes) == ["m", "x", "z"]
    assert_allclose(Q, np.array([expected[v] for v in nodes]), rtol=1e-9, atol=1e-12)


def test_perturbation_skips_categorical_and_noiseless_nodes():
    """A raw categorical column keeps its level; a node fixed by its parents
    (zero noise) has nothing to perturb; with neither left, the basis is
    empty."""
    rng = np.random.default_rng(11)
    n = 60
    a = np.array(["f", "g"])[np.arange(n) % 2]
    c = rng.choice(["u", "v", "w"], n)
    m = 1.0 * (a == "g") + rng.normal(size=n)
    X = pd.DataFrame({"m": m, "d": 2.0 * m, "c": c, "a": a})
    y = m + rng.normal(size=n)
    graph = CausalGraph([("a", "m"), ("m", "d"), ("a", "c")])
    worlds, Z = _worlds(X, y, None, graph)
    nodes, Q = worlds.worlds[0].perturbation()
    s_m = np.sqrt(np.mean((m - np.where(a == "g", m[a == "g"].mean(), m[a == "f"].mean()))**2))
    assert nodes == ["m"]
    assert Q.shape == (1, Z.shape[1])
    names = list(worlds.worlds[0].column_nodes)
    assert names == ["m", "d", "c"]
    assert_allclose(Q[0, :2], [s_m, 2.0 * s_m], rtol=1e-9)
    assert np.all(Q[0, 2:] == 0.0)
    worlds, Z = _worlds(X[["c", "a"]], y, None, CausalGraph([("a", "c")]))
    nodes, Q = worlds.worlds[0].perturbation()
    assert nodes == [] and Q.shape == (0, 3)


def test_twin_changes_are_the_differences_of_directions_row_by_row():
    X, y, w = _chain(seed=12)
    worlds, _ = _worlds(X, y, w, CHAIN)
    d_m, b_a, b_m = _chain_reference(X, w)
    total = np.vstack([np.zeros(3), np.column_stack([np.zeros(2), d_m, b_a + b_m * d_m])])
    code = np.searchsorted(LEVELS, X["a"].to_numpy())
    assert worlds.codes.tolist() == code.tolist()
    rows = np.array([0, 1, 2, 4, 8])
    for k, combo in enumerate(worlds.combos):
        got = worlds.worlds[0].twin_changes(rows, combo)
        assert_allclose(got, total[k] - total[code[rows]], rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------
# Raw categorical descendants and encoded-level routes (ModelInputs, M,
# scm_frame, _column_variables, level columns)
# --------------------------------------------------------------------------
def _categorical(n=90, seed=13):
    rng = np.random.default_rng(seed)
    a = LEVELS[np.arange(n) % 3]
    probs = {"f": [0.6, 0.3, 0.1], "g": [0.2, 0.5, 0.3], "h": [0.1, 0.2, 0.7]}
    c = np.array([rng.choice(["u", "v", "w"], p=probs[lv]) for lv in a])
    z = rng.normal(size=n)
    y = z + (c == "v") + rng.normal(size=n)
    w = rng.integers(1, 4, size=n).astype(float)
    return pd.DataFrame({"z": z, "c": c, "a": a}), y, w


def _proportion_differences(X, w):
    a, c = X["a"].to_numpy(), X["c"].to_numpy()

    def share(level, value):
        return np.average(c[a == level] == value, weights=w[a == level])

    return np.array([[share(lv, v) - share("f", v) for v in ["u", "v", "w"]]
                     for lv in LEVELS[1:]])


def test_raw_categorical_descendant_moves_by_its_level_shares():
    X, y, w = _categorical()
    graph = CausalGraph([("a", "c")], nodes=["z"])
    reg = _fit(X, y, w, causal_model=graph)
    assert list(reg.input_features_) == ["z", "c_u", "c_v", "c_w"]
    expected = np.column_stack([np.zeros(2), _proportion_differences(X, w)])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)
    # Arrays of the raw columns at predict time: the same model.
    assert_allclose(reg.predict(X.to_numpy(dtype=object)), reg.predict(X), rtol=1e-12)


def test_residuals_of_raw_rows_given_as_an_array():
    """The residualizer reads the SCM's variables from raw rows at transform
    (World.scm_frame), a DataFrame or an object array of the same columns:
    m's residual is its least-squares residual on one-hot a and c."""
    from skcausal_trust.fairness import CounterfactualResidualizer

    X, _, _ = _categorical(seed=30)
    rng = np.random.default_rng(1)
    X = X.assign(m=1.0 * (X["c"] == "v") + 0.5 * (X["a"] == "g")
                 + rng.normal(size=len(X)))[["z", "m", "c", "a"]]
    graph = CausalGraph([("a", "c"), ("c", "m"), ("a", "m")], nodes=["z"])
    res = CounterfactualResidualizer(graph, sensitive_feature_ids="a").fit(X)
    A = np.column_stack([np.ones(len(X)), _onehot(X["a"].to_numpy(), LEVELS),
                         _onehot(X["c"].to_numpy(), np.array(["u", "v", "w"]))])
    expected = X["m"] - A @ np.linalg.lstsq(A, X["m"].to_numpy(), rcond=None)[0]
    assert_allclose(res.transform(X)[:, 1], expected, rtol=1e-9, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names
        out = res.transform(X.to_numpy(dtype=object))
    assert_allclose(out[:, 1], expected, rtol=1e-9, atol=1e-12)


def test_encoded_levels_of_a_node_are_the_same_directions():
    """A ColumnTransformer's output (prefixed one-hot columns) with a graph
    on the raw names: the node is expanded into its columns."""
    X, y, w = _categorical(seed=14)
    enc = pd.DataFrame({
        "num__z": X["z"],
        **{f"cat__c_{v}": (X["c"] == v).astype(float) for v in ["u", "v", "w"]},
        "a": X["a"],
    })
    graph = CausalGraph([("a", "c")], nodes=["z"])
    reg = _fit(enc, y, w, causal_model=graph)
    expected = np.column_stack([np.zeros(2), _proportion_differences(X, w)])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)
    worlds, _ = _worlds(enc, y, w, graph)
    world = worlds.worlds[0]
    # The level columns are held fixed in a causal perturbation: only z moves.
    nodes, Q = world.perturbation()
    s_z = np.sqrt(np.average((X["z"] - np.average(X["z"], weights=w))**2, weights=w))
    assert nodes == ["z"]
    assert world.level_columns == {"cat__c_u", "cat__c_v", "cat__c_w"}
    assert_allclose(Q, [[s_z, 0, 0, 0]], rtol=1e-9, atol=1e-12)


def test_prefixed_numeric_columns_keep_their_nodes():
    X, y, w = _chain(seed=15)
    enc = X.rename(columns={"z": "num__z", "m": "num__m", "x": "num__x"})
    reg = _fit(enc, y, w, causal_model=CHAIN)
    d_m, b_a, b_m = _chain_reference(X, w)
    expected = np.column_stack([np.zeros(2), d_m, b_a + b_m * d_m])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------
# A fitted LinearSCM is used as it is (_fit_world, _check_against_fitted)
# --------------------------------------------------------------------------
def _fitted_chain(X, w=None):
    frame = X.assign(a=pd.Categorical(X["a"], categories=LEVELS))
    return LinearSCM(CHAIN).fit(frame, sample_weight=w)


def test_fitted_scm_gives_its_own_effects_not_the_rows():
    X, y, w = _chain(seed=16)
    scm = _fitted_chain(X, w)
    rows = np.arange(45)
    reg = _fit(X.iloc[rows], y[rows], causal_model=scm)
    d_m, b_a, b_m = _chain_reference(X, w)
    expected = np.column_stack([np.zeros(2), d_m, b_a + b_m * d_m])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)
    assert reg.scms_[0] is scm


def test_fitted_scm_refuses_unseen_levels_and_numeric_attributes():
    X, y, w = _chain(seed=17)
    rng = np.random.default_rng(0)
    c = rng.choice(["u", "v"], len(y))
    graph = CausalGraph([("a", "m"), ("a", "c")], nodes=["z"])
    frame = X[["z", "m", "a"]].assign(a=pd.Categorical(X["a"]), c=pd.Categorical(c))
    scm = LinearSCM(graph).fit(frame)
    ok = X[["z", "m", "a"]].assign(c=pd.Categorical(c))
    _fit(ok, y, causal_model=scm)
    bad = ok.assign(c=pd.Categorical(np.where(np.arange(len(y)) == 3, "t", c)))
    with pytest.raises(ValueError, match="never saw"):
        _fit(bad, y, causal_model=scm)
    numeric = LinearSCM(CausalGraph([("a", "m")], nodes=["z"])).fit(
        X[["z", "m"]].assign(a=(X["a"] == "g").astype(float)))
    with pytest.raises(ValueError, match="numeric node"):
        _fit(X[["z", "m"]].assign(a=(X["a"] == "g").astype(float)), y,
             causal_model=numeric)


# --------------------------------------------------------------------------
# Levels and their weights (_check_levels, check_level_masses)
# --------------------------------------------------------------------------
class _Attribute:
    def __init__(self, n):
        self.n_attributes = n

    def argument_of(self, j):
        return f"attribute {j}"


def _masses(levels, value=1.0):
    return [{lv: value for lv in lvs} for lvs in levels]


def test_level_count_limits():
    levels = [np.arange(MAX_SENSITIVE_LEVELS)]
    assert check_level_masses(_Attribute(1), levels, _masses(levels)) is levels
    levels = [np.arange(MAX_SENSITIVE_LEVELS + 1)]
    with pytest.raises(ValueError, match="distinct values"):
        check_level_masses(_Attribute(1), levels, _masses(levels))
    levels = [np.arange(1)]
    with pytest.raises(ValueError, match="single level"):
        check_level_masses(_Attribute(1), levels, _masses(levels))
    levels = [np.arange(2)]
    assert check_level_masses(_Attribute(1), levels, _masses(levels)) is levels


def test_combination_limit():
    side = int(np.sqrt(MAX_SENSITIVE_COMBINATIONS))
    assert side * side == MAX_SENSITIVE_COMBINATIONS == 256
    levels = [np.arange(side), np.arange(side)]
    assert check_level_masses(_Attribute(2), levels, _masses(levels)) is levels
    levels = [np.arange(side), np.arange(side + 1)]
    with pytest.raises(ValueError, match="272 combinations"):
        check_level_masses(_Attribute(2), levels, _masses(levels))


def test_a_level_without_weight_is_refused_and_any_positive_weight_accepted():
    X, y, w = _chain(seed=18)
    zero = np.where(X["a"] == "g", 0.0, w)
    with pytest.raises(ValueError, match="zero on every row"):
        _fit(X, y, zero, causal_model=CHAIN)
    tiny = np.where((X["a"] == "g") & (np.arange(len(y)) > 5), 0.0, w)
    tiny[(X["a"] == "g").to_numpy()] *= 1e-3
    reg = _fit(X, y, tiny, causal_model=CHAIN)
    d_m, b_a, b_m = _chain_reference(X, tiny)
    assert_allclose(reg.counterfactual_directions_[0, :, 1], d_m, rtol=1e-9)


def test_a_single_level_is_refused_on_the_data():
    X, y, w = _chain(seed=19)
    with pytest.raises(ValueError, match="single level"):
        _fit(X.assign(a="f"), y, w, causal_model=CHAIN)


# --------------------------------------------------------------------------
# Free directions and the degenerate warning (free_directions)
# --------------------------------------------------------------------------
def test_no_free_direction_warns_only_at_epsilon_zero():
    X, y, w = _chain(seed=20)
    only = X[["m", "a"]]
    graph = CausalGraph([("a", "m")])
    with pytest.warns(DegenerateConstraintWarning, match="leave no free direction"):
        reg = _fit(only, y, w, causal_model=graph)
    assert reg.n_free_directions_ == 0
    assert reg.coef_ == pytest.approx([0.0], abs=1e-12)
    assert reg.intercept_ == pytest.approx(np.average(y, weights=w), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateConstraintWarning)
        reg = _fit(X[["z", "m", "a"]], y, w, causal_model=CausalGraph(
            [("a", "m")], nodes=["z"]))
        assert reg.n_free_directions_ == 1


@pytest.mark.parametrize("directions,epsilon,free,warns", [
    (np.zeros((0, 1, 3)), 0.0, 3, False),          # no attribute
    (np.array([[[1.0, 2.0], [2.0, 4.0]]]), 0.0, 1, False),   # rank 1 of 2
    (np.array([[[1.0, 0.0]], [[1.0, 1.0]]]), 0.0, 0, True),  # two worlds, rank 2
    (np.array([[[1.0, 0.0]], [[1.0, 1.0]]]), 0.5, 0, False),
    (np.array([[[3.0]]]), 0.0, 0, True),
    (np.array([[[3.0]]]), 1.0, 0, False),
    (np.zeros((1, 2, 2)), 0.0, 2, False),            # a cause of nothing
])
def test_free_directions_is_the_rank_complement(directions, epsilon, free, warns):
    p = directions.shape[2]
    T = directions.reshape(-1, p)
    rank = np.linalg.matrix_rank(T) if T.size else 0
    assert free == p - rank
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert free_directions(directions, p, epsilon, "owner") == free
    degenerate = [c for c in caught if issubclass(c.category, DegenerateConstraintWarning)]
    assert len(degenerate) == int(warns)
    if warns:
        assert f"the {rank} counterfactual directions span all {p}" in str(
            degenerate[0].message)


def test_without_sensitive_features_every_direction_is_free():
    X, y, w = _chain(seed=21)
    features = X[["z", "m", "x"]]
    with pytest.warns(NoSensitiveFeaturesWarning, match="plain ridge regression"):
        reg = CounterfactuallyFairRegressor(CHAIN).fit(features, y, sample_weight=w)
    assert reg.n_free_directions_ == 3
    assert reg.scms_ == [] and reg.sensitive_node_ is None
    assert reg.sensitive_levels_ is None
    assert reg.counterfactual_directions_.shape == (0, 1, 3)
    ref = Ridge(alpha=1.0).fit(features, y, sample_weight=w)
    assert_allclose(reg.coef_, ref.coef_, rtol=1e-9)


# --------------------------------------------------------------------------
# Inputs at fit and predict (_fit_inputs, _predict_inputs, _drop_sensitive,
# ModelInputs)
# --------------------------------------------------------------------------
def test_sensitive_column_anywhere_is_dropped_at_predict():
    X, y, w = _chain(seed=22)
    X = X[["z", "a", "m", "x"]]
    graph = CausalGraph([("m", "x")], nodes=["a", "z"])
    reg = _fit(X, y, w, causal_model=graph)
    ref = Ridge(alpha=1.0).fit(X[["z", "m", "x"]], y, sample_weight=w)
    assert_allclose(reg.predict(X), ref.predict(X[["z", "m", "x"]]), rtol=1e-9)
    moved = X.assign(a="h")
    assert_allclose(reg.predict(moved), reg.predict(X), rtol=0, atol=0)
    arr = np.column_stack([X["z"], np.searchsorted(LEVELS, X["a"]), X["m"], X["x"]])
    reg = CounterfactuallyFairRegressor(CausalGraph([(2, 3)], nodes=[0, 1]),
                                        sensitive_feature_ids=1).fit(arr, y, sample_weight=w)
    assert_allclose(reg.predict(arr), ref.predict(X[["z", "m", "x"]]), rtol=1e-9)


def test_non_finite_inputs_are_refused_with_their_columns():
    """Raw columns are validated after their encoding: the message names the
    input columns that are not finite."""
    X, y, w = _categorical(seed=23)
    graph = CausalGraph([("a", "c")], nodes=["z"])
    bad = X.assign(z=np.where(np.arange(len(y)) == 2, np.inf, X["z"]))
    with pytest.raises(ValueError, match=r"columns \['z'\]"):
        _fit(bad, y, w, causal_model=graph)
    reg = _fit(X, y, w, causal_model=graph)
    with pytest.raises(ValueError, match="NaN or infinit"):
        reg.predict(X.assign(z=np.nan))


def test_non_numeric_array_columns_are_named():
    X, y, w = _categorical(seed=24)
    arr = X[["z", "c"]].to_numpy(dtype=object)
    with pytest.raises(ValueError, match=r"non-numeric columns \[1\]"):
        CounterfactuallyFairRegressor().fit(arr, y, sensitive_features=X["a"].to_numpy())


# --------------------------------------------------------------------------
# Encoded columns of a node: a path into the node's columns, a single
# one-hot column held fixed (World.path_effect's members, perturbation)
# --------------------------------------------------------------------------
def test_a_path_into_an_encoded_node_reaches_all_its_columns():
    X, y, w = _categorical(seed=25)
    enc = pd.DataFrame({
        "num__z": X["z"],
        **{f"cat__c_{v}": (X["c"] == v).astype(float) for v in ["u", "v", "w"]},
        "a": X["a"],
    })
    graph = CausalGraph([("a", "c"), ("a", "z")])
    reg = _fit(enc, y, w, causal_model=graph, unfair_paths=["a -> c"])
    expected = np.column_stack([np.zeros(2), _proportion_differences(X, w)])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)
    reg = _fit(enc, y, w, causal_model=graph, fair_paths=["a -> c"])
    a = X["a"].to_numpy()
    d_z = [np.average(X["z"][a == lv], weights=w[a == lv])
           - np.average(X["z"][a == "f"], weights=w[a == "f"]) for lv in LEVELS[1:]]
    assert_allclose(reg.counterfactual_directions_[0, :, 0], d_z, rtol=1e-9)
    assert_allclose(reg.counterfactual_directions_[0, :, 1:], 0.0, atol=1e-12)


def test_a_single_encoded_level_is_held_fixed_in_the_perturbation():
    """A binary node encoded as one column ("cat__s_v", owned by node s) is
    a categorical level: not perturbed, whatever its numeric values."""
    rng = np.random.default_rng(26)
    n = 60
    a = np.array(["f", "g"])[np.arange(n) % 2]
    s = (rng.uniform(size=n) < np.where(a == "g", 0.7, 0.3)).astype(float)
    m = 1.0 * (a == "g") + rng.normal(size=n)
    enc = pd.DataFrame({"num__m": m, "cat__s_v": s, "a": a})
    y = m + s + rng.normal(size=n)
    graph = CausalGraph([("a", "m"), ("a", "s")])
    worlds, _ = _worlds(enc, y, None, graph)
    world = worlds.worlds[0]
    nodes, Q = world.perturbation()
    s_m = np.sqrt(np.mean((m - np.where(a == "g", m[a == "g"].mean(),
                                        m[a == "f"].mean()))**2))
    assert nodes == ["m"]
    assert_allclose(Q, [[s_m, 0.0]], rtol=1e-9, atol=1e-12)
    # The twins move the level by the difference of its shares.
    assert_allclose(worlds.directions[0, 0, 1], s[a == "g"].mean() - s[a == "f"].mean(),
                    rtol=1e-9)


def test_path_specific_worlds_state_the_classifier_constraints_per_level():
    """The classifier's reference program reads path-specific directions
    (one row per pair of levels), not the rows' total-effect twins."""
    from skcausal_trust.fairness._counterfactual import _constraint_rows

    X, y, w = _chain(seed=27)
    worlds, _ = _worlds(X, y, w, CHAIN)
    worlds.restrict_to_paths(unfair_paths=[("a", "m", "x")])
    d_m, b_a, b_m = _chain_reference(X, w)
    along = np.concatenate([[0.0], b_m * d_m])
    rows = np.vstack(_constraint_rows(worlds))
    expected = sorted(abs(along[j] - along[i]) for i in range(3) for j in range(i + 1, 3))
    assert np.all(rows[:, :2] == 0.0)
    assert_allclose(sorted(np.abs(rows[:, 2])), expected, rtol=1e-9)


def test_a_path_through_another_sensitive_node():
    """a -> b -> m with both a and b sensitive: the path's effect is the
    change of b's level shares with a times m's coefficients on b's
    indicators (least squares), reaching m only."""
    rng = np.random.default_rng(28)
    n = 80
    a = np.array(["f", "g"])[np.arange(n) % 2]
    b = np.where(rng.uniform(size=n) < np.where(a == "g", 0.75, 0.25), "q", "p")
    m = 1.5 * (b == "q") + rng.normal(size=n)
    X = pd.DataFrame({"m": m, "a": a, "b": b})
    y = m + rng.normal(size=n)
    graph = CausalGraph([("a", "b"), ("b", "m")])
    with pytest.warns(DegenerateConstraintWarning):
        reg = _fit(X, y, causal_model=graph, sensitive_feature_ids=["a", "b"],
                   unfair_paths=["a -> b -> m"])
    share = (b[a == "g"] == "q").mean() - (b[a == "f"] == "q").mean()
    coef = _wlstsq(np.column_stack([np.ones(n), b == "q"]).astype(float), m, np.ones(n))[1]
    # Combinations (f,p), (f,q), (g,p), (g,q): a moves from f to g in the
    # last two only.
    assert_allclose(reg.counterfactual_directions_[0, :, 0], [0.0, share * coef,
                                                              share * coef], rtol=1e-9,
                    atol=1e-12)
