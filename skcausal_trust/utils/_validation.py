"""Validation helpers: sample weights, predict-time columns, date columns,
transactional fits. Per-row attributes (sensitive features, environments) are resolved in
:mod:`skcausal_trust.base`."""

import functools

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight, validate_data

__all__ = [
    "check_no_date_columns",
    "check_weights",
    "keep_state_on_failure",
    "kept_columns",
]


def check_no_date_columns(frame, argument, columns=None):
    """Refuse date and duration columns, by name, before anything reads them.

    numpy converts both to float silently, in nanoseconds (its unit, not
    the user's); a model fitted on them is in that unit.

    Parameters
    ----------
    frame : DataFrame
    argument : str
        The argument's name, for the message.
    columns : list, default=None
        The columns to check (``None``: every column).

    Raises
    ------
    ValueError
        Naming the date (``datetime64``, also with a time zone) and duration
        (``timedelta64``) columns.
    """
    columns = list(frame.columns) if columns is None else list(columns)
    dates = [c for c in columns if getattr(frame[c].dtype, "kind", "O") in "mM"]
    if dates:
        raise ValueError(
            f"{argument} has date or duration columns {dates!r}, which numpy would read "
            "as nanoseconds: convert them to numbers in the unit you mean (days since "
            "a date, say) or to categories first."
        )


def check_no_date_target(y, argument="y"):
    """Refuse a date or duration target (in memory or dask), before anything
    reads it: numpy reads it as float in nanoseconds, and a model fitted on
    it predicts in that unit.

    Parameters
    ----------
    y : array-like, Series, DataFrame or dask collection
        Its ``dtype`` (or, for a frame, ``dtypes``) is read; values are not.
    argument : str, default="y"
        The argument's name, for the message.

    Raises
    ------
    ValueError
        Naming ``argument`` and the dtype, for ``datetime64`` (also with a
        time zone) and ``timedelta64`` values.
    """
    dtypes = list(y.dtypes) if hasattr(y, "dtypes") and not hasattr(y, "dtype") else [
        getattr(y, "dtype", None)]
    dates = [d for d in dtypes if getattr(d, "kind", "O") in "mM"]
    if dates:
        raise ValueError(
            f"{argument} has date or duration values (dtype {dates[0]}), which numpy "
            "would read as nanoseconds: convert them to numbers in the unit you mean "
            "(days since a date, say) first."
        )


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
