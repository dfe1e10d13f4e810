"""The audit as sections: the Python entry point, validation before any fit,
atomic outputs, and the registry."""

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.cli import main
from skcausal_trust.datasets import make_counterfactual_classification
from skcausal_trust.tradeoffs import (
    SECTIONS,
    AuditError,
    AuditSection,
    AuditTask,
    FairnessGridSection,
    SectionResult,
    audit,
    register_section,
)


@pytest.fixture(scope="module")
def task_data():
    X, y, a, scm = make_counterfactual_classification(600, random_state=0)
    data = X.assign(group=a.map({0: "g0", 1: "g1"}).astype(str), label=y,
                    note="unused")
    graph = scm.graph_.expand({"A": ["group"]})
    return data, graph


@pytest.fixture
def no_fitting(monkeypatch):
    """Fail the test if any section starts fitting."""
    def refuse(self, task, context):
        raise AssertionError("a section ran although the input was bad")

    for cls in SECTIONS.values():
        monkeypatch.setattr(cls, "run", refuse)


def _small(data, graph, **options):
    options = {"epsilons": [0.0], "cv": 2, "decomposition": False, **options}
    return AuditTask(data=data, target="label", sensitive="group", graph=graph, **options)


@pytest.fixture(scope="module")
def decomposed(task_data):
    """One audit with the decomposition (its gradient boosting nuisances are
    most of an audit's cost), shared by the tests that read or write it."""
    data, graph = task_data
    return audit(_small(data, graph, epsilons=[0.0, 1.0], decomposition=True))


def test_audit_from_python_returns_table_json_figures_and_report(decomposed):
    result = decomposed
    frame = result.to_frame()
    assert list(frame["model"]) == ["LogisticRegression (baseline)",
                                    "CounterfactuallyFair(eps=0)",
                                    "CounterfactuallyFair(eps=1)"]
    assert frame.loc[1, "cf_unfairness"] < frame.loc[0, "cf_unfairness"]
    payload = json.loads(result.to_json())
    assert payload["columns_dropped"] == ["note"]
    assert payload["sensitive"] == "group" and payload["n_rows"] == 600
    # Every row is decomposed, each model's prediction out of fold.
    assert payload["decomposition"]["rows_used"] == 600
    assert payload["decomposition"]["predictions"] == "out-of-fold"
    assert payload["invariance"] == {"skipped": "no environment column"}
    assert set(result.figures) == {"tradeoff.png", "pareto.png", "decomposition.png"}
    # The Pareto section: the candidates no other beats on both objectives.
    front = payload["pareto"]["front"]
    table = frame.set_index("model")
    for row in front:
        others = table.drop(index=row["model"])
        assert not ((others["accuracy"] >= row["accuracy"])
                    & (others["cf_unfairness"] <= row["cf_unfairness"])
                    & ((others["accuracy"] > row["accuracy"])
                       | (others["cf_unfairness"] < row["cf_unfairness"]))).any()
    assert "Causal fairness decomposition (g0 -> g1" in result.report()
    # The unfair area of every candidate: its ball holds the twins and the
    # row's own ball, so it is at least the flip rate and the non-robust area.
    area = pd.DataFrame(payload["unfair_area"]["results"]).set_index("model")
    assert list(area.index) == list(frame["model"])
    assert np.allclose(area["flip_rate"], frame["cf_flip_rate"])
    assert (area["unfair_area"] >= area["flip_rate"] - 1e-12).all()
    assert (area["unfair_area"] >= area["nonrobust_area"] - 1e-12).all()
    # (The fair model's twins come from its own fold's SCM, the auditor's
    # from all rows: a few flips remain.)
    assert (area.loc["CounterfactuallyFair(eps=0)", "flip_rate"]
            < area.loc["LogisticRegression (baseline)", "flip_rate"])
    assert area.loc["LogisticRegression (baseline)", "unfair_area"] > 0.0
    assert "causal ball of radius 0.05" in result.report()


@pytest.mark.parametrize("option, value, message", [
    ("epsilons", [0.0, float("nan")], "epsilons='0,nan': give one or more finite"),
    ("epsilons", [float("inf")], "epsilons='inf'"),
    ("epsilons", [-1.0], "epsilons='-1'"),
    ("epsilons", [], "epsilons=''"),
    ("cv", 1, "cv=1: give an integer >= 2"),
    ("cv", 2.5, "cv=2.5"),
    ("audit_runs", -5, "audit_runs=-5"),
    ("max_rows", 0, "max_rows=0"),
    ("n_jobs", 0, "n_jobs=0"),
    ("privacy_epsilon", float("nan"), "privacy_epsilon=nan: must be finite"),
    ("privacy_epsilon", 0.0, "privacy_epsilon=0.0"),
    ("x0", "g9", "x0='g9' is not a level of 'group'"),
    ("x0", "g0", "give both x0 and x1"),
    ("confounders", ["shoe-size"], r"name \['shoe-size'\], which are not features"),
    ("environment", "planet", "environment='planet' is not a column"),
    ("positive", 7, "positive=7 is not a class"),
])
def test_bad_options_fail_before_anything_is_fitted(task_data, no_fitting, option, value,
                                                    message):
    data, graph = task_data
    options = {option: value}
    if option in ("x0", "confounders"):
        options["decomposition"] = True
    with pytest.raises(AuditError, match=message):
        audit(_small(data, graph, **options))


@pytest.mark.parametrize("value, message", [
    (np.inf, "column 'x1' has infinite values"),
    (1e200, r"column 'x1' has values of magnitude 1e\+200; the audit standardises"),
    (1e-200, r"column 'x1' has values of magnitude 1e-200"),
])
def test_unusable_numeric_values_fail_before_anything_is_fitted(task_data, no_fitting,
                                                                value, message):
    """Before: the standardised column overflowed to NaN and the baseline said
    "Input X contains NaN" of a file without missing values."""
    data, graph = task_data
    column = data["x1"].to_numpy(dtype=float).copy()
    if np.isinf(value):
        column[3] = value
    else:
        column = np.sign(column) * value
    with pytest.raises(AuditError, match=message):
        audit(_small(data.assign(x1=column), graph))


def test_a_three_level_attribute_is_checked_before_fitting(task_data, no_fitting):
    data, graph = task_data
    three = data.assign(group=np.arange(len(data)) % 3)
    task = _small(three, graph, decomposition=True).validate()
    assert "has 3 levels: choose them with x0 and x1" in task.decomposition_skipped
    task = _small(three, graph, decomposition=True, x0=0, x1=2).validate()
    assert task.decomposition_skipped is None


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "is empty"),
    ("a,b\n", "has a header but no rows"),
    (b"\xff\xfe\x00b\xe9", "is not UTF-8 text"),
])
def test_data_files_are_checked_with_their_name(tmp_path, content, message):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(AuditError, match=rf"data: .*{message}"):
        AuditTask.from_csv(path, target="y", sensitive="s")
    with pytest.raises(AuditError, match="is a directory"):
        AuditTask.from_csv(tmp_path, target="y", sensitive="s")


def test_a_csv_with_a_byte_order_mark_reads_its_first_column(tmp_path, task_data):
    data, graph = task_data
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + data.to_csv(index=False).encode())
    task = AuditTask.from_csv(path, target="label", sensitive="group")
    assert list(task.data.columns)[0] == "x0"


@pytest.mark.parametrize("case", ["a file", "a foreign folder", "no parent"])
def test_output_is_checked_before_fitting(tmp_path, task_data, no_fitting, case):
    data, graph = task_data
    if case == "a file":
        out = tmp_path / "out"
        out.write_text("x")
        message = "is a file, not a folder"
    elif case == "a foreign folder":
        out = tmp_path / "mine"
        out.mkdir()
        (out / "thesis.tex").write_text("x")
        message = "holds files the audit did not write"
    else:
        out = tmp_path / "missing" / "out"
        message = "does not exist"
    with pytest.raises(AuditError, match=message):
        audit(_small(data, graph), output=out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_output_parent_is_refused(tmp_path, task_data, no_fitting):
    data, graph = task_data
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(AuditError, match="permission denied"):
        audit(_small(data, graph), output=locked / "out")


def test_outputs_are_replaced_as_a_whole_with_a_manifest(tmp_path, task_data, decomposed):
    data, graph = task_data
    out = tmp_path / "out"
    # The shared audit with the decomposition writes first (what
    # audit(..., output=out) does after fitting); the audit below, without
    # it, replaces that output through audit(..., output=out).
    decomposed.write(out)
    assert (out / "decomposition.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"audit.csv", "audit.json", "tradeoff.png",
                                      "pareto.png", "decomposition.png"}
    # A second run without the decomposition leaves no stale figure behind.
    audit(_small(data, graph), output=out)
    assert not (out / "decomposition.png").exists()
    assert json.loads((out / "audit.json").read_text())["decomposition"] == {
        "skipped": "not requested"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".audit-")]


def test_a_failed_write_leaves_the_earlier_output(tmp_path, task_data, monkeypatch):
    data, graph = task_data
    out = tmp_path / "out"
    result = audit(_small(data, graph))
    result.write(out)
    before = (out / "audit.json").read_text()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        result.write(out)
    assert (out / "audit.json").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".audit-")]


def test_a_registered_section_runs_in_order_and_reports(task_data):
    data, graph = task_data

    @register_section
    class CountSection(AuditSection):
        name = "count"
        title = "Rows"

        def run(self, task, context):
            n = len(context.prepared.raw)
            return SectionResult(self.name, {"rows": n}, None, {}, f"Rows: {n}")

    try:
        result = audit(_small(data, graph))
        assert list(result.sections) == ["fairness", "pareto", "unfair_area", "count"]
        assert result.to_dict()["count"] == {"rows": 600}
        assert result.report().endswith("Rows: 600")
    finally:
        del SECTIONS["count"]
    assert isinstance(SECTIONS["fairness"](), FairnessGridSection)


def test_progress_goes_to_stderr_and_results_to_stdout(tmp_path, task_data, capsys):
    data, graph = task_data
    path, graph_file = tmp_path / "task.csv", tmp_path / "graph.txt"
    data.to_csv(path, index=False)
    graph_file.write_text("\n".join(f"{u},{v}" for u, v in graph.edges) + "\n"
                          + "\n".join(n for n in graph.nodes if not graph.parents(n)
                                       and not graph.children(n)) + "\n")
    assert main(["audit", "--data", str(path), "--target", "label", "--sensitive",
                 "group", "--graph", str(graph_file), "--epsilons", "0", "--cv", "2",
                 "--no-decomposition"]) == 0
    captured = capsys.readouterr()
    assert "[CV]" in captured.err and "[audit" in captured.err
    assert "[CV]" not in captured.out and "[audit" not in captured.out
    assert "CounterfactuallyFair(eps=0)" in captured.out
    assert "columns not in the graph, not used: ['note']" in captured.err


def test_a_graph_with_the_target_gets_the_conflicts_section(task_data):
    from skcausal_trust.causal import CausalGraph
    from skcausal_trust.tradeoffs import invariance_conflicts

    data, graph = task_data
    parents = ["x0", "x3", "x5"]
    with_target = CausalGraph(list(graph.edges) + [(p, "label") for p in parents],
                              nodes=list(graph.nodes) + ["label"])
    result = audit(_small(data, with_target))
    section = result.to_dict()["conflicts"]
    expected = invariance_conflicts(with_target, "label", "group")
    rows = {r["feature"]: r for r in section["features"]}
    assert set(rows) == set(expected.index)
    for feature, row in rows.items():
        assert row["parent_of_target"] == bool(expected.loc[feature, "parent_of_target"])
        assert row["counterfactually_fair"] == bool(
            expected.loc[feature, "counterfactually_fair"])
    assert {f for f, r in rows.items() if r["parent_of_target"]} == set(parents)
    # The classifiers' model is the graph without the target: the same grid
    # as without it.
    plain = audit(_small(data, graph))
    assert np.allclose(result.to_frame()["cf_unfairness"], plain.to_frame()["cf_unfairness"])
    assert plain.to_dict()["conflicts"] == {"skipped": (
        "the graph has no node for the target: add it with its causes to see which "
        "invariances each feature keeps")}


def test_a_target_with_children_is_refused(task_data, no_fitting):
    from skcausal_trust.causal import CausalGraph

    data, graph = task_data
    bad = CausalGraph(list(graph.edges) + [("x0", "label"), ("label", "x5")],
                      nodes=list(graph.nodes) + ["label"])
    with pytest.raises(AuditError, match="causes"):
        audit(_small(data, bad))


def test_the_recourse_section_reports_cost_by_group(task_data):
    data, graph = task_data
    result = audit(_small(data, graph, actionable=["x3", "x4"], increase_only=["x3"]))
    section = result.to_dict()["recourse"]
    groups = pd.DataFrame(section["groups"])
    assert list(groups["group"]) == ["g0", "g1"]
    assert groups["n_denied"].sum() == section["n_denied"] > 0
    assert ((groups["share_with_recourse"] >= 0) & (groups["share_with_recourse"] <= 1)).all()
    assert section["gap"] == pytest.approx(groups["mean_cost"].max()
                                           - groups["mean_cost"].min())
    assert "recourse.png" in result.figures
    assert "increase only" in result.report()


@pytest.mark.parametrize("options, message", [
    ({"actionable": ["group"]}, "not numeric feature columns"),
    ({"actionable": ["nope"]}, "not numeric feature columns"),
    ({"actionable": ["x3"], "increase_only": ["x4"]}, "not actionable"),
    ({"increase_only": ["x3"]}, "needs actionable"),
])
def test_bad_recourse_options_are_refused_before_fitting(task_data, no_fitting, options,
                                                         message):
    data, graph = task_data
    with pytest.raises(AuditError, match=message):
        audit(_small(data, graph, **options))
