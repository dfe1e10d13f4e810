"""Counterfactual residualisation: Kusner et al.'s "level 3" features."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Integral
from sklearn.utils.validation import check_is_fitted

from ..causal import CausalGraph, LinearSCM
from ..exceptions import UnknownCategoryWarning
from ..utils._validation import keep_state_on_failure
from ..utils._dask import is_dask_collection, map_aligned_rows, map_rows
from ._base import CounterfactualModelMixin, ModelInputs, check_finite_inputs, fit_worlds

__all__ = ["CounterfactualResidualizer"]


class CounterfactualResidualizer(CounterfactualModelMixin, TransformerMixin, BaseEstimator):
    """Replace the descendants of the sensitive attribute by their residuals.

    Fits a linear additive-noise SCM on the features and the sensitive
    attribute, then outputs every feature that is not a descendant of the
    attribute unchanged and every descendant :math:`X_j` as its abducted
    noise :math:`U_j = X_j - b_j - B_j\\,\\mathrm{pa}(X_j)`. Neither changes
    when the attribute is counterfactually set to another level, so any
    estimator fitted on the output is counterfactually fair under the model:
    Kusner et al.'s "level 3" [1]_. The attribute itself is dropped.

    It takes the same inputs as :class:`CounterfactuallyFairClassifier`: a
    raw DataFrame (categorical columns one-hot encoded inside; each
    indicator of a categorical descendant becomes its residual), a
    ColumnTransformer's pandas output (columns mapped to the graph's nodes by
    name), or an array with a graph over column positions; one or several
    sensitive attributes.

    Read more in the :ref:`User Guide <your_graph_your_columns>`.

    Parameters
    ----------
    causal_model : CausalGraph, LinearSCM or None, default=None
        The causal model, as in
        :class:`CounterfactuallyFairClassifier` (one world). ``None``: the
        attribute causes every feature directly, so every feature is
        residualised on the attribute.
    sensitive_feature_ids : str, int or list of them, default=None
        Column(s) of ``X`` holding the sensitive attribute(s) (dropped from
        the output). The route to use in a model search: the attribute stays
        in ``X``, so ``transform`` finds it whatever the scorer.

    Attributes
    ----------
    scm_ : LinearSCM or None
        The fitted model (``None`` in the fallback without sensitive
        features).
    sensitive_node_ : hashable, tuple or None
        The attribute's node (a tuple for several attributes).
    sensitive_levels_ : ndarray or None
        Levels seen in fit (combinations as tuples for several attributes).
    counterfactual_directions_ : ndarray of shape (1, n_levels - 1, \
            n_features_out)
        Change of the (encoded) inputs from the first level to each other.
    descendants_ : list of str
        Input columns replaced by residuals.
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
    the features through unchanged (one-hot encoded, for raw input). At
    transform time the attribute is needed again when it is a parent of a
    descendant: keep it in ``X`` (``sensitive_feature_ids``), or pass it as
    ``sensitive_features``. Unlike the estimators, the transformer does not
    request ``sensitive_features`` under metadata routing by default:
    scikit-learn's scorers call ``predict`` with ``X`` alone, so a routed
    attribute could not reach ``transform`` and a model search would score
    every candidate NaN. Routing it is an explicit choice,
    ``set_fit_request(sensitive_features=True)`` and
    ``set_transform_request(sensitive_features=True)``; it then works with
    ``Pipeline.score`` (the default scoring) and with calls that pass it.

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

    # Not requested by default (unlike the estimators): transform needs the
    # attribute again, and scikit-learn's scorers call predict with X alone,
    # so a routed attribute would make every candidate of a search score NaN.
    # The column route (sensitive_feature_ids) works with any scorer; routing
    # is an explicit choice (set_fit_request and set_transform_request).

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
            Features, possibly with the sensitive column(s). A DataFrame may
            hold categorical columns: they are one-hot encoded inside, and
            each indicator of a descendant is residualised. A dask DataFrame
            or array (numeric features) is fitted from partition statistics,
            and :meth:`transform` of a dask collection is lazy (see
            :ref:`larger_than_memory`).
        y : None
            Ignored.
        sensitive_features : array-like of shape (n_samples,) or \
                (n_samples, n_attributes), default=None
            The attribute(s), when not columns of ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights for the SCM's least squares.

        Returns
        -------
        self : CounterfactualResidualizer

        Raises
        ------
        ValueError
            As :class:`CounterfactuallyFairClassifier` for bad input.
        TypeError
            When ``X`` is in memory and ``y``, ``sensitive_features`` or
            ``sample_weight`` is a dask collection (pass them all as dask
            collections with the same row partitions, or all in memory).
        """
        if is_dask_collection(X):
            from ._dask import dask_fit_rows, fused_scm_terms

            # Dask rows: the worlds' SCMs from the statistics of one pass.
            rows = dask_fit_rows(self, X, None, sensitive_features=sensitive_features,
                                 sample_weight=sample_weight, target=None,
                                 fused=lambda rows: fused_scm_terms(rows)[0])
            n_inputs = len(rows.names)
            inputs = ModelInputs(np.empty((0, n_inputs)), rows.names)
            self._inputs = inputs
            attribute, raw, sw = rows.attribute, rows.features, rows.sample_weight
        else:
            features, _, attribute, raw, sw, inputs = self._fit_inputs(
                X, sensitive_features=sensitive_features, sample_weight=sample_weight
            )
            n_inputs = features.shape[1]
        if attribute is None:
            self._fallback_warning("it passes the features through unchanged.")
            worlds, descendants, needs = None, [], False
        else:
            worlds = fit_worlds(self.causal_model, inputs, raw, attribute, sw)
            world = worlds.worlds[0]
            graph = world.scm.graph_
            below = set()
            for node in worlds.nodes:
                below |= set(graph.descendants(node))
            M = world.M
            residual_cols = [
                j for j in range(M.shape[1])
                if np.any(M[world.scm.design_index([v for v in below]), j])
            ] if below else []
            descendants = [inputs.names[j] for j in residual_cols]
            needs = any(
                node in world.scm.equations_[v]["parents"]
                for v in below for node in worlds.nodes
            )
        self._set_world_attributes(worlds, n_inputs)
        self.scm_ = None if worlds is None else worlds.scms[0]
        self.descendants_ = descendants
        self._worlds = worlds
        self._needs_attribute = needs
        self._feature_names = list(inputs.names)
        return self

    def transform(self, X, *, sensitive_features=None):
        """Residualise the descendants of the sensitive attribute.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        sensitive_features : array-like of shape (n_samples,) or \
                (n_samples, n_attributes), default=None
            The attribute(s), when not columns of ``X``; needed when one is a
            parent of a descendant.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out)
            The model's input columns (categorical columns one-hot encoded)
            in order, descendants replaced by residuals; the sensitive
            columns dropped.

        Raises
        ------
        ValueError
            If the attribute is needed but not given, or has a level unseen in
            fit.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return self._transform_dask(X, sensitive_features)
        if self._worlds is None:
            return self._predict_inputs(X)
        features, _, attribute, _ = self._validate_sensitive(
            X, sensitive_features=sensitive_features, reset=False
        )
        Z = self._inputs.transform(features)
        check_finite_inputs(Z, self._inputs.names)
        if not self.descendants_:
            return Z
        worlds = self._worlds
        world = worlds.worlds[0]
        n = Z.shape[0]
        if attribute is None:
            if self._needs_attribute:
                raise ValueError(
                    f"transform needs the sensitive attribute {self.sensitive_node_!r} "
                    f"(a parent of {self.descendants_[:5]!r}); pass "
                    "sensitive_features or keep its column in X with "
                    "sensitive_feature_ids."
                )
            values = np.tile(np.asarray([lv[0] for lv in worlds.levels], dtype=object),
                             (n, 1))
        else:
            if attribute.n_attributes != len(worlds.nodes):
                raise ValueError(
                    f"{attribute.argument} has {attribute.n_attributes} attribute(s); "
                    f"fit had {len(worlds.nodes)}."
                )
            values = attribute.values
            for j, levels in enumerate(worlds.levels):
                unseen = ~np.isin(values[:, j], levels)
                if unseen.any():
                    raise ValueError(
                        f"{attribute.argument_of(j)} has level(s) "
                        f"{sorted({str(v) for v in values[unseen, j]})!r} unseen in "
                        f"fit; the levels seen in fit are {[str(v) for v in levels]!r}."
                    )
        frame = world.scm_frame(self._inputs, features)
        for j, node in enumerate(worlds.nodes):
            frame[node] = values[:, j]
        frame = _baseline_for_unseen(frame, world.scm, worlds.nodes)
        design = world.scm.encode(frame)
        # Noise of every design column (0 for roots), mapped to the inputs:
        # an encoded column is an affine image of its node's design columns.
        full = world.scm._noise_design(design)
        residuals = full @ world.M
        out = Z.copy()
        for j, name in enumerate(self._feature_names):
            if name in set(self.descendants_):
                out[:, j] = residuals[:, j]
        return out

    def _transform_dask(self, X, sensitive_features):
        """:meth:`transform` on each partition of a dask ``X`` (and of the
        routed attribute, aligned with it), lazily."""
        columns = [str(c) for c in self.get_feature_names_out()]
        if sensitive_features is None:
            return map_rows(self.transform, X, columns=columns)
        if not is_dask_collection(sensitive_features):
            raise ValueError("sensitive_features must be a dask collection aligned with X "
                             "when X is one.")
        return map_aligned_rows(
            lambda part, attr: self.transform(part, sensitive_features=attr), X,
            {"sensitive_features": sensitive_features}, columns=columns)

    def fit_transform(self, X, y=None, *, sensitive_features=None, sample_weight=None):
        """Fit, then transform the same rows (the attribute used for both).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : None
            Ignored.
        sensitive_features : array-like of shape (n_samples,) or \
                (n_samples, n_attributes), default=None
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


def _baseline_for_unseen(frame, scm, sensitive_nodes):
    """Read a feature level the causal model never saw as its baseline level,
    with a warning naming it (the residual of a row with a rare level missing
    from a training fold is then an approximation, not an error)."""
    unseen = {}
    for v, levels in scm.categories_.items():
        if v in set(sensitive_nodes) or v not in frame.columns:
            continue
        values = np.asarray(frame[v], dtype=object)
        mask = ~np.isin(values, np.asarray(levels, dtype=object))
        if mask.any():
            unseen[v] = (sorted({repr(x) for x in values[mask]})[:5], levels[0])
            column = frame[v].astype(object).to_numpy().copy()
            column[mask] = levels[0]
            frame[v] = column
    if unseen:
        warnings.warn(
            "X has levels unseen when the causal model was fitted: "
            + "; ".join(f"{v!r}: {', '.join(lv)} (read as its baseline {base!r})"
                        for v, (lv, base) in unseen.items())
            + ". Their residuals are computed as for the baseline level.",
            UnknownCategoryWarning,
            stacklevel=3,
        )
    return frame
