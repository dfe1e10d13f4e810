"""Column names with a ColumnTransformer prefix, for nodes whose own names
contain "__" (issue 17: the prefix rule was only tested on names without it)."""

import pytest

from skcausal_trust.fairness._base import _column_variables, _stripped


@pytest.mark.parametrize("column,expected", [
    ("scale__x__1", "x__1"),       # only the first "__" ends the prefix
    ("onehot__sex_Male", "sex_Male"),
    ("x", None),
    (3, None),
])
def test_stripped_removes_only_the_transformers_prefix(column, expected):
    assert _stripped(column) == expected


def test_a_prefixed_column_of_a_node_named_with_double_underscores_is_that_node():
    # "scale__x__1" is node "x__1" itself (not a level column of it), so two
    # columns named for it are refused as duplicates.
    assert _column_variables(["scale__x__1", "z"], ["x__1", "z"], set(), "g") == {
        "scale__x__1": "x__1", "z": "z"}
    with pytest.raises(ValueError, match=r"columns \['x__1', 'scale__x__1'\] of X are all "
                                         r"named 'x__1'"):
        _column_variables(["x__1", "scale__x__1"], ["x__1", "x__1"], set(), "g")
