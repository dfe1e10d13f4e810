"""The parametric privacy audit catches small calibration errors; the
release projection is the likelihood-ratio statistic per environment."""

import warnings
from unittest import mock

import dp_accounting
import numpy as np
import pytest
from scipy import stats

from skcausal_trust.privacy import DPCausalRegressor, _regressor
from skcausal_trust.privacy.audit import (
    gaussian_epsilon_estimate,
    gaussian_epsilon_from_statistics,
    release_projection,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EPSILON, DELTA = 1.0, 1e-6


def _balle_wang_delta(epsilon, mu):
    """Balle and Wang (2018), Theorem 8, for sensitivity 1 and noise 1 / mu."""
    return (stats.norm.cdf(mu / 2 - epsilon / mu)
            - np.exp(epsilon) * stats.norm.cdf(-mu / 2 - epsilon / mu))


def _true_epsilon(mu):
    """Solve Balle and Wang's condition for epsilon (scipy only)."""
    from scipy import optimize

    return optimize.brentq(lambda e: _balle_wang_delta(e, mu) - DELTA, 1e-9, 100.0)


def test_epsilon_of_the_estimated_shift_is_balle_and_wangs():
    rng = np.random.default_rng(0)
    s0, s1 = rng.normal(0, 1, 50_000), rng.normal(0.3, 1, 50_000)
    result = gaussian_epsilon_from_statistics(s0, s1, delta=DELTA, confidence=0.95,
                                              alternative="greater")
    assert result.epsilon_estimate == pytest.approx(_true_epsilon(result.mu_estimate),
                                                    rel=1e-6)
    assert result.epsilon_lower_bound == pytest.approx(
        _true_epsilon(result.mu_lower_bound), rel=1e-6)
    assert result.mu_lower_bound < result.mu_estimate
    assert abs(result.mu_estimate - 0.3) < 0.02
    assert result.variance_ratio == pytest.approx(1.0, abs=0.03)


@pytest.mark.slow
def test_the_lower_bound_on_mu_has_its_coverage():
    """Over 400 simulated audits, the 90% lower bound on mu is below the
    true mu in 90% of them (binomial bounds at 1e-4)."""
    rng = np.random.default_rng(1)
    mu, n, reps = 0.25, 300, 400
    below = sum(
        gaussian_epsilon_from_statistics(rng.normal(0, 2, n), rng.normal(2 * mu, 2, n),
                                         delta=DELTA, confidence=0.9,
                                         alternative="greater").mu_lower_bound < mu
        for _ in range(reps))
    lo, hi = stats.binom.ppf([1e-4, 1 - 1e-4], reps, 0.9)
    assert lo <= below <= hi


@pytest.mark.slow
def test_flags_noise_scaled_by_080_in_95_of_100_and_the_correct_mechanism_in_at_most_5():
    """The release projection of DPCausalRegressor is N(m0, s^2) on D and
    N(m0 + Delta^2, s^2) on D', s = sigma * Delta: simulated audits of 20,000
    statistics per data set at claimed epsilon = 1 (true 1.27 with 0.8
    sigma)."""
    reg = DPCausalRegressor(epsilon=EPSILON, delta=DELTA, feature_bound=1.0,
                            target_bound=1.0).fit(np.zeros((2, 1)), np.zeros(2))
    sensitivity, sigma = reg.sensitivity_, reg.noise_scale_
    assert sigma == pytest.approx(sensitivity * dp_accounting.get_sigma_gaussian(
        EPSILON, DELTA), rel=1e-9)
    rng = np.random.default_rng(2)
    flagged, estimates = {}, {}
    for factor in (1.0, 0.8):
        sd = factor * sigma * sensitivity
        results = [gaussian_epsilon_from_statistics(
            rng.normal(0.0, sd, 20_000), rng.normal(sensitivity**2, sd, 20_000),
            delta=DELTA, confidence=0.99, claimed_epsilon=EPSILON, alternative="greater")
            for _ in range(100)]
        flagged[factor] = sum(r.flagged for r in results)
        estimates[factor] = np.median([r.epsilon_estimate for r in results])
    assert flagged[0.8] >= 95 and flagged[1.0] <= 5, flagged
    assert estimates[1.0] == pytest.approx(EPSILON, rel=0.03)
    assert estimates[0.8] == pytest.approx(_true_epsilon(1 / (0.8 * sigma / sensitivity)),
                                           rel=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("factor,confidence,expect_flag",
                         [(1.0, 0.999, False), (0.25, 0.99, True)],
                         ids=["correct", "quarter-noise"])
def test_audit_of_real_fits(factor, confidence, expect_flag):
    """300 fits per data set of the real estimator (OpenDP noise), its noise
    scale patched to `factor` times the calibration: the quarter-noise
    mechanism is flagged, the correct one is not (the small errors are the
    simulation test's: real fits add nothing to the statistic's law but
    time)."""
    X, y = np.zeros((2, 1)), np.zeros(2)
    X1, y1 = np.vstack([X, [[1.0]]]), np.append(y, 1.0)
    original = _regressor.gaussian_noise_scale
    with mock.patch.object(_regressor, "gaussian_noise_scale",
                           lambda e, d, s: factor * original(e, d, s)):
        result = gaussian_epsilon_estimate(
            DPCausalRegressor(epsilon=EPSILON, delta=DELTA, feature_bound=1.0,
                              target_bound=1.0),
            (X, y), (X1, y1), statistic=release_projection([1.0], 1.0, 1.0, 1.0),
            n_runs=300, confidence=confidence, alternative="greater")
    assert result.flagged == expect_flag, result
    assert result.normality_pvalue > 1e-4
    true = _true_epsilon(1 / (factor * dp_accounting.get_sigma_gaussian(EPSILON, DELTA)))
    assert result.epsilon_lower_bound <= true


@pytest.mark.parametrize("bad,match", [
    (dict(statistics=np.ones(5)), "at least 10"),
    (dict(statistics=np.ones(20), neighbour_statistics=np.ones(20)), "constant"),
    (dict(confidence=1.0), "confidence"),
    (dict(delta=0.0), "delta"),
    (dict(statistics=np.append(np.ones(19), np.nan)), "NaN"),
])
def test_bad_input_to_the_parametric_audit(bad, match):
    rng = np.random.default_rng(3)
    args = dict(statistics=rng.normal(size=20), neighbour_statistics=rng.normal(size=20),
                delta=DELTA, confidence=0.95)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        gaussian_epsilon_from_statistics(args.pop("statistics"),
                                         args.pop("neighbour_statistics"), **args)


def test_release_projection_reads_the_records_environment():
    """Per-environment release: the statistic projects the record's
    environment's matrix only; with the noise off, adding the record moves
    it by exactly the squared weighted norm of its contribution (the
    sensitivity for a record at the bounds), and the other environments'
    matrices do not enter it."""
    rng = np.random.default_rng(4)
    X = rng.uniform(-0.5, 0.5, size=(30, 1))
    y = rng.uniform(-0.5, 0.5, size=30)
    env = np.repeat(["a", "b", "c"], 10)
    params = dict(epsilon=1.0, feature_bound=1.0, target_bound=1.0, gamma=2.0,
                  environment_levels=["a", "b", "c"])
    with mock.patch.object(_regressor, "release_gaussian", lambda v, *a, **k: v), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit0 = DPCausalRegressor(**params).fit(X, y, environments=env)
        fit1 = DPCausalRegressor(**params).fit(np.vstack([X, [[1.0]]]), np.append(y, 1.0),
                                               environments=np.append(env, "b"))
    statistic = release_projection([1.0], 1.0, 1.0, 1.0, environment="b")
    shift = statistic(fit1) - statistic(fit0)
    # The quantised record is within 2^-19 of (1, 1): its contribution's
    # squared weighted norm is the formula's sensitivity squared.
    formula = np.sqrt(5.5)  # every block weight 1
    assert shift == pytest.approx(formula**2, rel=1e-5)
    # Environment "a"'s statistic does not see the record.
    other = release_projection([1.0], 1.0, 1.0, 1.0, environment="a")
    assert other(fit1) == pytest.approx(other(fit0), abs=1e-12)
    with pytest.raises(ValueError, match="pass environment="):
        release_projection([1.0], 1.0, 1.0, 1.0)(fit0)
    with pytest.raises(ValueError, match="got 'z'"):
        release_projection([1.0], 1.0, 1.0, 1.0, environment="z")(fit0)


@pytest.mark.slow
@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_without_a_shift_the_bound_is_positive_at_most_at_its_level(alternative):
    """mu = 0: the lower bound exceeds 0 in at most 1 - confidence of the
    audits (binomial bound at 1e-4), whatever the sign of the noise."""
    rng = np.random.default_rng(12)
    reps = 400
    positive = sum(gaussian_epsilon_from_statistics(
        rng.normal(size=200), rng.normal(size=200), delta=DELTA, confidence=0.95,
        alternative=alternative).mu_lower_bound > 0 for _ in range(reps))
    assert positive <= stats.binom.ppf(1 - 1e-4, reps, 0.05)
    with pytest.raises(ValueError, match="alternative"):
        gaussian_epsilon_from_statistics(np.arange(20.0), np.arange(20.0) + 1, delta=DELTA,
                                         alternative="less")
