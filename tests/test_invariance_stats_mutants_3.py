"""Tests that kill surviving mutants of :class:`EnvironmentStatistics` in
``invariance/_stats.py`` (issue 17, ``benchmarks/run_mutation.py --modules
invariance_stats``): its constructors, the least-squares fallback for
collinear predictors, residual moments of a noisy release, the noise-aware
tests and the degenerate cases the tests must survive without a warning.

Every expected value is computed here from the rows or from the release
itself, never from another route through the statistics: Gram matrices of
the rows centred (and scaled by the powers of two that ``frexp`` gives) with
numpy, pooled coefficients from ``np.linalg.lstsq`` on the rows (its
minimum-norm solution where predictors are collinear), residual sums and
sums of squares from those residuals, Welch's t-test, the F-test of
variances and Chow's test written out with ``scipy.stats``, and the
noise-aware z-tests with the parametric bootstrap of the release noise that
the docstrings describe (64 draws of ``default_rng(0)`` on the upper
triangle of every matrix, sample variance with ``ddof=1``), each draw's
residual moments formed from the uncentred perturbed release.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from skcausal_trust.invariance._stats import EnvironmentStatistics


def _grams(Z, codes, n_environments):
    """Each environment's Gram matrix of the rows of ``Z``."""
    return np.stack([Z[codes == e].T @ Z[codes == e] for e in range(n_environments)])


def _centred_scaled(values):
    """Columns centred and multiplied by 2**k, k the power of two that brings
    the largest centred magnitude to [0.5, 1) (frexp written out)."""
    centred = values - values.mean(axis=0)
    k = -(np.floor(np.log2(np.abs(centred).max(axis=0))).astype(int) + 1)
    return np.ldexp(centred, k), k


def _residuals(X, y, columns):
    Z = np.column_stack([np.ones(len(y)), X[:, columns]])
    return y - Z @ np.linalg.lstsq(Z, y, rcond=None)[0]


SUBSETS = np.array([[0, 1], [0, 2], [1, 2]])


# --------------------------------------------------------------------------
# Constructors: rows of any numeric dtype, float32 releases
# --------------------------------------------------------------------------
def test_boolean_and_small_integer_rows_give_the_float64_centred_scaled_grams():
    """Boolean or int8 predictors and an int8 target (``unit_scale``): the
    statistics are the Gram matrices of the float64 rows centred with their
    exact means and scaled to [0.5, 1), not of values rounded to float16
    (the type numpy's ``ldexp`` gives such inputs)."""
    rng = np.random.default_rng(3)
    n = 90
    codes = np.repeat([0, 1, 2], 30)
    flags = rng.uniform(size=(n, 2)) < [0.3, 0.55]
    small = rng.integers(-100, 120, size=(n, 2)).astype(np.int8)
    y = (small[:, 0] // 2 + rng.integers(-30, 31, size=n)).astype(np.int8)
    for X in (flags, small):
        statistics = EnvironmentStatistics(X, y, codes, 3, unit_scale=True)
        Xc, kx = _centred_scaled(X.astype(float))
        yc, ky = _centred_scaled(y.astype(float))
        assert_array_equal(statistics.x_exponents, kx)
        assert statistics.y_exponent == ky and statistics.gram.dtype == np.float64
        expected = _grams(np.column_stack([np.ones(n), Xc, yc]), codes, 3)
        assert_allclose(statistics.gram, expected, rtol=1e-13, atol=1e-13)


def test_from_scaled_grams_of_a_float32_release_computes_in_float64():
    """Rows of small integers: their centred, scaled Gram matrices are exact
    in float32. Statistics from the float32 copy solve in float64: the
    slopes brought to the data's units are those of ``lstsq`` on the rows."""
    rng = np.random.default_rng(5)
    n = 64
    X = rng.integers(-8, 9, size=(n, 3)).astype(float)
    y = 3 * X[:, 0] - 2 * X[:, 1] + rng.integers(-4, 5, size=n)
    codes = np.repeat(np.arange(4), 16)
    Xc, kx = _centred_scaled(X)
    yc, ky = _centred_scaled(y)
    grams = _grams(np.column_stack([np.ones(n), Xc, yc]), codes, 4)
    assert (grams.astype(np.float32) == grams).all()  # exact in float32
    statistics = EnvironmentStatistics.from_scaled_grams(grams.astype(np.float32), kx, ky)
    assert statistics.gram.dtype == np.float64
    beta, rss, _ = statistics.pooled_fit(SUBSETS)
    slopes = np.ldexp(beta[:, 1:], statistics.coefficient_exponents(SUBSETS))
    for m, columns in enumerate(SUBSETS):
        Z = np.column_stack([np.ones(n), X[:, columns]])
        assert_allclose(slopes[m], np.linalg.lstsq(Z, y, rcond=None)[0][1:], rtol=1e-12)
        r = _residuals(X, y, columns)
        assert rss[m] == pytest.approx(np.ldexp(r @ r, 2 * ky), rel=1e-12)


def test_from_grams_of_a_float32_release_centres_as_the_rows_do():
    """Uncentred Gram matrices of integer rows far from 0 (exact in
    float32): the statistics hold the Gram matrices of the rows centred with
    their float64 means, the same as ``EnvironmentStatistics`` of the rows;
    slopes need no power of two (integer exponents 0, one per predictor)."""
    rng = np.random.default_rng(6)
    n = 48
    X = 50.0 + rng.integers(-9, 10, size=(n, 3))
    y = 2 * X[:, 0] - X[:, 2] + rng.integers(-5, 6, size=n)
    codes = np.repeat(np.arange(3), 16)
    raw = _grams(np.column_stack([np.ones(n), X, y]), codes, 3)
    assert (raw.astype(np.float32) == raw).all()
    statistics = EnvironmentStatistics.from_grams(raw.astype(np.float32))
    assert_allclose(statistics.uncentred_mean, np.r_[X.mean(axis=0), y.mean()], rtol=1e-15)
    centred = np.column_stack([np.ones(n), X - X.mean(axis=0), y - y.mean()])
    assert_allclose(statistics.gram, _grams(centred, codes, 3), rtol=1e-10, atol=1e-8)
    plain = EnvironmentStatistics(X, y, codes, 3)
    assert_allclose(statistics.gram, plain.gram, rtol=1e-10, atol=1e-8)
    assert statistics.x_exponents.shape == (3,) and statistics.x_exponents.dtype.kind == "i"
    assert_array_equal(statistics.x_exponents, plain.x_exponents)
    beta, _, _ = statistics.pooled_fit(SUBSETS)
    # As documented: ldexp(beta[:, 1:], coefficient_exponents(subsets)).
    slopes = np.ldexp(beta[:, 1:], statistics.coefficient_exponents(SUBSETS))
    for m, columns in enumerate(SUBSETS):
        Z = np.column_stack([np.ones(n), X[:, columns]])
        assert_allclose(slopes[m], np.linalg.lstsq(Z, y, rcond=None)[0][1:], rtol=1e-9)
        assert beta[m, 0] == pytest.approx(0.0, abs=1e-9)  # centred: no intercept


# --------------------------------------------------------------------------
# Collinear predictors: the minimum-norm least-squares fallback
# --------------------------------------------------------------------------
def test_collinear_predictors_get_the_minimum_norm_least_squares_fit():
    """A duplicated predictor makes the pooled Gram block exactly singular;
    the coefficients are then ``lstsq``'s minimum-norm solution on the
    centred rows (the slope split equally between the twins), and the other
    subsets of the batch keep their ordinary fit."""
    rng = np.random.default_rng(7)
    n = 60
    x = rng.normal(size=n)
    X = np.column_stack([x, x, rng.normal(size=n)])
    y = 1.5 * x + rng.normal(size=n)
    codes = np.repeat([0, 1, 2], 20)
    statistics = EnvironmentStatistics(X, y, codes, 3)
    subsets = np.array([[0, 1], [0, 2], [1, 2]])
    block = statistics.total[np.ix_([0, 1, 2], [0, 1, 2])]
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.solve(block, statistics.total[[0, 1, 2], 4])
    beta, rss, _ = statistics.pooled_fit(subsets)
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    for m, columns in enumerate(subsets):
        Z = np.column_stack([np.ones(n), Xc[:, columns]])
        expected = np.linalg.lstsq(Z, yc, rcond=None)[0]
        assert_allclose(beta[m], expected, rtol=1e-9, atol=1e-12)
        r = yc - Z @ expected
        assert rss[m] == pytest.approx(r @ r, rel=1e-9)
    assert beta[0, 1] == pytest.approx(beta[0, 2], rel=1e-9)


# --------------------------------------------------------------------------
# A release whose residual sum of squares is negative in one environment
# --------------------------------------------------------------------------
NOISY_SUBSETS = np.array([[0], [1]])
DEFICIT = 90.0  # taken off environment 0's y'y, as a large release noise could


@pytest.fixture(scope="module")
def release():
    rng = np.random.default_rng(11)
    n = 120
    X = rng.normal(size=(n, 2))
    y = X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=n)
    codes = np.repeat(np.arange(4), 30)
    grams = _grams(np.column_stack([np.ones(n), X, y]), codes, 4)
    grams[0, 3, 3] -= DEFICIT
    return X, y, codes, grams


def test_residual_moments_keep_or_clip_a_negative_sum_of_squares(release):
    """The residuals of the pooled fit do not depend on y'y: their sums are
    those of the rows, and their sums of squares those of the rows less the
    deficit in environment 0 -- negative there; clipped at 0 by default,
    kept with ``clip=False``."""
    X, y, codes, grams = release
    statistics = EnvironmentStatistics.from_grams(grams)
    beta, _, _ = statistics.pooled_fit(NOISY_SUBSETS)
    s1, s2 = statistics.residual_moments(NOISY_SUBSETS, beta, clip=False)
    clipped_s1, clipped_s2 = statistics.residual_moments(NOISY_SUBSETS, beta)
    for m, columns in enumerate(NOISY_SUBSETS):
        r = _residuals(X, y, columns)
        sums = np.array([r[codes == e].sum() for e in range(4)])
        squares = np.array([r[codes == e] @ r[codes == e] for e in range(4)])
        squares[0] -= DEFICIT
        assert squares[0] < -5
        assert_allclose(s1[:, m], sums, atol=1e-9)
        assert_allclose(clipped_s1[:, m], sums, atol=1e-9)
        assert_allclose(s2[:, m], squares, rtol=1e-10)
        assert_allclose(clipped_s2[:, m], np.maximum(squares, 0.0), rtol=1e-10)


def _components_by_hand(grams, columns):
    """Differences of each environment's residual mean and variance from
    the others' and their variances under invariance, from uncentred Gram
    matrices (residual moments do not depend on the centring)."""
    idx = np.r_[0, 1 + np.asarray(columns, dtype=int)]
    y = grams.shape[1] - 1
    total = grams.sum(axis=0)
    beta = np.linalg.solve(total[np.ix_(idx, idx)], total[idx, y])
    s1 = grams[:, 0, y] - grams[:, 0, idx] @ beta
    s2 = (grams[:, y, y] - 2 * grams[:, idx, y] @ beta
          + np.einsum("k,ekl,l->e", beta, grams[:, idx][:, :, idx], beta))
    n_e = grams[:, 0, 0]
    n = n_e.sum()
    n_o = n - n_e
    o1, o2 = s1.sum() - s1, s2.sum() - s2
    var_e = (s2 - s1**2 / n_e) / (n_e - 1)
    var_o = (o2 - o1**2 / n_o) / (n_o - 1)
    pooled = max((s2.sum() - s1.sum() ** 2 / n) / (n - 1), 0.0)
    return (s1 / n_e - o1 / n_o, var_e - var_o, pooled * (1 / n_e + 1 / n_o),
            2 * pooled**2 * (1 / (n_e - 1) + 1 / (n_o - 1)))


def test_noise_aware_tests_add_the_bootstrapped_noise_variance(release):
    """``noise_scale`` per entry: the p-values are two-sided z-tests of the
    differences of residual means and variances (a negative sum of squares
    kept as it is), standardised by their variance under invariance plus
    the variance of the same differences over 64 releases perturbed with
    fresh noise of the stated law (draws of ``default_rng(0)``, entry by
    entry of the upper triangle; sample variance, ``ddof=1``)."""
    _, _, _, grams = release
    d = grams.shape[1]
    scale = np.full((d, d), 0.6)
    scale[0, 0] = 0.0  # the counts are public
    scale[3, 3] = 1.5
    statistics = EnvironmentStatistics.from_grams(grams, noise_scale=scale)
    beta, _, _ = statistics.pooled_fit(NOISY_SUBSETS)
    mean_p, var_p = statistics.approximate_pvalues(NOISY_SUBSETS, beta)
    # Reproducible: the bootstrap's draws are fixed.
    again = statistics.approximate_pvalues(NOISY_SUBSETS, beta)
    assert_array_equal(again[0], mean_p)
    assert_array_equal(again[1], var_p)

    rng = np.random.default_rng(0)
    iu = np.triu_indices(d)
    draws = []
    for _ in range(64):
        noise = np.zeros_like(grams)
        noise[:, iu[0], iu[1]] = rng.normal(0.0, scale[iu], size=(4, iu[0].size))
        noise = noise + np.triu(noise, 1).transpose(0, 2, 1)
        draws.append([_components_by_hand(grams + noise, c)[:2] for c in NOISY_SUBSETS])
    draws = np.array(draws)  # (draw, subset, mean or variance, environment)
    noise_var = np.var(draws, axis=0, ddof=1)
    for m, columns in enumerate(NOISY_SUBSETS):
        d_mean, d_var, var_mean, var_var = _components_by_hand(grams, columns)
        z_mean = d_mean / np.sqrt(var_mean + noise_var[m, 0])
        z_var = d_var / np.sqrt(var_var + noise_var[m, 1])
        assert_allclose(mean_p[:, m], 2 * stats.norm.sf(np.abs(z_mean)), rtol=1e-9)
        assert_allclose(var_p[:, m], 2 * stats.norm.sf(np.abs(z_var)), rtol=1e-9)
    assert (mean_p > 1e-3).any() and (var_p > 1e-3).any()  # not all at 0


# --------------------------------------------------------------------------
# Degenerate cases: 0/0 and x/0 give p-values without a warning
# --------------------------------------------------------------------------
def test_noise_aware_tests_of_a_zero_target_cannot_reject_and_do_not_warn():
    """y = 0 and noise only on the entries of [1, X]: every residual moment
    and every variance, the simulated ones too, is exactly 0, and both
    z-tests are 0/0: p-value 1, silently."""
    rng = np.random.default_rng(8)
    n = 60
    X = rng.normal(size=(n, 2))
    codes = np.repeat([0, 1, 2], 20)
    grams = _grams(np.column_stack([np.ones(n), X, np.zeros(n)]), codes, 3)
    scale = np.full((4, 4), 0.5)
    scale[:, 3] = scale[3, :] = 0.0
    statistics = EnvironmentStatistics.from_grams(grams, noise_scale=scale)
    subsets = np.array([[0], [1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        beta, _, _ = statistics.pooled_fit(subsets)
        mean_p, var_p = statistics.approximate_pvalues(subsets, beta)
    assert mean_p.dtype == np.float64 and var_p.dtype == np.float64
    assert_array_equal(mean_p, np.ones((3, 2)))
    assert_array_equal(var_p, np.ones((3, 2)))


def test_an_environment_fitted_exactly_by_the_others_rejects_without_warning():
    """The empty subset (intercept only), y constant in environment 1 and
    spread in environment 0, all values dyadic so that the arithmetic is
    exact: environment 1's residual variance is exactly 0. The F-test of
    variances is then var_0 / 0 and 0 / var_0, and Chow's test of
    environment 0 divides by the others' zero residual sum of squares:
    p-value 0, silently; the other tests are the usual ones."""
    y = np.r_[np.arange(8.0), np.full(8, 4.0)]
    X = np.arange(16.0)[:, None] % 5
    codes = np.repeat([0, 1], 8)
    statistics = EnvironmentStatistics(X, y, codes, 2)
    subsets = np.zeros((1, 0), dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        beta, _, _ = statistics.pooled_fit(subsets)
        mean_p, var_p = statistics.approximate_pvalues(subsets, beta)
        chow = statistics.chow_pvalues(subsets)
    r = y - y.mean()
    r0, r1 = r[:8], r[8:]
    assert np.var(r1) == 0.0
    # Welch's t-test with the other environment's variance 0: df = 8 - 1.
    t = (r0.mean() - r1.mean()) / np.sqrt(np.var(r0, ddof=1) / 8)
    assert_allclose(mean_p[:, 0], 2 * stats.t.sf(abs(t), 7), rtol=1e-10)
    assert_array_equal(var_p, [[0.0], [0.0]])
    # Chow's test of environment 1 from environment 0 (intercept only):
    # residuals about env 0's mean, quadratic form with I + 1 1' / 8.
    re = y[8:] - y[:8].mean()
    quad = re @ np.linalg.solve(np.eye(8) + np.ones((8, 8)) / 8, re)
    F = (quad / 8) / (np.sum((y[:8] - y[:8].mean()) ** 2) / 7)
    assert chow[0, 0] == 0.0
    assert chow[1, 0] == pytest.approx(stats.f.sf(F, 8, 7), rel=1e-10)


def test_noise_aware_tests_with_a_zero_standard_error_reject_without_warning():
    """A release of dyadic (exact) sums whose y'y in environment 1 is 16
    too small, with noise only on x'x: the pooled residual variance is
    negative (taken as 0) and no draw of the noise moves the intercept-only
    fit, so both standard errors are exactly 0 while the residual means
    differ by 2 (-1 against 1): z = -2 / 0, p-value 0, silently."""
    X = np.tile(np.arange(4.0), 2)[:, None]
    y = np.repeat([0.0, 2.0], 4)
    codes = np.repeat([0, 1], 4)
    grams = _grams(np.column_stack([np.ones(8), X, y]), codes, 2)
    grams[1, 2, 2] -= 16.0
    scale = np.zeros((3, 3))
    scale[1, 1] = 1.0
    statistics = EnvironmentStatistics.from_grams(grams, noise_scale=scale)
    subsets = np.zeros((1, 0), dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        beta, _, _ = statistics.pooled_fit(subsets)
        mean_p, var_p = statistics.approximate_pvalues(subsets, beta)
    d_mean, _, var_mean, _ = _components_by_hand(grams, [])
    assert_array_equal(d_mean, [-2.0, 2.0])
    assert_array_equal(var_mean, [0.0, 0.0])
    assert_array_equal(mean_p, [[0.0], [0.0]])
    assert_array_equal(var_p, [[0.0], [0.0]])
