"""Every bad input to InvariantCausalPrediction is answered: a ValueError that
names the argument and the problem, or a correct result.

The catalogue: a constant target; predictors or target at extreme but finite
scales (1e-300, 1e300), where the tests are scale-invariant and must give
the unscaled p-values; too few rows; a multiclass integer target; NaN in the
environment column, which transform drops unread."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.invariance import InvariantCausalPrediction
from skcausal_trust.invariance._stats import EnvironmentStatistics


@pytest.fixture(scope="module")
def data():
    # 3 environments of 200 rows; parents x2, x3 among 6 predictors.
    # (A seed at which both tests select the parents.)
    X, y, env, parents = make_invariant_regression(200, 3, random_state=3)
    assert parents == ["x2", "x3"]
    return X, y, env, parents


def _fit_quietly(X, y, env, **params):
    """A fit that must not warn (no ModelRejectedWarning, no overflow)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return InvariantCausalPrediction(**params).fit(X, y, environments=env)


# --------------------------------------------------------------------------
# 1. A constant target
# --------------------------------------------------------------------------
@pytest.mark.parametrize("target_type", ["auto", "continuous", "binary"])
@pytest.mark.parametrize("value", [3.5, 0])
def test_constant_target_is_rejected_naming_y(data, target_type, value):
    X, y, env, _ = data
    with pytest.raises(ValueError, match=rf"^y is constant \(every value is {value}\): "
                                         "ICP tests whether the noise of y .* no noise "
                                         "to test"):
        InvariantCausalPrediction(target_type=target_type).fit(
            X, np.full(len(y), value), environments=env)


# --------------------------------------------------------------------------
# 2-4. Extreme but finite scales give the unscaled p-values
# --------------------------------------------------------------------------
@pytest.mark.parametrize("test", ["approximate", "exact"])
@pytest.mark.parametrize("x_scale, y_scale", [
    (1e-300, 1.0), (1e300, 1.0), (1.0, 1e300), (1.0, 1e-300), (1e-300, 1e-300),
    (1e300, 1e300), (1e-8, 1e8),
])
def test_pvalues_do_not_depend_on_the_scale_of_X_or_y(data, test, x_scale, y_scale):
    X, y, env, parents = data
    reference = _fit_quietly(X, y, env, test=test)
    assert list(reference.get_feature_names_out()) == parents
    scaled = _fit_quietly(X * x_scale, y * y_scale, env, test=test)
    assert scaled.subset_pvalues_.keys() == reference.subset_pvalues_.keys()
    subsets = list(reference.subset_pvalues_)
    assert_allclose([scaled.subset_pvalues_[s] for s in subsets],
                    [reference.subset_pvalues_[s] for s in subsets],
                    rtol=1e-8, atol=1e-12)
    assert_allclose(scaled.pvalues_, reference.pvalues_, rtol=1e-8, atol=1e-12)
    assert list(scaled.get_feature_names_out()) == parents
    assert not scaled.model_rejected_
    # The coefficients' intervals carry the units: y per X.
    assert_allclose(scaled.confidence_intervals_,
                    reference.confidence_intervals_ * (y_scale / x_scale), rtol=1e-8)


@pytest.mark.parametrize("x_scale", [1e-300, 1e-8, 1e8, 1e300])
def test_binary_target_pvalues_do_not_depend_on_the_scale_of_X(data, x_scale):
    X, y, env, _ = data
    X = X[["x1", "x2", "x3"]]
    binary = (y > np.median(y)).astype(int)
    reference = _fit_quietly(X, binary, env)
    scaled = _fit_quietly(X * x_scale, binary, env)
    subsets = list(reference.subset_pvalues_)
    # Up to the logistic fits' tolerance.
    assert_allclose([scaled.subset_pvalues_[s] for s in subsets],
                    [reference.subset_pvalues_[s] for s in subsets], rtol=1e-6)
    assert_array_equal(scaled.support_, reference.support_)


@pytest.mark.parametrize("x_scale, y_scale", [(1e-300, 1.0), (1e300, 1e-300)])
def test_lasso_screening_does_not_depend_on_the_scale_of_X_or_y(x_scale, y_scale):
    # 13 predictors, parents x5 and x6: one is screened out.
    X, y, env, parents = make_invariant_regression(
        200, 3, n_ancestors=5, n_parents=2, n_children=6, random_state=3)
    reference = _fit_quietly(X, y, env, screening="lasso")
    scaled = _fit_quietly(X * x_scale, y * y_scale, env, screening="lasso")
    assert len(reference.screened_features_) == 12
    assert scaled.screened_features_ == reference.screened_features_
    assert list(scaled.get_feature_names_out()) == parents
    assert_allclose(scaled.pvalues_, reference.pvalues_, rtol=1e-8, atol=1e-12)


def test_statistics_are_the_unscaled_ones_times_powers_of_two(data):
    """Power-of-two scaling is exact: the Gram matrices are bit for bit the
    centred data's, times 2**(k_i + k_j); so ordinary data keep the
    p-values they had before ICP scaled its statistics."""
    X, y, env, _ = data
    Xa = X.to_numpy()
    codes = np.unique(env, return_inverse=True)[1]
    unscaled = EnvironmentStatistics(Xa, y, codes, 3)
    scaled = EnvironmentStatistics(Xa, y, codes, 3, unit_scale=True)
    k = np.r_[0, scaled.x_exponents, scaled.y_exponent]
    assert (k[1:] != 0).all()  # the test exercises a scaling
    assert_array_equal(scaled.gram, np.ldexp(unscaled.gram, k[:, None] + k[None, :]))
    # Coefficients come back in the data's units.
    subset = np.array([[2, 3]])
    beta = scaled.pooled_fit(subset)[0][0, 1:]
    coef = np.ldexp(beta, scaled.coefficient_exponents(subset)[0])
    assert_allclose(coef, unscaled.pooled_fit(subset)[0][0, 1:], rtol=1e-12)
    assert_array_equal(unscaled.coefficient_exponents(subset), [[0, 0]])


# --------------------------------------------------------------------------
# 5. Too few rows
# --------------------------------------------------------------------------
def test_one_row_says_the_number_of_rows_is_too_small(data):
    X, y, env, _ = data
    with pytest.raises(ValueError, match=r"^X has 1 row \(n_samples=1\), too few for "
                                         r"InvariantCausalPrediction: it needs at least "
                                         r"two environments of at least 8 rows each "
                                         r"\(predictors \+ 2, with subsets of up to 6 "
                                         r"predictors\), so at least 16 rows\.$"):
        InvariantCausalPrediction().fit(X.iloc[:1], y[:1], environments=env[:1])


def test_the_row_requirement_follows_the_largest_subset(data):
    X, y, env, _ = data
    rows = np.r_[0:8, 200:207]  # 15 rows: one short of 2 x (6 + 2)
    with pytest.raises(ValueError, match=r"^X has 15 rows \(n_samples=15\), too few "
                                         r".* so at least 16 rows; bound "
                                         "max_subset_size"):
        InvariantCausalPrediction().fit(X.iloc[rows], y[rows], environments=env[rows])
    # Subsets of at most 5 predictors need 2 x 7 rows: these 15 are enough.
    icp = InvariantCausalPrediction(max_subset_size=5).fit(
        X.iloc[rows], y[rows], environments=env[rows])
    assert icp.n_subsets_tested_ == 2**6 - 1
    # The boundary: 16 rows, 8 per environment, test every subset.
    rows = np.r_[0:8, 200:208]
    icp = InvariantCausalPrediction().fit(X.iloc[rows], y[rows], environments=env[rows])
    assert icp.n_subsets_tested_ == 2**6


# --------------------------------------------------------------------------
# 6. A multiclass integer target
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def three_classes(data):
    X, y, env, _ = data
    return np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))  # 0, 1, 2


@pytest.mark.parametrize("dtype", [int, float])
def test_multiclass_integer_target_is_rejected_under_auto(data, three_classes, dtype):
    X, y, env, _ = data
    with pytest.raises(ValueError, match=r"^y must be continuous or binary with "
                                         r"target_type='auto'; got a multiclass target "
                                         r"\(3 classes: 0(\.0)?, 1(\.0)?, 2(\.0)?\): "
                                         r"InvariantCausalPrediction handles continuous "
                                         r"or binary targets; pass "
                                         r"target_type='continuous' to treat the integer "
                                         r"codes as numbers"):
        InvariantCausalPrediction().fit(X, three_classes.astype(dtype), environments=env)


def test_continuous_target_type_reads_integer_codes_as_numbers(data, three_classes):
    X, y, env, _ = data
    icp = InvariantCausalPrediction(target_type="continuous").fit(
        X, three_classes, environments=env)
    # The linear tests are invariant to an affine map of y, and 1.5 y + 0.25
    # is continuous for "auto": the same p-values.
    numbers = InvariantCausalPrediction().fit(X, 1.5 * three_classes + 0.25,
                                              environments=env)
    assert icp.n_subsets_tested_ == 2**6
    subsets = list(numbers.subset_pvalues_)
    assert_allclose([icp.subset_pvalues_[s] for s in subsets],
                    [numbers.subset_pvalues_[s] for s in subsets], rtol=1e-9)


# --------------------------------------------------------------------------
# 7. NaN in the environment column at transform
# --------------------------------------------------------------------------
@pytest.mark.parametrize("as_frame", [True, False])
@pytest.mark.parametrize("output", ["default", "pandas"])
def test_transform_ignores_nan_in_the_environment_column(data, as_frame, output):
    X, y, env, parents = data
    codes = np.unique(env, return_inverse=True)[1].astype(float)
    Xe = X.assign(env=codes) if as_frame else np.column_stack([X.to_numpy(), codes])
    icp = InvariantCausalPrediction(environment_column="env" if as_frame else 6)
    icp.set_output(transform=output).fit(Xe, y)
    assert list(icp.get_feature_names_out()) == parents
    expected = icp.transform(Xe)
    Xn = Xe.copy()
    if as_frame:
        Xn.loc[[3, 250], "env"] = np.nan
        Xn.loc[7, "x0"] = np.nan  # a predictor that is not selected
    else:
        Xn[[3, 250], 6] = np.nan
        Xn[7, 0] = np.nan
    out = icp.transform(Xn)
    assert_array_equal(np.asarray(out, dtype=float), X[parents].to_numpy())
    assert_array_equal(np.asarray(out, dtype=float), np.asarray(expected, dtype=float))
    if output == "pandas":
        assert list(out.columns) == parents
    # A selected column must still be finite.
    for value, message in [(np.nan, "Input X contains NaN"),
                           (np.inf, "Input X contains infinity")]:
        Xb = Xn.copy()
        if as_frame:
            Xb.loc[5, "x3"] = value
        else:
            Xb[5, 3] = value
        with pytest.raises(ValueError, match=message):
            icp.transform(Xb)


def test_transform_ignores_missing_text_environment_labels(data):
    X, y, env, parents = data
    icp = InvariantCausalPrediction(environment_column="site").fit(
        X.assign(site=env), y)
    Xn = X.assign(site=pd.Series(env, dtype=object))
    Xn.loc[[0, 400], "site"] = np.nan
    assert_array_equal(icp.transform(Xn), X[parents].to_numpy())
