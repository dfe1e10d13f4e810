"""RawColumnEncoder's checks on the rows it encodes, each against the value it
must name: tests written for mutants of ``causal/_columns.py`` that every
route through an estimator let survive (the estimators check most of these
inputs themselves first, so only a direct call reaches the encoder's own
check)."""

import re

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.causal._columns import (
    RawColumnEncoder,
    design_to_columns,
    is_categorical_column,
    node_owners,
)
from skcausal_trust.exceptions import UnknownCategoryWarning
from skcausal_trust.fairness import CounterfactuallyFairClassifier


def _frame():
    return pd.DataFrame({
        "a": ["u", "v", "u", "w", "v", "u"],
        "x": [0.5, 1.0, -2.0, 3.0, 0.0, 1.5],
        "b": pd.Categorical(["p", "q", "q", "p", "q", "p"]),
    })


def test_transform_names_the_first_categorical_column_with_missing_values_and_its_count():
    encoder = RawColumnEncoder().fit(_frame())
    rows = _frame()
    # Column "b" (the second categorical one) misses two values, "a" none:
    # the message names "b" and counts its own missing values.
    rows["b"] = pd.Categorical(["p", "q", None, "q", None, "p"])
    with pytest.raises(ValueError, match=re.escape("Z['b'] has 2 missing value(s).")):
        encoder.transform(rows, argument="Z")
    # Both columns miss values, "a" three: the first one in column order
    # (not the column at the position of the first row with a missing value).
    rows["a"] = ["u", None, "u", None, "v", None]
    with pytest.raises(ValueError, match=re.escape("Z['a'] has 3 missing value(s).")):
        encoder.transform(rows, argument="Z")


def test_transform_refuses_nan_and_inf_in_numeric_columns_by_name():
    encoder = RawColumnEncoder().fit(_frame())
    rows = _frame()
    rows.loc[2, "x"] = np.inf
    with pytest.raises(ValueError, match=re.escape("Z has NaN or infinite values in "
                                                   "columns ['x']")):
        encoder.transform(rows, argument="Z")
    rows.loc[2, "x"] = np.nan
    with pytest.raises(ValueError, match=re.escape("columns ['x']")):
        encoder.transform(rows, argument="Z")


def test_transform_refuses_text_in_a_column_that_was_numeric_in_fit():
    encoder = RawColumnEncoder().fit(_frame())
    rows = _frame().astype({"x": object})
    rows.loc[1, "x"] = "ten"
    with pytest.raises(ValueError, match=re.escape("Z['x'] was numeric in fit but holds "
                                                   "values that are not numbers now")):
        encoder.transform(rows, argument="Z")


def test_unseen_levels_warning_lists_at_most_five_per_column_and_encodes_zeros():
    frame = _frame()
    encoder = RawColumnEncoder().fit(frame)
    rows = pd.concat([frame] * 2, ignore_index=True)
    rows["a"] = ["u", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "u", "v", "w", "u"]
    with pytest.warns(UnknownCategoryWarning) as record:
        out = encoder.transform(rows, argument="Z")
    message = str(record[0].message)
    listed = re.findall(r"'n\d'", message)
    # Sorted reprs, the first five: n1..n5.
    assert listed == ["'n1'", "'n2'", "'n3'", "'n4'", "'n5'"]
    assert message.startswith("Z has levels unseen in fit: 'a': 'n1', 'n2'")
    a_columns = [j for j, o in enumerate(encoder.owners_) if o == "a"]
    np.testing.assert_array_equal(out[1:8][:, a_columns], 0.0)


def test_fit_names_the_argument_of_a_date_column():
    frame = _frame()
    frame["when"] = pd.to_datetime(["2020-01-01"] * 6)
    with pytest.raises(ValueError, match=re.escape("Z has date or duration columns "
                                                   "['when']")):
        RawColumnEncoder().fit(frame, argument="Z")


@pytest.mark.parametrize("dtype", ["bool", "boolean"])
def test_boolean_columns_are_numeric_not_categorical(dtype):
    column = pd.Series([True, False, True], dtype=dtype)
    assert not is_categorical_column(column)
    encoder = RawColumnEncoder().fit(pd.DataFrame({"a": ["u", "v", "u"], "f": column}))
    assert encoder.names_out_ == ["a_u", "a_v", "f"]


def test_node_owners_names_the_argument_of_a_column_mapping_to_two_nodes():
    graph = CausalGraph([("a", "y"), ("a_b", "y")])
    with pytest.raises(ValueError, match="columns of X map to two nodes of Z each: "
                                         r"\{'a_b_x': \['a', 'a_b'\]\}"):
        node_owners(["a_b_x", "y"], graph, [], argument="Z")


def _fitted_scm():
    frame = pd.DataFrame({"a": ["u", "v", "w", "u", "v", "w", "u", "v"],
                          "x": [0.1, 1.2, 2.0, 0.3, 1.1, 2.4, -0.2, 0.9]})
    return LinearSCM([("a", "x")]).fit(frame), frame


def test_design_to_columns_refuses_a_categorical_node_read_as_one_numeric_column():
    scm, _ = _fitted_scm()
    with pytest.raises(ValueError, match=re.escape("'a' is categorical in the causal "
                                                   "model but a numeric column of X")):
        design_to_columns(scm, columns=["a", "x"])


def test_design_to_columns_refuses_a_numeric_node_encoded_as_levels():
    scm, frame = _fitted_scm()
    encoder = RawColumnEncoder().fit(frame.astype({"x": str}))
    with pytest.raises(ValueError, match=re.escape("'x' is numeric in the causal model "
                                                   "but categorical in X.")):
        design_to_columns(scm, encoder=encoder)


def test_design_to_columns_refuses_a_column_of_no_variable_by_name():
    scm, _ = _fitted_scm()
    with pytest.raises(ValueError, match=re.escape("input column 'z' encodes 'z', which "
                                                   "is not a variable of the causal model")):
        design_to_columns(scm, columns=["x", "z"])
    # Through an owner map (a ColumnTransformer's prefix), the message names
    # the encoded column and the node it was mapped to.
    encoder = RawColumnEncoder().fit(pd.DataFrame({"cat__a": ["u", "v"], "x": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=re.escape("input column 'cat__a_u' encodes "
                                                   "'b', which")):
        design_to_columns(scm, encoder=encoder, owner_map={"cat__a": "b"})


def test_design_to_columns_maps_columns_missing_from_the_owner_map_to_themselves():
    scm, _ = _fitted_scm()
    encoder = RawColumnEncoder().fit(pd.DataFrame({"cat__a": ["u", "v", "w"],
                                                   "x": [1.0, 2.0, 3.0]}))
    M = design_to_columns(scm, encoder=encoder, owner_map={"cat__a": "a"})
    design = list(scm.get_design_columns())
    # Baseline level "u" gets minus the others' changes; "x" is its own node.
    expected = np.zeros((len(design), 4))
    a_v, a_w = scm.design_index(["a"])
    expected[a_v, 0] = expected[a_w, 0] = -1.0
    expected[a_v, 1] = expected[a_w, 2] = 1.0
    expected[design.index("x"), 3] = 1.0
    np.testing.assert_array_equal(M, expected)


def test_node_owners_refuses_columns_that_encode_a_sensitive_attribute():
    graph = CausalGraph([("a", "x"), ("x", "y")])
    with pytest.raises(ValueError, match=re.escape("columns ['a_u', 'a_v'] of X encode the "
                                                   "sensitive attribute 'a'")):
        node_owners(["a_u", "a_v", "x", "y"], graph, ["a"])
    assert node_owners(["x", "y"], graph, ["a"]) == ["x", "y"]


def test_a_fair_classifier_refuses_one_hot_columns_of_the_sensitive_attribute():
    """The attribute's one-hot columns left in X (the attribute given apart in
    ``sensitive_features``): the model would read what it must be fair to."""
    rng = np.random.default_rng(0)
    a = rng.choice(["u", "v"], 200)
    x = (a == "v") + rng.normal(size=200)
    y = (x + rng.normal(size=200) > 0.5).astype(int)
    X = pd.DataFrame({"a_u": (a == "u") * 1.0, "a_v": (a == "v") * 1.0, "x": x})
    model = CounterfactuallyFairClassifier(CausalGraph([("a", "x")]))
    with pytest.raises(ValueError, match=re.escape("columns ['a_u', 'a_v'] of X encode "
                                                   "the sensitive attribute 'a'")):
        model.fit(X, y, sensitive_features=pd.Series(a, name="a"))
    assert not hasattr(model, "coef_")
