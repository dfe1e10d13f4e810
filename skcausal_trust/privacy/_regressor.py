"""Differentially private causal linear regression by sufficient statistics
perturbation (after AdaSSP, Wang 2018), per environment."""

import sys
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import (
    ENVIRONMENTS,
    EnvironmentsMixin,
    check_column_labels,
    check_columns_left,
    column_positions,
    environment_codes,
    numeric_features,
    validate_frame,
)
from ..causal import CausalGraph
from ..causal._encoding import _declared_categories, one_hot_encode
from ..causal._scm import _is_categorical
from ..exceptions import (
    ModelRejectedWarning,
    PrivacyBudgetWarning,
    PrivacyLeakWarning,
    UnknownCategoryWarning,
)
from ..invariance._icp import linear_subset_pvalues
from ..invariance._stats import EnvironmentStatistics
from ..utils._dask import any_dask, is_dask_collection, map_rows, reduce_partitions
from ..utils._validation import check_no_date_target, keep_state_on_failure
from ._mechanisms import gaussian_noise_scale, release_gaussian
from ._statistics import (
    clip_records,
    exact_gram_sums,
    exact_integer_sums,
    grams_from_integer_sums,
    rounding_allowance,
    row_norms,
)

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


def release_grams(exact, weights, sigma, sensitivity, random_state=None):
    """The Gaussian release of Gram matrices, the one mechanism of this module.

    The upper triangle of each matrix is weighted by ``weights``, Gaussian
    noise of standard deviation ``sigma`` is added (OpenDP's sampler unless
    ``random_state`` is set; see :func:`release_gaussian`), and the result
    is divided by the weights again and symmetrised: entry ``(i, j)``
    carries noise of sd ``sigma / weights[i, j]``.

    Parameters
    ----------
    exact : ndarray of shape (n_groups, m, m)
        Exact Gram sums (:func:`~skcausal_trust.privacy._statistics.exact_gram_sums`).
    weights : ndarray of shape (m, m)
    sigma, sensitivity : float
        The calibrated noise and the L2 sensitivity it was calibrated to.
    random_state : None, int, RandomState or Generator, default=None

    Returns
    -------
    released : ndarray of shape (n_groups, m, m)
    """
    n_groups, m, _ = exact.shape
    iu = np.triu_indices(m)
    noisy = release_gaussian(exact[:, iu[0], iu[1]] * weights[iu], sigma, sensitivity,
                             random_state)
    released = np.zeros((n_groups, m, m))
    released[:, iu[0], iu[1]] = noisy / weights[iu]
    return released + np.triu(released, 1).transpose(0, 2, 1)


def replace_one_sensitivity(n_features, count=1.0, sums=1.0, cross=1.0, yy=1.0, *,
                            by_environment=False):
    """L2 sensitivity of the weighted release when one record is replaced.

    Replacing ``z = [1, x~, y~]`` by ``z'`` in the same matrix changes it by
    ``W * (z' z'^T - z z^T)``: the count cancels, and block by block
    ``||x~' - x~||^2 + (y~' - y~)^2 <= 8`` (sums), ``||x~' y~' - x~ y~||^2 <= 4``
    (cross-products), ``(y~'^2 - y~^2)^2 <= 1`` and, for the predictors'
    block with the symmetric weighting, ``(||x~'||^4 + ||x~||^4 - 2 (x~ .
    x~')^2) / 2 <= 1``; so ``sqrt(8 sums^2 + 4 cross^2 + yy^2 + 1)`` bounds
    it (``sqrt(4 sums^2 + yy^2)`` without predictors). A proven upper bound,
    not attained: the largest value found numerically (the family ``|y~| =
    |y~'| = 1``, ``y~' = -y~``, unit ``x~, x~'`` at cosine ``cross^2 -
    sums^2``) is 3.0 instead of 3.74 with environment weights and 2.16
    instead of 2.52 with the pooled ones. When each environment has its own
    matrix the record may also move to another environment, changing two
    matrices by one contribution each: ``sqrt(2)`` times the add/remove
    sensitivity; the larger of the two is returned.

    Parameters
    ----------
    n_features : int
    count, sums, cross, yy : float
        The block weights, as in :func:`release_weights`.
    by_environment : bool, default=False
        One matrix per environment.

    Returns
    -------
    sensitivity : float
    """
    if n_features == 0:
        same = np.sqrt(4 * sums**2 + yy**2)
    else:
        same = np.sqrt(8 * sums**2 + 4 * cross**2 + yy**2 + 1.0)
    if by_environment:
        moved = np.sqrt(2.0) * release_weights(n_features, count, sums, cross, yy)[1]
        return float(max(same, moved))
    return float(same)


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


@dataclass
class _Statistics:
    """What the step "rows -> sufficient statistics" hands to the release:
    the exact Gram sums and the public description of the release."""

    exact: np.ndarray  # (n_groups, k + 2, k + 2): exact sums, converted once
    predictors: list  # the encoded predictors' names
    released_idx: list  # positions in `predictors` of the released ones
    encoding: dict  # the levels of each encoded column
    levels: object  # environment levels (ndarray) or None
    by_environment: bool
    icp: bool
    feature_bound: float
    target_bound: float
    leaks: list  # why the guarantee does not hold (empty when it does)
    keep: list  # positions of X's columns that are not the environment column


def _encoded_names(columns, encoding, encoded_columns):
    """The predictors' names after one-hot encoding, and each encoded
    column's indicators (columns keep their order; an encoded one becomes
    its levels' indicators and the missing-value indicator)."""
    names = [str(c) for c in encoded_columns]
    groups, position = {}, 0
    for column in columns:
        width = len(encoding[column]) + 1 if column in encoding else 1
        if column in encoding:
            groups[column] = names[position:position + width]
        position += width
    return names, groups


def _level_codes(labels, levels):
    """Position of each label in the declared ``levels`` (-1 outside them,
    or missing), matched as pandas matches categories."""
    index = pd.Index(list(levels), dtype=object)
    labels = pd.Series(np.asarray(labels, dtype=object))
    return np.asarray(index.get_indexer(labels), dtype=np.intp)


def _partition_labels(values):
    """One partition's environment labels as in memory (objects; see
    ``base._as_labels``), with the number of missing and infinite ones."""
    if isinstance(values, pd.Series):
        series = values.reset_index(drop=True)
    else:
        array = np.asarray(values)
        series = pd.Series(array.reshape(array.shape[0]))
    missing = series.isna().to_numpy()
    array = series.to_numpy()
    infinite = 0
    if not isinstance(series.dtype, pd.CategoricalDtype) and array.dtype.kind in "fc":
        infinite = int((~np.isfinite(array[~missing])).sum())
    return np.asarray(array, dtype=object), missing, infinite


def _dask_kind(value):
    """``"array"``, ``"frame"``, ``"series"`` or None: the kind of dask
    collection (dask.dataframe is imported only when dask is, and only if it
    is installed)."""
    import dask.array as da

    if isinstance(value, da.Array):
        return "array"
    try:
        import dask.dataframe as dd
    except ImportError:  # dask without its dataframe extra
        return None
    if isinstance(value, dd.DataFrame):
        return "frame"
    if isinstance(value, dd.Series):
        return "series"
    return None


def _dtype_kind(dtype):
    """NumPy's kind of a (NumPy or pandas extension) dtype; ``"?"`` when it
    has no NumPy counterpart (a categorical, say)."""
    try:
        return np.dtype(getattr(dtype, "numpy_dtype", dtype)).kind
    except TypeError:
        return "?"


def _float_design(features, names):
    """The predictors as float64, NaN and infinity left in (the caller
    counts them); a non-numeric column raises, named."""
    try:
        return check_array(features, dtype=np.float64, ensure_all_finite=False,
                           ensure_min_features=0, input_name="X")
    except (TypeError, ValueError):
        numeric_features(features, names)  # names the non-numeric columns
        raise


def _partition_statistics(*, frame, keep, names, encoding, released_idx, bounds,
                          env_position, levels, n_groups):
    """The function of one row partition (``X``, ``y`` and the routed
    environments, if any) that the dask fit sums over partitions: the exact
    integer Gram sums of its clipped records (by environment when
    ``levels`` is given) and counts of the rows that make the fit raise.
    It holds no estimator, only the public description of the release."""
    k = len(released_idx)

    def statistics(X, y, environments=None):
        n = X.shape[0]
        out = {"rows": n, "X": 0, "y": 0, "missing": 0, "infinite": 0, "outside": 0,
               "categories": {c: 0 for c in encoding},
               "sums": np.zeros((n_groups, k + 2, k + 2), dtype=object)}
        if n == 0:
            return out
        labels = None
        if env_position is not None:
            labels = X.iloc[:, env_position] if frame else X[:, env_position]
        elif environments is not None:
            labels = (environments.iloc[:, 0] if isinstance(environments, pd.DataFrame)
                      else environments)
        codes = None
        if labels is not None:
            labels, missing, out["infinite"] = _partition_labels(labels)
            out["missing"] = int(missing.sum())
            if levels is not None:
                codes = _level_codes(labels, levels)
                out["outside"] = int(((codes == -1) & ~missing).sum())
        features = X.iloc[:, keep] if frame else X[:, keep]
        design_names = names
        if encoding:
            table = features.set_axis(names, axis=1)
            for column, declared in encoding.items():
                values = table[column]
                out["categories"][column] = int(
                    (values.notna() & ~values.isin(declared)).sum())
            if any(out["categories"].values()):
                return out
            features, _ = one_hot_encode(table, categories=encoding,
                                         dummy_na=list(encoding), handle_unknown="error")
            design_names = [str(c) for c in features.columns]
        design = _float_design(features, design_names)
        out["X"] = int((~np.isfinite(design).all(axis=1)).sum())
        y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite=False,
                        input_name="y")
        out["y"] = int((~np.isfinite(y)).sum())
        if out["X"] or out["y"] or out["missing"] or out["infinite"] or out["outside"]:
            return out  # the fit raises: nothing to sum
        kx, ky = clip_records(design[:, released_idx], y, *bounds)
        out["sums"] = exact_integer_sums(kx, ky, codes, n_groups)
        return out

    return statistics


def _inside_model_search(max_depth=60):
    """Whether scikit-learn's ``_fit_and_score`` (cross-validation, searches)
    is on the call stack (also in joblib's worker processes)."""
    frame = sys._getframe(1)
    for _ in range(max_depth):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "_fit_and_score" and "model_selection" in code.co_filename:
            return True
        frame = frame.f_back
    return False


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
    clipped to ``[-target_bound, target_bound]``) and rounded to a
    fixed-point grid inside those bounds, and the sums are exact, so the
    floating-point rounding of the release is bounded whatever the data
    (``privacy._statistics``; its allowance is part of ``sensitivity_``).
    Entry ``(i, j)`` of the
    Gram matrix is released with public weight ``W_ij``
    (``release_weights``: most of the budget on the cross-products of
    the predictors and with ``y``), so the release's L2 sensitivity is
    ``sqrt(count^2 + 2 sums^2 + 1/2 + cross^2 + yy^2)`` in normalised units
    (1.40 for a pooled fit, 2.35 by environment); a record changes one
    environment's matrix only, so releasing all environments costs the
    same. The environment levels (``environment_levels``), the categories
    of categorical predictors (``categories``) and the bounds are public,
    declared before the data are seen: every declared level gets its
    block or column whatever its count; which environment a record is in
    is private. A fit whose guarantee does not hold (bounds, levels or
    categories taken from the data, seeded noise) reports
    ``epsilon_ = inf`` and ``is_private_ = False`` and says why in
    ``privacy_leaks_``, besides a ``PrivacyLeakWarning``. The
    noise scale is the analytic Gaussian mechanism's (Balle and Wang 2018,
    computed by ``dp_accounting``) and the noise is drawn by OpenDP.
    Model selection (GridSearchCV) on private data spends the budget at
    every fit, and with ``KFold`` each fit's training data can change by 3
    records when one is added: :class:`PrivacyAccountant` composes the
    fits of a search (group size from its splitter; :class:`HashKFold`
    keeps it at 1). Cross-validation scores and the search's choice are not
    covered.

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
        says so; on a dask collection it must be declared.
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
    environment_levels : array-like or None, default=None
        The public set of environment levels (sites, periods, conditions
        known in advance), at least 2 when environments are compared. Every
        declared level gets its released matrix, whatever its number of
        rows (none included); a row whose label is not declared makes
        :meth:`fit` raise before anything is released. ``None`` takes the
        observed levels: a level with one record reveals it, so the fit is
        not private (``epsilon_ = inf``, with a ``PrivacyLeakWarning``); on a
        dask collection the fit raises instead. A pooled fit (``gamma=1``
        without ``"icp"``) does not use the environments (their labels are
        still validated).
    categories : dict or None, default=None
        Declared levels of the categorical predictors, ``{column: list of
        levels}`` (for Adult, ``load_adult().categories``, the data
        dictionary's). A categorical or string column of ``X``, and any
        column named here, is one-hot encoded into one indicator per
        declared level plus ``"<column>_nan"`` for a missing value (each
        adds at most 1 to a row's squared norm); a value outside the
        declared levels makes :meth:`fit` raise before anything is
        released. A categorical column not named here takes its levels from
        the data: the fit is then not private (``epsilon_ = inf``, with a
        ``PrivacyLeakWarning``); on a dask collection the fit raises instead.
    neighbouring : {"add_remove", "replace_one"}, default="add_remove"
        The neighbouring relation the guarantee is stated for: data sets
        that differ by one record added or removed (the number of rows is
        then private too), or by one record replaced by another (the
        number of rows is public). The noise is calibrated to the
        relation's sensitivity: for ``"replace_one"`` a proven upper bound
        (``replace_one_sensitivity``, 1.80 times the add/remove one for
        a pooled fit, 1.60 by environment). Either way the protection is
        per record, not per person: a person with several rows is
        protected as a group (see :class:`PrivacyAccountant`).
    random_state : None, int, RandomState or Generator, default=None
        ``None`` draws the noise with OpenDP's sampler (private). A seed or
        generator makes fits reproducible for experiments only: the fit is
        then not private (``epsilon_ = inf``, with a ``PrivacyLeakWarning``).

    Attributes
    ----------
    coef_ : ndarray of shape (n_predictors,)
        Coefficients of every predictor (0 for those not selected), in the
        order of ``predictors_``.
    intercept_ : float
    predictors_ : list of str
        The predictors: the numeric columns of ``X`` and the indicators of
        the encoded ones (``"<column>_<level>"``, ``"<column>_nan"``).
    epsilon_, delta_ : float
        The privacy spent by this fit: ``(epsilon, delta)`` when the
        guarantee holds; ``epsilon_`` is ``inf`` when it does not.
    is_private_ : bool
        Whether the ``(epsilon, delta)`` guarantee holds for this fit.
    privacy_leaks_ : list of str
        Why it does not (empty when it does).
    noise_scale_ : float
        Standard deviation of the Gaussian mechanism's noise on the weighted
        entries; entry ``(i, j)`` of ``released_statistics_`` carries noise
        of sd ``noise_scale_ / release_weights_[i, j]`` (normalised units).
    release_weights_ : ndarray of shape (k + 2, k + 2)
        The public weights ``W`` of the released entries.
    sensitivity_ : float
        L2 sensitivity of the release (normalised units) that the noise is
        calibrated to: the weights' formula plus
        ``privacy._statistics.rounding_allowance`` (at most ``2**-19``
        times the Frobenius norm of the weights' upper triangle).
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
    categories_ : dict
        The levels each encoded column was encoded with (declared, or taken
        from the data).
    environments_ : ndarray or None
        The environment levels of the release (declared or, when not
        declared, observed); ``None`` for a pooled fit without declared
        levels. The number of rows clipped is not stored (it is not
        private); :meth:`count_clipped` computes it for the data holder.
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

    **Dask.** On a dask array or dataframe the rows are read partition by
    partition and the neighbouring relation, the sensitivity and the noise
    are unchanged: each record is clipped and rounded onto the grid on its
    own, before any sum, and the partitions' exact integer sums add up to
    the sums over all the rows, so the release is the same function of the
    data set (bit for bit the in-memory one) however it is partitioned.
    Bounds, ``categories`` of the categorical columns and, when
    environments are compared, ``environment_levels`` must be declared
    (nothing public is taken from the rows, so no
    ``PrivacyLeakWarning`` besides a seeded ``random_state``); ``predict``
    returns a lazy dask collection.

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
        "environment_levels": ["array-like", None],
        "categories": [dict, None],
        "neighbouring": [StrOptions({"add_remove", "replace_one"})],
        "random_state": ["random_state", np.random.Generator],
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
        environment_levels=None,
        categories=None,
        neighbouring="add_remove",
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
        self.environment_levels = environment_levels
        self.categories = categories
        self.neighbouring = neighbouring
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    @keep_state_on_failure
    def fit(self, X, y, *, environments=None):
        """Release the private statistics and fit the model from them.

        Everything is validated before the release: nothing is released, and
        the estimator is left as it was, when an error is raised.

        Parameters
        ----------
        X : {array-like, DataFrame, dask array, dask DataFrame} of shape (n_samples, n_features)
            Predictors: numeric columns, and categorical or string columns
            (one-hot encoded with ``categories``); may hold the environment
            column. A dask array or dataframe (of any size) is read partition
            by partition; ``y`` (and ``environments``, when routed) must then
            be dask collections with the same row partitions (columns of one
            dask dataframe, or arrays with the same row chunks).
        y : array-like or dask array / Series of shape (n_samples,)
        environments : array-like or dask array / Series of shape (n_samples,), default=None
            Environment labels, when not a column of ``X``; their set of
            levels is declared by ``environment_levels``. Requested by
            default under metadata routing.

        Returns
        -------
        self : DPCausalRegressor

        Raises
        ------
        ValueError
            NaN or infinite values; unknown columns; ``gamma != 1`` or
            ``causal_features="icp"`` without environments; environment
            labels outside ``environment_levels``; categorical values
            outside the declared ``categories``; a bad ``categories`` or
            ``environment_levels``; more than ``MAX_ROWS`` rows. On dask
            collections also, before any row is read: ``feature_bound`` or
            ``target_bound`` not declared; ``environment_levels`` not
            declared when environments are compared; a categorical or
            string column not named in ``categories``; ``y`` or
            ``environments`` in memory; an ``environment_column`` naming a
            one-hot block. And, after the one pass over the partitions (still
            before the release): partitions that are not aligned (the
            message names the arguments), missing or infinite values (naming
            the argument).

        Notes
        -----
        On dask collections only the step "rows -> sufficient statistics"
        differs: each partition's rows are validated, clipped to the declared
        bounds and rounded onto the grid row by row, and their Gram sums are
        computed exactly (integers); the partitions' sums are added exactly
        and converted to floats once, so the statistics, and with the same
        ``random_state`` the release and the fitted model, are bit for bit
        those of the same rows in memory. The release, the accounting,
        private ICP and the solve are the same code. What is public must be
        declared (``feature_bound``, ``target_bound``, ``categories`` of the
        categorical columns, ``environment_levels`` when environments are
        compared): nothing is learned from the rows outside the noisy
        release, so a dask fit is private whenever ``random_state`` is None.
        """
        if any_dask(X, y, environments):
            rows = self._dask_statistics(X, y, environments)
        else:
            rows = self._memory_statistics(X, y, environments)
        if _inside_model_search():
            warnings.warn(
                "DPCausalRegressor is fitted inside a cross-validation or model search: "
                "each fit spends (epsilon, delta) again, and with KFold one added record "
                "changes each training set by up to 3 records, so the total is not "
                "epsilon. Compose it with PrivacyAccountant().charge(search), preferably "
                "with HashKFold folds; the scores and the choice are not covered.",
                PrivacyBudgetWarning,
                stacklevel=4,
            )
        return self._release_and_solve(rows)

    # -- rows -> sufficient statistics -------------------------------------
    def _comparing_environments(self):
        """``(icp, by_environment)``: whether ICP runs, and whether the
        release has one matrix per environment."""
        icp = isinstance(self.causal_features, str) and self.causal_features == "icp"
        return icp, icp or self.gamma != 1.0

    def _require_environments(self, env, by_environment):
        if env is None and by_environment:
            raise ValueError(
                f"gamma={self.gamma} and causal_features={self.causal_features!r} "
                "need environments: pass environments= or environment_column."
            )

    def _released_predictors(self, predictors, groups, icp):
        """Positions of the predictors that enter the release: all of them
        for ICP or without causal features, else the causal ones."""
        selected_idx = self._resolve_causal_features(predictors, groups)
        if icp and len(predictors) > 12:
            raise ValueError(
                f"causal_features='icp' tests every subset of the {len(predictors)} "
                "predictors (more than 12: over 4,096 subsets); pass fewer "
                "predictors or a list of causal features."
            )
        # Only the predictors the model may use enter the release: a list or
        # a graph restricts it to them (ICP and None: every predictor), and
        # feature_bound bounds their norm.
        return selected_idx

    def _memory_statistics(self, X, y, environments):
        """Rows to sufficient statistics, in memory."""
        features, y, env, names = self._validate_environments(
            X, y, environments=environments, require_y=True, y_numeric=True)
        names = [c if isinstance(c, str) else f"x{c}" for c in names]
        leaks = []
        design, predictors, groups, encoding = self._encode_fit(features, names, leaks)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        icp, by_environment = self._comparing_environments()
        self._require_environments(env, by_environment)
        levels, codes = self._environment_codes(env, by_environment, leaks)
        n_envs = 1 if not by_environment else levels.size
        released_idx = self._released_predictors(predictors, groups, icp)
        design = design[:, released_idx]
        feature_bound, target_bound = self._bounds(design, y, leaks)
        # The release's input: Gram matrices of z = [1, x~, y~] of the clipped
        # records on a fixed-point grid, summed exactly (see _statistics), one
        # per declared environment when the model compares environments, else
        # one pooled.
        kx, ky = clip_records(design, y, feature_bound, target_bound)
        exact = exact_gram_sums(kx, ky, codes if by_environment else None, n_envs)
        env_columns = set(env.columns if env is not None else [])
        return _Statistics(
            exact=exact, predictors=predictors, released_idx=released_idx,
            encoding=encoding, levels=levels, by_environment=by_environment, icp=icp,
            feature_bound=feature_bound, target_bound=target_bound, leaks=leaks,
            keep=[j for j in range(self.n_features_in_) if j not in env_columns])

    def _dask_statistics(self, X, y, environments):
        """Rows to sufficient statistics, partition by partition, on dask
        collections: the same statistics as :meth:`_memory_statistics`, bit
        for bit, in one pass. Everything public is declared and checked
        before a row is read; nothing else is learned from the rows (the
        checks after the pass only decide whether the fit raises)."""
        given = {"X": X, "y": y}
        if environments is not None:
            given["environments"] = environments
        in_dask = [a for a, v in given.items() if is_dask_collection(v)]
        others = (f"{in_dask[0]} is a dask collection" if len(in_dask) == 1
                  else f"{' and '.join(in_dask)} are dask collections")
        for argument, value in given.items():
            if argument not in in_dask:
                raise ValueError(
                    f"{argument} is a {type(value).__name__} in memory while {others}: "
                    "pass X, y (and environments) as dask collections with the same "
                    "row partitions (columns of one dask dataframe, or arrays with the "
                    "same row chunks), or all in memory."
                )
        meta = self._dask_meta(X)
        if _dask_kind(X) == "frame":
            check_column_labels(meta)
        if not ((_dask_kind(y) == "array" and y.ndim == 1) or _dask_kind(y) == "series"):
            raise ValueError(f"y is a dask {type(y).__name__} of shape {y.shape}; expected "
                             "a 1-D dask array or a dask Series.")
        check_no_date_target(y)
        if _dtype_kind(y.dtype) not in "biufO":
            raise ValueError(f"y has dtype {y.dtype}; expected numbers.")
        env_kind = None if environments is None else _dask_kind(environments)
        if environments is not None and not (
                (env_kind == "array" and (environments.ndim == 1 or (
                    environments.ndim == 2 and environments.shape[1] == 1)))
                or env_kind == "series"
                or (env_kind == "frame" and len(environments.columns) == 1)):
            raise ValueError(
                "environments must hold one column: a 1-D dask array, a dask Series "
                f"or a one-column dask DataFrame; got a dask {type(environments).__name__}."
            )
        # The schema (public): n_features_in_, feature_names_in_, as in memory.
        validate_frame(self, meta, reset=True, dtype=None, ensure_all_finite=False,
                       ensure_min_samples=0)
        names_in = getattr(self, "feature_names_in_", None)
        names_in = None if names_in is None else [str(n) for n in names_in]
        n_columns = self.n_features_in_
        env_position, env_argument = None, None
        if self.environment_column is not None:
            if environments is not None:
                raise ValueError("pass the environment either as environments or through "
                                 "environment_column, not both.")
            env_position = column_positions(self.environment_column, names_in, n_columns,
                                            "environment_column")[0]
            label = names_in[env_position] if names_in is not None else env_position
            env_argument = f"X[{label!r}] (environment_column)"
        elif environments is not None:
            env_argument = "environments"
        keep = [j for j in range(n_columns) if j != env_position]
        check_columns_left(keep, self.environment_column, ENVIRONMENTS)
        names = [names_in[j] for j in keep] if names_in is not None else list(keep)
        names = [c if isinstance(c, str) else f"x{c}" for c in names]

        # What is public must be declared: nothing is taken from the rows.
        icp, by_environment = self._comparing_environments()
        self._require_environments(env_argument, by_environment)
        undeclared = [p for p in ("feature_bound", "target_bound") if getattr(self, p) is None]
        if undeclared:
            raise ValueError(
                f"{' and '.join(undeclared)} must be declared to fit on a dask "
                "collection: bounds taken from the data reveal the largest row (and "
                "would need a pass over the data outside the release). Nothing was "
                "computed."
            )
        if by_environment and self.environment_levels is None:
            raise ValueError(
                "environment_levels must be declared to compare environments on a dask "
                "collection: levels taken from the data reveal a level that only one "
                "record has. Nothing was computed."
            )
        declared = self._declared_levels(by_environment)
        levels = None if declared is None else np.asarray(declared, dtype=object)
        encoding, predictors, groups = self._dask_encoding(meta, keep, names)
        released_idx = self._released_predictors(predictors, groups, icp)
        n_envs = 1 if not by_environment else len(declared)
        feature_bound, target_bound = float(self.feature_bound), float(self.target_bound)

        collections = {"X": X, "y": y}
        if environments is not None:
            collections["environments"] = environments
        statistics = reduce_partitions(
            _partition_statistics(
                frame=_dask_kind(X) == "frame", keep=keep, names=names,
                encoding=encoding, released_idx=released_idx,
                bounds=(feature_bound, target_bound), env_position=env_position,
                levels=declared if by_environment else None, n_groups=n_envs),
            collections)

        # Checks of the rows (each one only decides whether the fit raises).
        if statistics["rows"] == 0:
            raise ValueError("X has no rows (0 samples); nothing was released.")
        if statistics["y"]:
            raise ValueError("Input y contains NaN or infinity; nothing was released.")
        if statistics["missing"]:
            raise ValueError(f"{env_argument} has missing values; every row needs a label "
                             "(drop or label those rows first). Nothing was released.")
        if statistics["infinite"]:
            raise ValueError(f"{env_argument} has infinite values; nothing was released.")
        for column, outside in statistics["categories"].items():
            if outside:
                raise ValueError(
                    f"column {column!r} holds values outside its declared categories; "
                    "nothing was released. Declare every level, or check the column "
                    "against the declared levels before the private fit.")
        if statistics["X"]:
            raise ValueError("Input X contains NaN or infinity in its numeric predictors; "
                             "nothing was released.")
        if statistics["outside"]:
            raise ValueError(
                f"{env_argument} has labels outside environment_levels="
                f"{declared!r}; nothing was released. Declare every level, or check "
                "the labels against the declared levels before the private fit.")
        exact = grams_from_integer_sums(statistics["sums"])
        return _Statistics(
            exact=exact, predictors=predictors, released_idx=released_idx,
            encoding=encoding, levels=levels, by_environment=by_environment, icp=icp,
            feature_bound=feature_bound, target_bound=target_bound, leaks=[], keep=keep)

    def _dask_encoding(self, meta, keep, names):
        """The encoding of a dask collection from its schema (``meta``, no
        rows): every categorical or string column must be declared in
        ``categories``. Returns the encoding, the predictors' names and
        each encoded column's indicators."""
        declared = self._check_categories_parameter(names, isinstance(meta, pd.DataFrame))
        if not isinstance(meta, pd.DataFrame):
            return {}, list(names), {}
        frame = meta.iloc[:, keep].set_axis(names, axis=1)
        declared = _declared_categories(declared, frame, ())
        undeclared = [c for c in names if c not in declared and _is_categorical(frame[c])]
        if undeclared:
            raise ValueError(
                f"categories must declare the levels of the categorical or string "
                f"columns {undeclared!r} to fit on a dask collection "
                "(categories={column: [levels]}): levels taken from the data reveal a "
                "level that only one record has. Nothing was computed."
            )
        other = [c for c in names if c not in declared
                 and not (pd.api.types.is_numeric_dtype(frame[c].dtype)
                          and not pd.api.types.is_complex_dtype(frame[c].dtype))]
        if other:
            raise ValueError(
                f"X has non-numeric columns {other!r} of dtypes "
                f"{[str(frame[c].dtype) for c in other]!r}; this estimator needs numeric "
                "predictors or categorical ones declared in categories."
            )
        encoding = {c: list(declared[c]) for c in names if c in declared}
        if not encoding:
            return {}, list(names), {}
        encoded, _ = one_hot_encode(frame, categories=encoding, dummy_na=list(encoding),
                                    handle_unknown="error")
        predictors, groups = _encoded_names(frame.columns, encoding, encoded.columns)
        return encoding, predictors, groups

    # -- statistics -> solution --------------------------------------------
    def _release_and_solve(self, rows):
        """The release (weights, sensitivity, calibration, noise) and
        everything after it, from the exact statistics: the same code
        whatever the rows came from."""
        leaks = list(rows.leaks)
        by_environment, released_idx, predictors = (
            rows.by_environment, rows.released_idx, rows.predictors)
        feature_bound, target_bound = rows.feature_bound, rows.target_bound
        # Entry (i, j) of the exact sums is weighted by W_ij before the noise is
        # added (see release_weights for the sensitivity, and rounding_allowance
        # for the floating-point rounding it covers).
        k = len(released_idx)
        blocks = ENVIRONMENT_BLOCK_WEIGHTS if by_environment else POOLED_BLOCK_WEIGHTS
        W, add_remove = release_weights(k, **blocks)
        allowance = rounding_allowance(W)
        sensitivity = add_remove + allowance
        if self.neighbouring == "replace_one":
            sensitivity = replace_one_sensitivity(k, **blocks) + allowance
            if by_environment:
                # A record that moves environment changes (and rounds) two
                # matrices, each by one record's contribution.
                sensitivity = max(sensitivity, np.sqrt(2.0) * (add_remove + allowance))
        sigma = gaussian_noise_scale(self.epsilon, self.delta, sensitivity)
        if self.random_state is not None:
            seed = (self.random_state if isinstance(self.random_state, Integral)
                    else type(self.random_state).__name__)
            leaks.append(f"the noise was drawn from a seeded generator (random_state={seed})")
        released = release_grams(rows.exact, W, sigma, sensitivity, self.random_state)

        # Everything below is post-processing of `released`.
        grams = released.copy()
        grams[:, 0, 0] = np.maximum(grams[:, 0, 0], 2.0)  # noisy counts
        icp_pvalues = None
        used = list(range(k))
        released_names = [predictors[i] for i in released_idx]
        if rows.icp:
            used, icp_pvalues = self._private_icp(grams, released_names, sigma / W)
        coef_s, intercept_s, floor = self._solve(grams, used, sigma / W)
        coef = np.zeros(len(predictors))
        coef[[released_idx[i] for i in used]] = coef_s * target_bound / feature_bound
        self.coef_ = coef
        self.intercept_ = float(intercept_s * target_bound)
        self.is_private_ = not leaks
        self.privacy_leaks_ = leaks
        self.epsilon_ = float(self.epsilon) if not leaks else float("inf")
        self.delta_ = float(self.delta)
        self.noise_scale_ = float(sigma)
        self.sensitivity_ = float(sensitivity)
        self.release_weights_ = W
        self.feature_bound_ = float(feature_bound)
        self.target_bound_ = float(target_bound)
        self.released_statistics_ = released
        self.predictors_ = predictors
        self.released_features_ = released_names
        self.selected_features_ = [released_names[i] for i in used]
        self.icp_subset_pvalues_ = icp_pvalues
        self.eigenvalue_floor_ = float(floor)
        self.categories_ = rows.encoding
        self.environments_ = rows.levels
        self._keep = rows.keep
        self._released_idx = released_idx
        return self

    # -- helpers -----------------------------------------------------------
    def _check_categories_parameter(self, names, is_frame):
        """``categories`` (a dict, or {}) after checking that it names
        predictors of a DataFrame ``X``."""
        declared = self.categories or {}
        unknown = sorted(set(declared) - set(names))
        if unknown:
            raise ValueError(f"categories names columns {unknown!r} that are not "
                             f"predictors; the predictors are {names!r}.")
        if declared and not is_frame:
            raise ValueError("categories needs X as a DataFrame with named columns.")
        return declared

    def _encode_fit(self, features, names, leaks):
        """The numeric design: numeric columns as they are, categorical ones
        (and those named in ``categories``) one-hot encoded with declared
        levels and a missing-value indicator each (public: it exists whatever
        the data hold). Levels not declared come from the data: a leak."""
        declared = self._check_categories_parameter(names,
                                                    isinstance(features, pd.DataFrame))
        if not isinstance(features, pd.DataFrame):
            return numeric_features(features, names), list(names), {}, {}
        frame = features.set_axis(names, axis=1)
        declared = _declared_categories(declared, frame, ())
        encoded_columns = [c for c in names if c in declared or _is_categorical(frame[c])]
        if not encoded_columns:
            return numeric_features(frame, names), list(names), {}, {}
        encoding = {}
        for column in encoded_columns:
            if column in declared:
                encoding[column] = list(declared[column])
                continue
            series = frame[column]
            observed = (list(series.cat.categories)
                        if isinstance(series.dtype, pd.CategoricalDtype)
                        else sorted(series.dropna().unique(), key=str))
            encoding[column] = observed
            leaks.append(f"the levels of {column!r} were taken from the data "
                         "(declare them in categories)")
            warnings.warn(
                f"categories: the levels of {column!r} were taken from the data; a level "
                "that only one record has makes a column of its own, which reveals "
                "that record: the (epsilon, delta) guarantee does not hold. Declare "
                "the levels (categories={column: [...]}).",
                PrivacyLeakWarning,
                stacklevel=5,
            )
        for column in declared:
            values = frame[column]
            if (values.notna() & ~values.isin(declared[column])).any():
                # Not named either (see _environment_codes).
                raise ValueError(
                    f"column {column!r} holds values outside its declared categories; "
                    "nothing was released. Declare every level, or check the column "
                    "against the declared levels before the private fit.")
        design, groups = self._encode(frame, encoding, handle_unknown="error")
        return design.to_numpy(), list(design.columns), groups, encoding

    @staticmethod
    def _encode(frame, encoding, handle_unknown):
        encoded, _ = one_hot_encode(frame, categories=encoding, dummy_na=list(encoding),
                                    handle_unknown=handle_unknown)
        names, groups = _encoded_names(frame.columns, encoding, encoded.columns)
        design = numeric_features(encoded, names)
        return pd.DataFrame(design, columns=names), groups

    def _declared_levels(self, by_environment):
        """The declared environment levels, validated: a list (None when
        not declared)."""
        declared = self.environment_levels
        if declared is None:
            return None
        declared = list(declared)
        if not declared or pd.Index(declared).has_duplicates:
            raise ValueError("environment_levels must list distinct levels; got "
                             f"{declared!r}.")
        if by_environment and len(declared) < 2:
            raise ValueError(f"environment_levels={declared!r} declares one level; "
                             "comparing environments needs at least two.")
        return declared

    def _environment_codes(self, env, by_environment, leaks):
        """Declared levels and each row's code; environments a pooled fit
        never uses are not read."""
        declared = self._declared_levels(by_environment)
        if not by_environment:
            return (None if declared is None else np.asarray(declared, dtype=object)), None
        if declared is None:
            levels, codes = environment_codes(env, min_levels=2,
                                              what="comparing environments")
            leaks.append("the environment levels were taken from the data (declare "
                         "them in environment_levels)")
            warnings.warn(
                "environment_levels is not declared: the levels were taken from the "
                "data, so a level that only one record has is revealed: the (epsilon, "
                "delta) guarantee does not hold. Declare the levels.",
                PrivacyLeakWarning,
                stacklevel=5,
            )
            return levels, codes
        codes = _level_codes(env.column(0), declared)
        if (codes == -1).any():
            # The labels themselves are not named: the error depends on the
            # data, its message should not add the records' values.
            raise ValueError(
                f"{env.argument} has labels outside environment_levels={declared!r}; "
                "nothing was released. Declare every level, or check the labels "
                "against the declared levels before the private fit.")
        return np.asarray(declared, dtype=object), codes

    def _bounds(self, features, y, leaks):
        feature_bound, target_bound = self.feature_bound, self.target_bound
        leaked = []
        if feature_bound is None:
            feature_bound = float(row_norms(features).max(initial=0.0)) or 1.0
            leaked.append(f"feature_bound={feature_bound:.6g}")
        if target_bound is None:
            target_bound = float(np.abs(y).max(initial=0.0)) or 1.0
            leaked.append(f"target_bound={target_bound:.6g}")
        if leaked:
            leaks.append("the bounds were taken from the data (" + ", ".join(leaked) + ")")
            warnings.warn(
                "bounds taken from the data (" + ", ".join(leaked) + ") reveal the "
                "largest row: the (epsilon, delta) guarantee does not hold. Declare "
                "public bounds.",
                PrivacyLeakWarning,
                stacklevel=6,
            )
        return feature_bound, target_bound

    def _resolve_causal_features(self, names, groups=None):
        """Positions in ``names`` (the encoded predictors) of the causal
        features; a categorical column's name stands for all its indicators."""
        groups = groups or {}
        spec = self.causal_features
        if spec is None or spec == "icp":
            return list(range(len(names)))

        def positions(name):
            return [names.index(c) for c in groups.get(name, [name])]

        if isinstance(spec, CausalGraph):
            columns = set(names) | set(groups)
            others = [v for v in spec.nodes if v not in columns]
            if len(others) != 1:
                raise ValueError(
                    "causal_features: the graph must have exactly one node that is "
                    f"not a column of X (the target); it has {others!r}."
                )
            return sorted({i for p in spec.parents(others[0]) for i in positions(p)})
        idx = []
        for item in spec:
            if isinstance(item, Integral) and not isinstance(item, bool):
                if not 0 <= item < len(names):
                    raise ValueError(f"causal_features: position {item} is out of range.")
                idx.append(int(item))
            elif str(item) in names or str(item) in groups:
                idx.extend(positions(str(item)))
            else:
                raise ValueError(
                    f"causal_features names {item!r}, which is not a predictor; the "
                    f"predictors are {names!r}."
                )
        return sorted(set(idx))

    def _private_icp(self, grams, names, noise_scales):
        """ICP's tests on the released statistics (post-processing), with the
        release noise's variance added to the tests' (it is public)."""
        statistics = EnvironmentStatistics.from_grams(grams, noise_scale=noise_scales)
        pvals = linear_subset_pvalues(statistics, min(len(names), 12))
        accepted = [s for s, pv in pvals.items() if pv > self.icp_alpha]
        if not accepted:
            warnings.warn(
                "ICP on the private statistics rejected every subset: no causal "
                "feature is used (the model predicts the mean).",
                ModelRejectedWarning,
                stacklevel=6,
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
        X : {array-like, DataFrame, dask array, dask DataFrame} of shape (n_samples, n_features)
            The columns seen in fit (the environment column, if any, is
            ignored).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,), or dask array / Series
            For a dask array, a dask array with ``X``'s row chunks; for a
            dask DataFrame, a dask Series with ``X``'s index. Lazy: nothing
            is computed until asked.

        Raises
        ------
        ValueError
            ``X`` with other columns than in fit (checked on a dask
            collection's schema before anything is computed); NaN in its
            numeric columns (on dask, when computed).
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            self._check_dask_schema(X)
            return map_rows(self._predict_rows, X, dtype=np.float64)
        return self._predict_rows(X)

    def _predict_rows(self, X):
        return self._design(X) @ self.coef_ + self.intercept_

    def _check_dask_schema(self, X):
        """A dask collection's columns against those seen in fit (its schema
        only: nothing is computed)."""
        meta = self._dask_meta(X)
        validate_frame(self, meta, reset=False, dtype=None, ensure_all_finite=False,
                       ensure_min_samples=0)

    @staticmethod
    def _dask_meta(X):
        """The schema of a dask ``X`` without its rows: its empty pandas
        frame, or an empty array with its columns and dtype."""
        kind = _dask_kind(X)
        if kind == "frame":
            return X._meta
        if kind == "array" and X.ndim == 2 and not np.isnan(X.shape[1]):
            return np.empty((0, X.shape[1]), dtype=X.dtype)
        raise ValueError(
            f"X is a dask {type(X).__name__} of shape {X.shape}; expected a 2-D dask "
            "array (known number of columns) or a dask DataFrame."
        )

    def count_clipped(self, X, y):
        """Rows of ``(X, y)`` outside the fitted bounds: **not private**.

        A diagnostic for the data holder, computed from the data passed here
        (not from the release, and not stored on the estimator): how many
        rows of the released predictors have a norm above
        ``feature_bound_``, and how many targets exceed ``target_bound_``.
        Do not publish it: it is a function of the data without noise.

        Parameters
        ----------
        X : {array-like, DataFrame, dask array, dask DataFrame} of shape (n_samples, n_features)
        y : array-like or dask array / Series of shape (n_samples,)
            On dask, with ``X``'s row partitions.

        Returns
        -------
        n_clipped_features, n_clipped_targets : int
        """
        check_is_fitted(self)
        if any_dask(X, y):
            if not (is_dask_collection(X) and is_dask_collection(y)):
                raise ValueError("count_clipped needs X and y both in memory or both dask "
                                 "collections with the same row partitions.")
            self._check_dask_schema(X)
            return tuple(int(v) for v in reduce_partitions(self._count_clipped_partition,
                                                           {"X": X, "y": y}))
        return self._count_clipped_rows(X, y)

    def _count_clipped_partition(self, X, y):
        return (0, 0) if X.shape[0] == 0 else self._count_clipped_rows(X, y)

    def _count_clipped_rows(self, X, y):
        design = self._design(X)[:, self._released_idx]
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if y.shape[0] != design.shape[0]:
            raise ValueError(f"y has {y.shape[0]} rows but X has {design.shape[0]}.")
        return (int((row_norms(design) > self.feature_bound_).sum()),
                int((np.abs(y) > self.target_bound_).sum()))

    def _design(self, X):
        """The fitted predictors of ``X`` (encoded as in fit), float."""
        Xv = validate_data(self, X, reset=False, dtype=None, ensure_all_finite=False)
        if not self.categories_:
            return check_array(np.asarray(Xv[:, self._keep]), dtype=np.float64,
                               input_name="X")
        frame = (X.iloc[:, self._keep] if isinstance(X, pd.DataFrame)
                 else pd.DataFrame(Xv[:, self._keep]))
        names = [str(self.feature_names_in_[j]) for j in self._keep]
        frame = frame.set_axis(names, axis=1)
        if not isinstance(X, pd.DataFrame):
            # An array's columns come as objects: the numeric ones (every
            # column fit did not encode) are numbers, not levels.
            for column in names:
                if column not in self.categories_:
                    frame[column] = pd.to_numeric(frame[column], errors="raise").astype(
                        np.float64)
        for column, levels in self.categories_.items():
            values = frame[column]
            unknown = values.notna() & ~values.isin(levels)
            if unknown.any():
                warnings.warn(
                    f"X[{column!r}] has levels {sorted(map(str, set(values[unknown])))[:10]!r} "
                    "not seen in fit: their indicators are all zero.",
                    UnknownCategoryWarning, stacklevel=3)
        design, _ = self._encode(frame, self.categories_, handle_unknown="ignore")
        return design.to_numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = True
        return tags

