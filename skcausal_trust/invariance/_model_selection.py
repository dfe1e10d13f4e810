"""Model selection for the worst environment rather than the pooled data."""

import numpy as np
import pandas as pd
from sklearn.metrics import mean_squared_error
from sklearn.utils.metadata_routing import UNUSED, _MetadataRequester

from ..base import ENVIRONMENTS, attribute_levels, resolve_row_attribute

__all__ = ["make_worst_environment_scorer", "worst_fold_refit"]


class _WorstEnvironmentScorer(_MetadataRequester):
    """Scorer: minus the largest per-environment error (greater is better)."""

    __metadata_request__score = {"environments": True, "estimator": UNUSED}

    def __init__(self, metric, environment_column, greater_is_better):
        self.metric = metric
        self.environment_column = environment_column
        self.greater_is_better = greater_is_better

    def __call__(self, estimator, X, y, *, environments=None):
        return self.score(estimator, X, y, environments=environments)

    def score(self, estimator, X, y, *, environments=None):
        """Worst per-environment value of the metric, signed to maximise."""
        Xv = X if isinstance(X, pd.DataFrame) else np.asarray(X)
        names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
        attribute, _ = resolve_row_attribute(
            X, Xv, environments, self.environment_column, ENVIRONMENTS, names=names)
        if attribute is None:
            raise ValueError(
                "the worst-environment scorer needs environments: route them to "
                "it (metadata routing) or set environment_column."
            )
        env = attribute.column(0)
        y = np.asarray(y)
        y_pred = np.asarray(estimator.predict(X))
        values = [
            self.metric(y[env == e], y_pred[env == e]) for e in attribute_levels(env)
        ]
        worst = min(values) if self.greater_is_better else max(values)
        return float(worst if self.greater_is_better else -worst)

    def __repr__(self):
        name = getattr(self.metric, "__name__", repr(self.metric))
        return (f"make_worst_environment_scorer({name}, "
                f"environment_column={self.environment_column!r})")


def make_worst_environment_scorer(metric=mean_squared_error, *,
                                  greater_is_better=False, environment_column=None):
    """Make a scorer of the worst environment's error.

    On a test set holding several environments, the scorer computes
    ``metric`` within each environment and returns the worst value (negated
    when lower is better, so that greater is always better, as scikit-learn's
    model selection expects). Pair it with a cross-validation splitter over
    environments, such as :class:`~sklearn.model_selection.GroupKFold`, and
    with :func:`worst_fold_refit` when each fold holds one environment.

    Parameters
    ----------
    metric : callable, default=mean_squared_error
        ``metric(y_true, y_pred)``.
    greater_is_better : bool, default=False
        Whether a larger ``metric`` is better (for example R^2).
    environment_column : str or int, default=None
        Column of ``X`` with the environment labels; otherwise the scorer
        needs ``environments`` routed to it (requested by default under
        metadata routing).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, environments=None)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyRegressor
    >>> from skcausal_trust.invariance import make_worst_environment_scorer
    >>> X, y = np.zeros((4, 1)), np.array([0.0, 0.0, 1.0, 3.0])
    >>> scorer = make_worst_environment_scorer()
    >>> scorer(DummyRegressor().fit(X, y), X, y, environments=[0, 0, 1, 1])
    -2.0
    """
    if not callable(metric):
        raise ValueError(f"metric must be callable; got {metric!r}.")
    return _WorstEnvironmentScorer(metric, environment_column, greater_is_better)


def worst_fold_refit(score="score"):
    """A ``refit`` callable for GridSearchCV that picks the best worst fold.

    ``GridSearchCV`` ranks candidates by their mean score over the folds. With
    a splitter that holds out one environment per fold (for example
    :class:`~sklearn.model_selection.LeaveOneGroupOut` with the environments
    as groups), the mean is the average environment; pass
    ``refit=worst_fold_refit(name)`` to choose instead the candidate whose
    *worst* held-out environment scores best: the worst environment is what
    robustness to shift asks for, and the in-sample pooled error always
    prefers ordinary least squares (``gamma=1``). The mean over held-out
    environments may pick any ``gamma``. Cross-validated errors flatter the
    chosen candidate; use nested cross-validation to report its error.

    Parameters
    ----------
    score : str, default="score"
        The scorer's name: ``"score"`` for a single scorer, or a key of the
        ``scoring`` dict.

    Returns
    -------
    refit : callable
        ``refit(cv_results) -> index of the chosen candidate``.

    Examples
    --------
    >>> from skcausal_trust.invariance import worst_fold_refit
    >>> results = {"split0_test_score": [-1.0, -2.0], "split1_test_score": [-5.0, -2.5]}
    >>> worst_fold_refit()(results)
    1
    """
    return _WorstFoldRefit(score)


class _WorstFoldRefit:
    """``refit`` callable of :func:`worst_fold_refit`.

    A module-level class rather than a closure, so that a fitted search that
    holds it can be pickled (and sent to joblib or Dask workers).
    """

    def __init__(self, score):
        self.score = score
        self.__name__ = f"worst_fold_refit_{score}"

    def __call__(self, cv_results):
        score = self.score
        keys = sorted(
            k for k in cv_results
            if k.startswith("split") and k.endswith(f"_test_{score}")
        )
        if not keys:
            raise ValueError(
                f"cv_results_ has no split scores for {score!r}; pass the name of "
                "a scorer of the search (a key of scoring, or 'score')."
            )
        splits = np.column_stack([np.asarray(cv_results[k], dtype=float) for k in keys])
        return int(np.nanargmax(splits.min(axis=1)))

    def __repr__(self):
        return f"worst_fold_refit({self.score!r})"
