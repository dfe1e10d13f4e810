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
"""

import numpy as np
from scipy import stats

__all__ = ["EnvironmentStatistics", "power_of_two_exponents"]


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
        gram = np.empty((n_environments, Z.shape[1], Z.shape[1]))
        for e in range(n_environments):
            Ze = Z[codes == e]
            gram[e] = Ze.T @ Ze
        self._set(gram)

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
        s1, s2 = self.residual_moments(subsets, beta)
        n_e = self.counts[:, None]
        n_o = self.n - n_e
        o1, o2 = s1.sum(axis=0) - s1, s2.sum(axis=0) - s2
        mean_e, mean_o = s1 / n_e, o1 / n_o
        var_e = np.maximum((s2 - n_e * mean_e**2) / (n_e - 1), 0.0)
        var_o = np.maximum((o2 - n_o * mean_o**2) / (n_o - 1), 0.0)
        se2_e, se2_o = var_e / n_e, var_o / n_o
        if np.any(self.noise_scale > 0):
            return self._noisy_pvalues(subsets, beta, n_e, n_o, mean_e, mean_o,
                                       var_e, var_o, se2_e, se2_o)
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

    def _noisy_pvalues(self, subsets, beta, n_e, n_o, mean_e, mean_o, var_e, var_o,
                       se2_e, se2_o):
        """Large-sample versions of the two tests with the release noise's
        variance added (estimated by a parametric bootstrap of the noise,
        which also covers its effect through the pooled coefficients): a
        z-test of the difference of means and one of the difference of
        variances."""
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


def _centred_unit_scale(values):
    """``values`` centred, each column scaled by a power of two to a largest
    absolute value in [0.5, 1), and the total exponent of each column."""
    first = power_of_two_exponents(values)
    scaled = np.ldexp(values, first)
    centred = scaled - scaled.mean(axis=0)
    second = power_of_two_exponents(centred)
    return np.ldexp(centred, second), first + second
