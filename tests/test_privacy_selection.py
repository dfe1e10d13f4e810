"""Private hyper-parameter selection: what it selects, how it scores, how
many rounds it runs, and the guarantee it reports."""

import math
import warnings
from unittest import mock

import dp_accounting
import numpy as np
import pandas as pd
import pytest

from skcausal_trust.exceptions import PrivacyLeakWarning
from skcausal_trust.privacy import (
    DPCausalRegressor,
    HashKFold,
    _regressor,
    private_random_search,
)

DELTA = 1e-6
GRID = {"causal_features": [["a"], ["a", "b"], ["c"]]}


def _data(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform(-1, 1, (n, 3)), columns=["a", "b", "c"],
                     index=[f"id{i}" for i in range(n)])
    y = (X["a"] - 0.5 * X["b"] + 0.1 * rng.normal(size=n)).to_numpy()
    return X, y


def _estimator(epsilon=1.0):
    return DPCausalRegressor(epsilon=epsilon, delta=DELTA, feature_bound=np.sqrt(3),
                             target_bound=2.0)


def test_the_search_selects_the_best_candidate():
    X, y = _data()
    truth = ["a", "b"]
    drawn = 0
    for _ in range(8):
        result = private_random_search(_estimator(), GRID, X, y, mean_rounds=30)
        if any(entry["params"]["causal_features"] == truth for entry in result.tried):
            drawn += 1
            # Measured: the true model wins whenever a round drew it (73 of 73
            # searches); the noise at epsilon=1 never made another look better.
            assert result.best_params["causal_features"] == truth
    # A search whose rounds never drew it (probability about 6% with 30 rounds
    # on average; (2/3)^K for K rounds) picks another; at least half draw it
    # except with probability below 1e-6.
    assert drawn >= 4


def test_the_score_is_minus_the_held_out_mean_squared_error():
    """With the noise switched off, the score is the mean squared error of
    the selected model on the held-out rows (hash buckets below 250 of
    1,000), clipped and on the release's grid (rel. 1e-5)."""
    X, y = _data(3000)
    # One switch for both releases (the estimator's and the held-out one).
    with mock.patch.object(_regressor, "release_gaussian", lambda v, *a, **k: v):
        result = private_random_search(_estimator(1e6), GRID, X, y, mean_rounds=4)
    held = HashKFold(1000).fold_of(list(X.index)) < 250
    residual = y[held] - result.best_estimator.predict(X[held])
    assert result.best_score == pytest.approx(-np.mean(residual**2), rel=1e-3)
    for entry in result.tried:
        assert entry["score"] <= result.best_score


@pytest.mark.slow
def test_the_number_of_rounds_is_geometric_with_the_stated_mean():
    X, y = _data(300)
    rounds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        for seed in range(100):
            result = private_random_search(_estimator(), GRID, X, y, mean_rounds=2,
                                           random_state=seed)
            rounds.append(result.n_rounds)
            assert result.epsilon == np.inf  # seeded: not private
    rounds = np.array(rounds)
    # Geometric(1/2): mean 2, sd sqrt(2); P(K = 1) = 1/2.
    assert abs(rounds.mean() - 2) < 4 * np.sqrt(2 / 100)
    assert abs(np.mean(rounds == 1) - 1 / 2) < 4 * np.sqrt(1 / 4 / 100)
    assert rounds.min() == 1


def _papernot_steinke_upper_bound(multiplier, mean, delta):
    """Theorem 2 of Papernot and Steinke (2022) for a geometric number of runs
    (eta = 1, gamma = 1 / mean) of a Gaussian mechanism (RDP lambda / (2 m^2)),
    with the classical RDP-to-DP conversion (Mironov 2017): an upper bound."""
    def rdp(order):
        return order / (2 * multiplier**2)

    gamma = 1.0 / mean
    best = math.inf
    for lam in np.linspace(1.5, 200, 400):
        for lam_hat in np.linspace(1.5, 200, 400)[::8]:
            total = (rdp(lam) + 2 * (1 - 1 / lam_hat) * rdp(lam_hat)
                     + 2 * math.log(1 / gamma) / lam_hat + math.log(mean) / (lam - 1))
            best = min(best, total + math.log(1 / delta) / (lam - 1))
    return best


@pytest.mark.parametrize("mean_rounds", [1, 10])
def test_the_reported_guarantee(mean_rounds):
    X, y = _data(2000)
    grid = {"epsilon": [0.5, 2.0], "causal_features": [["a"]]}
    result = private_random_search(_estimator(), grid, X, y, mean_rounds=mean_rounds,
                                   validation_epsilon=0.3)
    # Charged at the least noisy candidate (epsilon 2), whatever was drawn.
    multiplier = dp_accounting.get_sigma_gaussian(2.0, DELTA)
    single = dp_accounting.get_epsilon_gaussian(multiplier, DELTA)
    assert single * 0.999 <= result.epsilon_rounds
    assert result.epsilon_rounds <= _papernot_steinke_upper_bound(multiplier, mean_rounds,
                                                                 DELTA)
    assert result.epsilon == max(result.epsilon_rounds, 0.3)
    assert result.delta == DELTA
    if mean_rounds == 10:  # more rounds cost more than one, less than ten fits
        assert result.epsilon_rounds > 1.5 * single
        ten = dp_accounting.get_epsilon_gaussian(multiplier / np.sqrt(10), DELTA)
        assert result.epsilon_rounds < ten


@pytest.mark.parametrize("kwargs,match", [
    (dict(estimator=DPCausalRegressor()), "declared feature_bound"),
    (dict(estimator=_estimator().set_params(random_state=0)), "random_state must be None"),
    (dict(estimator=_estimator().set_params(gamma=2.0)), "pooled fits only"),
    (dict(param_grid={"gamma": [1.0, 2.0]}), "pooled fits only"),
    (dict(param_grid={"feature_bound": [1.0]}), "share the bounds"),
    (dict(param_grid={"colour": [1]}), "not parameters"),
    (dict(mean_rounds=0.5), "mean_rounds"),
    (dict(validation_share=1.0), "validation_share"),
    (dict(validation_epsilon=0.0), "validation_epsilon"),
    (dict(ids=["x"] * 50), "ids repeat"),
    (dict(ids=list(range(10))), "ids has 10 values"),
])
def test_bad_input_is_named(kwargs, match):
    X, y = _data(50)
    args = dict(estimator=_estimator(), param_grid=GRID)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        private_random_search(args.pop("estimator"), args.pop("param_grid"), X, y, **args)


def test_arrays_need_ids():
    X, y = _data(50)
    with pytest.raises(ValueError, match="needs record ids"):
        private_random_search(_estimator(), GRID, X.to_numpy(), y)


@pytest.mark.parametrize("grid", [{"causal_features": [["a"]]},
                                  {"causal_features": [["a"]], "delta": [1e-6, 1e-2]}],
                         ids=["estimator-delta", "delta-in-grid"])
def test_rounds_are_charged_at_each_candidates_own_calibration(grid):
    """A candidate calibrated with delta = 1e-2 is far less noisy than one at
    the search's delta = 1e-9; the rounds are charged at its noise."""
    X, y = _data(2000)
    estimator = DPCausalRegressor(epsilon=1.0, delta=1e-2 if "delta" not in grid else 1e-6,
                                  feature_bound=np.sqrt(3), target_bound=2.0)
    result = private_random_search(estimator, grid, X, y, mean_rounds=5, delta=1e-9)
    multiplier = dp_accounting.get_sigma_gaussian(1.0, 1e-2)
    single = dp_accounting.get_epsilon_gaussian(multiplier, 1e-9)
    assert single * 0.999 <= result.epsilon_rounds
    assert result.epsilon_rounds <= _papernot_steinke_upper_bound(multiplier, 5, 1e-9)
