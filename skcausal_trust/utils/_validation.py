"""Validation of sensitive features and of inputs that carry them."""

import functools
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight, _num_samples, validate_data

__all__ = [
    "check_sensitive_features",
    "check_weights",
    "keep_state_on_failure",
    "split_sensitive",
]


def check_sensitive_features(sensitive_features, n_samples, *, argument="sensitive_features"):
    """Validate one sensitive attribute given as an array.

    Parameters
    ----------
    sensitive_features : array-like of shape (n_samples,) or (n_samples, 1)
        One value per row; numbers or labels. A DataFrame must have one
        column.
    n_samples : int
        The expected number of rows.
    argument : str, default="sensitive_features"
        Names the argument in error messages.

    Returns
    -------
    values : ndarray of shape (n_samples,)
        The values (object dtype unless numeric).
    name : hashable or None
        The Series or column name, if any.

    Raises
    ------
    ValueError
        If the shape does not match ``n_samples``, there are several columns,
        or values are missing.
    """
    name = None
    if isinstance(sensitive_features, pd.DataFrame):
        if sensitive_features.shape[1] != 1:
            raise ValueError(
                f"{argument} must hold one column; got a DataFrame "
                f"with {sensitive_features.shape[1]} columns "
                f"{list(sensitive_features.columns)!r}. Combine them into one "
                "column (for example sex x race) first."
            )
        name = sensitive_features.columns[0]
        sensitive_features = sensitive_features.iloc[:, 0]
    if isinstance(sensitive_features, pd.Series):
        name = sensitive_features.name
        values = sensitive_features.to_numpy()
        if isinstance(sensitive_features.dtype, pd.CategoricalDtype):
            values = np.asarray(values, dtype=object)
    else:
        values = np.asarray(sensitive_features)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            f"{argument} must be 1-dimensional (one column); got shape "
            f"{values.shape}."
        )
    if values.shape[0] != n_samples:
        raise ValueError(
            f"{argument} has {values.shape[0]} rows but X has {n_samples}."
        )
    if pd.isna(values).any():
        raise ValueError(
            f"{argument} has {int(pd.isna(values).sum())} missing value(s)."
        )
    if values.dtype.kind in "fc" and not np.isfinite(values).all():
        raise ValueError(f"{argument} has infinite values.")
    if values.dtype.kind not in "biuf":
        values = values.astype(object)
    return values, name


def _resolve_column(column_ids, names, n_features, argument="sensitive_feature_ids"):
    ids = column_ids
    if isinstance(ids, (list, tuple)):
        if len(ids) != 1:
            raise ValueError(f"{argument} must name one column; got {ids!r}.")
        ids = ids[0]
    if isinstance(ids, Integral) and not isinstance(ids, bool):
        if not -n_features <= ids < n_features:
            raise ValueError(
                f"{argument}={column_ids!r} is out of range for X with "
                f"{n_features} columns."
            )
        return int(ids) % n_features
    if names is None:
        raise ValueError(
            f"{argument}={column_ids!r} is a column name but X has no column "
            "names; pass a DataFrame or a column position."
        )
    matches = np.flatnonzero(np.asarray(names, dtype=object) == ids)
    if matches.size == 0:
        raise ValueError(
            f"{argument}={column_ids!r} is not a column of X; its columns are "
            f"{list(names)!r}."
        )
    return int(matches[0])


def split_sensitive(
    estimator,
    X,
    y=None,
    *,
    sensitive_features=None,
    sensitive_feature_ids=None,
    reset=True,
    require_y=False,
    values_argument="sensitive_features",
    ids_argument="sensitive_feature_ids",
):
    """Validate ``X`` and split it into features and the sensitive attribute.

    The sensitive attribute comes either from a column of ``X``
    (``sensitive_feature_ids``, removed from the features) or from the routed
    ``sensitive_features`` array, never both. ``values_argument`` and
    ``ids_argument`` rename both in messages, so the same split serves
    environment labels (``environments`` / ``environment_column``).

    Returns
    -------
    features : ndarray of shape (n_samples, n_features)
        Float64, finite.
    y : ndarray or None
    sensitive : ndarray of shape (n_samples,) or None
    sensitive_name : hashable or None
        The column's name (or ``"x{position}"``), or the routed Series' name.
    feature_names : list of str
        Names of the feature columns (``"x{position}"`` without names).
    """
    if sensitive_feature_ids is not None and sensitive_features is not None:
        raise ValueError(
            f"pass either {values_argument} or {ids_argument}, not both."
        )
    common = dict(dtype=None, ensure_all_finite=False, reset=reset)
    if require_y and y is not None:
        # scikit-learn's own message does not say which argument is wrong.
        try:
            n_x, n_y = _num_samples(X), _num_samples(y)
        except TypeError:
            n_x = n_y = None
        if n_x != n_y:
            raise ValueError(f"y has {n_y} samples but X has {n_x}; they must match.")
    if require_y:
        Xv, y = validate_data(estimator, X, y, **common)
    else:
        Xv = validate_data(estimator, X, **common)
    n_samples, n_columns = Xv.shape
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [f"x{i}" for i in range(n_columns)]
    names = [str(n) for n in names]
    sensitive, sensitive_name = None, None
    if sensitive_feature_ids is not None:
        idx = _resolve_column(
            sensitive_feature_ids,
            getattr(estimator, "feature_names_in_", None),
            n_columns,
            argument=ids_argument,
        )
        sensitive, _ = check_sensitive_features(
            Xv[:, idx], n_samples, argument=f"X[:, {names[idx]!r}] ({ids_argument})"
        )
        if sensitive.dtype == object:
            try:  # numbers stored in an object array
                sensitive = sensitive.astype(float)
            except (TypeError, ValueError):
                pass
        sensitive_name = names[idx]
        keep = [i for i in range(n_columns) if i != idx]
        Xv = Xv[:, keep]
        names = [names[i] for i in keep]
    elif sensitive_features is not None:
        sensitive, sensitive_name = check_sensitive_features(
            sensitive_features, n_samples, argument=values_argument
        )
    try:
        features = check_array(
            Xv, dtype=np.float64, input_name="X", ensure_min_features=0
        )
    except ValueError as exc:
        # "could not convert string to float" names neither X nor the column.
        bad = [n for j, n in enumerate(names) if not _is_numeric(Xv[:, j])]
        if not bad:
            raise
        raise ValueError(
            f"X has non-numeric (categorical or string) columns {bad!r}; features "
            "must be numeric: one-hot encode them first (for example with "
            f"skcausal_trust.causal.one_hot_encode). ({exc})"
        ) from exc
    return features, y, sensitive, sensitive_name, names


def _is_numeric(column):
    try:
        np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def check_weights(sample_weight, X):
    """Validate ``sample_weight``: non-negative, finite, not all zero.

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,)
        Ones when ``sample_weight`` is None.
    """
    sw = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
    if not np.any(sw > 0):
        raise ValueError("sample_weight: every weight is zero; nothing to fit.")
    return sw


def kept_columns(estimator, X, keep):
    """Validate ``X`` at predict time and return the float columns ``keep``
    (the predictors, without the environment or anchor columns fit removed).
    """
    Xv = validate_data(estimator, X, reset=False, dtype=None, ensure_all_finite=False)
    return check_array(np.asarray(Xv[:, keep]), dtype=np.float64, input_name="X")


def keep_state_on_failure(fit):
    """Decorate ``fit`` so that a failed fit leaves the estimator as it was.

    ``validate_data(reset=True)`` sets ``n_features_in_`` and
    ``feature_names_in_`` before the fit can fail: without this a fresh
    estimator would look half-fitted and a fitted one would mix two fits.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        state = dict(self.__dict__)
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    return wrapper
