"""The privacy accountant composes fits as dp-accounting's closed forms say,
and the hash splitter changes one fold per added record.

Independent reference: a composition of Gaussian mechanisms with noise
multipliers ``m_i`` is exactly one Gaussian mechanism with multiplier
``(sum 1 / m_i^2)^(-1/2)`` (Dong, Roth and Su 2022), whose epsilon is
``dp_accounting.get_epsilon_gaussian``; the accountant's privacy loss
distribution composition must agree with it.
"""

import warnings

import dp_accounting
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from skcausal_trust.privacy import DPCausalRegressor, HashKFold, PrivacyAccountant

DELTA = 1e-6


def _composed_epsilon(multipliers, delta=DELTA):
    multipliers = np.asarray(multipliers, dtype=float)
    return dp_accounting.get_epsilon_gaussian(1.0 / np.sqrt(np.sum(multipliers**-2)), delta)


def _unit(epsilon, delta=1e-6):
    return dp_accounting.get_sigma_gaussian(epsilon, delta)


@pytest.mark.parametrize("k", [1, 4, 16])
def test_k_identical_gaussian_fits_compose_as_one_gaussian(k):
    accountant = PrivacyAccountant().charge_gaussian(epsilon=1.0, delta=DELTA, count=k)
    expected = _composed_epsilon([_unit(1.0)] * k)
    assert accountant.get_epsilon(DELTA) == pytest.approx(expected, rel=2e-3)
    assert accountant.n_fits_ == k
    # Renyi accounting is an upper bound, looser (by 7-8% here) but close.
    rdp = PrivacyAccountant("rdp").charge_gaussian(epsilon=1.0, delta=DELTA, count=k)
    assert expected * 1.03 <= rdp.get_epsilon(DELTA) <= expected * 1.3


def test_charging_fitted_estimators_and_group_size():
    X = np.random.default_rng(0).uniform(-1, 1, size=(50, 2))
    y = X.sum(axis=1) / 2
    fits = [DPCausalRegressor(epsilon=e, feature_bound=2.0, target_bound=1.0).fit(X, y)
            for e in (0.5, 1.0, 2.0)]
    accountant = PrivacyAccountant()
    for fit in fits:
        accountant.charge(fit)
    accountant.charge(fits[1], group_size=3)
    expected = _composed_epsilon([_unit(0.5), _unit(1.0), _unit(2.0), _unit(1.0) / 3])
    assert accountant.get_epsilon(DELTA) == pytest.approx(expected, rel=2e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        leaky = DPCausalRegressor(epsilon=1.0).fit(X, y)  # bounds from the data
    assert accountant.charge(leaky).get_epsilon(DELTA) == np.inf


def _search_data():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.uniform(-1, 1, size=(120, 2)), columns=["a", "b"],
                     index=[f"person-{i}" for i in range(120)])
    return X, X["a"].to_numpy() - X["b"].to_numpy() / 2


@pytest.mark.parametrize("cv,group,per_candidate", [
    (HashKFold(3), 1, 2), (KFold(3), 3, 3)], ids=["hash", "kfold"])
def test_a_search_is_charged_for_every_fit(cv, group, per_candidate):
    X, y = _search_data()
    search = GridSearchCV(DPCausalRegressor(feature_bound=2.0, target_bound=2.0),
                          {"epsilon": [0.5, 2.0]}, cv=cv).fit(X, y)
    accountant = PrivacyAccountant().charge(search)
    best = search.best_params_["epsilon"]
    multipliers = ([_unit(0.5) / group] * per_candidate + [_unit(2.0) / group] * per_candidate
                   + [_unit(best)])
    assert accountant.n_fits_ == 2 * per_candidate + 1
    assert accountant.get_epsilon(DELTA) == pytest.approx(_composed_epsilon(multipliers),
                                                          rel=2e-3)
    assert any("cv_results_" in text for text in accountant.uncovered_)


def test_a_shuffled_split_or_a_pipeline_has_no_bound():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _search_data()
    for estimator, cv in [
        (DPCausalRegressor(feature_bound=2.0, target_bound=2.0), KFold(3, shuffle=True)),
        (make_pipeline(StandardScaler(), DPCausalRegressor(feature_bound=2.0,
                                                           target_bound=2.0)), KFold(3)),
    ]:
        search = GridSearchCV(estimator, {}, cv=cv).fit(X, y)
        accountant = PrivacyAccountant().charge(search)
        assert accountant.get_epsilon(DELTA) == np.inf, estimator


def test_hash_folds_move_one_record_when_a_record_is_added():
    """KFold's folds shift when a record is inserted (here a training set
    changes by 3 records, the most possible); HashKFold's do not."""
    X, _ = _search_data()
    X = X.iloc[:8]
    extra = pd.DataFrame({"a": [0.0], "b": [0.0]}, index=["person-new"])
    X1 = pd.concat([X.iloc[:5], extra, X.iloc[5:]])

    def training_sets(cv, data):
        return [set(data.index[train]) for train, _ in cv.split(data)]

    for cv, most in [(HashKFold(4), 1), (KFold(4), 3)]:
        changes = [len(a ^ b) for a, b in zip(training_sets(cv, X), training_sets(cv, X1))]
        assert max(changes) == most, (cv, changes)
    X, _ = _search_data()
    folds = HashKFold(4).fold_of(list(X.index))
    assert sorted(set(folds)) == [0, 1, 2, 3]
    np.testing.assert_array_equal(folds, HashKFold(4).fold_of(list(X.index)))
    assert not np.array_equal(folds, HashKFold(4, salt="x").fold_of(list(X.index)))


@pytest.mark.parametrize("call,match", [
    (lambda: HashKFold(1), "n_splits"),
    (lambda: list(HashKFold(2).split(np.zeros((4, 1)))), "record ids"),
    (lambda: list(HashKFold(2).split(np.zeros((3, 1)), groups=["a", "b", "a"])),
     r"repeats ids \['a'\]"),
    (lambda: PrivacyAccountant("basic"), "accounting"),
    (lambda: PrivacyAccountant().charge_gaussian(epsilon=1.0, delta=DELTA, count=0),
     "count"),
    (lambda: PrivacyAccountant().get_epsilon(0.0), "delta"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- replace-one neighbours ---------------------------------------------------------

def _weighted_change(W, z, z_new):
    iu = np.triu_indices(W.shape[0])
    return float(np.linalg.norm((W * (np.outer(z_new, z_new) - np.outer(z, z)))[iu]))


def _clipped_records(rng, n, k):
    x = rng.normal(size=(n, k))
    x /= np.linalg.norm(x, axis=1, keepdims=True)   # on the sphere,
    x[n // 2:] *= rng.uniform(0, 1, (n - n // 2, 1))  # and inside the ball
    y = rng.uniform(-1, 1, n)
    return np.column_stack([np.ones(n), x, y])


@pytest.mark.parametrize("pooled", [True, False], ids=["pooled", "by-environment"])
def test_replace_one_sensitivity_bounds_every_replacement(pooled):
    """Brute force over random and extreme pairs of clipped records: no
    replacement in one matrix exceeds the bound, nor does a move between two
    environments' matrices; the documented extreme family reaches the
    documented largest value (3.0 by environment, 2.16 pooled)."""
    from skcausal_trust.privacy._regressor import (
        ENVIRONMENT_BLOCK_WEIGHTS, POOLED_BLOCK_WEIGHTS, release_weights,
        replace_one_sensitivity)

    blocks = POOLED_BLOCK_WEIGHTS if pooled else ENVIRONMENT_BLOCK_WEIGHTS
    k = 3
    W, add_remove = release_weights(k, **blocks)
    bound = replace_one_sensitivity(k, **blocks, by_environment=not pooled)
    rng = np.random.default_rng(5)
    z, z_new = _clipped_records(rng, 20_000, k), _clipped_records(rng, 20_000, k)
    z_new[::2, -1] = np.sign(z_new[::2, -1])  # targets at the bounds
    worst = max(_weighted_change(W, a, b) for a, b in zip(z, z_new))
    assert worst <= bound
    # The family |y| = 1, y' = -y, unit x, x' at cosine cross^2 - sums^2.
    t = blocks["cross"] ** 2 - blocks["sums"] ** 2
    x, x_new = np.array([1.0, 0, 0]), np.array([t, np.sqrt(1 - t**2), 0])
    extreme = _weighted_change(W, np.r_[1.0, x, -1.0], np.r_[1.0, x_new, 1.0])
    assert extreme == pytest.approx(2.16 if pooled else 3.0, abs=1e-12)
    assert extreme <= bound
    if not pooled:  # a record that moves to another environment
        assert np.sqrt(2) * add_remove <= bound


def test_a_replace_one_fit_is_calibrated_to_its_sensitivity():
    from skcausal_trust.privacy._regressor import (
        POOLED_BLOCK_WEIGHTS, release_weights, replace_one_sensitivity)

    X = np.random.default_rng(6).uniform(-1, 1, size=(50, 3))
    y = X.sum(axis=1) / 3
    reg = DPCausalRegressor(feature_bound=np.sqrt(3), target_bound=1.0,
                            neighbouring="replace_one").fit(X, y)
    W, _ = release_weights(3, **POOLED_BLOCK_WEIGHTS)
    sensitivity = (replace_one_sensitivity(3, **POOLED_BLOCK_WEIGHTS)
                   + 2.0**-19 * np.sqrt(np.sum(np.triu(W) ** 2)))
    assert reg.sensitivity_ == pytest.approx(sensitivity, rel=1e-14)
    assert reg.noise_scale_ == pytest.approx(_unit(1.0) * sensitivity, rel=1e-9)
    with pytest.raises(ValueError, match="calibrated for neighbouring='replace_one'"):
        PrivacyAccountant().charge(reg)
    accountant = PrivacyAccountant(neighbouring="replace_one").charge(reg)
    assert accountant.get_epsilon(DELTA) == pytest.approx(1.0, rel=2e-3)


def test_a_fit_inside_a_search_warns_about_the_budget():
    from sklearn.model_selection import cross_val_score

    from skcausal_trust.exceptions import PrivacyBudgetWarning

    X, y = _search_data()
    reg = DPCausalRegressor(feature_bound=2.0, target_bound=2.0)
    with pytest.warns(PrivacyBudgetWarning, match="PrivacyAccountant"):
        cross_val_score(reg, X, y, cv=HashKFold(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyBudgetWarning)
        reg.fit(X, y)  # a fit on its own is one release: no warning


def test_a_search_whose_candidates_void_their_guarantee_is_infinite():
    X, y = _search_data()
    leaky = GridSearchCV(DPCausalRegressor(), {"epsilon": [1.0]}, cv=HashKFold(3),
                         refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        leaky.fit(X, y)  # bounds taken from the data in every fit
    accountant = PrivacyAccountant().charge(leaky)
    assert accountant.get_epsilon(DELTA) == np.inf
    assert any("bounds taken from the data" in text for text in accountant.uncovered_)
    # A candidate calibrated for another relation than the accountant's.
    mixed = GridSearchCV(
        DPCausalRegressor(feature_bound=2.0, target_bound=2.0, neighbouring="replace_one"),
        {"neighbouring": ["add_remove", "replace_one"]}, cv=KFold(3)).fit(X, y)
    accountant = PrivacyAccountant(neighbouring="replace_one").charge(mixed)
    assert accountant.get_epsilon(DELTA) == np.inf


def test_a_record_moving_environment_rounds_two_matrices():
    """Replace-one by environment without predictors: the move (two matrices,
    each with its rounding) is the larger case, sqrt(2) (Delta + allowance)."""
    from skcausal_trust.privacy._regressor import (
        ENVIRONMENT_BLOCK_WEIGHTS, release_weights, replace_one_sensitivity)

    X = np.random.default_rng(8).uniform(-1, 1, size=(40, 2))
    y = X[:, 0] / 2
    reg = DPCausalRegressor(feature_bound=2.0, target_bound=1.0, gamma=2.0,
                            causal_features=[], neighbouring="replace_one",
                            environment_levels=["a", "b"]).fit(
        X, y, environments=np.repeat(["a", "b"], 20))
    W, add_remove = release_weights(0, **ENVIRONMENT_BLOCK_WEIGHTS)
    allowance = 2.0**-19 * np.sqrt(np.sum(np.triu(W) ** 2))
    same = replace_one_sensitivity(0, **ENVIRONMENT_BLOCK_WEIGHTS)
    expected = max(same + allowance, np.sqrt(2) * (add_remove + allowance))
    assert np.sqrt(2) * add_remove > same  # the move dominates here
    assert reg.sensitivity_ == pytest.approx(expected, rel=1e-14)


def test_hash_folds_are_the_documented_hash_and_partition_the_rows():
    """Fold = blake2b(str(id) + salt), 8 bytes little-endian, mod n_splits
    (computed here with hashlib); each row is in exactly one test fold."""
    import hashlib

    ids = [f"person-{i}" for i in range(200)] + [7, 8.5]
    expected = [int.from_bytes(hashlib.blake2b((str(i) + "s").encode(), digest_size=8)
                               .digest(), "little") % 4 for i in ids]
    cv = HashKFold(4, salt="s")
    np.testing.assert_array_equal(cv.fold_of(ids), expected)
    seen = np.zeros(len(ids), dtype=int)
    for k, (train, test) in enumerate(cv.split(np.zeros((len(ids), 1)), groups=ids)):
        np.testing.assert_array_equal(test, np.flatnonzero(np.array(expected) == k))
        assert set(train) == set(range(len(ids))) - set(test)
        seen[test] += 1
    assert (seen == 1).all()
    assert HashKFold().get_n_splits() == 5
