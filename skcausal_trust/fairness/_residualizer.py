"""Counterfactual residualisation: Kusner et al.'s "level 3" features."""

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Integral
from sklearn.utils.validation import check_is_fitted

from ..causal import CausalGraph, LinearSCM
from ..exceptions import NoSensitiveFeaturesWarning
from ..utils._validation import check_weights, keep_state_on_failure, split_sensitive
from ._base import (
    fit_worlds,
    sensitive_argument,
    sensitive_levels,
)

__all__ = ["CounterfactualResidualizer"]


class CounterfactualResidualizer(TransformerMixin, BaseEstimator):
    """Replace the descendants of the sensitive attribute by their residuals.

    Fits a linear additive-noise SCM on the features and the sensitive
    attribute, then outputs every feature that is not a descendant of the
    attribute unchanged and every descendant :math:`X_j` as its abducted
    noise :math:`U_j = X_j - b_j - B_j\\,\\mathrm{pa}(X_j)`. Neither changes
    when the attribute is counterfactually set to another level, so any
    estimator fitted on the output is counterfactually fair under the model:
    Kusner et al.'s "level 3" [1]_. The attribute itself is dropped.

    Read more in the :ref:`User Guide <counterfactual_fairness>`.

    Parameters
    ----------
    causal_model : CausalGraph, LinearSCM or None, default=None
        The causal model, as in
        :class:`CounterfactuallyFairClassifier` (one world). ``None``: the
        attribute causes every feature directly, so every feature is
        residualised on the attribute.
    sensitive_feature_ids : str, int or list of one of them, default=None
        Column of ``X`` holding the sensitive attribute (dropped from the
        output).

    Attributes
    ----------
    scm_ : LinearSCM or None
        The fitted model (``None`` in the fallback without sensitive
        features).
    sensitive_node_ : hashable or None
        The attribute's node.
    sensitive_levels_ : ndarray or None
        Levels of the attribute seen in fit.
    descendants_ : list of str
        Features replaced by residuals.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, if it had string names.

    See Also
    --------
    CounterfactuallyFairClassifier : Constrains a logistic model instead.

    Notes
    -----
    Fitted without sensitive features (as scikit-learn's checks do), the
    transformer warns
    :class:`~skcausal_trust.exceptions.NoSensitiveFeaturesWarning` and passes
    the features through unchanged. At transform time the attribute is needed
    again when it is a parent of a descendant: pass it as
    ``sensitive_features`` (routed to ``transform`` under metadata routing) or
    keep it in ``X``.

    References
    ----------
    .. [1] M. J. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       Fairness", NeurIPS 2017, Sec. 4.1 (level 3).

    Examples
    --------
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import CounterfactualResidualizer
    >>> X, y, a, scm = make_counterfactual_classification(300, random_state=0)
    >>> res = CounterfactualResidualizer(scm.graph_).fit(X, sensitive_features=a)
    >>> res.descendants_
    ['x0', 'x1', 'x2', 'x4', 'x5']
    >>> list(res.get_feature_names_out())[:3]
    ['x0_residual', 'x1_residual', 'x2_residual']
    """

    __metadata_request__fit = {"sensitive_features": True}
    __metadata_request__transform = {"sensitive_features": True}

    _parameter_constraints = {
        "causal_model": [CausalGraph, LinearSCM, None],
        "sensitive_feature_ids": [str, Integral, list, tuple, None],
    }

    def __init__(self, causal_model=None, *, sensitive_feature_ids=None):
        self.causal_model = causal_model
        self.sensitive_feature_ids = sensitive_feature_ids

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y=None, *, sensitive_features=None, sample_weight=None):
        """Fit the SCM.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Numeric features, possibly with the sensitive column.
        y : None
            Ignored.
        sensitive_features : array-like of shape (n_samples,), default=None
            The attribute, when not a column of ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights for the SCM's least squares.

        Returns
        -------
        self : CounterfactualResidualizer
        """
        features, _, sensitive, sensitive_name, names = split_sensitive(
            self, X, sensitive_features=sensitive_features,
            sensitive_feature_ids=self.sensitive_feature_ids, reset=True,
        )
        sw = check_weights(sample_weight, features)
        if sensitive is None:
            warnings.warn(
                "CounterfactualResidualizer was fitted without sensitive features: "
                "it passes the features through unchanged.",
                NoSensitiveFeaturesWarning,
                stacklevel=4,
            )
            scm, node, levels, descendants = None, None, None, []
        else:
            levels = sensitive_levels(
                sensitive, sensitive_argument(self.sensitive_feature_ids, sensitive_name)
            )
            (scm,), node = fit_worlds(
                self.causal_model, features, names, sensitive, sensitive_name, sw
            )
            descendants = [f for f in scm.graph_.descendants(node) if f in names]
        self.scm_ = scm
        self.sensitive_node_ = node
        self.sensitive_levels_ = levels
        self.descendants_ = descendants
        self._feature_names = names
        return self

    def transform(self, X, *, sensitive_features=None):
        """Residualise the descendants of the sensitive attribute.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        sensitive_features : array-like of shape (n_samples,), default=None
            The attribute, when not a column of ``X``; needed when it is a
            parent of a descendant.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out)
            Features in their input order, descendants replaced by residuals;
            the sensitive column dropped.

        Raises
        ------
        ValueError
            If the attribute is needed but not given, or has a level unseen in
            fit.
        """
        check_is_fitted(self)
        features, _, sensitive, sensitive_name, names = split_sensitive(
            self, X, sensitive_features=sensitive_features,
            sensitive_feature_ids=self.sensitive_feature_ids, reset=False,
        )
        if not self.descendants_:
            return features
        node = self.sensitive_node_
        needs_attribute = any(
            node in self.scm_.equations_[d]["parents"] for d in self.descendants_
        )
        if sensitive is None:
            if needs_attribute:
                raise ValueError(
                    f"transform needs the sensitive attribute {node!r} (a parent of "
                    f"{self.descendants_!r}); pass sensitive_features or keep its "
                    "column in X with sensitive_feature_ids."
                )
            sensitive = np.repeat(self.sensitive_levels_[:1], features.shape[0])
        # A numeric attribute is a numeric node of the SCM, which would
        # extrapolate to unseen values silently.
        unseen = ~np.isin(np.asarray(sensitive, dtype=object),
                          np.asarray(self.sensitive_levels_, dtype=object))
        if unseen.any():
            argument = sensitive_argument(self.sensitive_feature_ids, sensitive_name)
            raise ValueError(
                f"{argument} has level(s) "
                f"{sorted({str(v) for v in np.asarray(sensitive)[unseen]})!r} unseen "
                f"in fit; the levels seen in fit are "
                f"{[str(v) for v in self.sensitive_levels_]!r}."
            )
        frame = pd.DataFrame(features, columns=names)
        frame[node] = sensitive
        noise = self.scm_.abduct(frame)
        out = features.copy()
        for d in self.descendants_:
            out[:, names.index(d)] = noise[self.scm_.design_columns_[d][0]].to_numpy()
        return out

    def fit_transform(self, X, y=None, *, sensitive_features=None, sample_weight=None):
        """Fit, then transform the same rows (the attribute used for both).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : None
            Ignored.
        sensitive_features : array-like of shape (n_samples,), default=None
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out)
        """
        return self.fit(
            X, y, sensitive_features=sensitive_features, sample_weight=sample_weight
        ).transform(X, sensitive_features=sensitive_features)

    def get_feature_names_out(self, input_features=None):
        """Output names: ``"<name>_residual"`` for residualised features.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored beyond a consistency check with ``feature_names_in_``.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if input_features.shape[0] != self.n_features_in_ or (
                hasattr(self, "feature_names_in_")
                and not np.array_equal(input_features, self.feature_names_in_)
            ):
                raise ValueError(
                    "input_features is not equal to feature_names_in_ "
                    f"({getattr(self, 'feature_names_in_', None)!r})."
                )
        descendants = set(self.descendants_)
        return np.asarray(
            [f"{n}_residual" if n in descendants else n for n in self._feature_names],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
