"""Tests that kill the surviving mutants of ``privacy/audit.py`` (issue 17,
``benchmarks/run_mutation.py --modules privacy_audit``), fast ones: the
audits run on a trivial estimator whose statistic replays known values.

Expected values come from independent computations: Clopper-Pearson bounds
from ``scipy.stats.binomtest``, false and true positives counted with numpy
on the evaluation runs, the documented threshold rule (normal approximation
on the selection runs, expected counts moved one Poisson standard deviation,
2,001 grid points over the means +- 6 spreads) written out, the two-sample
t statistic from ``scipy.stats.ttest_ind``, the lower confidence bound by its
defining equation (noncentral t), epsilon from Balle and Wang's Theorem 8
solved with brentq, D'Agostino-Pearson from ``skewtest`` and
``kurtosistest``, the variance ratio from the ``statistics`` module, the
membership advantage from empirical CDFs.
"""

import statistics as pystats
import warnings
from types import SimpleNamespace
from unittest import mock

import joblib
import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from skcausal_trust.privacy import audit
from skcausal_trust.privacy.audit import (
    empirical_epsilon_lower_bound,
    gaussian_epsilon_estimate,
    gaussian_epsilon_from_statistics,
    membership_inference_advantage,
    release_projection,
)


# --------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------
def _balle_wang_epsilon(mu, delta):
    """Balle and Wang (2018), Theorem 8, sensitivity 1 and noise 1 / mu,
    solved for epsilon; 0 for mu = 0."""
    if mu == 0:
        return 0.0

    def excess(eps):
        return (stats.norm.cdf(mu / 2 - eps / mu)
                - np.exp(eps) * stats.norm.cdf(-mu / 2 - eps / mu) - delta)

    if excess(0.0) <= 0:
        return 0.0
    return optimize.brentq(excess, 0.0, 200.0, xtol=1e-13)


def _cp(k, n, level):
    """One-sided Clopper-Pearson (lower, upper) at ``level`` (scipy's binomtest)."""
    lower = stats.binomtest(k, n, alternative="greater").proportion_ci(level).low
    upper = stats.binomtest(k, n, alternative="less").proportion_ci(level).high
    return lower, upper


def _reference_choice(select0, select1, n, delta, confidence):
    """The documented threshold rule: normal approximation of each data set's
    statistic on the selection runs, expected counts of false and true
    positives among ``n`` runs moved one Poisson sd against the test, the
    threshold (of 2,001 between the means -/+ 6 spreads) and direction with
    the largest Clopper-Pearson bound; the first one on ties, direction +1
    before -1."""
    level = (1 + confidence) / 2
    m0, m1 = np.mean(select0), np.mean(select1)
    sd0, sd1 = np.std(select0, ddof=1), np.std(select1, ddof=1)
    spread = max(sd0, sd1)
    grid = np.linspace(min(m0, m1) - 6 * spread, max(m0, m1) + 6 * spread, 2001)
    best = (-np.inf, grid[0], 1)
    for direction in (1, -1):
        if direction == 1:   # "neighbour" when the statistic is above t
            fpr = stats.norm.sf(grid, m0, sd0)
            tpr = stats.norm.sf(grid, m1, sd1)
        else:                # ... below t
            fpr = stats.norm.cdf(grid, m0, sd0)
            tpr = stats.norm.cdf(grid, m1, sd1)
        k_fp = np.minimum(np.floor(fpr * n + np.sqrt(fpr * n + 1)), n - 1)
        k_tp = np.maximum(np.floor(tpr * n - np.sqrt(tpr * n)), 0)
        fpr_up = stats.beta.ppf(level, k_fp + 1, n - k_fp)
        tpr_lo = np.zeros(grid.size)
        some = k_tp > 0
        tpr_lo[some] = stats.beta.ppf(1 - level, k_tp[some], n - k_tp[some] + 1)
        score = np.full(grid.size, -np.inf)
        ok = tpr_lo > delta
        score[ok] = np.log((tpr_lo[ok] - delta) / fpr_up[ok])
        i = int(np.argmax(score))  # the first of the largest
        if score[i] > best[0]:
            best = (score[i], grid[i], direction)
    return best[1], best[2]


def _reference_bound(select0, select1, eval0, eval1, delta, confidence):
    threshold, direction = _reference_choice(select0, select1, len(eval0), delta,
                                             confidence)
    if direction == 1:
        fp, tp = int((eval0 > threshold).sum()), int((eval1 > threshold).sum())
    else:
        fp, tp = int((eval0 < threshold).sum()), int((eval1 < threshold).sum())
    level = (1 + confidence) / 2
    tpr_lower = _cp(tp, len(eval1), level)[0]
    fpr_upper = _cp(fp, len(eval0), level)[1]
    bound = (max(0.0, np.log((tpr_lower - delta) / fpr_upper))
             if tpr_lower > delta else 0.0)
    return dict(epsilon_lower_bound=bound, threshold=threshold, direction=direction,
                fpr_upper=fpr_upper, tpr_lower=tpr_lower)


def _check_bound(got, expected):
    bound, threshold, direction, fpr_upper, tpr_lower = got
    assert direction == expected["direction"]
    assert threshold == pytest.approx(expected["threshold"], rel=1e-12, abs=1e-14)
    assert fpr_upper == pytest.approx(expected["fpr_upper"], rel=1e-8)
    assert tpr_lower == pytest.approx(expected["tpr_lower"], rel=1e-8, abs=1e-12)
    assert bound == pytest.approx(expected["epsilon_lower_bound"], rel=1e-8, abs=1e-12)


# --------------------------------------------------------------------------
# Clopper-Pearson and the threshold test
# --------------------------------------------------------------------------
@pytest.mark.parametrize("k,n,level", [(0, 20, 0.975), (1, 20, 0.975), (3, 20, 0.975),
                                       (20, 20, 0.975),
                                       (7, 50, 0.9), (49, 50, 0.6)])
def test_clopper_pearson_is_scipys_exact_binomial_interval(k, n, level):
    lower, upper = audit._clopper_pearson(k, n, level)
    ref_lower, ref_upper = _cp(k, n, level)
    assert lower == pytest.approx(ref_lower, rel=1e-9, abs=1e-15)
    assert upper == pytest.approx(ref_upper, rel=1e-9)


@pytest.mark.parametrize("case", [
    # (shift of the neighbour, sd0, sd1, n_eval, delta, confidence)
    (0.3, 0.1, 0.1, 300, 1e-5, 0.95),     # neighbour above, small scale
    (-0.25, 0.1, 0.08, 300, 1e-5, 0.95),  # neighbour below, unequal spreads
    (2.0, 1.0, 1.5, 400, 0.01, 0.9),      # large delta, other level
    (0.0, 1.0, 1.0, 200, 1e-5, 0.95),     # no shift: the bound is 0
], ids=["above", "below", "delta", "none"])
def test_threshold_bound_follows_the_documented_rule(case):
    shift, sd0, sd1, n, delta, confidence = case
    rng = np.random.default_rng(int(abs(shift) * 100) + n)
    select0, eval0 = 5.0 + sd0 * rng.normal(size=200), 5.0 + sd0 * rng.normal(size=n)
    select1 = 5.0 + shift + sd1 * rng.normal(size=200)
    eval1 = 5.0 + shift + sd1 * rng.normal(size=n)
    got = audit._bound_from_statistics(select0, select1, eval0, eval1, delta, confidence)
    expected = _reference_bound(select0, select1, eval0, eval1, delta, confidence)
    _check_bound(got, expected)
    if shift == 0.0:
        assert got[0] == 0.0
    else:
        assert got[0] > 0.5
        assert got[2] == np.sign(shift)


def test_threshold_bound_on_constant_statistics_separates_them():
    """No spread at all: the test separates the two data sets perfectly, and
    the bound is log of the Clopper-Pearson bounds at 0 and n of n."""
    n, level = 50, 0.975
    select0, eval0 = np.zeros(30), np.zeros(n)
    select1, eval1 = np.full(30, 0.5), np.full(n, 0.5)
    bound, threshold, direction, fpr_upper, tpr_lower = audit._bound_from_statistics(
        select0, select1, eval0, eval1, 1e-5, 0.95)
    assert direction == 1 and 0.0 <= threshold < 0.5
    assert fpr_upper == pytest.approx(1 - (1 - level) ** (1 / n), rel=1e-9)
    assert tpr_lower == pytest.approx((1 - level) ** (1 / n), rel=1e-9)
    assert bound == pytest.approx(np.log((tpr_lower - 1e-5) / fpr_upper), rel=1e-9)


#: Cases with few evaluation runs, where the rule's details (the Poisson
#: margins, the caps of the counts, the Clopper-Pearson parameters, delta)
#: decide the threshold (found by a search over small configurations).
FEW_RUNS = [  # n_eval, n_select, shift, sd1, delta, confidence, seed
    (10, 20, 1.0, 1.0, 1e-5, 0.5, 692), (3, 50, 0.0, 3.0, 1e-5, 0.5, 336),
    (30, 20, 2.0, 1.0, 0.3, 0.95, 598), (3, 20, 1.0, 0.3, 0.01, 0.8, 491),
    (10, 50, 8.0, 1.0, 0.3, 0.95, 704), (3, 20, 0.3, 1.0, 1e-5, 0.95, 944),
    (3, 50, 4.0, 0.3, 0.1, 0.8, 28),
]


@pytest.mark.parametrize("case", FEW_RUNS)
def test_threshold_bound_with_few_runs_follows_the_documented_rule(case):
    n, n_select, shift, sd1, delta, confidence, seed = case
    rng = np.random.default_rng(seed)
    select0 = rng.normal(size=n_select)
    select1 = shift + sd1 * rng.normal(size=n_select)
    eval0, eval1 = rng.normal(size=n), shift + sd1 * rng.normal(size=n)
    got = audit._bound_from_statistics(select0, select1, eval0, eval1, delta, confidence)
    _check_bound(got, _reference_bound(select0, select1, eval0, eval1, delta,
                                       confidence))


def test_threshold_bound_when_no_test_can_beat_delta():
    """5 runs and delta 0.6: no Clopper-Pearson lower bound on a true-positive
    rate can exceed delta ((1 - level)^(1/5) = 0.48 at most): the first grid
    point, direction +1, and a bound of 0; no numpy warning."""
    rng = np.random.default_rng(17)
    select0, select1 = rng.normal(size=30), 3 + rng.normal(size=30)
    eval0, eval1 = rng.normal(size=5), 3 + rng.normal(size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        bound, threshold, direction, fpr_upper, tpr_lower = audit._bound_from_statistics(
            select0, select1, eval0, eval1, 0.6, 0.95)
    spread = max(np.std(select0, ddof=1), np.std(select1, ddof=1))
    assert threshold == pytest.approx(min(select0.mean(), select1.mean()) - 6 * spread,
                                      rel=1e-12)
    assert direction == 1 and bound == 0.0
    # Every run is above the lowest grid point: 5 of 5 on both data sets.
    assert fpr_upper == 1.0
    assert tpr_lower == pytest.approx(0.025 ** (1 / 5), rel=1e-9)


@pytest.mark.parametrize("delta", [0.0, 1e-5])
def test_threshold_bound_without_true_positives_warns_nothing(delta):
    """No evaluation run of D' beyond the threshold (tp = 0, so the lower
    bound on the rate is 0), delta 0 (pure DP) or not: the bound is 0, and
    no log of 0 or of a negative number is taken in the open."""
    rng = np.random.default_rng(18)
    select0, select1 = rng.normal(size=40), 2 + rng.normal(size=40)
    eval0, eval1 = rng.normal(size=20), np.full(20, -50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = audit._bound_from_statistics(select0, select1, eval0, eval1, delta, 0.95)
    expected = _reference_bound(select0, select1, eval0, eval1, delta, 0.95)
    _check_bound(got, expected)
    assert got[0] == 0.0 and got[4] == 0.0


# --------------------------------------------------------------------------
# The audits end to end, on a trivial estimator with replayed statistics
# --------------------------------------------------------------------------
class _Mean(RegressorMixin, BaseEstimator):
    """Fits the (weighted) mean of y; declares a privacy claim."""

    def __init__(self, epsilon=1.0, delta=1e-5):
        self.epsilon = epsilon
        self.delta = delta

    def fit(self, X, y, sample_weight=None):
        self.n_features_in_ = np.asarray(X).shape[1]  # X reaches the fit
        self.mean_ = float(np.average(y, weights=sample_weight))
        return self


def _replay(noise):
    """statistic(fitted) = the fitted mean plus the next of ``noise``."""
    values = iter(noise)
    calls = []

    def statistic(fitted):
        calls.append(fitted.mean_)
        return fitted.mean_ + next(values)

    statistic.calls = calls
    return statistic


DATA0 = (np.zeros((2, 1)), np.zeros(2))
# Neighbour: a record added with weight 2; weighted mean 2 / 4.
DATA1 = (np.zeros((3, 1)), np.array([0.0, 0.0, 1.0]), {"sample_weight": [1.0, 1.0, 2.0]})


def test_empirical_audit_end_to_end():
    """n_runs=40 and the default 500 threshold runs per data set: the
    statistics on D are 0 + noise, on D' 0.5 + noise (the fit parameters
    reach the fit), the first 500 of each choose the threshold."""
    n_runs, n_select = 40, 500
    rng = np.random.default_rng(5)
    noise = 0.2 * rng.normal(size=2 * (n_runs + n_select))
    statistic = _replay(noise)
    result = empirical_epsilon_lower_bound(_Mean(epsilon=1.0, delta=1e-5), DATA0, DATA1,
                                           statistic=statistic, n_runs=n_runs)
    total = n_runs + n_select
    assert statistic.calls == [0.0] * total + [0.5] * total
    s0, s1 = noise[:total], 0.5 + noise[total:]
    expected = _reference_bound(s0[:n_select], s1[:n_select], s0[n_select:],
                                s1[n_select:], 1e-5, 0.95)
    _check_bound((result.epsilon_lower_bound, result.threshold, result.direction,
                  result.fpr_upper, result.tpr_lower), expected)
    assert result.epsilon_lower_bound > 1.0
    assert result.flagged is True and result.claimed_epsilon == 1.0
    assert (result.confidence, result.delta, result.n_runs) == (0.95, 1e-5, n_runs)
    assert isinstance(result.direction, int) and isinstance(result.n_runs, int)


def test_empirical_audit_passes_delta_confidence_and_threshold_runs():
    """Explicit delta, confidence and n_threshold_runs, a claim the bound
    does not reach, the data as lists."""
    n_runs, n_select, delta, confidence = 30, 20, 0.02, 0.8
    rng = np.random.default_rng(6)
    noise = 0.2 * rng.normal(size=2 * (n_runs + n_select))
    statistic = _replay(noise)
    result = empirical_epsilon_lower_bound(
        _Mean(epsilon=50.0, delta=1e-5), list(DATA0), list(DATA1), statistic=statistic,
        n_runs=n_runs, n_threshold_runs=n_select, delta=delta, confidence=confidence)
    total = n_runs + n_select
    assert len(statistic.calls) == 2 * total
    s0, s1 = noise[:total], 0.5 + noise[total:]
    expected = _reference_bound(s0[:n_select], s1[:n_select], s0[n_select:],
                                s1[n_select:], delta, confidence)
    _check_bound((result.epsilon_lower_bound, result.threshold, result.direction,
                  result.fpr_upper, result.tpr_lower), expected)
    assert 0 < result.epsilon_lower_bound < 50.0 and result.flagged is False
    assert (result.confidence, result.delta, result.claimed_epsilon) == (confidence, delta,
                                                                         50.0)


def test_empirical_audit_default_threshold_runs_are_a_tenth_of_many_runs():
    """n_runs=6000: max(500, 6000 // 10) = 600 threshold runs per data set
    (the fits replaced by known statistics)."""
    rng = np.random.default_rng(7)
    sizes = []
    draws = {}

    def fake_statistics(estimator, data, statistic, n, n_jobs):
        sizes.append(n)
        key = len(data[1])
        draws[key] = float(np.average(data[1], weights=data[2].get("sample_weight"))) \
            + 0.2 * rng.normal(size=n)
        return draws[key]

    with mock.patch.object(audit, "_statistics", fake_statistics):
        result = empirical_epsilon_lower_bound(_Mean(), DATA0, DATA1, statistic=None,
                                               n_runs=6000)
    assert sizes == [6600, 6600]
    s0, s1 = draws[2], draws[3]
    expected = _reference_bound(s0[:600], s1[:600], s0[600:], s1[600:], 1e-5, 0.95)
    _check_bound((result.epsilon_lower_bound, result.threshold, result.direction,
                  result.fpr_upper, result.tpr_lower), expected)


def test_empirical_audit_without_a_claim_and_with_a_claim_of_zero():
    class NoEpsilon(BaseEstimator):
        def __init__(self, delta=1e-5):
            self.delta = delta

        fit = _Mean.fit

    rng = np.random.default_rng(19)
    result = empirical_epsilon_lower_bound(
        NoEpsilon(), DATA0, DATA1, statistic=_replay(0.2 * rng.normal(size=40)),
        n_runs=10, n_threshold_runs=10)
    assert result.claimed_epsilon is None and result.flagged is False
    # The same data on both sides: the bound is 0, which refutes no claim.
    zero = empirical_epsilon_lower_bound(
        _Mean(epsilon=0.0), DATA0, DATA0, statistic=_replay(rng.normal(size=40)),
        n_runs=10, n_threshold_runs=10)
    assert zero.epsilon_lower_bound == 0.0 and zero.flagged is False


def test_audit_defaults_are_10000_and_2000_runs():
    """The fits replaced by known statistics: the default numbers of runs
    reach the statistics (10,000 + 1,000 threshold runs; 2,000)."""
    rng = np.random.default_rng(20)
    sizes = []

    def fake_statistics(estimator, data, statistic, n, n_jobs):
        sizes.append(n)
        return (0.0 if len(data[1]) == 2 else 0.5) + 0.2 * rng.normal(size=n)

    with mock.patch.object(audit, "_statistics", fake_statistics):
        empirical_epsilon_lower_bound(_Mean(), DATA0, DATA1, statistic=None)
        gaussian_epsilon_estimate(_Mean(), DATA0, DATA1, statistic=None)
    assert sizes == [11000, 11000, 2000, 2000]


def _t_and_scale(s0, s1):
    t = stats.ttest_ind(s1, s0, equal_var=True).statistic
    return float(t), np.sqrt(1 / len(s0) + 1 / len(s1))


def test_gaussian_audit_end_to_end():
    """12 fits per data set; delta from the estimator, the fit parameters,
    the confidence and the alternative reach the estimate."""
    rng = np.random.default_rng(8)
    noise = 0.4 * rng.normal(size=24)
    statistic = _replay(noise)
    result = gaussian_epsilon_estimate(_Mean(epsilon=0.5, delta=1e-4), DATA0, DATA1,
                                       statistic=statistic, n_runs=12, confidence=0.9,
                                       alternative="greater")
    assert statistic.calls == [0.0] * 12 + [0.5] * 12
    s0, s1 = noise[:12], 0.5 + noise[12:]
    t, scale = _t_and_scale(s0, s1)
    assert result.mu_estimate == pytest.approx(t * scale, rel=1e-10)
    lam = result.mu_lower_bound / scale
    assert stats.nct.sf(t, 22, lam) == pytest.approx(0.1, abs=1e-7)
    assert result.delta == 1e-4 and result.claimed_epsilon == 0.5
    assert result.epsilon_estimate == pytest.approx(
        _balle_wang_epsilon(result.mu_estimate, 1e-4), rel=1e-6)
    assert result.flagged == (result.epsilon_lower_bound > 0.5)
    assert np.isnan(result.normality_pvalue) and result.n_runs == 12


@pytest.mark.parametrize("bad,match", [
    (dict(confidence=0.0), "confidence"), (dict(confidence=1.0), "confidence"),
    (dict(n_runs=9), "n_runs"), (dict(n_runs=10.0), "n_runs"),
    (dict(dataset=(np.zeros((2, 1)),)), "dataset"),
    (dict(neighbour=(1, 2, {}, 4)), "neighbour"),
    (dict(dataset=np.zeros((2, 1))), "dataset"),
])
def test_audit_arguments_are_checked_before_any_fit(bad, match):
    args = dict(estimator=_Mean(), dataset=DATA0, neighbour=DATA1, n_runs=10)
    args.update(bad)
    statistic = _replay(np.zeros(100))
    for audit_function in (empirical_epsilon_lower_bound, gaussian_epsilon_estimate):
        with pytest.raises(ValueError, match=match):
            audit_function(**args, statistic=statistic)
    assert statistic.calls == []


def test_audit_needs_a_delta():
    class NoDelta(BaseEstimator):
        def __init__(self, epsilon=1.0):
            self.epsilon = epsilon

    class NoParams:
        def fit(self, X, y):
            return self

    for estimator in (NoDelta(), NoParams()):
        with pytest.raises(ValueError, match="delta is required"):
            gaussian_epsilon_estimate(estimator, DATA0, DATA1, statistic=None, n_runs=10)


def test_gaussian_audit_accepts_ten_runs_given_as_a_numpy_integer():
    statistic = _replay(np.random.default_rng(9).normal(size=20))
    result = gaussian_epsilon_estimate(_Mean(), DATA0, DATA1, statistic=statistic,
                                       n_runs=np.int64(10), delta=1e-3)
    assert len(statistic.calls) == 20 and result.n_runs == 10
    assert result.confidence == 0.95 and result.delta == 1e-3


def test_gaussian_audit_in_parallel_threads():
    """n_jobs=2 (threads: no process start-up): the same statistics, in
    chunks, whatever order the threads draw them in."""
    noise = 0.3 * np.random.default_rng(21).normal(size=24)
    statistic = _replay(noise)
    with joblib.parallel_config(backend="threading"):
        result = gaussian_epsilon_estimate(_Mean(), DATA0, DATA1, statistic=statistic,
                                           n_runs=12, n_jobs=2)
    assert sorted(statistic.calls) == [0.0] * 12 + [0.5] * 12
    t, scale = _t_and_scale(noise[:12], 0.5 + noise[12:])
    assert result.mu_estimate == pytest.approx(abs(t) * scale, rel=1e-10)


# --------------------------------------------------------------------------
# The parametric estimate from statistics
# --------------------------------------------------------------------------
@pytest.mark.parametrize("alternative,level,t_value", [("greater", 0.9, 2.0),
                                                       ("two-sided", 0.95, 2.5)])
def test_parametric_estimate_is_the_t_statistic_and_its_exact_bound(alternative, level,
                                                                    t_value):
    """Unequal sizes and spreads, nonzero means, small scale (pooled sd
    below 1), float32 input: mu is |t| sqrt(1/n0 + 1/n1) (scipy's t test),
    its lower bound solves the noncentral-t equation at (1 - level) (each
    side for two-sided), epsilon is Balle and Wang's."""
    rng = np.random.default_rng(10)
    s0 = 3.0 + 0.05 * rng.normal(size=30)
    s1 = 0.08 * rng.normal(size=45)
    # A shift of the neighbour's mean giving t = +-t_value (lower bound in (0, 1)).
    pooled = np.sqrt((29 * s0.var(ddof=1) + 44 * s1.var(ddof=1)) / 73)
    sign = 1.0 if alternative == "greater" else -1.0
    s1 += s0.mean() - s1.mean() + sign * t_value * pooled * np.sqrt(1 / 30 + 1 / 45)
    s0, s1 = s0.astype(np.float32), s1.astype(np.float32)
    result = gaussian_epsilon_from_statistics(s0, s1, delta=1e-5, confidence=level,
                                              alternative=alternative, claimed_epsilon=1)
    s0d, s1d = s0.astype(float), s1.astype(float)
    t, scale = _t_and_scale(s0d, s1d)
    assert abs(t) == pytest.approx(t_value, rel=1e-3)
    assert result.mu_estimate == pytest.approx(abs(t) * scale, rel=1e-12)
    target = (1 - level) / (2 if alternative == "two-sided" else 1)
    lam = result.mu_lower_bound / scale
    assert 0 < lam < 1
    assert stats.nct.sf(abs(t), 73, lam) == pytest.approx(target, rel=1e-7)
    assert result.epsilon_estimate == pytest.approx(
        _balle_wang_epsilon(result.mu_estimate, 1e-5), rel=1e-6)
    assert result.epsilon_lower_bound == pytest.approx(
        _balle_wang_epsilon(result.mu_lower_bound, 1e-5), rel=1e-6)
    assert result.variance_ratio == pytest.approx(
        pystats.variance(s1d.tolist()) / pystats.variance(s0d.tolist()), rel=1e-12)
    z_skew = [stats.skewtest(s).statistic for s in (s0d, s1d)]
    z_kurt = [stats.kurtosistest(s).statistic for s in (s0d, s1d)]
    k2 = np.square(z_skew) + np.square(z_kurt)
    assert result.normality_pvalue == pytest.approx(min(stats.chi2.sf(k2, 2)), rel=1e-9)
    assert result.n_runs == 30
    assert (result.confidence, result.delta, result.claimed_epsilon) == (level, 1e-5, 1.0)
    assert type(result.claimed_epsilon) is float and type(result.confidence) is float
    assert result.flagged == (result.epsilon_lower_bound > 1.0)


def test_parametric_estimate_of_a_small_insignificant_shift():
    """t below 1 and not significant: mu is its estimate, the bound 0, and a
    bound of 0 refutes no claim, not even 0."""
    rng = np.random.default_rng(11)
    s0 = rng.normal(size=25)
    s1 = rng.normal(size=25)
    s1 += 0.1 - (s1.mean() - s0.mean())  # the shift is 0.1 exactly
    result = gaussian_epsilon_from_statistics(s0, s1, delta=1e-5, claimed_epsilon=0.0,
                                              alternative="greater")
    t, scale = _t_and_scale(s0, s1)
    assert 0 < t < 1
    assert result.mu_estimate == pytest.approx(t * scale, rel=1e-10)
    assert result.mu_lower_bound == 0.0 and result.epsilon_lower_bound == 0.0
    assert result.flagged is False
    assert result.confidence == 0.95


def test_parametric_estimate_with_the_shift_the_other_way():
    """alternative="greater" and a negative shift: mu 0 and epsilon 0;
    two-sided: the same |shift|."""
    rng = np.random.default_rng(12)
    s0 = 1.0 + rng.normal(size=40)
    s1 = 1.0 - 0.8 + rng.normal(size=40)
    greater = gaussian_epsilon_from_statistics(s0, s1, delta=1e-5, alternative="greater")
    assert greater.mu_estimate == 0.0 and greater.epsilon_estimate == 0.0
    assert greater.mu_lower_bound == 0.0 and greater.epsilon_lower_bound == 0.0
    two = gaussian_epsilon_from_statistics(s0, s1, delta=1e-5)
    t, scale = _t_and_scale(s0, s1)
    assert t < -2.5
    assert two.mu_estimate == pytest.approx(-t * scale, rel=1e-12)
    assert two.mu_lower_bound > 0


def test_parametric_estimate_below_one_at_low_confidence():
    """Confidence 0.3: a t of 0.8 is significant (its p-value is about
    0.21 < 0.7): the lower bound solves the noncentral-t equation."""
    rng = np.random.default_rng(22)
    s0, s1 = rng.normal(size=25), rng.normal(size=25)
    pooled = np.sqrt((s0.var(ddof=1) + s1.var(ddof=1)) / 2)
    s1 += s0.mean() - s1.mean() + 0.8 * pooled * np.sqrt(2 / 25)
    result = gaussian_epsilon_from_statistics(s0, s1, delta=1e-5, confidence=0.3,
                                              alternative="greater")
    t, scale = _t_and_scale(s0, s1)
    assert t == pytest.approx(0.8, rel=1e-6)
    lam = result.mu_lower_bound / scale
    assert lam > 0
    assert stats.nct.sf(t, 48, lam) == pytest.approx(0.7, rel=1e-7)


def test_parametric_estimate_without_any_shift_at_low_confidence():
    """Equal means exactly (t = 0), 'greater' at confidence 0.3: a t of 0 is
    no evidence, the bound is 0."""
    s0 = np.arange(20.0)
    s1 = np.arange(20.0)[::-1] * 1.0
    s1[[0, 1]] = s1[[1, 0]]
    result = gaussian_epsilon_from_statistics(s0, s1, delta=1e-5, confidence=0.3,
                                              alternative="greater")
    assert result.mu_estimate == 0.0 and result.mu_lower_bound == 0.0


@pytest.mark.parametrize("bad,match", [
    (dict(confidence=0.0), "confidence"), (dict(delta=1.0), "delta"),
    (dict(alternative="less"), "alternative"),
])
def test_parametric_estimate_rejects_bad_arguments(bad, match):
    rng = np.random.default_rng(13)
    args = dict(delta=1e-5)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        gaussian_epsilon_from_statistics(rng.normal(size=20), rng.normal(size=20), **args)


def test_parametric_estimate_takes_ten_values_and_reports_normality_from_twenty():
    rng = np.random.default_rng(14)
    ten = gaussian_epsilon_from_statistics(rng.normal(size=10), rng.normal(size=10),
                                           delta=1e-5)
    assert ten.n_runs == 10 and np.isnan(ten.normality_pvalue)
    s0, s1 = rng.normal(size=19), rng.normal(size=30)
    assert np.isnan(gaussian_epsilon_from_statistics(s0, s1, delta=1e-5).normality_pvalue)
    s0 = rng.normal(size=20)
    twenty = gaussian_epsilon_from_statistics(s0, s1, delta=1e-5)
    k2 = [stats.skewtest(s).statistic ** 2 + stats.kurtosistest(s).statistic ** 2
          for s in (s0, s1)]
    assert twenty.normality_pvalue == pytest.approx(min(stats.chi2.sf(k2, 2)), rel=1e-9)


# --------------------------------------------------------------------------
# release_projection on a single pooled release
# --------------------------------------------------------------------------
def _projection_by_hand(block, weights, x, y, feature_bound, target_bound):
    z = [1.0] + [float(v) / feature_bound for v in x] + [y / target_bound]
    return sum(block[i][j] * weights[i][j] ** 2 * z[i] * z[j]
               for i in range(len(z)) for j in range(i, len(z)))


def test_release_projection_of_a_pooled_release():
    rng = np.random.default_rng(15)
    x, y, feature_bound, target_bound = np.float32([0.1, -0.7]), 0.3, 3.0, 0.7
    block = rng.normal(size=(4, 4))
    weights = rng.uniform(0.2, 1.0, size=(4, 4))
    fitted = SimpleNamespace(released_statistics_=block[None], release_weights_=weights)
    statistic = release_projection(x, y, feature_bound, target_bound)
    expected = _projection_by_hand(block, weights, x, y, feature_bound, target_bound)
    assert statistic(fitted) == pytest.approx(expected, rel=1e-12)
    # No release weights: unit weights.
    unweighted = SimpleNamespace(released_statistics_=block[None])
    assert statistic(unweighted) == pytest.approx(
        _projection_by_hand(block, np.ones((4, 4)), x, y, feature_bound, target_bound),
        rel=1e-12)


def test_release_projection_of_several_matrices_needs_the_environment():
    block = np.ones((2, 3, 3))
    without_levels = SimpleNamespace(released_statistics_=block)
    with pytest.raises(ValueError, match="pass environment="):
        release_projection([0.5], 0.5, 1.0, 1.0)(without_levels)


# --------------------------------------------------------------------------
# membership_inference_advantage: one-sided, and the classifiers' log loss
# --------------------------------------------------------------------------
def _one_sided_ks(loss_in, loss_out):
    """max over thresholds of F_in(t) - F_out(t), empirical CDFs (numpy)."""
    points = np.concatenate([loss_in, loss_out])
    f_in = (loss_in[None, :] <= points[:, None]).mean(axis=1)
    f_out = (loss_out[None, :] <= points[:, None]).mean(axis=1)
    return max(0.0, float(np.max(f_in - f_out)))


class _Constant(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


def test_membership_advantage_is_one_sided():
    """Members with the larger losses: no advantage for the attacker (a
    two-sided statistic would report a large one)."""
    rng = np.random.default_rng(16)
    y_in, y_out = 2.0 + rng.normal(size=60), 0.3 * rng.normal(size=50)
    X_in, X_out = np.zeros((60, 1)), np.zeros((50, 1))
    model = _Constant().fit(X_in, y_in)
    adv = membership_inference_advantage(model, X_in, y_in, X_out, y_out)
    assert adv == pytest.approx(_one_sided_ks(y_in**2, y_out**2), abs=1e-12)
    assert adv < 0.1
    reverse = membership_inference_advantage(model, X_out, y_out, X_in, y_in)
    assert reverse == pytest.approx(_one_sided_ks(y_out**2, y_in**2), abs=1e-12)
    assert reverse > 0.8


class _TableClassifier(ClassifierMixin, BaseEstimator):
    """predict_proba returns the rows of a fixed table (X holds row indices)."""

    def __init__(self, table=None):
        self.table = table

    def fit(self, X, y):
        self.classes_ = np.array(["a", "b", "c"])
        return self

    def predict_proba(self, X):
        return np.asarray(self.table)[np.asarray(X, dtype=int).ravel()]


class _NoProba(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):
        return np.ones(len(X))


def test_classifier_losses_are_the_log_loss_of_the_true_class():
    table = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [0.25, 0.25, 0.5],
                      [0.1, 0.9, 0.0]])
    model = _TableClassifier(table).fit(None, None)
    X, y = np.arange(4)[:, None], np.array(["a", "a", "c", "c"])
    losses = audit._losses(model, X, y)
    expected = [-np.log(0.7), -np.log(1e-15), -np.log(0.5), -np.log(1e-15)]
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    # Through the attack: members a, c; non-members the others.
    adv = membership_inference_advantage(model, X[[0, 2]], y[[0, 2]], X[[1, 3]], y[[1, 3]])
    assert adv == pytest.approx(_one_sided_ks(losses[[0, 2]], losses[[1, 3]]))
    assert adv == 1.0


def test_a_label_the_classifier_never_saw_has_probability_zero():
    """Labels between, before and after the classes (``"b"`` missing from
    ``classes_`` here): probability 0, loss -log(1e-15); the seen labels keep
    their own column (before the fix, an unseen label took a neighbour's)."""
    table = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    model = _TableClassifier(table).fit(None, None)
    model.classes_ = np.array(["a", "c"])
    X, y = np.arange(5)[:, None], np.array(["b", "0", "z", "a", "c"])
    expected = [-np.log(1e-15)] * 3 + [-np.log(0.9), -np.log(0.5)]
    np.testing.assert_allclose(audit._losses(model, X, y), expected, rtol=1e-12)


def test_classifier_without_predict_proba_gets_the_squared_error():
    model = _NoProba().fit(None, None)
    y = np.array([0, 1, 1, 0])
    np.testing.assert_array_equal(audit._losses(model, np.zeros((4, 1)), y),
                                  [1.0, 0.0, 0.0, 1.0])
