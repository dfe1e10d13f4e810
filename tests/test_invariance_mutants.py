"""Tests that kill the numerical survivors of mutation testing of the
invariance estimators (issue 17, ``benchmarks/run_mutation.py --modules icp
invariance_stats anchor``).

Every expected value comes from an independent computation, never from an
earlier output of the code: for invariant causal prediction, each
environment's tests recomputed from the raw residuals of ``np.linalg.lstsq``
(Welch's t-test, the F-test of variances, Chow's test, normal z-tests),
coefficient intervals from least squares on the rows, the definitions of the
selection (the largest p-value of the subsets without a predictor, the
intersection of the subsets accepted above ``alpha``), a likelihood-ratio
test whose logistic fits are maximised by ``scipy.optimize``, and the first
predictor of a lasso path (the most correlated); for anchor regression, the
objective stated on the rows as a quadratic form (``I + (gamma - 1) P`` with
``P`` the projection on the anchors), solved by its normal equations, and the
subgradient conditions of the elastic net. The dask routes run on the
synchronous scheduler, in this process.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import optimize, sparse, stats

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.exceptions import ModelRejectedWarning, NoEnvironmentsWarning
from skcausal_trust.invariance import AnchorRegression, InvariantCausalPrediction
from skcausal_trust.invariance._stats import EnvironmentStatistics


# --------------------------------------------------------------------------
# Invariant causal prediction: intervals, selection and p-values
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def icp_data():
    # 4 environments of 150 rows; parents x2, x3 among 6 predictors, with
    # values well above 1 so that the statistics' powers of two are not 0.
    X, y, env, parents = make_invariant_regression(150, 4, random_state=0)
    return 3.0 * X, 5.0 * y, env, parents


def _ols_intervals(X, y, columns, alpha):
    """Normal intervals of the coefficients of y on [1, X_S] from the rows:
    beta +- z_{1 - alpha/4} * se, se from the residual variance with
    n - |S| - 1 degrees of freedom."""
    Z = np.column_stack([np.ones(len(y)), X[:, columns]])
    beta = np.linalg.lstsq(Z, y, rcond=None)[0]
    r = y - Z @ beta
    variance = r @ r / (len(y) - len(columns) - 1)
    se = np.sqrt(np.diag(variance * np.linalg.inv(Z.T @ Z)))[1:]
    z = stats.norm.ppf(1 - alpha / 4)
    return beta[1:] - z * se, beta[1:] + z * se


def _union_of_intervals(X, y, names, accepted, alpha):
    p = X.shape[1]
    lo, hi = np.full(p, np.inf), np.full(p, -np.inf)
    for subset in accepted:
        columns = [names.index(c) for c in subset]
        set_lo, set_hi = np.zeros(p), np.zeros(p)
        if columns:
            set_lo[columns], set_hi[columns] = _ols_intervals(X, y, columns, alpha)
        lo, hi = np.minimum(lo, set_lo), np.maximum(hi, set_hi)
    return np.column_stack([lo, hi])



def _raw_environment_pvalues(X, y, codes, columns, test):
    """Each environment's tests from the raw residuals, shape (E, 2) for the
    approximate test (Welch's t-test and the two-sided F-test of the pooled
    fit's residuals) and (E,) for Chow's test of the fit on the other
    environments."""
    Z = np.column_stack([np.ones(len(y)), X[:, columns]])
    r = y - Z @ np.linalg.lstsq(Z, y, rcond=None)[0]
    out = []
    for e in np.unique(codes):
        ie, io = codes == e, codes != e
        if test == "approximate":
            # Welch's t-test (as scipy.stats.ttest_ind(equal_var=False)).
            (m1, v1, n1), (m2, v2, n2) = [(r[i].mean(), np.var(r[i], ddof=1), i.sum())
                                          for i in (ie, io)]
            se1, se2 = v1 / n1, v2 / n2
            df = (se1 + se2) ** 2 / (se1**2 / (n1 - 1) + se2**2 / (n2 - 1))
            cdf = stats.f.cdf(v1 / v2, n1 - 1, n2 - 1)
            out.append([2 * stats.t.sf(abs(m1 - m2) / np.sqrt(se1 + se2), df),
                        2 * min(cdf, 1 - cdf)])
        else:
            b = np.linalg.lstsq(Z[io], y[io], rcond=None)[0]
            re, ro = y[ie] - Z[ie] @ b, y[io] - Z[io] @ b
            M = np.eye(ie.sum()) + Z[ie] @ np.linalg.solve(Z[io].T @ Z[io], Z[ie].T)
            dof = io.sum() - Z.shape[1]
            F = (re @ np.linalg.solve(M, re) / ie.sum()) / (ro @ ro / dof)
            out.append(stats.f.sf(F, ie.sum(), dof))
    return np.array(out)


def _raw_residual_pvalues(X, y, codes, columns, test):
    """A subset's p-value: the smallest of its environments' tests times
    their number (Bonferroni), at most 1."""
    raw = _raw_environment_pvalues(X, y, codes, columns, test)
    return min(1.0, raw.min() * raw.size)


@pytest.mark.parametrize("test", ["approximate", "exact"])
def test_icp_subset_pvalues_are_bonferroni_capped_at_one(icp_data, test):
    """Every subset's p-value is the smallest of its environments' tests
    times their number, at most 1 (four subsets reach the cap here)."""
    X, y, env, _ = icp_data
    icp = InvariantCausalPrediction(test=test).fit(X, y, environments=env)
    codes = np.unique(env, return_inverse=True)[1]
    names = list(X.columns)
    for subset, pvalue in icp.subset_pvalues_.items():
        expected = _raw_residual_pvalues(X.to_numpy(), y, codes,
                                         [names.index(c) for c in subset], test)
        assert pvalue == pytest.approx(expected, rel=1e-8, abs=1e-12), subset
    assert sum(pv == 1.0 for pv in icp.subset_pvalues_.values()) >= 2


@pytest.mark.parametrize("alpha", [0.05, 0.3])
def test_icp_intervals_are_the_union_of_ols_intervals_of_accepted_subsets(icp_data, alpha):
    X, y, env, _ = icp_data
    icp = InvariantCausalPrediction(alpha=alpha).fit(X, y, environments=env)
    names = list(X.columns)
    accepted = [s for s, pv in icp.subset_pvalues_.items() if pv > alpha]
    assert sorted(accepted, key=lambda s: (len(s), s)) == icp.accepted_subsets_
    assert () not in accepted and accepted  # intervals of nonempty subsets
    expected = _union_of_intervals(X.to_numpy(), y, names, accepted, alpha)
    assert_allclose(icp.confidence_intervals_, expected, rtol=1e-9, atol=1e-12)


def test_icp_intervals_beyond_the_float_range_are_infinite_without_warning(icp_data):
    """y at 1e300 on X at 1e-300: coefficients near 1e600 are +-inf (the
    signs of the intervals at scale 1), zeros stay 0, and nothing warns."""
    X, y, env, _ = icp_data
    at_one = InvariantCausalPrediction().fit(X, y, environments=env)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        icp = InvariantCausalPrediction().fit(X * 1e-300, y * 1e300, environments=env)
    assert icp.accepted_subsets_ == at_one.accepted_subsets_
    expected = _union_of_intervals(X.to_numpy(), y, list(X.columns),
                                   at_one.accepted_subsets_, 0.05)
    assert (expected != 0).any() and (expected == 0).any()
    with np.errstate(over="ignore"):
        expected = expected * 1e300 * 1e300
    assert_allclose(icp.confidence_intervals_, expected)



def _check_selection(icp, names, alpha):
    """pvalues_ and support_ from their definitions over subset_pvalues_."""
    accepted = [set(s) for s, pv in icp.subset_pvalues_.items() if pv > alpha]
    assert accepted
    selected = set.intersection(*accepted)
    for j, name in enumerate(names):
        without = [pv for s, pv in icp.subset_pvalues_.items() if name not in s]
        assert icp.pvalues_[j] == max(without), name
        assert icp.support_[j] == (name in selected), name


def test_icp_pvalues_and_support_follow_their_definitions(icp_data):
    X, y, env, parents = icp_data
    icp = InvariantCausalPrediction().fit(X, y, environments=env)
    _check_selection(icp, list(X.columns), 0.05)
    assert list(icp.get_feature_names_out()) == parents
    assert list(icp.environments_) == ["e0", "e1", "e2", "e3"]
    # transform: the selected columns, as an array for a DataFrame (default
    # output) and as a CSR matrix for one.
    out = icp.transform(X)
    assert type(out) is np.ndarray
    assert_allclose(out, X.to_numpy()[:, icp.support_])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no feature names
        sparse_out = icp.transform(sparse.csr_matrix(X.to_numpy()))
    assert sparse.issparse(sparse_out)
    assert_allclose(sparse_out.toarray(), X.to_numpy()[:, icp.support_])


def test_icp_accepts_a_subset_only_above_alpha(icp_data):
    """A subset whose p-value equals alpha is rejected (``pv > alpha``)."""
    X, y, env, _ = icp_data
    first = InvariantCausalPrediction().fit(X, y, environments=env)
    # The largest p-value below 1 of a nonempty subset: at alpha equal to it,
    # that subset is rejected.
    tie = max(pv for s, pv in first.subset_pvalues_.items() if s and pv < 1)
    subset = next(s for s, pv in first.subset_pvalues_.items() if pv == tie)
    icp = InvariantCausalPrediction(alpha=tie).fit(X, y, environments=env)
    assert icp.subset_pvalues_ == first.subset_pvalues_
    assert subset not in icp.accepted_subsets_
    assert icp.accepted_subsets_ == sorted(
        (s for s, pv in first.subset_pvalues_.items() if pv > tie),
        key=lambda s: (len(s), s))
    _check_selection(icp, list(X.columns), tie)


def _logistic_loglik_by_scipy(X, y):
    """The maximised log-likelihood of a logistic model with intercept, by
    BFGS on the negative log-likelihood (its supremum 0 for one class)."""
    if y.min() == y.max():
        return 0.0
    Z = np.column_stack([np.ones(len(y)), X])

    def loss(b):
        eta = Z @ b
        return np.sum(np.logaddexp(0.0, eta) - y * eta), Z.T @ (stats.logistic.cdf(eta) - y)

    b0 = np.zeros(Z.shape[1])
    b0[0] = np.log(y.mean() / (1 - y.mean()))
    fit = optimize.minimize(loss, b0, jac=True, method="BFGS", options={"gtol": 1e-10})
    return -fit.fun


def _binary_shifted():
    """Two predictors, x0 the cause of a 0/1 target, x1 shifted noise, in
    four environments; the third has no positive target, the fourth no
    negative one (constant models)."""
    rng = np.random.default_rng(7)
    env = np.repeat(["a", "b", "c", "d"], [160, 140, 40, 40])
    x0 = rng.normal(size=env.size) + np.select([env == "b", env == "c"], [1.0, -4.0], 0.0)
    x1 = rng.normal(size=env.size) + 0.5 * (env == "b")
    y = (rng.uniform(size=env.size) < 1 / (1 + np.exp(-(1.5 * x0 - 0.5)))).astype(float)
    y[env == "c"], y[env == "d"] = 0.0, 1.0
    return np.column_stack([10.0 * x0, x1]), y, env


def _binary_invariant():
    """Two environments with the same share of positives (the empty set's
    statistic is 0) and one predictor at 1e300 (the logistic fits see it
    standardised)."""
    rng = np.random.default_rng(8)
    env = np.repeat(["a", "b"], [100, 80])
    y = np.r_[np.arange(100) < 40, np.arange(80) < 32].astype(float)
    x = y + rng.normal(size=env.size)
    return 1e300 * x[:, None], y, env


@pytest.mark.parametrize("make", [_binary_shifted, _binary_invariant])
def test_icp_binary_pvalues_are_likelihood_ratio_tests(make):
    X, y, env = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        icp = InvariantCausalPrediction().fit(X, y, environments=env)
    levels = np.unique(env)
    X = X / np.abs(X).max(axis=0)  # the statistic does not depend on the units
    for subset, pvalue in icp.subset_pvalues_.items():
        columns = [int(c[1:]) for c in subset]
        pooled = _logistic_loglik_by_scipy(X[:, columns], y)
        split = sum(_logistic_loglik_by_scipy(X[env == e][:, columns], y[env == e])
                    for e in levels)
        df = (len(levels) - 1) * (len(columns) + 1)
        expected = stats.chi2.sf(max(2 * (split - pooled), 0.0), df)
        assert pvalue == pytest.approx(expected, rel=1e-5, abs=1e-12), subset
    assert np.isnan(icp.confidence_intervals_).all()


def test_icp_without_environments_reports_the_documented_fallback(icp_data):
    X, y, _, _ = icp_data
    with pytest.warns(NoEnvironmentsWarning):
        icp = InvariantCausalPrediction().fit(X, y)
    assert icp.support_.all() and icp.support_.dtype == bool
    assert icp.screened_features_ == list(X.columns)
    assert (icp.n_subsets_tested_, icp.subset_pvalues_, icp.accepted_subsets_) == (0, {}, [])
    assert icp.model_rejected_ is False and icp.environments_ is None
    assert icp.pvalues_.shape == (6,) and np.isnan(icp.pvalues_).all()
    assert icp.confidence_intervals_.shape == (6, 2)
    assert np.isnan(icp.confidence_intervals_).all()


def test_icp_lasso_screening_keeps_the_most_correlated_predictor_first():
    """The first predictor to enter the lasso path of standardised
    predictors is the one most correlated with y. Here x1 (values +-0.9)
    has the largest spread once the columns are brought to unit scale and
    x0 the largest correlation; the screened-out predictors get p-value 1
    and the interval [0, 0]."""
    rng = np.random.default_rng(3)
    env = np.repeat(["a", "b"], 100)
    X = np.column_stack([rng.normal(size=200), 0.9 * rng.choice([-1.0, 1.0], 200),
                         rng.normal(size=200)])
    y = X[:, 0] + X[:, 1] / 1.8 + 0.3 * rng.normal(size=200)
    correlations = [abs(np.corrcoef(x, y)[0, 1]) for x in X.T]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        icp = InvariantCausalPrediction(screening="lasso", max_predictors=1).fit(
            X, y, environments=env)
    first = int(np.argmax(correlations))
    assert icp.screened_features_ == [f"x{first}"] and icp.n_subsets_tested_ == 2
    out = [j for j in range(3) if j != first]
    assert (icp.pvalues_[out] == 1).all()
    if not icp.model_rejected_:
        assert (icp.confidence_intervals_[out] == 0).all()
        accepted = [s for s, pv in icp.subset_pvalues_.items() if pv > 0.05]
        expected = _union_of_intervals(X, y, [f"x{j}" for j in range(3)], accepted, 0.05)
        assert_allclose(icp.confidence_intervals_[first], expected[first], rtol=1e-9)


@pytest.mark.parametrize("max_predictors, coefficients, entering", [
    (1, [0.1, 3.0, 0.5, 2.0, 0.05, 1.0], [1, 3, 5, 2, 0, 4]),
    (3, [0.1, 3.0, 0.5, 2.0, 0.05, 1.0], [1, 3, 5, 2, 0, 4]),
    (5, [0.1, 3.0, 0.5, 2.0, 0.05, 1.0], [1, 3, 5, 2, 0, 4]),
    # x4 and x5 are orthogonal to y and never enter: they follow, by index.
    (5, [0.1, 3.0, 0.5, 2.0, 0.0, 0.0], [1, 3, 2, 0, 4, 5]),
])
def test_icp_lasso_screening_keeps_the_first_predictors_to_enter_the_path(
        max_predictors, coefficients, entering):
    """Orthogonal (centred) predictors on very different scales: the lasso
    path enters them in the order of |x_j' y| on the standardised columns,
    here the order of |coefficient|, not their index order. The first
    ``max_predictors`` to enter are screened."""
    rng = np.random.default_rng(21)
    n = 400
    M = rng.normal(size=(n, 6))
    Q, _ = np.linalg.qr(M - M.mean(axis=0))  # orthonormal columns, each orthogonal to 1
    y = Q @ np.array(coefficients)
    X = Q * np.array([1e3, 1.0, 1e-2, 7.0, 1e5, 0.3])
    assert np.allclose(Q.sum(axis=0), 0.0) and np.allclose(Q.T @ Q, np.eye(6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        icp = InvariantCausalPrediction(screening="lasso", max_predictors=max_predictors).fit(
            X, y, environments=np.repeat(["a", "b"], n // 2))
    assert icp.screened_features_ == [f"x{j}" for j in sorted(entering[:max_predictors])]


@pytest.mark.parametrize("test", ["approximate", "exact"])
def test_icp_on_a_dask_array_gives_the_raw_residual_tests(test):
    """The dask route (two passes over partitions, in this process) against
    the tests computed from the raw residuals (at scale 1: the tests do not
    depend on the units of X or y)."""
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    X, y, env, _ = make_invariant_regression(120, 3, n_ancestors=1, n_parents=1,
                                             n_children=1, random_state=5)
    X, y = 7.0 * X.to_numpy(), y / 3.0
    codes = np.unique(env, return_inverse=True)[1]
    with dask.config.set(scheduler="sync"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        if test == "approximate":  # arrays at extreme scales, routed labels
            icp = InvariantCausalPrediction(test=test, alpha=0.01).fit(
                da.from_array(X * 1e-300, chunks=(50, 3)), da.from_array(y * 1e300, chunks=50),
                environments=da.from_array(env.astype(object), chunks=50))
        else:  # a dataframe holding the labels, between the predictors
            dd = pytest.importorskip("dask.dataframe")
            frame = pd.DataFrame({"x0": X[:, 0], "env": env, "x1": X[:, 1],
                                  "x2": X[:, 2], "y": y})
            frame = dd.from_pandas(frame, npartitions=3)
            icp = InvariantCausalPrediction(test=test, alpha=0.01,
                                            environment_column="env").fit(
                frame[["x0", "env", "x1", "x2"]], frame["y"])
    intervals = icp.confidence_intervals_
    if test == "exact":  # the environment column: no p-value or interval
        assert np.isnan(icp.pvalues_[1]) and np.isnan(intervals[1]).all()
        intervals = np.delete(intervals, 1, axis=0)
    assert icp.n_subsets_tested_ == 8
    for subset, pvalue in icp.subset_pvalues_.items():
        columns = [int(c[1:]) for c in subset]
        expected = _raw_residual_pvalues(X, y, codes, columns, test)
        assert pvalue == pytest.approx(expected, rel=1e-8, abs=1e-12), subset
    accepted = [s for s, pv in icp.subset_pvalues_.items() if pv > 0.01]
    if accepted and test == "exact":
        expected = _union_of_intervals(X, y, ["x0", "x1", "x2"], accepted, 0.01)
        assert_allclose(intervals, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("route", ["environments", "environment_column"])
def test_icp_small_environment_error_lists_only_those_below_the_minimum(icp_data, route):
    """6 predictors need 8 rows per environment: e1 with 7 is named, e2 with
    exactly 8 is not; the error names where the labels came from."""
    X, y, env, _ = icp_data
    rows = np.r_[0:150, 150:157, 300:308, 450:600]
    assert [int((env[rows] == e).sum()) for e in ("e0", "e1", "e2", "e3")] == [150, 7, 8, 150]
    if route == "environments":
        icp, data, routed, source = InvariantCausalPrediction(), X.iloc[rows], env[rows], ""
    else:
        icp = InvariantCausalPrediction(environment_column="env")
        data, routed = X.iloc[rows].assign(env=env[rows]), None
        source = r"X\['env'\] \(environment_column\)"
    message = (rf"^{source or 'environments'}: environments \{{'e1': 7\}} have fewer "
               "than 8 rows")
    with pytest.raises(ValueError, match=message):
        icp.fit(data, y[rows], environments=routed)


def test_icp_row_requirements_follow_the_screened_number_of_predictors(icp_data):
    """With lasso screening to 2 of 6 predictors, 6 rows per environment
    are enough (2 + 2 needed); 4 rows in all are too few for 6 predictors,
    and the error suggests a subset bound."""
    X, y, env, _ = icp_data
    rows = np.r_[0:6, 150:156]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        icp = InvariantCausalPrediction(screening="lasso", max_predictors=2).fit(
            X.iloc[rows], y[rows], environments=env[rows])
    assert icp.n_subsets_tested_ == 4 and len(icp.screened_features_) == 2
    rows = np.r_[0:2, 150:152]
    with pytest.raises(ValueError, match=r"so at least 16 rows; bound max_subset_size to "
                                         r"test smaller subsets\.$"):
        InvariantCausalPrediction().fit(X.iloc[rows], y[rows], environments=env[rows])
    assert InvariantCausalPrediction(n_jobs=2).get_params()["n_jobs"] == 2



def test_icp_rejected_model_selects_nothing(icp_data):
    """Every subset rejected: nothing selected, p-values 1, NaN intervals."""
    X, y, env, _ = icp_data
    y = y + 30.0 * (env == "e2") * np.sign(y)  # the target's own mechanism shifts
    with pytest.warns(ModelRejectedWarning, match="rejected all 64 subsets"):
        icp = InvariantCausalPrediction().fit(X, y, environments=env)
    assert icp.model_rejected_ and not icp.support_.any() and icp.accepted_subsets_ == []
    assert (icp.pvalues_ == 1).all() and np.isnan(icp.confidence_intervals_).all()
    with pytest.warns(UserWarning, match="No features were selected"):
        assert icp.transform(X).shape == (len(y), 0)


def test_icp_searches_exhaustively_up_to_the_stated_number_of_subsets(icp_data):
    """max_predictors predictors are searched without screening, and a
    subset bound allowing exactly 2**max_predictors subsets is enough."""
    X, y, env, _ = icp_data
    icp = InvariantCausalPrediction(max_predictors=6).fit(X, y, environments=env)
    assert icp.n_subsets_tested_ == 2**6 and icp.screened_features_ == list(X.columns)
    # 3 predictors, subsets of at most 1: 1 + 3 = 2**2 subsets (all rejected).
    with pytest.warns(ModelRejectedWarning):
        icp = InvariantCausalPrediction(max_predictors=2, max_subset_size=1).fit(
            X.iloc[:, :3], y, environments=env)
    assert icp.n_subsets_tested_ == 4 and icp.screened_features_ == ["x0", "x1", "x2"]
    with pytest.raises(ValueError, match="tests 7 subsets"):
        InvariantCausalPrediction(max_predictors=2, max_subset_size=1).fit(
            X.iloc[:, :6], y, environments=env)


# --------------------------------------------------------------------------
# The statistics module: tests from Gram matrices released without centring
# --------------------------------------------------------------------------
def _uncentred_grams(X, y, codes):
    Z = np.column_stack([np.ones(len(y)), X, y])
    return np.stack([Z[codes == e].T @ Z[codes == e] for e in np.unique(codes)])


SUBSETS = np.array([[0, 1], [2, 3], [1, 4], [0, 5]])


def test_statistics_from_uncentred_grams_give_the_raw_residual_tests(icp_data):
    X, y, env, _ = icp_data
    X = X.to_numpy() + 50.0  # far from 0: the centring matters
    codes = np.unique(env, return_inverse=True)[1]
    statistics = EnvironmentStatistics.from_grams(_uncentred_grams(X, y, codes))
    assert_allclose(statistics.uncentred_mean, np.r_[X.mean(axis=0), y.mean()], rtol=1e-12)
    assert (statistics.coefficient_exponents(SUBSETS) == 0).all()  # data units
    # Without unit scaling the slopes are in the data's units (exponents 0).
    plain = EnvironmentStatistics(X, y, codes, 4)
    assert plain.x_exponents.shape == (6,) and not plain.x_exponents.any()
    assert (plain.coefficient_exponents(SUBSETS) == 0).all()
    for slopes, columns in zip(plain.pooled_fit(SUBSETS)[0][:, 1:], SUBSETS):
        Z = np.column_stack([np.ones(len(y)), X[:, columns]])
        assert_allclose(slopes, np.linalg.lstsq(Z, y, rcond=None)[0][1:], rtol=1e-9)
    beta, rss, _ = statistics.pooled_fit(SUBSETS)
    mean_p, var_p = statistics.approximate_pvalues(SUBSETS, beta)
    chow = statistics.chow_pvalues(SUBSETS)
    for m, columns in enumerate(SUBSETS):
        Z = np.column_stack([np.ones(len(y)), X[:, columns]])
        r = y - Z @ np.linalg.lstsq(Z, y, rcond=None)[0]
        assert rss[m] == pytest.approx(r @ r, rel=1e-8)
        raw = _raw_environment_pvalues(X, y, codes, columns, "approximate")
        assert_allclose(mean_p[:, m], raw[:, 0], rtol=1e-6, atol=1e-14)
        assert_allclose(var_p[:, m], raw[:, 1], rtol=1e-6, atol=1e-14)
        assert_allclose(chow[:, m], _raw_environment_pvalues(X, y, codes, columns, "exact"),
                        rtol=1e-6, atol=1e-14)


def test_noise_aware_tests_at_vanishing_noise_are_z_tests_of_the_residuals(icp_data):
    """With a release noise of 1e-9 (its simulated variance negligible), the
    noise-aware tests are z-tests of the difference of each environment's
    residual mean and variance from the others', with variances
    s2 (1/n_e + 1/n_o) and 2 s4 (1/(n_e - 1) + 1/(n_o - 1)), s2 the pooled
    residual variance."""
    X, y, env, _ = icp_data
    X = X.to_numpy()
    codes = np.unique(env, return_inverse=True)[1]
    statistics = EnvironmentStatistics.from_grams(_uncentred_grams(X, y, codes),
                                                  noise_scale=1e-9)
    beta, _, _ = statistics.pooled_fit(SUBSETS)
    mean_p, var_p = statistics.approximate_pvalues(SUBSETS, beta)
    for m, columns in enumerate(SUBSETS):
        Z = np.column_stack([np.ones(len(y)), X[:, columns]])
        r = y - Z @ np.linalg.lstsq(Z, y, rcond=None)[0]
        s2 = np.var(r, ddof=1)
        for e in range(4):
            ie, io = codes == e, codes != e
            n_e, n_o = ie.sum(), io.sum()
            z_mean = (r[ie].mean() - r[io].mean()) / np.sqrt(s2 * (1 / n_e + 1 / n_o))
            z_var = ((np.var(r[ie], ddof=1) - np.var(r[io], ddof=1))
                     / np.sqrt(2 * s2**2 * (1 / (n_e - 1) + 1 / (n_o - 1))))
            assert mean_p[e, m] == pytest.approx(2 * stats.norm.sf(abs(z_mean)), rel=1e-6)
            assert var_p[e, m] == pytest.approx(2 * stats.norm.sf(abs(z_var)), rel=1e-6)


def test_a_target_without_noise_cannot_reject_and_does_not_warn():
    """A constant y (exactly 0 once centred): every residual moment is 0,
    the tests are 0/0, and all of them return p-value 1 without a warning."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 2))
    codes = np.repeat([0, 1, 2], 30)
    statistics = EnvironmentStatistics(X, np.ones(90), codes, 3, unit_scale=True)
    subsets = np.array([[0], [1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        beta, rss, _ = statistics.pooled_fit(subsets)
        mean_p, var_p = statistics.approximate_pvalues(subsets, beta)
        chow = statistics.chow_pvalues(subsets)
    assert (rss == 0).all()
    assert (mean_p == 1).all() and (var_p == 1).all() and (chow == 1).all()


# --------------------------------------------------------------------------
# Anchor regression against the objective stated on the rows
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def anchor_data():
    """Three environments and one continuous anchor shift x0 and x1; a hidden
    confounder drives x0 and y; integer weights; columns far from unit
    scale (so that the working units are not 1)."""
    rng = np.random.default_rng(11)
    env = np.repeat(["a", "b", "c"], [90, 70, 80])
    shift = np.select([env == "b", env == "c"], [1.5, -2.0], 0.0)
    a = rng.normal(size=env.size)
    h = rng.normal(size=env.size)
    x0 = shift + a + h + rng.normal(size=env.size)
    x1 = -shift + 0.5 * a + rng.normal(size=env.size)
    x2 = rng.normal(size=env.size)
    y = 3.0 + 1.0 * x0 - 0.5 * x1 + 0.25 * x2 + 2.0 * h + rng.normal(size=env.size)
    X = np.column_stack([40.0 * x0, x1 / 8.0, x2])
    w = rng.integers(1, 4, size=env.size).astype(float)
    return X, 10.0 * y, env, a, w


def _anchor_quadratic(X, y, env, anchors, w, gamma, fit_intercept=True):
    """The design D, target t and matrix M of the anchor objective on the
    rows: (1 / 2 sum w) (t - D theta)' M (t - D theta), M = I + (gamma - 1) P
    with P the projection on the weighted anchors (centred with an
    intercept), theta = (intercept, coef) or coef."""
    root = np.sqrt(w)
    A = np.column_stack([np.zeros((len(y), 0)) if env is None else
                         (env[:, None] == np.unique(env)).astype(float), anchors])
    if fit_intercept:
        A = A - np.average(A, axis=0, weights=w)
    As = root[:, None] * A
    P = As @ np.linalg.pinv(As)
    M = np.eye(len(y)) + (gamma - 1.0) * P
    D = root[:, None] * (np.column_stack([np.ones(len(y)), X]) if fit_intercept else X)
    return D, root * y, M


def _anchor_by_normal_equations(X, y, env, anchors, w, gamma, ridge=0.0, fit_intercept=True):
    D, t, M = _anchor_quadratic(X, y, env, anchors, w, gamma, fit_intercept)
    n_eff = w.sum()
    penalty = np.eye(D.shape[1]) * ridge
    if fit_intercept:
        penalty[0, 0] = 0.0
    theta = np.linalg.solve(D.T @ M @ D / n_eff + penalty, D.T @ M @ t / n_eff)
    return (theta[1:], theta[0]) if fit_intercept else (theta, 0.0)


def _anchor_objective(X, y, env, anchors, w, gamma, coef, intercept, alpha=0.0,
                      l1_ratio=0.0, fit_intercept=True):
    D, t, M = _anchor_quadratic(X, y, env, anchors, w, gamma, fit_intercept)
    theta = np.r_[intercept, coef] if fit_intercept else coef
    r = t - D @ theta
    return (r @ M @ r / (2 * w.sum())
            + alpha * (l1_ratio * np.abs(coef).sum() + (1 - l1_ratio) / 2 * coef @ coef))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 4.0])
def test_anchor_least_squares_solves_the_normal_equations(anchor_data, gamma,
                                                          fit_intercept):
    # Without an intercept the anchors (environment indicators and a
    # continuous anchor away from 0) are projected on as given, not centred.
    X, y, env, a, w = anchor_data
    fit = AnchorRegression(gamma=gamma, fit_intercept=fit_intercept).fit(
        X, y, environments=env, anchors=a, sample_weight=w)
    coef, intercept = _anchor_by_normal_equations(X, y, env, a, w, gamma,
                                                  fit_intercept=fit_intercept)
    assert_allclose(fit.coef_, coef, rtol=1e-9)
    assert fit.intercept_ == pytest.approx(intercept, rel=1e-9, abs=0.0)
    assert fit.objective_ == pytest.approx(
        _anchor_objective(X, y, env, a, w, gamma, coef, intercept,
                          fit_intercept=fit_intercept), rel=1e-9)
    assert_allclose(fit.predict(X), X @ coef + intercept, rtol=1e-9)
    assert (fit.solver_, fit.solver_status_, fit.n_iter_, fit.n_anchors_) == (
        "lstsq", "optimal", 1, 4)


def test_anchor_with_continuous_anchors_only_centres_them(anchor_data):
    """Without environments the constant is not in the anchors' span: with
    an intercept the projection is on the centred anchors."""
    X, y, _, a, w = anchor_data
    fit = AnchorRegression(gamma=4.0).fit(X, y, anchors=np.column_stack([a, a**2]),
                                          sample_weight=w)
    A = np.column_stack([a, a**2])
    coef, intercept = _anchor_by_normal_equations(X, y, None, A, w, 4.0)
    assert_allclose(fit.coef_, coef, rtol=1e-9)
    assert fit.intercept_ == pytest.approx(intercept, rel=1e-9)
    assert fit.objective_ == pytest.approx(
        _anchor_objective(X, y, None, A, w, 4.0, coef, intercept), rel=1e-9)
    assert fit.n_anchors_ == 2 and fit.environments_ is None


def test_anchor_objective_at_extreme_target_scales(anchor_data):
    """The objective is in squared units of y: 1e304 times that at scale 1
    for y at 1e152 (its squares' sum beyond the float range on the way),
    inf for y at 1e200, and no overflow warning."""
    X, y, env, a, w = anchor_data
    at_one = AnchorRegression(gamma=4.0).fit(X, y, environments=env, anchors=a,
                                             sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        large = AnchorRegression(gamma=4.0).fit(X, y * 1e152, environments=env, anchors=a,
                                                sample_weight=w)
        huge = AnchorRegression(gamma=4.0).fit(X, y * 1e200, environments=env, anchors=a,
                                               sample_weight=w)
    assert large.objective_ == pytest.approx(at_one.objective_ * 1e304, rel=1e-9)
    assert huge.objective_ == np.inf
    assert_allclose(huge.coef_, at_one.coef_ * 1e200, rtol=1e-9)
    # Without a penalty, l1_ratio is unused: y at 1e200 is fitted all the same.
    unused = AnchorRegression(gamma=4.0, l1_ratio=0.5).fit(
        X, y * 1e200, environments=env, anchors=a, sample_weight=w)
    assert_allclose(unused.coef_, at_one.coef_ * 1e200, rtol=1e-9)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_anchor_solution_does_not_depend_on_the_scale_of_the_anchors(anchor_data, scale):
    """The anchors enter through the projection on their span: a continuous
    anchor at 1e200 or 1e-200 next to the environments' indicators gives
    the solution of the normal equations at scale 1."""
    X, y, env, a, w = anchor_data
    coef, intercept = _anchor_by_normal_equations(X, y, env, a, w, 4.0)
    for alpha in (0.0, 0.3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # objective_: see below
            fit = AnchorRegression(gamma=4.0, alpha=alpha).fit(
                X, y, environments=env, anchors=a * scale, sample_weight=w)
        reference = AnchorRegression(gamma=4.0, alpha=alpha).fit(
            X, y, environments=env, anchors=a, sample_weight=w)
        assert_allclose(fit.coef_, reference.coef_, rtol=1e-9)
        assert fit.intercept_ == pytest.approx(reference.intercept_, rel=1e-9)
    assert_allclose(reference.coef_, _anchor_by_normal_equations(
        X, y, env, a, w, 4.0, ridge=0.3)[0], rtol=1e-9)


@pytest.mark.parametrize("scale", [1e-6, 1e6, 1e-200, 1e200])
def test_anchor_objective_does_not_depend_on_the_scale_of_the_anchors(anchor_data, scale):
    """objective_ projects on the anchors in working units: before, pinv's
    relative cutoff dropped an anchor 1e5 times smaller or larger than the
    environments' indicators (objective 259.8 or 268.6 for 269.6), and
    1e200 overflowed."""
    X, y, env, a, w = anchor_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow on the way
        fit = AnchorRegression(gamma=4.0).fit(X, y, environments=env, anchors=a * scale,
                                              sample_weight=w)
    assert fit.objective_ == pytest.approx(_anchor_objective(
        X, y, env, a, w, 4.0, fit.coef_, fit.intercept_), rel=1e-9)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_anchor_ridge_solves_the_penalised_normal_equations(anchor_data, fit_intercept):
    X, y, env, a, w = anchor_data
    alpha, gamma = 0.3, 2.5
    fit = AnchorRegression(gamma=gamma, alpha=alpha, fit_intercept=fit_intercept).fit(
        X, y, environments=env, anchors=a, sample_weight=w)
    coef, intercept = _anchor_by_normal_equations(X, y, env, a, w, gamma, ridge=alpha,
                                                  fit_intercept=fit_intercept)
    assert_allclose(fit.coef_, coef, rtol=1e-9)
    assert fit.intercept_ == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    assert fit.objective_ == pytest.approx(_anchor_objective(
        X, y, env, a, w, gamma, coef, intercept, alpha, 0.0, fit_intercept), rel=1e-9)
    assert (fit.solver_, fit.solver_status_, fit.n_iter_) == ("ridge", "optimal", 1)


def test_anchor_elastic_net_meets_the_optimality_conditions(anchor_data):
    """Subgradient conditions of the objective on the rows at the solution:
    the smooth part's gradient is -alpha * rho * sign(b_j) where b_j != 0,
    at most alpha * rho in magnitude where b_j = 0, and 0 for the
    intercept."""
    X, y, env, a, w = anchor_data
    alpha, l1_ratio, gamma = 4.0, 0.6, 3.0
    Xl = np.column_stack([X, np.random.default_rng(2).normal(size=len(y))])  # a null column
    fit = AnchorRegression(gamma=gamma, alpha=alpha, l1_ratio=l1_ratio).fit(
        Xl, y, environments=env, anchors=a, sample_weight=w)
    D, t, M = _anchor_quadratic(Xl, y, env, a, w, gamma)
    theta = np.r_[fit.intercept_, fit.coef_]
    grad = -D.T @ M @ (t - D @ theta) / w.sum()
    grad[1:] += alpha * (1 - l1_ratio) * fit.coef_
    scale = np.abs(D.T @ M @ t / w.sum()).max()
    assert abs(grad[0]) < 1e-7 * scale
    active = fit.coef_ != 0
    assert active.sum() >= 2 and not active.all()
    assert_allclose(grad[1:][active], -alpha * l1_ratio * np.sign(fit.coef_[active]),
                    atol=1e-7 * scale)
    assert (np.abs(grad[1:][~active]) <= alpha * l1_ratio * (1 + 1e-7)).all()
    assert fit.objective_ == pytest.approx(_anchor_objective(
        Xl, y, env, a, w, gamma, fit.coef_, fit.intercept_, alpha, l1_ratio), rel=1e-12)
    assert fit.solver_ == "elasticnet" and fit.solver_status_ == "converged"
    assert 1 < fit.n_iter_ < 100_000


def test_anchor_elastic_net_reports_the_iteration_limit(anchor_data):
    X, y, env, a, w = anchor_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's ConvergenceWarning
        fit = AnchorRegression(alpha=0.4, l1_ratio=0.6, max_iter=1).fit(
            X, y, environments=env)
    assert (fit.n_iter_, fit.solver_status_) == (1, "max_iter reached")


@pytest.mark.parametrize("anchored", ["environments", "continuous", False])
def test_anchor_cvxpy_without_intercept_or_anchors_solves_the_normal_equations(
        anchor_data, anchored):
    """The reference solver without an intercept (anchors not centred, and
    the constant not added to their span: a continuous anchor away from 0
    alone does not span it), and without anchors (least squares, with the
    warning)."""
    X, y, env, a, w = anchor_data
    gamma, alpha = 2.5, 0.3
    est = AnchorRegression(gamma=gamma, alpha=alpha, fit_intercept=not anchored,
                           solver="cvxpy")
    if anchored:
        env = env if anchored == "environments" else None
        a = a if anchored == "environments" else a + 2.0
        fit = est.fit(X, y, environments=env, anchors=a, sample_weight=w)
        coef, intercept = _anchor_by_normal_equations(X, y, env, a, w, gamma, ridge=alpha,
                                                      fit_intercept=False)
    else:
        with pytest.warns(NoEnvironmentsWarning):
            fit = est.fit(X, y, sample_weight=w)
        # Without anchors the objective is weighted ridge regression
        # (gamma=1 on any anchors is the same program).
        coef, intercept = _anchor_by_normal_equations(X, y, env, a, w, 1.0, ridge=alpha)
    assert_allclose(fit.coef_, coef, rtol=1e-6)
    assert fit.intercept_ == pytest.approx(intercept, rel=1e-6, abs=1e-9)
    assert fit.solver_status_ == "optimal" and fit.n_iter_ > 1


def test_anchor_on_a_dask_dataframe_solves_the_normal_equations(anchor_data):
    """The dask route (two passes over partitions, in this process) with the
    labels and the continuous anchor as columns and the weights as a
    column, and its lazy predict."""
    dd = pytest.importorskip("dask.dataframe")
    dask = pytest.importorskip("dask")
    X, y, env, a, w = anchor_data
    frame = pd.DataFrame({"x0": X[:, 0], "env": env, "x1": X[:, 1], "a": a,
                          "x2": X[:, 2], "y": y, "w": w})
    frame = dd.from_pandas(frame, npartitions=3)
    columns = ["x0", "env", "x1", "a", "x2"]
    with dask.config.set(scheduler="sync"):
        fit = AnchorRegression(gamma=4.0, environment_column="env", anchor_columns=["a"]).fit(
            frame[columns], frame["y"], sample_weight=frame["w"])
        prediction = fit.predict(frame[columns])
        assert isinstance(prediction, dd.Series)
        prediction = prediction.compute().to_numpy()
    coef, intercept = _anchor_by_normal_equations(X, y, env, a, w, 4.0)
    assert_allclose(fit.coef_, coef, rtol=1e-9)
    assert fit.intercept_ == pytest.approx(intercept, rel=1e-9)
    assert fit.objective_ == pytest.approx(
        _anchor_objective(X, y, env, a, w, 4.0, coef, intercept), rel=1e-9)
    assert_allclose(prediction, X @ coef + intercept, rtol=1e-9)
    assert fit.n_anchors_ == 4 and list(fit.environments_) == ["a", "b", "c"]


def test_documented_default_parameters():
    assert AnchorRegression().get_params() == {
        "gamma": 5.0, "alpha": 0.0, "l1_ratio": 0.0, "fit_intercept": True,
        "environment_column": None, "anchor_columns": None, "solver": "auto",
        "tol": 1e-10, "max_iter": 100_000}
    assert InvariantCausalPrediction().get_params() == {
        "alpha": 0.05, "test": "approximate", "max_subset_size": None,
        "max_predictors": 12, "screening": None, "environment_column": None,
        "target_type": "auto", "n_jobs": None}


def test_penalised_anchor_accepts_magnitudes_at_the_stated_bounds(anchor_data):
    """With a penalty, a predictor whose largest magnitude is exactly 2**400
    or 2**-400 is fitted (the range is closed), and so is a zero column
    (its coefficient 0)."""
    X, y, env, a, w = anchor_data
    unit = X[:, 2] / np.abs(X[:, 2]).max()
    for bound in (2.0**400, 2.0**-400):
        Xb = np.column_stack([X[:, :2], unit * bound, np.zeros(len(y))])
        assert np.abs(Xb[:, 2]).max() == bound
        fit = AnchorRegression(gamma=2.0, alpha=0.3).fit(Xb, y, environments=env)
        assert np.isfinite(fit.coef_).all() and fit.coef_[3] == 0
    with pytest.raises(ValueError, match="has values of magnitude"):
        AnchorRegression(gamma=2.0, alpha=0.3).fit(
            np.column_stack([X[:, :2], unit * 2.0**401]), y, environments=env)
