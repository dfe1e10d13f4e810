"""Compiled kernels, where numpy cannot avoid a pass over memory.

numba is optional (``pip install "skcausal-trust[fast]"``). A kernel is
compiled for one signature the first time any process imports it, and
cached on disk next to its module (numba's ``cache=True``); :func:`row_sorter` returns ``None`` when
numba is not installed (and warns when it is installed but the kernel
cannot be loaded), and callers fall back to numpy: the results are the same
up to the order of the additions.
"""

import functools
import importlib.util
import warnings

__all__ = ["row_sorter"]


@functools.cache
def row_sorter():
    """The compiled stable counting sort of rows by an integer code, or
    ``None`` without numba.

    Returns
    -------
    kernel : callable or None
        ``kernel(Z, codes, out, starts)``: copies the rows of ``Z`` (float64,
        C order, shape (n, d)) into ``out`` (float64, C order, shape (n, d))
        grouped by ``codes`` (contiguous int64, shape (n,), in ``[0, E)``),
        each group in the rows' order, in one pass, and writes each group's
        first row to ``starts`` (int64, shape (E + 1,), ``starts[E] = n``).
        Raises ``ValueError`` for a code outside ``[0, E)`` and
        ``TypeError`` for another dtype or layout.
    """
    if importlib.util.find_spec("numba") is None:
        return None
    try:
        from ._numba_kernels import sort_rows_by_code
    except Exception as exc:  # numba broken here: numpy gives the same sums
        warnings.warn(
            f"numba is installed but skcausal_trust's compiled kernel could not be "
            f"loaded ({type(exc).__name__}: {exc}); numpy is used instead (the same "
            "results, slower on large inputs).", RuntimeWarning, stacklevel=2)
        return None
    return sort_rows_by_code
