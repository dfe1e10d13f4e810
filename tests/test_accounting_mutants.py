"""What the accountant charges, where the other tests could not tell a bug
from the right answer (found by mutation testing,
``benchmarks/run_mutation.py --modules accounting``).

- Each reason a candidate's guarantee is void is recognised on its own
  (one bound from the data, a seed, a comparison of environments without
  declared levels), and nothing else voids it.
- Replace-one searches with ``KFold`` are charged at group size 2, and a
  search whose candidates are all calibrated for the accountant's relation
  is finite; a candidate for another relation is infinite without a refit.
- ``uncovered_`` says what is not covered, and only that.
- A fit that is not private (``is_private_ = False``, or no ``epsilon_`` at
  all) makes the total infinite.
- Bad arguments are refused by name.
"""

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold

from skcausal_trust.privacy import DPCausalRegressor, HashKFold, PrivacyAccountant
from skcausal_trust.privacy._accounting import _void_guarantee
from test_privacy_accounting import DELTA, _composed_epsilon, _search_data, _unit

pytestmark = pytest.mark.filterwarnings(
    "ignore::skcausal_trust.exceptions.PrivacyBudgetWarning",
    "ignore::skcausal_trust.exceptions.PrivacyLeakWarning")

BOUNDS = dict(feature_bound=2.0, target_bound=2.0)


@pytest.mark.parametrize("params,reason", [
    (dict(feature_bound=1.0, target_bound=1.0), None),
    (dict(feature_bound=1.0), "bounds taken from the data"),
    (dict(target_bound=1.0), "bounds taken from the data"),
    (dict(BOUNDS, random_state=0), "seeded generator"),
    (dict(BOUNDS, gamma=2.0), "environment levels taken from the data"),
    (dict(BOUNDS, gamma=1.0, causal_features="icp"), "environment levels taken"),
    (dict(BOUNDS, gamma=2.0, environment_levels=["a", "b"]), None),
    (dict(BOUNDS, gamma=1.0, causal_features="icp", environment_levels=["a"]), None),
    (dict(BOUNDS, gamma=1.0, causal_features="all"), None),
], ids=["private", "no-target-bound", "no-feature-bound", "seed", "gamma", "icp",
        "gamma-declared", "icp-declared", "pooled"])
def test_each_void_reason_alone(params, reason):
    """The parameters of a candidate (without gamma, as set_params may leave
    them: gamma defaults to 1)."""
    void = _void_guarantee(params)
    if reason is None:
        assert void is None
    else:
        assert reason in void


def test_a_seeded_candidate_makes_a_search_infinite():
    X, y = _search_data()
    search = GridSearchCV(DPCausalRegressor(**BOUNDS), {"random_state": [None, 0]},
                          cv=HashKFold(3), refit=False).fit(X, y)
    accountant = PrivacyAccountant().charge(search)
    assert accountant.get_epsilon(DELTA) == np.inf
    assert [text for text in accountant.uncovered_ if "candidate" in text] == [
        "candidate {'random_state': 0}: noise drawn from a seeded generator"]


def test_a_replace_one_search_with_kfold_is_charged_at_group_size_two():
    X, y = _search_data()
    search = GridSearchCV(DPCausalRegressor(**BOUNDS, neighbouring="replace_one"),
                          {"epsilon": [0.5, 2.0]}, cv=KFold(3)).fit(X, y)
    accountant = PrivacyAccountant(neighbouring="replace_one").charge(search)
    best = search.best_params_["epsilon"]
    multipliers = [_unit(0.5) / 2] * 3 + [_unit(2.0) / 2] * 3 + [_unit(best)]
    assert accountant.n_fits_ == 7
    assert accountant.get_epsilon(DELTA) == pytest.approx(_composed_epsilon(multipliers),
                                                          rel=2e-3)
    assert not any("candidate" in text or "splitter" in text
                   for text in accountant.uncovered_)


def test_a_candidate_for_another_relation_is_infinite_without_a_refit():
    X, y = _search_data()
    mixed = GridSearchCV(DPCausalRegressor(**BOUNDS, neighbouring="replace_one"),
                         {"neighbouring": ["add_remove", "replace_one"]}, cv=KFold(3),
                         refit=False).fit(X, y)
    accountant = PrivacyAccountant(neighbouring="replace_one").charge(mixed)
    assert accountant.get_epsilon(DELTA) == np.inf
    assert ("candidate {'neighbouring': 'add_remove'}: a candidate is calibrated for "
            "neighbouring='add_remove'") in accountant.uncovered_


def test_uncovered_names_what_is_not_covered_and_only_that():
    X, y = _search_data()
    hashed = GridSearchCV(DPCausalRegressor(**BOUNDS), {"epsilon": [1.0]},
                          cv=HashKFold(3)).fit(X, y)
    covered = PrivacyAccountant().charge(hashed)
    assert covered.uncovered_ == [
        "GridSearchCV's cv_results_ and its choice of best_params_ (scores on held-out "
        "rows without noise)"]
    shuffled = GridSearchCV(DPCausalRegressor(**BOUNDS), {"epsilon": [1.0]},
                            cv=KFold(3, shuffle=True, random_state=0), refit=False).fit(X, y)
    unbounded = PrivacyAccountant().charge(shuffled)
    assert unbounded.get_epsilon(DELTA) == np.inf
    assert any(text.startswith("the splitter KFold(") and "use HashKFold" in text
               for text in unbounded.uncovered_)
    assert any("without a refit" in text and "privacy_leaks_" in text
               for text in unbounded.uncovered_)
    plain = GridSearchCV(LinearRegression(), {"fit_intercept": [True]}, cv=KFold(3)).fit(X, y)
    none = PrivacyAccountant().charge(plain)
    assert none.get_epsilon(DELTA) == np.inf
    assert none.uncovered_ == ["LinearRegression is not a private estimator"]


class _Released(BaseEstimator):
    """A private estimator from elsewhere (duck-typed): epsilon_, delta_,
    is_private_, and no ``neighbouring`` parameter."""

    def __init__(self, epsilon=1.0, is_private=True):
        self.epsilon = epsilon
        self.is_private = is_private

    def fit(self, X=None, y=None):
        self.epsilon_, self.delta_, self.is_private_ = self.epsilon, DELTA, self.is_private
        return self


def test_a_fit_that_is_not_private_makes_the_total_infinite():
    assert PrivacyAccountant().charge(_Released(1.0).fit()).get_epsilon(DELTA) == pytest.approx(
        1.0, rel=2e-3)  # add/remove by default
    with pytest.raises(ValueError, match="calibrated for neighbouring='add_remove'"):
        PrivacyAccountant(neighbouring="replace_one").charge(_Released(1.0).fit())
    void = PrivacyAccountant().charge(_Released(1.0, is_private=False).fit())
    assert void.get_epsilon(DELTA) == np.inf
    X, y = _search_data()
    accountant = PrivacyAccountant().charge(LinearRegression().fit(X, y))
    assert accountant.get_epsilon(DELTA) == np.inf and accountant.n_fits_ == 1
    assert accountant.uncovered_ == ["LinearRegression is not a private estimator"]
    with pytest.raises(NotFittedError):
        PrivacyAccountant().charge(LinearRegression())
    with pytest.raises(NotFittedError, match="DPCausalRegressor"):
        PrivacyAccountant().charge(DPCausalRegressor(**BOUNDS))


class _Bare(BaseEstimator):
    """A fitted estimator from elsewhere with epsilon_ and delta_ only."""

    def fit(self, X=None, y=None):
        self.epsilon_, self.delta_ = 1.0, DELTA
        return self


def test_a_fit_without_is_private_is_taken_at_its_epsilon():
    accountant = PrivacyAccountant().charge(_Bare().fit())
    assert accountant.get_epsilon(DELTA) == pytest.approx(1.0, rel=2e-3)


@pytest.mark.parametrize("epsilon", [0.0, 0.5, 2.0])
def test_get_delta_is_the_analytic_gaussian_delta(epsilon):
    """Two fits at (1, 1e-6) are one Gaussian mechanism of noise multiplier
    m / sqrt(2); its delta at epsilon is Balle and Wang's (2018) closed form
    Phi(1 / (2 s) - epsilon s) - e^epsilon Phi(-1 / (2 s) - epsilon s)."""
    from scipy.stats import norm

    accountant = PrivacyAccountant().charge_gaussian(epsilon=1.0, delta=DELTA, count=2)
    s = _unit(1.0) / np.sqrt(2)
    expected = (norm.cdf(1 / (2 * s) - epsilon * s)
                - np.exp(epsilon) * norm.cdf(-1 / (2 * s) - epsilon * s))
    assert accountant.get_delta(epsilon) == pytest.approx(expected, rel=2e-2, abs=1e-9)


def test_hash_folds_of_numeric_ids_hash_the_ids_as_given():
    """Integer and float ids (groups) hash as str(id) of the values given,
    not of a common numpy dtype (7, not 7.0); the folds are numpy intp."""
    ids = [7, 8.5, 10, 11, 12, 13, 14, 15]
    expected = [int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(),
                               "little") % 2 for i in ids]
    cv = HashKFold(2)
    assert cv.fold_of(ids).dtype == np.intp
    tests = [test for _, test in cv.split(np.zeros((len(ids), 1)), groups=ids)]
    np.testing.assert_array_equal(tests[0], np.flatnonzero(np.array(expected) == 0))
    np.testing.assert_array_equal(tests[1], np.flatnonzero(np.array(expected) == 1))
    with pytest.raises(ValueError, match=r"HashKFold: groups repeats ids \['7'\]"):
        list(cv.split(np.zeros((2, 1)), groups=[7, 7]))
    frame = pd.DataFrame({"x": [0.0, 1.0]}, index=["a", "a"])
    with pytest.raises(ValueError, match=r"HashKFold: X's index repeats ids \['a'\]"):
        list(cv.split(frame))


@pytest.mark.parametrize("call,match", [
    (lambda: HashKFold(2.5), "n_splits must be an integer >= 2; got 2.5"),
    (lambda: HashKFold(True), "n_splits must be an integer >= 2; got True"),
    (lambda: HashKFold(2, salt=3), "salt must be a string; got 3"),
    (lambda: PrivacyAccountant(neighbouring="swap"),
     "neighbouring must be 'add_remove' or 'replace_one'; got 'swap'"),
    (lambda: PrivacyAccountant().charge_gaussian(epsilon=1.0, delta=DELTA, count=1.5),
     "count must be an integer >= 1; got 1.5"),
    (lambda: PrivacyAccountant().charge_gaussian(epsilon=1.0, delta=DELTA, group_size=1.5),
     "group_size must be an integer >= 1; got 1.5"),
    (lambda: PrivacyAccountant().charge_gaussian(epsilon=1.0, delta=DELTA, group_size=0),
     "group_size must be an integer >= 1; got 0"),
    (lambda: PrivacyAccountant().get_epsilon(1.0), r"delta must be in \(0, 1\); got 1.0"),
    (lambda: PrivacyAccountant().get_epsilon(1.5), r"delta must be in \(0, 1\); got 1.5"),
    (lambda: PrivacyAccountant().get_delta(-0.1), "epsilon must be >= 0; got -0.1"),
])
def test_bad_arguments_are_refused_by_name(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_accountant_keeps_its_parameters():
    accountant = PrivacyAccountant("rdp", "replace_one")
    assert (accountant.accounting, accountant.neighbouring) == ("rdp", "replace_one")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert accountant.get_epsilon(DELTA) == 0.0
