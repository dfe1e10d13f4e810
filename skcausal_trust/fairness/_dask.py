"""The counterfactual estimators on dask collections (data larger than memory).

Fit reads the rows only through passes over their partitions. The first pass
gathers, with the levels, classes and finiteness checks, the statistics every
world's linear SCM is fitted from (:class:`GroupedGram`: the inputs' Gram
matrix and, per combination of the sensitive levels, its weight and column
sums), the regressor's centred Gram matrix (:class:`CentredGram`), and the
classifier's logistic loss, gradient and Hessian at a start found on the
first partition (:class:`LogisticStart`). So the residualizer and the
regressor read the rows once, and the classifier once plus one pass per
further Newton step (typically two). Everything after that is the in-memory
code: the counterfactual directions, their null space, the constrained
solve. Where the first pass's statistics do not apply (a fitted SCM as a
world, columns on extreme scales), the SCM takes passes of its own.
"""
import numpy as np
import pandas as pd
from scipy.linalg import null_space
from scipy.special import expit, log_expit

from ..base import (
    SENSITIVE,
    RowAttribute,
    _as_labels,
    attribute_column_blocks,
    attribute_levels,
    check_columns_left,
)
from ..utils._dask import _add, _row_blocks, is_dask_collection, reduce_partitions
from ..utils._scaling import exponents_below, times_power_of_two
from ..utils._validation import check_no_date_target

__all__ = [
    "DaskAttribute",
    "DaskLogisticTerms",
    "DaskRows",
    "dask_fit_rows",
    "dask_logistic_newton",
    "dask_scm_frame",
]

#: Newton iterations of the map-reduced logistic fit (each one pass).
MAX_NEWTON_ITERATIONS = 100
#: The Newton iterations stop when a step moves no coefficient by more than
#: this, relative to the largest coefficient (or 1).
STEP_TOLERANCE = 1e-12
#: Rows per block of the statistics gathered in the first pass.
EXTRA_BLOCK_ROWS = 131_072
#: Rows of the first partition the classifier's warm start is fitted on (in
#: memory, before the first pass): its error need only be small enough for
#: the first Newton step to square it.
WARM_START_ROWS = 1_000_000
#: A Newton step at most this large (relative) is the last one: it is taken
#: without a pass over the rows to evaluate where it lands.
FINAL_STEP = 1e-7


class DaskAttribute:
    """The sensitive attribute(s) of dask rows: one dask collection per
    attribute, aligned with ``X``. Mirrors :class:`~skcausal_trust.base.RowAttribute`
    where the worlds read it (names, messages), without its values."""

    def __init__(self, columns, names, argument, positions=()):
        self.dask_columns = list(columns)
        self.names = list(names)
        self.argument = argument
        self.columns = list(positions)

    @property
    def n_attributes(self):
        return len(self.dask_columns)

    argument_of = RowAttribute.argument_of

    def _labels_argument(self, j):
        """How the labels' check names attribute ``j``: as in memory, a column
        of ``X`` by its own name (:func:`~skcausal_trust.base.resolve_row_attribute`)."""
        if self.columns:
            return f"X[{self.names[j]!r}] ({SENSITIVE.ids})"
        return self.argument_of(j)

    def local(self, parts):
        """The in-memory attribute of one partition (labels validated as in
        memory)."""
        n = parts[0].shape[0] if parts else 0
        labels = [_as_labels(p, self._labels_argument(j), n) if n
                  else np.empty(0, dtype=object)
                  for j, p in enumerate(parts)]
        values = np.column_stack(labels) if labels else np.empty((n, 0), dtype=object)
        return RowAttribute(values.astype(object), self.names, self.argument, self.columns)


class DaskRows:
    """Validated dask rows of a counterfactual estimator.

    Attributes
    ----------
    features : dask DataFrame or dask Array
        The feature columns (the sensitive ones removed).
    names : list
        Their names (or positions).
    y : dask collection or None
    sample_weight : dask collection or None
    attribute : DaskAttribute or None
    summary : dict
        From the first pass: ``n`` rows, ``weight`` total, the attributes'
        ``levels`` and ``mass`` (weight per level), ``classes`` of ``y``.
    """

    def __init__(self, features, names, y, sample_weight, attribute):
        self.features = features
        self.names = names
        self.y = y
        self.sample_weight = sample_weight
        self.attribute = attribute
        self.summary = None
        self.fused = {}
        self.first = None

    def __getstate__(self):
        # Tasks that read partitions carry these rows (their split and
        # columns): never the first partition kept in memory here.
        state = self.__dict__.copy()
        state["first"] = None
        return state

    def collections(self, *, y=True):
        """``{argument: collection}`` of the rows, aligned, for
        :func:`reduce_partitions`: X, then y, the weights and attributes."""
        out = {"X": self.features}
        if y and self.y is not None:
            out["y"] = self.y
        if self.sample_weight is not None:
            out["sample_weight"] = self.sample_weight
        if self.attribute is not None:
            for j, column in enumerate(self.attribute.dask_columns):
                out[self.attribute.argument_of(j)] = column
        return out

    def split(self, parts, *, y=True):
        """A partition's ``(X, y, weights, attribute parts)`` from the parts
        given in the order of :meth:`collections`."""
        parts = list(parts)
        features = parts.pop(0)
        target = parts.pop(0) if y and self.y is not None else None
        weights = parts.pop(0) if self.sample_weight is not None else None
        n = features.shape[0]
        if weights is None:
            weights = np.ones(n)
        else:
            weights = np.asarray(weights, dtype=float).reshape(-1)
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError("sample_weight has negative, NaN or infinite values.")
        return features, target, weights, parts


def _check_supported(estimator, X):
    """Refuse, before any pass over the rows, what the dask route cannot do."""
    import dask.array as da
    import dask.dataframe as dd

    if not isinstance(X, (dd.DataFrame, da.Array)):
        raise ValueError(
            "X must be a dask DataFrame or a 2-D dask array on the dask route; got "
            f"{type(X).__name__}."
        )
    if isinstance(X, da.Array) and X.ndim != 2:
        raise ValueError(f"X is a {X.ndim}-D dask array; expected 2-D.")
    if getattr(estimator, "solver", "fast") == "cvxpy":
        raise ValueError(
            "solver='cvxpy' states the program with every row in memory; on a dask "
            "collection use solver='fast' (the same solution from the statistics)."
        )


def _set_input_names(estimator, X):
    """``n_features_in_`` and ``feature_names_in_`` as ``validate_data`` sets
    them, from the dask collection's schema."""
    import dask.dataframe as dd

    if isinstance(X, dd.DataFrame):
        columns = list(X.columns)
        estimator.n_features_in_ = len(columns)
        if columns and all(isinstance(c, str) for c in columns):
            estimator.feature_names_in_ = np.asarray(columns, dtype=object)
            return [str(c) for c in columns]
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return None
    estimator.n_features_in_ = int(X.shape[1])
    if hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_
    return None


def _as_dask_attribute(routed, X, column_ids, names):
    """The sensitive attribute(s): columns of ``X`` or routed dask values."""
    import dask.dataframe as dd

    spec = SENSITIVE
    n_columns = len(X.columns) if isinstance(X, dd.DataFrame) else int(X.shape[1])
    found = attribute_column_blocks(routed, column_ids, spec, names, n_columns)
    if found is not None:
        ids, blocks = found
        for column_id, block in zip(ids, blocks):
            if len(block) != 1:
                raise ValueError(
                    f"{spec.ids}={column_id!r} names the one-hot columns "
                    f"{[names[j] for j in block]!r}; on a dask collection name the "
                    "attribute's label column (or route it as sensitive_features)."
                )
        positions = [block[0] for block in blocks]
        columns, attr_names = [], []
        for j in positions:
            name = names[j] if names is not None else j
            columns.append(X.iloc[:, j] if isinstance(X, dd.DataFrame) else X[:, j])
            attr_names.append(name)
        argument = (f"X[{attr_names[0]!r}] ({spec.ids})" if len(ids) == 1
                    else f"X[{attr_names!r}] ({spec.ids})")
        return DaskAttribute(columns, attr_names, argument, positions)
    if routed is None:
        return None
    if not is_dask_collection(routed):
        raise ValueError(
            f"{spec.values} must be a dask Series, DataFrame or array aligned with X "
            "when X is a dask collection (or name X's columns with "
            f"{spec.ids})."
        )
    if isinstance(routed, dd.DataFrame):
        cols = list(routed.columns)
        if not cols:
            raise ValueError(f"{spec.values} has no column.")
        if len(set(cols)) != len(cols):
            raise ValueError(f"{spec.values} repeats a column name: {cols!r}.")
        return DaskAttribute([routed[c] for c in cols], cols, spec.values)
    if getattr(routed, "ndim", 1) == 2:
        return DaskAttribute([routed[:, j] for j in range(routed.shape[1])],
                             [None] * routed.shape[1], spec.values)
    name = getattr(routed, "name", None) if isinstance(routed, dd.Series) else None
    return DaskAttribute([routed], [name], spec.values)


def dask_fit_rows(estimator, X, y, *, sensitive_features, sample_weight, target,
                  fused=None):
    """Validate dask rows and run the first pass over them.

    Parameters
    ----------
    estimator : the counterfactual estimator (its ``sensitive_feature_ids``
        and ``solver`` are read; ``n_features_in_`` and
        ``feature_names_in_`` are set).
    target : {"classes", "continuous", None}
        What ``y`` is: class labels (their set is collected), a continuous
        target (checked finite; its weighted sum collected), or absent.
    fused : callable, default=None
        ``fused(rows)`` returns ``{name: func}``: further statistics gathered
        in the same pass, ``func(Z, y, weights, attribute)`` on each
        partition (its float inputs, labels, weights and in-memory
        attribute, or None), summed into ``summary[name]``.

    Returns
    -------
    rows : DaskRows
        With ``summary`` filled in.
    """
    import dask.dataframe as dd

    _check_supported(estimator, X)
    if target is not None and (y is None or not is_dask_collection(y)):
        raise ValueError("y must be a dask Series or array aligned with X when X is a "
                         "dask collection.")
    if target == "continuous":
        check_no_date_target(y)
    if sample_weight is not None and not is_dask_collection(sample_weight):
        raise ValueError("sample_weight must be a dask Series or array aligned with X "
                         "when X is a dask collection.")
    names = _set_input_names(estimator, X)
    attribute = _as_dask_attribute(sensitive_features, X, estimator.sensitive_feature_ids,
                                   names)
    n_columns = estimator.n_features_in_
    used = set(attribute.columns) if attribute is not None else set()
    keep = [j for j in range(n_columns) if j not in used]
    check_columns_left(keep, estimator.sensitive_feature_ids, SENSITIVE)
    if isinstance(X, dd.DataFrame):
        features = X.iloc[:, keep] if used else X
        raw_categorical = [c for c in features.columns
                           if not pd.api.types.is_numeric_dtype(features.dtypes[c])
                           or pd.api.types.is_bool_dtype(features.dtypes[c])]
        if raw_categorical:
            raise ValueError(
                f"X has non-numeric columns {raw_categorical[:5]!r}: on a dask "
                "collection the counterfactual estimators take numeric features (and "
                "the sensitive attribute, of any dtype). One-hot encode those columns "
                "with declared categories before fitting (for example dd.get_dummies on "
                "columns of known categories)."
            )
    else:
        features = X[:, keep] if used else X
    feature_names = [names[j] for j in keep] if names is not None else list(keep)
    rows = DaskRows(features, feature_names, y if target is not None else None,
                    sample_weight, attribute)
    if attribute is not None:
        attribute.rows = rows
    estimator._sensitive_columns = sorted(used)
    columns = [str(c) for c in feature_names]
    extras = fused(rows) if fused is not None else {}
    rows.fused = extras

    def first_pass(*parts):
        # Sums that overflow are inf without numpy's RuntimeWarning: the
        # callers refuse them by name (a weights' total, a column's sums).
        with np.errstate(over="ignore"):
            return _first_pass(*parts)

    def _first_pass(*parts):
        part, target_part, weights, attr_parts = rows.split(parts)
        Z = np.asarray(part, dtype=float) if part.shape[0] else np.empty((0, len(keep)))
        finite = np.isfinite(Z).all(axis=0)
        out = {"n": part.shape[0], "weight": weights.sum(),
               "max_weight": weights.max(initial=0.0),
               "high": Z.max(axis=0, initial=-np.inf), "low": -Z.min(axis=0, initial=np.inf),
               "bad": {columns[j] for j in np.flatnonzero(~finite)},
               "sum": weights @ Z if Z.shape[0] else np.zeros(len(keep))}
        if target == "classes":
            out["classes"] = set(pd.unique(np.asarray(target_part).reshape(-1)))
        elif target == "continuous":
            t = np.asarray(target_part, dtype=float).reshape(-1)
            if not np.isfinite(t).all():
                raise ValueError("y has NaN or infinite values.")
            out["y_sum"] = float(weights @ t) if t.size else 0.0
        local = attribute.local(attr_parts) if attribute is not None else None
        if local is not None and "scm_groups" not in extras:
            out["mass"] = [
                {level: float(weights[local.column(j) == level].sum())
                 for level in pd.unique(local.column(j))}
                for j in range(attribute.n_attributes)
            ]
        if extras:
            # In blocks of rows: the statistics add up, and the temporaries
            # (weighted copies of the inputs) stay small.
            t = np.asarray(target_part).reshape(-1) if target_part is not None else None
            for start in range(0, max(Z.shape[0], 1), EXTRA_BLOCK_ROWS):
                rows_ = slice(start, start + EXTRA_BLOCK_ROWS)
                block_attr = None if local is None else RowAttribute(
                    local.values[rows_], local.names, local.argument, local.columns)
                for name, func in extras.items():
                    stats = func(Z[rows_], None if t is None else t[rows_], weights[rows_],
                                 block_attr)
                    out[name] = stats if start == 0 else _add(out[name], stats)
        return out

    summary = reduce_partitions(first_pass, rows.collections(),
                                combine={"high": "max", "low": "max", "max_weight": "max"})
    if summary["bad"]:
        bad = [c for c in columns if c in summary["bad"]]
        raise ValueError(f"X has NaN or infinite values in columns {bad!r}.")
    if summary["n"] == 0:
        raise ValueError("X has 0 rows; nothing to fit.")
    if not summary["weight"] > 0:
        raise ValueError("sample_weight: every weight is zero; nothing to fit.")
    if attribute is not None:
        if "scm_groups" in extras:  # the weight of each level, from the combinations'
            summary["mass"] = [{} for _ in range(attribute.n_attributes)]
            for key, (weight, _) in summary["scm_groups"]["groups"].items():
                for mass, level in zip(summary["mass"], key):
                    mass[level] = mass.get(level, 0.0) + float(weight)
        summary["levels"] = [attribute_levels(list(m)) for m in summary["mass"]]
    rows.summary = summary
    return rows


def first_partition(rows):
    """The first partition of the rows, in memory: ``(X part, y part,
    weights, attribute or None)`` (X as given: a pandas DataFrame with a
    fresh index, or an ndarray)."""
    import dask

    collections = rows.collections()
    parts = dask.compute(*[_row_blocks(c, a)[0] for a, c in collections.items()])
    part, target, weights, attr_parts = rows.split(parts)
    if isinstance(part, pd.DataFrame):
        part = part.reset_index(drop=True)
    local = rows.attribute.local(attr_parts) if rows.attribute is not None else None
    return part, target, weights, local


def _combinations(attribute, n):
    """The distinct combinations of the attributes' levels in a partition
    (tuples) and each row's index among them."""
    if attribute is None or n == 0:
        return [], np.zeros(n, dtype=np.intp)
    codes, uniques = [], []
    for j in range(attribute.n_attributes):
        c, u = pd.factorize(attribute.column(j))
        codes.append(c)
        uniques.append(u)
    if len(codes) == 1:
        return [(u,) for u in uniques[0]], codes[0]
    combined = np.zeros(n, dtype=np.int64)
    for c, u in zip(codes, uniques):
        combined = combined * len(u) + c
    inverse, present = pd.factorize(combined)
    keys = []
    for value in present:
        digits = []
        for u in reversed(uniques):
            value, d = divmod(int(value), len(u))
            digits.append(u[d])
        keys.append(tuple(reversed(digits)))
    return keys, inverse


class GroupedGram:
    """Per partition, the statistics every linear SCM of the worlds is fitted
    from (:func:`scm_from_groups`): the weighted Gram matrix of the inputs
    measured from ``offset`` (the first partition's mid-ranges, known before
    the pass), and, per combination of the sensitive attributes' levels,
    the weight of its rows and their weighted column sums. The SCM's design
    is the inputs and the attributes' indicators, which are constant on a
    combination's rows, so its Gram matrix follows exactly from these: the
    SCM needs no pass of its own."""

    def __init__(self, offset):
        self.offset = offset

    def __call__(self, Z, target, weights, attribute):
        from scipy import sparse

        n = Z.shape[0]
        Zc = Z - self.offset
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            gram = _weighted_gram(Zc, weights)  # checked when used
        keys, codes = _combinations(attribute, n)
        select = sparse.csr_matrix((weights, (codes, np.arange(n))), shape=(len(keys), n))
        counts, sums = np.asarray(select.sum(axis=1)).reshape(-1), select @ Zc
        return {"gram": gram,
                "groups": {key: (counts[i], sums[i]) for i, key in enumerate(keys)}}

    @classmethod
    def from_first(cls, Z):
        """The offsets: the first partition's mid-ranges."""
        if Z.shape[0] == 0 or not np.isfinite(Z).all():
            return None
        return cls(Z.min(axis=0) / 2 + Z.max(axis=0) / 2)


#: The spreads (largest distance from the offset) between which a column's
#: Gram matrix is formed unscaled and scaled after the pass: there its
#: squares and products neither overflow nor lose digits below the normal
#: range, so scaling them by powers of two afterwards gives the products of
#: the scaled columns exactly (outside, the SCM takes passes of its own).
SAFE_SPREAD = (2.0**-250, 2.0**250)


def scm_from_groups(graph, rows, variable_of, nodes, levels):
    """The linear SCM of ``graph`` fitted from the statistics of
    :class:`GroupedGram` gathered in the rows' first pass (``rows.summary
    ["scm_groups"]``), or None when they are missing or do not apply (a node
    neither an input nor a sensitive attribute; sums out of the float
    range): the caller then fits the SCM with passes of its own.

    The result equals :meth:`LinearSCM.fit` on the rows in the SCM's
    variables to rounding: the same Gram matrix of ``[1, design]`` (each
    numeric column measured from an offset and divided by a power of two
    near its spread over all rows), assembled from the combinations' sums.
    """
    from ..causal import LinearSCM

    summary = rows.summary
    stats = summary.get("scm_groups")
    if stats is None or summary["n"] < 2:
        return None
    position = {variable_of[c]: j for j, c in enumerate(rows.names)}
    node_at = {v: j for j, v in enumerate(nodes)}
    if any(v not in node_at and v not in position for v in graph.nodes):
        return None
    offset_x = rows.fused["scm_groups"].offset
    # Scale each column by a power of two near its spread over all rows, as
    # LinearSCM.fit does (exact).
    low, high = -summary["low"], summary["high"]
    spread = np.maximum(high - offset_x, offset_x - low)
    if np.any((spread != 0) & ((spread < SAFE_SPREAD[0]) | (spread > SAFE_SPREAD[1]))):
        return None
    shift_x = exponents_below(spread)
    change = -shift_x
    gram_x = times_power_of_two(stats["gram"], change[:, None] + change[None, :])
    categories = {v: np.asarray(levels[j], dtype=object)
                  for v, j in node_at.items() if v in set(graph.nodes)}
    scm = LinearSCM(graph)
    scm._setup_from(graph, categories)
    D = scm._n_design
    B = np.zeros((1 + D, len(rows.names)))
    offset, shift = np.zeros(D), np.zeros(D, dtype=int)
    peak = np.ones(D)
    indicators = []  # (design column, attribute, level)
    for v in scm.variables_:
        cols = scm._index[v]
        if v in categories:
            indicators.extend((1 + c, node_at[v], lvl)
                              for c, lvl in zip(cols, categories[v][1:]))
        else:
            j = position[v]
            B[1 + cols[0], j] = 1.0
            offset[cols[0]], shift[cols[0]] = offset_x[j], shift_x[j]
            peak[cols[0]] = max(abs(high[j]), abs(low[j]))
    if not np.isfinite(gram_x).all():
        return None
    gram = B @ gram_x @ B.T
    level_weights = {v: np.zeros(len(categories[v])) for v in categories
                     if not graph.parents(v)}
    for key, (count, sums) in stats["groups"].items():
        a = np.zeros(1 + D)
        a[0] = 1.0
        for col, j, lvl in indicators:
            a[col] = float(key[j] == lvl)
        cross = np.outer(a, B @ times_power_of_two(sums, change))
        gram += count * np.outer(a, a) + cross + cross.T
        for v, weights in level_weights.items():
            weights += count * (np.asarray(categories[v], dtype=object) == key[node_at[v]])
    total = gram[0, 0]
    if not (np.isfinite(gram).all() and total > 0):
        return None
    scm._fit_statistics(graph, gram / total, shift, offset, level_weights, peak)
    return scm


def dask_scm_frame(world, inputs, rows, nodes, levels):
    """The rows in the SCM's variables (a lazily built dask dataframe, one
    partition per partition of ``X``), as :meth:`World.scm_frame` and
    ``_sensitive_frame`` build them in memory."""
    import dask
    import dask.dataframe as dd

    from ._base import _sensitive_frame

    collections = rows.collections(y=False)
    collections.pop("sample_weight", None)
    arguments = list(collections)
    blocks = [_row_blocks(collections[a], a) for a in arguments]
    counts = {len(b) for b in blocks}
    if len(counts) > 1:
        shown = ", ".join(f"{a} {len(b)}" for a, b in zip(arguments, blocks))
        raise ValueError(f"the dask collections are not aligned: {shown} partitions.")
    attribute = rows.attribute

    def convert(part, *attr_parts):
        if isinstance(part, pd.DataFrame):
            part = part.reset_index(drop=True)
        frame = world.scm_frame(inputs, part)
        return _sensitive_frame(frame, nodes, attribute.local(list(attr_parts)), levels)

    # The schema, from one made-up row (its values do not matter).
    row = np.zeros((1, len(rows.names)))
    meta = convert(pd.DataFrame(row, columns=rows.features.columns)
                   if isinstance(rows.features, dd.DataFrame) else row,
                   *[pd.Series([lv[0]], dtype=object) for lv in levels]).iloc[:0]

    def build(part, *attr_parts):
        sizes = {part.shape[0], *(p.shape[0] for p in attr_parts)}
        if len(sizes) > 1:
            raise ValueError("the dask collections are not aligned: partitions of "
                             f"different lengths {sorted(sizes)!r}.")
        if part.shape[0] == 0:
            return meta.copy()
        return convert(part, *attr_parts)
    parts = [dask.delayed(build, pure=True)(*p) for p in zip(*blocks)]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def scm_first_pass(rows, graph, variable_of, nodes, levels):
    """The first pass of :meth:`LinearSCM.fit` on the rows in the SCM's
    variables, from the rows' summary (their columns' ranges, the
    attributes' levels), or None when a node of ``graph`` is neither."""
    summary = rows.summary
    position = {variable_of[c]: j for j, c in enumerate(rows.names)}
    high, low = [], []
    for v in graph.nodes:
        if v in set(nodes):
            continue
        if v not in position:
            return None
        high.append(summary["high"][position[v]])
        low.append(summary["low"][position[v]])
    return {"n": summary["n"], "levels": {v: set(lv) for v, lv in zip(nodes, levels)},
            "high": np.asarray(high), "low": np.asarray(low),
            "weight": np.array([summary["weight"]]), "max_weight": summary["max_weight"]}


def dask_check_fitted_scm(check, rows):
    """Run ``check(frame_part, attribute_part)`` on every partition (a fitted
    SCM's unseen-level checks)."""

    def apply(*parts):
        part, _, _, attr_parts = rows.split(parts, y=False)
        if isinstance(part, pd.DataFrame):
            part = part.reset_index(drop=True)
        if part.shape[0]:
            check(part, rows.attribute.local(attr_parts))
        return 0

    reduce_partitions(apply, rows.collections(y=False))


class CentredGram:
    """Per partition, the regressor's statistics gathered in the rows' first
    pass: the weight, the weighted sums, Gram matrix and cross products of
    the inputs and ``y`` measured from offsets (the first partition's
    mid-ranges with an intercept, 0 without), from which
    :func:`dask_centred_gram` centres them at the weighted means."""

    def __init__(self, x_offset, y_offset):
        self.x_offset, self.y_offset = x_offset, y_offset

    def __call__(self, Z, target, weights, attribute):
        Xc = Z - self.x_offset
        yc = np.asarray(target, dtype=float).reshape(-1) - self.y_offset
        weighted = Xc * weights[:, None]
        with np.errstate(over="ignore", invalid="ignore"):  # checked in the solve
            return (float(weights.sum()), weighted.sum(axis=0), float(weights @ yc),
                    weighted.T @ Xc, weighted.T @ yc, float(weights @ yc**2))

    @classmethod
    def from_first(cls, first, fit_intercept):
        Z = np.asarray(first[0], dtype=float)
        y = np.asarray(first[1], dtype=float).reshape(-1)
        if not fit_intercept or Z.shape[0] == 0:
            return cls(np.zeros(Z.shape[1]), 0.0)
        if not (np.isfinite(Z).all() and np.isfinite(y).all()):
            return None
        return cls(Z.min(axis=0) / 2 + Z.max(axis=0) / 2, y.min() / 2 + y.max() / 2)


def dask_centred_gram(rows, fit_intercept):
    """Weighted means of the inputs and of ``y``, the centred Gram matrix of
    the inputs, their cross products with ``y`` and ``y``'s weighted sum of
    squares: from the :class:`CentredGram` of the rows' first pass when it
    has one, else in one pass (the means from the first pass)."""
    terms = rows.fused.get("centred")
    if terms is not None:
        W, sx, sy, xx, xy, yy = rows.summary["centred"]
        if not fit_intercept:
            return xx, xy, np.zeros_like(sx), 0.0, yy
        with np.errstate(over="ignore", invalid="ignore"):  # checked in the solve
            dx, dy = sx / W, sy / W  # the means, from the offsets
            return (xx - np.outer(sx, dx), xy - sx * dy, terms.x_offset + dx,
                    terms.y_offset + dy, yy - sy * dy)
    total = rows.summary["weight"]
    if fit_intercept:
        x_mean = rows.summary["sum"] / total
        y_mean = rows.summary["y_sum"] / total
    else:
        x_mean, y_mean = np.zeros_like(rows.summary["sum"]), 0.0

    def gram(*parts):
        part, target, weights, _ = rows.split(parts)
        Xc = np.asarray(part, dtype=float) - x_mean
        yc = np.asarray(target, dtype=float).reshape(-1) - y_mean
        weighted = Xc * weights[:, None]
        return weighted.T @ Xc, weighted.T @ yc, float(weights @ yc**2)

    H, g, yy = reduce_partitions(gram, rows.collections())
    return H, g, x_mean, y_mean, yy


def _weighted_gram(Z, weights):
    """``Z' diag(weights) Z`` for non-negative weights, as one symmetric
    rank-k product (BLAS syrk: half the work of a general product)."""
    if np.all(weights == 1.0):  # unweighted rows: no weighted copy
        return Z.T @ Z
    B = Z * np.sqrt(weights)[:, None]
    return B.T @ B


def _logistic_stats(Z, sign, weights, coef, intercept):
    """The weighted logistic loss ``sum_i w_i log(1 + exp(-s_i (Z_i c + b)))``
    of one partition at ``(c, b)`` (no penalty), its gradient and Hessian
    in ``(c, b)``: of shape ``(p + 1,)`` and ``(p + 1, p + 1)``, the
    intercept last."""
    p = Z.shape[1]
    margin = sign * (Z @ coef + intercept)
    loss = -float(weights @ log_expit(margin))
    wrong = expit(-margin)  # the probability of the other class
    r = -sign * wrong * weights
    curvature = weights * wrong * (1.0 - wrong)
    grad = np.empty(p + 1)
    hess = np.empty((p + 1, p + 1))
    grad[:p] = Z.T @ r
    grad[p] = r.sum()
    hess[:p, :p] = _weighted_gram(Z, curvature)
    hess[:p, p] = hess[p, :p] = Z.T @ curvature
    hess[p, p] = curvature.sum()
    return loss, grad, hess


def _projection(N, fit_intercept):
    """``P`` with ``(c, b) = P theta``: ``theta`` is ``(z, b)`` with
    ``c = N z`` (``b = 0`` without an intercept)."""
    p, q = N.shape
    P = np.zeros((p + 1, q + (1 if fit_intercept else 0)))
    P[:p, :q] = N
    if fit_intercept:
        P[p, q] = 1.0
    return P


def _multinomial_stats(Z, codes, weights, W, b):
    """The weighted multinomial loss ``-sum_i w_i log softmax(W Z_i + b)[y_i]``
    of one partition at ``(W, b)`` (``K`` rows), its gradient and Hessian in
    the coordinates ``(W_1, b_1, ..., W_K, b_K)``: of shape ``(K (p + 1),)``
    and ``(K (p + 1), K (p + 1))``."""
    from scipy.special import logsumexp, softmax

    n, p = Z.shape
    K = W.shape[0]
    scores = Z @ W.T + b
    lse = logsumexp(scores, axis=1)
    loss = float(weights @ (lse - scores[np.arange(n), codes]))
    prob = softmax(scores, axis=1)
    residual = prob * weights[:, None]
    residual[np.arange(n), codes] -= weights
    grad = np.column_stack([residual.T @ Z, residual.sum(axis=0)]).reshape(-1)
    hess = np.empty((K, p + 1, K, p + 1))
    for k in range(K):
        for m in range(k, K):
            c = weights * prob[:, k] * (float(k == m) - prob[:, m])
            block = np.empty((p + 1, p + 1))
            block[:p, :p] = (Z * c[:, None]).T @ Z
            block[:p, p] = block[p, :p] = Z.T @ c
            block[p, p] = c.sum()
            hess[k, :, m, :] = block
            hess[m, :, k, :] = block.T
    return loss, grad, hess.reshape(K * (p + 1), K * (p + 1))


class _LogisticModel:
    """The classifier's (penalised) logistic objective in the coordinates
    ``theta`` of the directions' null space: binary (one score, the second
    class positive: scikit-learn's binary model) or multinomial (``K``
    rows: scikit-learn's multinomial model), each row's coefficients ``N z``
    and its intercept ``b`` (0 without one)."""

    def __init__(self, classes, N, C, fit_intercept):
        self.classes = np.asarray(classes, dtype=object)
        self.K = 1 if len(classes) == 2 else len(classes)
        P1 = _projection(N, fit_intercept)
        self.P = np.kron(np.eye(self.K), P1)
        self.C = C
        self.penalised = np.tile(np.arange(P1.shape[1]) < N.shape[1], self.K)

    def full_stats(self, Z, target, weights, point):
        """The loss, gradient and Hessian at ``point`` (every row's
        coefficients of all the inputs, then its intercept, flattened)."""
        target = np.asarray(target).reshape(-1)
        p = Z.shape[1]
        if self.K == 1:
            return _logistic_stats(Z, _signs(target, self.classes[1]), weights, point[:p],
                                   point[p])
        codes = pd.Index(self.classes).get_indexer(target)
        rows = point.reshape(self.K, p + 1)
        return _multinomial_stats(Z, codes, weights, rows[:, :p], rows[:, p])

    def stats(self, Z, target, weights, theta):
        """:meth:`full_stats` at ``P theta``, in ``theta``'s coordinates."""
        loss, grad, hess = self.full_stats(Z, target, weights, self.P @ theta)
        return loss, self.P.T @ grad, self.P.T @ hess @ self.P

    def penalty(self, share=1.0):
        return np.where(self.penalised, share / self.C, 0.0)

    def penalise(self, stats, theta, share=1.0):
        """``stats`` plus the L2 penalty ``share * |z|^2 / (2 C)`` (every
        row's ``z``; ``N`` has orthonormal columns, so it is the penalty of
        the coefficients ``N z``)."""
        loss, grad, hess = stats
        penalty = self.penalty(share)
        return (loss + 0.5 * float(np.sum(penalty * theta**2)),
                grad + penalty * theta, hess + np.diag(penalty))

    def unpack(self, theta, p):
        """``(coef, intercept)`` of shape ``(K, p)`` and ``(K,)``."""
        point = (self.P @ theta).reshape(self.K, p + 1)
        return point[:, :p], point[:, p]


def _signs(target, positive):
    return np.where(np.asarray(target).reshape(-1) == positive, 1.0, -1.0)


class LogisticStart:
    """Per partition, the unpenalised logistic loss of all the inputs (and an
    intercept per row of coefficients) at a starting point, its gradient and
    Hessian: gathered in the rows' first pass, before the counterfactual
    directions are known, they give :func:`dask_logistic_newton` its first
    step. ``classes`` are the labels the start was fitted on."""

    def __init__(self, point, classes, p):
        self.point, self.classes = point, np.asarray(classes, dtype=object)
        self.model = _LogisticModel(classes, np.eye(p), 1.0, True)

    def __call__(self, Z, target, weights, attribute):
        return self.model.full_stats(Z, target, weights, self.point)


def logistic_warm_start(estimator, rows, first):
    """A start for the classifier's Newton iterations: its problem (the
    worlds, their directions' null space, the penalised logistic fit)
    solved in memory on the first :data:`WARM_START_ROWS` rows of the first
    partition ``first`` (:func:`first_partition`), the penalty scaled by
    their share of the rows (the partitions taken as equally heavy).

    Returns ``LogisticStart`` or None (rows of one class, or on which the
    worlds cannot be fitted: then the iterations start from the solution on
    the first partition in all rows' directions)."""
    import warnings

    from ..base import RowAttribute
    from ._base import ModelInputs, fit_worlds

    part, target, weights, local = first
    k = min(part.shape[0], WARM_START_ROWS)
    part = part.iloc[:k] if isinstance(part, pd.DataFrame) else part[:k]
    target = np.asarray(target).reshape(-1)[:k]
    weights = weights[:k]
    labels = attribute_levels(target) if k else []
    if len(labels) < 2 or not weights.sum() > 0:
        return None
    p = len(rows.names)
    N = np.eye(p)
    if local is not None:
        local = RowAttribute(local.values[:k], local.names, local.argument, local.columns)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                worlds = fit_worlds(estimator.causal_model,
                                    ModelInputs(np.empty((0, p)), rows.names),
                                    part, local, weights)
                estimator._restrict_paths(worlds)
        except ValueError:
            return None
        directions = worlds.directions
        nonzero = [w for w in range(directions.shape[0]) if np.any(directions[w])]
        if nonzero:
            N = null_space(directions[nonzero].reshape(-1, p))
    Z = np.asarray(part, dtype=float)
    if not np.isfinite(Z).all():
        return None
    model = _LogisticModel(labels, N, estimator.C, estimator.fit_intercept)
    share = float(weights.sum()) / (len(_row_blocks(rows.features, "X"))
                                     * float(np.sum(first[2])))
    theta, _, _, _ = _newton(
        lambda t: model.penalise(model.stats(Z, target, weights, t), t, share),
        np.zeros(model.P.shape[1]))
    coef, intercept = model.unpack(theta, p)
    return LogisticStart(np.column_stack([coef, intercept]).reshape(-1), labels, p)


def _first_step(start, stats, model):
    """The Newton step into the directions' null space from a start outside
    it: the minimiser over ``theta`` of the quadratic model of the loss at
    the start (``stats``: loss, gradient, Hessian in all the inputs and the
    intercepts) at ``P theta``, plus the exact penalty. From a start near the
    solution it lands as close to it as a Newton step from a point inside
    (the error squares)."""
    _, grad, hess = stats
    P = model.P
    lhs = P.T @ hess @ P + np.diag(model.penalty())
    rhs = P.T @ (hess @ start.point - grad)
    return np.linalg.lstsq(lhs, rhs, rcond=None)[0]


def dask_logistic_newton(rows, N, classes, C, fit_intercept):
    """L2-regularised logistic regression (binary, or multinomial for more
    than two classes) on the inputs times ``N``, by Newton's method with
    each iteration one pass over the partitions.

    Minimises ``sum_i w_i loss_i + |N Z|^2 / (2 C)`` with the losses of
    scikit-learn's :class:`~sklearn.linear_model.LogisticRegression` (``N``
    has orthonormal columns, so the penalty is ``|Z|^2 / (2 C)``). Its
    gradient and Hessian are sums over rows, so one pass gives both; a step
    that does not decrease the objective enough is halved (Armijo). It
    starts from the first step of :func:`_first_step` when the rows' first
    pass gathered the statistics of a :class:`LogisticStart` for these
    classes (that pass counts as the first iteration), else from the
    solution of the same problem on the first partition (computed here, in
    memory). It stops when a Newton step moves no coefficient by more than
    ``1e-12`` (relative): the estimator's ``tol`` (made for first-order
    solvers) is not used. The solution does not depend on the start (the
    problem is convex, strictly in the coefficients, and every later step is
    checked).

    Returns
    -------
    coef : ndarray of shape (K, N.shape[0])
        ``K = 1`` for two classes.
    intercept : ndarray of shape (K,)
    info : dict
        ``n_iter`` (passes), ``status``, ``objective``.
    """
    model = _LogisticModel(classes, N, C, fit_intercept)
    p = N.shape[0]

    def part_stats(theta, parts):
        part, target, weights, _ = rows.split(parts)
        return model.stats(np.asarray(part, dtype=float), target, weights, theta)

    def oracle(theta):
        stats = reduce_partitions(lambda *parts: part_stats(theta, parts),
                                  rows.collections())
        return model.penalise(stats, theta)

    start = rows.fused.get("logistic_start")
    first_passes = 0
    if start is not None and list(start.classes) == list(model.classes):
        theta = _first_step(start, rows.summary["logistic_start"], model)
        first_passes = 1
    else:
        # A warm start: the same problem on the first partition alone (its
        # penalty scaled by its share of the weight), solved where this runs.
        part, target, weights, _ = rows.first or first_partition(rows)
        share = float(weights.sum()) / float(rows.summary["weight"])
        theta = np.zeros(model.P.shape[1])
        target = np.asarray(target).reshape(-1)
        if share > 0 and set(pd.unique(target)) == set(model.classes):
            Z = np.asarray(part, dtype=float)
            theta, _, _, _ = _newton(
                lambda t: model.penalise(model.stats(Z, target, weights, t), t, share),
                theta)
    theta, value, passes, status = _newton(oracle, theta)
    coef, intercept = model.unpack(theta, p)
    return coef, intercept, {"n_iter": first_passes + passes, "status": status,
                             "objective": value}


def fused_scm_terms(rows):
    """The :class:`GroupedGram` of the rows' first pass (the SCMs' statistics
    gathered with the summary), its offsets and scales from the first
    partition, and that partition (:func:`first_partition`)."""
    first = rows.first = first_partition(rows)
    terms = {}
    if rows.attribute is not None:
        grouped = GroupedGram.from_first(np.asarray(first[0], dtype=float))
        if grouped is not None:
            terms["scm_groups"] = grouped
    return terms, first


class DaskLogisticTerms:
    """The data terms of the logistic objective (binary, or multinomial for
    more than two ``classes``) for dask rows, as
    :class:`~skcausal_trust.fairness._counterfactual._LogisticTerms` gives
    them in memory: each call is one pass over the partitions (the weighted
    loss and its gradients are sums over rows)."""

    def __init__(self, rows, classes):
        self.rows, self.classes = rows, np.asarray(classes, dtype=object)
        self.total_weight = float(rows.summary["weight"])
        self.passes = 0

    def __call__(self, M, theta, b):
        from ._counterfactual import _loss_and_score_gradient

        rows, classes = self.rows, self.classes
        theta, b = np.asarray(theta, dtype=float), np.asarray(b, dtype=float)

        def terms(*parts):
            part, target, weights, _ = rows.split(parts)
            FM = np.asarray(part, dtype=float) @ M
            codes = pd.Index(classes).get_indexer(np.asarray(target).reshape(-1))
            if len(classes) == 2:
                sign, onehot = 2.0 * codes - 1.0, None
            else:
                sign, onehot = None, np.eye(len(classes))[codes]
            loss, dscore = _loss_and_score_gradient(FM @ theta.T + b, sign, onehot, weights)
            return float(loss), dscore.T @ FM, dscore.sum(axis=0)

        loss, grad, grad_b = reduce_partitions(terms, rows.collections())
        self.passes += 1
        return loss, grad, grad_b


def _newton(oracle, theta):
    """Newton's method with Armijo step halving from ``theta``.

    Returns the solution, the objective there, the number of oracle calls and
    the status."""
    value, grad, hess = oracle(theta)
    passes, status = 1, "max_iter reached"
    for _ in range(MAX_NEWTON_ITERATIONS):
        step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        # Converged when the Newton step no longer moves the solution: its
        # quadratic convergence takes it there in a pass or two after the
        # objective stops changing, so the solution is as precise as the
        # gradient's sums (not the square root of that, as with a test on
        # the objective's decrease).
        size = float(np.max(np.abs(step), initial=0.0))
        scale = max(1.0, float(np.max(np.abs(theta), initial=0.0)))
        if size <= STEP_TOLERANCE * scale:
            status = "converged"
            break
        decrement = float(-grad @ step)
        if size <= FINAL_STEP * scale:
            # Quadratic convergence: after a step this small the error is of
            # the order of its square (below 1e-12), so it is taken without
            # a pass to check it; the objective is the quadratic model's.
            theta, value, status = theta + step, value - 0.5 * decrement, "converged"
            break
        step_size = 1.0
        while True:
            candidate = theta + step_size * step
            new_value, new_grad, new_hess = oracle(candidate)
            passes += 1
            if (new_value <= value - 1e-4 * step_size * decrement
                    or new_value <= value + 1e-13 * abs(value) and step_size == 1.0
                    or step_size < 1e-10):
                break
            step_size /= 2.0
        theta, value, grad, hess = candidate, new_value, new_grad, new_hess
    return theta, value, passes, status
