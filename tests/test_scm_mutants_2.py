"""LinearSCM (``skcausal_trust/causal/_scm.py``), second round: behaviour the
first file (``test_scm_mutants.py``) left open, each checked against an
independent value (a closed form, the in-memory route against the dask route,
the scale invariance of weights, or the documented error message).

* the dask route of ``fit``: the refusal of negative, NaN and infinite
  weights, of one row and of weights summing to 0; weights summing to less
  than 1, or to more than the float range, give the unit-weight fit; levels
  of a categorical dtype keep its order and mixed-type levels of an object
  column sort as in memory; integer columns; the messages of its refusals
  (the overflow message names the same magnitudes as in memory);
* the in-memory ``fit``: weights summing to 0 or to less than 1 (the noise
  scale of a child whose parents are collinear is in
  ``test_scm_rank_deficient.py``); an intercept that leaves the
  float range is refused by name without a RuntimeWarning; the messages for
  an unfitted model and for missing values;
* ``from_coefficients``: the level keys of per-level coefficients and
  intercepts, named in the errors;
* ``noise_scale``, ``shift_effect``, ``path_effect`` and ``semi_latent``;
* ``sample``: a uniform draw above a cumulative sum rounded below 1;
* ``counterfactual``: the rounding warning's text, and that it points at the
  caller.

Two tests pin bugs of the dask route that they found (a partition with no
rows; weights whose total is subnormal), fixed with them.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import NotFittedError

from skcausal_trust.causal import LinearSCM
from skcausal_trust.exceptions import RoundedCounterfactualWarning

RTOL = 1e-10
GRAPH = [("a", "x"), ("x", "y"), ("a", "y")]


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.choice(["f", "m"], n)
    # x far from 0: its mid-range offset is not 0.
    x = 1e3 + 2.0 * (a == "m") + rng.normal(size=n)
    y = 0.5 * x - 1.5 * (a == "m") + rng.normal(size=n)
    return pd.DataFrame({"a": a, "x": x, "y": y})


def _dask(frame, npartitions=3):
    dd = pytest.importorskip("dask.dataframe")
    return dd.from_pandas(frame, npartitions=npartitions)


def _assert_same_scm(got, expected):
    assert {v: list(c) for v, c in got.categories_.items()} == {
        v: list(c) for v, c in expected.categories_.items()}
    assert set(got.equations_) == set(expected.equations_)
    for v, eq in expected.equations_.items():
        for key in ("intercept", "coef", "noise_scale"):
            assert_allclose(got.equations_[v][key], eq[key], rtol=RTOL, atol=1e-12)
    assert set(got.roots_) == set(expected.roots_)
    for v, root in expected.roots_.items():
        for key, value in root.items():
            assert_allclose(got.roots_[v][key], value, rtol=RTOL)


# -- dask route: weights ----------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.5, np.nan, np.inf])
def test_dask_fit_refuses_negative_nan_or_infinite_weights(dask_sync, bad):
    frame = _frame()
    weights = np.ones(len(frame))
    weights[45] = bad  # one value, in the last partition
    ddf = _dask(frame.assign(w=weights))
    with pytest.raises(ValueError, match=r"^sample_weight has negative, NaN or infinite "
                       r"values\.$"):
        LinearSCM(GRAPH).fit(ddf, sample_weight=ddf["w"])


def test_dask_fit_accepts_object_dtype_weights_as_in_memory(dask_sync):
    # Weights in an object column (numbers read as objects): the in-memory
    # route converts them to floats, and so must the partitions.
    frame = _frame()
    import dask

    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(frame))
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = _dask(frame.assign(w=pd.Series(weights, dtype=object)))
        assert ddf["w"].dtype == object
        got = LinearSCM(GRAPH).fit(ddf, sample_weight=ddf["w"])
    _assert_same_scm(got, LinearSCM(GRAPH).fit(frame, sample_weight=weights))


def test_dask_fit_refuses_weights_summing_to_zero(dask_sync):
    frame = _frame()
    ddf = _dask(frame.assign(w=0.0))
    with pytest.raises(ValueError, match=r"^sample_weight sums to 0; nothing to fit\.$"):
        LinearSCM(GRAPH).fit(ddf, sample_weight=ddf["w"])


# Neither route warns about a total it handles (an overflow, on the way).
@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("factor", [1e-3, 1e308])
def test_dask_fit_depends_on_the_ratios_of_the_weights_only(dask_sync, factor):
    # Weights summing to less than 1 (0.001 each), and weights whose total
    # overflows to inf (1e308 each, over three partitions: even the sum of the
    # partitions' largest weights overflows): the fit of the weights' ratios.
    frame = _frame()
    ratios = np.random.default_rng(2).uniform(0.5, 1.0, len(frame))
    weights = factor * ratios
    if factor > 1:
        with np.errstate(over="ignore"):
            assert np.isinf(weights.sum())
    else:
        assert weights.sum() < 1
    ddf = _dask(frame.assign(w=weights))
    expected = LinearSCM(GRAPH).fit(frame, sample_weight=ratios)
    _assert_same_scm(LinearSCM(GRAPH).fit(ddf, sample_weight=ddf["w"]), expected)
    _assert_same_scm(LinearSCM(GRAPH).fit(frame, sample_weight=weights), expected)
    # Uniform weights of either size: the unweighted fit.
    uniform = _dask(frame.assign(w=factor))
    _assert_same_scm(LinearSCM(GRAPH).fit(uniform, sample_weight=uniform["w"]),
                     LinearSCM(GRAPH).fit(frame))


def test_dask_fit_with_weights_whose_total_is_subnormal(dask_sync):
    # Fixed bug: 1 / total was inf below ~5.6e-309, and the fit failed (an
    # SVD that did not converge); the in-memory fit worked.
    frame = _frame()
    ddf = _dask(frame.assign(w=1e-320))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = LinearSCM(GRAPH).fit(ddf, sample_weight=ddf["w"])
    _assert_same_scm(got, LinearSCM(GRAPH).fit(frame))


# -- dask route: rows, levels, columns ----------------------------------------------


def test_dask_fit_needs_two_rows(dask_sync):
    # x -> y through (1, 2) and (3, 5): y = 0.5 + 1.5 x exactly; x has mean 2
    # and standard deviation 1.
    frame = pd.DataFrame({"x": [1.0, 3.0], "y": [2.0, 5.0]})
    with pytest.raises(ValueError, match=r"^data has 1 row\(s\); fitting an SCM needs "
                       r"at least 2\.$"):
        LinearSCM([("x", "y")]).fit(_dask(frame.iloc[:1], 1))
    scm = LinearSCM([("x", "y")]).fit(_dask(frame, 1))
    eq = scm.equations_["y"]
    assert_allclose(np.r_[eq["intercept"], eq["coef"][0]], [0.5, 1.5], rtol=1e-12)
    assert_allclose(eq["noise_scale"], [0.0], atol=1e-12)
    assert_allclose([scm.roots_["x"]["mean"], scm.roots_["x"]["scale"]], [2.0, 1.0],
                    rtol=1e-12)


def test_dask_fit_with_an_empty_partition_equals_the_in_memory_fit(dask_sync):
    # Fixed bug: the first pass reshaped an empty partition's values with
    # reshape(0, -1), which numpy refuses.
    frame = _frame().assign(keep=np.arange(60) >= 20)
    ddf = _dask(frame)
    kept = ddf[ddf["keep"]]
    assert kept.map_partitions(len).compute().tolist() == [0, 20, 20]
    _assert_same_scm(LinearSCM(GRAPH).fit(kept),
                     LinearSCM(GRAPH).fit(frame[frame["keep"]]))


def test_dask_fit_keeps_the_order_of_a_categorical_dtype(dask_sync):
    # Categories declared in a non-sorted order: the first declared (present)
    # level is the baseline, as in memory.
    frame = _frame()
    frame["a"] = pd.Categorical(frame["a"], categories=["unused", "m", "f"])
    scm = LinearSCM(GRAPH).fit(_dask(frame))
    assert list(scm.categories_["a"]) == ["m", "f"]
    _assert_same_scm(scm, LinearSCM(GRAPH).fit(frame))


def test_dask_fit_sorts_mixed_type_levels_as_in_memory(dask_sync):
    import dask

    rng = np.random.default_rng(3)
    frame = _frame()
    levels = np.array([10, "b", 2.5, "a"], dtype=object)
    frame["a"] = pd.Series(levels[rng.integers(0, 4, len(frame))], dtype=object)
    memory = LinearSCM(GRAPH).fit(frame)
    # Sorted by their text, and of their own types.
    assert list(memory.categories_["a"]) == [10, 2.5, "a", "b"]
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = _dask(frame)
        assert ddf["a"].dtype == object
        scm = LinearSCM(GRAPH).fit(ddf)
    assert [type(v) for v in scm.categories_["a"]] == [int, float, str, str]
    _assert_same_scm(scm, memory)


def test_dask_fit_of_integer_columns_equals_the_in_memory_fit(dask_sync):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 10, 50)
    frame = pd.DataFrame({"x": x, "y": 3 * x + rng.integers(-2, 3, 50)})
    assert (frame.dtypes == np.int64).all()
    _assert_same_scm(LinearSCM([("x", "y")]).fit(_dask(frame)),
                     LinearSCM([("x", "y")]).fit(frame))


def test_dask_overflow_error_names_the_magnitudes_as_in_memory(dask_sync):
    # x in 1e300 units caused by a in 1e-300 units: a coefficient near 1e600.
    rng = np.random.default_rng(5)
    a = rng.normal(size=40)
    bad = pd.DataFrame({"a": a * 1e-300, "x": (2.0 * a + rng.normal(size=40)) * 1e300})
    with pytest.raises(ValueError) as memory:
        LinearSCM([("a", "x")]).fit(bad)
    assert "'x' up to" in str(memory.value) and "'a' up to" in str(memory.value)
    with pytest.raises(ValueError, match="^" + re.escape(str(memory.value)) + "$"):
        LinearSCM([("a", "x")]).fit(_dask(bad))


def test_dask_fit_error_messages(dask_sync):
    frame = _frame()
    ddf = _dask(frame)
    with pytest.raises(ValueError, match=r"^data must be a pandas or dask DataFrame with a "
                       r"column per graph node; got Series\.$"):
        LinearSCM(GRAPH).fit(ddf["x"])
    twice = _dask(pd.concat([frame, frame[["x"]]], axis=1))
    with pytest.raises(ValueError, match=r"^data has duplicated column\(s\) 'x' \(2 times\); "
                       r"each variable of the SCM needs exactly one column\."):
        LinearSCM(GRAPH).fit(twice)
    unknown = _dask(frame.assign(a=pd.Categorical(frame["a"])))
    unknown["a"] = unknown["a"].cat.as_unknown()
    with pytest.raises(ValueError, match="^" + re.escape(
            "data['a'] is a categorical column of unknown categories; declare them "
            "(data = data.categorize(columns=['a']), or astype a pandas "
            "CategoricalDtype) before fitting.") + "$"):
        LinearSCM(GRAPH).fit(unknown)
    with pytest.raises(ValueError, match="^" + re.escape(
            "sample_weight must be a dask array or series aligned with data when "
            "data is a dask DataFrame.") + "$"):
        LinearSCM(GRAPH).fit(ddf, sample_weight=np.ones(len(frame)))


# -- in-memory fit ---------------------------------------------------------------------


def test_fit_refuses_weights_summing_to_zero_and_accepts_a_sum_below_one():
    frame = _frame()
    # (scikit-learn >= 1.7's _check_sample_weight refuses all-zero weights
    # first, in its own words.)
    with pytest.raises(ValueError, match=r"^(sample_weight sums to 0; nothing to fit\.|"
                       r"Sample weights must contain at least one non-zero number\.)$"):
        LinearSCM(GRAPH).fit(frame, sample_weight=np.zeros(len(frame)))
    half = np.full(len(frame), 0.5 / len(frame))
    _assert_same_scm(LinearSCM(GRAPH).fit(frame, sample_weight=half),
                     LinearSCM(GRAPH).fit(frame))


def _intercept_overflow():
    # A finite coefficient near 1e300 on a parent near 1e10: the intercept,
    # about -1e310, leaves the float range.
    rng = np.random.default_rng(7)
    u = rng.normal(size=40)
    return pd.DataFrame({"a": 1e10 + u, "x": 1e300 * (u + 0.1 * rng.normal(size=40))})


def _infinite_coefficient_on_a_centred_parent():
    # A coefficient near 1e600 (inf) on a parent whose mid-range is exactly 0:
    # 0 * inf in the intercept.
    rng = np.random.default_rng(5)
    a = rng.normal(size=40)
    a[0], a[1] = -np.abs(a).max(), np.abs(a).max()
    return pd.DataFrame({"a": a * 1e-300, "x": (2.0 * a + rng.normal(size=40)) * 1e300})


@pytest.mark.parametrize("make", [_intercept_overflow,
                                  _infinite_coefficient_on_a_centred_parent])
def test_fit_overflow_in_the_intercept_is_an_error_without_runtime_warnings(make):
    # Refused by name, without a RuntimeWarning on the way.
    bad = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"^data: the structural equation of 'x' does "
                           r"not fit in floating point"):
            LinearSCM([("a", "x")]).fit(bad)


def test_messages_of_an_unfitted_model_and_of_missing_values():
    with pytest.raises(NotFittedError, match="^" + re.escape(
            "This LinearSCM is not fitted yet; call fit(data) or build it with "
            "LinearSCM.from_coefficients.") + "$"):
        LinearSCM(GRAPH).noise_scale("x")
    frame = _frame()
    frame.loc[7, "x"] = np.nan
    with pytest.raises(ValueError, match=r"^data\['x'\] has 1 missing value\(s\); impute or "
                       r"drop them before fitting the SCM\.$"):
        LinearSCM(GRAPH).fit(frame)


# -- from_coefficients ---------------------------------------------------------------

CAT_EDGES = [("g", "c"), ("x", "c")]
CAT_LEVELS = {"g": ["g0", "g1"], "c": ["lo", "mid", "hi"]}


@pytest.mark.parametrize("coefficients, intercepts, message", [
    # A misspelt level of the parent g inside a per-child-level dict.
    ({"g": {"mid": {"g9": 0.2}}, "x": {"mid": 0.1}}, None,
     "coefficients['c']['g'][...] names ['g9'], which are not levels of 'g'; "
     "its levels are ['g0', 'g1']."),
    # A misspelt level of the child c.
    ({"g": {"mid": {"g1": 0.2}}, "x": {"mdi": 0.1}}, None,
     "coefficients['c']['x'] names ['mdi'], which are not levels of 'c'; "
     "its levels are ['lo', 'mid', 'hi']."),
    ({"g": {"mid": {"g1": 0.2}}, "x": {"mid": 0.1}}, {"c": {"mdi": 0.2}},
     "intercepts['c'] names ['mdi'], which are not levels of 'c'; "
     "its levels are ['lo', 'mid', 'hi']."),
    # The effect of a categorical parent on a level of the child is a dict.
    ({"g": {"mid": 0.3}, "x": {"mid": 0.1}}, None,
     "coefficients['c']['g'] must give a dict {level of 'g': effect} for the "
     "categorical parent 'g'; got 0.3."),
])
def test_from_coefficients_names_the_node_and_level_in_errors(coefficients, intercepts,
                                                              message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        LinearSCM.from_coefficients(CAT_EDGES, {"c": coefficients}, intercepts=intercepts,
                                    categories=CAT_LEVELS)


def test_from_coefficients_numeric_child_default_intercept_is_zero():
    scm = LinearSCM.from_coefficients(CAT_EDGES + [("x", "y")],
                                      {"c": {"g": {"mid": {"g1": 0.2}}, "x": {"mid": 0.1}},
                                       "y": {"x": 2.0}},
                                      categories=CAT_LEVELS)
    assert_allclose(scm.equations_["y"]["intercept"], [0.0])
    # The categorical child's default: the uniform probability 1/3.
    assert_allclose(scm.equations_["c"]["intercept"], [1 / 3, 1 / 3])


# -- noise_scale, shift_effect, path_effect -------------------------------------------


def _mixed_model():
    # r (numeric root), g (categorical root), x = 1 + 2 r + [g == g1] + U,
    # c categorical child of x.
    return LinearSCM.from_coefficients(
        [("r", "x"), ("g", "x"), ("x", "c")],
        {"x": {"r": 2.0, "g": {"g1": 1.0}}, "c": {"x": {"mid": 0.1}}},
        intercepts={"x": 1.0}, noise_scales={"x": 0.5},
        categories={"g": ["g0", "g1"], "c": ["lo", "mid"]},
        root_distributions={"r": {"mean": 2.0, "scale": 3.0}})


@pytest.mark.parametrize("node", ["zz", "g", "c"])
def test_noise_scale_and_shift_effect_refuse_non_numeric_nodes(node):
    scm = _mixed_model()
    message = "^" + re.escape(f"{node!r} is not a numeric variable of the SCM.") + "$"
    with pytest.raises(ValueError, match=message):
        scm.noise_scale(node)
    with pytest.raises(ValueError, match=message):
        scm.shift_effect(["x", node])
    assert scm.noise_scale("x") == 0.5 and scm.noise_scale("r") == 3.0


def test_path_effect_needs_two_nodes_and_names_the_value_argument():
    scm = _mixed_model()
    with pytest.raises(ValueError, match=r"^\['g'\] is not a directed path"):
        scm.path_effect(["g"], "g0", "g1")
    with pytest.raises(ValueError, match=r"^value_to\['g'\] has level\(s\) \['g7'\] unseen "
                       r"when the SCM was fitted; known levels: \['g0', 'g1'\]\.$"):
        scm.path_effect(["g", "x"], "g0", "g7")
    with pytest.raises(ValueError, match=r"^value_from\['g'\] has level\(s\) \['g8'\] "
                       r"unseen"):
        scm.path_effect(["g", "x"], "g8", "g1")


def test_path_effect_through_a_group_whose_first_member_is_a_root():
    # The step ["g", "x"] stands for one node; g is a root (no equation), x
    # carries r's effect: 2 per unit of r, from 0 to 3 is 6 on x, then 0.1 per
    # unit of x on c's indicator.
    scm = _mixed_model()
    idx = {v: scm.design_index([v]) for v in ("x", "c")}
    effect = scm.path_effect(["r", ["g", "x"]], 0.0, 3.0)
    assert_allclose(effect[idx["x"]], [6.0])
    assert_allclose(np.delete(effect, idx["x"]), 0.0)
    effect = scm.path_effect(["r", ["g", "x"], "c"], 0.0, 3.0)
    assert_allclose(effect[idx["c"]], [0.6])


# -- semi_latent -------------------------------------------------------------------


def test_semi_latent_standardises_roots_keeps_the_index_and_zero_scales():
    scm = LinearSCM.from_coefficients(
        [("sex", "x"), ("root", "x"), ("flat", "x")],
        {"x": {"sex": {"m": 1.0}, "root": 2.0, "flat": 0.5}},
        intercepts={"x": 1.0}, noise_scales={"x": 0.5},
        categories={"sex": ["f", "m"]},
        root_distributions={"root": {"mean": 2.0, "scale": 4.0},
                            "flat": {"mean": 3.0, "scale": 0.0}})
    data = pd.DataFrame({"sex": ["f", "m", "m"], "root": [2.0, 6.0, -2.0],
                         "flat": [3.0, 3.0, 3.0], "x": [7.5, 14.0, 0.0]},
                        index=[10, 20, 30])
    latent = scm.semi_latent(data, "sex")
    assert list(latent.index) == [10, 20, 30]
    assert list(latent["sex"]) == ["f", "m", "m"]
    assert_allclose(latent["root"], [0.0, 1.0, -1.0])  # (root - 2) / 4
    assert_allclose(latent["flat"], [0.0, 0.0, 0.0])  # a zero scale: 0
    # x's noise: x - 1 - [m] - 2 root - 0.5 flat, over 0.5.
    noise = np.array([7.5 - 1 - 0 - 4 - 1.5, 14.0 - 1 - 1 - 12 - 1.5, 0.0 - 1 - 1 + 4 - 1.5])
    assert_allclose(latent["x"], noise / 0.5)
    with pytest.raises(ValueError, match=r"^sensitive names \['gender'\], which are not "
                       r"variables of the SCM\.$"):
        scm.semi_latent(data, "gender")


# -- sample ---------------------------------------------------------------------------


class _TopUniform(np.random.RandomState):
    """A RandomState whose uniform draws are all the largest float below 1."""

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.full(size, np.nextafter(1.0, 0.0))


def test_sample_draws_the_last_level_above_a_cumulative_sum_rounded_below_one():
    # A categorical child with probabilities (0.667, 0.308, 0.025): their
    # normalised cumulative sum ends just below 1 in floating point, and a
    # uniform draw in [0, 1) can exceed it; the draw is then the last level.
    intercepts = {"mid": 0.308, "hi": 0.025}
    mean = np.array([0.308, 0.025])
    probs = np.r_[1 - mean.sum(), mean] + 1e-12
    assert (probs / probs.sum()).cumsum()[-1] < np.nextafter(1.0, 0.0)
    scm = LinearSCM.from_coefficients(
        [("x", "c")], {"c": {"x": {"mid": 0.0, "hi": 0.0}}}, intercepts={"c": intercepts},
        categories={"c": ["lo", "mid", "hi"]})
    drawn = scm.sample(5, random_state=_TopUniform(0))
    assert list(drawn["c"]) == ["hi"] * 5


# -- counterfactual ----------------------------------------------------------------


def test_rounding_warning_text_and_the_caller_it_points_at():
    scm = _mixed_model()
    data = pd.DataFrame({"r": [0.0, 1.0], "g": ["g0", "g1"], "x": [1.0, 4.0],
                         "c": ["lo", "mid"]})
    with pytest.warns(RoundedCounterfactualWarning, match=re.escape(
            "categorical descendants ['c'] have soft counterfactuals under the linear "
            "probability model; rounded to their most likely level. One-hot encode "
            "them before fitting to keep twins exact.")) as record:
        scm.counterfactual(data, {"x": 20.0})
    (caught,) = record
    import skcausal_trust

    package = skcausal_trust.__file__.rsplit("/", 1)[0]
    assert not caught.filename.startswith(package)
    if not hasattr(LinearSCM.counterfactual, "__wrapped__"):
        # (mutmut's trampoline adds frames between the caller and the method.)
        assert caught.filename == __file__
