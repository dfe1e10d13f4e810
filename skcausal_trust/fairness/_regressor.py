"""Counterfactually fair (ridge) least squares."""

from numbers import Integral, Real

import numpy as np
from scipy.linalg import null_space
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array

from ..causal import CausalGraph, LinearSCM
from ..exceptions import SolverError
from ..utils._convex import solve_problem
from ..utils._dask import is_dask_collection, map_rows
from ..utils._scaling import exponents_below, times_power_of_two
from ..utils._validation import keep_state_on_failure
from ._base import CounterfactualModelMixin, fit_worlds, free_directions
from ._counterfactual import _constraint_rows, _scores_gap, pairwise_constraint_rows

__all__ = ["CounterfactuallyFairRegressor"]


class CounterfactuallyFairRegressor(CounterfactualModelMixin, RegressorMixin, BaseEstimator):
    """Ridge regression constrained to be counterfactually fair.

    Fits a linear model whose prediction changes by at most ``epsilon``
    (in units of ``y``) when the sensitive attribute of a sample is
    counterfactually set to any other level (any other combination of
    levels, for several attributes), under each of one or several candidate
    linear structural causal models ("worlds"). ``epsilon=0`` is
    counterfactual fairness under the model [1]_; several worlds enforce it in
    all of them at once [2]_. The regressor counterpart of
    :class:`CounterfactuallyFairClassifier`, with the same inputs: raw
    DataFrames (categorical columns one-hot encoded inside), a
    ColumnTransformer's output, or numeric arrays with a graph over column
    positions; the sensitive attribute(s) routed as ``sensitive_features`` or
    named in ``sensitive_feature_ids``.

    Read more in the :ref:`User Guide <counterfactual_fairness>`.

    Parameters
    ----------
    causal_model : CausalGraph, LinearSCM, list of them, or None, default=None
        The world(s), as in :class:`CounterfactuallyFairClassifier`: a graph
        over ``X``'s raw columns and the sensitive attribute(s) (fitted on
        the training data), or a fitted :class:`~skcausal_trust.causal.LinearSCM`
        used as it is. ``None``: the attribute causes every feature directly.
    epsilon : float, default=0.0
        Largest allowed change of the prediction, in units of ``y`` (>= 0),
        between a sample and any of its counterfactual twins.
    alpha : float, default=1.0
        L2 penalty (>= 0), as in :class:`~sklearn.linear_model.Ridge`: the
        program minimises ``sum_i s_i (y_i - x_i w - b)^2 + alpha ||w||^2``.
    sensitive_feature_ids : str, int or list of them, default=None
        Column(s) of ``X`` (names or positions) holding the sensitive
        attribute(s); removed from the model's inputs at fit and predict.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised, unconstrained) intercept.
    solver : {"auto", "fast", "cvxpy"}, default="auto"
        ``"fast"`` works from sufficient statistics (the weighted Gram
        matrix of the centred inputs): with ``epsilon=0`` the constraints
        are eliminated and the ridge solution on their complement is closed
        form; with ``epsilon>0`` the problem is a quadratic program in the
        ``n_features`` weights (one constraint per pair of levels and
        world), solved by Clarabel. ``"cvxpy"`` states the program on every
        row with one constraint per sample, level and world: the reference.
        ``"auto"`` is ``"fast"``.
    fair_paths : list or None, default=None
        Path-specific counterfactual fairness (Chiappa 2019; Nabi and
        Shpitser 2018): directed paths from a sensitive node to a feature
        node (node lists or ``"a -> m -> x"`` strings) whose effect is
        allowed; only the effect along the other paths is constrained, as in
        :class:`CounterfactuallyFairClassifier`.
    unfair_paths : list or None, default=None
        The complement: constrain the effect along these paths only. At most
        one of ``fair_paths`` and ``unfair_paths``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features_used,)
        Weights of the model's input columns (``input_features_``).
    intercept_ : float
        The intercept.
    input_features_ : ndarray of shape (n_features_used,)
        The model's input columns: ``X``'s feature columns, with each raw
        categorical column replaced by its one-hot indicators
        ``"<column>_<level>"``.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit (sensitive columns included).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, if it had string names.
    scms_ : list of LinearSCM
        The fitted world(s); empty when fitted without sensitive features.
    sensitive_node_ : hashable, tuple or None
        The sensitive attribute's node (a tuple of nodes for several).
    sensitive_levels_ : ndarray or None
        Levels seen in fit (tuples of levels for several attributes); the
        first is the reference of ``counterfactual_directions_``.
    counterfactual_directions_ : ndarray of shape (n_worlds, n_levels - 1, \
            n_features_used)
        Change of the inputs when the attribute moves from the first level
        to each other level, in each world.
    counterfactual_gap_ : float
        Largest change of the prediction between a training sample and one
        of its twins, over worlds and levels (``<= epsilon`` up to the
        solver's tolerance), in units of ``y``.
    n_free_directions_ : int
        Dimension of the input space the constraints do not touch
        (``n_features_used`` minus the rank of the directions); with
        ``epsilon=0`` and none left the model is constant and a
        :class:`~skcausal_trust.exceptions.DegenerateConstraintWarning` says so.
    solver_path_ : {"fast", "cvxpy", "unconstrained"}
        Which path ran.
    solver_ : str
        ``"closed form"`` or the cvxpy solver's name.
    solver_status_ : str
        The solver's final status.
    objective_ : float
        ``sum_i s_i (y_i - x_i w - b)^2 + alpha ||w||^2`` at the solution;
        ``inf`` when this sum exceeds the float range (a target near
        1e154 or more, fitted exactly with ``alpha=0``). On dask it is
        formed from the sums of squares, about the offsets with
        ``fit_intercept=True`` and about 0 without: then a target far
        from 0 cancels digits (measured: a relative error near 5e-6 for a
        target near 5e5 and an objective near 1e4).
    n_iter_ : int
        0 (no iterative solver of its own).

    Raises
    ------
    ValueError
        From :meth:`fit`: NaN or infinite values, wrong shapes, an unknown
        sensitive column, a sensitive attribute with one level or with zero
        total weight on a level, a graph that misses feature columns or holds
        unobserved nodes, a non-numeric ``y``.
    skcausal_trust.exceptions.SolverError
        If a cvxpy solve fails (every solver tried, with its status).

    See Also
    --------
    CounterfactuallyFairClassifier : The classifier counterpart.
    counterfactual_unfairness : Measures a regressor's unfairness in units
        of ``y``.
    sklearn.linear_model.Ridge : The unconstrained model.

    Notes
    -----
    With :math:`x^{(a')}` the twin of sample :math:`x` in world :math:`m`,
    the program is

    .. math::
        \\min_{w, b}\\; \\sum_i s_i (y_i - x_i^\\top w - b)^2
        + \\alpha \\|w\\|_2^2 \\quad \\text{s.t.}\\quad
        |w^\\top (x_i^{(a')} - x_i)| \\le \\epsilon
        \\;\\; \\forall i, a' \\ne a_i, m.

    In a linear additive-noise SCM every twin differs from its sample by a
    total-effect vector :math:`t_{m,a'} - t_{m,a_i}`, so the constraints
    are :math:`|w^\\top (t_{m,k} - t_{m,j})| \\le \\epsilon` over pairs of
    levels. The intercept is unconstrained and unpenalised, so centring the
    inputs and ``y`` by their weighted means removes it; what remains
    depends on the data only through the weighted Gram matrix. With
    :math:`\\epsilon = 0`, :math:`w = N z` for an orthonormal basis :math:`N`
    of the directions' complement and :math:`z` solves a ridge problem.

    References
    ----------
    .. [1] M. J. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       Fairness", Advances in Neural Information Processing Systems 30
       (NeurIPS), 2017.
    .. [2] C. Russell, M. J. Kusner, J. Loftus and R. Silva, "When Worlds
       Collide: Integrating Different Counterfactual Assumptions in
       Fairness", NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skcausal_trust.fairness import CounterfactuallyFairRegressor
    >>> rng = np.random.default_rng(0)
    >>> a = rng.choice(["f", "m"], 400)
    >>> x = 2.0 * (a == "m") + rng.normal(size=400)       # a mediator
    >>> z = rng.normal(size=400)                           # not caused by a
    >>> y = x + z + rng.normal(size=400)
    >>> X = pd.DataFrame({"a": a, "x": x, "z": z})
    >>> from skcausal_trust.causal import CausalGraph
    >>> reg = CounterfactuallyFairRegressor(
    ...     CausalGraph([("a", "x")], nodes=["z"]), sensitive_feature_ids="a"
    ... ).fit(X, y)
    >>> bool(reg.counterfactual_gap_ < 1e-10), reg.solver_path_
    (True, 'fast')
    """

    __metadata_request__fit = {"sensitive_features": True}

    _parameter_constraints = {
        "causal_model": [CausalGraph, LinearSCM, list, tuple, None],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "sensitive_feature_ids": [str, Integral, list, tuple, None],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "fast", "cvxpy"})],
        "fair_paths": [list, tuple, None],
        "unfair_paths": [list, tuple, None],
    }

    def __init__(
        self,
        causal_model=None,
        *,
        epsilon=0.0,
        alpha=1.0,
        sensitive_feature_ids=None,
        fit_intercept=True,
        solver="auto",
        fair_paths=None,
        unfair_paths=None,
    ):
        self.causal_model = causal_model
        self.epsilon = epsilon
        self.alpha = alpha
        self.sensitive_feature_ids = sensitive_feature_ids
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.fair_paths = fair_paths
        self.unfair_paths = unfair_paths

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit the constrained model.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features; may hold the sensitive column(s). A DataFrame may hold
            categorical columns (one-hot encoded inside). A dask DataFrame or
            array (numeric features) is fitted from partition statistics (the
            worlds' SCMs, then the inputs' centred Gram matrix), with ``y``,
            ``sample_weight`` and a routed ``sensitive_features`` as aligned
            dask collections: the in-memory result (see
            :ref:`larger_than_memory`).
        y : array-like of shape (n_samples,)
            Continuous target.
        sensitive_features : array-like of shape (n_samples,) or \
                (n_samples, n_attributes), default=None
            The sensitive attribute(s), when not columns of ``X``. Requested
            by default under metadata routing. Without it (and without
            ``sensitive_feature_ids``) the model is plain ridge regression and
            warns :class:`~skcausal_trust.exceptions.NoSensitiveFeaturesWarning`.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, used by the loss and by the fitted worlds (a weight
            of 2 counts a row twice).

        Returns
        -------
        self : CounterfactuallyFairRegressor

        Raises
        ------
        ValueError
            With ``alpha > 0``, for an input whose largest magnitude is
            outside ``[2**-400, 2**400]`` (the ridge penalty is stated in the
            data's units); with ``alpha=0`` the program is solved in working
            units (each input divided by a power of two, exactly) and any
            finite scale is fitted in memory. Also when the weighted sums of
            squares overflow (on dask, where they are formed in the data's
            units, or with weights near 1e300): the message names the
            columns, or ``y``.
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
            y_numeric=True, require_y=True,
        )
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if attribute is None:
            self._fallback_warning("it is plain ridge regression.")
            worlds = None
            directions = np.zeros((0, 1, features.shape[1]))
        else:
            worlds = fit_worlds(self.causal_model, inputs, raw, attribute, sw)
            self._restrict_paths(worlds)
            directions = worlds.directions
        n_free = free_directions(directions, features.shape[1], self.epsilon,
                                 type(self).__name__)
        constrained = directions.shape[0] > 0 and np.any(directions)
        if self.solver == "cvxpy":
            coef, intercept, info = self._solve_cvxpy(features, y, sw, worlds,
                                                      "cvxpy" if constrained else "unconstrained")
        else:
            coef, intercept, info = self._solve_fast(features, y, sw, directions,
                                                     constrained)
        gap = _scores_gap(directions, coef[None, :])
        residual = y - features @ coef - intercept
        self.coef_ = coef
        self.intercept_ = float(intercept)
        self._set_world_attributes(worlds, features.shape[1])
        self.input_features_ = np.asarray(inputs.names, dtype=object)
        self.n_free_directions_ = n_free
        self.counterfactual_gap_ = gap
        self.solver_path_ = info["path"]
        self.solver_ = info["solver"]
        self.solver_status_ = info["status"]
        self.n_iter_ = 0
        with np.errstate(over="ignore"):  # inf past the float range, documented
            self.objective_ = float(np.dot(sw, residual**2)
                                    + (self.alpha * coef @ coef if self.alpha else 0.0))
        return self

    def _fit_dask(self, X, y, sensitive_features, sample_weight):
        """Fit on a dask collection: the worlds and the centred Gram matrix of
        the inputs from passes over the partitions, then the in-memory solve."""
        from ._dask import CentredGram, dask_centred_gram, dask_fit_rows, fused_scm_terms

        def fused(rows):
            # One pass in all: the summary, the SCMs' and the regressor's
            # statistics together.
            terms, first = fused_scm_terms(rows)
            centred = CentredGram.from_first(first, self.fit_intercept)
            if centred is not None:
                terms["centred"] = centred
            return terms

        rows = dask_fit_rows(self, X, y, sensitive_features=sensitive_features,
                             sample_weight=sample_weight, target="continuous",
                             fused=fused)
        p = len(rows.names)
        inputs, worlds, directions = self._dask_worlds(rows, "it is plain ridge regression.")
        n_free = free_directions(directions, p, self.epsilon, type(self).__name__)
        constrained = directions.shape[0] > 0 and np.any(directions)
        H, g, x_mean, y_mean, yy = dask_centred_gram(rows, self.fit_intercept)
        coef, intercept, info = self._solve_statistics(H, g, x_mean, y_mean, directions,
                                                       constrained)
        self.coef_ = coef
        self.intercept_ = float(intercept)
        self._set_world_attributes(worlds, p)
        self.input_features_ = np.asarray(inputs.names, dtype=object)
        self.n_free_directions_ = n_free
        self.counterfactual_gap_ = _scores_gap(directions, coef[None, :])
        self.solver_path_ = info["path"]
        self.solver_ = info["solver"]
        self.solver_status_ = info["status"]
        self.n_iter_ = 0
        # sum w r^2 with r = (y - y_mean) - (X - x_mean) coef, from the statistics.
        self.objective_ = float(yy - 2.0 * g @ coef + coef @ H @ coef
                                + (self.alpha * coef @ coef if self.alpha else 0.0))
        return self

    # -- solvers ------------------------------------------------------------
    def _data_units_reason(self, on_dask):
        """The programs stated in the data's units: a ridge penalty, the
        cvxpy reference, or statistics summed over dask partitions; the
        closed form with ``alpha=0`` in memory is solved in working units,
        at any finite scale."""
        if on_dask and self.alpha == 0:
            return "on dask the sums of squares over the partitions are formed in the data's units"
        if self.alpha > 0:
            return (f"the ridge penalty (alpha={self.alpha!r}) is stated in the data's units "
                    "(alpha=0 is solved exactly at any scale in memory)")
        if self.solver == "cvxpy":
            return ("the reference program (solver='cvxpy') is stated in the data's units "
                    "(solver='auto' is solved exactly at any scale)")
        return None

    def _centred_statistics(self, Z, y, sw):
        """Weighted means and the Gram matrix of the centred data."""
        with np.errstate(over="ignore", invalid="ignore"):  # checked in the solve
            if self.fit_intercept:
                x_mean = np.average(Z, axis=0, weights=sw)
                y_mean = float(np.average(y, weights=sw))
            else:
                x_mean, y_mean = np.zeros(Z.shape[1]), 0.0
            Xc = Z - x_mean
            weighted = Xc * sw[:, None]
            H = weighted.T @ Xc
            g = weighted.T @ (y - y_mean)
        return H, g, x_mean, y_mean

    def _solve_fast(self, Z, y, sw, directions, constrained):
        # Working units: each input divided by the power of two that brings
        # its largest magnitude to [1, 2), exactly, before any product (no
        # square underflows or overflows at any finite scale). The program
        # is the same in these units with the penalty and the constraint
        # rows carried over (_solve_statistics), and the solution converts
        # back exactly.
        exponents = exponents_below(np.abs(Z).max(axis=0, initial=0.0))
        H, g, x_mean, y_mean = self._centred_statistics(
            times_power_of_two(Z, -exponents), y, sw)
        coef, intercept, info = self._solve_statistics(
            H, g, x_mean, y_mean, times_power_of_two(directions, -exponents), constrained,
            penalty=times_power_of_two(np.full(Z.shape[1], float(self.alpha)),
                                       -2 * exponents))
        return times_power_of_two(coef, -exponents), intercept, info

    def _solve_statistics(self, H, g, x_mean, y_mean, directions, constrained,
                          penalty=None):
        """Statistics to solution (in memory and on dask alike): minimise
        ``b'(H + diag(penalty))b - 2 g'b`` under the constraints of
        ``directions`` (``penalty``: ``alpha`` for every input by default).

        The program is solved with each input rescaled by the power of two
        that brings its diagonal entry to [1, 4) (exact, and the same
        program: the penalty, ``g`` and the constraint rows are carried
        over), so that neither the null space of the constraints nor the
        least-squares cutoff loses an input measured on a small scale.

        Raises ValueError when the statistics overflowed the float range."""
        p = H.shape[0]
        penalty = np.full(p, float(self.alpha)) if penalty is None else penalty
        with np.errstate(invalid="ignore"):
            finite_rows = np.isfinite(H).all(axis=1) & np.isfinite(g)
        if not finite_rows.all():
            inputs = getattr(self, "_inputs", None)
            names = list(inputs.names) if inputs is not None else list(range(p))
            bad = [names[j] for j in np.flatnonzero(~np.isfinite(np.diag(H)))]
            raise ValueError(
                f"the weighted sums of squares of X's columns {bad!r} (or of their "
                "products with y) overflow the float range (values near 1e154 or "
                "more): rescale them (for example with StandardScaler, or a change "
                "of units), or the sample weights, before fitting." if bad else
                "the weighted products of y with X's columns overflow the float "
                "range (values near 1e154 or more): rescale y, or the sample "
                "weights, before fitting."
            )
        A = H + np.diag(penalty)
        scale = exponents_below(np.sqrt(np.diag(A)))
        A = times_power_of_two(A, -(scale[:, None] + scale[None, :]))
        g = times_power_of_two(g, -scale)
        directions = times_power_of_two(directions, -scale)
        path = "fast" if constrained else "unconstrained"
        if not constrained or self.epsilon == 0:
            N = null_space(directions.reshape(-1, p)) if constrained else np.eye(p)
            if N.shape[1] == 0:
                coef = np.zeros(p)
            else:
                reduced = N.T @ A @ N
                z, *_ = np.linalg.lstsq(reduced, N.T @ g, rcond=None)
                coef = N @ z
            info = {"path": path, "solver": "closed form", "status": "optimal"}
        else:
            coef, info = self._solve_gram_qp(A, g, directions)
        coef = times_power_of_two(coef, -scale)
        intercept = y_mean - x_mean @ coef if self.fit_intercept else 0.0
        return coef, intercept, info

    def _solve_gram_qp(self, A, g, directions):
        """min w'Aw - 2 g'w s.t. |w'(t_k - t_j)| <= epsilon, every world and
        pair of levels: a QP in n_features variables, independent of n."""
        import cvxpy as cp  # imported on use: about 2 s
        p = A.shape[0]
        D = pairwise_constraint_rows(directions)
        # ||R w - c||^2 = w'Aw - 2 g'w + const with A = R'R (g lies in A's
        # range: it is a combination of the centred rows).
        vals, vecs = np.linalg.eigh((A + A.T) / 2.0)
        keep = vals > vals.max() * 1e-12
        R = np.sqrt(vals[keep])[:, None] * vecs[:, keep].T
        c = (vecs[:, keep].T @ g) / np.sqrt(vals[keep])
        # The problem is homogeneous in (y, epsilon, w): solve it for
        # w = scale * v with v of order 1, and unit constraint rows, so that
        # the solver's tolerances mean the same in any units of y and X.
        unconstrained = np.linalg.lstsq(A, g, rcond=None)[0]
        scale = float(np.abs(unconstrained).max())
        if scale == 0.0:
            return np.zeros(p), {"path": "fast", "solver": "closed form",
                                 "status": "optimal"}
        norms = np.linalg.norm(D, axis=1)
        target = c / scale
        weight = max(1.0, float(np.abs(target).max()))
        v = cp.Variable(p)
        problem = cp.Problem(
            cp.Minimize(cp.sum_squares(R @ v - target) / weight**2),
            [cp.abs((D / norms[:, None]) @ v) <= self.epsilon / (scale * norms)])
        name = solve_problem(
            problem, what="the counterfactually fair least-squares QP (solver='fast')")
        if v.value is None:
            raise SolverError(f"cvxpy solver {name} returned no solution.")
        return scale * np.asarray(v.value).ravel(), {
            "path": "fast", "solver": name, "status": problem.status}

    def _solve_cvxpy(self, Z, y, sw, worlds, path):
        """The reference program: every row's residual, one constraint per
        sample, level and world. The problem is homogeneous in (y, epsilon,
        w, b): it is solved for y in units of its root mean square, so that
        Clarabel's tolerances mean the same in any units."""
        import cvxpy as cp  # imported on use: about 2 s
        n, p = Z.shape
        unit = float(np.sqrt(np.average(y**2, weights=sw))) or 1.0
        w = cp.Variable(p)
        b = cp.Variable() if self.fit_intercept else 0.0
        residual = y / unit - Z @ w - b
        objective = cp.Minimize(
            (cp.sum(cp.multiply(sw, cp.square(residual))) + self.alpha * cp.sum_squares(w))
            / sw.sum())
        constraints = []
        for diff in _constraint_rows(worlds):
            change = diff @ w
            constraints.append(change == 0 if self.epsilon == 0
                               else cp.abs(change) <= self.epsilon / unit)
        problem = cp.Problem(objective, constraints)
        name = solve_problem(
            problem, what="the counterfactually fair least-squares program "
                          "(solver='cvxpy')")
        if w.value is None:
            raise SolverError(f"cvxpy solver {name} returned no solution.")
        intercept = float(b.value) * unit if self.fit_intercept else 0.0
        return unit * np.asarray(w.value).ravel(), intercept, {
            "path": path, "solver": name, "status": problem.status}

    # -- prediction ---------------------------------------------------------
    def _respond_inputs(self, Z, kind):
        return np.asarray(Z, dtype=float) @ self.coef_ + self.intercept_

    def predict(self, X):
        """Predicted target.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            As in fit (the sensitive columns, if any, are ignored).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            A dask collection for a dask ``X`` (computed partition by
            partition when asked).
        """
        if is_dask_collection(X):
            return map_rows(self.predict, X, name="prediction")
        return self._respond_inputs(self._predict_inputs(X), "prediction")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
