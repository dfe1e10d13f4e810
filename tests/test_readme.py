"""The README's tour runs as written."""

import re
from pathlib import Path

import sklearn

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 3, "the README's tour has three python blocks"
    return blocks


def _run(block):
    namespace = {}
    try:
        exec(compile(block, "README.md", "exec"), namespace)
    finally:
        sklearn.set_config(enable_metadata_routing=False)
    return namespace


def test_readme_tour_runs_and_is_fair():
    namespace = _run(_blocks()[0])
    assert namespace["clf"].solver_path_ == "fast"
    cf = namespace["search"].cv_results_["mean_test_cf"]
    # Minus the unfairness: epsilon=0 is the fairest candidate.
    assert cf[0] == max(cf)


def test_readme_invariance_and_privacy_comments_are_true():
    namespace = _run(_blocks()[1])
    assert list(namespace["icp"].get_feature_names_out()) == ["x2", "x3"]
    assert namespace["parents"] == ["x2", "x3"]
    assert namespace["dp"].selected_features_ == ["x2", "x3"]
    assert namespace["dp"].epsilon_ == 1.0


def test_readme_decomposition_comment_is_true():
    e = _run(_blocks()[2])["result"].estimates
    assert abs(e["DE"] - 1) < 0.2 and abs(e["IE"] + 2) < 0.2
    assert abs(e["TV"] - (e["DE"] - e["IE"] - e["SE"])) < 1e-12
