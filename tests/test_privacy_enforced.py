"""DPCausalRegressor enforces what it declares, checked against independent
computations rather than another route through the same code.

- Clipping: with the release noise switched off, a fit on data with outliers
  in X and in y releases exactly the Gram matrix of the data clipped by hand
  to the declared bounds, and its coefficients are least squares (or anchor
  regression) computed here from that clipped data.
- Calibration: the fitted noise scale is dp-accounting's analytic Gaussian
  calibration for the declared (epsilon, delta) times the sensitivity of the
  documented release weights (derived here, and by brute force over clipped
  records), and the noise actually added to the statistics has that standard
  deviation.

The black-box audit in test_privacy.py cannot see, at suite size, a bound
that is not applied or noise calibrated for twice the epsilon; these can.
"""

import warnings
from unittest import mock

import dp_accounting
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from skcausal_trust.exceptions import PrivacyLeakWarning
from skcausal_trust.privacy import DPCausalRegressor, _regressor

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: The documented block weights of the release (class docstring, Notes,
#: "Weights"): a pooled fit and a fit by environment. The predictors' block
#: has weight 1 off the diagonal and 1 / sqrt(2) on it.
DOCUMENTED_WEIGHTS = {
    False: {"count": 0.25, "sums": 0.4, "cross": 1.0, "yy": 0.3},
    True: {"count": 1.0, "sums": 1.0, "cross": 1.0, "yy": 1.0},
}


# -- independent computations --------------------------------------------------

def _clip_by_hand(X, y, feature_bound, target_bound):
    """Each row of ``X`` rescaled to L2 norm at most ``feature_bound``, ``y``
    to ``[-target_bound, target_bound]``, then both rounded to the documented
    fixed-point grid (``2**-20`` of the bound, the predictors first shrunk by
    ``1 - sqrt(p + 1) 2**-20``); and which rows were clipped."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    over_x = norms > feature_bound
    factor = np.ones(len(X))
    factor[over_x] = feature_bound / norms[over_x]
    over_y = np.abs(y) > target_bound
    y_clipped = np.where(over_y, np.sign(y) * target_bound, y)
    grid = 2.0**20
    shrink = 1.0 - np.sqrt(X.shape[1] + 1.0) / grid
    x_grid = np.rint(X * factor[:, None] / feature_bound * shrink * grid) / grid
    y_grid = np.rint(y_clipped / target_bound * grid) / grid
    return x_grid * feature_bound, y_grid * target_bound, over_x, over_y


def _rounding_allowance(W):
    """The documented allowance for the release's floating-point rounding:
    ``2 * 2**-51 * MAX_ROWS * ||upper(W)||_F`` with ``MAX_ROWS = 2**31``."""
    return 2.0**-19 * float(np.sqrt(np.sum(np.triu(W) ** 2)))


def _least_squares(X, y, codes, gamma, fit_intercept):
    """Least squares (``gamma = 1``) or anchor regression, by ``lstsq``.

    Anchor regression is least squares on ``z -> (z - m_e) + sqrt(gamma)
    (m_e - m)`` for ``z = [x, y]``, ``m_e`` the mean of the record's
    environment and ``m`` the pooled mean (0 without intercept): its scatter
    is ``within + gamma * between`` (Rothenhausler et al. 2021).
    """
    if gamma == 1.0:
        design = np.column_stack([np.ones(len(y)), X]) if fit_intercept else X
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
        if fit_intercept:
            return solution[1:], float(solution[0]), design
        return solution, 0.0, design
    Z = np.column_stack([X, y])
    pooled = Z.mean(axis=0) if fit_intercept else np.zeros(Z.shape[1])
    env_mean = np.stack([Z[codes == e].mean(axis=0) for e in range(codes.max() + 1)])
    env_mean = env_mean[codes]
    T = (Z - env_mean) + np.sqrt(gamma) * (env_mean - pooled)
    beta = np.linalg.lstsq(T[:, :-1], T[:, -1], rcond=None)[0]
    return beta, float(pooled[-1] - pooled[:-1] @ beta), T[:, :-1]


def _gram(X, y, feature_bound, target_bound, codes, by_environment):
    """Gram matrices of ``z = [1, x / B_x, y / B_y]``: one per environment, or
    one pooled."""
    Z = np.column_stack([np.ones(len(y)), X / feature_bound, y / target_bound])
    if not by_environment:
        return (Z.T @ Z)[None]
    return np.stack([Z[codes == e].T @ Z[codes == e] for e in range(codes.max() + 1)])


def _documented_weights(k, count, sums, cross, yy):
    """The release weights as the docstring describes them."""
    W = np.ones((k + 2, k + 2))
    W[np.arange(1, k + 1), np.arange(1, k + 1)] = 1.0 / np.sqrt(2.0)
    W[0, :] = W[:, 0] = sums
    W[0, 0] = count
    W[1:-1, -1] = W[-1, 1:-1] = cross
    W[-1, -1] = yy
    return W


def _documented_sensitivity(k, count, sums, cross, yy):
    """The documented L2 sensitivity of the weighted release."""
    if k == 0:
        return float(np.sqrt(count**2 + sums**2 + yy**2))
    return float(np.sqrt(count**2 + 2 * sums**2 + 0.5 + cross**2 + yy**2))


def _worst_record_norm(W, rng):
    """Largest ``||upper(W * z z')||_2`` over clipped records ``z = [1, x, y]``
    (``||x|| <= 1``, ``|y| <= 1``): extreme records (all of the norm on one
    coordinate, or spread evenly) and random ones, by brute force."""
    k = W.shape[0] - 2
    candidates = [rng.normal(size=(2000, k))]
    candidates[0] /= np.maximum(1.0, np.linalg.norm(candidates[0], axis=1, keepdims=True))
    if k:
        candidates += [np.eye(k), -np.eye(k), np.full((1, k), 1.0 / np.sqrt(k))]
    x = np.vstack(candidates)
    y = np.concatenate([rng.uniform(-1, 1, len(x)), np.ones(len(x)), -np.ones(len(x))])
    x = np.vstack([x, x, x])
    z = np.column_stack([np.ones(len(y)), x, y])
    iu = np.triu_indices(k + 2)
    contributions = np.einsum("ni,nj->nij", z, z)[:, iu[0], iu[1]] * W[iu]
    return float(np.linalg.norm(contributions, axis=1).max())


def _analytic_delta(epsilon, sigma, sensitivity):
    """Balle and Wang (2018), Theorem 8: the exact delta of a Gaussian
    mechanism at epsilon (independent of dp-accounting)."""
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    return stats.norm.cdf(a - b) - np.exp(epsilon) * stats.norm.cdf(-a - b)


def _no_noise(calls):
    """Stand-in for the Gaussian release that returns its input unchanged
    (and records the call)."""

    def release(values, sigma, sensitivity, *args, **kwargs):
        calls.append((sigma, sensitivity))
        return np.array(values, dtype=float, copy=True)

    return release


# -- 1. clipping is enforced in fit --------------------------------------------

CLIPPING_CASES = {
    # name: (gamma, environments given, causal_features, fit_intercept,
    #        environments as a column of X)
    "pooled": (1.0, False, None, True, False),
    "pooled-no-intercept": (1.0, False, None, False, False),
    "pooled-environments-given": (1.0, True, None, True, False),
    "by-environment": (5.0, True, None, True, False),
    "by-environment-gamma-0-no-intercept": (0.0, True, None, False, False),
    "causal-list-pooled": (1.0, False, [0, 2], True, False),
    "causal-list-by-environment": (5.0, True, ["x0", "x2"], True, False),
    "environment-column": (5.0, True, None, True, True),
}


def _outlier_data():
    """Three environments with shifted predictors; outliers in X (whole rows,
    and high-leverage rows large only in column 1, which the causal list
    leaves out) and in y."""
    rng = np.random.default_rng(20)
    n = 90
    codes = np.repeat([0, 1, 2], n // 3)
    X = rng.uniform(-1, 1, size=(n, 3)) + np.array([[0.0, 0.3, -0.3],
                                                    [0.5, 0.0, 0.2],
                                                    [-0.4, 0.4, 0.0]])[codes]
    X[[0, 31, 62, 63]] *= 20.0
    # High-leverage rows inside the bound on the causal list's columns.
    X[[5, 40, 70]] = [[1.5, 500.0, -1.2], [-1.6, 500.0, 1.1], [1.4, 500.0, 1.3]]
    y = X[:, [0, 2]] @ [1.0, 0.8] + 0.5 * codes + 0.3 * rng.normal(size=n)
    y[[10, 11, 45, 80]] = [40.0, -35.0, 60.0, -50.0]
    y[[5, 40, 70]] = [-2.5, 2.8, -2.9]  # inside the bound, off the line
    return X, y, codes


@pytest.mark.parametrize("case", list(CLIPPING_CASES))
# dp-accounting's calibration at epsilon = 1e9 takes a log of 0 on the way.
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log1p:RuntimeWarning")
def test_fit_clips_every_released_coordinate_to_the_declared_bounds(case):
    """With the noise switched off, the release is the Gram matrix of the data
    clipped by hand (each row of the released predictors to L2 norm
    ``feature_bound``, ``|y|`` to ``target_bound``) and the coefficients are
    least squares / anchor regression on that clipped data."""
    gamma, with_env, causal, fit_intercept, env_column = CLIPPING_CASES[case]
    X, y, codes = _outlier_data()
    feature_bound, target_bound = 2.0, 3.0
    released = [0, 2] if causal is not None else [0, 1, 2]
    by_environment = gamma != 1.0

    Xc, yc, over_x, over_y = _clip_by_hand(X[:, released], y, feature_bound, target_bound)
    expected_coef, expected_intercept, design = _least_squares(
        Xc, yc, codes, gamma, fit_intercept)
    # The bounds bite on this data: without clipping (of X, of y, or with the
    # norm over all columns for a causal list) the answer is far off.
    unclipped = [_least_squares(X[:, released], yc, codes, gamma, fit_intercept)[0],
                 _least_squares(Xc, y, codes, gamma, fit_intercept)[0]]
    if causal is not None:
        Xall = _clip_by_hand(X, y, feature_bound, target_bound)[0]
        unclipped.append(_least_squares(Xall[:, released], yc, codes, gamma,
                                        fit_intercept)[0])
    for other in unclipped:
        assert np.abs(other - expected_coef).max() > 0.05

    reg = DPCausalRegressor(epsilon=1e9, delta=1e-6, feature_bound=feature_bound,
                            target_bound=target_bound, causal_features=causal,
                            gamma=gamma, fit_intercept=fit_intercept)
    if env_column:
        # Labels that are large numbers: counted in a row's norm by mistake,
        # they would change the clipping.
        data = pd.DataFrame(X, columns=["x0", "x1", "x2"])
        data.insert(1, "env", 100.0 * (codes + 1))
        reg.set_params(environment_column="env")
        fit_args = (data, y)
        fit_kwargs = {}
    else:
        fit_args = (X, y)
        fit_kwargs = {"environments": np.array(["a", "b", "c"])[codes]} if with_env else {}
    calls = []
    with mock.patch.object(_regressor, "release_gaussian", _no_noise(calls)):
        reg.fit(*fit_args, **fit_kwargs)

    assert len(calls) == 1  # one release: the whole budget
    assert reg.released_features_ == [f"x{j}" for j in released]
    # The clipping counts are not on the fitted estimator (they are not
    # private); the data holder can count them on the data.
    assert not any(name.startswith("n_clipped") for name in vars(reg))
    assert reg.count_clipped(*fit_args) == (over_x.sum(), over_y.sum())
    # Every released coordinate is clipped: the release is exactly the Gram
    # matrix of the hand-clipped data, in normalised units.
    expected_gram = _gram(Xc, yc, feature_bound, target_bound, codes, by_environment)
    assert reg.released_statistics_.shape == expected_gram.shape
    np.testing.assert_allclose(reg.released_statistics_, expected_gram,
                               rtol=1e-12, atol=1e-12)
    # The eigenvalue floor (set by the noise scale at epsilon = 1e9) is below
    # every eigenvalue of the scatter matrix, so it does not bind (the fit
    # raises only the eigenvalues below it) and the documented solution is
    # exactly least squares / anchor regression.
    scatter = design.T @ design
    if gamma == 1.0 and fit_intercept:  # centred, as the fit's scatter
        scatter = (design[:, 1:] - design[:, 1:].mean(axis=0)).T @ (
            design[:, 1:] - design[:, 1:].mean(axis=0))
    smallest = np.linalg.eigvalsh(scatter / feature_bound**2)[0]
    assert reg.eigenvalue_floor_ < 0.01 * smallest
    coef = np.zeros(3)
    coef[released] = expected_coef
    np.testing.assert_allclose(reg.coef_, coef, rtol=1e-9, atol=1e-12)
    assert reg.intercept_ == pytest.approx(expected_intercept, rel=1e-9, abs=1e-12)


# -- 2. calibration --------------------------------------------------------------

CALIBRATION_CASES = [
    # (by_environment, causal_features, epsilon, delta)
    (False, None, 1.0, 1e-6),
    (False, [1], 0.3, 1e-5),
    (False, [], 2.0, 1e-6),
    (True, None, 1.0, 1e-6),
    (True, [0, 2], 5.0, 1e-8),
]


@pytest.mark.parametrize(
    "by_environment,causal,epsilon,delta", CALIBRATION_CASES,
    ids=["pooled", "pooled-one-feature", "pooled-no-feature", "by-environment",
         "by-environment-causal-list"])
def test_noise_scale_is_dp_accountings_calibration_at_the_documented_sensitivity(
        by_environment, causal, epsilon, delta):
    """``noise_scale_`` equals dp-accounting's analytic Gaussian calibration
    for the declared (epsilon, delta) at sensitivity 1, times the sensitivity
    of the documented release weights (formula and brute force)."""
    rng = np.random.default_rng(21)
    X = rng.uniform(-1, 1, size=(40, 3))
    y = X.sum(axis=1) / 3
    env = np.repeat(["a", "b"], 20)
    reg = DPCausalRegressor(epsilon=epsilon, delta=delta, feature_bound=np.sqrt(3),
                            target_bound=1.0, causal_features=causal,
                            environment_levels=["a", "b"],
                            gamma=3.0 if by_environment else 1.0).fit(
        X, y, environments=env)
    k = 3 if causal is None else len(causal)
    blocks = DOCUMENTED_WEIGHTS[by_environment]

    W = _documented_weights(k, **blocks)
    np.testing.assert_array_equal(reg.release_weights_, W)
    formula = _documented_sensitivity(k, **blocks)
    assert _worst_record_norm(reg.release_weights_, rng) == pytest.approx(
        formula, rel=1e-12)
    if k:  # the values the docstring states
        assert round(formula, 2) == (2.35 if by_environment else 1.40)
    # The calibration covers the formula and the floating-point allowance.
    sensitivity = formula + _rounding_allowance(W)
    assert reg.sensitivity_ == pytest.approx(sensitivity, rel=1e-14)
    assert 0 < sensitivity - formula < 1e-5

    sigma = dp_accounting.get_sigma_gaussian(epsilon, delta) * sensitivity
    assert reg.noise_scale_ == pytest.approx(sigma, rel=1e-9)
    assert (reg.epsilon_, reg.delta_) == (epsilon, delta)
    # Tight for the declared epsilon (Balle and Wang's formula): delta is met,
    # and 1% less noise would break it.
    assert _analytic_delta(epsilon, reg.noise_scale_, sensitivity) <= delta * (1 + 1e-6)
    assert _analytic_delta(epsilon, 0.99 * reg.noise_scale_, sensitivity) > delta


@pytest.mark.slow
@pytest.mark.parametrize("by_environment", [False, True], ids=["pooled", "by-environment"])
@pytest.mark.parametrize("sampler", ["opendp", "seeded"])
def test_noise_added_to_the_statistics_has_the_calibrated_sd(by_environment, sampler):
    """Over 300 fits on tiny data, the noise that the release adds to the
    (weighted) exact statistics, computed here, is centred Gaussian with
    dp-accounting's standard deviation for the declared (epsilon, delta) and
    the documented sensitivity; and the fitted release is that noisy draw.
    Noise calibrated for 2 epsilon is 1.9x too small here; the tolerance on
    the standard deviation is about 6% pooled, 5% by environment (chi-square
    bounds, a one-in-a-million chance of a false alarm each side)."""
    epsilon, delta, n_fits = 1.0, 1e-6, 300
    feature_bound, target_bound = np.sqrt(2), 1.0
    rng = np.random.default_rng(22)
    X = rng.uniform(-1, 1, size=(8, 2))
    y = rng.uniform(-1, 1, size=8)
    codes = np.repeat([0, 1], 4)
    blocks = DOCUMENTED_WEIGHTS[by_environment]
    W = _documented_weights(2, **blocks)
    sigma = dp_accounting.get_sigma_gaussian(epsilon, delta) * (
        _documented_sensitivity(2, **blocks) + _rounding_allowance(W))
    iu = np.triu_indices(4)
    exact = _gram(*_clip_by_hand(X, y, feature_bound, target_bound)[:2],
                  feature_bound, target_bound, codes, by_environment)

    real_release = _regressor.release_gaussian
    captured = []

    def recording(values, noise_sd, sensitivity, *args, **kwargs):
        noisy = real_release(values, noise_sd, sensitivity, *args, **kwargs)
        captured.append((np.array(values, copy=True), np.array(noisy, copy=True),
                         noise_sd))
        return noisy

    differences = []
    with mock.patch.object(_regressor, "release_gaussian", recording), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        for seed in range(n_fits):
            reg = DPCausalRegressor(
                epsilon=epsilon, delta=delta, feature_bound=feature_bound,
                target_bound=target_bound, gamma=3.0 if by_environment else 1.0,
                random_state=None if sampler == "opendp" else seed,
                environment_levels=[0, 1],
            ).fit(X, y, environments=codes)
            values, noisy, noise_sd = captured[-1]
            # What is perturbed is the weighted exact statistics; what is
            # published (and post-processed) is that noisy draw, unweighted.
            np.testing.assert_allclose(values, exact[:, iu[0], iu[1]] * W[iu], rtol=1e-12)
            np.testing.assert_allclose(reg.released_statistics_[:, iu[0], iu[1]],
                                       noisy / W[iu], rtol=1e-12, atol=1e-12)
            assert noise_sd == reg.noise_scale_
            differences.append(noisy - values)
    assert len(captured) == n_fits

    d = np.stack(differences) / sigma  # (fits, environments, entries): N(0, 1)
    n = d.size
    # Mean zero, second moment 1 (chi-square bounds at 1e-6 each side).
    assert abs(d.mean()) < 5.0 / np.sqrt(n)
    lo, hi = stats.chi2.ppf([1e-6, 1 - 1e-6], n) / n
    assert lo < np.mean(d**2) < hi, np.sqrt(np.mean(d**2))
    # Every entry gets its share: the same bounds, entry by entry.
    per_entry = (d**2).mean(axis=0)
    lo, hi = stats.chi2.ppf([1e-6 / per_entry.size, 1 - 1e-6 / per_entry.size],
                            n_fits) / n_fits
    assert ((lo < per_entry) & (per_entry < hi)).all(), np.sqrt(per_entry)
    # Gaussian, not merely of the right variance.
    assert stats.kstest(d.ravel(), "norm").pvalue > 1e-6
    assert reg.noise_scale_ == pytest.approx(sigma, rel=1e-9)


# -- the mechanism itself: seeded generators and the calibration guard ----------
def test_seeded_release_takes_a_generator_or_a_random_state_reproducibly():
    from skcausal_trust.privacy._mechanisms import release_gaussian

    values = np.zeros(4000)
    with pytest.warns(PrivacyLeakWarning):
        by_generator = [release_gaussian(values, 2.0, 1.0, np.random.default_rng(7))
                        for _ in range(2)]
        by_state = [release_gaussian(values, 2.0, 1.0, np.random.RandomState(7))
                    for _ in range(2)]
        by_int = release_gaussian(values, 2.0, 1.0, 7)
    np.testing.assert_array_equal(by_generator[0], by_generator[1])
    np.testing.assert_array_equal(by_state[0], by_state[1])
    # A seed gives NumPy's generator seeded with it; a RandomState seeds one.
    np.testing.assert_array_equal(by_int, by_generator[0])
    for noise in (by_generator[0], by_state[0]):
        assert abs(noise.std() / 2.0 - 1.0) < 0.05 and abs(noise.mean()) < 0.1
    # Exactly NumPy's draws added to the values (reproducible outside the
    # library, for tests and audits).
    values = np.linspace(-3.0, 3.0, 50)
    with pytest.warns(PrivacyLeakWarning):
        released = release_gaussian(values, 0.5, 1.0, 11)
    np.testing.assert_array_equal(
        released, values + np.random.default_rng(11).normal(0.0, 0.5, size=50))


def test_release_refuses_a_mechanism_whose_privacy_map_exceeds_the_calibration(
        monkeypatch):
    """OpenDP's own privacy map must agree with (sigma, sensitivity); a
    mechanism that spends more (here 1.5 times the zCDP rho) is an error."""
    from skcausal_trust.privacy import _mechanisms

    class Overspending:
        def map(self, sensitivity):
            return 1.5 * sensitivity**2 / (2 * 2.0**2)

        def __call__(self, values):
            return values

    monkeypatch.setattr(_mechanisms, "_opendp_gaussian", lambda sigma: Overspending())
    with pytest.raises(RuntimeError, match="the calibration does not match"):
        _mechanisms.release_gaussian(np.zeros(3), 2.0, 1.0)
