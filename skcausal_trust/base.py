"""Base classes of the plugin: the one resolver of per-row attributes.

Two kinds of per-row information reach an estimator beside ``X`` and ``y``:
sensitive attributes (fairness) and environment labels (invariance,
privacy). Each arrives either routed to ``fit`` (``sensitive_features``,
``environments``: scikit-learn's metadata routing, or a Pipeline's
``step__param``) or as columns of ``X`` named by a parameter
(``sensitive_feature_ids``, ``environment_column``), which works in any
Pipeline without routing. :func:`resolve_row_attribute` is the only code
that decides between the two, validates the values and names the source in
its errors; :class:`SensitiveFeaturesMixin` and :class:`EnvironmentsMixin`
give estimators, metrics and scorers one contract each.

The contract, for both kinds:

- routed values or a column of ``X``, never both (``ValueError``);
- every value is a *label*, whatever its dtype: numbers are levels, not
  doses; missing values are an error naming the source;
- the column route removes the attribute's columns from the model's inputs;
- fitted without the attribute (as scikit-learn's checks do), an estimator
  falls back to a documented behaviour and warns (a class users can filter).
"""

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils.validation import validate_data

from .utils._names import columns_of_node
from .utils._validation import check_no_date_columns, check_no_date_target

__all__ = [
    "ENVIRONMENTS",
    "EnvironmentsMixin",
    "RowAttribute",
    "RowAttributeSpec",
    "SENSITIVE",
    "SensitiveFeaturesMixin",
    "attribute_levels",
    "column_positions",
    "environment_codes",
    "numeric_features",
    "resolve_row_attribute",
    "validate_with_attribute",
]


@dataclass(frozen=True)
class RowAttributeSpec:
    """What a per-row attribute is called and how many columns it may have.

    Attributes
    ----------
    values : str
        The fit argument that routes it (``"sensitive_features"``).
    ids : str
        The parameter naming its columns of ``X`` (``"sensitive_feature_ids"``).
    several : bool
        Whether several columns (attributes) are allowed.
    what : str
        A noun for messages (``"sensitive attribute"``).
    """

    values: str
    ids: str
    several: bool
    what: str


SENSITIVE = RowAttributeSpec(
    "sensitive_features", "sensitive_feature_ids", True, "sensitive attribute"
)
ENVIRONMENTS = RowAttributeSpec("environments", "environment_column", False, "environment")


@dataclass
class RowAttribute:
    """Validated per-row attribute(s).

    Attributes
    ----------
    values : ndarray of shape (n_samples, n_attributes), dtype object
        One label per row and attribute (numbers kept as numbers).
    names : list
        The attributes' names: column names of ``X`` (column route), the
        routed Series' name or DataFrame's columns, else ``None``.
    argument : str
        How messages name the source (``"sensitive_features"`` or
        ``"X['sex'] (sensitive_feature_ids)"``).
    columns : list of int
        Positions of ``X``'s columns that held the attribute (column route);
        empty when routed.
    """

    values: np.ndarray
    names: list
    argument: str
    columns: list = field(default_factory=list)

    @property
    def n_attributes(self):
        return self.values.shape[1]

    def column(self, j=0):
        """The labels of attribute ``j``, shape (n_samples,)."""
        return self.values[:, j]

    def labels(self):
        """One label per row: the value for one attribute, a tuple for
        several (their intersection)."""
        if self.n_attributes == 1:
            return self.values[:, 0]
        out = np.empty(self.values.shape[0], dtype=object)
        out[:] = [tuple(row) for row in self.values]
        return out

    def argument_of(self, j):
        """How messages name attribute ``j``."""
        if self.n_attributes == 1:
            return self.argument
        name = self.names[j]
        return f"{self.argument}[{name if name is not None else j!r}]"


def attribute_levels(values):
    """Sorted distinct labels (numbers numerically, others by their text)."""
    unique = list(pd.unique(pd.Series(np.asarray(values, dtype=object))))
    try:
        return np.asarray(sorted(unique), dtype=object)
    except TypeError:
        return np.asarray(sorted(unique, key=str), dtype=object)


def _as_labels(values, argument, n_samples):
    """Validate one attribute's values: shape, missing and infinite values."""
    if isinstance(values, pd.Series):
        series = values
    else:
        array = np.asarray(values)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise ValueError(
                f"{argument} must be 1-dimensional (one column); got shape {array.shape}."
            )
        series = pd.Series(array)
    if series.shape[0] != n_samples:
        raise ValueError(f"{argument} has {series.shape[0]} rows but X has {n_samples}.")
    missing = series.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{argument} has {int(missing.sum())} missing value(s); every row needs "
            "a label (drop or label those rows first)."
        )
    array = series.to_numpy()
    if isinstance(series.dtype, pd.CategoricalDtype) or array.dtype.kind not in "biufc":
        return np.asarray(array, dtype=object)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise ValueError(f"{argument} has infinite values.")
    return np.asarray(array).astype(object)


def _column_position(column_id, names, n_columns, argument):
    if isinstance(column_id, Integral) and not isinstance(column_id, bool):
        if not -n_columns <= column_id < n_columns:
            raise ValueError(
                f"{argument}={column_id!r} is out of range for X with {n_columns} columns."
            )
        return [int(column_id) % n_columns]
    if not isinstance(column_id, str):
        raise ValueError(
            f"{argument} entries must be column names (str) or positions (int); "
            f"got {column_id!r}."
        )
    if names is None:
        raise ValueError(
            f"{argument}={column_id!r} is a column name but X has no column names; "
            "pass a DataFrame (set_output(transform='pandas') on the step before) "
            "or a column position."
        )
    names = list(names)
    exact = [j for j, n in enumerate(names) if n == column_id]
    if exact:
        return exact[:1]
    block = columns_of_node(column_id, names)
    if block:
        return block
    raise ValueError(
        f"{argument}={column_id!r} is not a column of X; its columns are {names!r}."
    )


def _decode_one_hot(frame, node, argument):
    """Labels of a one-hot block ``node_<level>`` (exactly one 1 per row)."""
    values = frame.to_numpy(dtype=float)
    ones = values == 1.0
    if not (np.isin(values, (0.0, 1.0)).all() and (ones.sum(axis=1) == 1).all()):
        raise ValueError(
            f"{argument}={node!r} names the encoded columns {list(frame.columns)!r}, "
            "which are not one-hot indicators (0/1, exactly one 1 per row); pass "
            "the attribute's raw column through the encoder unchanged, or route it "
            "as sensitive_features."
        )
    levels = []
    for column in frame.columns:
        name = column.split("__", 1)[1] if not column.startswith(f"{node}_") else column
        levels.append(name[len(node) + 1:])
    return np.asarray(levels, dtype=object)[np.argmax(ones, axis=1)]


def attribute_column_blocks(routed, column_ids, spec, names, n_columns):
    """Where the column route finds a per-row attribute in ``X``.

    Returns
    -------
    found : tuple of (ids, blocks) or None
        The column ids as a list, and for each the positions of its columns
        in ``X`` (one, or a one-hot block); None when ``column_ids`` is None.

    Raises
    ------
    ValueError
        Both routes given; an empty list; several columns where one is
        expected; an unknown column; a column named twice.
    """
    if routed is not None and column_ids is not None:
        raise ValueError(
            f"pass the {spec.what} either as {spec.values} or through {spec.ids}, "
            "not both."
        )
    if column_ids is None:
        return None
    ids = list(column_ids) if isinstance(column_ids, (list, tuple)) else [column_ids]
    if not ids:
        raise ValueError(f"{spec.ids} is an empty list; name at least one column.")
    if len(ids) > 1 and not spec.several:
        raise ValueError(f"{spec.ids} must name one column; got {column_ids!r}.")
    blocks = [_column_position(c, names, n_columns, spec.ids) for c in ids]
    used = [j for block in blocks for j in block]
    if len(set(used)) != len(used):
        raise ValueError(f"{spec.ids}={column_ids!r} names a column twice.")
    return ids, blocks


def resolve_row_attribute(X, Xv, routed, column_ids, spec, *, names=None):
    """Resolve a per-row attribute: routed values or columns of ``X``.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_columns)
        The input as the user gave it (columns keep their dtype).
    Xv : ndarray of shape (n_samples, n_columns)
        ``X`` after :func:`~sklearn.utils.validation.validate_data`.
    routed : array-like of shape (n_samples,) or (n_samples, n_attributes), or None
        The routed values (``sensitive_features`` or ``environments``).
    column_ids : str, int, list of them, or None
        The column parameter (``sensitive_feature_ids`` or
        ``environment_column``). A name that is not a column but prefixes
        one-hot columns ``<name>_<level>`` (an encoder's output) names that
        block; its level is read back from the indicators.
    spec : RowAttributeSpec
        :data:`SENSITIVE` or :data:`ENVIRONMENTS`.
    names : list of str, default=None
        ``X``'s column names (``feature_names_in_``), if any.

    Returns
    -------
    attribute : RowAttribute or None
        ``None`` when neither is given.
    keep : list of int
        Positions of the columns of ``X`` that are not the attribute.

    Raises
    ------
    ValueError
        Both routes given; an unknown or repeated column; several columns
        where one is expected; wrong shape; missing or infinite values.
    """
    n_samples, n_columns = Xv.shape
    keep = list(range(n_columns))
    found = attribute_column_blocks(routed, column_ids, spec, names, n_columns)
    if found is not None:
        ids, blocks = found
        used = [j for block in blocks for j in block]
        labels, attr_names = [], []
        for column_id, block in zip(ids, blocks):
            name = names[block[0]] if names is not None else block[0]
            if len(block) == 1:
                argument = f"X[{name!r}] ({spec.ids})"
                source = X.iloc[:, block[0]] if isinstance(X, pd.DataFrame) else Xv[:, block[0]]
                labels.append(_as_labels(source, argument, n_samples))
                attr_names.append(name)
            else:
                frame = pd.DataFrame(
                    Xv[:, block], columns=[names[j] for j in block]
                ) if not isinstance(X, pd.DataFrame) else X.iloc[:, block]
                labels.append(_decode_one_hot(frame, column_id, spec.ids))
                attr_names.append(column_id)
        keep = [j for j in keep if j not in set(used)]
        source_argument = (
            f"X[{attr_names[0]!r}] ({spec.ids})" if len(ids) == 1
            else f"X[{attr_names!r}] ({spec.ids})"
        )
        return RowAttribute(np.column_stack(labels), attr_names, source_argument, used), keep
    if routed is None:
        return None, keep
    argument = spec.values
    if isinstance(routed, pd.DataFrame) or np.ndim(routed) == 2:
        frame = routed if isinstance(routed, pd.DataFrame) else pd.DataFrame(np.asarray(routed))
        if frame.shape[1] != 1 and not spec.several:
            raise ValueError(
                f"{argument} must hold one column; got {frame.shape[1]} columns."
            )
        if frame.shape[1] == 0:
            raise ValueError(f"{argument} has no column.")
        named = isinstance(routed, pd.DataFrame)
        attr_names = [c if named else None for c in frame.columns]
        if named and len(set(attr_names)) != len(attr_names):
            raise ValueError(f"{argument} repeats a column name: {attr_names!r}.")
        labels = [
            _as_labels(frame.iloc[:, j],
                       argument if frame.shape[1] == 1
                       else f"{argument}[{attr_names[j] if named else j!r}]",
                       n_samples)
            for j in range(frame.shape[1])
        ]
        return RowAttribute(np.column_stack(labels), attr_names, argument), keep
    name = routed.name if isinstance(routed, pd.Series) else None
    values = _as_labels(routed, argument, n_samples)
    return RowAttribute(values[:, None], [name], argument), keep


def check_columns_left(keep, column_ids, spec):
    """Raise a ValueError naming the column parameter (``spec.ids``) when its
    columns are all of ``X`` (``keep``: the other columns' positions), so
    that the model would have no input."""
    if column_ids is not None and len(keep) == 0:
        raise ValueError(
            f"{spec.ids}={column_ids!r} names every column of X: the model needs at "
            "least one other column as input."
        )


def validate_with_attribute(estimator, X, y=None, *, routed=None, column_ids=None,
                            spec, reset=True, y_numeric=False, require_y=False):
    """``validate_data`` and :func:`resolve_row_attribute` in one step.

    Returns
    -------
    features : DataFrame or ndarray of shape (n_samples, n_kept)
        The other columns: a DataFrame (original dtypes) when ``X`` is one,
        else the validated array's columns.
    y : ndarray or None
    attribute : RowAttribute or None
    feature_names : list
        Names of the kept columns (``feature_names_in_``) or, without names,
        their positions in ``X`` (integers).
    """
    check_column_labels(X)
    common = dict(dtype=None, ensure_all_finite=False, reset=reset)
    if y is not None or require_y:
        if y is not None:
            _check_lengths(X, y)
            if y_numeric:
                check_no_date_target(y)
        Xv, y = validate_frame(estimator, X, y, y_numeric=y_numeric, **common)
    else:
        Xv = validate_frame(estimator, X, **common)
    names = getattr(estimator, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    attribute, keep = resolve_row_attribute(X, Xv, routed, column_ids, spec, names=names)
    check_columns_left(keep, column_ids, spec)
    # A DataFrame keeps its columns' dtypes (categories, strings), even when
    # its column names are not strings (then the positions name them).
    features = X.iloc[:, keep] if isinstance(X, pd.DataFrame) else Xv[:, keep]
    feature_names = [names[j] for j in keep] if names is not None else list(keep)
    return features, y, attribute, feature_names


def check_column_labels(X, argument="X"):
    """A DataFrame's columns are read by name when every label is a string
    (as scikit-learn does) and by position otherwise; then the labels must be
    the positions, or matching a graph to them would be a guess."""
    if not isinstance(X, pd.DataFrame):
        return
    labels = list(X.columns)
    if all(isinstance(c, str) for c in labels):
        return
    if labels != list(range(len(labels))):
        raise ValueError(
            f"{argument}'s column labels {labels[:8]!r} are not all strings, so they "
            "are read by position (as scikit-learn does), but they are not the "
            "positions 0, 1, ...: give the columns string names, or reset them to "
            "their positions."
        )


def validate_frame(estimator, X, *args, **kwargs):
    """``validate_data`` that also takes DataFrames mixing pandas dtypes.

    scikit-learn's ``check_array`` fails on some mixes (a ``category`` column
    beside a ``bool`` or nullable ``Int64``/``boolean`` one: "Cannot cast str
    dtype to float64"); validating an object-typed view of the same frame
    checks the same things (shape, names, feature count). The caller keeps
    using the original frame, with its dtypes.
    """
    try:
        return validate_data(estimator, X, *args, **kwargs)
    except (TypeError, ValueError):
        if not isinstance(X, pd.DataFrame):
            raise
    return validate_data(estimator, X.astype(object), *args, **kwargs)


def _check_lengths(X, y):
    # scikit-learn's own message does not say which argument is wrong.
    from sklearn.utils.validation import _num_samples

    try:
        n_x, n_y = _num_samples(X), _num_samples(y)
    except TypeError:
        return
    if n_x != n_y:
        raise ValueError(f"y has {n_y} samples but X has {n_x}; they must match.")


class SensitiveFeaturesMixin:
    """Mixin of estimators that take sensitive attributes.

    The attribute(s) reach ``fit`` routed as ``sensitive_features`` (one
    column, or a 2-D array / DataFrame with one column per attribute, as in
    fairlearn) or as columns of ``X`` named by the ``sensitive_feature_ids``
    parameter (a name, a position, or a list of them), which are then removed
    from the model's inputs. Several attributes are intersected: every
    combination of their levels is a level.
    """

    _row_attribute = SENSITIVE

    def _validate_sensitive(self, X, y=None, *, sensitive_features=None, reset=True,
                            y_numeric=False, require_y=False):
        return validate_with_attribute(
            self, X, y, routed=sensitive_features,
            column_ids=getattr(self, "sensitive_feature_ids", None),
            spec=SENSITIVE, reset=reset, y_numeric=y_numeric, require_y=require_y,
        )


class EnvironmentsMixin:
    """Mixin of estimators that take environment labels.

    The labels reach ``fit`` routed as ``environments`` or as the column of
    ``X`` named by ``environment_column`` (removed from the predictors).
    """

    _row_attribute = ENVIRONMENTS

    def _validate_environments(self, X, y=None, *, environments=None, reset=True,
                               y_numeric=False, require_y=False):
        return validate_with_attribute(
            self, X, y, routed=environments,
            column_ids=getattr(self, "environment_column", None),
            spec=ENVIRONMENTS, reset=reset, y_numeric=y_numeric, require_y=require_y,
        )


def column_positions(column_ids, names, n_columns, argument):
    """Positions of the columns named (or indexed) by ``column_ids``, a
    name, a position or a list of them; errors name ``argument``."""
    ids = list(column_ids) if isinstance(column_ids, (list, tuple)) else [column_ids]
    out = []
    for column_id in ids:
        positions = _column_position(column_id, names, n_columns, argument)
        if len(positions) != 1:
            raise ValueError(f"{argument}={column_id!r} is not a column of X.")
        out.append(positions[0])
    return out


def numeric_features(features, names, *, argument="X"):
    """The kept columns as a float64 matrix (finite), naming the columns that
    are not numeric.

    Parameters
    ----------
    features : DataFrame or ndarray of shape (n_samples, n_kept)
    names : list of str
        Their names, for messages.

    Raises
    ------
    ValueError
        Naming the date or duration columns (numpy would read them as
        nanoseconds), or the columns that are not numbers.
    """
    from sklearn.utils import check_array

    # Dates and durations convert to float silently (nanoseconds, numpy's
    # unit): refused, named, whatever the other columns are.
    if isinstance(features, pd.DataFrame):
        check_no_date_columns(features.set_axis(list(names), axis=1), argument)
    elif getattr(features, "dtype", None) is not None and features.dtype.kind in "mM":
        check_no_date_columns(pd.DataFrame(features, columns=list(names)), argument)
    try:
        return check_array(features, dtype=np.float64, input_name=argument,
                           ensure_min_features=0)
    except ValueError as exc:
        frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(
            np.asarray(features, dtype=object))
        bad = []
        for name, column in zip(names, frame.columns):
            try:
                np.asarray(frame[column], dtype=np.float64)
            except (TypeError, ValueError):
                bad.append(name)
        if not bad:
            raise
        raise ValueError(
            f"{argument} has non-numeric (categorical or string) columns {bad!r}; "
            "this estimator needs numeric predictors: one-hot encode them first "
            f"(OneHotEncoder in a ColumnTransformer). ({exc})"
        ) from exc


def environment_codes(attribute, *, min_levels=2, what="invariance"):
    """Levels and integer codes of environment labels.

    Raises
    ------
    ValueError
        With fewer than ``min_levels`` distinct environments (naming the
        source and the one level seen).
    """
    labels = attribute.column(0)
    levels = attribute_levels(labels)
    if levels.size < min_levels:
        raise ValueError(
            f"{attribute.argument} has a single environment {levels[0]!r}; {what} "
            "needs data from at least two."
        )
    index = {level: code for code, level in enumerate(levels)}
    codes = np.fromiter((index[v] for v in labels), dtype=np.intp, count=len(labels))
    return levels, codes
