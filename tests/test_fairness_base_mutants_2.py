"""More tests that kill surviving mutants of ``fairness/_base.py`` (issue 17,
``benchmarks/run_mutation.py --modules fairness_base``): ``fit_worlds`` and
``_fit_world`` on dask collections (the levels and their weights from the
first pass over the partitions, the SCM fitted or checked partition by
partition), and the level checks (``_check_levels``,
``check_level_masses``).

Every expected value comes from an independent computation on the rows: in
the SCM ``a -> m -> x``, ``a -> x`` fitted by weighted least squares, the
total effect of a level of ``a`` on ``m`` is the difference of ``m``'s
weighted group means and on ``x`` it is ``b_a + b_m * d_m`` (``b`` from
``np.linalg.lstsq`` of ``x`` on ``[1, one-hot(a), m]`` with the weights);
with ``epsilon=0`` the regressor is scikit-learn's ``Ridge`` on the one
column that no direction moves.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import Ridge

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.fairness import CounterfactuallyFairRegressor
from skcausal_trust.fairness import _dask as fairness_dask
from skcausal_trust.fairness._base import MAX_SENSITIVE_LEVELS
from test_fairness_base_mutants import CHAIN, LEVELS, _chain

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

#: Two unequal partitions.
CUTS = (0, 40)


def _reference(X, w):
    """The directions (levels g and h against f) of z, m and x."""
    a = X["a"].to_numpy()

    def mean(v, lv):
        return np.average(X[v][a == lv], weights=w[a == lv])

    d_m = np.array([mean("m", lv) - mean("m", "f") for lv in LEVELS[1:]])
    A = np.column_stack([np.ones(len(a))] + [(a == lv).astype(float) for lv in LEVELS[1:]]
                        + [X["m"]])
    s = np.sqrt(w)
    beta = np.linalg.lstsq(A * s[:, None], X["x"].to_numpy() * s, rcond=None)[0]
    return np.column_stack([np.zeros(2), d_m, beta[1:3] + beta[3] * d_m])


def _dask(X, y, w):
    ends = CUTS + (len(X),)
    ddf = dd.concat([dd.from_pandas(X.iloc[s:e], npartitions=1)
                     for s, e in zip(ends[:-1], ends[1:])])
    sizes = tuple(e - s for s, e in zip(ends[:-1], ends[1:]))
    return (ddf, da.from_array(y, chunks=(sizes,)), da.from_array(w, chunks=(sizes,)))


@pytest.mark.parametrize("world,route", [
    ("graph", "first pass"), ("fitted", "first pass"),
    # The SCM fitted with passes of its own (the first pass's statistics do
    # not apply), from a first pass over the SCM's variables or without one.
    ("graph", "own passes"), ("graph", "no first pass"),
])
def test_dask_directions_are_the_weighted_least_squares_effects(dask_sync, monkeypatch,
                                                                 world, route):
    if route != "first pass":
        monkeypatch.setattr(fairness_dask, "scm_from_groups", lambda *args: None)
    if route == "no first pass":
        monkeypatch.setattr(fairness_dask, "scm_first_pass", lambda *args: None)
    X, y, w = _chain()
    causal_model = CHAIN
    if world == "fitted":
        # A fitted SCM is used as it is (its own effects): fitted here on the
        # same rows and weights, it has the same effects as the reference.
        causal_model = LinearSCM(CHAIN).fit(X.assign(a=pd.Categorical(X["a"])),
                                            sample_weight=w)
    Xd, yd, wd = _dask(X, y, w)
    reg = CounterfactuallyFairRegressor(causal_model, sensitive_feature_ids="a")
    reg.fit(Xd, yd, sample_weight=wd)
    assert list(reg.sensitive_levels_) == list(LEVELS)
    assert reg.sensitive_node_ == "a"
    assert reg.counterfactual_directions_.shape == (1, 2, 3)
    assert_allclose(reg.counterfactual_directions_[0], _reference(X[["z", "m", "x", "a"]], w),
                    rtol=1e-9, atol=1e-12)
    assert reg.n_free_directions_ == 1
    ref = Ridge(alpha=1.0).fit(X[["z"]], y, sample_weight=w)
    assert_allclose(reg.coef_, [ref.coef_[0], 0.0, 0.0], atol=1e-9)
    assert reg.intercept_ == pytest.approx(ref.intercept_, rel=1e-9)


def test_dask_level_of_zero_weight_is_refused(dask_sync):
    """The first pass's weight of a level: zero on every row of g."""
    X, y, w = _chain(seed=3)
    zero = np.where(X["a"] == "g", 0.0, w)
    Xd, yd, wd = _dask(X, y, zero)
    with pytest.raises(ValueError, match=r"zero on every row where .* \['g'\]"):
        CounterfactuallyFairRegressor(CHAIN, sensitive_feature_ids="a").fit(
            Xd, yd, sample_weight=wd)
    # A small positive weight on one row of g is enough.
    tiny = zero.copy()
    tiny[1] = 1e-3
    Xd, yd, wd = _dask(X, y, tiny)
    reg = CounterfactuallyFairRegressor(CHAIN, sensitive_feature_ids="a").fit(
        Xd, yd, sample_weight=wd)
    assert_allclose(reg.counterfactual_directions_[0], _reference(X, tiny),
                    rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_levels,match", [(1, "single level"),
                                             (MAX_SENSITIVE_LEVELS + 1, "distinct values")])
def test_dask_level_counts_are_checked(dask_sync, n_levels, match):
    X, y, w = _chain(seed=4)
    X = X.assign(a=[f"L{i % n_levels}" for i in range(len(X))])
    Xd, yd, wd = _dask(X, y, w)
    with pytest.raises(ValueError, match=match):
        CounterfactuallyFairRegressor(sensitive_feature_ids="a").fit(
            Xd, yd, sample_weight=wd)


def test_memory_level_masses_are_the_weight_of_each_level():
    """_check_levels: a level's mass is the sum of its rows' weights; a
    level whose rows weigh 1e-6 each (3e-5 in all) is accepted, and its
    effects are the weighted least-squares ones."""
    X, y, w = _chain(seed=5)
    light = np.where(X["a"] == "h", 1e-6, w)
    reg = CounterfactuallyFairRegressor(CHAIN, sensitive_feature_ids="a").fit(
        X, y, sample_weight=light)
    assert_allclose(reg.counterfactual_directions_[0], _reference(X, light),
                    rtol=1e-8, atol=1e-12)


def test_an_array_with_one_named_sensitive_node_is_accepted():
    """On an array only the sensitive node may have a name (one named node
    for one attribute is not a guess): the directions are the differences
    of the group means of the attribute's children (columns 0 and 1)."""
    X, y, w = _chain(seed=6)
    s = X["a"].to_numpy()
    Z = X[["m", "x", "z"]].to_numpy()
    graph = CausalGraph([("s", 0), ("s", 1)], nodes=[2])
    reg = CounterfactuallyFairRegressor(graph).fit(Z, y, sensitive_features=s,
                                                   sample_weight=w)
    expected = np.array([[np.average(Z[s == lv, j], weights=w[s == lv])
                          - np.average(Z[s == "f", j], weights=w[s == "f"])
                          for j in range(2)] + [0.0] for lv in LEVELS[1:]])
    assert_allclose(reg.counterfactual_directions_[0], expected, rtol=1e-9, atol=1e-12)


def test_worlds_naming_the_attribute_differently_are_refused():
    """Each world's sensitive node is the one node without a column: "a" in
    one world, "s" in the other."""
    X, y, w = _chain(seed=7)
    worlds = [CausalGraph([("a", "m")], nodes=["z", "x"]),
              CausalGraph([("s", "x")], nodes=["z", "m"])]
    with pytest.raises(ValueError, match="name the sensitive attribute differently"):
        CounterfactuallyFairRegressor(worlds).fit(
            X[["z", "m", "x"]], y, sensitive_features=X["a"].to_numpy())


def test_a_node_that_is_a_raw_column_and_encoded_columns_is_refused():
    """Node c is the raw categorical column "c" and the column "c_x" too."""
    X, y, w = _chain(seed=8)
    rng = np.random.default_rng(8)
    c = rng.choice(["u", "v"], len(X)).astype(object)
    Xc = pd.DataFrame({"z": X["z"], "c": c, "c_x": (c == "v").astype(float),
                       "a": X["a"]})
    graph = CausalGraph([("a", "c")], nodes=["z"])
    with pytest.raises(ValueError, match="is the raw categorical column 'c'"):
        CounterfactuallyFairRegressor(graph, sensitive_feature_ids="a").fit(Xc, y)
