"""Invariant Causal Prediction (Peters, Buhlmann and Meinshausen 2016)."""

import warnings
from functools import partial
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
    ENVIRONMENTS,
    EnvironmentsMixin,
    attribute_levels,
    check_columns_left,
    environment_codes,
    numeric_features,
)
from ..utils._dask import (any_dask, dask_partners, is_dask_collection, map_rows,
                            reduce_partitions)
from ..utils._validation import check_no_date_target, keep_state_on_failure
from ._stats import (
    ColumnRanges,
    EnvironmentStatistics,
    LabelTotals,
    apply_unit_scale,
    codes_of,
    dask_columns,
    dask_environment,
    dask_width,
    environment_grams,
    is_numeric_dtype,
    non_numeric_error,
    power_of_two_exponents,
    read_floats,
    read_labels,
)

__all__ = ["InvariantCausalPrediction"]


def check_environments(codes, levels, n_features, *, min_rows, argument="environments"):
    """Raise when an environment has fewer than ``min_rows`` rows."""
    check_environment_counts(np.bincount(codes, minlength=len(levels)), levels, n_features,
                             min_rows=min_rows, argument=argument)


def check_environment_counts(counts, levels, n_features, *, min_rows,
                             argument="environments"):
    """Raise when an environment's row count is below ``min_rows``."""
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
    On a dask array or dataframe these statistics are summed partition by
    partition (on the active ``dask.distributed`` client, if any), so the
    data never have to fit in memory; the binary target's logistic test and
    the lasso screening need the rows and are refused there.
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
        X : {array-like, DataFrame, dask array, dask DataFrame} of shape \
                (n_samples, n_features)
            Numeric predictors; may hold the environment column. The tests
            do not depend on the units of ``X`` or ``y`` (any finite scale,
            such as ``1e-300`` or ``1e300``, gives the same p-values). A dask
            array or dataframe (any size) is read partition by partition in
            two passes, one for the columns' means and ranges and the
            environments' labels, one for the per-environment Gram matrices;
            only these statistics reach this process, and the result equals
            the in-memory fit up to rounding. ``y`` and ``environments`` must
            then be dask collections with the same row partitions (columns of
            the same dask dataframe, or arrays with the same row chunks).
        y : array-like or dask array / Series of shape (n_samples,)
            Continuous target, or a binary one (two classes); see
            ``target_type`` for integer codes. With dask collections only
            the linear tests run: a float ``y``, or any numeric ``y`` with
            ``target_type="continuous"``.
        environments : array-like or dask array / Series of shape \
                (n_samples,), default=None
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
            NaN or infinite values (on dask, naming the argument, when the
            partition is read); or too many subsets without a bound (the
            message gives their number). On dask collections, also for what
            needs the rows rather than sums over them, refused before any
            pass where the parameters tell: the logistic test of a binary
            target (``target_type="binary"``, a non-float ``y`` with
            ``target_type="auto"``, or a float ``y`` holding two integer
            values), ``screening="lasso"`` when it would screen (more than
            ``max_predictors`` predictors), and an ``environment_column``
            naming a one-hot block; and for partitions that are not aligned.
        TypeError
            When some of ``X``, ``y`` and ``environments`` are dask
            collections and others are in memory.
        """
        if any_dask(X, y, environments):
            return self._fit_dask(X, y, environments)
        check_no_date_target(y)
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
        return self._select(pvals, None if classification else statistics, names, keep,
                            levels, stacklevel=5)

    def _select(self, pvals, statistics, names, keep, levels, *, stacklevel):
        """Statistics -> solution: the selection, p-values and intervals from
        the subsets' p-values (``statistics`` None for a binary target), the
        same for rows in memory and for a dask collection.

        Parameters
        ----------
        pvals : dict
            ``{tuple of positions among the screened predictors: p-value}``.
        statistics : EnvironmentStatistics or None
        names : list of str
            The predictors' names (all of them, before screening).
        keep : list of int
            Positions in ``names`` of the screened predictors.
        levels : ndarray
            The environments' labels.
        stacklevel : int
            Of the warning, so that it points at the caller of ``fit``.
        """
        classification = statistics is None
        screened = [names[i] for i in keep]
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
                stacklevel=stacklevel,
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

    def _fit_dask(self, X, y, environments):
        """``fit`` on dask collections: rows -> statistics partition by
        partition, in two passes (the columns' counts, extremes and sums and
        the environments' labels; then the per-environment Gram matrices of
        the rows centred and scaled as in memory); the statistics then go
        through the same code as in memory."""
        dask_partners(X, {"y": y, "environments": environments})
        if self.target_type == "binary":
            raise ValueError(_DASK_BINARY)
        all_names, dtypes = dask_columns(self, X, reset=True)
        n_columns = len(dtypes)
        env_column, env_argument = dask_environment(
            self.environment_column, environments, all_names, n_columns)
        predictors = [j for j in range(n_columns) if j != env_column]
        check_columns_left(predictors, self.environment_column, ENVIRONMENTS)
        names = [all_names[j] if all_names else f"x{j}" for j in predictors]
        bad = [n for n, j in zip(names, predictors) if not is_numeric_dtype(dtypes[j])]
        if bad:
            raise non_numeric_error(bad)
        check_no_date_target(y)
        y_width, y_dtypes = dask_width(y, "y")
        if y_width != 1:
            raise ValueError(f"y must be 1-dimensional; got {y_width} columns.")
        if not is_numeric_dtype(y_dtypes[0]):
            raise ValueError(f"y must be numeric for the linear tests; got dtype "
                             f"{y_dtypes[0]}.")
        if self.target_type == "auto" and getattr(y_dtypes[0], "kind", "") != "f":
            raise ValueError(
                f"y has dtype {y_dtypes[0]} and target_type='auto': in memory its "
                "values decide between the linear tests and the logistic test of a "
                "binary target, which needs the rows. On a dask collection pass "
                "target_type='continuous' (a linear model of y), or a float y."
            )
        keep = self._screen_by_count(len(predictors))
        if keep is None:
            raise ValueError(
                f"screening='lasso' with {len(predictors)} predictors (more than "
                f"max_predictors={self.max_predictors}) needs the lasso path of the "
                "rows, which is not computed on a dask collection: select at most "
                "max_predictors predictors first, bound max_subset_size, or fit in "
                "memory."
            )
        max_size = self._largest_subset(len(keep))
        collections = {"X": X, "y": y}
        if environments is not None:
            collections["environments"] = environments
        layout = (predictors, env_column, env_argument)
        first = reduce_partitions(partial(_icp_first_pass, layout), collections)
        if env_argument is None:
            warnings.warn(
                "InvariantCausalPrediction was fitted without environments "
                "(neither environments nor environment_column): nothing can be "
                "tested for invariance, so every feature is kept.",
                NoEnvironmentsWarning,
                stacklevel=5,
            )
            return self._fit_without_environments(names)
        n = first["y"].n
        check_n_samples(n, max_size)
        if first["y"].low[0] == first["y"].high[0]:
            raise ValueError(
                f"y is constant (every value is {float(first['y'].low[0])!r}): ICP "
                "tests whether the noise of y given the predictors is the same "
                "in every environment, and a constant target has no noise to test."
            )
        kind = first["kind"]
        if self.target_type == "auto" and kind.integral:
            if kind.values is not None:
                raise ValueError(
                    f"y has two values {sorted(kind.values)!r}: with "
                    "target_type='auto' it is a binary target, tested with "
                    "logistic models fitted on the rows, which is not done on a "
                    "dask collection. Pass target_type='continuous' to test a "
                    "linear probability model, or fit in memory."
                )
            raise ValueError(
                "y must be continuous or binary with target_type='auto'; got a "
                "multiclass target (integer values only): "
                "InvariantCausalPrediction handles continuous or binary targets; "
                "pass target_type='continuous' to treat the integer codes as "
                "numbers (a linear model of y)."
            )
        ranges = first["X"]
        constant = [nm for nm, lo, hi in zip(names, ranges.low, ranges.high) if lo == hi]
        if constant:
            raise ValueError(
                f"X has constant columns {constant!r}: their coefficient is not "
                "identified next to the intercept; drop them."
            )
        labels = first["env"]
        levels = attribute_levels(list(labels.totals))
        if levels.size < 2:
            raise ValueError(
                f"{env_argument} has a single environment {levels[0]!r}; invariance "
                "needs data from at least two."
            )
        check_environment_counts(labels.counts(levels), levels, max_size,
                                 min_rows=max_size + 2, argument=env_argument)
        scaling = (ranges.unit_scale(), first["y"].unit_scale())
        grams = reduce_partitions(
            partial(_icp_second_pass, layout, scaling, list(levels)), collections)
        (x_first, _, x_second), (y_first, _, y_second) = scaling
        statistics = EnvironmentStatistics.from_scaled_grams(
            grams, x_first + x_second, (y_first + y_second)[0])
        pvals = linear_subset_pvalues(statistics, max_size, self.test, self.n_jobs)
        return self._select(pvals, statistics, names, keep, levels, stacklevel=6)

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
        keep = self._screen_by_count(p)
        if keep is not None:
            return keep
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

    def _screen_by_count(self, p):
        """The screened predictors when no screening runs (all ``p``), or
        None when the lasso must choose; raises for too many subsets."""
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
        return None

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
        X : {array-like, DataFrame, dask array, dask DataFrame} of shape \
                (n_samples, `n_features_in_`)
            The columns seen in fit, the environment column included when
            fit took it from ``X``.

        Returns
        -------
        X_r : {ndarray, DataFrame, dask array, dask DataFrame} of shape \
                (n_samples, n_selected_features)
            The selected predictors. For a dask collection, a lazy one of the
            same kind and row partitions (a dask dataframe's columns are
            :meth:`get_feature_names_out`), each partition transformed as in
            memory.

        Raises
        ------
        ValueError
            If a selected column holds NaN or infinite values (for a dask
            collection, when computed), or ``X`` has other columns than in
            fit.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return self._transform_dask(X)
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

    def _transform_dask(self, X):
        """The selected columns of a dask collection, lazily: each partition
        goes through :meth:`transform`."""
        _, dtypes = dask_columns(self, X, reset=False)
        selected = [dtypes[j] for j in np.flatnonzero(self.support_)]
        try:
            dtype = np.result_type(*selected) if selected else np.dtype(float)
        except TypeError:  # pandas extension dtypes
            dtype = np.dtype(float)
        return map_rows(self.transform, X, columns=list(self.get_feature_names_out()),
                        dtype=dtype)

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


_DASK_BINARY = (
    "target_type='binary' is not supported on a dask collection: the logistic "
    "likelihood-ratio test fits logistic models on the rows of each environment, "
    "which are not sums over partitions. Fit a binary target in memory, or pass "
    "target_type='continuous' to test a linear probability model."
)


class _TargetValues:
    """Whether every value of ``y`` is an integer (as
    :func:`~sklearn.utils.multiclass.type_of_target` reads floats) and its
    distinct values while there are at most two (None for more); ``a + b``
    combines two partitions."""

    def __init__(self, y):
        with np.errstate(invalid="ignore"):  # as type_of_target casts 1e300
            self.integral = not np.any(y != y.astype(int))
        if y.size == 0:
            self.values = frozenset()
        else:
            low, high = y.min(), y.max()
            between = np.any((y > low) & (y < high))
            self.values = None if between else frozenset({float(low), float(high)})

    def __add__(self, other):
        out = _TargetValues(np.empty(0))
        out.integral = self.integral and other.integral
        if self.values is None or other.values is None:
            out.values = None
        else:
            both = self.values | other.values
            out.values = both if len(both) <= 2 else None
        return out


def _icp_rows(predictors, env_column, env_argument, X, y, environments=None):
    """One partition's predictors, target and environment labels."""
    Xp = read_floats(X, "X", predictors)
    yp = read_floats(y, "y", vector=True)
    labels = None
    if env_argument is not None:
        source = X if environments is None else environments
        labels = read_labels(source, env_argument, env_column)
    return Xp, yp, labels


def _icp_first_pass(layout, *parts):
    """Pass 1 on one partition: the columns' ranges and sums, the target's
    kind and the environments' labels and counts."""
    Xp, yp, labels = _icp_rows(*layout, *parts)
    summary = {"X": ColumnRanges(Xp), "y": ColumnRanges(yp[:, None]),
               "kind": _TargetValues(yp)}
    if labels is not None:
        summary["env"] = LabelTotals(labels)
    return summary


def _icp_second_pass(layout, scaling, levels, *parts):
    """Pass 2 on one partition: the per-environment Gram matrices of
    ``[1, X, y]`` centred and scaled as ``EnvironmentStatistics`` does."""
    Xp, yp, labels = _icp_rows(*layout, *parts)
    (x_first, x_mean, x_second), (y_first, y_mean, y_second) = scaling
    Z = np.column_stack([np.ones(len(yp)), apply_unit_scale(Xp, x_first, x_mean, x_second),
                         apply_unit_scale(yp, y_first, y_mean, y_second)])
    return environment_grams(Z, codes_of(labels, levels), len(levels))


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
