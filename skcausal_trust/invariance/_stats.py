"""Invariance tests of residuals from per-environment sufficient statistics.

Every quantity ICP needs for a linear model of a subset S of predictors -- the
pooled least-squares coefficients, each environment's residual mean and
variance, and Chow's out-of-environment prediction test -- is a function of
each environment's row count and of the Gram matrix of ``[1, X, y]`` over its
rows. These are computed once; a subset's test is then a few small solves,
batched over all subsets of the same size.
"""

import numpy as np
from scipy import stats

__all__ = ["EnvironmentStatistics"]


class EnvironmentStatistics:
    """Per-environment Gram matrices of ``[1, X, y]`` (centred globally).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    codes : ndarray of shape (n_samples,)
        Environment index of each row, in ``0 .. n_environments - 1``.
    n_environments : int
    """

    def __init__(self, X, y, codes, n_environments):
        # Centring with the pooled means loses nothing (the intercept absorbs
        # it) and keeps the second moments free of cancellation.
        Z = np.column_stack([np.ones(len(y)), X - X.mean(axis=0), y - y.mean()])
        self.p = X.shape[1]
        self.counts = np.bincount(codes, minlength=n_environments).astype(float)
        self.gram = np.empty((n_environments, Z.shape[1], Z.shape[1]))
        for e in range(n_environments):
            Ze = Z[codes == e]
            self.gram[e] = Ze.T @ Ze
        self.total = self.gram.sum(axis=0)
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

    def pooled_fit(self, subsets):
        """Pooled coefficients (intercept first) and residual sum of squares."""
        zz, zy, yy = self._blocks(subsets, self.total)
        beta = self._solve(zz, zy)
        rss = yy - np.einsum("mk,mk->m", beta, zy)
        return beta, np.maximum(rss, 0.0), zz

    def residual_moments(self, subsets, beta):
        """Per-environment residual sums and sums of squares, shape (E, m)."""
        zz, zy, yy = self._blocks(subsets, self.gram)
        # Row 0 of Z'Z is sum(Z), and Z'y[0] is sum(y), per environment.
        s1 = zy[..., 0] - np.einsum("emk,mk->em", zz[..., 0, :], beta)
        s2 = (
            yy[:, None]
            - 2.0 * np.einsum("emk,mk->em", zy, beta)
            + np.einsum("mk,emkl,ml->em", beta, zz, beta)
        )
        return s1, np.maximum(s2, 0.0)

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
