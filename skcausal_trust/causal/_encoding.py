"""One-hot encoding of a data set together with its causal graph."""

import numpy as np
import pandas as pd

from ._scm import _as_graph, _is_categorical

__all__ = ["one_hot_encode"]


def one_hot_encode(data, graph=None, *, exclude=(), dummy_na=False, categories=None,
                   handle_unknown="error", dtype=float):
    """One-hot encode categorical columns and expand the graph to match.

    Linear SCM counterfactuals of categorical descendants are exact only in
    indicator form (see :class:`LinearSCM`): this turns every categorical
    column (``category``, ``object`` or string dtype) not in ``exclude`` into
    one indicator column per level, named ``"<column>_<level>"``
    (:func:`pandas.get_dummies`), and replaces its node in ``graph`` by the
    indicator nodes (:meth:`CausalGraph.expand`).

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_columns)
        The data. By default a missing categorical value gets no indicator
        (all zeros); see ``dummy_na``.
    graph : CausalGraph, iterable of pairs, mapping or None, default=None
        A graph over (some of) ``data``'s columns.
    exclude : iterable of str, default=()
        Columns to leave as they are (for example the sensitive attribute).
    dummy_na : bool or iterable of str, default=False
        Give missing values their own indicator, ``"<column>_nan"`` (pandas'
        ``dummy_na``): ``True`` for every encoded column, or the names of
        the columns that get one. The column is added whether or not a value
        is missing in ``data``, so the encoding does not depend on the data.
        With an intercept the fitted values of least squares are the same
        either way (the indicator is the intercept minus the column's other
        indicators), but a missing-value effect then lies along one
        coordinate instead of being spread over all of the column's
        indicators, which matters to estimators that perturb or regularise
        coordinates, such as :class:`~skcausal_trust.privacy.DPCausalRegressor`.
    categories : mapping or None, default=None
        Declared levels, ``{column: list of levels}``: the column's
        indicators are exactly these, in this order, whatever the data hold
        (a level without rows gets an all-zero column), so the encoding is
        public and the same on every split of the data. A column named here
        is encoded whatever its dtype (an integer-coded category, say).
        Columns not named take their levels from the data: the ``category``
        dtype's categories, or the sorted observed values. Differentially
        private estimators need declared levels: a column that exists
        because one record has a rare level reveals that record.
    handle_unknown : {"error", "ignore"}, default="error"
        What a value outside a column's declared ``categories`` does:
        ``"error"`` raises, ``"ignore"`` gives it all-zero indicators
        (missing values follow ``dummy_na`` either way).
    dtype : dtype, default=float
        Type of the indicator columns.

    Returns
    -------
    encoded : pandas.DataFrame of shape (n_samples, n_encoded_columns)
        Numeric columns unchanged, indicators in place of categorical ones.
    graph : CausalGraph or None
        The expanded graph (``None`` if ``graph`` was ``None``).

    Raises
    ------
    ValueError
        If ``data`` is not a DataFrame; if ``exclude`` or ``dummy_na`` names
        a column not in ``data``; if ``dummy_na`` names a column that is not
        one-hot encoded (excluded or not categorical), or is a single string
        instead of a list; if ``categories`` names a column not in ``data``,
        an excluded one, or repeats a level; with ``handle_unknown="error"``,
        if a column holds a value outside its declared levels.

    Examples
    --------
    >>> import pandas as pd
    >>> from skcausal_trust.causal import one_hot_encode
    >>> df = pd.DataFrame({"sex": ["F", "M"], "job": ["a", "b"], "h": [1.0, 2.0]})
    >>> enc, g = one_hot_encode(df, [("sex", "job"), ("job", "h")], exclude=["sex"])
    >>> list(enc.columns)
    ['sex', 'job_a', 'job_b', 'h']
    >>> g.parents("h")
    ['job_a', 'job_b']
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
    exclude = set(exclude)
    unknown = exclude - set(data.columns)
    if unknown:
        raise ValueError(f"exclude names columns {sorted(unknown)!r} not in data.")
    if isinstance(dummy_na, (bool, np.bool_)):
        na_columns = set(data.columns) if dummy_na else set()
    elif isinstance(dummy_na, str):
        raise ValueError(f"dummy_na must be a bool or a list of column names; got "
                         f"the string {dummy_na!r} (write [{dummy_na!r}]).")
    else:
        na_columns = set(dummy_na)
        unknown = na_columns - set(data.columns)
        if unknown:
            raise ValueError(f"dummy_na names columns {sorted(unknown)!r} not in data.")
        named = set(categories or ())
        not_encoded = sorted(c for c in na_columns if c not in named
                             and (c in exclude or not _is_categorical(data[c])))
        if not_encoded:
            raise ValueError(f"dummy_na names columns {not_encoded!r} that are not "
                             "one-hot encoded (excluded or not categorical).")
    declared = _declared_categories(categories, data, exclude)
    if handle_unknown not in ("error", "ignore"):
        raise ValueError(f"handle_unknown must be 'error' or 'ignore'; got {handle_unknown!r}.")
    parts, groups = [], {}
    for column in data.columns:
        series = data[column]
        if column not in declared and (column in exclude or not _is_categorical(series)):
            parts.append(series)
            continue
        if column in declared:
            levels = declared[column]
            # Codes first (-1 outside the levels): pandas refuses to build a
            # Categorical of values outside its categories in the future.
            coded = pd.Categorical.from_codes(
                pd.Index(levels).get_indexer(series.to_numpy(dtype=object)),
                categories=pd.Index(levels))
            unknown = series.notna().to_numpy() & (coded.codes == -1)
            if unknown.any() and handle_unknown == "error":
                seen = sorted({str(v) for v in series[unknown]})
                raise ValueError(
                    f"column {column!r} holds values {seen[:10]!r} outside its declared "
                    f"categories {list(levels)[:10]!r}; declare them, or pass "
                    "handle_unknown='ignore' (all-zero indicators).")
            # A missing value stays missing (dummy_na decides); an unknown one
            # becomes all zeros.
            series = pd.Series(coded, index=series.index, name=column)
            if unknown.any() and column in na_columns:
                dummies = pd.get_dummies(series, prefix=str(column), prefix_sep="_",
                                         dummy_na=True, dtype=dtype)
                dummies.loc[unknown, f"{column}_nan"] = 0
                groups[column] = list(dummies.columns)
                parts.append(dummies)
                continue
        dummies = pd.get_dummies(series, prefix=str(column), prefix_sep="_",
                                 dummy_na=column in na_columns, dtype=dtype)
        groups[column] = list(dummies.columns)
        parts.append(dummies)
    encoded = pd.concat(parts, axis=1)
    if graph is None:
        return encoded, None
    graph = _as_graph(graph)
    return encoded, graph.expand({k: v for k, v in groups.items() if k in graph})




def _declared_categories(categories, data, exclude):
    """Validate ``categories``: a mapping from columns of ``data`` (not
    excluded) to lists of distinct levels."""
    if categories is None:
        return {}
    if not hasattr(categories, "items"):
        raise ValueError("categories must be a mapping {column: list of levels}; got "
                         f"{type(categories).__name__}.")
    out = {}
    for column, levels in categories.items():
        if column not in data.columns:
            raise ValueError(f"categories names column {column!r}, which is not in data.")
        if column in exclude:
            raise ValueError(f"categories names column {column!r}, which is excluded.")
        if isinstance(levels, str) or not hasattr(levels, "__iter__"):
            raise ValueError(f"categories[{column!r}] must be a list of levels; got "
                             f"{levels!r}.")
        levels = list(levels)
        if not levels:
            raise ValueError(f"categories[{column!r}] is empty.")
        if len(set(map(repr, levels))) != len(levels) or pd.Index(levels).has_duplicates:
            raise ValueError(f"categories[{column!r}] repeats a level: {levels!r}.")
        if pd.isna(pd.Index(levels)).any():
            raise ValueError(f"categories[{column!r}] declares a missing value; missing "
                             "values get their indicator through dummy_na.")
        out[column] = levels
    return out
