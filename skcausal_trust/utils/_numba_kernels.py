"""Kernels compiled by numba; imported only through
:mod:`skcausal_trust.utils._compiled`, which returns ``None`` without numba."""

import numba
import numpy as np
from numba import types

# One signature, compiled when this module is imported (or loaded from
# numba's cache): writable arrays are accepted where read-only ones are
# declared, so read-only inputs (pandas' arrays under copy-on-write) do not
# compile a second version. Other layouts raise TypeError.
_READ_ROWS = types.Array(types.float64, 2, "C", readonly=True)
_READ_CODES = types.Array(types.int64, 1, "C", readonly=True)


@numba.njit(types.void(_READ_ROWS, _READ_CODES, types.float64[:, ::1], types.int64[::1]),
            nogil=True, cache=True)
def sort_rows_by_code(Z, codes, out, starts):  # pragma: no cover - compiled
    """Copy the rows of ``Z`` into ``out`` grouped by code, each group in
    the rows' order (a stable counting sort), in one pass over the rows.

    ``Z``: (n, d) float64, C order; ``codes``: (n,) int64 in ``[0, E)``,
    contiguous; ``out``: (n, d) float64, C order; ``starts``: (E + 1,)
    int64, receives each group's first row in ``out`` and, last, ``n``.
    Raises ``ValueError`` for a code outside ``[0, E)`` before anything is
    written to ``out``, and ``TypeError`` for other dtypes or layouts.
    """
    n, d = Z.shape
    n_codes = starts.shape[0] - 1
    position = np.zeros(n_codes, np.int64)
    for i in range(n):
        code = codes[i]
        if code < 0 or code >= n_codes:
            raise ValueError("a code is outside [0, number of codes)")
        position[code] += 1
    total = 0
    for code in range(n_codes):
        starts[code] = total
        total += position[code]
        position[code] = starts[code]
    starts[n_codes] = total
    for i in range(n):
        code = codes[i]
        row = position[code]
        for j in range(d):
            out[row, j] = Z[i, j]
        position[code] = row + 1
