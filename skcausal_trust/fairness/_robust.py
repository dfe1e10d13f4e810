"""Causally robust and fair logistic regression: training on the worst case
over the protected causal perturbation ball (Ehyaei et al., AAAI 2024)."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target

from ..causal import CausalGraph, LinearSCM
from ..exceptions import SolverError
from ..utils._convex import solve_problem
from ..utils._validation import keep_state_on_failure
from ._base import CounterfactualModelMixin, check_class_labels, fit_worlds
from ._counterfactual import LinearScoreClassifierMixin

__all__ = ["CausallyRobustFairClassifier"]


class CausallyRobustFairClassifier(LinearScoreClassifierMixin, CounterfactualModelMixin,
                                   ClassifierMixin, BaseEstimator):
    """Logistic regression trained on the worst case over the protected
    causal perturbation ball: individually fair and robust at once.

    The protected causal perturbation ball of a sample :math:`x` with
    sensitive level :math:`a` [1]_ is the union, over every level
    :math:`a'` (the sample's own included) and every world, of the points
    whose non-sensitive exogenous noise lies within L2 distance
    ``radius`` of the counterfactual twin :math:`x^{(a')}`'s, each noise
    coordinate in units of its noise scale (the semi-latent space:
    sensitive attributes kept, every other variable replaced by its
    standardised noise). A decision that changes inside the ball is unfair
    (it changes with the attribute) or not robust (it changes under a
    small, causally consistent perturbation). This estimator minimises the
    logistic loss at the worst point of every training sample's ball.

    Under a linear additive-noise SCM and a linear score
    :math:`f(x) = w^\\top x + b` the worst case has a closed form: a twin
    moves the inputs by :math:`t_{a'} - t_a` (total effects, the same for
    every sample) and a unit of standardised noise moves them along the
    rows of :math:`Q` (``perturbation_basis_``), so for label sign
    :math:`s \\in \\{-1, 1\\}`

    .. math::
        \\min_{x' \\in B_\\Delta(x)} s f(x') = s f(x)
        + \\min_{m, a'} \\big( s\\, w^\\top (t_{m,a'} - t_{m,a})
        - \\Delta \\|Q_m w\\|_2 \\big),

    a concave function of :math:`(w, b)`; the robust logistic loss is
    convex (a second-order cone program). ``radius=0`` keeps only the
    twins: the loss of each sample's worst twin, the penalty form of
    :class:`CounterfactuallyFairClassifier`'s constraint
    :math:`|w^\\top (t_{a'} - t_a)| \\le \\epsilon`, which it does not
    enforce: a twin that moves the score the way of the label costs
    nothing.

    Which features move inside the ball: every numeric node of the SCM
    (a feature or a mediator) that is not sensitive, through its own noise
    and its causes' noises. A categorical node (a raw category or string
    column, or its one-hot columns after an encoder) keeps its level on
    every route; to perturb a binary feature continuously, as the paper's
    reference code does, give it as a 0/1 numeric column.

    Binary targets only: with more classes the inner maximisation of the
    multinomial loss over the ball has no closed form.

    Read more in the :ref:`User Guide <robust_fairness>`.

    Parameters
    ----------
    causal_model : CausalGraph, LinearSCM, list of them, or None, default=None
        The world(s), as in :class:`CounterfactuallyFairClassifier`: a graph
        or unfitted SCM is fitted on the training data, a fitted SCM is used
        as it is; several worlds take the worst case over all of them.
        ``None``: the sensitive attributes cause every feature directly.
    radius : float, default=0.05
        Radius :math:`\\Delta \\ge 0` of the ball, in units of the noise
        scales (L2 norm of the standardised noise change).
    C : float, default=1.0
        Inverse of the L2 regularisation strength, > 0: the program minimises
        ``sum_i s_i * robust_logloss_i + ||w||^2 / (2 C)``.
    sensitive_feature_ids : str, int or list of them, default=None
        Column(s) of ``X`` holding the sensitive attribute(s), removed from
        the model's inputs; as in :class:`CounterfactuallyFairClassifier`.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    solver : {"auto", "fast", "cvxpy"}, default="auto"
        ``"fast"``: the worst case of a sample depends only on its level and
        label, so the program has one auxiliary variable per (level, label)
        pair and one norm per world; scipy's SLSQP solves this smooth
        reformulation (linear constraints and one quadratic cone constraint
        per world), one pass over the rows per iteration. ``"cvxpy"``: the
        program as stated (a minimum over the ball per sample), solved with
        Clarabel: the reference. ``"auto"`` is ``"fast"``.
    max_iter : int, default=1000
        Iteration limit of SLSQP.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Class labels.
    coef_ : ndarray of shape (1, n_features_used)
        Weights of the model's input columns (``input_features_``).
    intercept_ : ndarray of shape (1,)
    input_features_ : ndarray of shape (n_features_used,)
        The model's input columns (raw categorical columns one-hot encoded).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, if it had string names.
    scms_ : list of LinearSCM
        The fitted world(s); empty when fitted without sensitive features.
    sensitive_node_, sensitive_levels_, counterfactual_directions_
        As in :class:`CounterfactuallyFairClassifier`.
    perturbation_nodes_ : list of list
        Per world, the variables whose noise the ball perturbs.
    perturbation_basis_ : list of ndarray of shape (n_nodes, n_features_used)
        Per world, the change of the inputs per unit of each perturbed
        node's standardised noise (:math:`Q_m`).
    perturbation_sensitivity_ : ndarray of shape (n_worlds,)
        :math:`\\|Q_m w\\|_2`: the largest change of the log-odds per unit of
        radius.
    counterfactual_gap_ : float
        Largest change of the log-odds between a sample and one of its twins.
    solver_path_ : {"fast", "cvxpy", "unconstrained"}
        Which path ran (``"unconstrained"`` without sensitive features).
    solver_, solver_status_, objective_, n_iter_
        The optimiser, its status, the objective at the solution and its
        iterations (0 for cvxpy).

    Raises
    ------
    ValueError
        From :meth:`fit`: more than two classes, and every input error of
        :class:`CounterfactuallyFairClassifier` (NaN, unknown columns, a
        one-level attribute, a graph without the sensitive node...).
    skcausal_trust.exceptions.SolverError
        If the cvxpy path fails. SLSQP warns
        :class:`~sklearn.exceptions.ConvergenceWarning` when it stops early.

    See Also
    --------
    CounterfactuallyFairClassifier : Hard counterfactual constraints.
    unfair_area : The share of samples whose decision changes in the ball.

    Notes
    -----
    Without sensitive features (scikit-learn's checks) the model falls back
    to L2-regularised logistic regression and warns
    :class:`~skcausal_trust.exceptions.NoSensitiveFeaturesWarning`.

    References
    ----------
    .. [1] A.-R. Ehyaei, K. Mohammadi, A.-H. Karimi, S. Samadi and G.
       Farnadi, "Causal Adversarial Perturbations for Individual Fairness and
       Robustness in Heterogeneous Data Spaces", AAAI 2024.
    .. [2] M. J. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       Fairness", NeurIPS 2017.

    Examples
    --------
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import CausallyRobustFairClassifier
    >>> X, y, a, scm = make_counterfactual_classification(500, random_state=0)
    >>> clf = CausallyRobustFairClassifier(scm, radius=0.1).fit(
    ...     X, y, sensitive_features=a)
    >>> clf.solver_path_
    'fast'
    """

    __metadata_request__fit = {"sensitive_features": True}

    _parameter_constraints = {
        "causal_model": [CausalGraph, LinearSCM, list, tuple, None],
        "radius": [Interval(Real, 0, None, closed="left")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "sensitive_feature_ids": [str, Integral, list, tuple, None],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "fast", "cvxpy"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, causal_model=None, *, radius=0.05, C=1.0,
                 sensitive_feature_ids=None, fit_intercept=True, solver="auto",
                 max_iter=1000):
        self.causal_model = causal_model
        self.radius = radius
        self.C = C
        self.sensitive_feature_ids = sensitive_feature_ids
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit the model on the worst case over each sample's ball.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features, raw or encoded, as for
            :class:`CounterfactuallyFairClassifier`.
        y : array-like of shape (n_samples,)
            Binary class labels.
        sensitive_features : array-like of shape (n_samples,) or \
                (n_samples, n_attributes), default=None
            The sensitive attribute(s), when not columns of ``X``. Requested by
            default under metadata routing.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, used by the loss and by the fitted worlds.

        Returns
        -------
        self : CausallyRobustFairClassifier

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
        features, y, attribute, raw, sw, inputs = self._fit_inputs(
            X, y, sensitive_features=sensitive_features, sample_weight=sample_weight,
            require_y=True,
        )
        check_class_labels(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        encoder = LabelEncoder().fit(y)
        classes = encoder.classes_
        if y_type != "binary" or classes.size != 2:
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"{y_type} ({classes.size} class(es): {list(classes)[:5]!r}): the worst "
                "case of the multinomial loss over the ball has no closed form."
            )
        y_codes = encoder.transform(y)
        p = features.shape[1]
        if attribute is None:
            self._fallback_warning(
                "it falls back to L2-regularised logistic regression (no twins, "
                "no ball)."
            )
            worlds, D, Q, nodes = None, [], [], []
            codes = np.zeros(len(y_codes), dtype=np.intp)
        else:
            worlds = fit_worlds(self.causal_model, inputs, raw, attribute, sw)
            codes = worlds.codes
            D = [np.vstack([np.zeros((1, p)), d]) for d in worlds.directions]
            pairs = [world.perturbation() for world in worlds.worlds]
            nodes = [list(n) for n, _ in pairs]
            Q = [q for _, q in pairs]
        problem = _RobustProblem(features, y_codes, sw, codes, D, Q, float(self.radius),
                                 self.C, self.fit_intercept)
        if worlds is None:
            path = "unconstrained"
        else:
            path = "cvxpy" if self.solver == "cvxpy" else "fast"
        if path == "cvxpy":
            w, b, info = problem.solve_cvxpy()
        else:
            w, b, info = problem.solve_slsqp(self.max_iter)
        info["path"] = path
        self.classes_ = classes
        self.coef_ = w[None, :]
        self.intercept_ = np.array([b])
        self._set_world_attributes(worlds, p)
        self.input_features_ = np.asarray(inputs.names, dtype=object)
        self.perturbation_nodes_ = nodes
        self.perturbation_basis_ = Q
        self.perturbation_sensitivity_ = np.array(
            [float(np.linalg.norm(q @ w)) for q in Q])
        self.counterfactual_gap_ = float(max(
            (np.ptp(d @ w) for d in D), default=0.0))
        self.solver_path_ = info["path"]
        self.solver_ = info["solver"]
        self.solver_status_ = info["status"]
        self.n_iter_ = info["n_iter"]
        self.objective_ = problem.objective(w, b)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_class = False
        return tags


class _RobustProblem:
    """The robust logistic program on the model's inputs.

    Samples are grouped by (sensitive combination, label): the worst case
    over the ball, :math:`\\min_{m, k'} s\\, w^\\top (D_m[k'] - D_m[k]) -
    \\Delta \\|Q_m w\\|`, is one value per group.
    """

    def __init__(self, features, y, sw, codes, D, Q, radius, C, fit_intercept):
        self.X, self.sw, self.C = features, sw, C
        self.sign = 2.0 * y - 1.0
        self.fit_intercept = fit_intercept
        self.D, self.radius = D, radius
        # Worlds with nothing to perturb (or radius 0) have no norm term.
        self.Q = [q if (radius > 0 and q.shape[0]) else None for q in Q]
        key = codes * 2 + y
        self.keys, self.group = np.unique(key, return_inverse=True)
        self.total = float(sw.sum())

    def worst(self, w):
        """Worst-case shift of the signed score per group."""
        out = np.zeros(self.keys.size)
        for g, key in enumerate(self.keys):
            k, s = key // 2, 2.0 * (key % 2) - 1.0
            values = [
                float((s * (d @ w - d[k] @ w)).min())
                - (self.radius * float(np.linalg.norm(q @ w)) if q is not None else 0.0)
                for d, q in zip(self.D, self.Q)
            ]
            out[g] = min(values) if values else 0.0
        return out

    def objective(self, w, b):
        margin = self.sign * (self.X @ w + b) + self.worst(w)[self.group]
        return float(-np.dot(self.sw, log_expit(margin)) + w @ w / (2.0 * self.C))

    def solve_slsqp(self, max_iter):
        n, p = self.X.shape
        n_b = 1 if self.fit_intercept else 0
        G = self.keys.size
        norms = [m for m, q in enumerate(self.Q) if q is not None]
        R = len(norms)
        dim = p + n_b + (G if self.D else 0) + R
        h0, r0 = p + n_b, p + n_b + (G if self.D else 0)
        reg = 1.0 / (self.C * self.total)
        X, sign, sw, group = self.X, self.sign, self.sw, self.group

        def fun(theta):
            w = theta[:p]
            b = theta[p] if n_b else 0.0
            margin = sign * (X @ w + b)
            if self.D:
                margin = margin + theta[h0:h0 + G][group]
            value = -np.dot(sw, log_expit(margin)) / self.total + 0.5 * reg * (w @ w)
            dm = -sw * expit(-margin) / self.total
            grad = np.zeros(dim)
            grad[:p] = X.T @ (dm * sign) + reg * w
            if n_b:
                grad[p] = np.dot(dm, sign)
            if self.D:
                grad[h0:h0 + G] = np.bincount(group, weights=dm, minlength=G)
            return value, grad

        constraints = []
        if self.D:
            # h_g <= s (D_m[k'] - D_m[k]) w - radius * r_m for every world and k'.
            rows = []
            for g, key in enumerate(self.keys):
                k, s = key // 2, 2.0 * (key % 2) - 1.0
                for m, d in enumerate(self.D):
                    for kk in range(d.shape[0]):
                        row = np.zeros(dim)
                        row[:p] = s * (d[kk] - d[k])
                        row[h0 + g] = -1.0
                        if m in norms:
                            row[r0 + norms.index(m)] = -self.radius
                        rows.append(row)
            A = np.vstack(rows)
            constraints.append({"type": "ineq", "fun": lambda th: A @ th,
                                "jac": lambda th: A})
        for j, m in enumerate(norms):
            QtQ = self.Q[m].T @ self.Q[m]

            def cone(th, QtQ=QtQ, j=j):
                w = th[:p]
                return np.array([th[r0 + j] ** 2 - w @ QtQ @ w])

            def cone_jac(th, QtQ=QtQ, j=j):
                out = np.zeros((1, dim))
                out[0, :p] = -2.0 * (QtQ @ th[:p])
                out[0, r0 + j] = 2.0 * th[r0 + j]
                return out

            constraints.append({"type": "ineq", "fun": cone, "jac": cone_jac})
        bounds = [(None, None)] * (r0) + [(0.0, None)] * R
        x0 = np.zeros(dim)
        x0[r0:] = 1.0
        res = minimize(fun, x0, jac=True, method="SLSQP", constraints=constraints,
                       bounds=bounds, options={"maxiter": max_iter, "ftol": 1e-14})
        # SLSQP's mode 8 (no descent along its line search) is where ftol is
        # below the objective's precision: the point is optimal.
        converged = res.success or res.status == 8
        if not converged:
            warnings.warn(
                f"SLSQP did not converge in max_iter={max_iter} iterations "
                f"({res.message}); increase max_iter or use solver='cvxpy'.",
                ConvergenceWarning, stacklevel=5,
            )
        w = res.x[:p].copy()
        b = float(res.x[p]) if n_b else 0.0
        return w, b, {"solver": "SLSQP", "status": str(res.message),
                      "n_iter": int(res.nit)}

    def solve_cvxpy(self):
        import cvxpy as cp  # imported on use: about 2 s
        n, p = self.X.shape
        w = cp.Variable(p)
        b = cp.Variable() if self.fit_intercept else 0.0
        score = self.X @ w + b
        margin = cp.multiply(self.sign, score)
        if self.D:
            worst = []
            for key in self.keys:
                k, s = key // 2, 2.0 * (key % 2) - 1.0
                terms = []
                for d, q in zip(self.D, self.Q):
                    shift = (s * (d - d[k])) @ w
                    if q is not None:
                        shift = shift - self.radius * cp.norm(q @ w, 2)
                    terms.append(shift)
                worst.append(cp.min(cp.hstack(terms)))
            A = np.zeros((n, self.keys.size))
            A[np.arange(n), self.group] = 1.0
            margin = margin + A @ cp.hstack(worst)
        loss = cp.sum(cp.multiply(self.sw, cp.logistic(-margin)))
        problem = cp.Problem(cp.Minimize(
            (loss + cp.sum_squares(w) / (2.0 * self.C)) / self.total))
        name = solve_problem(problem, what="the robust fair program (solver='cvxpy')")
        if w.value is None:
            raise SolverError(f"cvxpy solver {name} returned no solution.")
        bv = float(b.value) if self.fit_intercept else 0.0
        return np.asarray(w.value, dtype=float), bv, {
            "solver": name, "status": problem.status, "n_iter": 0}
