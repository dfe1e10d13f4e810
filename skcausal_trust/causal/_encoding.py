"""One-hot encoding of a data set together with its causal graph."""

import numpy as np
import pandas as pd

from ._scm import _as_graph, _is_categorical

__all__ = ["one_hot_encode"]


def one_hot_encode(data, graph=None, *, exclude=(), dummy_na=False, dtype=float):
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
        instead of a list.

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
        not_encoded = sorted(c for c in na_columns
                             if c in exclude or not _is_categorical(data[c]))
        if not_encoded:
            raise ValueError(f"dummy_na names columns {not_encoded!r} that are not "
                             "one-hot encoded (excluded or not categorical).")
    parts, groups = [], {}
    for column in data.columns:
        series = data[column]
        if column in exclude or not _is_categorical(series):
            parts.append(series)
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


