"""scikit-learn's estimator checks over every public estimator."""

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from skcausal_trust.exceptions import NoEnvironmentsWarning, NoSensitiveFeaturesWarning
from skcausal_trust.utils.discovery import all_estimators
from skcausal_trust.utils.estimator_checks import parametrize_with_plugin_checks

# Per-class expected failures, each with its reason.
EXPECTED_FAILED_CHECKS = {
    "DPCausalRegressor": {
        "check_regressors_train": (
            "the check wants training R^2 > 0.5 on ~200 rows; at the default "
            "epsilon=1 the privacy noise (on purpose) is too large for that"
        ),
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


ESTIMATORS = [cls() for _, cls in all_estimators()]


def test_discovery_finds_the_estimators():
    names = {name for name, _ in all_estimators()}
    assert {"CounterfactuallyFairClassifier", "CounterfactualResidualizer"} <= names


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    # The checks never pass sensitive features or environments: the
    # documented fallbacks warn.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoSensitiveFeaturesWarning)
        warnings.simplefilter("ignore", NoEnvironmentsWarning)
        check(estimator)


@parametrize_with_plugin_checks(ESTIMATORS)
def test_plugin_checks(estimator, check):
    # Sensitive features and environments on every route, bad values, weights.
    check(estimator)
