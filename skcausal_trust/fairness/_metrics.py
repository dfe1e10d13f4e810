"""Counterfactual unfairness of any fitted classifier under an SCM."""

import numpy as np
import pandas as pd
from sklearn.utils.metadata_routing import UNUSED, _MetadataRequester

from ..causal import LinearSCM
from ..utils._validation import _resolve_column, check_sensitive_features

__all__ = [
    "counterfactual_unfairness",
    "make_counterfactual_unfairness_scorer",
    "make_group_fairness_scorer",
]

_KINDS = ("probability", "flip")


def _as_frame(X):
    if isinstance(X, pd.DataFrame):
        return X, True
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional; got shape {X.shape}.")
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]), False


def counterfactual_unfairness(
    estimator,
    X,
    *,
    scm,
    sensitive_features=None,
    sensitive_feature_ids=None,
    kind="probability",
    sample_weight=None,
):
    """Counterfactual unfairness of a fitted classifier under a causal model.

    For every sample and every other level :math:`a'` of the sensitive
    attribute, builds the counterfactual twin :math:`x^{(a')}` with ``scm``
    (abduction, action, prediction) and compares the classifier's output on
    the sample and on its twin. ``kind="probability"`` averages the total
    variation distance between the predicted class distributions
    (:math:`|p(x) - p(x^{(a')})|` for binary targets); ``kind="flip"`` is the
    share of pairs whose predicted class changes. Both are 0 for a
    counterfactually fair classifier [1]_.

    Parameters
    ----------
    estimator : fitted classifier
        Anything with ``predict`` (and ``predict_proba`` for
        ``kind="probability"``), for example a Pipeline. It receives ``X``
        and the twins with the same columns.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        The samples. Arrays get the column names ``"x0"``, ``"x1"``, ...
    scm : LinearSCM
        A fitted model whose nodes are columns of ``X`` plus the sensitive
        attribute; columns of ``X`` outside the model are copied to the twins
        unchanged.
    sensitive_features : array-like of shape (n_samples,), default=None
        The attribute, when it is not a column of ``X``. Its node is the
        Series' name if that is a node, else the one node that is not a
        column of ``X``.
    sensitive_feature_ids : str or int, default=None
        The column of ``X`` holding the attribute (kept in ``X``: the
        estimator sees it, and the twins change it).
    kind : {"probability", "flip"}, default="probability"
        What to average (see above).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples.

    Returns
    -------
    unfairness : float
        In [0, 1].

    Raises
    ------
    ValueError
        If ``scm`` is not fitted, the attribute is missing, given twice or has
        one level, ``kind`` is unknown, or the estimator lacks
        ``predict_proba`` for ``kind="probability"``.

    See Also
    --------
    make_counterfactual_unfairness_scorer : The same as a scorer.
    fairlearn.metrics.demographic_parity_difference : A group metric.

    References
    ----------
    .. [1] M. J. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       Fairness", NeurIPS 2017.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import counterfactual_unfairness
    >>> X, y, a, scm = make_counterfactual_classification(500, random_state=0)
    >>> clf = LogisticRegression().fit(X, y)
    >>> round(counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a), 3)
    0.132
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS!r}; got {kind!r}.")
    if not isinstance(scm, LinearSCM) or not hasattr(scm, "equations_"):
        raise ValueError("scm must be a fitted LinearSCM.")
    if kind == "probability" and not hasattr(estimator, "predict_proba"):
        raise ValueError(
            f"kind='probability' needs predict_proba, which "
            f"{type(estimator).__name__} lacks; use kind='flip'."
        )
    frame, is_frame = _as_frame(X)
    n = frame.shape[0]
    columns = list(frame.columns)
    if sensitive_feature_ids is not None and sensitive_features is not None:
        raise ValueError(
            "pass the sensitive attribute either as sensitive_features or through "
            "sensitive_feature_ids, not both."
        )
    if sensitive_feature_ids is not None:
        idx = _resolve_column(sensitive_feature_ids, columns, len(columns))
        node = columns[idx]
        sensitive, _ = check_sensitive_features(frame[node], n, argument=f"X[{node!r}]")
        data = frame
    elif sensitive_features is not None:
        sensitive, name = check_sensitive_features(sensitive_features, n)
        nodes = scm.graph_.nodes
        if name is not None and name in nodes:
            node = name
        else:
            others = [v for v in nodes if v not in set(columns)]
            if len(others) != 1:
                raise ValueError(
                    "cannot tell which node of scm is the sensitive attribute; "
                    f"nodes that are not columns of X: {others!r}."
                )
            node = others[0]
        data = frame.copy()
        data[node] = sensitive
    else:
        raise ValueError(
            "counterfactual_unfairness needs the sensitive attribute: pass "
            "sensitive_features or sensitive_feature_ids."
        )
    if node not in scm.graph_:
        raise ValueError(f"the sensitive attribute {node!r} is not a node of scm.")
    levels = scm.categories_.get(node, np.unique(sensitive))
    if len(levels) < 2:
        raise ValueError("the sensitive attribute needs at least two levels.")
    weights = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    if weights.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},); got {weights.shape}.")

    def to_input(rows_frame):
        rows_frame = rows_frame[columns]
        return rows_frame if is_frame else rows_frame.to_numpy()

    if kind == "probability":
        factual = np.asarray(estimator.predict_proba(to_input(data)))
    else:
        factual = np.asarray(estimator.predict(to_input(data)))
    total, mass = 0.0, 0.0
    for level in levels:
        rows = np.flatnonzero(sensitive != level)
        if rows.size == 0:
            continue
        twins = scm.counterfactual(data.iloc[rows], {node: level})
        if kind == "probability":
            twin_out = np.asarray(estimator.predict_proba(to_input(twins)))
            change = 0.5 * np.abs(twin_out - factual[rows]).sum(axis=1)
        else:
            twin_out = np.asarray(estimator.predict(to_input(twins)))
            change = (twin_out != factual[rows]).astype(float)
        total += np.dot(weights[rows], change)
        mass += weights[rows].sum()
    return float(total / mass)


class _CounterfactualUnfairnessScorer(_MetadataRequester):
    """Scorer: minus the counterfactual unfairness (greater is better)."""

    # ``estimator`` is the scored model, not metadata.
    __metadata_request__score = {"sensitive_features": True, "estimator": UNUSED}

    def __init__(self, scm, kind, sensitive_feature_ids):
        self.scm = scm
        self.kind = kind
        self.sensitive_feature_ids = sensitive_feature_ids

    def __call__(self, estimator, X, y=None, *, sample_weight=None,
                 sensitive_features=None):
        return self.score(estimator, X, y, sample_weight=sample_weight,
                          sensitive_features=sensitive_features)

    def score(self, estimator, X, y=None, *, sample_weight=None,
              sensitive_features=None):
        """Minus the counterfactual unfairness of ``estimator`` on ``X``."""
        return -counterfactual_unfairness(
            estimator,
            X,
            scm=self.scm,
            sensitive_features=sensitive_features,
            sensitive_feature_ids=self.sensitive_feature_ids,
            kind=self.kind,
            sample_weight=sample_weight,
        )

    def __repr__(self):
        return (
            f"make_counterfactual_unfairness_scorer(scm={self.scm!r}, "
            f"kind={self.kind!r}, sensitive_feature_ids={self.sensitive_feature_ids!r})"
        )


def make_counterfactual_unfairness_scorer(scm, *, kind="probability",
                                          sensitive_feature_ids=None):
    """Make a scorer of counterfactual unfairness for model selection.

    The scorer returns **minus** :func:`counterfactual_unfairness`, so that
    greater is better, as scikit-learn's model selection expects.

    Parameters
    ----------
    scm : LinearSCM
        A fitted model (the auditor's, shared by every candidate).
    kind : {"probability", "flip"}, default="probability"
        See :func:`counterfactual_unfairness`.
    sensitive_feature_ids : str or int, default=None
        The column of ``X`` with the attribute. Without it, the scorer needs
        ``sensitive_features`` of the test rows, which scikit-learn routes to
        it when metadata routing is enabled (the scorer requests it by
        default).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None, sample_weight=None,
        sensitive_features=None)``.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import make_counterfactual_unfairness_scorer
    >>> X, y, a, scm = make_counterfactual_classification(300, random_state=0)
    >>> scorer = make_counterfactual_unfairness_scorer(scm)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     cv = cross_validate(LogisticRegression(), X, y, cv=3,
    ...                         scoring={"cf": scorer},
    ...                         params={"sensitive_features": a})
    >>> bool((cv["test_cf"] < 0).all())
    True
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS!r}; got {kind!r}.")
    if not isinstance(scm, LinearSCM) or not hasattr(scm, "equations_"):
        raise ValueError("scm must be a fitted LinearSCM.")
    return _CounterfactualUnfairnessScorer(scm, kind, sensitive_feature_ids)


class _GroupFairnessScorer(_MetadataRequester):
    """Scorer: minus a fairlearn group disparity of ``predict`` (greater is
    better)."""

    __metadata_request__score = {"sensitive_features": True, "estimator": UNUSED}

    def __init__(self, metric, sensitive_feature_ids):
        self.metric = metric
        self.sensitive_feature_ids = sensitive_feature_ids

    def __call__(self, estimator, X, y, *, sample_weight=None, sensitive_features=None):
        return self.score(estimator, X, y, sample_weight=sample_weight,
                          sensitive_features=sensitive_features)

    def score(self, estimator, X, y, *, sample_weight=None, sensitive_features=None):
        """Minus the disparity of ``estimator``'s predictions on ``X``."""
        frame, _ = _as_frame(X)
        if self.sensitive_feature_ids is not None:
            if sensitive_features is not None:
                raise ValueError(
                    "pass the sensitive attribute either as sensitive_features or "
                    "through sensitive_feature_ids, not both."
                )
            columns = list(frame.columns)
            idx = _resolve_column(self.sensitive_feature_ids, columns, len(columns))
            sensitive_features = frame.iloc[:, idx]
        if sensitive_features is None:
            raise ValueError(
                "the group fairness scorer needs the sensitive attribute: route "
                "sensitive_features to it or set sensitive_feature_ids."
            )
        sensitive, _ = check_sensitive_features(sensitive_features, frame.shape[0])
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        y_pred = estimator.predict(X)
        return -float(self.metric(y, y_pred, sensitive_features=sensitive, **kwargs))

    def __repr__(self):
        name = getattr(self.metric, "__name__", repr(self.metric))
        return (f"make_group_fairness_scorer({name}, "
                f"sensitive_feature_ids={self.sensitive_feature_ids!r})")


def make_group_fairness_scorer(metric, *, sensitive_feature_ids=None):
    """Make a scorer from a fairlearn group disparity metric.

    Wraps a function such as
    :func:`fairlearn.metrics.demographic_parity_difference` or
    :func:`fairlearn.metrics.equalized_odds_difference` (signature
    ``metric(y_true, y_pred, *, sensitive_features, sample_weight=None)``)
    into a scorer returning **minus** the disparity of the estimator's
    ``predict``, so that greater is better.

    Parameters
    ----------
    metric : callable
        The fairlearn metric (0 means no disparity).
    sensitive_feature_ids : str or int, default=None
        The column of ``X`` with the attribute. Without it, the scorer needs
        ``sensitive_features`` of the test rows, routed to it under metadata
        routing (requested by default).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=None, sensitive_features=None)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from fairlearn.metrics import demographic_parity_difference
    >>> from sklearn.dummy import DummyClassifier
    >>> from skcausal_trust.fairness import make_group_fairness_scorer
    >>> X = pd.DataFrame({"s": [0, 0, 1, 1], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> y = np.array([0, 1, 0, 1])
    >>> scorer = make_group_fairness_scorer(demographic_parity_difference,
    ...                                     sensitive_feature_ids="s")
    >>> scorer(DummyClassifier().fit(X, y), X, y)
    -0.0
    """
    if not callable(metric):
        raise ValueError(f"metric must be callable; got {metric!r}.")
    return _GroupFairnessScorer(metric, sensitive_feature_ids)
