"""Group fairness metrics on rows of any size: the contingency table of
labels, predictions and sensitive levels, on which fairlearn's metrics (with
``sample_weight``) equal their value on the rows."""

import numpy as np
import pandas as pd

from ..utils._dask import is_dask_collection, reduce_partitions

__all__ = ["group_contingency"]

#: The largest table :func:`group_contingency` builds by default.
MAX_CELLS = 100_000


def _columns(sensitive_features, argument="sensitive_features"):
    """The sensitive columns' names (a Series' name, a DataFrame's columns,
    else ``sensitive_feature_<j>``)."""
    if isinstance(sensitive_features, pd.DataFrame) or (
            is_dask_collection(sensitive_features)
            and hasattr(sensitive_features, "columns")):
        names = [str(c) for c in sensitive_features.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{argument} repeats a column name: {names!r}.")
        return names
    name = getattr(sensitive_features, "name", None)
    ndim = getattr(sensitive_features, "ndim", np.ndim(sensitive_features))
    if ndim == 2:
        return [f"sensitive_feature_{j}" for j in range(sensitive_features.shape[1])]
    return [str(name) if name is not None else "sensitive_feature_0"]


def _cells(y_true, y_pred, sensitive, weights, names):
    """``{(y_true, y_pred, *levels): total weight}`` of one block of rows."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    n = y_true.shape[0]
    levels = np.asarray(sensitive, dtype=object).reshape(n, -1)
    sizes = {y_pred.shape[0], levels.shape[0]} | (
        {np.shape(weights)[0]} if weights is not None else set())
    if sizes != {n}:
        raise ValueError(
            f"y_true has {n} rows but y_pred, sensitive_features or sample_weight have "
            f"{sorted(sizes - {n})!r}."
        )
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight has negative, NaN or infinite values.")
    frame = pd.DataFrame({"y_true": y_true, "y_pred": y_pred})
    for j, name in enumerate(names):
        frame[f"_s{j}"] = levels[:, j]
    if frame.isna().any().any():
        bad = [c for c in frame.columns if frame[c].isna().any()]
        shown = [names[int(c[2:])] if c.startswith("_s") else c for c in bad]
        raise ValueError(f"{shown!r} have missing values.")
    frame["weight"] = w
    summed = frame.groupby(list(frame.columns[:-1]), sort=False, dropna=False)["weight"].sum()
    return dict(zip(summed.index.tolist(), summed.to_numpy()))


def group_contingency(y_true, y_pred, sensitive_features, *, sample_weight=None,
                      max_cells=MAX_CELLS):
    """The rows' distinct (label, prediction, sensitive levels) with their weight.

    fairlearn's group metrics (demographic parity, equalized odds, a
    :class:`~fairlearn.metrics.MetricFrame` of selection rates, true and
    false positive rates, accuracy) are weighted sums over rows of a
    function of the label and the prediction, within each group. So on this
    table, with ``sample_weight=table["weight"]``, they equal their value on
    the rows; with integer weights (or none) the counts are exact. On dask
    collections the table is built in one pass, partition by partition, and
    is small: the number of distinct labels times predictions times levels.

    Parameters
    ----------
    y_true : array-like or dask Series/array of shape (n_samples,)
        The labels.
    y_pred : array-like or dask Series/array of shape (n_samples,)
        The predictions (class labels: the table has one row per distinct
        value, so continuous scores are refused through ``max_cells``). A
        dask ``y_pred`` is typically ``estimator.predict(X)`` of a dask
        ``X``, aligned with it.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, k), \
            or dask Series/DataFrame/array
        The sensitive attribute(s), aligned with ``y_true``; several columns
        are kept apart (fairlearn intersects them).
    sample_weight : array-like or dask Series/array of shape (n_samples,), \
            default=None
        Non-negative row weights (a weight of 2 counts a row twice).
    max_cells : int, default=100000
        The largest table built.

    Returns
    -------
    table : pandas.DataFrame of shape (n_cells, 3 + k)
        Columns ``"y_true"``, ``"y_pred"``, the sensitive columns (a Series'
        name, a DataFrame's columns, else ``"sensitive_feature_<j>"``) and
        ``"weight"`` (the total weight of the rows in the cell), one row per
        combination present, sorted.

    Raises
    ------
    ValueError
        If the inputs' lengths differ (or, on dask, their partitions), a
        value is missing, a weight is negative or not finite, or the table
        would have more than ``max_cells`` cells (continuous predictions:
        group metrics of scores need the rows).

    See Also
    --------
    make_group_fairness_scorer : Uses this table for dask collections.

    Examples
    --------
    >>> import numpy as np
    >>> from fairlearn.metrics import demographic_parity_difference
    >>> from skcausal_trust.fairness import group_contingency
    >>> y = np.array([0, 1, 1, 0, 1, 1])
    >>> pred = np.array([0, 1, 1, 1, 1, 0])
    >>> sex = np.array(["f", "f", "f", "m", "m", "m"])
    >>> table = group_contingency(y, pred, sex)
    >>> len(table), float(table["weight"].sum())
    (5, 6.0)
    >>> on_table = demographic_parity_difference(
    ...     table["y_true"], table["y_pred"],
    ...     sensitive_features=table["sensitive_feature_0"],
    ...     sample_weight=table["weight"])
    >>> bool(np.isclose(on_table, demographic_parity_difference(
    ...     y, pred, sensitive_features=sex)))
    True
    """
    if not isinstance(max_cells, (int, np.integer)) or max_cells < 1:
        raise ValueError(f"max_cells must be a positive integer; got {max_cells!r}.")
    names = _columns(sensitive_features)
    values = {"y_true": y_true, "y_pred": y_pred, "sensitive_features": sensitive_features}
    if sample_weight is not None:
        values["sample_weight"] = sample_weight
    lazy = [k for k, v in values.items() if is_dask_collection(v)]
    if lazy and len(lazy) != len(values):
        eager = [k for k in values if k not in lazy]
        raise ValueError(
            f"{lazy!r} are dask collections but {eager!r} are not; pass all of them "
            "as dask collections aligned with X (or all in memory)."
        )

    def cells(*parts):
        weights = parts[3] if len(parts) > 3 else None
        out = _cells(parts[0], parts[1], parts[2], weights, names)
        if len(out) > max_cells:
            _too_many(len(out), max_cells)
        return out

    if lazy:
        table = reduce_partitions(cells, values)
    else:
        table = cells(*values.values())
    if len(table) > max_cells:
        _too_many(len(table), max_cells)
    if not table:
        raise ValueError("y_true has 0 rows; nothing to tabulate.")
    keys = list(table)
    frame = pd.DataFrame(keys, columns=["y_true", "y_pred", *names])
    frame["weight"] = np.asarray([table[k] for k in keys], dtype=float)
    try:
        frame = frame.sort_values(["y_true", "y_pred", *names], kind="stable")
    except TypeError:  # labels of mixed types: keep the order found
        pass
    return frame.reset_index(drop=True)


def _too_many(n, max_cells):
    raise ValueError(
        f"the labels, predictions and sensitive levels have more than {max_cells} "
        f"distinct combinations ({n}): y_pred looks continuous (scores, not class "
        "labels), and a group metric of scores needs the rows. Pass predicted labels, "
        "or raise max_cells."
    )
