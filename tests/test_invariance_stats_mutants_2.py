"""Tests that kill surviving mutants of the dask readers of
``invariance/_stats.py`` (issue 17, ``benchmarks/run_mutation.py --modules
invariance_stats --only "*x_read_floats__mutmut_*" ...``): ``dask_columns``,
``dask_width``, ``is_numeric_dtype``, ``read_floats``, ``read_labels`` and
``dask_environment``.

The estimators' dask tests read well-formed partitions; these call each
reader directly on the partitions and schemas that take its other branches
(a nullable column with a missing value, booleans, integers beside floats,
an (n, 1) target, a dask Series where a dataframe is expected) and check
what the in-memory route would give: float64 values, labels of the
column's own type, and refusals that name the argument and the shape.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LinearRegression

from skcausal_trust.invariance import _stats

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")


# --------------------------------------------------------------------------
# dask_columns, dask_width: the schema, without reading a row
# --------------------------------------------------------------------------
def test_dask_columns_refuses_arrays_that_are_not_tables():
    est = LinearRegression()
    with pytest.raises(ValueError, match=r"^X is a 3-D dask array; expected a 2-D one "
                                         r"\(n_samples, n_features\)\.$"):
        _stats.dask_columns(est, da.zeros((4, 2, 2), chunks=2), reset=True)
    ragged = da.zeros((4, 3), chunks=2).T[da.arange(3, chunks=3) > 0].T  # width unknown
    with pytest.raises(ValueError, match=r"^X is a dask array of unknown width; give it "
                                         r"known chunks \(X\.compute_chunk_sizes\(\)\)\.$"):
        _stats.dask_columns(est, ragged, reset=True)
    assert not hasattr(est, "n_features_in_")


def test_dask_columns_refuses_a_series_and_mixed_labels():
    est = LinearRegression()
    series = dd.from_pandas(pd.Series([1.0, 2.0, 3.0], name="x"), npartitions=1)
    with pytest.raises(TypeError, match=r"^X is a dask Series; pass a 2-D dask array or "
                                        r"a dask DataFrame\.$"):
        _stats.dask_columns(est, series, reset=True)
    mixed = dd.from_pandas(pd.DataFrame({0: [1.0, 2.0], "a": [3.0, 4.0]}), npartitions=1)
    with pytest.raises(ValueError, match=r"column labels \[0, 'a'\] are not all strings"):
        _stats.dask_columns(est, mixed, reset=True)
    assert not hasattr(est, "n_features_in_")


def test_dask_columns_reads_names_and_dtypes_from_the_schema():
    est = LinearRegression()
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "k": [1, 2]}), npartitions=1)
    names, dtypes = _stats.dask_columns(est, frame, reset=True)
    assert names == ["a", "k"] and dtypes == [np.dtype(float), np.dtype("int64")]
    assert est.n_features_in_ == 2
    names, dtypes = _stats.dask_columns(LinearRegression(), da.zeros((3, 2), dtype=np.int32,
                                                                     chunks=2), reset=True)
    assert names is None and dtypes == [np.dtype(np.int32)] * 2


def test_dask_width_of_every_kind_of_collection():
    frame = dd.from_pandas(pd.DataFrame({"e": [0, 1], "f": [0.5, 1.5]}), npartitions=1)
    assert _stats.dask_width(frame, "environments") == (
        2, [np.dtype("int64"), np.dtype(float)])
    assert _stats.dask_width(frame["e"], "environments") == (1, [np.dtype("int64")])
    assert _stats.dask_width(da.zeros(4, chunks=2), "environments") == (
        1, [np.dtype(float)])
    assert _stats.dask_width(da.zeros((4, 3), chunks=2), "environments") == (
        3, [np.dtype(float)] * 3)
    with pytest.raises(ValueError, match=r"^environments is a 3-D dask array; expected "
                                         r"1-D or 2-D\.$"):
        _stats.dask_width(da.zeros((4, 1, 1), chunks=2), "environments")
    with pytest.raises(TypeError, match=r"^environments is a ndarray, not a dask array, "
                                        r"series or dataframe\.$"):
        _stats.dask_width(np.zeros(4), "environments")


@pytest.mark.parametrize("dtype, numeric", [
    (np.dtype(float), True), (np.dtype("int8"), True), (np.dtype(bool), True),
    (pd.BooleanDtype(), True), (pd.Int64Dtype(), True),
    (pd.CategoricalDtype([1, 2]), False), (pd.CategoricalDtype(["a"]), False),
    (np.dtype(object), False), (pd.StringDtype(), False)])
def test_is_numeric_dtype(dtype, numeric):
    """Numbers and booleans read as float; categories (even of numbers) and
    text do not."""
    assert _stats.is_numeric_dtype(dtype) is numeric


# --------------------------------------------------------------------------
# read_floats, read_labels: one partition
# --------------------------------------------------------------------------
def test_read_floats_gives_float64_from_booleans_integers_and_nullable_columns():
    part = pd.DataFrame({"b": pd.array([True, False, True], dtype="boolean"),
                         "k": pd.array([1, 2, 3], dtype="Int64"),
                         "x": [0.5, 1.5, 2.5]})
    values = _stats.read_floats(part, "X")
    assert values.dtype == np.float64
    assert_array_equal(values, [[1, 1, 0.5], [0, 2, 1.5], [1, 3, 2.5]])
    # Chosen columns of a frame are read with their own dtypes.
    picked = _stats.read_floats(part, "X", columns=[0, 1])
    assert picked.dtype == np.float64
    assert_array_equal(picked, [[1, 1], [0, 2], [1, 3]])
    for array in (np.array([[1, 2], [3, 4]]), np.array([[True], [False]])):
        read = _stats.read_floats(array, "X")
        assert read.dtype == np.float64
        assert_array_equal(read, array.astype(float))


def test_read_floats_names_a_missing_value_of_a_nullable_column():
    part = pd.DataFrame({"x": [0.5, 1.5, 2.5],
                         "k": pd.array([1, None, 3], dtype="Int64")})
    for columns in (None, [1]):
        with pytest.raises(ValueError, match=r"^X has NaN or infinite values \(in a "
                                             r"partition of 3 rows"):
            _stats.read_floats(part, "X", columns=columns)
    assert_array_equal(_stats.read_floats(part, "X", columns=[0]), [[0.5], [1.5], [2.5]])


def test_read_floats_as_a_vector():
    column = np.array([[1.0], [2.0], [3.0]])
    for part in (column, column[:, 0], pd.DataFrame(column), pd.Series(column[:, 0])):
        read = _stats.read_floats(part, "y", vector=True)
        assert read.shape == (3,)
        assert_array_equal(read, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"^y must be 1-dimensional; got partitions of "
                                         r"shape \(3, 2\)\.$"):
        _stats.read_floats(np.ones((3, 2)), "y", vector=True)
    # Without vector, one column stays a column.
    assert _stats.read_floats(column[:, 0], "y").shape == (3, 1)


def test_read_labels_keeps_the_type_of_the_chosen_column():
    """An integer column beside a float one keeps integer labels (numpy
    would read the whole frame as floats)."""
    part = pd.DataFrame({"x": [0.5, 1.5, 2.5], "e": [1, 2, 1]})
    labels = _stats.read_labels(part, "X['e']", column=1)
    assert labels.tolist() == [1, 2, 1]
    assert all(type(v) is int for v in labels)
    text = pd.DataFrame({"x": [0.5, 1.5], "e": ["s0", "s1"]})
    assert _stats.read_labels(text, "X['e']", column=1).tolist() == ["s0", "s1"]


# --------------------------------------------------------------------------
# dask_environment: where the labels come from
# --------------------------------------------------------------------------
def test_dask_environment_sources_and_refusals():
    names = ["a", "e", "b"]
    assert _stats.dask_environment("e", None, names, 3) == (
        1, "X['e'] (environment_column)")
    assert _stats.dask_environment(None, None, names, 3) == (None, None)
    routed = dd.from_pandas(pd.Series([0, 1, 0]), npartitions=1)
    assert _stats.dask_environment(None, routed, names, 3) == (None, "environments")
    with pytest.raises(ValueError, match="either as environments or through "
                                         "environment_column"):
        _stats.dask_environment("e", routed, names, 3)
    with pytest.raises(ValueError, match=r"^environments must hold one column; got 2 "
                                         r"columns\.$"):
        _stats.dask_environment(None, da.zeros((3, 2), chunks=3), names, 3)
    with pytest.raises(ValueError, match=r"^environments is a 3-D dask array"):
        _stats.dask_environment(None, da.zeros((3, 1, 1), chunks=3), names, 3)
