"""DPCausalRegressor: exact calibration (against dp-accounting and the
analytic Gaussian mechanism), sensitivity, post-processing equal to the
non-private estimators, bad input, and the empirical privacy audit."""

import pickle
import warnings
from unittest import mock

import dp_accounting
import numpy as np
import pandas as pd
import pytest
from dp_accounting.pld import pld_privacy_accountant
from scipy import stats
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils._param_validation import InvalidParameterError

from skcausal_trust.causal import CausalGraph, one_hot_encode
from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.exceptions import PrivacyLeakWarning
from skcausal_trust.invariance import AnchorRegression, InvariantCausalPrediction
from skcausal_trust.privacy import DPCausalRegressor, _regressor
from skcausal_trust.privacy._mechanisms import gaussian_noise_scale
from skcausal_trust.privacy.audit import (
    empirical_epsilon_lower_bound,
    membership_inference_advantage,
    release_projection,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _analytic_delta(epsilon, sigma, sensitivity):
    """Balle and Wang (2018), Theorem 8: the exact delta of a Gaussian
    mechanism at epsilon (written independently of dp-accounting)."""
    a = sensitivity / (2 * sigma)
    b = epsilon * sigma / sensitivity
    return stats.norm.cdf(a - b) - np.exp(epsilon) * stats.norm.cdf(-a - b)


@pytest.mark.parametrize("epsilon,delta", [(0.1, 1e-6), (1.0, 1e-6), (10.0, 1e-6),
                                           (1.0, 1e-9)])
def test_noise_is_calibrated_exactly(epsilon, delta):
    sensitivity = np.sqrt(6.0)
    sigma = gaussian_noise_scale(epsilon, delta, sensitivity)
    # The analytic formula: delta is met, and 1% less noise would break it.
    assert _analytic_delta(epsilon, sigma, sensitivity) <= delta * (1 + 1e-6)
    assert _analytic_delta(epsilon, 0.99 * sigma, sensitivity) > delta
    # dp-accounting's privacy-loss-distribution accountant agrees.
    accountant = pld_privacy_accountant.PLDAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(sigma / sensitivity))
    assert accountant.get_epsilon(delta) == pytest.approx(epsilon, rel=2e-3)


@pytest.mark.parametrize("weights", [
    _regressor.POOLED_BLOCK_WEIGHTS, _regressor.ENVIRONMENT_BLOCK_WEIGHTS,
    {"count": 0.3, "sums": 1.7, "cross": 0.6, "yy": 2.0}])
def test_sensitivity_bound_is_tight_over_clipped_records(weights):
    """||upper(W * z z')||_2 <= release_weights' sensitivity for
    z = [1, x, y], ||x|| <= 1, |y| <= 1; attained."""
    rng = np.random.default_rng(0)
    for d in (1, 3, 8):
        W, sensitivity = _regressor.release_weights(d, **weights)
        x = rng.normal(size=(5000, d))
        x /= np.maximum(1.0, np.linalg.norm(x, axis=1, keepdims=True))
        x[:100] = np.eye(d)[rng.integers(0, d, 100)]  # extreme rows
        x[100:200] = 1.0 / np.sqrt(d)  # norm spread evenly
        y = rng.uniform(-1, 1, 5000)
        y[:200] = 1.0
        z = np.column_stack([np.ones(5000), x, y])
        iu = np.triu_indices(d + 2)
        norms = np.linalg.norm((np.einsum("ni,nj->nij", z, z) * W)[:, iu[0], iu[1]], axis=1)
        assert norms.max() <= sensitivity + 1e-12
        assert norms.max() == pytest.approx(sensitivity)
    # No predictor (causal_features=[]): z = [1, y], only count, sum, y'y.
    W, sensitivity = _regressor.release_weights(0, **weights)
    y = np.linspace(-1.0, 1.0, 201)
    z = np.column_stack([np.ones_like(y), y])
    iu = np.triu_indices(2)
    norms = np.linalg.norm((np.einsum("ni,nj->nij", z, z) * W)[:, iu[0], iu[1]], axis=1)
    assert norms.max() == pytest.approx(sensitivity)
    # Unit block weights: sqrt(5.5), below the sqrt(6) of equal weights on
    # every entry (the diagonal not halved).
    assert _regressor.release_weights(3)[1] == pytest.approx(np.sqrt(5.5))


def test_release_goes_through_opendp_with_the_claimed_rho():
    X = np.random.default_rng(1).uniform(-0.5, 0.5, size=(50, 2))
    y = X.sum(axis=1)
    with mock.patch("opendp.core.Measurement.map", autospec=True,
                    side_effect=lambda self, d: d**2 / 2) as mapped:
        reg = DPCausalRegressor(epsilon=1.0, feature_bound=1.0, target_bound=1.0,
                                random_state=None)
        with pytest.raises(RuntimeError, match="calibration does not match"):
            reg.fit(X, y)  # a map reporting more privacy loss is refused
    assert mapped.called


def test_spent_budget_and_near_exact_fit_at_large_epsilon():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(5000, 3))
    y = X @ [0.5, -0.2, 0.1] + 0.1 * rng.normal(size=5000)
    reg = DPCausalRegressor(epsilon=1e4, delta=1e-6, feature_bound=np.sqrt(3),
                            target_bound=2.0).fit(X, y)
    assert (reg.epsilon_, reg.delta_) == (1e4, 1e-6)
    np.testing.assert_allclose(reg.coef_, LinearRegression().fit(X, y).coef_, atol=1e-3)
    W, formula = _regressor.release_weights(3, **_regressor.POOLED_BLOCK_WEIGHTS)
    # The formula, plus the public allowance for the release's rounding.
    assert reg.sensitivity_ == pytest.approx(formula + 2.0**-19 * np.sqrt(
        np.sum(np.triu(W) ** 2)), rel=1e-14)
    assert reg.released_statistics_.shape == (1, 5, 5)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 5.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_private_anchor_regression_is_post_processing_of_the_release(gamma, fit_intercept):
    """With the noise switched off and no clipping, the post-processing of the
    release is exactly the non-private anchor regression."""
    from test_privacy_enforced import _clip_by_hand

    X, y, env, _ = make_invariant_regression(300, 3, random_state=3)
    bound_x = float(np.linalg.norm(X, axis=1).max()) + 1
    bound_y = float(np.abs(y).max()) + 1
    with mock.patch.object(_regressor, "release_gaussian", lambda v, *a: v):
        # A huge epsilon makes the eigenvalue floor (set by sigma) vanish.
        private = DPCausalRegressor(epsilon=1e9, feature_bound=bound_x,
                                    target_bound=bound_y, gamma=gamma,
                                    fit_intercept=fit_intercept).fit(
            X, y, environments=env)
    # Nothing is clipped; the records are rounded to the release's grid.
    Xg, yg, over_x, over_y = _clip_by_hand(X.to_numpy(), y, bound_x, bound_y)
    assert not over_x.any() and not over_y.any()
    exact = AnchorRegression(gamma=gamma, fit_intercept=fit_intercept).fit(
        Xg, yg, environments=env)
    assert private.eigenvalue_floor_ < 0.01  # far below every eigenvalue
    # Anchor regression compares environments: one release per environment.
    assert private.released_statistics_.shape[0] == (1 if gamma == 1.0 else 3)
    np.testing.assert_allclose(private.coef_, exact.coef_, rtol=1e-8, atol=1e-10)
    assert private.intercept_ == pytest.approx(exact.intercept_, abs=1e-8)


def test_private_icp_selects_the_parents():
    """ICP on the release, its tests widened by the (public) noise law."""
    X, y, env, parents = make_invariant_regression(20_000, 3, random_state=0)
    bound_x = float(np.linalg.norm(X, axis=1).max())
    bound_y = float(np.abs(y).max())
    exact = InvariantCausalPrediction().fit(X, y, environments=env)
    assert list(exact.get_feature_names_out()) == parents
    fits = [
        DPCausalRegressor(epsilon=10.0, feature_bound=bound_x, target_bound=bound_y,
                          causal_features="icp", random_state=seed).fit(
            X, y, environments=env)
        for seed in range(6)
    ]
    # Measured: the true parents exactly in 5 of 6 seeded fits.
    assert sum(f.selected_features_ == parents for f in fits) >= 4
    assert all(f.icp_subset_pvalues_[tuple(parents)] > 0.05 for f in fits)
    for f in fits:
        assert (f.coef_[~X.columns.isin(f.selected_features_)] == 0).all()


def test_private_icp_without_noise_awareness_would_reject_the_parents():
    """The reason for the widened tests: privacy noise alone, ignored, makes
    the variance test reject the true set at this sample size."""
    from skcausal_trust.invariance._stats import EnvironmentStatistics

    X, y, env, parents = make_invariant_regression(20_000, 3, random_state=0)
    bound_x = float(np.linalg.norm(X, axis=1).max())
    bound_y = float(np.abs(y).max())
    reg = DPCausalRegressor(epsilon=10.0, feature_bound=bound_x, target_bound=bound_y,
                            causal_features="icp", random_state=1).fit(
        X, y, environments=env)
    parent_idx = np.array([[list(X.columns).index(p) for p in parents]])
    noise = reg.noise_scale_ / reg.release_weights_
    for scale, accepted in [(noise, True), (0.0, False)]:
        stats_ = EnvironmentStatistics.from_grams(reg.released_statistics_,
                                                  noise_scale=scale)
        beta, _, _ = stats_.pooled_fit(parent_idx)
        mean_p, var_p = stats_.approximate_pvalues(parent_idx, beta)
        p = min(1.0, min(mean_p.min(), var_p.min()) * 6)
        assert (p > 0.05) == accepted


def test_causal_features_from_a_list_and_a_graph():
    X, y, env, parents = make_invariant_regression(500, 2, random_state=1)
    graph = CausalGraph([(p, "target") for p in parents], nodes=list(X.columns))
    kw = dict(epsilon=1e9, feature_bound=50.0, target_bound=50.0)
    by_list = DPCausalRegressor(causal_features=parents, **kw).fit(X, y)
    by_graph = DPCausalRegressor(causal_features=graph, **kw).fit(X, y)
    assert by_list.selected_features_ == by_graph.selected_features_ == parents
    np.testing.assert_allclose(
        by_list.coef_[X.columns.isin(parents)],
        LinearRegression().fit(X[parents], y).coef_, atol=1e-3)


def test_no_causal_feature_releases_only_the_count_sum_and_square_of_y():
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(1000, 3))
    y = 0.5 + X[:, 0] + 0.1 * rng.normal(size=1000)
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=2.0, target_bound=3.0,
                            causal_features=[]).fit(X, y)
    assert reg.released_features_ == [] == reg.selected_features_
    assert reg.released_statistics_.shape == (1, 2, 2)
    assert reg.sensitivity_ == pytest.approx(np.sqrt(0.25**2 + 0.4**2 + 0.3**2), rel=1e-5)
    assert reg.coef_.tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(reg.predict(X), np.mean(y), atol=1e-6)


def test_only_the_causal_features_are_released_and_bounded():
    """A list restricts the release to its columns: the other columns are
    neither clipped nor released, and feature_bound bounds the chosen ones."""
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(2000, 4))
    X[:, 3] *= 1000.0  # far outside the bound, but not a causal feature
    y = X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=2000)
    reg = DPCausalRegressor(epsilon=1e9, feature_bound=np.sqrt(2), target_bound=3.0,
                            causal_features=[0, 1]).fit(X, y)
    assert reg.released_features_ == ["x0", "x1"] == reg.selected_features_
    assert reg.released_statistics_.shape == (1, 4, 4)
    assert reg.count_clipped(X, y) == (0, 0) and reg.coef_[2:].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(reg.coef_[:2], [1.0, -1.0], atol=0.02)
    # Fewer released predictors, the same budget: a smaller noise floor.
    full = DPCausalRegressor(epsilon=1.0, feature_bound=np.sqrt(2), target_bound=3.0,
                             random_state=0)
    chosen = clone(full).set_params(causal_features=[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full.fit(X[:, :3], y)
        chosen.fit(X, y)
    assert chosen.eigenvalue_floor_ < full.eigenvalue_floor_


def test_eigenvalue_floor_switches_on_when_noise_dominates():
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(200, 5))
    y = X[:, 0] + 0.1 * rng.normal(size=200)
    small = DPCausalRegressor(epsilon=0.1, feature_bound=np.sqrt(5),
                              target_bound=2.0).fit(X, y)
    large = DPCausalRegressor(epsilon=1e6, feature_bound=np.sqrt(5),
                              target_bound=2.0).fit(X, y)
    for reg, floored in [(small, True), (large, False)]:
        G = reg.released_statistics_[0]
        centred = G[1:-1, 1:-1] - np.outer(G[0, 1:-1], G[0, 1:-1]) / G[0, 0]
        assert (np.linalg.eigvalsh(centred)[0] < reg.eigenvalue_floor_) == floored


def test_clipping_counts_and_leak_warnings():
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(100, 2))
    X[:3] *= 10
    y = rng.uniform(-1, 1, 100)
    y[:5] = 7.0
    with warnings.catch_warnings():
        # Clipping is silent: a count of clipped rows is not private.
        warnings.simplefilter("error")
        reg = DPCausalRegressor(feature_bound=2.0, target_bound=1.0).fit(X, y)
    assert reg.count_clipped(X, y) == (3, 5)
    assert reg.is_private_ and reg.privacy_leaks_ == [] and reg.epsilon_ == 1.0
    with pytest.warns(PrivacyLeakWarning, match="bounds taken from the data"):
        leaky = DPCausalRegressor().fit(X, y)
    assert leaky.epsilon_ == np.inf and not leaky.is_private_
    with pytest.warns(PrivacyLeakWarning, match="seeded"):
        seeded = DPCausalRegressor(feature_bound=2.0, target_bound=1.0,
                                   random_state=0).fit(X, y)
    assert seeded.epsilon_ == np.inf and "seeded" in seeded.privacy_leaks_[0]


def test_seeded_fits_are_reproducible_and_opendp_fits_are_not():
    X = np.random.default_rng(6).uniform(-1, 1, size=(50, 2))
    y = X.sum(axis=1) / 2
    kw = dict(feature_bound=2.0, target_bound=1.0, epsilon=0.5)
    a = DPCausalRegressor(random_state=3, **kw).fit(X, y).coef_
    b = DPCausalRegressor(random_state=3, **kw).fit(X, y).coef_
    c = DPCausalRegressor(**kw).fit(X, y).coef_
    d = DPCausalRegressor(**kw).fit(X, y).coef_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(c, d)


def test_gridsearch_with_routed_environments_and_pickle():
    import sklearn

    X, y, env, _ = make_invariant_regression(400, 3, random_state=7)
    search = GridSearchCV(
        DPCausalRegressor(epsilon=5.0, feature_bound=30.0, target_bound=30.0),
        {"gamma": [1.0, 5.0]}, cv=LeaveOneGroupOut())
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(X, y, groups=env, environments=env)
    # The pooled fit (gamma=1) never reads the environments; gamma=5 took
    # their levels from the data (none were declared).
    best = search.best_estimator_
    if best.gamma == 1.0:
        assert best.environments_ is None and best.is_private_
    else:
        assert set(best.environments_) == set(env) and best.epsilon_ == np.inf
    restored = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(restored.predict(X), search.predict(X))


@pytest.mark.parametrize("params,match", [
    ({"epsilon": 0.0}, "epsilon"), ({"epsilon": -1.0}, "epsilon"),
    ({"delta": 0.0}, "delta"), ({"delta": 1.0}, "delta"),
    ({"feature_bound": 0.0}, "feature_bound"), ({"target_bound": -2.0}, "target_bound"),
])
def test_bad_parameters_name_themselves(params, match):
    X, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(InvalidParameterError, match=match):
        DPCausalRegressor(**params).fit(X, y)


def test_bad_environment_input():
    X, y = np.random.default_rng(0).normal(size=(10, 2)), np.zeros(10)
    with pytest.raises(ValueError, match=r"labels outside environment_levels"):
        DPCausalRegressor(feature_bound=1.0, target_bound=1.0, gamma=2.0,
                          environment_levels=["a", "b"]).fit(
            X, y, environments=["a"] * 8 + ["b", "c"])
    with pytest.raises(ValueError, match="need environments"):
        DPCausalRegressor(gamma=5.0, feature_bound=1.0, target_bound=1.0).fit(X, y)
    with pytest.raises(ValueError, match="causal_features names 'x9'"):
        DPCausalRegressor(causal_features=["x9"], feature_bound=1.0,
                          target_bound=1.0).fit(X, y)
    fresh = DPCausalRegressor(gamma=5.0)
    with pytest.raises(ValueError):
        fresh.fit(X, y)
    assert not hasattr(fresh, "coef_")


# -- the empirical audit -------------------------------------------------------

AUDIT_X, AUDIT_Y = np.zeros((2, 1)), np.zeros(2)
NEIGHBOUR = (np.vstack([AUDIT_X, [[1.0]]]), np.append(AUDIT_Y, 1.0))
STATISTIC = release_projection([1.0], 1.0, 1.0, 1.0)
# Runs that place the threshold (only the statistic's mean and spread are
# used): 200 instead of the default 500 saves 300 of 1,300 fits per data set.
# The statistic is exactly Gaussian; 300 simulated audits from its measured
# means and spreads gave the same bounds with 200 as with 500: 1st-99th
# percentiles 0.43-1.14 (0.42-1.18) for the correct mechanism, 3.49-4.61
# (3.42-4.54) with a quarter of the noise, always above 3 as the test asks.
THRESHOLD_RUNS = 200


@pytest.mark.slow
def test_audit_lower_bound_stays_below_the_claim():
    reg = DPCausalRegressor(epsilon=3.0, delta=1e-5, feature_bound=1.0, target_bound=1.0)
    result = empirical_epsilon_lower_bound(
        reg, (AUDIT_X, AUDIT_Y), NEIGHBOUR, statistic=STATISTIC, n_runs=800,
        n_threshold_runs=THRESHOLD_RUNS)
    # Measured 0.66-0.93 with 800 runs (0.74-1.0 with 1,500, 1.2-1.5 with
    # 5,000); with infinitely many runs the best test would reach the claim,
    # 3.0, exactly (the release is tightly calibrated).
    assert 0.3 < result.epsilon_lower_bound <= 3.0 and not result.flagged


@pytest.mark.slow
def test_audit_flags_a_mechanism_with_a_quarter_of_the_noise():
    reg = DPCausalRegressor(epsilon=3.0, delta=1e-5, feature_bound=1.0, target_bound=1.0)
    scale = _regressor.gaussian_noise_scale
    with mock.patch.object(_regressor, "gaussian_noise_scale",
                           lambda e, d, s: scale(e, d, s) / 4):
        result = empirical_epsilon_lower_bound(
            reg, (AUDIT_X, AUDIT_Y), NEIGHBOUR, statistic=STATISTIC, n_runs=800,
            n_threshold_runs=THRESHOLD_RUNS)
    # With 800 runs the bound was 3.8-4.5 in 2 repetitions (4.33-4.75 in 4
    # with 1,500; the correct mechanism's, above, at most 1.0). Half the noise needs ~30,000 runs to
    # be flagged every time: that experiment (and 20% under-noise) is
    # benchmarks/bench_privacy_audit.py, too slow for the suite.
    assert result.flagged and result.epsilon_lower_bound > 3.0


def test_membership_advantage_orders_memorising_and_linear_models():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(1000, 3))
    y = X @ [1.0, 0.5, 0.0] + rng.normal(size=1000)
    train, test = slice(0, 500), slice(500, 1000)
    tree = DecisionTreeRegressor(random_state=0).fit(X[train], y[train])
    linear = LinearRegression().fit(X[train], y[train])
    adv_tree = membership_inference_advantage(tree, X[train], y[train], X[test], y[test])
    adv_lin = membership_inference_advantage(linear, X[train], y[train], X[test], y[test])
    assert adv_tree > 0.9 and adv_lin < 0.1
    # The advantage is the best threshold's TPR - FPR, found by brute force.
    losses_in = (y[train] - linear.predict(X[train])) ** 2
    losses_out = (y[test] - linear.predict(X[test])) ** 2
    best = max(np.mean(losses_in <= t) - np.mean(losses_out <= t)
               for t in np.concatenate([losses_in, losses_out]))
    assert adv_lin == pytest.approx(best, abs=1e-12)


def test_eigenvalue_floor_is_the_documented_rule():
    rng = np.random.default_rng(9)
    X = rng.uniform(0, 1, size=(3000, 2))
    y = X.sum(axis=1) / 2
    reg = DPCausalRegressor(epsilon=0.2, feature_bound=np.sqrt(2), target_bound=1.0,
                            random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        reg.fit(X, y)
    released = reg.released_statistics_[0]
    scale = reg.noise_scale_ / reg.release_weights_
    assert reg.eigenvalue_floor_ == _regressor.eigenvalue_floor(released[None], scale)

    # Independently: the 95% quantile of the spectral norm of the change of
    # the centred scatter matrix when the release noise is drawn again.
    def centred(G):
        return G[1:, 1:] - np.outer(G[0, 1:], G[0, 1:]) / G[0, 0]

    draws = np.random.default_rng(123)
    norms = []
    for _ in range(20_000):
        N = np.triu(draws.normal(0.0, scale))
        N = N + np.triu(N, 1).T
        norms.append(np.linalg.norm(centred(released + N)[:2, :2]
                                    - centred(released)[:2, :2], 2))
    # (The fit's Monte Carlo estimate uses FLOOR_DRAWS draws; compare the
    # rule itself with as many draws as here.)
    precise = _regressor.eigenvalue_floor(released[None], scale, n_draws=20_000)
    assert precise == pytest.approx(np.quantile(norms, 0.95), rel=0.03)
    A = centred(released)
    w, V = np.linalg.eigh(A[:2, :2])
    assert w[0] < reg.eigenvalue_floor_  # this small, noisy case does use the floor
    beta = V @ ((V.T @ A[:2, 2]) / np.maximum(w, reg.eigenvalue_floor_))
    # Back to data units: coef = beta * target_bound / feature_bound.
    np.testing.assert_allclose(reg.coef_, beta * 1.0 / np.sqrt(2), rtol=1e-10)


def test_noise_floor_bound_holds_for_the_release_noise():
    """The floor is a 95% bound on the spectral norm of the noise's effect
    on the centred predictors' block, centring included: check its coverage
    around the exact statistics by simulation (predictors with nonzero
    means, so that the noisy sums matter)."""
    rng = np.random.default_rng(10)
    X = rng.uniform(0, 1, size=(2000, 6))
    y = X[:, 0]
    exact = DPCausalRegressor(epsilon=1e9, feature_bound=np.sqrt(6),
                              target_bound=1.0).fit(X, y)
    G0 = exact.released_statistics_[0]

    def centred(G):
        return G[1:-1, 1:-1] - np.outer(G[0, 1:-1], G[0, 1:-1]) / G[0, 0]

    norms, floors = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        for seed in range(200):
            reg = DPCausalRegressor(epsilon=1.0, feature_bound=np.sqrt(6),
                                    target_bound=1.0, random_state=seed).fit(X, y)
            floors.append(reg.eigenvalue_floor_)
            norms.append(np.linalg.norm(centred(reg.released_statistics_[0])
                                        - centred(G0), 2))
    norms, floors = np.array(norms), np.array(floors)
    assert np.mean(norms > floors) <= 0.08
    # Not conservative either: close to the quantile it estimates.
    assert np.median(floors) == pytest.approx(np.quantile(norms, 0.95), rel=0.06)


@pytest.mark.slow
def test_private_icp_test_holds_its_level_on_the_true_parents():
    """Releases of one SCM's exact statistics: the noise-aware tests reject
    the (invariant) true parents at about the nominal rate. The earlier
    log-variance-ratio test rejected 30 of these 240 releases (0.125; 0.22-0.25
    at epsilon=1 in the benchmark's calibration), because the noise made
    residual sums of squares negative."""
    from skcausal_trust.invariance._icp import _test_chunk
    from skcausal_trust.invariance._stats import EnvironmentStatistics

    rng = np.random.default_rng(11)
    rejected, total = 0, 0
    for seed in (0, 2):
        X, y, env, parents = make_invariant_regression(
            20_000, 4, n_ancestors=2, n_parents=2, n_children=2, random_state=seed)
        bound_x, bound_y = 30.0 * np.sqrt(X.shape[1]), 30.0
        Z = np.column_stack([np.ones(len(y)), X.clip(-30, 30).to_numpy() / bound_x,
                             np.clip(y, -30, 30) / bound_y])
        codes = np.unique(env, return_inverse=True)[1]
        G = np.stack([Z[codes == e].T @ Z[codes == e] for e in range(4)])
        subset = np.array([[list(X.columns).index(c) for c in parents]])
        W, sensitivity = _regressor.release_weights(
            X.shape[1], **_regressor.ENVIRONMENT_BLOCK_WEIGHTS)
        iu = np.triu_indices(G.shape[1])
        for epsilon in (1.0, 10.0):
            sigma = gaussian_noise_scale(epsilon, 1e-6, sensitivity)
            for _ in range(60):
                N = np.zeros_like(G)
                N[:, iu[0], iu[1]] = rng.normal(0.0, sigma / W[iu], (4, iu[0].size))
                noisy = G + N + np.triu(N, 1).transpose(0, 2, 1)
                noisy[:, 0, 0] = np.maximum(noisy[:, 0, 0], 2.0)
                stats_ = EnvironmentStatistics.from_grams(noisy, noise_scale=sigma / W)
                rejected += float(_test_chunk(stats_, subset, "approximate")[0]) <= 0.05
                total += 1
    # 240 releases: 0.05 plus two binomial standard errors is 0.078.
    assert rejected / total <= 0.078


def test_missing_value_indicator_keeps_its_effect_under_privacy():
    # A missing-value effect spread over 30 indicators (no indicator of its
    # own) lies along a direction whose eigenvalue is diluted 30-fold, so the
    # eigenvalue floor shrinks it; one_hot_encode(dummy_na=...) puts it on one
    # coordinate. Least squares is the same either way.
    rng = np.random.default_rng(0)
    n, n_levels = 20_000, 30
    levels = [f"l{i}" for i in range(n_levels)]
    job = rng.choice(levels + [None], n, p=[0.9 / n_levels] * n_levels + [0.1])
    effect = dict(zip(levels, rng.normal(0.0, 0.5, n_levels)))
    y = np.array([effect.get(j, -3.0) for j in job]) + rng.normal(size=n)
    data = pd.DataFrame({"job": pd.Categorical(job, categories=levels)})
    r2 = {}
    for dummy_na in (False, True):
        X, _ = one_hot_encode(data, dummy_na=dummy_na)
        r2[dummy_na] = []
        for seed in range(5):
            est = DPCausalRegressor(epsilon=1.0, delta=1e-6, feature_bound=1.0,
                                    target_bound=8.0, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PrivacyLeakWarning)
                r2[dummy_na].append(est.fit(X, y).score(X, y))
    ols = LinearRegression().fit(X, y).score(X, y)
    assert min(r2[True]) > max(r2[False])
    assert min(r2[True]) > 0.98 * ols > max(r2[False])
