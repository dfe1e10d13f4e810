"""Invariant Causal Prediction (Peters, Buhlmann and Meinshausen 2016)."""

import warnings
from itertools import combinations
from math import comb
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.linear_model import LogisticRegression, lars_path
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils._dataframe import is_pandas_df
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..exceptions import ModelRejectedWarning, NoEnvironmentsWarning
from ..base import (
    EnvironmentsMixin,
    attribute_levels,
    environment_codes,
    numeric_features,
)
from ..utils._validation import keep_state_on_failure
from ._stats import EnvironmentStatistics, power_of_two_exponents

__all__ = ["InvariantCausalPrediction"]


def check_environments(codes, levels, n_features, *, min_rows, argument="environments"):
    """Raise when an environment has fewer than ``min_rows`` rows."""
    counts = np.bincount(codes, minlength=len(levels))
    if counts.min() < min_rows:
        small = {str(lvl): int(c) for lvl, c in zip(levels, counts) if c < min_rows}
        raise ValueError(
            f"{argument}: environments {small!r} have fewer than {min_rows} rows "
            f"(predictors + 2, with subsets of up to {n_features} predictors); "
            "merge or drop them, or bound max_subset_size."
        )


class InvariantCausalPrediction(EnvironmentsMixin, SelectorMixin, BaseEstimator):
    """Select the causal parents of the target by invariant causal prediction.

    Tests, for every subset ``S`` of predictors (up to ``max_subset_size``),
    the hypothesis that the conditional distribution of ``y`` given ``X_S``
    is the same in every environment, and selects the intersection of the
    accepted subsets. If the target has a linear structural equation with
    Gaussian noise and the environments do not intervene on the target, the
    selected set is contained in the true parents with probability at least
    ``1 - alpha`` [1]_. If every subset is rejected, the model is
    misspecified: nothing is selected, ``model_rejected_`` is True, and a
    :class:`~skcausal_trust.exceptions.ModelRejectedWarning` says so.
    Fitted without environments (as scikit-learn's checks do), nothing can be
    tested: every feature is kept, with a
    :class:`~skcausal_trust.exceptions.NoEnvironmentsWarning`.

    Read more in the :ref:`User Guide <invariance>`.

    Parameters
    ----------
    alpha : float, default=0.05
        Level of the tests, in (0, 1): the probability of selecting a
        non-parent is at most ``alpha``.
    test : {"approximate", "exact"}, default="approximate"
        ``"approximate"``: pool all environments, fit ``y`` on ``X_S`` by
        least squares, and compare the residuals of each environment with
        those of the others: Welch's t-test of the means and the two-sided
        F-test of the variances (method II of [1]_; the test of the R package
        ``InvariantCausalPrediction`` and of ``causalicp``). ``"exact"``:
        fit on all environments but one and test the prediction of the
        held-out one with Chow's F-test (exact under Gaussian noise; method I
        of [1]_). Binary targets (either value) use the likelihood-ratio test
        of one unpenalised logistic model of ``y`` on ``X_S`` pooled over the
        environments against one per environment (asymptotically
        chi-squared with ``(E - 1)(|S| + 1)`` degrees of freedom): residual
        tests are not valid there, since logistic residuals are
        heteroscedastic and heavy-tailed when ``X`` shifts.
    max_subset_size : int or None, default=None
        Largest subset size tested; ``None`` tests all subsets. The number of
        subsets is ``sum_k C(p, k)``.
    max_predictors : int, default=12
        Largest number of predictors searched exhaustively (4,096 subsets).
        With more predictors: ``screening="lasso"`` keeps the first
        ``max_predictors`` to enter the pooled lasso path (as the R
        package's ``selection="lasso"``), and otherwise fitting raises
        a ``ValueError`` stating the number of subsets.
    screening : {"lasso"} or None, default=None
        Pre-screening step for many predictors (see ``max_predictors``). It
        keeps the most predictive variables, and children of ``y`` are very
        predictive: when they outnumber the slots they can push a parent out,
        and the coverage guarantee then holds only for the screened set.
    environment_column : str, int or None, default=None
        Column of ``X`` holding the environment labels (removed from the
        predictors). Otherwise pass ``environments`` to :meth:`fit`.
    target_type : {"auto", "continuous", "binary"}, default="auto"
        How ``y`` is read, by scikit-learn's
        :func:`~sklearn.utils.multiclass.type_of_target`. ``"auto"``: a
        binary target (two values) gets the logistic likelihood-ratio test
        and a continuous one the linear tests; a multiclass target (three
        or more integer or text labels) is an error, since ICP handles
        continuous or binary targets. ``"continuous"`` forces the linear
        tests on a numeric target: integer codes or counts read as numbers,
        or a 0/1 target read as a linear probability model. ``"binary"``
        requires a target with two values.
    n_jobs : int or None, default=None
        Parallel jobs over chunks of subsets (joblib; a Dask or Ray backend
        works through ``joblib.parallel_backend``).

    Attributes
    ----------
    accepted_subsets_ : list of tuple of str
        The accepted subsets (feature names).
    subset_pvalues_ : dict
        ``{subset (tuple of names): p-value}`` for every tested subset,
        Bonferroni-corrected over the environments' tests.
    pvalues_ : ndarray of shape (`n_features_in_`,)
        For each predictor, the largest p-value among tested subsets that do
        not contain it: the p-value of the hypothesis "this predictor is not
        a causal parent", so a small value is evidence that it is one (1 when
        the model is rejected, or when screening left the predictor out --
        which is only as reliable as the screening; NaN for the environment
        column).
    confidence_intervals_ : ndarray of shape (`n_features_in_`, 2)
        Union over accepted subsets (accepted at level ``alpha``) of the
        coefficient intervals: normal intervals
        ``beta +- z_{1 - alpha/4} * se`` from the pooled least squares of
        each subset, two-sided level ``1 - alpha/2``, the predictor's
        coefficient being 0 outside a subset; NaN when the model is
        rejected, and for classification.
    support_ : ndarray of bool of shape (`n_features_in_`,)
        The selected predictors (the intersection of the accepted subsets).
    model_rejected_ : bool
        True if every tested subset was rejected.
    screened_features_ : list of str
        The predictors searched (all, or those kept by the screening).
    n_subsets_tested_ : int
    environments_ : ndarray
        The environment labels seen in fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    AnchorRegression : A regression that trades fit for robustness to shift.

    Notes
    -----
    Every test is computed from per-environment sufficient statistics (row
    counts and Gram matrices of ``[1, X, y]``), built in one pass over the
    rows; subsets of one size are tested together by batched linear algebra.
    Every test is invariant to the units of ``y`` and of each predictor: the
    columns are brought to unit scale by powers of two (exact in floating
    point) before the statistics, and the logistic fits see standardised
    predictors, so data at any finite scale give the same p-values.
    The approximate test's p-value of a subset is the smallest of its
    ``2 E`` p-values times ``2 E`` (Bonferroni over the ``E`` environments and
    both tests); the R package and ``causalicp`` multiply by ``2 (E - 1)``,
    which is slightly anti-conservative for ``E > 2``. The exact test
    multiplies by ``E``.

    References
    ----------
    .. [1] J. Peters, P. Buhlmann and N. Meinshausen, "Causal inference by
       using invariant prediction: identification and confidence intervals",
       Journal of the Royal Statistical Society, Series B, 78(5):947-1012,
       2016.
    .. [2] G. C. Chow, "Tests of equality between sets of coefficients in two
       linear regressions", Econometrica, 28(3):591-605, 1960.

    Examples
    --------
    >>> from skcausal_trust.datasets import make_invariant_regression
    >>> from skcausal_trust.invariance import InvariantCausalPrediction
    >>> X, y, env, parents = make_invariant_regression(random_state=0)
    >>> icp = InvariantCausalPrediction().fit(X, y, environments=env)
    >>> list(icp.get_feature_names_out()), parents
    (['x2', 'x3'], ['x2', 'x3'])
    """

    __metadata_request__fit = {"environments": True}

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "test": [StrOptions({"approximate", "exact"})],
        "max_subset_size": [Interval(Integral, 0, None, closed="left"), None],
        "max_predictors": [Interval(Integral, 1, None, closed="left")],
        "screening": [StrOptions({"lasso"}), None],
        "environment_column": [str, Integral, None],
        "target_type": [StrOptions({"auto", "continuous", "binary"})],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        alpha=0.05,
        *,
        test="approximate",
        max_subset_size=None,
        max_predictors=12,
        screening=None,
        environment_column=None,
        target_type="auto",
        n_jobs=None,
    ):
        self.alpha = alpha
        self.test = test
        self.max_subset_size = max_subset_size
        self.max_predictors = max_predictors
        self.screening = screening
        self.environment_column = environment_column
        self.target_type = target_type
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y, *, environments=None):
        """Test every subset and select the invariant predictors.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Numeric predictors; may hold the environment column. The tests
            do not depend on the units of ``X`` or ``y`` (any finite scale,
            such as ``1e-300`` or ``1e300``, gives the same p-values).
        y : array-like of shape (n_samples,)
            Continuous target, or a binary one (two classes); see
            ``target_type`` for integer codes.
        environments : array-like of shape (n_samples,), default=None
            Environment label of each row (site, period, experimental
            condition), when not a column of ``X``. Requested by default
            under metadata routing.

        Returns
        -------
        self : InvariantCausalPrediction

        Raises
        ------
        ValueError
            With a single environment; fewer rows than two environments of
            predictors + 2 rows each, or an environment with fewer rows than
            predictors + 2; a constant predictor; a constant ``y`` (it has no
            noise to test); a multiclass ``y`` with ``target_type="auto"``,
            or a ``y`` that is not binary with ``target_type="binary"``;
            NaN or infinite values; or too many subsets without a bound (the
            message gives their number).
        """
        features, y, env, names = self._validate_environments(
            X, y, environments=environments, require_y=True)
        names = [n if isinstance(n, str) else f"x{n}" for n in names]
        X_ = numeric_features(features, names)
        if env is None:
            warnings.warn(
                "InvariantCausalPrediction was fitted without environments "
                "(neither environments nor environment_column): nothing can be "
                "tested for invariance, so every feature is kept.",
                NoEnvironmentsWarning,
                stacklevel=4,
            )
            return self._fit_without_environments(names)
        max_size = self._largest_subset(X_.shape[1])
        check_n_samples(X_.shape[0], max_size)
        try:
            values = np.unique(np.asarray(y))
        except TypeError:  # labels of mixed types
            values = attribute_levels(y)
        if values.size < 2:
            raise ValueError(
                f"y is constant (every value is {values[:1].tolist()[0]!r}): ICP "
                "tests whether the noise of y given the predictors is the same "
                "in every environment, and a constant target has no noise to test."
            )
        with np.errstate(invalid="ignore"):  # its integer test casts 1e300
            kind = type_of_target(y)
        if self.target_type == "binary" and kind != "binary":
            raise ValueError(
                f"target_type='binary' but y is a {kind} target (needs 2 values)."
            )
        if self.target_type == "auto" and kind == "multiclass":
            shown = ", ".join(repr(v) for v in values[:5].tolist())
            shown += ", ..." if values.size > 5 else ""
            hint = (
                "pass target_type='continuous' to treat the integer codes as "
                "numbers (a linear model of y)"
                if np.asarray(y).dtype.kind in "biuf" else
                "encode it as numbers and pass target_type='continuous', or as "
                "two classes"
            )
            raise ValueError(
                "y must be continuous or binary with target_type='auto'; got a "
                f"multiclass target ({values.size} classes: {shown}): "
                "InvariantCausalPrediction handles continuous or binary targets; "
                f"{hint}."
            )
        if self.target_type == "continuous" or (
            self.target_type == "auto" and kind != "binary"
        ):
            try:
                y = np.asarray(y, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(
                    f"y must be numeric for the linear tests; got a {kind} target."
                ) from None
            if not np.isfinite(y).all():
                raise ValueError("y has NaN or infinite values.")
            classification = False
        else:
            y = (np.asarray(y) == np.unique(y)[1]).astype(float)
            classification = True
        constant = [n for n, c in zip(names, np.ptp(X_, axis=0)) if c == 0]
        if constant:
            raise ValueError(
                f"X has constant columns {constant!r}: their coefficient is not "
                "identified next to the intercept; drop them."
            )
        levels, codes = environment_codes(env)
        keep = self._screen(X_, y, names)
        Xs = X_[:, keep]
        screened = [names[i] for i in keep]
        max_size = self._largest_subset(len(keep))
        # Every tested subset needs its per-environment fit and variance.
        check_environments(codes, levels, max_size, min_rows=max_size + 2,
                           argument=env.argument)
        n_envs = levels.size
        if classification:
            pvals = self._logistic_pvalues(
                _standardise(Xs), y, codes, n_envs,
                _subsets_by_size(len(keep), max_size))
        else:
            statistics = EnvironmentStatistics(Xs, y, codes, n_envs, unit_scale=True)
            pvals = linear_subset_pvalues(statistics, max_size, self.test, self.n_jobs)
        subset_pvalues = {
            tuple(screened[i] for i in s): float(pv) for s, pv in pvals.items()
        }
        accepted = [s for s, pv in pvals.items() if pv > self.alpha]
        model_rejected = not accepted
        selected = set(range(len(keep)))
        for s in accepted:
            selected &= set(s)
        support = np.zeros(self.n_features_in_, dtype=bool)
        positions = self._feature_positions(names)
        pvalues = np.full(self.n_features_in_, np.nan)
        intervals = np.full((self.n_features_in_, 2), np.nan)
        for j_screened, j in enumerate(keep):
            col = positions[j]
            if model_rejected:
                pvalues[col] = 1.0
            else:
                pvalues[col] = max(pv for s, pv in pvals.items() if j_screened not in s)
                support[col] = j_screened in selected
        for j, col in enumerate(positions):
            if j not in set(keep):
                pvalues[col] = 1.0  # screened out: never in a tested subset
        if not model_rejected and not classification:
            ci = self._intervals(statistics, accepted, len(keep))
            for j_screened, j in enumerate(keep):
                intervals[positions[j]] = ci[j_screened]
            for j, col in enumerate(positions):
                if j not in set(keep):
                    intervals[col] = 0.0
        if model_rejected:
            warnings.warn(
                f"InvariantCausalPrediction rejected all {len(pvals)} subsets at "
                f"alpha={self.alpha}: the linear invariant model does not fit "
                "these environments (misspecified model, hidden confounding, or "
                "interventions on the target). Nothing is selected.",
                ModelRejectedWarning,
                stacklevel=4,
            )
        self.environments_ = levels
        self.screened_features_ = screened
        self.n_subsets_tested_ = len(pvals)
        self.subset_pvalues_ = subset_pvalues
        self.accepted_subsets_ = sorted(
            (tuple(screened[i] for i in s) for s in accepted), key=lambda s: (len(s), s)
        )
        self.model_rejected_ = model_rejected
        self.pvalues_ = pvalues
        self.confidence_intervals_ = intervals
        self.support_ = support
        return self

    # -- helpers -----------------------------------------------------------
    def _fit_without_environments(self, names):
        self.environments_ = None
        self.screened_features_ = list(names)
        self.n_subsets_tested_ = 0
        self.subset_pvalues_ = {}
        self.accepted_subsets_ = []
        self.model_rejected_ = False
        self.pvalues_ = np.full(self.n_features_in_, np.nan)
        self.confidence_intervals_ = np.full((self.n_features_in_, 2), np.nan)
        support = np.zeros(self.n_features_in_, dtype=bool)
        support[self._feature_positions(names)] = True
        self.support_ = support
        return self

    def _largest_subset(self, p):
        """The largest subset size tested among ``p`` predictors (at most
        ``max_predictors`` of them when screening)."""
        if self.screening is not None:
            p = min(p, self.max_predictors)
        return p if self.max_subset_size is None else min(self.max_subset_size, p)

    def _feature_positions(self, names):
        """Positions in X (n_features_in_) of the predictor names."""
        all_names = (
            [str(n) for n in self.feature_names_in_]
            if hasattr(self, "feature_names_in_")
            else [f"x{i}" for i in range(self.n_features_in_)]
        )
        return [all_names.index(n) for n in names]

    def _screen(self, X, y, names):
        p = X.shape[1]
        if p <= self.max_predictors:
            return list(range(p))
        if self.screening is None:
            n_subsets = (
                2**p if self.max_subset_size is None
                else sum(comb(p, k) for k in range(min(self.max_subset_size, p) + 1))
            )
            if self.max_subset_size is not None and n_subsets <= 2**self.max_predictors:
                return list(range(p))
            raise ValueError(
                f"X has {p} predictors: an exhaustive search tests {n_subsets:,} "
                f"subsets (more than 2**max_predictors = {2**self.max_predictors:,}). "
                "Set screening='lasso' to keep the first max_predictors to enter "
                "the lasso path, bound max_subset_size, or raise max_predictors."
            )
        # Powers of two first: the path does not depend on the units of X or
        # y, but its stopping rule compares with absolute tolerances, and the
        # standard deviations of 1e300 times the data would overflow.
        Xc = _standardise(X)
        yc = np.ldexp(y, power_of_two_exponents(y))
        _, _, coefs = lars_path(Xc, yc - yc.mean(), method="lasso")
        order = []
        for step in range(coefs.shape[1]):
            for j in np.flatnonzero(coefs[:, step]):
                if j not in order:
                    order.append(int(j))
        for j in range(p):  # predictors that never enter, at the end
            if j not in order:
                order.append(j)
        return sorted(order[: self.max_predictors])

    def _logistic_pvalues(self, X, y, codes, n_envs, subsets_by_size):
        """Likelihood-ratio test of one pooled logistic model of y on X_S
        against one per environment: 2 (sum_e ll_e - ll_pooled) is
        asymptotically chi-squared with (E - 1)(|S| + 1) degrees of freedom
        when P(y | X_S) is invariant."""
        pvals = {}
        for subsets in subsets_by_size:
            for s in subsets:
                ll_pooled = _logistic_loglik(X[:, s], y)
                ll_split = sum(
                    _logistic_loglik(X[codes == e][:, s], y[codes == e])
                    for e in range(n_envs)
                )
                statistic = max(2.0 * (ll_split - ll_pooled), 0.0)
                df = (n_envs - 1) * (len(s) + 1)
                pvals[tuple(s)] = float(stats.chi2.sf(statistic, df))
        return pvals

    def _intervals(self, statistics, accepted, p):
        """Union of the accepted subsets' coefficient intervals; a variable
        outside a subset has coefficient exactly 0 in that subset."""
        z = stats.norm.ppf(1 - self.alpha / 4)
        lo, hi = np.full(p, np.inf), np.full(p, -np.inf)
        for s in accepted:
            set_lo, set_hi = np.zeros(p), np.zeros(p)
            if s:
                subset = np.array([s])
                beta, rss, zz = statistics.pooled_fit(subset)
                dof = statistics.n - len(s) - 1
                se = np.sqrt(np.diag(rss[0] / dof * np.linalg.pinv(zz[0]))[1:])
                # Back from the statistics' power-of-two units: exact, and
                # +-inf for a coefficient beyond the float range (such as
                # that of y on 1e-310 X).
                exponents = statistics.coefficient_exponents(subset)[0]
                with np.errstate(over="ignore"):
                    set_lo[list(s)] = np.ldexp(beta[0, 1:] - z * se, exponents)
                    set_hi[list(s)] = np.ldexp(beta[0, 1:] + z * se, exponents)
            lo, hi = np.minimum(lo, set_lo), np.maximum(hi, set_hi)
        return np.column_stack([lo, hi])

    def transform(self, X):
        """Reduce ``X`` to the selected predictors.

        Columns that only fit uses (the ``environment_column``) and the
        predictors that are not selected are dropped unread: only the
        selected columns must be finite.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, `n_features_in_`)
            The columns seen in fit, the environment column included when
            fit took it from ``X``.

        Returns
        -------
        X_r : {ndarray, DataFrame} of shape (n_samples, n_selected_features)
            The selected predictors.

        Raises
        ------
        ValueError
            If a selected column holds NaN or infinite values, or ``X`` has
            other columns than in fit.
        """
        check_is_fitted(self)
        # As SelectorMixin.transform, but the finiteness check waits until
        # the selected columns are known.
        preserve_X = (
            _get_output_config("transform", estimator=self)["dense"] != "default"
            and is_pandas_df(X)
        )
        X = validate_data(self, X, dtype=None, accept_sparse="csr",
                          ensure_all_finite=False, skip_check_array=preserve_X,
                          reset=False)
        out = self._transform(X)
        check_array(out, dtype=None, accept_sparse="csr", ensure_min_features=0,
                    ensure_all_finite=True, input_name="X")
        return out

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        return tags


def check_n_samples(n_samples, max_size):
    """Raise when ``n_samples`` cannot hold two environments of
    ``max_size + 2`` rows (the fewest any test of subsets of up to
    ``max_size`` predictors needs)."""
    needed = 2 * (max_size + 2)
    if n_samples < needed:
        rows = "row" if n_samples == 1 else "rows"
        raise ValueError(
            f"X has {n_samples} {rows} (n_samples={n_samples}), too few for "
            f"InvariantCausalPrediction: it needs at least two environments of "
            f"at least {max_size + 2} rows each (predictors + 2, with subsets of "
            f"up to {max_size} predictors), so at least {needed} rows"
            + ("; bound max_subset_size to test smaller subsets." if max_size
               and n_samples >= 4 else ".")
        )


def _standardise(X):
    """Columns of ``X`` centred with unit standard deviation, computed after
    exact power-of-two scaling so that no scale overflows or underflows."""
    if X.shape[1] == 0:
        return X
    Xc = np.ldexp(X, power_of_two_exponents(X))
    Xc = Xc - Xc.mean(axis=0)
    return Xc / Xc.std(axis=0)


def _subsets_by_size(p, max_size):
    """All subsets of range(p) up to max_size, one int array per size."""
    return [
        np.array(list(combinations(range(p), k)), dtype=int).reshape(comb(p, k), k)
        for k in range(max_size + 1)
    ]


def linear_subset_pvalues(statistics, max_size, test="approximate", n_jobs=None):
    """Bonferroni-corrected invariance p-values of every subset of the
    statistics' predictors up to ``max_size``, fanned out through joblib.

    Returns
    -------
    pvalues : dict
        ``{tuple of predictor positions: p-value}``.
    """
    chunks = [
        chunk for subsets in _subsets_by_size(statistics.p, max_size)
        for chunk in np.array_split(subsets, max(1, len(subsets) // 2048))
    ]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_test_chunk)(statistics, chunk, test) for chunk in chunks
    )
    return {
        tuple(int(i) for i in s): float(pv)
        for chunk, res in zip(chunks, results) for s, pv in zip(chunk, res)
    }


def _logistic_loglik(X, y):
    """Maximised log-likelihood of an unpenalised logistic model with
    intercept (a constant model when X has no column or y one class)."""
    mean = y.mean()
    if X.shape[1] == 0 or mean in (0.0, 1.0):
        prob = np.full_like(y, mean)
    else:
        model = LogisticRegression(C=np.inf, max_iter=1000, tol=1e-8)
        prob = model.fit(X, y).predict_proba(X)[:, 1]
    prob = np.clip(prob, 1e-15, 1 - 1e-15)
    return float(np.sum(y * np.log(prob) + (1 - y) * np.log1p(-prob)))


def _test_chunk(statistics, subsets, test):
    """Bonferroni-corrected p-values of a chunk of equal-size subsets."""
    n_envs = statistics.counts.size
    if test == "exact":
        p = statistics.chow_pvalues(subsets)
        return np.minimum(1.0, p.min(axis=0) * n_envs)
    beta, _, _ = statistics.pooled_fit(subsets)
    mean_p, var_p = statistics.approximate_pvalues(subsets, beta)
    smallest = np.minimum(mean_p.min(axis=0), var_p.min(axis=0))
    return np.minimum(1.0, smallest * 2 * n_envs)
