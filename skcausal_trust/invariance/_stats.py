"""Invariance tests of residuals from per-environment sufficient statistics.

Every quantity ICP needs for a linear model of a subset S of predictors -- the
pooled least-squares coefficients, each environment's residual mean and
variance, and Chow's out-of-environment prediction test -- is a function of
each environment's row count and of the Gram matrix of ``[1, X, y]`` over its
rows. These are computed once; a subset's test is then a few small solves,
batched over all subsets of the same size.

Every test is invariant to the units of ``y`` and of each predictor, so ICP
brings the rows to unit scale by powers of two before their Gram matrices are
formed (``unit_scale=True``): exact in floating point, it changes nothing on
ordinary data and keeps ``1e-300`` or ``1e300`` times the data from
underflowing or overflowing.

On a dask array or dataframe the same statistics are built partition by
partition in two passes (:mod:`skcausal_trust.utils._dask`): the first
gathers, per column, the count, extremes and an exponent-aligned sum
(:class:`ColumnRanges`) and the environments' labels (:class:`LabelTotals`);
the second forms the Gram matrices of the rows centred and scaled exactly as
in memory (:func:`apply_unit_scale`, :func:`environment_grams`), and
:meth:`EnvironmentStatistics.from_scaled_grams` takes it from there.
"""

import numpy as np
import pandas as pd
from scipy import stats

from ..utils._compiled import row_sorter
from ..utils._scaling import times_power_of_two

__all__ = [
    "ColumnRanges",
    "EnvironmentStatistics",
    "LabelTotals",
    "apply_unit_scale",
    "environment_grams",
    "power_of_two_exponents",
]


def power_of_two_exponents(values):
    """Return the powers of two that bring each column to unit scale.

    ``ldexp(values, k)`` has each column's largest absolute value in
    [0.5, 1). Scaling by a power of two is exact (``np.ldexp`` also reaches
    factors beyond the float range), so the scaled data carry exactly the
    same digits; a column of zeros keeps ``k = 0``.

    Parameters
    ----------
    values : ndarray of shape (n_samples,) or (n_samples, n_columns)
        Finite values.

    Returns
    -------
    exponents : int or ndarray of int of shape (n_columns,)
        One exponent per column (an int for 1-D ``values``).
    """
    peak = np.max(np.abs(values), axis=0)
    _, exponent = np.frexp(peak)
    return np.where(peak > 0, -exponent, 0)


class EnvironmentStatistics:
    """Per-environment Gram matrices of ``[1, X, y]`` (centred globally).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite.
    y : ndarray of shape (n_samples,)
        Finite.
    codes : ndarray of shape (n_samples,)
        Environment index of each row, in ``0 .. n_environments - 1``.
    n_environments : int
        Number of environments.
    unit_scale : bool, default=False
        Scale each centred column of ``X`` and ``y`` by a power of two to a
        largest absolute value in [0.5, 1) before forming the Gram matrices
        (exact: the Gram matrices are the unscaled ones times
        ``2**(k_i + k_j)``). The tests do not change; coefficients and
        residual moments are then in the scaled units. Without it, data at
        scales near the float range (``1e-300``, ``1e300``) underflow or
        overflow.

    Attributes
    ----------
    x_exponents : ndarray of int of shape (n_features,)
        Column ``j`` of ``X`` enters the statistics multiplied by
        ``2**x_exponents[j]`` (0 without ``unit_scale``, and for statistics
        built :meth:`from_grams`).
    y_exponent : int
        Likewise for ``y``. :meth:`pooled_fit`'s slope ``j`` times
        ``2**(x_exponents[j] - y_exponent)`` is in the units of the data
        (:meth:`coefficient_exponents`).
    """

    def __init__(self, X, y, codes, n_environments, *, unit_scale=False):
        # Centring with the pooled means loses nothing (the intercept absorbs
        # it) and keeps the second moments free of cancellation.
        if unit_scale:
            # Powers of two before centring (so that no sum overflows) and
            # after (so that a column far from 0 is still of unit scale).
            X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
            Xc, x_exponents = _centred_unit_scale(X)
            yc, y_exponent = _centred_unit_scale(y)
            Z = np.column_stack([np.ones(len(y)), Xc, yc])
        else:
            Z = np.column_stack([np.ones(len(y)), X - X.mean(axis=0), y - y.mean()])
            x_exponents, y_exponent = np.zeros(Z.shape[1] - 2), 0
        self.x_exponents = np.atleast_1d(x_exponents).astype(int)
        self.y_exponent = int(y_exponent)
        self._set(environment_grams(Z, codes, n_environments))

    @classmethod
    def from_scaled_grams(cls, grams, x_exponents, y_exponent):
        """Statistics from per-environment Gram matrices of ``[1, Xc, yc]``
        already centred and scaled, as ``unit_scale=True`` forms them.

        This is how statistics summed over the partitions of a dask
        collection arrive (rows centred with the pooled means and scaled by
        :func:`apply_unit_scale`); the object is the one ``__init__`` builds
        from the same rows in memory.

        Parameters
        ----------
        grams : ndarray of shape (n_environments, p + 2, p + 2)
        x_exponents : ndarray of int of shape (p,)
            The total power of two of each column of ``X``.
        y_exponent : int
            That of ``y``.
        """
        self = cls.__new__(cls)
        self.x_exponents = np.atleast_1d(np.asarray(x_exponents)).astype(int)
        self.y_exponent = int(y_exponent)
        self._set(np.asarray(grams, dtype=float))
        return self

    @classmethod
    def from_grams(cls, grams, noise_scale=0.0):
        """Statistics from per-environment Gram matrices of ``[1, X, y]``.

        Parameters
        ----------
        grams : ndarray of shape (n_environments, p + 2, p + 2)
            Uncentred; for example differentially private releases.
        noise_scale : float or ndarray of shape (p + 2, p + 2), default=0.0
            Standard deviation of independent Gaussian noise on each entry of
            the upper triangle of every matrix (a Gaussian-mechanism
            release): one for all entries, or one per entry (symmetric).
            When positive, the approximate test adds the noise's variance to
            that of the residual means and variances, so that it does not
            mistake privacy noise for a lack of invariance.
        """
        grams = np.asarray(grams, dtype=float)
        total = grams.sum(axis=0)
        mean = total[0, 1:] / total[0, 0]
        # z -> [1, z - mean] is linear: T z with T = [[1, 0], [-mean, I]].
        T = np.eye(grams.shape[1])
        T[1:, 0] = -mean
        self = cls.__new__(cls)
        self._set(np.einsum("ij,ejk,lk->eil", T, grams, T))
        self.x_exponents = np.zeros(grams.shape[1] - 2, dtype=int)
        self.y_exponent = 0
        self.noise_scale = np.broadcast_to(
            np.asarray(noise_scale, dtype=float), grams.shape[1:]).copy()
        self.uncentred_mean = mean
        self.raw_grams = grams
        return self

    noise_scale = np.zeros(())
    #: Draws of the parametric bootstrap of the release noise.
    NOISE_DRAWS = 64

    def _components(self, subsets):
        """The noise-aware tests' statistics before standardisation: per
        environment, the difference of the residual mean and of the residual
        variance against the other environments, shape (E, m) each, with
        their sampling variances under invariance (Gaussian residuals, the
        pooled variance). Differences rather than a log ratio: linear in the
        release noise, and defined when the noise makes a residual sum of
        squares negative."""
        beta, _, _ = self.pooled_fit(subsets)
        s1, s2 = self.residual_moments(subsets, beta, clip=False)
        n_e = self.counts[:, None]
        n_o = self.n - n_e
        o1, o2 = s1.sum(axis=0) - s1, s2.sum(axis=0) - s2
        mean_e, mean_o = s1 / n_e, o1 / n_o
        var_e = (s2 - n_e * mean_e**2) / (n_e - 1)
        var_o = (o2 - n_o * mean_o**2) / (n_o - 1)
        pooled = np.maximum((s2.sum(axis=0) - s1.sum(axis=0) ** 2 / self.n) / (self.n - 1), 0.0)
        return (mean_e - mean_o, var_e - var_o,
                pooled * (1 / n_e + 1 / n_o),
                2 * pooled**2 * (1 / (n_e - 1) + 1 / (n_o - 1)))

    def _noise_variance_by_simulation(self, subsets):
        """Variance of the components caused by the release noise, by a
        parametric bootstrap: perturb the release with fresh noise of the
        same (public) law and recompute. Post-processing: no privacy cost.

        Returns
        -------
        var_mean, var_var : ndarrays of shape (E, m)
        """
        rng = np.random.default_rng(0)
        m = self.raw_grams.shape[1]
        iu = np.triu_indices(m)
        draws_mean, draws_var = [], []
        for _ in range(self.NOISE_DRAWS):
            noise = np.zeros_like(self.raw_grams)
            noise[:, iu[0], iu[1]] = rng.normal(
                0.0, self.noise_scale[iu], size=(self.raw_grams.shape[0], iu[0].size))
            noise = noise + np.triu(noise, 1).transpose(0, 2, 1)
            perturbed = EnvironmentStatistics.from_grams(self.raw_grams + noise)
            d_mean, d_var, _, _ = perturbed._components(subsets)
            draws_mean.append(d_mean)
            draws_var.append(d_var)
        return np.var(draws_mean, axis=0, ddof=1), np.var(draws_var, axis=0, ddof=1)

    def _set(self, gram):
        self.gram = gram
        self.p = gram.shape[1] - 2
        self.counts = gram[:, 0, 0].copy()
        self.total = gram.sum(axis=0)
        self.n = self.counts.sum()

    def _blocks(self, subsets, gram):
        """Blocks of ``gram`` (..., d, d) for subsets (m, k): Z'Z, Z'y, y'y."""
        m, k = subsets.shape
        idx = np.concatenate([np.zeros((m, 1), dtype=int), 1 + subsets], axis=1)
        y = self.p + 1
        zz = gram[..., idx[:, :, None], idx[:, None, :]]  # (..., m, k+1, k+1)
        zy = gram[..., idx, y]  # (..., m, k+1)
        yy = gram[..., y, y]  # (...)
        return zz, zy, yy

    @staticmethod
    def _solve(zz, zy):
        # Batched least squares; lstsq-like minimum-norm fallback per system
        # when a block is singular (collinear predictors).
        try:
            return np.linalg.solve(zz, zy[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(zz, zy)])

    def coefficient_exponents(self, subsets):
        """Exponents that bring :meth:`pooled_fit`'s slopes to the units of
        the data: ``ldexp(beta[:, 1:], coefficient_exponents(subsets))``.

        Returns
        -------
        exponents : ndarray of int of shape (m, k)
        """
        return self.x_exponents[subsets] - self.y_exponent

    def pooled_fit(self, subsets):
        """Pooled coefficients (intercept first) and residual sum of squares."""
        zz, zy, yy = self._blocks(subsets, self.total)
        beta = self._solve(zz, zy)
        rss = yy - np.einsum("mk,mk->m", beta, zy)
        return beta, np.maximum(rss, 0.0), zz

    def residual_moments(self, subsets, beta, clip=True):
        """Per-environment residual sums and sums of squares, shape (E, m);
        ``clip=False`` keeps a negative sum of squares (a noisy release)."""
        zz, zy, yy = self._blocks(subsets, self.gram)
        # Row 0 of Z'Z is sum(Z), and Z'y[0] is sum(y), per environment.
        s1 = zy[..., 0] - np.einsum("emk,mk->em", zz[..., 0, :], beta)
        s2 = (
            yy[:, None]
            - 2.0 * np.einsum("emk,mk->em", zy, beta)
            + np.einsum("mk,emkl,ml->em", beta, zz, beta)
        )
        return s1, (np.maximum(s2, 0.0) if clip else s2)

    def approximate_pvalues(self, subsets, beta):
        """Welch t-test of means and two-sided F-test of variances of the
        residuals, each environment against all the others.

        Returns
        -------
        mean_p, var_p : ndarrays of shape (E, m)
        """
        if np.any(self.noise_scale > 0):
            return self._noisy_pvalues(subsets)
        s1, s2 = self.residual_moments(subsets, beta)
        n_e = self.counts[:, None]
        n_o = self.n - n_e
        o1, o2 = s1.sum(axis=0) - s1, s2.sum(axis=0) - s2
        mean_e, mean_o = s1 / n_e, o1 / n_o
        var_e = np.maximum((s2 - n_e * mean_e**2) / (n_e - 1), 0.0)
        var_o = np.maximum((o2 - n_o * mean_o**2) / (n_o - 1), 0.0)
        se2_e, se2_o = var_e / n_e, var_o / n_o
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (mean_e - mean_o) / np.sqrt(se2_e + se2_o)
            df = (se2_e + se2_o) ** 2 / (se2_e**2 / (n_e - 1) + se2_o**2 / (n_o - 1))
            mean_p = 2.0 * stats.t.sf(np.abs(t), df)
            F = var_e / var_o
            cdf = stats.f.cdf(F, n_e - 1, n_o - 1)
        var_p = 2.0 * np.minimum(cdf, 1.0 - cdf)
        # A perfect fit (zero residual variance everywhere) cannot reject.
        mean_p = np.where(np.isfinite(mean_p), mean_p, 1.0)
        var_p = np.where(np.isfinite(var_p), var_p, 1.0)
        return mean_p, var_p

    def _noisy_pvalues(self, subsets):
        """Large-sample versions of the two tests with the release noise's
        variance added (estimated by a parametric bootstrap of the noise,
        which also covers its effect through the pooled coefficients): a
        z-test of the difference of means and one of the difference of
        variances, from the released statistics alone (the pooled
        coefficients are refitted for each bootstrap draw)."""
        d_mean, d_var, var_mean, var_var = self._components(subsets)
        noise_mean, noise_var = self._noise_variance_by_simulation(subsets)
        with np.errstate(divide="ignore", invalid="ignore"):
            z_mean = d_mean / np.sqrt(var_mean + noise_mean)
            z_var = d_var / np.sqrt(var_var + noise_var)
        mean_p = 2.0 * stats.norm.sf(np.abs(z_mean))
        var_p = 2.0 * stats.norm.sf(np.abs(z_var))
        return (np.where(np.isfinite(mean_p), mean_p, 1.0),
                np.where(np.isfinite(var_p), var_p, 1.0))

    def chow_pvalues(self, subsets):
        """Chow's test of predicting each environment from all the others.

        Under invariance with Gaussian noise, the residuals ``r_e`` of
        environment ``e`` under the fit on the other environments satisfy
        ``r_e' (I + Z_e A^{-1} Z_e')^{-1} r_e / n_e / s^2 ~ F(n_e, n_{-e} - k)``
        with ``A`` the others' Gram matrix and ``s^2`` their residual
        variance; by Woodbury the quadratic form is
        ``r'r - (Z_e'r)' (A + Z_e'Z_e)^{-1} (Z_e'r)``.

        Returns
        -------
        pvalues : ndarray of shape (E, m)
        """
        m, k = subsets.shape
        k += 1
        zz_t, zy_t, yy_t = self._blocks(subsets, self.total)
        zz_e, zy_e, yy_e = self._blocks(subsets, self.gram)
        yy_e = yy_e[:, None]
        zz_o, zy_o, yy_o = zz_t[None] - zz_e, zy_t[None] - zy_e, yy_t[None] - yy_e
        beta_o = self._solve(zz_o.reshape(-1, k, k), zy_o.reshape(-1, k)).reshape(-1, m, k)
        rss_o = np.maximum(yy_o - np.einsum("emk,emk->em", beta_o, zy_o), 0.0)
        rr = (
            yy_e
            - 2.0 * np.einsum("emk,emk->em", beta_o, zy_e)
            + np.einsum("emk,emkl,eml->em", beta_o, zz_e, beta_o)
        )
        zr = zy_e - np.einsum("emkl,eml->emk", zz_e, beta_o)
        inv_zr = self._solve(
            np.broadcast_to(zz_t, zz_e.shape).reshape(-1, k, k), zr.reshape(-1, k)
        ).reshape(zr.shape)
        quad = np.maximum(rr - np.einsum("emk,emk->em", zr, inv_zr), 0.0)
        n_e = self.counts[:, None]
        df_o = (self.n - n_e) - k
        with np.errstate(divide="ignore", invalid="ignore"):
            F = (quad / n_e) / (rss_o / df_o)
            p = stats.f.sf(F, n_e, df_o)
        return np.where(np.isfinite(p), p, 1.0)


#: Rows per block of :func:`environment_grams`: a block's rows of each
#: environment are gathered, or grouped, while the block is in cache (16384
#: was the fastest of 4096 to 32768 for both).
GRAM_BLOCK_ROWS = 16_384

#: A block whose environment labels change at most this many times (rows
#: stored by environment: sorted, or a partition per environment) has each
#: run of equal labels multiplied in place, without gathering.
MAX_GRAM_RUNS = 64

#: Fewest rows for which :func:`environment_grams` uses the compiled sort:
#: below, gathering costs less than importing numba and loading the sort
#: from numba's cache (1.3 to 1.5 s, once per process).
COMPILED_MIN_ROWS = 2**17


def environment_grams(Z, codes, n_environments):
    """Gram matrix of the rows of ``Z`` in each environment.

    Block by block of rows. Where a block's labels form few runs (rows
    stored by environment, at most ``MAX_GRAM_RUNS`` changes), each run is
    multiplied where it lies: no copy. Otherwise:

    - with numba installed (the ``fast`` extra) and at least
      ``COMPILED_MIN_ROWS`` rows, a compiled stable counting
      sort (:func:`skcausal_trust.utils._compiled.row_sorter`) copies the
      block's rows grouped by environment, in one pass, into a buffer that
      stays in cache, and each group is multiplied there. On 10^6 x 21 rows
      in five environments interleaved at random this took 0.5 to 0.67
      times as long as gathering in one process (on a loaded machine), and
      0.66 times in dask's workers (``benchmarks/bench_dask.py``);
    - without numba, each environment's rows are gathered into a buffer
      allocated once, while the block is in cache. A C-ordered ``Z`` (as
      ``np.column_stack`` gives it) is gathered row by row straight from
      the block; any other layout (the columns of a DataFrame) has the
      block's transpose copied into a second buffer first, and is gathered
      from that. Without temporaries it runs at the same speed where every
      large allocation is a fresh mapping of memory (dask's workers set
      ``MALLOC_TRIM_THRESHOLD_``, which made the gathering 3 times slower
      there).

    Both give the same sums up to the order of the additions.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
        Rows, in any layout and float dtype.
    codes : ndarray of int of shape (n,)
        Each row's environment, in ``[0, n_environments)``.
    n_environments : int

    Returns
    -------
    grams : ndarray of shape (n_environments, d, d)
        Zeros for an environment without rows.
    """
    n, d = Z.shape
    gram = np.zeros((n_environments, d, d))
    sorter = row_sorter() if d and n >= COMPILED_MIN_ROWS else None
    size = max(min(GRAM_BLOCK_ROWS, n), 1)
    rows_buffer = np.empty(d * size)
    # np.take into the float buffer needs float rows, as does the sort;
    # others go through a copy of the block.
    by_rows = Z.flags.c_contiguous and Z.dtype == np.float64
    if sorter is not None:
        starts = np.empty(n_environments + 1, dtype=np.int64)
        if not by_rows:
            # The sort reads rows: other layouts are copied a block at a
            # time into C order.
            block_buffer = np.empty((size, d))
    elif not by_rows:
        block_buffer = np.empty((d, size))
    for start in range(0, n, size):
        stop = min(start + size, n)
        if by_rows:
            block = Z[start:stop]
        elif sorter is not None:
            block = block_buffer[:stop - start]
            np.copyto(block, Z[start:stop])
        else:
            block = block_buffer[:, :stop - start]
            np.copyto(block, Z[start:stop].T)
        block_codes = codes[start:stop]
        changes = np.flatnonzero(block_codes[1:] != block_codes[:-1]) + 1
        if changes.size <= MAX_GRAM_RUNS:
            bounds = [0, *changes.tolist(), stop - start]
            for a, b in zip(bounds[:-1], bounds[1:]):
                e = block_codes[a]
                if by_rows or sorter is not None:
                    rows = block[a:b]
                    gram[e] += rows.T @ rows
                else:
                    rows = block[:, a:b]
                    gram[e] += rows @ rows.T
            continue
        if sorter is not None:
            grouped = rows_buffer[:d * (stop - start)].reshape(stop - start, d)
            sorter(block, np.ascontiguousarray(block_codes, dtype=np.int64), grouped, starts)
            for e in range(n_environments):
                rows = grouped[starts[e]:starts[e + 1]]
                if rows.shape[0]:
                    gram[e] += rows.T @ rows
            continue
        for e in range(n_environments):
            index = np.flatnonzero(block_codes == e)
            # mode="clip": the indices are valid, and "raise" would buffer.
            if by_rows:
                rows = rows_buffer[:d * index.size].reshape(index.size, d)
                np.take(block, index, axis=0, out=rows, mode="clip")
                gram[e] += rows.T @ rows
            else:
                rows = rows_buffer[:d * index.size].reshape(d, index.size)
                np.take(block, index, axis=1, out=rows, mode="clip")
                gram[e] += rows @ rows.T
    return gram


def _centred_unit_scale(values):
    """``values`` centred, each column scaled by a power of two to a largest
    absolute value in [0.5, 1), and the total exponent of each column."""
    first = power_of_two_exponents(values)
    scaled = np.ldexp(values, first)
    mean = scaled.mean(axis=0)
    second = power_of_two_exponents(scaled - mean)
    return apply_unit_scale(values, first, mean, second), first + second


def apply_unit_scale(values, first, mean, second):
    """``values`` scaled by ``2**first``, centred with ``mean`` (in the
    scaled units) and scaled by ``2**second``: :func:`_centred_unit_scale`
    with given exponents and mean, for rows seen a partition at a time."""
    return times_power_of_two(times_power_of_two(values, first) - mean, second)



# -- rows to statistics, a partition at a time ------------------------------
# Partition summaries that add up (``a + b``) in the fixed tree of
# skcausal_trust.utils._dask.reduce_partitions.


class ColumnRanges:
    """Per-column row count, extremes and sum of a block of rows; ``a + b``
    combines two blocks.

    The sum is kept in units of ``2**-exponents`` -- the power of two that
    brings the largest absolute value seen to [0.5, 1) -- so that it neither
    overflows nor underflows at any finite scale; powers of two scale
    exactly, so the combined sum is the in-memory sum of the scaled column
    up to the order of the additions.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_columns)
        Finite values (possibly no rows).
    """

    def __init__(self, values):
        values = np.asarray(values, dtype=float)
        self.n = values.shape[0]
        if self.n:
            self.low, self.high = values.min(axis=0), values.max(axis=0)
        else:
            self.low = np.full(values.shape[1], np.inf)
            self.high = np.full(values.shape[1], -np.inf)
        self.exponents = _exponents_of(self.peak)
        self.sums = times_power_of_two(values, self.exponents).sum(axis=0)

    @property
    def peak(self):
        """The largest absolute value of each column (0 without rows)."""
        return np.maximum(np.maximum(-self.low, self.high), 0.0)

    def __add__(self, other):
        out = ColumnRanges.__new__(ColumnRanges)
        out.n = self.n + other.n
        out.low = np.minimum(self.low, other.low)
        out.high = np.maximum(self.high, other.high)
        # The exponent of the larger peak (the smaller exponent): the other
        # sum scales down, exactly unless it underflows (then it is below
        # 2**-1074 of the total).
        out.exponents = np.where(self.peak >= other.peak, self.exponents, other.exponents)
        out.sums = (np.ldexp(self.sums, out.exponents - self.exponents)
                    + np.ldexp(other.sums, out.exponents - other.exponents))
        return out

    def unit_scale(self):
        """The exponents and mean :func:`_centred_unit_scale` finds for the
        combined rows.

        Returns
        -------
        first : ndarray of int
            :func:`power_of_two_exponents` of the columns.
        mean : ndarray
            The mean of the columns scaled by ``2**first``.
        second : ndarray of int
            :func:`power_of_two_exponents` of the scaled columns centred with
            ``mean``: the largest absolute deviation is that of the smallest
            or of the largest value (rounding is monotone).
        """
        first = self.exponents
        mean = self.sums / self.n
        deviation = np.maximum(np.abs(np.ldexp(self.high, first) - mean),
                               np.abs(np.ldexp(self.low, first) - mean))
        return first, mean, _exponents_of(deviation)


def _exponents_of(peak):
    """:func:`power_of_two_exponents` from the largest absolute values."""
    _, exponent = np.frexp(peak)
    return np.where(peak > 0, -exponent, 0)


class LabelTotals:
    """Per label, the row count and a weight total of a block of rows;
    ``a + b`` combines two blocks (the union of their labels).

    Parameters
    ----------
    labels : ndarray of shape (n_rows,), dtype object
        Validated labels (as :func:`skcausal_trust.base.environment_codes`
        reads them).
    weights : ndarray of shape (n_rows,) or None, default=None
        Row weights; None counts rows.
    """

    def __init__(self, labels, weights=None):
        labels = np.asarray(labels, dtype=object)
        # factorize keeps the labels' Python objects (no dtype inference) and
        # equates them as pandas.unique does in environment_codes.
        codes, uniques = pd.factorize(labels)
        counts = np.bincount(codes, minlength=len(uniques))
        totals = counts if weights is None else np.bincount(
            codes, weights=weights, minlength=len(uniques))
        self.totals = {label: np.array([c, t], dtype=float)
                       for label, c, t in zip(uniques, counts, totals)}

    def __add__(self, other):
        out = LabelTotals([])
        out.totals = dict(self.totals)
        for label, value in other.totals.items():
            out.totals[label] = out.totals[label] + value if label in out.totals else value
        return out

    def counts(self, levels):
        """Row counts of ``levels``, in their order."""
        return np.array([self.totals[level][0] for level in levels])

    def weights(self, levels):
        """Weight totals of ``levels``, in their order."""
        return np.array([self.totals[level][1] for level in levels])


def codes_of(labels, levels):
    """Integer codes of ``labels`` among ``levels`` (as
    :func:`skcausal_trust.base.environment_codes` numbers them)."""
    labels = np.asarray(labels, dtype=object)
    codes = pd.Index(np.asarray(levels, dtype=object), dtype=object).get_indexer(labels)
    if (codes < 0).any():  # not reached: the levels are every label seen
        unknown = sorted({str(v) for v in labels[codes < 0]})
        raise ValueError(f"labels {unknown!r} are not among the levels {list(levels)!r}.")
    return codes.astype(np.intp)


# -- dask inputs -------------------------------------------------------------
def dask_columns(estimator, X, *, reset):
    """Check the columns of a dask array or dataframe ``X`` as
    ``validate_data`` does (their number and names; set them on ``reset``),
    without reading a row.

    Returns
    -------
    names : list of str or None
        ``X``'s column names (``feature_names_in_``), or None.
    dtypes : list of dtype
        The columns' dtypes.
    """
    import dask.array as da
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    from ..base import check_column_labels

    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(f"X is a {X.ndim}-D dask array; expected a 2-D one "
                             "(n_samples, n_features).")
        if np.isnan(X.shape[1]):
            raise ValueError("X is a dask array of unknown width; give it known "
                             "chunks (X.compute_chunk_sizes()).")
        empty = np.empty((0, X.shape[1]), dtype=X.dtype)
        dtypes = [X.dtype] * X.shape[1]
    elif hasattr(X, "_meta") and isinstance(X._meta, pd.DataFrame):
        empty = X._meta
        dtypes = list(empty.dtypes)
    else:
        raise TypeError(
            f"X is a dask {type(X).__name__}; pass a 2-D dask array or a dask "
            "DataFrame."
        )
    check_column_labels(empty)
    _check_n_features(estimator, empty, reset=reset)
    _check_feature_names(estimator, empty, reset=reset)
    names = getattr(estimator, "feature_names_in_", None)
    return (None if names is None else [str(n) for n in names]), dtypes


def dask_width(value, argument):
    """Columns of a dask array, series or dataframe (1 for 1-D ones), and
    their dtypes, from its metadata."""
    import dask.array as da

    if isinstance(value, da.Array):
        if value.ndim > 2:
            raise ValueError(f"{argument} is a {value.ndim}-D dask array; expected "
                             "1-D or 2-D.")
        width = 1 if value.ndim == 1 else value.shape[1]
        return width, [value.dtype] * int(width)
    meta = getattr(value, "_meta", None)
    if isinstance(meta, pd.Series):
        return 1, [meta.dtype]
    if isinstance(meta, pd.DataFrame):
        return meta.shape[1], list(meta.dtypes)
    raise TypeError(f"{argument} is a {type(value).__name__}, not a dask array, "
                    "series or dataframe.")


def is_numeric_dtype(dtype):
    """Whether a column of this dtype reads as float (numbers or booleans;
    not categories or text)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


def read_floats(part, argument, columns=None, *, vector=False):
    """A partition's values as float64, checked finite.

    Parameters
    ----------
    part : ndarray or pandas object
        One row partition.
    argument : str
        Its name in errors.
    columns : list of int or None, default=None
        Positions of the columns to read (None: all).
    vector : bool, default=False
        Return shape (n_rows,) (the part must have one column).
    """
    if columns is not None:
        part = part.iloc[:, columns] if hasattr(part, "iloc") else np.asarray(part)[:, columns]
    if hasattr(part, "to_numpy"):
        values = part.to_numpy(dtype=float, na_value=np.nan)
    else:
        values = np.asarray(part, dtype=float)
    if vector:
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise ValueError(f"{argument} must be 1-dimensional; got partitions of "
                             f"shape {values.shape}.")
    elif values.ndim == 1:
        values = values[:, None]
    if not np.isfinite(values).all():
        raise ValueError(
            f"{argument} has NaN or infinite values (in a partition of "
            f"{values.shape[0]} rows of the dask collection)."
        )
    return values


def read_labels(part, argument, column=None):
    """A partition's labels (column ``column`` of it, or all of it), checked
    as in memory (no missing value, no infinity)."""
    from ..base import _as_labels

    if column is not None:
        part = part.iloc[:, column] if hasattr(part, "iloc") else np.asarray(part)[:, column]
    return _as_labels(part, argument, part.shape[0])


def dask_environment(column_id, routed, names, n_columns):
    """Where the environment labels of a dask fit come from.

    Returns
    -------
    column : int or None
        Position of the environment column of ``X`` (``environment_column``),
        or None (routed, or no environments).
    argument : str or None
        How errors name the labels; None without environments.
    """
    from ..base import ENVIRONMENTS, attribute_column_blocks

    found = attribute_column_blocks(routed, column_id, ENVIRONMENTS, names, n_columns)
    if found is not None:
        block = found[1][0]
        if len(block) != 1:
            raise ValueError(
                f"environment_column={column_id!r} names the one-hot columns "
                f"{[names[j] for j in block]!r}; on a dask collection pass the "
                "label column itself (or route the labels as environments)."
            )
        name = names[block[0]] if names is not None else block[0]
        return block[0], f"X[{name!r}] (environment_column)"
    if routed is None:
        return None, None
    width, _ = dask_width(routed, "environments")
    if width != 1:
        raise ValueError(f"environments must hold one column; got {width} columns.")
    return None, "environments"


def non_numeric_error(bad, argument="X"):
    """The error :func:`skcausal_trust.base.numeric_features` raises for the
    columns ``bad``."""
    return ValueError(
        f"{argument} has non-numeric (categorical or string) columns {bad!r}; "
        "this estimator needs numeric predictors: one-hot encode them first "
        "(OneHotEncoder in a ColumnTransformer)."
    )
