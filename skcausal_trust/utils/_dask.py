"""Rows to sufficient statistics, partition by partition, on dask collections.

The estimators whose fit lives in sums over rows (Gram matrices, counts,
column sums, extremes) keep the step "rows -> sufficient statistics" apart
from the step "statistics -> solution". On a dask array or dataframe the
first step runs here: a function of one partition's rows returns its
statistics, the partitions' statistics are added up in a fixed tree
(so the result does not depend on which worker finished first), and only
these small arrays reach the process that solves. Nothing here imports dask
unless the user passed a dask collection.

``predict`` and ``transform`` on a dask collection return one
(:func:`map_rows`), as dask-ml's ``ParallelPostFit`` does.
"""

import operator
import sys

import numpy as np
import pandas as pd

__all__ = [
    "any_dask",
    "is_dask_collection",
    "map_aligned_rows",
    "map_rows",
    "reduce_partitions",
]


def is_dask_collection(value):
    """Whether ``value`` is a dask collection (array, dataframe, series).

    Without dask imported nothing can be one, so dask is never imported for
    in-memory data.
    """
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(value)


def any_dask(*values):
    """Whether any of ``values`` is a dask collection."""
    return any(is_dask_collection(v) for v in values)


def dask_partners(X, others):
    """Refuse a mix of dask and in-memory row arguments: ``others`` is
    ``{argument: value}``; each given one must be a dask collection when
    ``X`` is, and ``X`` must be one when any of them is."""
    if not is_dask_collection(X):
        dask_ones = [a for a, v in others.items() if is_dask_collection(v)]
        raise TypeError(
            f"{', '.join(dask_ones)} is a dask collection but X is not: pass X as "
            "a dask array or dataframe with the same row partitions, or every "
            "argument in memory."
        )
    for argument, value in others.items():
        if value is not None and not is_dask_collection(value):
            raise TypeError(
                f"X is a dask collection but {argument} is a "
                f"{type(value).__name__}: pass {argument} as a dask array or "
                "series with X's row partitions (for example a column of the "
                "same dask dataframe)."
            )


def _row_blocks(value, argument):
    """One delayed object per row partition of a dask collection (a 2-D dask
    array is first made one block wide)."""
    import dask.array as da

    if isinstance(value, da.Array):
        if value.ndim == 2:
            value = value.rechunk({1: -1})
        elif value.ndim != 1:
            raise ValueError(f"{argument} is a {value.ndim}-D dask array; expected 1-D "
                             "or 2-D.")
        if any(np.isnan(c) for c in value.chunks[0]):
            raise ValueError(
                f"{argument} is a dask array of unknown chunk sizes; call "
                f"{argument}.compute_chunk_sizes() (or build it with known chunks)."
            )
        return list(value.to_delayed(optimize_graph=False).ravel())
    if hasattr(value, "to_delayed") and hasattr(value, "npartitions"):
        # Unoptimised graphs keep the keys of the partitions the collections
        # share (X and its environment column read from one source): computed
        # together, each source partition is read (or generated) once.
        return list(value.to_delayed(optimize_graph=False))
    raise TypeError(f"{argument} is a {type(value).__name__}, not a dask array or "
                    "dataframe.")


def _n_rows(part):
    return part.shape[0]


def _checked(func, arguments):
    """``func`` on one partition of each collection, after checking that the
    partitions hold the same number of rows."""

    def apply(*parts):
        sizes = [_n_rows(p) for p in parts]
        if len(set(sizes)) > 1:
            shown = ", ".join(f"{a} {s}" for a, s in zip(arguments, sizes))
            raise ValueError(
                "the dask collections are not aligned: one partition holds "
                f"{shown} rows. Give them the same partitions (for example "
                "columns of one dask dataframe, or arrays with the same row "
                "chunks)."
            )
        return func(*parts)

    return apply


def _union(a, b, rule):
    """Two dicts combined key by key with ``rule``: a key only one of them
    has (a level or environment absent from a partition) is kept as it is."""
    out = {k: rule(a[k], b[k]) if k in b else a[k] for k in a}
    out.update((k, v) for k, v in b.items() if k not in a)
    return out


def _add(a, b):
    """Sum of two partitions' statistics (arrays, numbers, or tuples, lists
    and dicts of them; a dict's key missing from one partition counts as
    absent, not as an error); sets are united. Sums that overflow, and
    ``inf + -inf``, give inf and NaN without a RuntimeWarning: the callers
    check the combined statistics and refuse them by name."""
    if isinstance(a, (set, frozenset)):
        return a | b
    if isinstance(a, dict):
        return _union(a, b, _add)
    if isinstance(a, (tuple, list)):
        return type(a)(_add(x, y) for x, y in zip(a, b))
    with np.errstate(over="ignore", invalid="ignore"):
        return operator.add(a, b)


def _max(a, b):
    if isinstance(a, dict):
        return _union(a, b, _max)
    if isinstance(a, (tuple, list)):
        return type(a)(_max(x, y) for x, y in zip(a, b))
    return np.maximum(a, b)


#: Partitions' statistics combined per task of the reduction tree.
FAN_IN = 8


def _merge_all(merge):
    def merged(*parts):
        out = parts[0]
        for part in parts[1:]:
            out = merge(out, part)
        return out

    return merged


def _merger(combine):
    rules = {"sum": _add, "max": _max}
    if isinstance(combine, dict):
        chosen = {k: rules[r] for k, r in combine.items()}

        def merge(a, b):
            return {k: chosen.get(k, _add)(a[k], b[k]) if k in b else a[k] for k in a} | {
                k: v for k, v in b.items() if k not in a}

        return merge
    return rules[combine]


def reduce_partitions(func, collections, *, combine="sum"):
    """Apply ``func`` to aligned row partitions and combine the results.

    Parameters
    ----------
    func : callable
        ``func(*parts)`` for one row partition of each collection (a numpy
        array for a dask array, a pandas object for a dask dataframe or
        series) returns that partition's statistics: a number, an ndarray,
        a set (sets are united), or a tuple, list or dict of them. It must accept partitions with no
        rows.
    collections : dict
        ``{argument name: dask collection}``, in the order ``func`` takes
        them; the names appear in errors.
    combine : {"sum", "max"} or dict, default="sum"
        How partitions' statistics combine, elementwise; for statistics
        returned as a dict, a dict gives the rule of each key (missing keys
        are summed).

    Returns
    -------
    statistics
        The combined statistics, computed (on the active distributed client
        when there is one). Partitions combine in a fixed tree (up to eight children per node), so
        the result is the same on every run.

    Raises
    ------
    ValueError
        If the collections have different numbers of partitions, or (when
        computed) partitions of different lengths.
    """
    import dask

    names = list(collections)
    blocks = [_row_blocks(collections[a], a) for a in names]
    counts = {a: len(b) for a, b in zip(names, blocks)}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{a} {k}" for a, k in counts.items())
        raise ValueError(
            f"the dask collections are not aligned: {shown} partitions. Give "
            "them the same partitions (for example columns of one dask "
            "dataframe, or arrays with the same row chunks)."
        )
    apply = dask.delayed(_checked(func, names), pure=False)
    merge = dask.delayed(_merge_all(_merger(combine)), pure=False)
    level = [apply(*parts) for parts in zip(*blocks)]
    # A fixed tree with up to FAN_IN children per node: the same order of
    # additions on every run, and few hops between workers.
    while len(level) > 1:
        level = [merge(*level[i:i + FAN_IN]) for i in range(0, len(level), FAN_IN)]
    (result,) = dask.compute(level[0])
    return result


def _guarded(method, dtype, width):
    """``method`` on a partition (and aligned partitions of other
    collections) as an array of ``dtype``; an empty partition gives an empty
    result without calling it (scikit-learn refuses 0 rows)."""

    def block(part, *others):
        if part.shape[0] == 0:
            return np.empty((0,) if width is None else (0, width), dtype=dtype)
        return np.asarray(method(part, *others), dtype=dtype)

    return block


def map_rows(method, X, *, columns=None, dtype=float, name=None):
    """``method`` applied to each row partition of ``X``, lazily.

    Parameters
    ----------
    method : callable
        ``method(part)`` on one partition (an ndarray for a dask array, a
        DataFrame for a dask dataframe) returns an array of shape
        ``(n_rows,)`` or ``(n_rows, len(columns))``.
    X : dask array or dask DataFrame
        The rows.
    columns : list of str or None, default=None
        The output's column names for 2-D output; None for 1-D output.
    dtype : dtype, default=float
        The output's dtype.
    name : str or None, default=None
        The name of a 1-D output's series.

    Returns
    -------
    result : dask array or dask Series / DataFrame
        A dask array for a dask array ``X`` (the same row chunks); for a
        dask dataframe, a dask Series (1-D) or DataFrame with ``X``'s index.
    """
    import dask.array as da

    if isinstance(X, da.Array):
        X = X.rechunk({1: -1}) if X.ndim == 2 else X
        width = None if columns is None else len(columns)
        block = _guarded(method, dtype, width)
        if columns is None:
            return X.map_blocks(block, drop_axis=1, dtype=dtype)
        return X.map_blocks(block, chunks=(X.chunks[0], (width,)), dtype=dtype)

    block = _guarded(method, dtype, None if columns is None else len(columns))
    if columns is None:
        meta = pd.Series(np.empty(0, dtype=dtype), name=name)

        def part_1d(part):
            return pd.Series(block(part), index=part.index, name=name)

        return X.map_partitions(part_1d, meta=meta)
    meta = pd.DataFrame(np.empty((0, len(columns)), dtype=dtype), columns=list(columns))

    def part_2d(part):
        return pd.DataFrame(block(part), index=part.index, columns=list(columns))

    return X.map_partitions(part_2d, meta=meta)


def map_aligned_rows(method, X, others, *, columns):
    """``method(part, *other_parts)`` on aligned row partitions of ``X`` and
    the dask collections ``others`` (``{argument: collection}``), lazily.

    Returns a dask array (``X`` a dask array) or a dask DataFrame with
    ``columns``, one partition per partition of ``X``.
    """
    import dask
    import dask.array as da

    names = ["X", *others]
    collections = [X, *others.values()]
    blocks = [_row_blocks(c, a) for a, c in zip(names, collections)]
    counts = {a: len(b) for a, b in zip(names, blocks)}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{a} {k}" for a, k in counts.items())
        raise ValueError(
            f"the dask collections are not aligned: {shown} partitions. Give them "
            "the same partitions."
        )
    width = len(columns)
    checked = _checked(_guarded(method, float, width), names)
    parts = [dask.delayed(checked, pure=True)(*p) for p in zip(*blocks)]
    if isinstance(X, da.Array):
        return da.concatenate([
            da.from_delayed(part, shape=(size, width), dtype=float)
            for part, size in zip(parts, X.chunks[0])])
    import dask.dataframe as dd

    meta = pd.DataFrame(np.empty((0, width)), columns=list(columns))
    framed = [dask.delayed(_framed, pure=True)(part, index, list(columns))
              for part, index in zip(parts, [b.index for b in X.to_delayed()])]
    return dd.from_delayed(framed, meta=meta, verify_meta=False)


def _framed(values, index, columns):
    return pd.DataFrame(values, index=index, columns=columns)
