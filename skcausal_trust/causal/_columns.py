"""From the user's raw columns to a model's input columns, and back.

A causal model is declared on raw columns; a linear model is fitted on
encoded ones. Three pieces connect them:

- :class:`RawColumnEncoder` one-hot encodes the categorical columns of a raw
  DataFrame with scikit-learn's :class:`~sklearn.preprocessing.OneHotEncoder`
  and remembers which raw column (and level) each output column encodes;
- :func:`node_owners` maps encoded column names (for example a
  ColumnTransformer's output) to the graph's nodes by the rule of
  :func:`skcausal_trust.utils._names.match_columns`;
- :func:`design_to_columns` is the linear map from a :class:`LinearSCM`'s
  design space (numeric columns, baseline-dropped indicators) to the encoded
  columns: a counterfactual change of the design maps to the change of the
  model's input exactly, including the real-valued ("soft") indicators of a
  categorical descendant.
"""

import warnings

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder

from ..exceptions import UnknownCategoryWarning
from ..utils._names import describe_rule, match_columns
from ..utils._validation import check_no_date_columns

__all__ = [
    "RawColumnEncoder",
    "design_to_columns",
    "is_categorical_column",
    "node_owners",
]


def is_categorical_column(series):
    """A raw column is categorical when its dtype is ``category``, object or
    string; numbers and booleans (numeric to pandas) are numeric."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    return not pd.api.types.is_numeric_dtype(dtype)


class RawColumnEncoder:
    """One-hot encode the categorical columns of a raw DataFrame.

    Numeric columns pass through unchanged (float64); each categorical column
    ``v`` becomes one indicator per level seen in fit, named ``"v_<level>"``
    (OneHotEncoder's names, every level kept). A level unseen in fit is
    encoded as all zeros (the level has no effect of its own), with an
    :class:`~skcausal_trust.exceptions.UnknownCategoryWarning` naming it.

    Attributes (after :meth:`fit`)
    ------------------------------
    columns_ : list
        The raw columns, in input order.
    categorical_ : list
        The categorical ones.
    names_out_ : list of str
        The output columns.
    owners_ : list
        ``owners_[j]`` is the raw column of output column ``j``.
    levels_ : list
        ``levels_[j]`` is the level encoded by output column ``j`` (``None``
        for a numeric column).
    """

    def fit(self, frame, argument="X"):
        check_no_date_columns(frame, argument)
        self.columns_ = list(frame.columns)
        self.categorical_ = [c for c in self.columns_ if is_categorical_column(frame[c])]
        for c in self.categorical_:
            if frame[c].isna().any():
                raise ValueError(
                    f"{argument}[{c!r}] has {int(frame[c].isna().sum())} missing "
                    "value(s); impute or drop them first."
                )
        self.encoder_ = None
        categories = {}
        if self.categorical_:
            self.encoder_ = OneHotEncoder(
                sparse_output=False, handle_unknown="ignore", dtype=np.float64
            ).fit(frame[self.categorical_].astype(object))
            categories = dict(zip(self.categorical_, self.encoder_.categories_))
        self.names_out_, self.owners_, self.levels_ = [], [], []
        for c in self.columns_:
            if c in categories:
                for level in categories[c]:
                    self.names_out_.append(f"{c}_{level}")
                    self.owners_.append(c)
                    self.levels_.append(level)
            else:
                self.names_out_.append(c)
                self.owners_.append(c)
                self.levels_.append(None)
        seen, clashes = set(), []
        for name in self.names_out_:
            if name in seen:
                clashes.append(name)
            seen.add(name)
        if clashes:
            raise ValueError(
                f"{argument}: the one-hot columns of a categorical column would be "
                f"named {clashes!r}, which are also names of other columns (a "
                "column 'v' with level 'l' becomes 'v_l'); rename the columns."
            )
        return self

    def transform(self, frame, argument="X"):
        """Encoded columns, float64, shape (n_samples, len(names_out_))."""
        blocks = {}
        if self.encoder_ is not None:
            raw = frame[self.categorical_].astype(object)
            missing = raw.isna().to_numpy()
            if missing.any():
                column = self.categorical_[int(np.flatnonzero(missing.any(axis=0))[0])]
                raise ValueError(
                    f"{argument}[{column!r}] has {int(missing[:, self.categorical_.index(column)].sum())} "
                    "missing value(s)."
                )
            unknown = {}
            for c, cats in zip(self.categorical_, self.encoder_.categories_):
                values = raw[c].to_numpy()
                unseen = ~np.isin(values, cats)
                if unseen.any():
                    unknown[c] = sorted({repr(v) for v in values[unseen]})[:5]
            if unknown:
                warnings.warn(
                    f"{argument} has levels unseen in fit: "
                    + "; ".join(f"{c!r}: {', '.join(v)}" for c, v in unknown.items())
                    + ". They are encoded as all-zero indicators (no effect of "
                    "their own).",
                    UnknownCategoryWarning,
                    stacklevel=5,
                )
            encoded = self.encoder_.transform(raw)
            start = 0
            for c, cats in zip(self.categorical_, self.encoder_.categories_):
                blocks[c] = encoded[:, start:start + len(cats)]
                start += len(cats)
        parts = []
        for c in self.columns_:
            if c in blocks:
                parts.append(blocks[c])
            else:
                try:
                    parts.append(frame[c].to_numpy(dtype=np.float64).reshape(-1, 1))
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"{argument}[{c!r}] was numeric in fit but holds values that "
                        f"are not numbers now ({exc})."
                    ) from exc
        out = np.hstack(parts) if parts else np.empty((len(frame), 0))
        numeric = [j for j, lvl in enumerate(self.levels_) if lvl is None]
        if not np.isfinite(out[:, numeric]).all():
            bad = [self.names_out_[j] for j in numeric if not np.isfinite(out[:, j]).all()]
            raise ValueError(
                f"{argument} has NaN or infinite values in columns {bad!r}."
            )
        return out


def node_owners(columns, graph, sensitive_nodes, *, argument="causal_model"):
    """The node of each input column, by the column-name rule.

    Parameters
    ----------
    columns : list
        The model's input columns (the sensitive ones removed).
    graph : CausalGraph
    sensitive_nodes : list
        The graph's sensitive nodes; a column mapping to one of them is an
        error (the model would see the attribute it must be fair to).

    Returns
    -------
    owners : list
        ``owners[j]`` is the node of ``columns[j]``.

    Raises
    ------
    ValueError
        A column that maps to no node or to two; a column that encodes a
        sensitive attribute; a node (other than the sensitive ones) that
        owns no column.
    """
    owners = match_columns(columns, graph.nodes, argument=argument)
    orphans = [c for c, o in zip(columns, owners) if o is None]
    if orphans:
        raise ValueError(
            f"columns {orphans!r} of X are not nodes of {argument} (rule: "
            f"{describe_rule()}); add them to the graph (as isolated nodes if "
            f"nothing causes them). X's columns: {list(columns)!r}; the graph's "
            f"nodes: {graph.nodes!r}."
        )
    leaking = [c for c, o in zip(columns, owners) if o in set(sensitive_nodes)]
    if leaking:
        raise ValueError(
            f"columns {leaking!r} of X encode the sensitive attribute "
            f"{[o for o in owners if o in set(sensitive_nodes)][0]!r}: drop them from "
            "the model's inputs (the model must not read the attribute it is fair "
            "to), or name the attribute in sensitive_feature_ids."
        )
    owned = set(owners) | set(sensitive_nodes)
    unobserved = [v for v in graph.nodes if v not in owned]
    if unobserved:
        raise ValueError(
            f"{argument} has nodes {unobserved!r} that are neither columns of X nor "
            f"the sensitive attribute; every node must be observed. X's columns: "
            f"{list(columns)!r}."
        )
    return owners


def design_to_columns(scm, encoder=None, columns=None, owner_map=None):
    """Linear map from the SCM's design changes to input-column changes.

    Parameters
    ----------
    scm : LinearSCM
        Fitted.
    encoder : RawColumnEncoder, default=None
        The encoding of raw columns (the SCM's nodes) into the input.
    columns : list, default=None
        Without ``encoder``: the input columns, each an SCM node (numeric).
    owner_map : dict, default=None
        With ``encoder``: the node of each raw column, when the names differ
        (a ColumnTransformer prefix).

    Returns
    -------
    M : ndarray of shape (n_design_columns, n_input_columns)
        ``delta_input = delta_design @ M``. A categorical node's baseline
        level (its first category, without a design column) has indicator
        ``1 - sum(others)``, so its column gets minus the change of the
        others; a level of the encoder that the SCM does not know gets 0.

    Raises
    ------
    ValueError
        If an input column's node is not in the SCM, or is categorical in
        the SCM but numeric in the input (or the reverse).
    """
    n_design = len(scm.get_design_columns())
    if encoder is not None:
        owner_map = owner_map or {}
        owners = [owner_map.get(o, o) for o in encoder.owners_]
        levels, names = encoder.levels_, encoder.names_out_
    else:
        owners, levels, names = list(columns), [None] * len(columns), list(columns)
    M = np.zeros((n_design, len(names)))
    for j, (owner, level) in enumerate(zip(owners, levels)):
        if owner not in scm.design_columns_:
            raise ValueError(
                f"input column {names[j]!r} encodes {owner!r}, which is not a "
                f"variable of the causal model; its variables are {scm.variables_!r}."
            )
        idx = scm.design_index([owner])
        categorical = owner in scm.categories_
        if level is None:
            if categorical:
                raise ValueError(
                    f"{owner!r} is categorical in the causal model but a numeric "
                    "column of X; pass its raw labels (or its one-hot columns with "
                    "a graph instead of a fitted model)."
                )
            M[idx[0], j] = 1.0
            continue
        if not categorical:
            raise ValueError(
                f"{owner!r} is numeric in the causal model but categorical in X."
            )
        cats = list(scm.categories_[owner])
        if level == cats[0]:
            M[idx, j] = -1.0
        elif level in cats:
            M[idx[cats.index(level) - 1], j] = 1.0
    return M

