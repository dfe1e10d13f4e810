"""The exact sums of the private release, where the other tests could not
tell a bug from the right answer (found by mutation testing,
``benchmarks/run_mutation.py --modules private_statistics``).

- Sums beyond int64 (more than 2**23 maximal records) stay exact: partial
  sums move to Python integers before int64 could overflow, and the result
  holds Python integers, not floats.
- The row cap is read from the counts when the integer sums come from
  partitions (the dask route), and checked before any sum is computed.
- Clipping rescales a row to the bound itself when the bound is below 1;
  zero rows and rows whose norm overflows are handled without a warning; the
  inputs are read in float64 whatever their dtype.
- The integer check of the unit ball rounds a row toward zero exactly when
  rounding to nearest would leave the ball.
"""

import warnings
from unittest import mock

import numpy as np
import pytest

from skcausal_trust.privacy import _statistics

B = _statistics.QUANTUM_BITS


def test_sums_beyond_int64_are_exact_python_integers():
    """2**23 + 2**13 records whose target is on the bound: the sum of the
    squared targets is above 2**63 (int64 would wrap without the flushes)
    and, with one record of target 1, not a float (64 significant bits)."""
    n = 2**23 + 2**13
    ky = np.full(n, 2.0**B)
    ky[-1] = 1.0
    sums = _statistics.exact_integer_sums(np.empty((n, 0)), ky)
    assert sums.shape == (1, 2, 2) and sums.dtype == object
    assert all(type(v) is int for v in sums.ravel())
    assert sums[0, 1, 1] == (n - 1) * 2 ** (2 * B) + 1
    assert sums[0, 0, 1] == sums[0, 1, 0] == (n - 1) * 2 ** (2 * B) + 2**B
    assert sums[0, 0, 0] == n * 2 ** (2 * B)
    # The float conversion rounds once, correctly.
    grams = _statistics.grams_from_integer_sums(sums)
    assert grams.dtype == np.float64
    assert grams[0, 1, 1] == float(sums[0, 1, 1]) / 2.0 ** (2 * B)


def test_small_sums_are_python_integers_in_one_group_by_default():
    kx = np.array([[3.0, -4.0], [1.0, 2.0]])
    ky = np.array([5.0, -1.0])
    sums = _statistics.exact_integer_sums(kx, ky)
    assert sums.shape == (1, 4, 4)
    assert all(type(v) is int for v in sums.ravel())
    K = np.column_stack([np.full(2, 2**B), kx, ky]).astype(np.int64)
    np.testing.assert_array_equal(sums[0].astype(np.int64), K.T @ K)


def test_the_row_cap_is_read_from_the_counts_of_integer_sums(monkeypatch):
    """Partition sums (the dask route) reach grams_from_integer_sums without
    a row count: the cap is read from the sums' counts, over all groups, and
    is inclusive."""
    monkeypatch.setattr(_statistics, "MAX_ROWS", 10)
    rng = np.random.default_rng(0)
    kx = rng.integers(-2**19, 2**19, size=(11, 2)).astype(float)
    ky = rng.integers(-2**19, 2**19, size=11).astype(float)
    codes = np.r_[np.zeros(5, int), np.ones(6, int)]
    sums = _statistics.exact_integer_sums(kx, ky, codes, 2)
    with pytest.raises(ValueError, match="X has 11 rows; .* MAX_ROWS = 10"):
        _statistics.grams_from_integer_sums(sums)
    ten = _statistics.exact_integer_sums(kx[:10], ky[:10], codes[:10], 2)
    assert _statistics.grams_from_integer_sums(ten)[:, 0, 0].sum() == 10


def test_too_many_rows_are_refused_before_any_sum(monkeypatch):
    monkeypatch.setattr(_statistics, "MAX_ROWS", 10)
    with mock.patch.object(_statistics, "exact_integer_sums") as sums, \
            pytest.raises(ValueError, match="X has 11 rows"):
        _statistics.exact_gram_sums(np.zeros((11, 3)), np.zeros(11))
    sums.assert_not_called()


def test_a_bound_below_one_clips_to_the_bound():
    """A row of norm 0.8 with feature_bound 0.5 is rescaled to norm 0.5
    (then divided by the bound: the unit sphere); a row of norm 0.3 is kept."""
    X = np.array([[0.48, 0.64], [0.18, 0.24], [0.0, 0.0]])
    kx, _ = _statistics.clip_records(X, np.zeros(3), 0.5, 1.0)
    np.testing.assert_allclose(kx[0] / 2**B, [0.6, 0.8], atol=1e-5)
    np.testing.assert_allclose(kx[1] / 2**B, [0.36, 0.48], atol=1e-5)
    np.testing.assert_array_equal(kx[2], [0.0, 0.0])


def test_zero_and_overflowing_rows_raise_no_warning():
    X = np.array([[0.0, 0.0], [1.5e308, 1.5e308], [3.0, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norms = _statistics.row_norms(X)
        kx, _ = _statistics.clip_records(X, np.zeros(3), 1.0, 1.0)
    assert norms[0] == 0.0 and np.isinf(norms[1]) and norms[2] == 5.0
    np.testing.assert_array_equal(kx[0], [0.0, 0.0])


def test_inputs_are_read_in_float64_whatever_their_dtype():
    """float32 inputs give the records of their float64 values: the norm and
    the target's grid value are not computed in float32."""
    rng = np.random.default_rng(1)
    X32 = rng.normal(size=(200, 3)).astype(np.float32)
    y32 = rng.uniform(-1, 1, size=200).astype(np.float32)
    np.testing.assert_array_equal(_statistics.row_norms(X32),
                                  _statistics.row_norms(X32.astype(np.float64)))
    assert _statistics.row_norms(X32).dtype == np.float64
    kx32, ky32 = _statistics.clip_records(X32, y32, 1.5, 0.7)
    kx64, ky64 = _statistics.clip_records(X32.astype(np.float64), y32.astype(np.float64),
                                          1.5, 0.7)
    np.testing.assert_array_equal(kx32, kx64)
    np.testing.assert_array_equal(ky32, ky64)


def test_a_row_that_rounding_would_push_out_of_the_ball_is_rounded_toward_zero():
    """The guard of clip_records, on grid values a hair inside the sphere
    whose nearest integers lie outside it; rows on the sphere exactly, and
    inside it, are rounded to nearest."""
    r = 2.0**B
    exact = np.array([
        [r - 0.3, 0.0],           # rounds to r: on the sphere, allowed
        [r * 0.6 + 0.4, r * 0.8 + 0.4],   # to nearest: outside; toward zero: inside
        [10.6, -20.6],            # well inside: to nearest
    ])
    exact[1] *= (r - 1e-3) / np.hypot(*exact[1])  # just inside the sphere
    kx = _statistics._round_inside_ball(exact)
    assert kx[0].tolist() == [r, 0.0]
    assert (np.rint(exact[1]).astype(np.int64) ** 2).sum() > 2 ** (2 * B)
    np.testing.assert_array_equal(kx[1], np.trunc(exact[1]))
    assert kx[2].tolist() == [11.0, -21.0]
    assert ((kx.astype(np.int64) ** 2).sum(axis=1) <= 2 ** (2 * B)).all()
