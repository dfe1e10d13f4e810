"""Differentially private causal linear regression by sufficient statistics
perturbation (after AdaSSP, Wang 2018), per environment."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import EnvironmentsMixin, environment_codes, numeric_features
from ..causal import CausalGraph
from ..exceptions import ModelRejectedWarning, PrivacyLeakWarning
from ..invariance._icp import linear_subset_pvalues
from ..invariance._stats import EnvironmentStatistics
from ..utils._validation import keep_state_on_failure, kept_columns
from ._mechanisms import gaussian_noise_scale, release_gaussian

__all__ = ["DPCausalRegressor"]

#: Failure probability of the high-probability bound on the noise's spectral
#: norm that sets the eigenvalue floor (Wang 2018's rho).
FLOOR_FAILURE_PROBABILITY = 0.05
#: Draws of the release noise that estimate that bound (see eigenvalue_floor).
FLOOR_DRAWS = 200

#: Weights of the blocks of the released Gram matrix of ``z = [1, x~, y~]``
#: (entry ``(i, j)`` is released as ``W_ij G_ij`` plus noise of sd ``sigma``,
#: i.e. with noise of sd ``sigma / W_ij`` in its own units). The off-diagonal
#: entries of the predictors' block have weight 1 and its diagonal
#: ``1 / sqrt(2)`` (see :func:`release_weights`). A single pooled fit (least
#: squares on given features) needs the count, the sums and ``y'y`` only
#: roughly, so they get little of the budget; tests of invariance across
#: environments (ICP, anchor regression) use every block, which gets the
#: same weight.
POOLED_BLOCK_WEIGHTS = {"count": 0.25, "sums": 0.4, "cross": 1.0, "yy": 0.3}
ENVIRONMENT_BLOCK_WEIGHTS = {"count": 1.0, "sums": 1.0, "cross": 1.0, "yy": 1.0}


def release_weights(n_features, count=1.0, sums=1.0, cross=1.0, yy=1.0):
    """Weights of the released Gram matrix and its L2 sensitivity.

    The release is the upper triangle of ``W * G`` plus i.i.d. Gaussian
    noise, ``G = sum z z'`` over the records, ``z = [1, x~, y~]`` with
    ``||x~|| <= 1`` and ``|y~| <= 1``. One record adds ``W * z z'``, whose
    squared L2 norm over the upper triangle is, block by block,

    ``count^2 + sums^2 ||x~||^2 + sums^2 y~^2 + (cross^2 ||x~||^2 y~^2
    + yy^2 y~^4) + sum_{i<j} x~_i^2 x~_j^2 + sum_i x~_i^4 / 2``,

    and the predictors' block equals ``||x~||^4 / 2 <= 1 / 2`` because its
    diagonal has weight ``1 / sqrt(2)`` (the symmetric "GOE" weighting:
    with equal weights it could reach 1). So the sensitivity is
    ``sqrt(count^2 + 2 sums^2 + 1/2 + cross^2 + yy^2)``, attained by a record
    with all of ``x~``'s norm on one coordinate and ``|y~| = 1``.

    Parameters
    ----------
    n_features : int
        Number of predictors ``p``.
    count, sums, cross, yy : float, default=1.0
        Weights (> 0) of the count ``G_00``, of the sums ``G_0j`` (of the
        predictors and of ``y``), of the cross-products ``G_jy`` and of
        ``G_yy``.

    Returns
    -------
    weights : ndarray of shape (p + 2, p + 2)
        Symmetric.
    sensitivity : float
    """
    m = n_features + 2
    W = np.ones((m, m))
    W[np.arange(1, m - 1), np.arange(1, m - 1)] = 1.0 / np.sqrt(2.0)
    W[0, :] = W[:, 0] = sums
    W[0, 0] = count
    W[1:-1, -1] = W[-1, 1:-1] = cross
    W[-1, -1] = yy
    if n_features == 0:
        sensitivity = np.sqrt(count**2 + sums**2 + yy**2)
    else:
        sensitivity = np.sqrt(count**2 + 2 * sums**2 + 0.5 + cross**2 + yy**2)
    return W, float(sensitivity)


def centred_scatter(grams, gamma=1.0, fit_intercept=True):
    """Anchor regression's scatter matrix from Gram matrices of ``[1, x, y]``.

    Parameters
    ----------
    grams : ndarray of shape (..., E, k + 2, k + 2)
        Per-environment Gram matrices (released ones: symmetric, count at
        ``[0, 0]``); leading dimensions are batched.
    gamma : float, default=1.0
        Weight of the between-environment part (1: least squares).
    fit_intercept : bool, default=True
        ``False`` leaves the data uncentred.

    Returns
    -------
    A : ndarray of shape (..., k, k)
        Symmetrised predictors' block of ``within + gamma * between``.
    b : ndarray of shape (..., k)
        Its predictors-target column.
    pooled_mean : ndarray of shape (..., k + 1)
        Pooled means of ``[x, y]`` (zeros when ``fit_intercept=False``).
    """
    n_e = grams[..., 0, 0]
    sums = grams[..., 0, 1:]
    means = sums / n_e[..., None]
    pooled_mean = sums.sum(axis=-2) / n_e.sum(axis=-1)[..., None]
    within = (grams[..., 1:, 1:] - np.einsum("...ei,...ej->...eij", sums, sums)
              / n_e[..., None, None]).sum(axis=-3)
    if fit_intercept:
        centred = means - pooled_mean[..., None, :]
    else:
        # Uncentred: the between part is the environments' raw means.
        centred = means
        pooled_mean = np.zeros_like(pooled_mean)
    between = np.einsum("...e,...ei,...ej->...ij", n_e, centred, centred)
    M = within + gamma * between
    k = M.shape[-1] - 1
    A = M[..., :k, :k]
    return (A + np.swapaxes(A, -1, -2)) / 2.0, M[..., :k, k], pooled_mean


def eigenvalue_floor(grams, noise_scale, gamma=1.0, fit_intercept=True,
                     n_draws=FLOOR_DRAWS, failure_probability=FLOOR_FAILURE_PROBABILITY):
    """Bound on the release noise's effect on the scatter matrix.

    The ``1 - failure_probability`` quantile of the spectral norm of
    ``A(G + N) - A(G)``, with ``A`` = :func:`centred_scatter` and ``N``
    symmetric Gaussian noise of the release's (public) law, over
    ``n_draws`` draws around the released ``G``. It covers the noise of the
    predictors' block and the noise that centring brings in through the
    noisy sums and counts, for any number of environments and ``gamma``.
    Post-processing of the release (the draws use a fixed seed and no
    data): no privacy cost.

    Parameters
    ----------
    grams : ndarray of shape (E, k + 2, k + 2)
        Released Gram matrices (counts at ``[:, 0, 0]`` already at least 2).
    noise_scale : ndarray of shape (k + 2, k + 2)
        Standard deviation of the release noise on each entry (``sigma / W``).
    gamma, fit_intercept : as in :func:`centred_scatter`.
    n_draws : int, default=FLOOR_DRAWS
    failure_probability : float, default=FLOOR_FAILURE_PROBABILITY

    Returns
    -------
    floor : float
        In the normalised units of ``grams``.
    """
    rng = np.random.default_rng(0)
    E, m, _ = grams.shape
    iu = np.triu_indices(m)
    A0 = centred_scatter(grams, gamma, fit_intercept)[0]
    # Draws in chunks of at most ~4 million matrix entries, so that memory
    # stays bounded whatever the number of predictors.
    chunk = max(1, min(n_draws, 4_000_000 // (E * m * m)))
    norms = []
    for start in range(0, n_draws, chunk):
        size = min(chunk, n_draws - start)
        noise = np.zeros((size, E, m, m))
        noise[..., iu[0], iu[1]] = rng.normal(0.0, noise_scale[iu],
                                              size=(size, E, iu[0].size))
        noise = noise + np.swapaxes(np.triu(noise, 1), -1, -2)
        perturbed = grams + noise
        perturbed[..., 0, 0] = np.maximum(perturbed[..., 0, 0], 2.0)  # as the fit does
        diff = centred_scatter(perturbed, gamma, fit_intercept)[0] - A0
        norms.append(np.abs(np.linalg.eigvalsh(diff)).max(axis=-1))
    norms = np.concatenate(norms)
    return float(np.quantile(norms, 1.0 - failure_probability))


class DPCausalRegressor(EnvironmentsMixin, RegressorMixin, BaseEstimator):
    """Differentially private linear regression on causal features.

    Releases, once, the Gram matrix of ``[1, x / B_x, y / B_y]`` (clipped to
    the declared bounds) with Gaussian noise calibrated exactly to
    ``(epsilon, delta)``: one pooled matrix, or one per environment when the
    model compares environments (``gamma != 1`` or ``causal_features="icp"``).
    Everything else is post-processing of that release and costs no further
    privacy: least squares regularised by an eigenvalue floor (after AdaSSP
    [1]_), anchor regression for any ``gamma`` [2]_, and invariant causal
    prediction's tests on any subset [3]_, so the causal features can
    themselves be chosen privately (``causal_features="icp"``).

    **Privacy model.** Neighbouring data sets differ by adding or removing
    one record ``(x, y, environment)``. Each record's contribution is
    clipped (``x`` rescaled to L2 norm at most ``feature_bound``, ``y``
    clipped to ``[-target_bound, target_bound]``). Entry ``(i, j)`` of the
    Gram matrix is released with public weight ``W_ij``
    (``release_weights``: most of the budget on the cross-products of
    the predictors and with ``y``), so the release's L2 sensitivity is
    ``sqrt(count^2 + 2 sums^2 + 1/2 + cross^2 + yy^2)`` in normalised units
    (1.40 for a pooled fit, 2.35 by environment); a record changes one
    environment's matrix only, so releasing all environments costs the
    same. The set of environment labels and the
    bounds are public; which environment a record is in is private. The
    noise scale is the analytic Gaussian mechanism's (Balle and Wang 2018,
    computed by ``dp_accounting``) and the noise is drawn by OpenDP.
    Model selection (GridSearchCV) on private data spends the budget once
    per fit: the total is the composition of all fits.

    Read more in the :ref:`User Guide <privacy>`.

    Parameters
    ----------
    epsilon : float, default=1.0
        Privacy loss, natural-log units, > 0.
    delta : float, default=1e-6
        Probability of failure of the guarantee, in (0, 1); take it below
        ``1 / n_samples``.
    feature_bound : float or None, default=None
        Public bound on the L2 norm of a row of the released predictors (in
        their units), > 0: all columns, or only the causal features when they
        are given as a list or a graph. ``None`` takes the largest norm in the data, which
        leaks it: a :class:`~skcausal_trust.exceptions.PrivacyLeakWarning`
        says so.
    target_bound : float or None, default=None
        Public bound on ``|y|``, > 0; ``None`` as above.
    causal_features : list, CausalGraph, "icp" or None, default=None
        Predictors to regress on: ``None`` all; a list of column names or
        positions; a :class:`~skcausal_trust.causal.CausalGraph` whose one
        node that is not a column of ``X`` is the target (its parents are
        used); ``"icp"``: invariant causal prediction run on the private
        statistics (needs environments; at most 12 predictors), its tests
        widened by a parametric bootstrap of the (public) noise law:
        approximate, see the User Guide for their measured calibration.
    gamma : float, default=1.0
        Anchor regression's weight of the between-environment residual
        variation (needs environments; 1 is least squares).
    icp_alpha : float, default=0.05
        Level of the invariance tests for ``causal_features="icp"``.
    fit_intercept : bool, default=True
    environment_column : str, int or None, default=None
        Column of ``X`` with the environment labels (removed from the
        predictors); otherwise pass ``environments`` to :meth:`fit`.
    random_state : None, int or Generator, default=None
        ``None`` draws the noise with OpenDP's sampler (private). A seed
        makes fits reproducible for experiments only, with a
        ``PrivacyLeakWarning``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_predictors,)
        Coefficients of every predictor (0 for those not selected).
    intercept_ : float
    epsilon_, delta_ : float
        The privacy spent by this fit.
    noise_scale_ : float
        Standard deviation of the Gaussian mechanism's noise on the weighted
        entries; entry ``(i, j)`` of ``released_statistics_`` carries noise
        of sd ``noise_scale_ / release_weights_[i, j]`` (normalised units).
    release_weights_ : ndarray of shape (k + 2, k + 2)
        The public weights ``W`` of the released entries.
    sensitivity_ : float
        L2 sensitivity of the release (normalised units).
    feature_bound_, target_bound_ : float
        The clipping bounds used.
    released_statistics_ : ndarray of shape (n_released, k + 2, k + 2)
        The private release: noisy Gram matrices of ``[1, x / B_x, y / B_y]``
        (symmetrised) over the ``k`` released predictors, one per environment
        or one pooled (``n_released = 1``). Publishing it is as private as
        publishing the model.
    released_features_ : list of str
        The predictors in the release.
    selected_features_ : list of str
        The predictors used.
    icp_subset_pvalues_ : dict or None
        ICP's p-values computed on the private release (``"icp"`` only).
    eigenvalue_floor_ : float
        The floor the eigenvalues of the scatter matrix were raised to
        (normalised units; :func:`eigenvalue_floor`).
    n_clipped_features_, n_clipped_targets_ : int
        Rows clipped to the bounds. **Not private**: a diagnostic for the
        data holder; do not publish.
    environments_ : ndarray or None
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    skcausal_trust.invariance.AnchorRegression : The non-private model.
    skcausal_trust.privacy.audit.empirical_epsilon_lower_bound : Checks the
        privacy claim empirically.

    Notes
    -----
    **Regularisation, a deviation from AdaSSP** [1]_. With ``b`` a bound,
    holding with probability 0.95, on the spectral norm of the release
    noise's effect on the (centred, anchor) scatter matrix of the predictors
    used (:func:`eigenvalue_floor`: the 95% quantile over ``FLOOR_DRAWS``
    fresh draws of the public noise law around the release, which covers
    the noise that centring brings in through the noisy sums and counts,
    any number of environments and any ``gamma``), AdaSSP adds ``b I``
    (less the smallest eigenvalue's excess) to the whole scatter matrix.
    Here only the eigenvalues below ``b`` are raised to it, so
    well-determined directions are not shrunk. On Adult hours-per-week (see
    ``benchmarks/bench_dp_regression.py``) the R^2 at epsilon = 1 is 0.82 of
    the non-private one with AdaSSP's ridge and equal weights, and above
    0.95 with the floor, the weighted release and missing-value indicators.
    Nothing is released separately for the regulariser: the whole budget
    goes to one release.

    **Weights.** The symmetric ("GOE") weighting, ``1 / sqrt(2)`` on the
    predictors' diagonal, halves that block's share of the sensitivity; a
    pooled fit needs the count, the sums and ``y'y`` only roughly, so they
    get weights 0.25, 0.4 and 0.3 (``POOLED_BLOCK_WEIGHTS``); tests
    across environments get weight 1 on every block.

    References
    ----------
    .. [1] Y.-X. Wang, "Revisiting differentially private linear regression:
       optimal and adaptive prediction & estimation in unbounded domain",
       UAI 2018.
    .. [2] D. Rothenhausler, N. Meinshausen, P. Buhlmann and J. Peters,
       "Anchor regression: heterogeneous data meet causality", JRSS-B 2021.
    .. [3] J. Peters, P. Buhlmann and N. Meinshausen, "Causal inference by
       using invariant prediction", JRSS-B 2016.
    .. [4] B. Balle and Y.-X. Wang, "Improving the Gaussian mechanism for
       differential privacy: analytical calibration and optimal denoising",
       ICML 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausal_trust.privacy import DPCausalRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(20_000, 3))
    >>> y = np.clip(X @ [0.5, -0.3, 0.0] + 0.1 * rng.normal(size=20_000), -2, 2)
    >>> reg = DPCausalRegressor(epsilon=1.0, feature_bound=np.sqrt(3),
    ...                         target_bound=2.0).fit(X, y)
    >>> reg.epsilon_, bool(np.allclose(reg.coef_, [0.5, -0.3, 0.0], atol=0.05))
    (1.0, True)
    """

    __metadata_request__fit = {"environments": True}

    _parameter_constraints = {
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "feature_bound": [Interval(Real, 0, None, closed="neither"), None],
        "target_bound": [Interval(Real, 0, None, closed="neither"), None],
        "causal_features": [list, tuple, CausalGraph, StrOptions({"icp"}), None],
        "gamma": [Interval(Real, 0, None, closed="left")],
        "icp_alpha": [Interval(Real, 0, 1, closed="neither")],
        "fit_intercept": ["boolean"],
        "environment_column": [str, Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        epsilon=1.0,
        delta=1e-6,
        *,
        feature_bound=None,
        target_bound=None,
        causal_features=None,
        gamma=1.0,
        icp_alpha=0.05,
        fit_intercept=True,
        environment_column=None,
        random_state=None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.feature_bound = feature_bound
        self.target_bound = target_bound
        self.causal_features = causal_features
        self.gamma = gamma
        self.icp_alpha = icp_alpha
        self.fit_intercept = fit_intercept
        self.environment_column = environment_column
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y, *, environments=None):
        """Release the private statistics and fit the model from them.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Numeric predictors; may hold the environment column.
        y : array-like of shape (n_samples,)
        environments : array-like of shape (n_samples,), default=None
            Environment labels (public set of levels), when not a column of
            ``X``. Requested by default under metadata routing.

        Returns
        -------
        self : DPCausalRegressor

        Raises
        ------
        ValueError
            NaN or infinite values; unknown columns; ``gamma != 1`` or
            ``causal_features="icp"`` without environments; an environment
            with fewer than 2 rows.
        """
        features, y, env, names = self._validate_environments(
            X, y, environments=environments, require_y=True, y_numeric=True)
        n = len(y)
        names = [c if isinstance(c, str) else f"x{c}" for c in names]
        keep = [j for j in range(self.n_features_in_)
                if j not in set(env.columns if env is not None else [])]
        features = numeric_features(features, names)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        icp = isinstance(self.causal_features, str) and self.causal_features == "icp"
        if env is not None:
            # One contract with the other estimators: a single environment is
            # an error wherever environments are compared.
            levels, codes = environment_codes(
                env, min_levels=2 if (icp or self.gamma != 1.0) else 1,
                what="comparing environments")
            counts = np.bincount(codes, minlength=len(levels))
            if counts.min() < 2:
                small = [str(lv) for lv, c in zip(levels, counts) if c < 2]
                raise ValueError(f"{env.argument}: environments {small!r} have fewer "
                                 "than 2 rows.")
        else:
            levels, codes = None, np.zeros(n, dtype=int)
        n_envs = 1 if levels is None else levels.size
        if levels is None and (self.gamma != 1.0 or self.causal_features == "icp"):
            raise ValueError(
                f"gamma={self.gamma} and causal_features={self.causal_features!r} "
                "need environments: pass environments= or environment_column."
            )
        selected_idx = self._resolve_causal_features(names)
        by_environment = levels is not None and (icp or self.gamma != 1.0)
        # Only the predictors the model may use enter the release: a list or
        # a graph restricts it to them, and feature_bound bounds their norm.
        released_idx = (list(range(len(names))) if icp or self.causal_features is None
                        else selected_idx)
        features = features[:, released_idx]

        feature_bound, target_bound = self._bounds(features, y)
        x_norm = np.linalg.norm(features, axis=1)
        clipped_x = x_norm > feature_bound
        scale = np.where(clipped_x, feature_bound / np.maximum(x_norm, 1e-300), 1.0)
        xs = features * scale[:, None] / feature_bound
        clipped_y = np.abs(y) > target_bound
        ys = np.clip(y, -target_bound, target_bound) / target_bound
        if clipped_x.any() or clipped_y.any():
            warnings.warn(
                f"{int(clipped_x.sum())} row(s) of X and {int(clipped_y.sum())} "
                "value(s) of y exceeded the declared bounds and were clipped "
                "(these counts are not private).",
                UserWarning,
                stacklevel=4,
            )

        # The release: Gram matrices of z = [1, x~, y~] (upper triangles),
        # one per environment when the model compares environments, else one
        # pooled; entry (i, j) is weighted by W_ij before the noise is added
        # (see release_weights for the sensitivity).
        k = len(released_idx)
        W, sensitivity = release_weights(
            k, **(ENVIRONMENT_BLOCK_WEIGHTS if by_environment else POOLED_BLOCK_WEIGHTS))
        Z = np.column_stack([np.ones(n), xs, ys])
        m = Z.shape[1]
        iu = np.triu_indices(m)
        if by_environment:
            blocks = [Z[codes == e] for e in range(n_envs)]  # one copy each
            exact = np.stack([(Ze.T @ Ze)[iu] for Ze in blocks])
        else:
            exact = (Z.T @ Z)[iu][None, :]
        sigma = gaussian_noise_scale(self.epsilon, self.delta, sensitivity)
        noisy = release_gaussian(exact * W[iu], sigma, sensitivity, self.random_state)
        released = np.zeros((exact.shape[0], m, m))
        released[:, iu[0], iu[1]] = noisy / W[iu]
        released = released + np.triu(released, 1).transpose(0, 2, 1)

        # Everything below is post-processing of `released`.
        grams = released.copy()
        grams[:, 0, 0] = np.maximum(grams[:, 0, 0], 2.0)  # noisy counts
        icp_pvalues = None
        used = list(range(k))
        if icp:
            used, icp_pvalues = self._private_icp(grams, names, sigma / W)
        coef_s, intercept_s, floor = self._solve(grams, used, sigma / W)
        coef = np.zeros(len(names))
        coef[[released_idx[i] for i in used]] = coef_s * target_bound / feature_bound
        self.coef_ = coef
        self.intercept_ = float(intercept_s * target_bound)
        self.epsilon_ = float(self.epsilon)
        self.delta_ = float(self.delta)
        self.noise_scale_ = float(sigma)
        self.sensitivity_ = float(sensitivity)
        self.release_weights_ = W
        self.feature_bound_ = float(feature_bound)
        self.target_bound_ = float(target_bound)
        self.released_statistics_ = released
        self.released_features_ = [names[i] for i in released_idx]
        self.selected_features_ = [names[released_idx[i]] for i in used]
        self.icp_subset_pvalues_ = icp_pvalues
        self.eigenvalue_floor_ = float(floor)
        self.n_clipped_features_ = int(clipped_x.sum())
        self.n_clipped_targets_ = int(clipped_y.sum())
        self.environments_ = levels
        self._keep = keep
        return self

    # -- helpers -----------------------------------------------------------
    def _bounds(self, features, y):
        feature_bound, target_bound = self.feature_bound, self.target_bound
        leaked = []
        if feature_bound is None:
            feature_bound = float(np.linalg.norm(features, axis=1).max()) or 1.0
            leaked.append(f"feature_bound={feature_bound:.6g}")
        if target_bound is None:
            target_bound = float(np.abs(y).max()) or 1.0
            leaked.append(f"target_bound={target_bound:.6g}")
        if leaked:
            warnings.warn(
                "bounds taken from the data (" + ", ".join(leaked) + ") reveal the "
                "largest row: the (epsilon, delta) guarantee does not hold. Declare "
                "public bounds.",
                PrivacyLeakWarning,
                stacklevel=5,
            )
        return feature_bound, target_bound

    def _resolve_causal_features(self, names):
        spec = self.causal_features
        if spec is None or spec == "icp":
            return list(range(len(names)))
        if isinstance(spec, CausalGraph):
            others = [v for v in spec.nodes if v not in set(names)]
            if len(others) != 1:
                raise ValueError(
                    "causal_features: the graph must have exactly one node that is "
                    f"not a column of X (the target); it has {others!r}."
                )
            return [names.index(p) for p in spec.parents(others[0])]
        idx = []
        for item in spec:
            if isinstance(item, Integral) and not isinstance(item, bool):
                if not 0 <= item < len(names):
                    raise ValueError(f"causal_features: position {item} is out of range.")
                idx.append(int(item))
            elif str(item) in names:
                idx.append(names.index(str(item)))
            else:
                raise ValueError(
                    f"causal_features names {item!r}, which is not a predictor; the "
                    f"predictors are {names!r}."
                )
        return sorted(set(idx))

    def _private_icp(self, grams, names, noise_scales):
        """ICP's tests on the released statistics (post-processing), with the
        release noise's variance added to the tests' (it is public)."""
        if len(names) > 12:
            raise ValueError(
                f"causal_features='icp' tests every subset of the {len(names)} "
                "predictors (more than 12: over 4,096 subsets); pass fewer "
                "predictors or a list of causal features."
            )
        statistics = EnvironmentStatistics.from_grams(grams, noise_scale=noise_scales)
        pvals = linear_subset_pvalues(statistics, min(len(names), 12))
        accepted = [s for s, pv in pvals.items() if pv > self.icp_alpha]
        if not accepted:
            warnings.warn(
                "ICP on the private statistics rejected every subset: no causal "
                "feature is used (the model predicts the mean).",
                ModelRejectedWarning,
                stacklevel=5,
            )
            selected = []
        else:
            selected = set(range(len(names)))
            for s in accepted:
                selected &= set(s)
            selected = sorted(selected)
        named = {tuple(names[i] for i in s): pv for s, pv in pvals.items()}
        return selected, named

    def _solve(self, grams, selected, noise_scale):
        """Anchor / least-squares solution from the released statistics, the
        eigenvalues of the scatter matrix raised to the eigenvalue floor
        (:func:`eigenvalue_floor`)."""
        p = grams.shape[1] - 2
        cols = [0] + [1 + i for i in selected] + [p + 1]
        G = grams[:, cols][:, :, cols]
        A, b, pooled_mean = centred_scatter(G, self.gamma, self.fit_intercept)
        k = len(selected)
        if k == 0:
            return np.zeros(0), pooled_mean[-1], 0.0
        bound = eigenvalue_floor(G, noise_scale[np.ix_(cols, cols)], self.gamma,
                                 self.fit_intercept)
        eigenvalues, vectors = np.linalg.eigh(A)
        beta = vectors @ ((vectors.T @ b) / np.maximum(eigenvalues, bound))
        intercept = pooled_mean[-1] - pooled_mean[:k] @ beta
        return beta, intercept, bound

    def predict(self, X):
        """Predict with the private coefficients (post-processing).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return kept_columns(self, X, self._keep) @ self.coef_ + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = True
        return tags

