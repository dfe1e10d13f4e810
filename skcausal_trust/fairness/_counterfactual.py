"""Counterfactually fair (multinomial) logistic regression."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.linalg import block_diag, null_space
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions

from ..causal import CausalGraph, LinearSCM
from ..exceptions import SolverError
from ..utils._scaling import SAFE_MAGNITUDES, weight_total_is_safe
from ..utils._convex import solve_problem
from ..utils._dask import is_dask_collection, map_rows
from ..utils._validation import keep_state_on_failure
from ._base import (MIXED_LABELS, CounterfactualModelMixin, check_class_labels, fit_worlds,
                    free_directions)

__all__ = ["CounterfactuallyFairClassifier"]


class LinearScoreClassifierMixin:
    """Prediction of a fitted linear (multinomial) logistic model on the
    estimator's inputs (``coef_``, ``intercept_``, ``classes_``)."""

    def _data_units_reason(self, on_dask):
        # The L2 penalty weighs the coefficients in the inputs' own units.
        return f"the L2 penalty (C={self.C!r}) is stated in the data's units"

    def _weights_reason(self):
        # The penalty 1/(2C) ||coef||^2 is weighed against sum_i w_i loss_i.
        return f"the L2 penalty (C={self.C!r}) is weighed"

    def _scores(self, Z):
        scores = Z @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def _proba(self, scores):
        if scores.ndim == 1:
            p1 = expit(scores)
            return np.column_stack([1.0 - p1, p1])
        return softmax(scores, axis=1)

    def _labels(self, scores):
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _respond_inputs(self, Z, kind):
        scores = self._scores(np.asarray(Z, dtype=float))
        if kind == "decision":
            return scores
        return self._proba(scores) if kind == "probability" else self._labels(scores)

    def decision_function(self, X):
        """Linear scores.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            As in fit (the sensitive column, if any, is ignored).

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Log-odds of ``classes_[1]`` for binary targets; class logits
            otherwise. A dask collection for a dask ``X`` (computed
            partition by partition when asked).
        """
        if is_dask_collection(X):
            width = None if self.coef_.shape[0] == 1 else [str(c) for c in self.classes_]
            return map_rows(self.decision_function, X, columns=width, name="decision")
        return self._scores(self._predict_inputs(X))

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``. A dask collection for a dask ``X``.
        """
        if is_dask_collection(X):
            return map_rows(self.predict_proba, X, columns=[str(c) for c in self.classes_])
        return self._proba(self.decision_function(X))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        if is_dask_collection(X):
            return map_rows(self.predict_log_proba, X,
                            columns=[str(c) for c in self.classes_])
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return scores - logsumexp(scores, axis=1, keepdims=True)

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            A dask collection for a dask ``X``.
        """
        if is_dask_collection(X):
            return map_rows(self.predict, X, dtype=self.classes_.dtype, name="prediction")
        return self._labels(self.decision_function(X))


class CounterfactuallyFairClassifier(LinearScoreClassifierMixin, CounterfactualModelMixin,
                                     ClassifierMixin, BaseEstimator):
    """Logistic regression constrained to be counterfactually fair.

    Fits an L2-regularised (multinomial) logistic model whose linear score
    (log-odds, or each class's logit) changes by at most ``epsilon`` when the
    sensitive attribute of a sample is counterfactually set to any other
    level (with several sensitive attributes, to any other combination of
    their levels), under each of one or several candidate linear structural
    causal models ("worlds"). ``epsilon=0`` is counterfactual fairness under
    the model [1]_; several worlds enforce it in all of them at once [2]_.

    The causal model is declared on the user's raw columns and the
    estimator takes them as they are:

    - a raw DataFrame: categorical columns (``category``, object or string
      dtype) are one-hot encoded inside with scikit-learn's
      :class:`~sklearn.preprocessing.OneHotEncoder` (every level kept; a
      level unseen in fit is all zeros at predict, with an
      :class:`~skcausal_trust.exceptions.UnknownCategoryWarning`);
    - a ColumnTransformer's pandas output: each input column is mapped to
      the graph node it encodes by its name (``"onehot__occupation_Sales"``
      belongs to ``occupation``: the name is the node or starts with
      ``"<node>_"``, after an optional ``"<transformer>__"`` prefix), and the
      SCM is fitted on the encoded columns (the same counterfactuals as on the
      raw columns for one-hot indicators and affine scalers; after a
      non-linear transformer, a model linear in the transformed units);
    - a numeric array: the graph names columns by position (integer nodes,
      the positions of the array this estimator receives); named nodes on an
      array are an error, never a guess.

    The sensitive attribute(s) are never inputs of the model: taken from
    columns of ``X`` (``sensitive_feature_ids``, removed from the features)
    or routed to :meth:`fit` as ``sensitive_features``. A sensitive
    attribute is categorical whatever its dtype: its levels are those seen
    in fit, and an integer code is a level, not a dose.

    Read more in the :ref:`User Guide <your_graph_your_columns>`.

    Parameters
    ----------
    causal_model : CausalGraph, LinearSCM, list of them, or None, default=None
        The world(s). A :class:`~skcausal_trust.causal.CausalGraph` or an
        unfitted :class:`~skcausal_trust.causal.LinearSCM` is fitted on the
        training data (features plus the sensitive attributes, as
        categorical nodes); a fitted ``LinearSCM`` (for example a true model
        from a simulator) is used as it is, on raw columns or on numeric
        columns that are its own nodes (in its units: after a scaler, pass
        the graph instead). Its nodes are ``X``'s raw column names (integer
        positions for arrays) and one node per sensitive attribute: the
        columns named by ``sensitive_feature_ids``, the names of a routed
        ``sensitive_features`` Series or DataFrame, or else the single node
        that is not a feature. ``None`` uses the graph in which the
        sensitive attributes cause every feature directly.
    epsilon : float, default=0.0
        Largest allowed change of the linear score (log-odds units, >= 0)
        between a sample and any of its counterfactual twins. A change of
        ``epsilon`` in log-odds moves a probability by at most
        ``epsilon / 4``.
    C : float, default=1.0
        Inverse of the L2 regularisation strength, > 0, as in
        :class:`~sklearn.linear_model.LogisticRegression`: the program
        minimises ``sum_i s_i * logloss_i + ||W||^2 / (2 C)`` (the same
        minimiser as ``C * sum_i s_i * logloss_i + ||W||^2 / 2``).
    sensitive_feature_ids : str, int or list of them, default=None
        Column(s) of ``X`` (names or positions) holding the sensitive
        attribute(s); several are intersected. They are removed from the
        model's inputs at fit and ignored at predict (a missing value there
        does not matter). A name that is not a column but prefixes one-hot
        columns ``"<name>_<level>"`` (an encoder's output) names that block,
        read back as one label per row.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised, unconstrained) intercept.
    solver : {"auto", "fast", "cvxpy"}, default="auto"
        ``"fast"`` exploits the linear SCM: every twin differs from its
        sample by the same vector, so the per-sample constraints collapse to
        a few linear constraints on the weights. With ``epsilon=0`` they are
        eliminated and scikit-learn's ``LogisticRegression`` (lbfgs) fits the
        rest; with ``epsilon>0`` the constrained part becomes a box and
        scipy's L-BFGS-B solves the problem. ``"cvxpy"`` states the program
        with one constraint per sample, level and world, and solves it with
        Clarabel: the reference. When the directions are linearly dependent
        (several attributes, whose combinations' directions are sums;
        duplicate worlds) the constraints with ``epsilon>0`` are a polytope
        and the fast path solves the same objective by SLSQP. ``"auto"`` is
        ``"fast"``.
    max_iter : int, default=1000
        Iteration limit of the fast path's optimiser.
    tol : float, default=1e-4
        Stopping tolerance of the fast path's optimiser (projected gradient),
        as in :class:`~sklearn.linear_model.LogisticRegression`. With 1e-8 or
        less the fast path agrees with the cvxpy path to about 1e-8 on small
        problems and 1e-4 on full Adult (86 one-hot features), where lbfgs
        stops on the relative reduction of the objective.

    fair_paths : list or None, default=None
        Path-specific counterfactual fairness [3]_ [4]_: directed paths of the
        graph from a sensitive node to a feature node, as node lists or
        ``"sex -> education-num"`` strings, along which the attribute's effect
        is allowed (each path then enters the model through its last node).
        The constraints bind only the effect along every other path: the
        total effect minus the effect along these (under a linear SCM, the
        products of the edges' coefficients), so they stay linear and the
        fast path applies. ``None``: every path is constrained.
    unfair_paths : list or None, default=None
        The complement: constrain the effect along these paths only. At most
        one of ``fair_paths`` and ``unfair_paths``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features_used) or (n_classes, n_features_used)
        Weights of the model's input columns (``input_features_``); one row
        for binary targets.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    input_features_ : ndarray of shape (n_features_used,)
        The model's input columns: ``X``'s feature columns, each raw
        categorical column replaced by its one-hot indicators
        ``"<column>_<level>"``.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit (the sensitive columns
        included).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, if it had string names.
    scms_ : list of LinearSCM
        The fitted world(s), on raw columns for raw input and on the input
        columns otherwise; empty when fitted without sensitive features.
    sensitive_node_ : hashable, tuple or None
        The sensitive attribute's node in the worlds (a tuple of nodes for
        several attributes).
    sensitive_levels_ : ndarray or None
        Levels seen in fit (for several attributes, every combination of
        their levels as a tuple); the first is the reference of
        ``counterfactual_directions_``.
    counterfactual_directions_ : ndarray of shape (n_worlds, n_levels - 1, \
            n_features_used)
        Change of the inputs when the attribute moves from the first level
        (combination) to each other one, in each world; with ``fair_paths``
        or ``unfair_paths``, the change along the constrained paths only.
    n_free_directions_ : int
        Dimension of the input space the constraints do not touch
        (``n_features_used`` minus the rank of the directions); with
        ``epsilon=0`` and none left, the model is constant (intercepts only)
        and a :class:`~skcausal_trust.exceptions.DegenerateConstraintWarning`
        says so.
    counterfactual_gap_ : float
        Largest change of a class score between a training sample and one of
        its twins, over worlds and levels (``<= epsilon`` up to the solver's
        tolerance).
    solver_path_ : {"fast", "cvxpy", "unconstrained"}
        Which path ran; ``"unconstrained"`` when fitted without sensitive
        features.
    solver_ : str
        The optimiser: ``"lbfgs"`` (scikit-learn), ``"L-BFGS-B"`` or
        ``"SLSQP"`` (scipy), or the cvxpy solver name.
    solver_status_ : str
        The optimiser's final status.
    objective_ : float
        ``sum_i s_i * logloss_i + ||W||^2 / (2 C)`` at the solution.
    n_iter_ : int
        Iterations of the fast path's optimiser (0 for cvxpy).

    Raises
    ------
    ValueError
        From :meth:`fit`: NaN or infinite features, a missing value in a
        categorical column, wrong shapes, an unknown sensitive column, a
        sensitive attribute with one level or with zero total weight on a
        level, a graph that misses feature columns or holds unobserved nodes,
        an input column that maps to no node or to two, named nodes on an
        array, a fitted SCM in which a sensitive attribute is numeric, a
        single class.
    skcausal_trust.exceptions.InfeasibleConstraintError
        Never for linear SCMs (zero weights are always feasible); kept for
        the solver's report.
    skcausal_trust.exceptions.SolverError
        If the cvxpy path fails (every solver tried, with its status). The
        fast path does not raise when it reaches ``max_iter``: it warns
        :class:`~sklearn.exceptions.ConvergenceWarning`, as scikit-learn's
        ``LogisticRegression`` does.

    See Also
    --------
    CounterfactualResidualizer : Makes any downstream estimator
        counterfactually fair by residualising the features.
    counterfactual_unfairness : Measures the counterfactual unfairness of any
        fitted classifier.
    sklearn.linear_model.LogisticRegression : The unconstrained model.

    Notes
    -----
    Write :math:`x^{(a')}` for the twin of sample :math:`x` with the sensitive
    attribute set to :math:`a'` by abduction, action and prediction in world
    :math:`m`. The program is

    .. math::
        \\min_{W, b}\\; C \\sum_i s_i\\, \\ell(y_i, W x_i + b)
        + \\tfrac12 \\|W\\|_F^2 \\quad \\text{s.t.}\\quad
        \\|W (x_i^{(a')} - x_i)\\|_\\infty \\le \\epsilon
        \\;\\; \\forall i, a' \\ne a_i, m.

    In a linear additive-noise SCM, :math:`x^{(a')} - x = T_m (e_{a'} -
    e_{a})` is the same for every sample with level :math:`a`, so the
    constraints are :math:`|W_c (t_{m,k} - t_{m,j})| \\le \\epsilon` for
    the total-effect vectors :math:`t_{m,k}`. Writing
    :math:`W_c = z_c N^\\top + u_c G^\\top` with :math:`N` an orthonormal basis
    of the directions' orthogonal complement and :math:`T^\\top G = I`, the
    constraints bind only :math:`u_c`, and become a box after writing each
    world's level scores as :math:`u = m \\mathbf 1 + v`,
    :math:`m \\in [-\\epsilon, 0]`, :math:`v \\in [0, \\epsilon]^{K-1}`.

    References
    ----------
    .. [1] M. J. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       Fairness", Advances in Neural Information Processing Systems 30
       (NeurIPS), 2017.
    .. [2] C. Russell, M. J. Kusner, J. Loftus and R. Silva, "When Worlds
       Collide: Integrating Different Counterfactual Assumptions in
       Fairness", Advances in Neural Information Processing Systems 30
       (NeurIPS), 2017.
    .. [3] S. Chiappa, "Path-Specific Counterfactual Fairness", AAAI 2019.
    .. [4] R. Nabi and I. Shpitser, "Fair Inference on Outcomes", AAAI 2018.

    Examples
    --------
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import CounterfactuallyFairClassifier
    >>> X, y, a, scm = make_counterfactual_classification(500, random_state=0)
    >>> clf = CounterfactuallyFairClassifier(scm.graph_).fit(
    ...     X, y, sensitive_features=a)
    >>> clf.solver_path_, bool(clf.counterfactual_gap_ < 1e-8)
    ('fast', True)
    """

    __metadata_request__fit = {"sensitive_features": True}

    _parameter_constraints = {
        "causal_model": [CausalGraph, LinearSCM, list, tuple, None],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "sensitive_feature_ids": [str, Integral, list, tuple, None],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "fast", "cvxpy"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "fair_paths": [list, tuple, None],
        "unfair_paths": [list, tuple, None],
    }

    def __init__(
        self,
        causal_model=None,
        *,
        epsilon=0.0,
        C=1.0,
        sensitive_feature_ids=None,
        fit_intercept=True,
        solver="auto",
        max_iter=1000,
        tol=1e-4,
        fair_paths=None,
        unfair_paths=None,
    ):
        self.causal_model = causal_model
        self.epsilon = epsilon
        self.C = C
        self.sensitive_feature_ids = sensitive_feature_ids
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.fair_paths = fair_paths
        self.unfair_paths = unfair_paths

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit the constrained model.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features; may hold the sensitive column(s) named by
            ``sensitive_feature_ids``. A DataFrame may hold categorical
            (``category``, object or string) columns: they are one-hot encoded
            inside. An array must be numeric, and a causal model over it must
            name its columns by position (integer nodes). A dask DataFrame
            or array (numeric features; the sensitive attribute of any dtype)
            is fitted partition by partition, with ``y``, ``sample_weight``
            and a routed ``sensitive_features`` as aligned dask collections:
            the worlds and the first Newton step from one pass, then
            Newton's method (``epsilon=0``; binary or multinomial) or the
            relaxed solver, one pass per step (see :ref:`larger_than_memory`).
        y : array-like of shape (n_samples,)
            Class labels (two or more classes).
        sensitive_features : array-like of shape (n_samples,) or \
                (n_samples, n_attributes), default=None
            The sensitive attribute(s), when not columns of ``X``: a Series,
            or a DataFrame with one column per attribute (intersected).
            Labels of any dtype; numbers are levels, not doses. Requested by
            default under metadata routing. Without it (and without
            ``sensitive_feature_ids``) the model falls back to plain
            L2-regularised logistic regression and warns
            :class:`~skcausal_trust.exceptions.NoSensitiveFeaturesWarning`.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, used by the loss and by the fitted worlds.

        Returns
        -------
        self : CounterfactuallyFairClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            For an input whose largest magnitude is outside
            ``[2**-400, 2**400]`` (about 1e-120 to 1e120): the L2 penalty is
            stated in the data's units, where products of such values
            overflow or lose their digits (scikit-learn's
            ``LogisticRegression`` returns zero coefficients there).
            For ``sample_weight`` whose total is outside the same range, or
            whose total times the square of the inputs' largest magnitude
            exceeds ``2**1000`` (about 1e301): the penalty is weighed against
            the weighted sum of the losses, which overflows or loses its
            digits there. Only the weights' ratios and ``C`` times their total
            define the model (``sample_weight / s`` with ``C * s`` gives the
            same one), so rescaling the weights loses nothing.
        TypeError
            When ``X`` is in memory and ``y``, ``sensitive_features`` or
            ``sample_weight`` is a dask collection (pass them all as dask
            collections with the same row partitions, or all in memory).
        """
        self._check_path_parameters()
        if is_dask_collection(X):
            return self._fit_dask(X, y, sensitive_features, sample_weight)
        features, y, attribute, raw, sw, inputs = self._fit_inputs(
            X, y, sensitive_features=sensitive_features, sample_weight=sample_weight,
            require_y=True,
        )
        check_class_labels(y)
        encoder = LabelEncoder().fit(y)
        classes = encoder.classes_
        if classes.size < 2:
            raise ValueError(
                f"y has only one class ({classes[0]!r}); a classifier needs samples "
                "of at least 2 classes."
            )
        y_codes = encoder.transform(y)

        if attribute is None:
            self._fallback_warning(
                "it falls back to unconstrained L2-regularised logistic regression."
            )
            worlds = None
            directions = np.zeros((0, 1, features.shape[1]))
        else:
            worlds = fit_worlds(self.causal_model, inputs, raw, attribute, sw)
            self._restrict_paths(worlds)
            directions = worlds.directions
        n_free = free_directions(directions, features.shape[1], self.epsilon,
                                 type(self).__name__)

        n_rows = 1 if classes.size == 2 else classes.size
        coef, intercept, info = self._solve(features, y_codes, sw, directions, n_rows,
                                            worlds)
        if n_rows > 1:
            # Softmax is invariant to a common shift of the intercepts: centre
            # them so that every solver reports the same ones.
            intercept = intercept - intercept.mean()
        scores_gap = _scores_gap(directions, coef)
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self._set_world_attributes(worlds, features.shape[1])
        self.input_features_ = np.asarray(inputs.names, dtype=object)
        self.n_free_directions_ = n_free
        self.counterfactual_gap_ = scores_gap
        self.solver_path_ = info["path"]
        self.solver_ = info["solver"]
        self.solver_status_ = info["status"]
        self.n_iter_ = info["n_iter"]
        self.objective_ = _objective(
            features @ coef.T + intercept, y_codes, sw, coef, self.C
        )
        return self

    def _fit_dask(self, X, y, sensitive_features, sample_weight):
        """Fit on a dask collection: the worlds from partition statistics,
        then Newton's method (binary or multinomial) with one pass over the
        partitions per step."""
        from ._dask import (
            DaskLogisticTerms,
            dask_fit_rows,
            dask_logistic_newton,
            fused_scm_terms,
            logistic_warm_start,
        )

        def fused(rows):
            # The first pass also gathers the SCMs' statistics and, for the
            # exact constraints, the loss at a start found on the first
            # partition: three passes in all, not five.
            terms, first = fused_scm_terms(rows)
            try:
                peaks = np.abs(np.asarray(first[0], dtype=float)).max(axis=0, initial=0.0)
            except (TypeError, ValueError):
                peaks = None
            with np.errstate(over="ignore"):
                first_weight = float(np.sum(first[2]))
            # Inputs or weights out of range are refused after the pass.
            if self.epsilon == 0 and (peaks is None or (np.all(
                    (peaks == 0) | ((peaks >= SAFE_MAGNITUDES[0])
                                    & (peaks <= SAFE_MAGNITUDES[1])))
                    and weight_total_is_safe(first_weight, peaks.max(initial=0.0)))):
                start = logistic_warm_start(self, rows, first)
                if start is not None:
                    terms["logistic_start"] = start
            return terms

        rows = dask_fit_rows(self, X, y, sensitive_features=sensitive_features,
                             sample_weight=sample_weight, target="classes", fused=fused)
        try:
            classes = np.asarray(sorted(rows.summary["classes"]))
        except TypeError:
            raise ValueError(MIXED_LABELS) from None
        if classes.size < 2:
            raise ValueError(
                f"y has only one class ({classes[0]!r}); a classifier needs samples "
                "of at least 2 classes."
            )
        n_rows = 1 if classes.size == 2 else classes.size
        p = len(rows.names)
        inputs, worlds, directions = self._dask_worlds(
            rows, "it falls back to unconstrained L2-regularised logistic regression.")
        n_free = free_directions(directions, p, self.epsilon, type(self).__name__)
        constrained = directions.shape[0] > 0 and np.any(directions)
        if constrained and self.epsilon > 0:
            # The relaxed constraints: the in-memory box or polytope solver,
            # its loss and gradient summed over the partitions at each step.
            data = DaskLogisticTerms(rows, classes)
            coef, intercept, info = self._solve(None, None, None, directions, n_rows,
                                                worlds, data=data)
            loss, _, _ = data(np.eye(p), coef, intercept)
            info["objective"] = loss + float(np.sum(coef**2)) / (2.0 * self.C)
            info["n_iter"] = data.passes
            solver = f"{info['solver']} (dask)"
        else:
            if constrained:
                nonzero = [w for w in range(directions.shape[0]) if np.any(directions[w])]
                N = null_space(directions[nonzero].reshape(-1, p))
            else:
                N = np.eye(p)
            coef, intercept, info = dask_logistic_newton(rows, N, classes, self.C,
                                                         self.fit_intercept)
            solver = "newton (dask)"
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self._set_world_attributes(worlds, p)
        self.input_features_ = np.asarray(inputs.names, dtype=object)
        self.n_free_directions_ = n_free
        self.counterfactual_gap_ = _scores_gap(directions, coef)
        self.solver_path_ = "fast" if constrained else "unconstrained"
        self.solver_ = solver
        self.solver_status_ = info["status"]
        self.n_iter_ = info["n_iter"]
        self.objective_ = float(info["objective"])
        return self

    # -- solvers ------------------------------------------------------------
    def _solve(self, features, y, sw, directions, n_rows, worlds, data=None):
        n_features = directions.shape[2]
        if directions.shape[0] == 0 or not np.any(directions):
            path = "unconstrained"
            T = np.zeros((n_features, 0))
        else:
            path = None
            nonzero = [w for w in range(directions.shape[0]) if np.any(directions[w])]
            directions = directions[nonzero]
            T = directions.reshape(-1, n_features).T  # (p, n_worlds * (K - 1))
        solver = self.solver
        if solver == "cvxpy":
            return self._solve_cvxpy(features, y, sw, n_rows, worlds, path or "cvxpy")
        if path == "unconstrained" or self.epsilon == 0:
            return self._solve_eliminated(features, y, sw, T, n_rows, path or "fast")
        rank = np.linalg.matrix_rank(T)
        if rank < T.shape[1]:
            # Several attributes (their combinations' directions are sums),
            # duplicate worlds, more levels than features: the constraints
            # are a polytope, not a box, in the constrained coordinates.
            return self._solve_polytope(features, y, sw, directions, n_rows, data=data)
        n_levels = directions.shape[1] + 1
        return self._solve_box(features, y, sw, T, n_rows, directions.shape[0],
                               n_levels, data=data)

    def _solve_eliminated(self, features, y, sw, T, n_rows, path):
        """epsilon = 0: w = N z with N spanning the directions' complement."""
        N = null_space(T.T) if T.shape[1] else np.eye(features.shape[1])
        n_classes = n_rows if n_rows > 1 else 2
        if N.shape[1] == 0:
            # Every feature direction is constrained: only intercepts remain.
            return self._fit_intercept_only(y, sw, n_classes, n_rows, features.shape[1], path)
        lr = LogisticRegression(
            C=self.C, fit_intercept=self.fit_intercept, max_iter=self.max_iter,
            tol=self.tol, solver="lbfgs",
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            lr.fit(features @ N, y, sample_weight=sw)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        if not converged:
            warnings.warn(
                f"lbfgs did not converge in max_iter={self.max_iter} iterations; "
                "increase max_iter or scale the features.",
                ConvergenceWarning,
                stacklevel=6,
            )
        coef = lr.coef_ @ N.T
        intercept = lr.intercept_.copy() if self.fit_intercept else np.zeros(n_rows)
        info = {"path": path, "solver": "lbfgs",
                "status": "converged" if converged else "max_iter reached",
                "n_iter": int(np.max(lr.n_iter_))}
        return coef, intercept, info

    def _fit_intercept_only(self, y, sw, n_classes, n_rows, n_features, path):
        coef = np.zeros((n_rows, n_features))
        if not self.fit_intercept:
            intercept = np.zeros(n_rows)
        else:
            prior = np.bincount(y, weights=sw, minlength=n_classes) / sw.sum()
            prior = np.clip(prior, 1e-300, None)
            if n_rows == 1:
                intercept = np.array([np.log(prior[1]) - np.log(prior[0])])
            else:
                intercept = np.log(prior) - np.log(prior).mean()
        info = {"path": path, "solver": "closed form", "status": "converged", "n_iter": 0}
        return coef, intercept, info

    def _solve_box(self, features, y, sw, T, n_rows, n_worlds, n_levels, data=None):
        """epsilon > 0: w = N z + G L phi with phi in a box, by L-BFGS-B.

        ``data`` (a :class:`_LogisticTerms`) gives the loss terms; by default
        those of the rows ``features``, ``y``, ``sw`` in memory."""
        eps = float(self.epsilon)
        N = null_space(T.T)
        G = T @ np.linalg.inv(T.T @ T)
        if n_levels == 2:
            L = np.eye(n_worlds)
            lower, upper = np.full(n_worlds, -eps), np.full(n_worlds, eps)
        else:
            blocks, lo, hi = [], [], []
            for _ in range(n_worlds):
                blocks.append(np.column_stack([np.ones(n_levels - 1), np.eye(n_levels - 1)]))
                lo += [-eps] + [0.0] * (n_levels - 1)
                hi += [0.0] + [eps] * (n_levels - 1)
            L = block_diag(*blocks)
            lower, upper = np.array(lo), np.array(hi)
        P = np.hstack([N, G @ L])  # w = P theta
        data = data if data is not None else _LogisticTerms(features, y, sw, n_rows)
        q = P.shape[1]
        n_free = N.shape[1]
        n_b = 1 if self.fit_intercept else 0
        dim = n_rows * (q + n_b)
        total_w = data.total_weight
        reg = 1.0 / (self.C * total_w)

        def unpack(theta):
            theta = theta.reshape(n_rows, q + n_b)
            return theta[:, :q], (theta[:, q] if n_b else np.zeros(n_rows))

        def fun(theta):
            th, b = unpack(theta)
            W = th @ P.T
            loss, grad_scores, grad_b = data(P, th, b)
            value = loss / total_w + 0.5 * reg * np.sum(W * W)
            grad_th = grad_scores / total_w + reg * (W @ P)
            grad = grad_th if not n_b else np.column_stack([grad_th, grad_b / total_w])
            return value, grad.ravel()

        bounds = []
        for _ in range(n_rows):
            bounds += [(None, None)] * n_free
            bounds += list(zip(lower, upper))
            bounds += [(None, None)] * n_b
        lo = np.array([-np.inf if b_ is None else b_ for b_, _ in bounds])
        hi = np.array([np.inf if b_ is None else b_ for _, b_ in bounds])
        # L-BFGS-B can stop on "relative reduction of f <= factr * epsmch" far
        # from the optimum (measured: projected gradient 0.19 with two
        # worlds): restart from where it stopped until the projected gradient
        # meets tol, within max_iter iterations in all.
        theta, used, value = np.zeros(dim), 0, np.inf
        for _ in range(MAX_LBFGS_RESTARTS):
            res = minimize(
                fun, theta, jac=True, method="L-BFGS-B", bounds=bounds,
                options={"maxiter": max(1, self.max_iter - used), "gtol": self.tol,
                         "ftol": 1e-15, "maxcor": 30},
            )
            progress = value - res.fun
            theta, used, value = res.x, used + int(res.nit), res.fun
            gap = _projected_gradient_norm(fun(theta)[1], theta, lo, hi)
            if gap <= self.tol or used >= self.max_iter or progress <= 0:
                break
        # Below about 1e-7 the projected gradient is at the precision of the
        # objective (a mean of log-losses): a tighter tol is met as well as
        # floating point allows, and is not a failure.
        if gap > max(self.tol, PROJECTED_GRADIENT_PRECISION):
            warnings.warn(
                f"L-BFGS-B did not converge in max_iter={self.max_iter} iterations "
                f"({res.message}; projected gradient {gap:.2e} > tol={self.tol}); "
                "increase max_iter or use solver='cvxpy'.",
                ConvergenceWarning,
                stacklevel=6,
            )
        th, b = unpack(theta)
        coef = th @ P.T
        info = {"path": "fast", "solver": "L-BFGS-B",
                "status": ("converged" if gap <= max(self.tol, PROJECTED_GRADIENT_PRECISION)
                           else str(res.message)),
                "n_iter": used}
        return coef, b.copy(), info

    def _solve_polytope(self, features, y, sw, directions, n_rows, data=None):
        """epsilon > 0 with dependent directions: the same smooth objective
        under |(t_k - t_j) . w_c| <= epsilon for every world, pair of levels
        and class row, by SLSQP (a few dozen iterations, each one pass over
        the rows). ``data`` as in :meth:`_solve_box`."""
        eps = float(self.epsilon)
        p = directions.shape[2]
        data = data if data is not None else _LogisticTerms(features, y, sw, n_rows)
        identity = np.eye(p)
        D = pairwise_constraint_rows(directions)
        n_b = 1 if self.fit_intercept else 0
        width = p + n_b
        total_w = data.total_weight
        reg = 1.0 / (self.C * total_w)

        def unpack(theta):
            theta = theta.reshape(n_rows, width)
            return theta[:, :p], (theta[:, p] if n_b else np.zeros(n_rows))

        def fun(theta):
            W, b = unpack(theta)
            loss, grad_scores, grad_b = data(identity, W, b)
            value = loss / total_w + 0.5 * reg * np.sum(W * W)
            grad_w = grad_scores / total_w + reg * W
            grad = grad_w if not n_b else np.column_stack([grad_w, grad_b / total_w])
            return value, grad.ravel()

        # The constraint rows act on each class row's weights.
        block = np.zeros((n_rows * D.shape[0], n_rows * width))
        for c in range(n_rows):
            block[c * D.shape[0]:(c + 1) * D.shape[0], c * width:c * width + p] = D
        constraints = [
            {"type": "ineq", "fun": lambda th: eps - block @ th, "jac": lambda th: -block},
            {"type": "ineq", "fun": lambda th: eps + block @ th, "jac": lambda th: block},
        ]
        res = minimize(fun, np.zeros(n_rows * width), jac=True, method="SLSQP",
                       constraints=constraints,
                       options={"maxiter": self.max_iter, "ftol": 1e-14})
        violation = float(np.max(np.abs(block @ res.x)) - eps) if block.size else 0.0
        # SLSQP's mode 8 (no descent along its line search) is where ftol is
        # below the objective's precision: the point is optimal.
        converged = res.success or res.status == 8
        if not converged or violation > 1e-7:
            warnings.warn(
                f"SLSQP did not converge in max_iter={self.max_iter} iterations "
                f"({res.message}; largest constraint violation {violation:.2e}); "
                "increase max_iter or use solver='cvxpy'.",
                ConvergenceWarning,
                stacklevel=6,
            )
        W, b = unpack(res.x)
        info = {"path": "fast", "solver": "SLSQP", "status": str(res.message),
                "n_iter": int(res.nit)}
        return W.copy(), b.copy(), info

    def _solve_cvxpy(self, features, y, sw, n_rows, worlds, path):
        """The reference program: one constraint per sample, level and world."""
        import cvxpy as cp  # imported on use: about 2 s
        n, p = features.shape
        W = cp.Variable((n_rows, p))
        b = cp.Variable(n_rows) if self.fit_intercept else np.zeros(n_rows)
        scores = features @ W.T + (cp.reshape(b, (1, n_rows), order="C") if self.fit_intercept else 0)
        if n_rows == 1:
            sign = 2.0 * y - 1.0
            loss = cp.sum(cp.multiply(sw, cp.logistic(-cp.multiply(sign, scores[:, 0]))))
        else:
            onehot = np.zeros((n, n_rows))
            onehot[np.arange(n), y] = 1.0
            loss = cp.sum(cp.multiply(sw, cp.log_sum_exp(scores, axis=1))) - cp.sum(
                cp.multiply(onehot * sw[:, None], scores)
            )
        objective = cp.Minimize((loss + cp.sum_squares(W) / (2.0 * self.C)) / sw.sum())
        constraints = []
        for diff in _constraint_rows(worlds):
            change = diff @ W.T
            if self.epsilon == 0:
                constraints.append(change == 0)
            else:
                constraints.append(cp.abs(change) <= self.epsilon)
        problem = cp.Problem(objective, constraints)
        name = solve_problem(
            problem, what="the counterfactual fairness program (solver='cvxpy')"
        )
        if W.value is None:
            raise SolverError(f"cvxpy solver {name} returned no solution.")
        intercept = np.asarray(b.value).ravel() if self.fit_intercept else np.zeros(n_rows)
        info = {"path": path, "solver": name, "status": problem.status, "n_iter": 0}
        return np.asarray(W.value), intercept, info

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


#: Constraint rows closer than this (relative to the largest entry) are one
#: constraint: duplicates make interior-point solvers fail numerically.
DUPLICATE_ROW_TOLERANCE = 1e-9


class _LogisticTerms:
    """The data terms of the logistic objective on the inputs projected by
    ``M`` (``w = M theta``), for rows in memory: the weighted loss and its
    gradients in ``theta`` and in the intercepts. The projected inputs are
    computed once per ``M``."""

    def __init__(self, features, y, sw, n_rows):
        self.features, self.sw = features, sw
        self.total_weight = float(sw.sum())
        self.sign = 2.0 * y - 1.0
        self.onehot = None
        if n_rows > 1:
            self.onehot = np.zeros((features.shape[0], n_rows))
            self.onehot[np.arange(features.shape[0]), y] = 1.0
        self._projected = (None, None)

    def __call__(self, M, theta, b):
        if self._projected[0] is not M:
            self._projected = (M, self.features @ M)
        FM = self._projected[1]
        loss, dscore = _loss_and_score_gradient(FM @ theta.T + b, self.sign, self.onehot,
                                                self.sw)
        return loss, dscore.T @ FM, dscore.sum(axis=0)


def _scores_gap(directions, coef):
    """The largest change of a score between levels, over worlds and class
    rows (0 for counterfactually fair weights)."""
    if not directions.shape[0]:
        return 0.0
    full = np.concatenate(
        [np.zeros((directions.shape[0], 1, directions.shape[2])), directions], axis=1)
    level_scores = np.einsum("wkp,cp->wkc", full, coef)
    return float(np.max(level_scores.max(axis=1) - level_scores.min(axis=1)))


def _distinct_rows(diff):
    """Non-zero rows of ``diff``, one per group of rows equal up to
    ``DUPLICATE_ROW_TOLERANCE`` (stating one constraint once is the same
    program; Clarabel fails on 48,842 copies of two rows)."""
    scale = np.abs(diff).max() if diff.size else 0.0
    if scale == 0.0:
        return diff[:0]
    rounded = np.round(diff / (scale * DUPLICATE_ROW_TOLERANCE))
    _, first = np.unique(rounded, axis=0, return_index=True)
    rows = diff[np.sort(first)]
    return rows[np.any(rows != 0.0, axis=1)]


def _constraint_rows(worlds):
    """The reference program's constraints: for every world, sample and other
    combination of sensitive levels, the change of the inputs from the
    sample to its twin (abduction, action, prediction per sample), each
    distinct change stated once."""
    if worlds is None:
        return []
    if getattr(worlds, "path_specific", False):
        # Path-specific effects are stated per pair of levels (the same for
        # every sample of a level under a linear SCM).
        return [pairwise_constraint_rows(worlds.directions)]
    rows_out = []
    for world in worlds.worlds:
        for k, combo in enumerate(worlds.combos):
            rows = np.flatnonzero(worlds.codes != k)
            if rows.size == 0:
                continue
            diff = _distinct_rows(world.twin_changes(rows, combo))
            if diff.shape[0]:
                rows_out.append(diff)
    return rows_out


#: Restarts of L-BFGS-B from where it stopped (see _solve_box).
MAX_LBFGS_RESTARTS = 20
#: A projected gradient this small is at the objective's floating-point
#: precision.
PROJECTED_GRADIENT_PRECISION = 1e-7


def _projected_gradient_norm(grad, x, lo, hi):
    """Largest entry of the projected gradient of a box-constrained problem:
    zero at a point where no feasible direction decreases the objective."""
    pg = grad.copy()
    finite_lo, finite_hi = np.isfinite(lo), np.isfinite(hi)
    at_lo = np.zeros_like(x, dtype=bool)
    at_hi = np.zeros_like(x, dtype=bool)
    at_lo[finite_lo] = x[finite_lo] <= lo[finite_lo] + 1e-12 * np.maximum(
        1.0, np.abs(lo[finite_lo]))
    at_hi[finite_hi] = x[finite_hi] >= hi[finite_hi] - 1e-12 * np.maximum(
        1.0, np.abs(hi[finite_hi]))
    pg[at_lo] = np.minimum(pg[at_lo], 0.0)
    pg[at_hi] = np.maximum(pg[at_hi], 0.0)
    return float(np.max(np.abs(pg))) if pg.size else 0.0


def _loss_and_score_gradient(scores, sign, onehot, sw):
    """Weighted logistic (binary: one score column, ``sign`` = 2y - 1) or
    multinomial (``onehot`` targets) loss, and its gradient in the scores."""
    if onehot is None:
        s = scores[:, 0]
        loss = -np.dot(sw, log_expit(sign * s))
        return loss, (-sign * expit(-sign * s) * sw)[:, None]
    lse = logsumexp(scores, axis=1)
    loss = np.dot(sw, lse - np.sum(onehot * scores, axis=1))
    return loss, (softmax(scores, axis=1) - onehot) * sw[:, None]


def pairwise_constraint_rows(directions):
    """Every world's constraint directions ``t_k - t_j`` over pairs of
    levels (``t_0 = 0``), each distinct row once."""
    p = directions.shape[2]
    rows = []
    for world in directions:
        full = np.vstack([np.zeros((1, p)), world])
        i, j = np.triu_indices(full.shape[0], k=1)
        rows.append(full[j] - full[i])
    return _distinct_rows(np.vstack(rows))


def _objective(scores, y, sw, coef, C):
    if scores.shape[1] == 1:
        sign = 2.0 * y - 1.0
        loss = -np.dot(sw, log_expit(sign * scores[:, 0]))
    else:
        loss = np.dot(sw, logsumexp(scores, axis=1) - scores[np.arange(len(y)), y])
    return float(loss + np.sum(coef**2) / (2.0 * C))
