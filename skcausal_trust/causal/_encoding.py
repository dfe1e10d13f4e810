"""One-hot encoding of a data set together with its causal graph."""

import pandas as pd

from ._scm import _as_graph, _is_categorical

__all__ = ["one_hot_encode"]


def one_hot_encode(data, graph=None, *, exclude=(), dtype=float):
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
        The data. Missing categorical values get no indicator (all zeros).
    graph : CausalGraph, iterable of pairs, mapping or None, default=None
        A graph over (some of) ``data``'s columns.
    exclude : iterable of str, default=()
        Columns to leave as they are (for example the sensitive attribute).
    dtype : dtype, default=float
        Type of the indicator columns.

    Returns
    -------
    encoded : pandas.DataFrame of shape (n_samples, n_encoded_columns)
        Numeric columns unchanged, indicators in place of categorical ones.
    graph : CausalGraph or None
        The expanded graph (``None`` if ``graph`` was ``None``).

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
    parts, groups = [], {}
    for column in data.columns:
        series = data[column]
        if column in exclude or not _is_categorical(series):
            parts.append(series)
            continue
        dummies = pd.get_dummies(series, prefix=str(column), prefix_sep="_", dtype=dtype)
        groups[column] = list(dummies.columns)
        parts.append(dummies)
    encoded = pd.concat(parts, axis=1)
    if graph is None:
        return encoded, None
    graph = _as_graph(graph)
    return encoded, graph.expand({k: v for k, v in groups.items() if k in graph})


