"""Every bad input of CausalGraph and LinearSCM answered: a clear error that
names the argument (column, file and line), or a correct result."""

import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.exceptions import CyclicGraphError

# -- CausalGraph edges ---------------------------------------------------------


@pytest.mark.parametrize(
    "edges, match",
    [
        (["x1", "y1"],
         r"edges\[0\] = 'x1': an edge must be a \(cause, effect\) pair, not a string"),
        ([("a", "b"), "xy"], r"edges\[1\] = 'xy': .* not a string"),
        ([b"ab"], r"edges\[0\] = b'ab': .* not a string"),
        ("ab", r"edges must be an iterable of \(cause, .*the string 'ab'"),
        ([1], r"edges\[0\] = 1: an edge must be a \(cause, effect\) pair"),
        ([{"a", "b"}], r"edges\[0\] = .*ordered \(cause, effect\) pair"),
        ([(["a"], "b")], r"edges\[0\] = .*must be hashable"),
        (5, r"edges must be an iterable .* got int"),
        ({"y": 1}, r"edges\['y'\] must be an iterable of the parents of 'y'"),
    ],
    ids=["two-strings", "one-string", "bytes", "edges-string", "int", "set",
         "unhashable", "edges-int", "parents-int"],
)
def test_an_edge_that_is_not_a_pair_is_refused_and_named(edges, match):
    with pytest.raises(ValueError, match=match):
        CausalGraph(edges)


def test_a_two_character_string_is_never_unpacked_into_an_edge():
    with pytest.raises(ValueError, match="not a string"):
        CausalGraph.from_edges(["x1", "y1"])
    with pytest.raises(ValueError, match=r"^graph: edges\[0\] = 'x1'"):
        LinearSCM(["x1", "y1"]).fit(pd.DataFrame({"x": [0.0, 1.0], "1": [1.0, 2.0]}))
    # Pairs in any sequence type, and integer positions, still work.
    graph = CausalGraph([("a", "b"), ["b", "c"], np.array(["a", "c"])])
    assert graph.edges == [("a", "b"), ("a", "c"), ("b", "c")]
    assert CausalGraph([(0, 1)]).edges == [(0, 1)]


# -- CausalGraph.from_csv ------------------------------------------------------


def test_from_csv_drops_a_utf8_byte_order_mark(tmp_path):
    path = tmp_path / "graph.csv"
    path.write_text("cause,effect\na,b\n", encoding="utf-8-sig")
    graph = CausalGraph.from_csv(path)
    assert graph.edges == [("a", "b")]
    assert graph.nodes == ["a", "b"]


@pytest.mark.parametrize(
    "content",
    [
        "cause,effect\nsex,education\neducation,income\nsex,income\nage\n",
        "sex,education\neducation,income\nsex,income\nage\n",
        "sex -> education\neducation -> income\nsex->income\nage\n",
        ("cause -> effect\nsex -> education\n  education ->  income \n"
         "sex -> income\nage\n"),
        "sex\teducation\neducation\tincome\nsex\tincome\nage\n",
        ("CAUSE\tEFFECT\r\nsex\teducation\r\neducation\tincome\r\n"
         "sex\tincome\r\nage\r\n"),
        ("# mixed forms\n\nsex -> education\neducation\tincome\n\"sex\",income\n"
         "age\n"),
    ],
    ids=["csv-header", "csv", "arrow", "arrow-header-spaces", "tab", "tab-crlf",
         "mixed"],
)
def test_from_csv_reads_comma_arrow_and_tab_lines(tmp_path, content):
    path = tmp_path / "graph.txt"
    path.write_bytes(content.encode("utf-8"))
    expected = CausalGraph.from_parents(
        {"education": ["sex"], "income": ["education", "sex"], "age": []}
    )
    graph = CausalGraph.from_csv(path)
    assert graph == expected
    assert graph.parents("income") == ["sex", "education"]


@pytest.mark.parametrize(
    "content, match",
    [
        ("a,b\nx,y,z\n", r"line 2: expected one edge .* 3 fields separated by commas"),
        ("a,b\na -> b -> c\n", r"line 2: .* got 3 fields separated by '->'"),
        ("a\tb\tc\n", r"line 1: .* got 3 fields separated by tabs"),
        ("a,b\n,c\n", r"line 2: a node name is empty in ',c'"),
        ("a,b\n\na,\n", r"line 3: a node name is empty in 'a,'"),
        ("-> b\n", r"line 1: a node name is empty"),
        ("a\t\n", r"line 1: a node name is empty"),
        ('a,"b\n', r"line 1: not a CSV line"),
        (b"a,b\nc\xff,d\n", r"line 2: not UTF-8 text \(byte 0xff\)"),
        ("a,b".encode("utf-16"), r"is UTF-16 text; save it as UTF-8"),
        ("", r"holds no edge or node"),
        ("cause,effect\n# nothing else\n\n", r"holds no edge or node"),
    ],
    ids=["three-commas", "three-arrows", "three-tabs", "empty-cause", "empty-effect",
         "arrow-empty", "tab-empty", "open-quote", "not-utf8", "utf16", "empty",
         "header-only"],
)
def test_from_csv_names_the_file_and_line_of_a_bad_line(tmp_path, content, match):
    path = tmp_path / "graph.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    name = re.escape(str(path))
    with pytest.raises(ValueError, match=rf"^graph file '{name}'.*{match}"):
        CausalGraph.from_csv(path)


def test_from_csv_names_the_lines_of_a_cycle_or_a_self_loop(tmp_path):
    path = tmp_path / "graph.csv"
    name = re.escape(str(path))
    path.write_text("a,b\n# c\nb -> c\nc\ta\n")
    with pytest.raises(CyclicGraphError, match=rf"^graph file '{name}': the edges on "
                       r"lines 1, 3, 4 form the directed cycle 'a' -> 'b' -> 'c'"):
        CausalGraph.from_csv(path)
    path.write_text("a,b\nb -> b\n")
    with pytest.raises(CyclicGraphError, match=rf"^graph file '{name}' line 2: the "
                       r"edge 'b' -> 'b' links a node to itself"):
        CausalGraph.from_csv(path)


def test_from_csv_missing_file_or_directory_is_a_value_error_naming_it(tmp_path):
    missing = tmp_path / "nope.csv"
    name = re.escape(str(missing))
    with pytest.raises(ValueError, match=rf"^graph file '{name}' does not exist") as e:
        CausalGraph.from_csv(missing)
    assert isinstance(e.value, FileNotFoundError)  # as open() would say
    name = re.escape(str(tmp_path))
    with pytest.raises(ValueError, match=rf"^graph file '{name}' is a directory") as e:
        CausalGraph.from_csv(tmp_path)
    assert isinstance(e.value, IsADirectoryError)


# -- LinearSCM.fit: duplicated columns -----------------------------------------


def _chain(n=300, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    x = 0.5 + 2.0 * a + rng.normal(size=n)
    y = -1.0 + 0.7 * x - 1.5 * a + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"a": a, "x": x, "y": y})


GRAPH = [("a", "x"), ("x", "y"), ("a", "y")]


def test_fit_names_a_duplicated_node_column():
    data = _chain()
    twice = pd.concat([data, data[["x"]]], axis=1)
    with pytest.raises(ValueError, match=r"^data has duplicated column\(s\) 'x' "
                       r"\(2 times\); each variable of the SCM needs exactly one"):
        LinearSCM(GRAPH).fit(twice)
    scm = LinearSCM(GRAPH).fit(data)
    with pytest.raises(ValueError, match=r"duplicated column\(s\) 'x'"):
        scm.counterfactual(twice, {"a": 0.0})
    with pytest.raises(ValueError, match=r"duplicated column\(s\) 'x'"):
        scm.encode(twice)
    # A duplicated column that is not a node is ignored, as other columns are.
    extra = pd.concat([data, pd.DataFrame({"z": 1.0, "z2": 2.0}, index=data.index)
                       .set_axis(["z", "z"], axis=1)], axis=1)
    refit = LinearSCM(GRAPH).fit(extra)
    assert_allclose(refit.equations_["y"]["coef"], scm.equations_["y"]["coef"])


# -- LinearSCM.fit: magnitudes -------------------------------------------------


def _assert_all_finite(scm):
    for eq in scm.equations_.values():
        for key in ("intercept", "coef", "noise_scale"):
            assert np.isfinite(eq[key]).all()
    for root in scm.roots_.values():
        assert all(np.isfinite(value).all() for value in root.values())


@pytest.mark.parametrize("factor", [1e300, 1e-9, 1e-300, 2.0**-1000])
@pytest.mark.parametrize("column", ["a", "x", "y"])
def test_fit_gives_the_same_equations_in_any_units(column, factor):
    data = _chain()
    reference = LinearSCM(GRAPH).fit(data)
    scaled = data.assign(**{column: data[column] * factor})
    scm = LinearSCM(GRAPH).fit(scaled)
    _assert_all_finite(scm)
    units = {v: factor if v == column else 1.0 for v in "axy"}
    for v in ("x", "y"):
        eq, ref = scm.equations_[v], reference.equations_[v]
        unit_ratio = np.array([[units[v] / units[p] for p in ref["parents"]]])
        assert_allclose(eq["coef"], ref["coef"] * unit_ratio, rtol=1e-10)
        assert_allclose(eq["intercept"], ref["intercept"] * units[v], rtol=1e-10)
        assert_allclose(eq["noise_scale"], ref["noise_scale"] * units[v], rtol=1e-10)
    assert_allclose(scm.roots_["a"]["mean"],
                    reference.roots_["a"]["mean"] * units["a"], rtol=1e-10)
    assert_allclose(scm.roots_["a"]["scale"],
                    reference.roots_["a"]["scale"] * units["a"], rtol=1e-10)
    assert np.isfinite(scm.sample(50, random_state=0).to_numpy(dtype=float)).all()
    twins = scm.counterfactual(scaled, {"a": scaled["a"] + units["a"]})
    expected = reference.counterfactual(data, {"a": data["a"] + 1.0})
    for v in "axy":
        assert_allclose(twins[v] / units[v], expected[v], rtol=1e-8, atol=1e-9)


def test_fit_of_values_near_1e300_has_no_nan():
    data = _chain()
    huge = data.assign(x=data["x"] * 1e300)
    scm = LinearSCM([("a", "x")]).fit(huge)
    eq = scm.equations_["x"]
    assert not np.isnan(eq["noise_scale"]).any()
    assert_allclose(eq["noise_scale"] / 1e300,
                    LinearSCM([("a", "x")]).fit(data).equations_["x"]["noise_scale"],
                    rtol=1e-10)
    assert not scm.sample(20, random_state=0).isna().any().any()


def test_fit_refuses_coefficients_beyond_the_float_range_and_keeps_its_state():
    data = _chain()
    scm = LinearSCM(GRAPH).fit(data)
    before = scm.equations_["y"]["coef"].copy()
    # x in 1e300 units caused by a in 1e-300 units: a coefficient of 1e600.
    bad = data.assign(a=data["a"] * 1e-300, x=data["x"] * 1e300)
    with pytest.raises(ValueError, match=r"^data: the structural equation of 'x' does "
                       r"not fit in floating point .*'x' up to [0-9.]+e\+300, "
                       r"'a' up to [0-9.]+e-300"):
        scm.fit(bad)
    assert_allclose(scm.equations_["y"]["coef"], before)
    fresh = LinearSCM(GRAPH)
    with pytest.raises(ValueError, match="does not fit in floating point"):
        fresh.fit(bad)
    assert not hasattr(fresh, "equations_")


def test_collinear_parents_keep_the_minimum_norm_solution():
    # x2 = 3 x1 and a full set of one-hot indicators: the equations of y are
    # not identified; the fit returns the minimum-norm least-squares solution
    # in the columns' own units, whatever their scaling inside the fit.
    rng = np.random.default_rng(1)
    n = 300
    x1 = 5.0 * rng.normal(size=n)
    onehot = np.eye(3)[rng.integers(0, 3, n)]
    y = 1.0 + 0.5 * x1 + onehot @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=n)
    parents = ["x1", "x2", "g0", "g1", "g2"]
    data = pd.DataFrame(np.column_stack([x1, 3.0 * x1, onehot, y]),
                        columns=parents + ["y"])
    scm = LinearSCM([(p, "y") for p in parents]).fit(data)
    design = np.column_stack([np.ones(n), data[parents].to_numpy()])
    expected = np.linalg.pinv(design) @ y
    eq = scm.equations_["y"]
    assert_allclose(np.r_[eq["intercept"], eq["coef"][0]], expected, rtol=1e-9)


def test_a_one_level_categorical_parent_stays_a_constant():
    data = _chain().assign(region="north")
    scm = LinearSCM(GRAPH + [("region", "y")]).fit(data)
    assert scm.design_columns_["region"] == []
    assert_allclose(scm.equations_["y"]["coef"],
                    LinearSCM(GRAPH).fit(data).equations_["y"]["coef"])
