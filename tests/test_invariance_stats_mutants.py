"""Tests that kill the survivors of mutation testing of the partition-wise
statistics of the invariance estimators (issue 17,
``benchmarks/run_mutation.py --modules invariance_stats``).

Each summary that dask partitions add up (:class:`ColumnRanges`,
:class:`LabelTotals`) is checked after a sum over partitions against the
documented quantities computed on the concatenated rows with numpy and
pandas: the power of two that brings each column's largest magnitude to
[0.5, 1), the mean of the scaled column, the power of two of the centred
column, each label's row count and weight total. ``environment_grams`` is
checked against each environment's own product, for integer codes of any
width on the compiled route, and against the memory it documents (no copy
of a C-ordered block, no temporary beyond its buffers).
"""

import functools
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skcausal_trust.invariance import _stats
from skcausal_trust.invariance._stats import (
    ColumnRanges,
    LabelTotals,
    codes_of,
    power_of_two_exponents,
)


def _binade(values):
    """The k (numpy's frexp, written out) with 2**(k - 1) <= |v| < 2**k."""
    return np.floor(np.log2(np.abs(values))).astype(int) + 1


# --------------------------------------------------------------------------
# Powers of two and centring
# --------------------------------------------------------------------------
def test_power_of_two_exponents_bring_columns_to_half_one_and_keep_zeros_at_zero():
    rng = np.random.default_rng(0)
    values = np.column_stack([rng.normal(size=20) * 1e300, rng.normal(size=20) * 1e-300,
                              np.zeros(20), 10.0 + rng.uniform(size=20)])
    k = power_of_two_exponents(values)
    assert k[2] == 0  # a column of zeros keeps k = 0
    peaks = np.abs(np.ldexp(values, k)).max(axis=0)
    assert ((peaks[[0, 1, 3]] >= 0.5) & (peaks[[0, 1, 3]] < 1.0)).all()
    assert power_of_two_exponents(np.zeros(5)) == 0


def test_centred_unit_scale_centres_then_brings_the_deviations_to_half_one():
    """Columns far from 0 (at 10 and -1e5, spread 1): the output is the
    centred column times 2**total, its largest magnitude in [0.5, 1)."""
    rng = np.random.default_rng(1)
    values = np.column_stack([10.0 + rng.uniform(size=50), -1e5 + rng.uniform(size=50),
                              rng.normal(size=50) * 1e-300])
    out, total = _stats._centred_unit_scale(values)
    centred = values - values.mean(axis=0)
    assert_array_equal(total, -_binade(np.abs(centred).max(axis=0)))
    assert_allclose(out, np.ldexp(centred, total), rtol=1e-9, atol=1e-12)
    peaks = np.abs(out).max(axis=0)
    assert ((peaks >= 0.5) & (peaks < 1.0)).all()


# --------------------------------------------------------------------------
# ColumnRanges: partition-wise count, extremes and exponent-aligned sums
# --------------------------------------------------------------------------
def _partitioned_values():
    """Five columns: positive and negative offsets (the centred column is
    16 to 2**17 times smaller than the column), 1e300 and 1e-300 scales,
    and zeros; partition sizes 0, 1, 6, 30, 13. The largest magnitude of
    column 0 is in the one-row partition and that of column 3 in the last
    one, each a binade above the others' (the combined exponent is that of
    the larger peak, whichever side of ``a + b`` it is on)."""
    rng = np.random.default_rng(2)
    n = 50
    values = np.column_stack([10.0 + rng.uniform(size=n), -1e5 + rng.uniform(size=n),
                              rng.normal(size=n) * 1e300, rng.normal(size=n) * 1e-300,
                              np.zeros(n)])
    values[0, 0] = 17.0
    values[-1, 3] = 9e-299
    cuts = [0, 0, 1, 7, 37, n]
    return values, [values[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def _check_unit_scale(ranges, values):
    first, mean, second = ranges.unit_scale()
    peak = np.abs(values).max(axis=0)
    expected_first = np.where(peak > 0, -_binade(np.where(peak > 0, peak, 1.0)), 0)
    assert_array_equal(first, expected_first)
    scaled = np.ldexp(values, expected_first)
    assert_allclose(mean, scaled.mean(axis=0), rtol=1e-13, atol=1e-300)
    deviation = np.abs(scaled - scaled.mean(axis=0)).max(axis=0)
    expected_second = np.where(deviation > 0,
                               -_binade(np.where(deviation > 0, deviation, 1.0)), 0)
    assert_array_equal(second, expected_second)
    assert ranges.n == len(values)
    assert_array_equal(ranges.low, values.min(axis=0))
    assert_array_equal(ranges.high, values.max(axis=0))


@pytest.mark.parametrize("order", ["forward", "backward", "tree"])
def test_column_ranges_summed_over_partitions_give_the_in_memory_unit_scale(order):
    values, parts = _partitioned_values()
    summaries = [ColumnRanges(part) for part in parts]
    if order == "forward":
        total = functools.reduce(lambda a, b: a + b, summaries)
    elif order == "backward":
        total = functools.reduce(lambda a, b: b + a, summaries[::-1])
    else:
        total = (summaries[0] + summaries[1]) + (summaries[2] + (summaries[3] + summaries[4]))
    _check_unit_scale(total, values)


def test_column_ranges_of_one_block_and_of_integer_or_boolean_rows():
    """One block (no addition); integer and boolean rows are read as their
    float values; a block without rows has zero exponents."""
    values, _ = _partitioned_values()
    _check_unit_scale(ColumnRanges(values), values)
    flags = np.array([[True, False], [False, False], [True, True]])
    _check_unit_scale(ColumnRanges(flags), flags.astype(float))
    integers = np.array([[3, -7], [12, 1], [5, 5]])
    _check_unit_scale(ColumnRanges(integers), integers.astype(float))
    empty = ColumnRanges(np.zeros((0, 3)))
    assert empty.n == 0 and (empty.exponents == 0).all() and (empty.sums == 0).all()


# --------------------------------------------------------------------------
# LabelTotals and codes_of
# --------------------------------------------------------------------------
def test_label_totals_summed_over_partitions_count_rows_and_add_weights():
    """Labels of mixed types (a string, an int, a float) spread over
    partitions, some in one partition only; weights whose totals differ
    from the counts. Against pandas' groupby of the concatenated rows."""
    rng = np.random.default_rng(3)
    labels = np.array(["a", 1, 2.5, "a", 1, "a"] * 7, dtype=object)
    labels[-4:] = "late"  # only in the last partition
    weights = rng.uniform(0.0, 3.0, labels.size)
    cuts = [0, 5, 5, 20, 31, labels.size]
    parts = [(labels[a:b], weights[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    weighted = functools.reduce(lambda x, y: x + y, [LabelTotals(lb, w) for lb, w in parts])
    counted = functools.reduce(lambda x, y: x + y, [LabelTotals(lb) for lb, _ in parts])
    frame = pd.DataFrame({"label": labels, "w": weights})
    levels = ["a", 1, 2.5, "late"]
    expected_counts = [int((labels == level).sum()) for level in levels]
    expected_weights = [frame.loc[frame["label"] == level, "w"].sum() for level in levels]
    assert set(weighted.totals) == set(levels) == set(counted.totals)
    assert_array_equal(weighted.counts(levels), expected_counts)
    assert_allclose(weighted.weights(levels), expected_weights, rtol=1e-13)
    assert_array_equal(counted.counts(levels), expected_counts)
    assert_array_equal(counted.weights(levels), expected_counts)


def test_label_totals_and_codes_keep_the_labels_python_objects():
    """The labels are equated as Python objects: 1 and "1" are different
    labels, whether given as an array or a list."""
    totals = LabelTotals(["x", 1, "x", 2.5, 1, 1])
    assert set(totals.totals) == {"x", 1, 2.5}
    assert_array_equal(totals.counts(["x", 1, 2.5]), [2, 3, 1])
    assert_array_equal(codes_of(["x", 1, 2.5, 1, "x"], ["x", 1, 2.5]), [0, 1, 2, 1, 0])
    assert_array_equal(codes_of(np.array([2.5, "x"], dtype=object), [1, 2.5, "x"]), [1, 2])


def test_codes_of_names_only_the_unknown_labels():
    with pytest.raises(ValueError, match=r"^labels \['z'\] are not among the levels \['a'\]"):
        codes_of(np.array(["a", "z", "z", "a"], dtype=object), ["a"])


# --------------------------------------------------------------------------
# environment_grams: integer codes, copies and temporaries
# --------------------------------------------------------------------------
def _interleaved(n, d, n_codes, seed=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, n_codes, n)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int16])
def test_compiled_route_takes_codes_of_any_integer_dtype(monkeypatch, dtype):
    """The compiled sort needs int64 codes; narrower ones (as a caller may
    hold them) are converted, not refused."""
    pytest.importorskip("numba")
    assert _stats.row_sorter() is not None
    monkeypatch.setattr(_stats, "COMPILED_MIN_ROWS", 0)
    Z, codes = _interleaved(3000, 3, 3)
    grams = _stats.environment_grams(Z, codes.astype(dtype), 3)
    for e in range(3):
        rows = Z[codes == e]
        assert_allclose(grams[e], rows.T @ rows, rtol=1e-13)


@pytest.mark.parametrize("route", ["numpy", "compiled"])
def test_c_ordered_float_rows_are_read_in_place(monkeypatch, route):
    """A C-ordered float64 Z is gathered or sorted straight from its rows
    (np.copyto is never called); a Fortran-ordered one goes through a copy
    of each block. Both give each environment's product."""
    if route == "numpy":
        monkeypatch.setattr(_stats, "row_sorter", lambda: None)
    else:
        pytest.importorskip("numba")
        monkeypatch.setattr(_stats, "COMPILED_MIN_ROWS", 0)
    Z, codes = _interleaved(2000, 3, 2)
    calls = []
    real = np.copyto

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    for layout in ("C", "F"):
        Zl = np.asarray(Z, order=layout)
        calls.clear()
        monkeypatch.setattr(_stats.np, "copyto", spy)
        grams = _stats.environment_grams(Zl, codes, 2)
        monkeypatch.setattr(_stats.np, "copyto", real)
        assert bool(calls) == (layout == "F"), layout
        for e in range(2):
            rows = Z[codes == e]
            assert_allclose(grams[e], rows.T @ rows, rtol=1e-13)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_gathering_allocates_no_temporary_beyond_its_buffers(monkeypatch, layout):
    """numpy's route gathers each environment's rows into a buffer allocated
    once (and, for a non-C layout, copies each block's transpose into a
    second one): its peak memory is those buffers plus index arrays of the
    block (under 1 MB here), not a temporary copy of an environment's rows
    (2 MB here, as np.take makes with mode="raise")."""
    monkeypatch.setattr(_stats, "row_sorter", lambda: None)
    n, d = _stats.GRAM_BLOCK_ROWS, 32
    Z, codes = _interleaved(n, d, 2)
    Z = np.asarray(Z, order=layout)
    buffers = (1 if layout == "C" else 2) * n * d * 8
    tracemalloc.start()
    try:
        grams = _stats.environment_grams(Z, codes, 2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert buffers <= peak < buffers + 2**20
    rows = Z[codes == 1]
    assert_allclose(grams[1], rows.T @ rows, rtol=1e-13)
