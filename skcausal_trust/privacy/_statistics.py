"""Clipped, fixed-point records and their exactly summed Gram matrices.

The privacy proof of a sufficient-statistics release bounds what one
record adds to the sums. Floating-point sums break that argument quietly:
the computed sum of ``n`` terms carries a rounding error that depends on
the other records (up to about ``n^2 2^-53`` for BLAS's summation), so the
difference between neighbouring releases is not exactly one record's
contribution. Here every record is clipped, then rounded to a fixed-point
grid (multiples of ``2^-QUANTUM_BITS``) in a way that keeps it inside the
unit ball, the products are summed exactly in integer arithmetic, and the
only rounding left is the final conversion of each exact sum to a float,
bounded by :func:`rounding_allowance` whatever the data, given the public
cap ``MAX_ROWS`` on the number of rows.

The exact sums are integers (:func:`exact_integer_sums`), so sums over
disjoint sets of rows add up exactly, in any order: the rows of a dask
collection are summed partition by partition and the total converted once
(:func:`grams_from_integer_sums`), which gives the same floats, bit for
bit, as :func:`exact_gram_sums` over all the rows in memory.
"""

import numpy as np

__all__ = [
    "MAX_ROWS",
    "QUANTUM_BITS",
    "clip_records",
    "exact_gram_sums",
    "exact_integer_sums",
    "grams_from_integer_sums",
    "row_norms",
    "rounding_allowance",
]

#: Records are rounded to multiples of ``2**-QUANTUM_BITS`` (in units of the
#: bounds): a relative error of about 5e-7 of the bound per coordinate.
QUANTUM_BITS = 20
#: Public cap on the number of rows of one fit: the conversion of an exact
#: sum of at most ``MAX_ROWS`` terms of magnitude at most 1 to a float is off
#: by at most ``MAX_ROWS * 2**-53`` (see :func:`rounding_allowance`).
MAX_ROWS = 2**31
#: Rows per block: the products of two grid values are integers below
#: ``2**(2 * QUANTUM_BITS)`` (in units of ``2**-(2 * QUANTUM_BITS)``), so a
#: block's sums stay below ``2**52``, exact in float64 in any order of
#: summation (BLAS's included).
_BLOCK_ROWS = 2 ** (52 - 2 * QUANTUM_BITS)
#: Blocks accumulated in int64 before the partial sums move to Python
#: integers (each block sum is below 2**52, so 2**10 of them below 2**62).
_FLUSH_BLOCKS = 2**10


def row_norms(X):
    """L2 norms of the rows of ``X``, without overflow.

    ``np.linalg.norm`` squares the entries and overflows to ``inf`` above
    about ``1e154``; the norm is computed here on each row divided by its
    largest absolute entry, then scaled back (``inf`` only when the norm
    itself exceeds the largest float).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite.

    Returns
    -------
    norms : ndarray of shape (n_samples,)
        Each a function of its row alone (the rows are made contiguous, so
        the order of the summation does not depend on the layout of ``X``
        or on the other rows: the same on a partition as on all the data).
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.shape[1] == 0:
        return np.zeros(X.shape[0])
    largest = np.abs(X).max(axis=1)
    safe = np.where(largest > 0, largest, 1.0)
    with np.errstate(over="ignore"):
        return largest * np.linalg.norm(X / safe[:, None], axis=1)


def clip_records(X, y, feature_bound, target_bound):
    """Clip and normalise the records, then round them onto the grid.

    Each row of ``X`` is rescaled onto the ball of radius ``feature_bound``
    if it lies outside (a row whose squares overflow is rescaled too: its
    norm is computed without overflow), each ``y`` clipped to
    ``[-target_bound, target_bound]``; both are divided by their bound, and
    rounded to multiples of ``2**-QUANTUM_BITS``, the predictors after a
    shrink by ``1 - sqrt(p + 1) 2**-QUANTUM_BITS`` that keeps the rounded
    row inside the unit ball. The bound is then checked exactly, in integer
    arithmetic, and a row that would still exceed it (floating-point
    corner cases) is rounded toward zero instead.

    Parameters
    ----------
    X : ndarray of shape (n_samples, p)
        Finite predictors.
    y : ndarray of shape (n_samples,)
        Finite targets.
    feature_bound, target_bound : float
        The public bounds, > 0.

    Returns
    -------
    kx : ndarray of shape (n_samples, p), float64
        Integers ``k`` with ``x~ = k 2**-QUANTUM_BITS`` and ``||x~|| <= 1``
        exactly.
    ky : ndarray of shape (n_samples,), float64
        Integers with ``|ky| <= 2**QUANTUM_BITS``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    p = X.shape[1]
    scale = 2.0**QUANTUM_BITS
    norms = row_norms(X)
    factor = np.where(norms > feature_bound, feature_bound / np.where(norms > 0, norms, 1.0),
                      1.0)
    shrink = 1.0 - np.sqrt(p + 1.0) / scale
    kx = _round_inside_ball(X * factor[:, None] / feature_bound * (shrink * scale))
    ky = np.rint(np.clip(y, -target_bound, target_bound) / target_bound * scale)
    return kx, ky


def _round_inside_ball(exact):
    """Round each row of ``exact`` (grid units, norm at most ``2**QUANTUM_BITS``
    up to rounding) to integers, to nearest; a row whose rounded norm exceeds
    ``2**QUANTUM_BITS``, checked exactly in integers (``k^2 < 2^41``), is
    rounded toward zero instead, which cannot increase its norm."""
    kx = np.rint(exact)
    squares = (kx.astype(np.int64) ** 2).sum(axis=1)
    over = squares > 2 ** (2 * QUANTUM_BITS)
    if over.any():
        kx[over] = np.trunc(exact[over])
    return kx


def exact_integer_sums(kx, ky, codes=None, n_groups=1):
    """Exact sums of ``K K'`` over the records of each group, as integers.

    ``K = [2**b, kx, ky]`` (``b = QUANTUM_BITS``) is the record on the grid
    in units of ``2**-b``; the sums are Python integers (units of
    ``2**-2b``), so the sums of disjoint sets of rows (partitions) add up
    exactly, in any order.

    Parameters
    ----------
    kx : ndarray of shape (n_samples, p)
        Grid integers of the predictors (:func:`clip_records`).
    ky : ndarray of shape (n_samples,)
    codes : ndarray of shape (n_samples,) or None
        Group of each row (``0 .. n_groups - 1``); ``None``: one group.
    n_groups : int, default=1
        Groups to sum (a group without rows gets a zero matrix).

    Returns
    -------
    sums : ndarray of shape (n_groups, p + 2, p + 2), dtype object
        Python integers; ``sums[g, 0, 0]`` is ``2**(2 b)`` times the number
        of rows of group ``g``.
    """
    n, p = kx.shape
    m = p + 2
    scale = 2.0**QUANTUM_BITS
    codes = np.zeros(n, dtype=np.intp) if codes is None else np.asarray(codes)
    out = np.zeros((n_groups, m, m), dtype=object)
    for group in range(n_groups):
        rows = np.flatnonzero(codes == group)
        total = np.zeros((m, m), dtype=object)
        running = np.zeros((m, m), dtype=np.int64)
        for i, start in enumerate(range(0, rows.size, _BLOCK_ROWS)):
            block = rows[start:start + _BLOCK_ROWS]
            K = np.column_stack([np.full(block.size, scale), kx[block], ky[block]])
            running += (K.T @ K).astype(np.int64)  # exact: every sum < 2**52
            if (i + 1) % _FLUSH_BLOCKS == 0:
                total = total + running.astype(object)
                running[:] = 0
        out[group] = total + running.astype(object)
    return out


def grams_from_integer_sums(sums):
    """The exact integer sums (:func:`exact_integer_sums`) as floats.

    One correctly rounded conversion per entry (Python's int -> float), then
    an exact scaling by ``2**(-2 QUANTUM_BITS)``.

    Parameters
    ----------
    sums : ndarray of shape (n_groups, m, m), dtype object

    Returns
    -------
    grams : ndarray of shape (n_groups, m, m), float64

    Raises
    ------
    ValueError
        With more than ``MAX_ROWS`` rows in all (read from the counts).
    """
    n = sum(int(v) for v in sums[:, 0, 0]) >> (2 * QUANTUM_BITS)
    if n > MAX_ROWS:
        raise ValueError(f"X has {n} rows; the release's floating-point bound assumes at "
                         f"most MAX_ROWS = {MAX_ROWS}.")
    floats = np.array([float(v) for v in sums.ravel()], dtype=np.float64)
    return np.ldexp(floats.reshape(sums.shape), -2 * QUANTUM_BITS)


def exact_gram_sums(kx, ky, codes=None, n_groups=1):
    """Exact sums of ``z z'`` over the records of each group.

    ``z = [1, kx 2**-b, ky 2**-b]`` with ``b = QUANTUM_BITS``: the sums are
    computed exactly (float64 blocks that cannot round, accumulated in
    integers: :func:`exact_integer_sums`) and converted to floats once, each
    correctly rounded (:func:`grams_from_integer_sums`).

    Parameters
    ----------
    kx : ndarray of shape (n_samples, p)
        Grid integers of the predictors (:func:`clip_records`).
    ky : ndarray of shape (n_samples,)
    codes : ndarray of shape (n_samples,) or None
        Group of each row (``0 .. n_groups - 1``); ``None``: one group.
    n_groups : int, default=1
        Groups to sum (a group without rows gets a zero matrix).

    Returns
    -------
    grams : ndarray of shape (n_groups, p + 2, p + 2)

    Raises
    ------
    ValueError
        With more than ``MAX_ROWS`` rows.
    """
    n = kx.shape[0]
    if n > MAX_ROWS:
        raise ValueError(f"X has {n} rows; the release's floating-point bound assumes at "
                         f"most MAX_ROWS = {MAX_ROWS}.")
    return grams_from_integer_sums(exact_integer_sums(kx, ky, codes, n_groups))


def rounding_allowance(weights):
    """Extra L2 sensitivity that covers the release's floating-point rounding.

    The weighted release ``W * S`` of exact sums ``S`` is computed with two
    roundings (the conversion of ``S`` and the product by ``W``), so each
    entry is off by at most ``(2u + u^2) |W_ij S_ij|``, ``u = 2**-53``, with
    ``|S_ij| <= MAX_ROWS``; neighbouring data sets each carry such an error,
    on the released entries of one matrix. The allowance is therefore
    ``2 * 2**-51 * MAX_ROWS * ||upper(W)||_F`` (``2**-19 ||upper(W)||_F``
    with ``MAX_ROWS = 2**31``), a public constant added to the sensitivity
    before the noise is calibrated.

    Parameters
    ----------
    weights : ndarray of shape (m, m)
        The release weights ``W``.

    Returns
    -------
    allowance : float
    """
    upper = weights[np.triu_indices(weights.shape[0])]
    return float(2.0 * 2.0**-51 * MAX_ROWS * np.sqrt(np.sum(upper**2)))
