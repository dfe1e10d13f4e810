"""Tests that kill surviving mutants of ``fairness/_dask.py``'s reading of
the sensitive attribute and of ``X``'s schema (issue 17,
``benchmarks/run_mutation.py --modules fairness_dask --only
"*_as_dask_attribute*" "*_set_input_names*" "*_check_supported*"
"*DaskAttribute*"``).

One causal model, the same answer on every route: the attribute routed as
a two-column dask array (or a one-column one) fits what the same values
routed in memory fit; a bad attribute (missing labels, both routes) is
refused on dask with the in-memory message, which names the attribute the
same way; ``feature_names_in_`` is set, kept and removed as
``validate_data`` does in memory (object names only for string column
labels, removed by a refit on an array or on integer labels).
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.causal import CausalGraph
from skcausal_trust.fairness import CounterfactuallyFairRegressor
from test_fairness_dask_mutants import _frame, _partitioned, _rows

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

SIZES = (17, 24, 19)
# A dask Series of strings to a dask array: dask says it makes objects of them.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Dask currently has limited support for converting pandas extension")


def _regressor(**params):
    """A tolerance that leaves the inputs free (at 0, two attributes of 2
    and 3 levels span both inputs and the fit is constant)."""
    return CounterfactuallyFairRegressor(epsilon=0.3, **params)


def _inputs(frame):
    return frame[["x1", "x2"]]


def _fitted_pair(frame, y, routed_memory, routed_dask, X_dask):
    eager = _regressor().fit(_inputs(frame), y,
                                                sensitive_features=routed_memory)
    lazy = _regressor().fit(X_dask, da.from_array(y, chunks=(SIZES,)),
                                               sensitive_features=routed_dask)
    return eager, lazy


@pytest.mark.parametrize("width", [1, 2])
def test_an_attribute_routed_as_a_2d_dask_array_fits_as_in_memory(dask_sync, width):
    frame, y, _ = _frame()
    codes = np.column_stack([frame["a"], frame["r"]])[:, :width].astype(object)
    X = da.from_array(_inputs(frame).to_numpy(), chunks=(SIZES, 2))
    routed = da.from_array(codes, chunks=(SIZES, width))
    assert routed.ndim == 2
    eager, lazy = _fitted_pair(frame, y, codes, routed, X)
    assert np.abs(eager.coef_).max() > 1e-3
    assert_allclose(lazy.coef_, eager.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(lazy.intercept_, eager.intercept_, rtol=1e-9, atol=1e-12)
    # The attribute matters: dropping r (width 1) gives another fit.
    if width == 2:
        one = _regressor().fit(_inputs(frame), y,
                                                  sensitive_features=codes[:, :1])
        assert np.abs(one.coef_ - lazy.coef_).max() > 1e-3


def _in_memory_message(X, y, **kwargs):
    with pytest.raises(ValueError) as memory:
        _regressor(
            sensitive_feature_ids=kwargs.pop("ids", None)).fit(X, y, **kwargs)
    return str(memory.value)


@pytest.mark.parametrize("route", ["columns", "one column", "routed frame",
                                   "routed array", "routed series"])
def test_missing_labels_are_refused_on_dask_with_the_in_memory_message(dask_sync, route):
    frame, y, _ = _frame()
    frame = frame.astype({"r": object})
    frame.loc[30, "r"] = None
    Xd, yd, _ = _partitioned(frame, y, None, (0, 17, 41))
    if route == "columns":
        memory, lazy = ({"ids": ["a", "r"]}, {"ids": ["a", "r"]})
        X_memory, X_lazy = frame, Xd
        expected = "X['r'] (sensitive_feature_ids) has 1 missing value"
    elif route == "one column":
        memory, lazy = ({"ids": "r"}, {"ids": "r"})
        X_memory, X_lazy = frame.drop(columns="a"), Xd.drop(columns="a")
        expected = "X['r'] (sensitive_feature_ids) has 1 missing value"
    elif route == "routed frame":
        memory = {"sensitive_features": frame[["a", "r"]]}
        lazy = {"sensitive_features": Xd[["a", "r"]]}
        X_memory, X_lazy = _inputs(frame), Xd[["x1", "x2"]]
        expected = "sensitive_features['r'] has 1 missing value"
    elif route == "routed series":
        memory = {"sensitive_features": frame["r"]}
        lazy = {"sensitive_features": Xd["r"]}
        X_memory, X_lazy = _inputs(frame), Xd[["x1", "x2"]]
        expected = "sensitive_features has 1 missing value"
    else:
        values = frame[["a", "r"]].to_numpy()
        memory = {"sensitive_features": values}
        lazy = {"sensitive_features": da.from_array(values, chunks=(SIZES, 2))}
        X_memory = _inputs(frame)
        X_lazy = da.from_array(_inputs(frame).to_numpy(), chunks=(SIZES, 2))
        expected = "sensitive_features[1] has 1 missing value"
    message = _in_memory_message(X_memory, y, **memory)
    assert expected in message
    est = _regressor(sensitive_feature_ids=lazy.pop("ids", None))
    with pytest.raises(ValueError) as on_dask:
        est.fit(X_lazy, yd if route != "routed array"
                else da.from_array(y, chunks=(SIZES,)), **lazy)
    assert str(on_dask.value) == message


def test_both_routes_of_the_attribute_are_refused_on_dask_as_in_memory(dask_sync):
    frame, y, _ = _frame()
    Xd, yd, _ = _partitioned(frame, y, None)
    message = _in_memory_message(frame.drop(columns="r"), y, ids="a",
                                 sensitive_features=frame["r"])
    with pytest.raises(ValueError) as on_dask:
        _regressor(sensitive_feature_ids="a").fit(
            Xd.drop(columns="r"), yd, sensitive_features=Xd["r"])
    assert str(on_dask.value) == message


def test_dask_x_of_another_kind_is_refused_by_name(dask_sync):
    """A dask Series or a 1-D dask array is not a table of rows."""
    frame, y, _ = _frame()
    Xd, yd, _ = _partitioned(frame, y, None)
    with pytest.raises(ValueError, match="2-D dask array on the dask route; got Series"):
        _regressor().fit(Xd["x1"], yd, sensitive_features=Xd["a"])
    with pytest.raises(ValueError, match="X is a 1-D dask array; expected 2-D"):
        _regressor().fit(
            da.from_array(frame["x1"].to_numpy(), chunks=(SIZES,)), yd,
            sensitive_features=Xd["a"].to_dask_array(lengths=True))


def test_feature_names_in_follows_validate_data_on_dask(dask_sync):
    """String labels: object names, as in memory. A refit on integer labels
    or on an array removes them, as ``validate_data`` does."""
    frame, y, _ = _frame()
    Xd, yd, _ = _partitioned(frame, y, None)
    est = _regressor(sensitive_feature_ids=["a", "r"])
    eager = _regressor(sensitive_feature_ids=["a", "r"]).fit(frame, y)
    est.fit(Xd, yd)
    assert est.feature_names_in_.dtype == eager.feature_names_in_.dtype == object
    assert list(est.feature_names_in_) == list(frame.columns)
    # Integer column labels: no names (and none left from the earlier fit).
    numbered = frame.set_axis(range(4), axis=1)
    Xn, _, _ = _partitioned(numbered, y, None)
    assert not hasattr(_regressor(sensitive_feature_ids=[0, 2]).fit(numbered, y),
                       "feature_names_in_")
    est.set_params(sensitive_feature_ids=[0, 2]).fit(Xn, yd)
    assert not hasattr(est, "feature_names_in_")
    assert est.n_features_in_ == 4
    # A refit on a dask array after the named frame removes the names too.
    named = _regressor().fit(Xd[["x1", "x2"]], yd, sensitive_features=Xd["a"])
    assert list(named.feature_names_in_) == ["x1", "x2"]
    array = da.from_array(_inputs(frame).to_numpy(), chunks=(SIZES, 2))
    routed = da.from_array(frame["a"].to_numpy(dtype=object), chunks=(SIZES,))
    named.fit(array, da.from_array(y, chunks=(SIZES,)), sensitive_features=routed)
    assert not hasattr(named, "feature_names_in_")
    assert named.n_features_in_ == 2


def test_first_pass_masses_over_an_empty_partition(dask_sync):
    """Without the SCM's statistics each partition's attribute gives the
    levels' weights; an empty partition has no labels and adds nothing."""
    frame, y, w = _frame(seed=31)
    rows = _rows(frame, y, w, None, ids=("a", "r"), cuts=(0, 17, 17, 41))
    assert rows.summary["n"] == len(y)
    for j, column in enumerate(["a", "r"]):
        masses = rows.summary["mass"][j]
        expected = pd.Series(w).groupby(frame[column].to_numpy()).sum()
        assert sorted(masses) == sorted(expected.index)
        for level, weight in expected.items():
            assert masses[level] == pytest.approx(weight, rel=1e-13)


def _refusal(fit):
    with pytest.raises(ValueError) as error:
        fit()
    return str(error.value)


def test_a_routed_series_name_picks_the_node_on_dask_as_in_memory(dask_sync):
    """A Series named ``A`` is the node ``A``: the other unobserved node
    ``B`` is then the refusal's subject (unnamed, the attribute could be
    either node: another refusal)."""
    frame, y, _ = _frame(seed=32)
    graph = CausalGraph([("A", "x1"), ("B", "x2")])
    X = _inputs(frame)
    full, yd, _ = _partitioned(frame, y, None)
    Xd = full[["x1", "x2"]]
    for name in ("A", None):
        memory = _refusal(lambda: _regressor(causal_model=graph).fit(
            X, y, sensitive_features=frame["a"].rename(name)))
        lazy = _refusal(lambda: _regressor(causal_model=graph).fit(
            Xd, yd, sensitive_features=full["a"].rename(name)))
        assert lazy == memory
        assert ("nodes ['B'] that are neither columns of X" in lazy) == (name == "A")
    # A dask array has no name (its .name is a key of dask's graph).
    memory = _refusal(lambda: _regressor(causal_model=graph).fit(
        X, y, sensitive_features=frame["a"].to_numpy()))
    routed = full["a"].to_dask_array(lengths=True)
    assert isinstance(routed.name, str)
    lazy = _refusal(lambda: _regressor(causal_model=graph).fit(
        Xd, yd, sensitive_features=routed))
    assert lazy == memory
    assert "the attribute names are []" in lazy


def test_a_single_level_among_two_sensitive_columns_is_refused_as_in_memory(dask_sync):
    frame, y, _ = _frame(seed=33)
    frame = frame.assign(r="n")
    Xd, yd, _ = _partitioned(frame, y, None)
    memory = _refusal(lambda: _regressor(sensitive_feature_ids=["a", "r"]).fit(frame, y))
    assert memory.startswith(
        "X[['a', 'r']] (sensitive_feature_ids)['r'] has a single level 'n'")
    assert _refusal(lambda: _regressor(sensitive_feature_ids=["a", "r"]).fit(Xd, yd)) == memory


def test_a_routed_dask_frame_without_columns_or_with_a_repeated_name_is_refused(dask_sync):
    frame, y, _ = _frame(seed=34)
    full, yd, _ = _partitioned(frame, y, None)
    Xd = full[["x1", "x2"]]
    with pytest.raises(ValueError, match=r"^sensitive_features has no column\.$"):
        _regressor().fit(Xd, yd, sensitive_features=full[[]])
    twice = dd.concat([full[["a"]], full[["r"]].rename(columns={"r": "a"})], axis=1)
    with pytest.raises(ValueError,
                       match=r"^sensitive_features repeats a column name: \['a', 'a'\]\.$"):
        _regressor().fit(Xd, yd, sensitive_features=twice)
