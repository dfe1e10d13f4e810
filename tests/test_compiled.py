"""The compiled kernels (numba, optional) against numpy."""

import importlib.util
import sys
import warnings

import numpy as np
import pytest

from skcausal_trust.utils import _compiled


@pytest.fixture
def sorter():
    pytest.importorskip("numba")
    kernel = _compiled.row_sorter()
    assert kernel is not None
    return kernel


@pytest.mark.parametrize("n, d, n_codes", [(0, 3, 2), (1, 1, 1), (1000, 5, 4), (4097, 21, 7)])
@pytest.mark.parametrize("layout", ["C", "readonly", "slice"])
def test_row_sorter_is_a_stable_sort_by_code(sorter, n, d, n_codes, layout):
    """The rows grouped by code in their order (numpy's stable argsort),
    with each group's first row; a code without rows (the last) gives an
    empty group. Read-only inputs and C-contiguous slices are accepted."""
    rng = np.random.default_rng(n)
    Z = rng.standard_normal((n + 2, d))
    codes = rng.integers(0, max(n_codes - 1, 1), n + 2).astype(np.int64)
    Z, codes = (Z[1:-1], codes[1:-1]) if layout == "slice" else (Z[:n], codes[:n].copy())
    Z.flags.writeable = codes.flags.writeable = layout != "readonly"
    out = np.full((n, d), np.nan)
    starts = np.full(n_codes + 1, -1, dtype=np.int64)
    sorter(Z, codes, out, starts)
    order = np.argsort(codes, kind="stable")
    np.testing.assert_array_equal(out, Z[order])
    counts = np.bincount(codes, minlength=n_codes)
    np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(counts)]))


@pytest.mark.parametrize("bad", [-1, 3])
def test_row_sorter_refuses_a_code_out_of_range_before_writing(sorter, bad):
    """A code outside [0, E) would write outside the buffer: ValueError,
    and nothing is written."""
    Z = np.ones((5, 2))
    codes = np.array([0, 1, bad, 2, 0], dtype=np.int64)
    out = np.zeros((5, 2))
    with pytest.raises(ValueError, match="outside"):
        sorter(Z, codes, out, np.zeros(4, dtype=np.int64))
    assert not out.any()


def test_row_sorter_is_none_without_numba(monkeypatch):
    """Without numba the kernel is None (callers use numpy), silently."""
    monkeypatch.setattr(_compiled.importlib.util, "find_spec",
                        lambda name: None if name == "numba" else importlib.util.find_spec(name))
    _compiled.row_sorter.cache_clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _compiled.row_sorter() is None
    finally:
        _compiled.row_sorter.cache_clear()


def test_row_sorter_warns_when_numba_is_broken(monkeypatch):
    """numba installed but failing to import or to compile (an unsupported
    numpy, an unwritable cache): a RuntimeWarning naming the error, and
    None (numpy is used)."""
    pytest.importorskip("numba")
    # The kernels' module fails to import (ImportError), numba being found.
    monkeypatch.setitem(sys.modules, "skcausal_trust.utils._numba_kernels", None)
    _compiled.row_sorter.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="numba is installed but .*ModuleNotFoundError"):
            assert _compiled.row_sorter() is None
    finally:
        _compiled.row_sorter.cache_clear()


def test_row_sorter_has_one_signature(sorter):
    """One compiled version: another layout or dtype is a TypeError, not a
    second compilation (a second would cost each dask worker seconds)."""
    out, starts = np.empty((4, 2)), np.empty(3, dtype=np.int64)
    codes = np.zeros(4, dtype=np.int64)
    with pytest.raises(TypeError):
        sorter(np.asfortranarray(np.ones((4, 2))), codes, out, starts)
    with pytest.raises(TypeError):
        sorter(np.ones((4, 2)), codes.astype(np.int32), out, starts)
    assert len(sorter.signatures) == 1
