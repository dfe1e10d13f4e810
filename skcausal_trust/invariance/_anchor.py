"""Anchor regression (Rothenhausler, Meinshausen, Buhlmann and Peters 2021)."""

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.linear_model import ElasticNet, Ridge
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import (
    EnvironmentsMixin,
    attribute_levels,
    column_positions,
    environment_codes,
    numeric_features,
)
from ..exceptions import NoEnvironmentsWarning
from ..utils._convex import solve_problem
from ..utils._dask import (any_dask, dask_partners, is_dask_collection, map_rows,
                            reduce_partitions)
from ..utils._scaling import SAFE_MAGNITUDES, exponents_below, times_power_of_two
from ..utils._validation import (check_no_date_target, check_weights, keep_state_on_failure,
                                 kept_columns)
from ._stats import (
    LabelTotals,
    codes_of,
    dask_columns,
    dask_environment,
    dask_width,
    is_numeric_dtype,
    non_numeric_error,
    read_floats,
    read_labels,
)

__all__ = ["AnchorRegression"]


class AnchorRegression(EnvironmentsMixin, RegressorMixin, BaseEstimator):
    """Linear regression made robust to shifts along anchor variables.

    Minimises the least-squares loss plus ``gamma - 1`` times the squared
    projection of the residuals on the anchors (exogenous variables such as
    environment indicators that shift the data) [1]_:

    .. math::
        \\min_{b}\\; \\frac{1}{2n}\\Big(\\|(I - \\Pi_A)(y - Xb)\\|^2
        + \\gamma \\|\\Pi_A (y - Xb)\\|^2\\Big)
        + \\alpha\\Big(\\rho \\|b\\|_1 + \\frac{1 - \\rho}{2}\\|b\\|_2^2\\Big).

    ``gamma=1`` is ordinary least squares, ``gamma=0`` partials the anchors
    out, and ``gamma -> infinity`` approaches instrumental-variable
    regression with the anchors as instruments. The solution minimises the
    worst-case expected squared error over all shifts of the anchors' effect
    of strength up to ``gamma`` [1]_.

    Read more in the :ref:`User Guide <invariance>`.

    Parameters
    ----------
    gamma : float, default=5.0
        Weight of the anchors' projection of the residuals, >= 0.
    alpha : float, default=0.0
        Strength of the elastic-net penalty, >= 0 (per row, as in
        :class:`~sklearn.linear_model.ElasticNet`).
    l1_ratio : float, default=0.0
        Share of the l1 penalty (``rho`` above), in [0, 1].
    fit_intercept : bool, default=True
        Whether to fit an unpenalised intercept.
    environment_column : str, int or None, default=None
        Column of ``X`` holding environment labels (one-hot anchors; removed
        from the predictors).
    anchor_columns : list of str or int, or None, default=None
        Columns of ``X`` holding continuous anchors (removed from the
        predictors).
    solver : {"auto", "closed_form", "cvxpy"}, default="auto"
        ``"closed_form"``: the problem is least squares on transformed data
        ``(I - (1 - sqrt(gamma)) Pi_A) [X, y]``, solved by least squares
        (no penalty), :class:`~sklearn.linear_model.Ridge` (l2) or
        :class:`~sklearn.linear_model.ElasticNet` (l1). ``"cvxpy"`` states
        the objective above directly (the reference). ``"auto"``: the closed
        form.
    tol : float, default=1e-10
        Tolerance of ElasticNet's coordinate descent (l1 penalty only).
    max_iter : int, default=100000
        Iteration limit of ElasticNet's coordinate descent.

    Attributes
    ----------
    coef_ : ndarray of shape (n_predictors,)
        Coefficients of the predictors (anchor and environment columns
        excluded).
    intercept_ : float
    n_anchors_ : int
        Number of anchor columns (one per environment level, plus the
        continuous anchors); 0 in the fallback without anchors.
    environments_ : ndarray or None
        Environment labels seen in fit.
    solver_ : str
        ``"lstsq"``, ``"ridge"``, ``"elasticnet"`` or the cvxpy solver.
    solver_status_ : str
    n_iter_ : int
        Coordinate-descent sweeps (l1 penalty), the interior-point iterations
        (cvxpy), or 1 for a closed-form solve.
    objective_ : float
        The objective above at the solution (in squared units of ``y``:
        ``inf`` when beyond the float range, for ``y`` near 1e154 or more).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    InvariantCausalPrediction : Selects the invariant predictors.
    make_worst_environment_scorer : Scores the worst environment.
    worst_fold_refit : Makes GridSearchCV pick the best worst fold.

    Notes
    -----
    Without anchors (neither ``environments``, ``anchors`` nor anchor
    columns), the anchor term vanishes: the model is (penalised) least
    squares, with a :class:`~skcausal_trust.exceptions.NoEnvironmentsWarning`.
    Sample weights weight rows in both terms (the projection is orthogonal
    in the weighted inner product). The closed form needs only the weighted
    Gram matrix of ``[1, X, y, anchors]``: on a dask array or dataframe it is
    summed partition by partition (on the active ``dask.distributed`` client,
    if any), so the data never have to fit in memory.

    References
    ----------
    .. [1] D. Rothenhausler, N. Meinshausen, P. Buhlmann and J. Peters,
       "Anchor regression: heterogeneous data meet causality", Journal of
       the Royal Statistical Society, Series B, 83(2):215-246, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausal_trust.invariance import AnchorRegression
    >>> rng = np.random.default_rng(0)
    >>> env = np.repeat([0, 1, 2], 300)
    >>> h = rng.normal(size=900)                       # hidden confounder
    >>> x = 2.0 * env + h + rng.normal(size=900)        # shifted by env
    >>> y = 1.0 * x + 2.0 * h + rng.normal(size=900)    # causal effect 1
    >>> ols = AnchorRegression(gamma=1).fit(x[:, None], y, environments=env)
    >>> iv = AnchorRegression(gamma=1e6).fit(x[:, None], y, environments=env)
    >>> round(float(ols.coef_[0]), 2), round(float(iv.coef_[0]), 2)
    (1.41, 1.0)
    """

    __metadata_request__fit = {"environments": True, "anchors": True}

    _parameter_constraints = {
        "gamma": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "environment_column": [str, Integral, None],
        "anchor_columns": [list, tuple, None],
        "solver": [StrOptions({"auto", "closed_form", "cvxpy"})],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        gamma=5.0,
        *,
        alpha=0.0,
        l1_ratio=0.0,
        fit_intercept=True,
        environment_column=None,
        anchor_columns=None,
        solver="auto",
        tol=1e-10,
        max_iter=100_000,
    ):
        self.gamma = gamma
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.environment_column = environment_column
        self.anchor_columns = anchor_columns
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y, *, environments=None, anchors=None, sample_weight=None):
        """Fit the anchor regression.

        Parameters
        ----------
        X : {array-like, DataFrame, dask array, dask DataFrame} of shape \
                (n_samples, n_features)
            Numeric predictors; may hold the environment and anchor columns.
            A dask array or dataframe (any size) is read partition by
            partition in two passes: the weighted means and the
            environments' weights, then the weighted Gram matrix of the
            centred ``[X, y, anchors]``, from which the same solvers give
            the in-memory solution up to rounding (the elastic net: the same
            coordinate-descent iterates, so well within ``tol``). The other
            row arguments must then be dask collections with the same row
            partitions (columns of the same dask dataframe, or arrays with
            the same row chunks).
        y : array-like or dask array / Series of shape (n_samples,)
            Continuous target.
        environments : array-like or dask array / Series of shape \
                (n_samples,), default=None
            Environment labels, one-hot encoded into anchors. Requested by
            default under metadata routing.
        anchors : array-like or dask collection of shape (n_samples,) or \
                (n_samples, n_anchors), default=None
            Continuous anchor variables. Requested by default under metadata
            routing.
        sample_weight : array-like or dask array / Series of shape \
                (n_samples,), default=None
            Row weights.

        Returns
        -------
        self : AnchorRegression

        Raises
        ------
        ValueError
            For NaN or infinite values (on dask, naming the argument, when
            the partition is read), mismatched lengths, unknown anchor or
            environment columns, an environment column given twice, or a
            single environment. With ``alpha > 0``, for a predictor (and,
            with ``l1_ratio > 0``, the target) whose largest magnitude is
            outside ``[2**-400, 2**400]``: the penalty is stated in the data's
            units. Otherwise the solution is found in working units (each
            column divided by a power of two, exactly) and any finite scale is
            fitted (on dask, while the weighted sums stay below about
            1e308). On dask collections, also for ``solver="cvxpy"`` (it
            states the program on the rows; refused
            before any pass), an ``environment_column`` naming a one-hot
            block, negative sample weights, and partitions that are not
            aligned.
        TypeError
            When some of the row arguments are dask collections and others
            are in memory.
        """
        if any_dask(X, y, environments, anchors, sample_weight):
            return self._fit_dask(X, y, environments, anchors, sample_weight)
        features, y, env, names = self._validate_environments(
            X, y, environments=environments, require_y=True, y_numeric=True)
        Xv = features
        n = len(y)
        all_names = getattr(self, "feature_names_in_", None)
        all_names = None if all_names is None else [str(c) for c in all_names]
        n_columns = self.n_features_in_
        parts, removed, env_levels = [], set(env.columns if env is not None else []), None
        if env is not None:
            env_levels, codes = environment_codes(env, what="anchor regression")
            parts.append(np.eye(env_levels.size)[codes])
        keep = [j for j in range(n_columns) if j not in removed]
        if self.anchor_columns is not None:
            idx = column_positions(self.anchor_columns, all_names, n_columns,
                                   "anchor_columns")
            if removed & set(idx):
                raise ValueError("anchor_columns repeats the environment_column.")
            columns = [all_names[j] if all_names else f"x{j}" for j in idx]
            local = [keep.index(j) for j in idx]
            source = (Xv.iloc[:, local] if isinstance(Xv, pd.DataFrame)
                      else np.asarray(Xv)[:, local])
            parts.append(_check_anchors(source, f"X[{columns!r}] (anchor_columns)"))
            removed |= set(idx)
        if anchors is not None:
            A = _check_anchors(anchors, "anchors")
            A = A.reshape(-1, 1) if A.ndim == 1 else A
            if A.shape[0] != n:
                raise ValueError(f"anchors has {A.shape[0]} rows but X has {n}.")
            parts.append(A)
        predictors = [j for j in keep if j not in removed]
        local = [keep.index(j) for j in predictors]
        kept = Xv.iloc[:, local] if isinstance(Xv, pd.DataFrame) else np.asarray(Xv)[:, local]
        kept_names = [all_names[j] if all_names else f"x{j}" for j in predictors]
        if not predictors:
            raise ValueError("X has no predictor left after removing the environment "
                             "and anchor columns.")
        features = numeric_features(kept, kept_names)
        keep = predictors
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        A = np.hstack(parts) if parts else np.zeros((n, 0))
        if not np.isfinite(A).all():
            raise ValueError("anchors has NaN or infinite values.")
        sw = check_weights(sample_weight, features)
        if A.shape[1] == 0:
            warnings.warn(
                "AnchorRegression was fitted without anchors (environments, "
                "anchors, environment_column or anchor_columns): it is "
                "(penalised) least squares.",
                NoEnvironmentsWarning,
                stacklevel=4,
            )
        coef, intercept, solver, status, n_iter = self._solve(features, y, A, sw, kept_names)
        self.coef_ = coef
        self.intercept_ = float(intercept)
        self.n_anchors_ = A.shape[1]
        self.environments_ = env_levels
        self.solver_ = solver
        self.solver_status_ = status
        self.n_iter_ = n_iter
        self.objective_ = self._objective_value(features, y, A, sw, coef, intercept)
        self._keep = keep
        return self

    # -- solvers ------------------------------------------------------------
    def _center(self, M, sw):
        """``M`` less its weighted column means, and the means (with an
        intercept); else ``M`` as it is, and zero means."""
        if not self.fit_intercept:
            return M, np.zeros(M.shape[1:]) if M.ndim > 1 else 0.0
        mean = np.average(M, axis=0, weights=sw)
        return M - mean, mean

    def _transform(self, features, y, A, sw):
        """Weighted, centred data mapped by I - (1 - sqrt(gamma)) Pi_A."""
        Xc, x_mean = self._center(features, sw)
        yc, y_mean = self._center(y, sw)
        root = np.sqrt(sw)
        Xs, ys = root[:, None] * Xc, root * yc
        if A.shape[1]:
            As = root[:, None] * self._center(A, sw)[0]
            projected = _project(As, np.column_stack([Xs, ys]))
            shrink = 1.0 - np.sqrt(self.gamma)
            Xs = Xs - shrink * projected[:, :-1]
            ys = ys - shrink * projected[:, -1]
        return Xs, ys, x_mean, y_mean

    def _solve(self, features, y, A, sw, names):
        ex, ey, ea = self._working_exponents(
            np.abs(features).max(axis=0, initial=0.0), float(np.abs(y).max(initial=0.0)),
            np.abs(A).max(axis=0, initial=0.0), names)
        features, y, A = (times_power_of_two(features, -ex), times_power_of_two(y, -ey),
                          times_power_of_two(A, -ea))
        if self.solver == "cvxpy":
            coef, intercept, *rest = self._solve_cvxpy(features, y, A, sw)
        else:
            Xs, ys, x_mean, y_mean = self._transform(features, y, A, sw)
            coef, intercept, *rest = self._solve_transformed(Xs, ys, sw.sum(), x_mean,
                                                             y_mean)
        return (times_power_of_two(coef, ey - ex), float(times_power_of_two(intercept, ey)),
                *rest)

    def _working_exponents(self, x_peaks, y_peak, a_peaks, names):
        """Powers of two by which the predictors, the target and the anchors
        are divided (each column's largest magnitude brought to [1, 2); 0
        for a zero column), or 0 where the program is not equivariant.

        The solution is found in these working units, exactly (powers of
        two), and converted back: neither the products overflow or underflow
        at any finite scale, nor does lstsq's cutoff drop a column measured
        on a much smaller scale than another. The anchors only enter through
        the projection on their span, which scaling a column leaves as it
        is: they are always rescaled. Without a penalty (``alpha=0``) the
        solution is equivariant under scaling a predictor or the target; a
        ridge penalty (``l1_ratio=0``) keeps it linear in the target, but is
        stated in the predictors' units, and the elastic net's L1 term is
        not quadratic in the target either: those stay in the data's units,
        and a column whose magnitude is outside [2**-400, 2**400] (about
        1e-120 to 1e120), where products of its values could overflow or
        lose digits, is an error naming it."""
        x_peaks, a_peaks = np.asarray(x_peaks, dtype=float), np.asarray(a_peaks, dtype=float)
        ea = exponents_below(a_peaks)
        scale_y = self.alpha == 0 or self.l1_ratio == 0
        labelled = [] if self.alpha == 0 else [
            (f"X[{name!r}]", peak) for name, peak in zip(names, x_peaks)]
        labelled += [] if scale_y else [("y", y_peak)]
        for argument, peak in labelled:
            if peak > 0 and not SAFE_MAGNITUDES[0] <= peak <= SAFE_MAGNITUDES[1]:
                raise ValueError(
                    f"{argument} has values of magnitude {peak:.3g}: with alpha="
                    f"{self.alpha!r} the penalised program is solved in the data's "
                    "units, where products of such values overflow or lose their "
                    "digits. Rescale the column (the penalty then weighs its "
                    "coefficient differently) or use alpha=0, which is solved "
                    "exactly at any scale.")
        ex = (exponents_below(x_peaks) if self.alpha == 0
              else np.zeros(x_peaks.size, dtype=int))
        ey = int(exponents_below(y_peak)) if scale_y else 0
        return ex, ey, ea

    def _solve_transformed(self, Xs, ys, n_eff, x_mean, y_mean):
        """Statistics -> solution: least squares (lstsq, Ridge or ElasticNet)
        on the transformed rows ``Xs, ys`` -- the data's, or a small set of
        rows with the same Gram matrix (:meth:`_solve_gram`); ``n_eff`` is
        the total weight of the data's rows."""
        if self.alpha == 0:
            coef, *_ = np.linalg.lstsq(Xs, ys, rcond=None)
            solver, status, n_iter = "lstsq", "optimal", 1
        elif self.l1_ratio == 0:
            model = Ridge(alpha=self.alpha * n_eff, fit_intercept=False, solver="svd")
            coef = model.fit(Xs, ys).coef_
            solver, status, n_iter = "ridge", "optimal", 1
        else:
            # ElasticNet's loss is 1/(2 n_rows): rescale to the weighted count.
            scale = np.sqrt(Xs.shape[0] / n_eff)
            model = ElasticNet(
                alpha=self.alpha, l1_ratio=self.l1_ratio, fit_intercept=False,
                tol=self.tol, max_iter=self.max_iter, selection="cyclic",
            )
            coef = model.fit(scale * Xs, scale * ys).coef_
            solver, n_iter = "elasticnet", int(model.n_iter_)
            status = "converged" if n_iter < self.max_iter else "max_iter reached"
        intercept = y_mean - x_mean @ coef if self.fit_intercept else 0.0
        return np.asarray(coef, dtype=float), intercept, solver, status, n_iter

    def _solve_cvxpy(self, features, y, A, sw):
        import cvxpy as cp  # imported on use: about 2 s
        p = features.shape[1]
        b = cp.Variable(p)
        c = cp.Variable() if self.fit_intercept else 0.0
        root = np.sqrt(sw)
        residual = cp.multiply(root, y - features @ b - c)
        if A.shape[1]:
            As = root[:, None] * A
            # Orthonormal basis of the weighted anchors' span (with the
            # constant when there is an intercept, which the projection of
            # the constant then absorbs exactly as centring does).
            basis_in = np.column_stack([root, As]) if self.fit_intercept else As
            u, s, _ = np.linalg.svd(basis_in, full_matrices=False)
            Q = u[:, s > s.max() * 1e-10]
            if self.fit_intercept:
                q0 = root / np.linalg.norm(root)
                Q = Q - np.outer(q0, q0 @ Q)
                u2, s2, _ = np.linalg.svd(Q, full_matrices=False)
                Q = u2[:, s2 > 1e-10]
            proj = Q.T @ residual
            # ||(I - Pi) r||^2 + gamma ||Pi r||^2: convex for every gamma >= 0.
            loss = cp.sum_squares(residual - Q @ proj) + self.gamma * cp.sum_squares(proj)
        else:
            loss = cp.sum_squares(residual)
        n_eff = sw.sum()
        penalty = self.alpha * (
            self.l1_ratio * cp.norm1(b) + (1 - self.l1_ratio) / 2 * cp.sum_squares(b)
        )
        problem = cp.Problem(cp.Minimize(loss / (2 * n_eff) + penalty))
        name = solve_problem(problem, what="the anchor regression program (solver='cvxpy')")
        intercept = float(c.value) if self.fit_intercept else 0.0
        n_iter = int(getattr(problem.solver_stats, "num_iters", None) or 1)
        return np.asarray(b.value, dtype=float), intercept, name, problem.status, n_iter

    def _objective_value(self, features, y, A, sw, coef, intercept):
        root = np.sqrt(sw)
        r = root * (y - features @ coef - intercept)
        # The residuals' squares in units of 2**(2 e): no overflow on the way
        # (the objective is inf only when it is beyond the float range).
        e = int(exponents_below(np.abs(r).max(initial=0.0)))
        r = times_power_of_two(r, -e)
        total = r @ r
        if A.shape[1]:
            # The anchors' span in working units: each column divided by a
            # power of two (exact, the span unchanged), so that anchors of
            # very different scales all count (pinv's cutoff is relative).
            A = times_power_of_two(A, -exponents_below(np.abs(A).max(axis=0, initial=0.0)))
            As = root[:, None] * self._center(A, sw)[0]
            pr = _project(As, r[:, None])[:, 0]
            total += (self.gamma - 1.0) * (pr @ pr)
        with np.errstate(over="ignore"):  # inf: beyond the float range (y near 1e154)
            return float(np.ldexp(total / (2 * sw.sum()), 2 * e) + self._penalty(coef))

    def _penalty(self, coef):
        if self.alpha == 0:
            return 0.0  # coef @ coef may overflow at extreme scales
        return self.alpha * (
            self.l1_ratio * np.abs(coef).sum() + (1 - self.l1_ratio) / 2 * coef @ coef
        )

    # -- dask collections ---------------------------------------------------
    def _fit_dask(self, X, y, environments, anchors, sample_weight):
        """``fit`` on dask collections: rows -> statistics in two passes over
        the partitions (weighted sums and the environments' weights; then
        the weighted Gram matrix of the centred ``[X, y, anchors]``), then
        statistics -> solution (:meth:`_solve_gram`)."""
        dask_partners(X, {"y": y, "environments": environments, "anchors": anchors,
                          "sample_weight": sample_weight})
        if self.solver == "cvxpy":
            raise ValueError(
                "solver='cvxpy' states the program on the rows, which is not done "
                "on a dask collection; use solver='auto' or 'closed_form' (the "
                "same solution from the data's Gram matrix), or fit in memory."
            )
        all_names, dtypes = dask_columns(self, X, reset=True)
        n_columns = len(dtypes)

        def name(j):
            return all_names[j] if all_names else f"x{j}"

        env_column, env_argument = dask_environment(
            self.environment_column, environments, all_names, n_columns)
        removed = set() if env_column is None else {env_column}
        anchor_columns, anchor_argument = [], None
        if self.anchor_columns is not None:
            anchor_columns = column_positions(self.anchor_columns, all_names, n_columns,
                                              "anchor_columns")
            if removed & set(anchor_columns):
                raise ValueError("anchor_columns repeats the environment_column.")
            anchor_argument = f"X[{[name(j) for j in anchor_columns]!r}] (anchor_columns)"
            if not all(is_numeric_dtype(dtypes[j]) for j in anchor_columns):
                raise ValueError(f"{anchor_argument} must be numeric (continuous "
                                 "anchors); pass labels as environments instead.")
            removed |= set(anchor_columns)
        predictors = [j for j in range(n_columns) if j not in removed]
        if not predictors:
            raise ValueError("X has no predictor left after removing the environment "
                             "and anchor columns.")
        bad = [name(j) for j in predictors if not is_numeric_dtype(dtypes[j])]
        if bad:
            raise non_numeric_error(bad)
        n_anchors = len(anchor_columns)
        for argument, value in (("y", y), ("anchors", anchors),
                                ("sample_weight", sample_weight)):
            if value is None:
                continue
            if argument == "y":
                check_no_date_target(value)
            width, kinds = dask_width(value, argument)
            if argument != "anchors" and width != 1:
                raise ValueError(f"{argument} must be 1-dimensional; got {width} columns.")
            if not all(is_numeric_dtype(k) for k in kinds):
                raise ValueError(
                    f"{argument} must be numeric" + (
                        " (continuous anchors); pass labels as environments instead."
                        if argument == "anchors" else "."))
            if argument == "anchors":
                n_anchors += width
        collections = {"X": X, "y": y}
        for argument, value in (("environments", environments), ("anchors", anchors),
                                ("sample_weight", sample_weight)):
            if value is not None:
                collections[argument] = value
        layout = (list(collections), predictors, env_column, env_argument,
                  anchor_columns, anchor_argument)
        first = reduce_partitions(partial(_anchor_first_pass, layout), collections,
                                  combine={"peak": "max"})
        if first["n"] == 0:
            raise ValueError("X has no rows (0 samples); nothing to fit.")
        n_eff = first["weight"]
        if not n_eff > 0:
            raise ValueError("sample_weight: every weight is zero; nothing to fit.")
        levels, shares = None, np.zeros(0)
        if env_argument is not None:
            totals = first["env"]
            levels = attribute_levels(list(totals.totals))
            if levels.size < 2:
                raise ValueError(
                    f"{env_argument} has a single environment {levels[0]!r}; anchor "
                    "regression needs data from at least two."
                )
            shares = totals.weights(levels) / n_eff
            n_anchors += levels.size
        if n_anchors == 0:
            warnings.warn(
                "AnchorRegression was fitted without anchors (environments, "
                "anchors, environment_column or anchor_columns): it is "
                "(penalised) least squares.",
                NoEnvironmentsWarning,
                stacklevel=5,
            )
        p = len(predictors)
        # Working units as in memory (_working_exponents): exact powers of two.
        peak = first["peak"]
        ex, ey, ea = self._working_exponents(peak[:p], float(peak[p]), peak[p + 1:],
                                             [name(j) for j in predictors])
        exponents = np.concatenate([ex, [ey], ea])
        if not np.all(np.isfinite(first["sums"])):
            raise ValueError(
                "the weighted sums of [X, y, anchors] overflow (values near 1e308 or "
                "weights that large); rescale the columns.")
        # np.average's weighted means, as _center takes them in memory.
        means = (times_power_of_two(first["sums"], -exponents) / n_eff if self.fit_intercept
                 else np.zeros_like(first["sums"]))
        centres = (means, shares if self.fit_intercept else np.zeros_like(shares))
        gram = reduce_partitions(
            partial(_anchor_second_pass, layout,
                    None if levels is None else list(levels), centres, exponents),
            collections)
        coef, intercept, solver, status, n_iter, objective = self._solve_gram(
            gram, p, n_eff, means[:p], means[p], first["n"])
        coef = times_power_of_two(coef, ey - ex)
        intercept = times_power_of_two(intercept, ey)
        objective = float(times_power_of_two(objective, 2 * ey))
        self.coef_ = coef
        self.intercept_ = float(intercept)
        self.n_anchors_ = n_anchors
        self.environments_ = levels
        self.solver_ = solver
        self.solver_status_ = status
        self.n_iter_ = n_iter
        self.objective_ = objective
        self._keep = predictors
        return self

    def _solve_gram(self, gram, p, n_eff, x_mean, y_mean, n_rows):
        """Statistics -> solution from the weighted Gram matrix of the
        centred ``[X, y, A]`` (``A`` the anchors): the Gram matrix of the
        transformed ``[Xs, ys]`` is ``G - (1 - gamma) G_MA G_AA^+ G_AM``
        (``(I - s P)'(I - s P) = I - (1 - gamma) P`` with
        ``s = 1 - sqrt(gamma)``, ``P`` the anchors' projection); rows ``R``
        with ``R'R`` equal to it go to the in-memory solver, and the
        objective is ``v' T v / (2 n_eff)`` plus the penalty, with
        ``v = (-coef, 1)``.

        ``T`` is factored with its columns brought to unit scale by powers
        of two (exact): a penalised fit stays in the data's units, where one
        predictor may be 2**30 times another, and the small one's direction
        would otherwise fall below the eigenvalues' rounding level of the
        large one. Eigenvalues at the level of their rounding (a sum of
        ``n_rows`` products) are set to 0, so that exactly collinear
        predictors give lstsq's minimum-norm solution, as on the rows."""
        d = p + 1
        T = gram[:d, :d]
        if gram.shape[0] > d:
            cross, anchors = gram[d:, :d], gram[d:, d:]
            inverse = np.linalg.pinv(anchors, rcond=1e-10, hermitian=True)
            T = T - (1.0 - self.gamma) * (cross.T @ inverse @ cross)
        T = (T + T.T) / 2
        # 2**e near each column's root mean square (e = 0 for a zero column).
        _, e = np.frexp(np.sqrt(np.maximum(np.diag(T), 0.0)))
        unit = np.ldexp(T, -e[:, None] - e[None, :])
        values, vectors = np.linalg.eigh(unit)
        floor = values.max() * np.finfo(float).eps * (d + np.sqrt(n_rows))
        values = np.where(values > floor, values, 0.0)
        R = np.ldexp(np.sqrt(values)[:, None] * vectors.T, e[None, :])
        coef, intercept, solver, status, n_iter = self._solve_transformed(
            R[:, :p], R[:, p], n_eff, x_mean, y_mean)
        v = np.append(-coef, 1.0)
        objective = float((v @ T @ v) / (2 * n_eff) + self._penalty(coef))
        return coef, intercept, solver, status, n_iter, objective

    # -- prediction ---------------------------------------------------------
    def predict(self, X):
        """Predict with the fitted coefficients.

        Parameters
        ----------
        X : {array-like, DataFrame, dask array, dask DataFrame} of shape \
                (n_samples, n_features)
            As in fit; environment and anchor columns are ignored.

        Returns
        -------
        y_pred : ndarray, or dask array / Series, of shape (n_samples,)
            For a dask collection, a lazy one with the same row partitions
            (a dask Series for a dask dataframe), each partition predicted
            as in memory.

        Raises
        ------
        ValueError
            If ``X`` has other columns than in fit (for a dask collection, at
            once), or NaN or infinite predictors (for a dask collection, when
            computed).
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            dask_columns(self, X, reset=False)
            return map_rows(self.predict, X, dtype=float)
        return kept_columns(self, X, self._keep) @ self.coef_ + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _check_anchors(values, argument):
    """Float anchors; errors naming their source for text, NaN or infinity."""
    try:
        A = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{argument} must be numeric (continuous anchors); pass labels as "
            f"environments instead. ({exc})"
        ) from exc
    if not np.isfinite(A).all():
        raise ValueError(f"{argument} has NaN or infinite values.")
    return A


def _project(A, M):
    """Projection of the columns of ``M`` on the span of ``A``'s columns, from
    the small normal equations (``A`` has few columns: environments and
    anchors); the pseudo-inverse handles collinear anchors."""
    return A @ (np.linalg.pinv(A.T @ A, rcond=1e-10, hermitian=True) @ (A.T @ M))


def _anchor_rows(layout, *parts):
    """One partition's predictors, target, weights, environment labels and
    continuous anchors."""
    roles, predictors, env_column, env_argument, anchor_columns, anchor_argument = layout
    part = dict(zip(roles, parts))
    X = part["X"]
    Xp = read_floats(X, "X", predictors)
    yp = read_floats(part["y"], "y", vector=True)
    if "sample_weight" in part:
        w = read_floats(part["sample_weight"], "sample_weight", vector=True)
        if np.any(w < 0):
            raise ValueError("sample_weight has negative values; weights must be "
                             "non-negative.")
    else:
        w = np.ones(len(yp))
    labels = None
    if env_argument is not None:
        labels = read_labels(part.get("environments", X), env_argument, env_column)
    continuous = [np.zeros((len(yp), 0))]
    if anchor_columns:
        continuous.append(read_floats(X, anchor_argument, anchor_columns))
    if "anchors" in part:
        continuous.append(read_floats(part["anchors"], "anchors"))
    return Xp, yp, w, labels, np.hstack(continuous)


def _anchor_first_pass(layout, *parts):
    """Pass 1 on one partition: weighted sums of ``[X, y, anchors]`` and the
    environments' weights."""
    Xp, yp, w, labels, continuous = _anchor_rows(layout, *parts)
    M = np.column_stack([Xp, yp, continuous])
    summary = {"n": len(yp), "weight": w.sum(), "sums": np.multiply(M, w[:, None]).sum(axis=0),
               "peak": np.abs(M).max(axis=0, initial=0.0)}
    if labels is not None:
        summary["env"] = LabelTotals(labels, w)
    return summary


def _anchor_second_pass(layout, levels, centres, exponents, *parts):
    """Pass 2 on one partition: the weighted Gram matrix of the centred
    ``[X, y, one-hot environments, continuous anchors]``, each of ``X``,
    ``y`` and the continuous anchors in its working units (divided by
    ``2**exponents``; ``centres`` are in those units)."""
    Xp, yp, w, labels, continuous = _anchor_rows(layout, *parts)
    means, shares = centres
    M = times_power_of_two(np.column_stack([Xp, yp, continuous]), -exponents) - means
    p1 = Xp.shape[1] + 1
    # [X, y, one-hot environments, continuous anchors]: A stacked as in fit.
    blocks = [M[:, :p1]]
    if levels is not None:
        blocks.append(np.eye(len(levels))[codes_of(labels, levels)] - shares)
    blocks.append(M[:, p1:])
    Z = np.sqrt(w)[:, None] * np.column_stack(blocks)
    return Z.T @ Z
