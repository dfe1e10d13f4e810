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
    # Renyi accounting is an upper bound, looser but close.
    rdp = PrivacyAccountant("rdp").charge_gaussian(epsilon=1.0, delta=DELTA, count=k)
    assert expected * 0.999 <= rdp.get_epsilon(DELTA) <= expected * 1.3


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
