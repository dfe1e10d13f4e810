"""Invariant causal prediction and anchor regression against brute force,
ground truth from simulated SCMs, and the cvxpy reference."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.exceptions import ModelRejectedWarning
from skcausal_trust.invariance import (
    AnchorRegression,
    InvariantCausalPrediction,
    make_worst_environment_scorer,
    worst_fold_refit,
)
from skcausal_trust.invariance._stats import EnvironmentStatistics


def _brute_force_pvalues(X, y, codes, subset, test):
    """Each environment's tests from raw residuals (scipy), no shortcuts."""
    Z = np.column_stack([np.ones(len(y)), X[:, list(subset)]])
    pooled = np.linalg.lstsq(Z, y, rcond=None)[0]
    r = y - Z @ pooled
    out = []
    for e in np.unique(codes):
        ie, io = codes == e, codes != e
        if test == "approximate":
            t = stats.ttest_ind(r[ie], r[io], equal_var=False).pvalue
            ratio = np.var(r[ie], ddof=1) / np.var(r[io], ddof=1)
            cdf = stats.f.cdf(ratio, ie.sum() - 1, io.sum() - 1)
            out += [t, 2 * min(cdf, 1 - cdf)]
        else:
            b = np.linalg.lstsq(Z[io], y[io], rcond=None)[0]
            re, ro = y[ie] - Z[ie] @ b, y[io] - Z[io] @ b
            M = np.eye(ie.sum()) + Z[ie] @ np.linalg.solve(Z[io].T @ Z[io], Z[ie].T)
            F = (re @ np.linalg.solve(M, re) / ie.sum()) / (ro @ ro / (io.sum() - Z.shape[1]))
            out.append(stats.f.sf(F, ie.sum(), io.sum() - Z.shape[1]))
    return np.array(out)


@pytest.mark.parametrize("test", ["approximate", "exact"])
def test_subset_pvalues_equal_brute_force_from_raw_residuals(test):
    X, y, env, _ = make_invariant_regression(200, 3, random_state=1)
    icp = InvariantCausalPrediction(test=test).fit(X, y, environments=env)
    codes = np.unique(env, return_inverse=True)[1]
    names = list(X.columns)
    n_env = 3
    factor = 2 * n_env if test == "approximate" else n_env
    for subset, pvalue in icp.subset_pvalues_.items():
        raw = _brute_force_pvalues(X.to_numpy(), y, codes, [names.index(s) for s in subset], test)
        expected = min(1.0, raw.min() * factor)
        assert pvalue == pytest.approx(expected, abs=1e-10), subset
    assert icp.n_subsets_tested_ == 2**6


def test_selects_the_parents_and_reports_intervals_and_pvalues():
    X, y, env, parents = make_invariant_regression(1000, 4, random_state=0)
    icp = InvariantCausalPrediction().fit(X, y, environments=env)
    assert list(icp.get_feature_names_out()) == parents
    assert not icp.model_rejected_
    # Parents have small p-values; the others 1 (accepted sets lack them).
    is_parent = X.columns.isin(parents)
    assert (icp.pvalues_[is_parent] < 0.05).all()
    assert (icp.pvalues_[~is_parent] > 0.05).all()
    lo, hi = icp.confidence_intervals_.T
    # Intervals of the parents exclude 0 and contain the pooled OLS
    # coefficient on the parents (the causal effect).
    ols = LinearRegression().fit(X[parents], y).coef_
    assert ((lo[is_parent] > 0) | (hi[is_parent] < 0)).all()
    assert ((lo[is_parent] <= ols) & (ols <= hi[is_parent])).all()


@pytest.mark.slow
def test_level_over_200_simulated_datasets():
    """P(selected set contains a non-parent) <= alpha, up to Monte Carlo error."""
    alpha, n_sims = 0.05, 200
    errors = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        for seed in range(n_sims):
            X, y, env, parents = make_invariant_regression(
                100, 3, n_ancestors=1, n_parents=2, n_children=2,
                intervention_strength=0.5, random_state=seed,
            )
            icp = InvariantCausalPrediction(alpha=alpha).fit(X, y, environments=env)
            errors += not set(icp.get_feature_names_out()) <= set(parents)
    # Binomial(200, 0.05) exceeds 17 with probability < 0.5%.
    assert errors / n_sims <= alpha + 2.6 * np.sqrt(alpha * (1 - alpha) / n_sims)


@pytest.mark.slow
def test_power_grows_with_intervention_strength():
    found = {}
    for strength in (0.1, 0.5, 2.0):
        hits = 0
        for seed in range(40):
            X, y, env, parents = make_invariant_regression(
                200, 3, intervention_strength=strength, random_state=seed
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ModelRejectedWarning)
                icp = InvariantCausalPrediction().fit(X, y, environments=env)
            hits += list(icp.get_feature_names_out()) == parents
        found[strength] = hits / 40
    assert found[0.1] < found[0.5] < found[2.0]
    assert found[2.0] >= 0.8


def test_intervening_on_the_target_rejects_the_model():
    X, y, env, _ = make_invariant_regression(500, 3, random_state=2)
    y = y + 3.0 * (env == "e2")  # the target's own mechanism shifts
    y = y * np.where(env == "e1", 3.0, 1.0)
    with pytest.warns(ModelRejectedWarning, match="rejected all 64 subsets"):
        icp = InvariantCausalPrediction().fit(X, y, environments=env)
    assert icp.model_rejected_ and not icp.support_.any()
    assert (icp.pvalues_ == 1).all() and np.isnan(icp.confidence_intervals_).all()


def test_binary_target_selects_within_the_parents():
    rng = np.random.default_rng(3)
    env = np.repeat(["a", "b", "c"], 800)
    shift = {"a": 0.0, "b": 1.5, "c": -1.5}
    x0 = rng.normal(size=env.size) + np.array([shift[e] for e in env])
    x1 = rng.normal(size=env.size)
    logit = 2.0 * x0 - 1.0
    y = (rng.uniform(size=env.size) < 1 / (1 + np.exp(-logit))).astype(int)
    x2 = y + 0.5 * rng.normal(size=env.size) + np.array([shift[e] for e in env])
    X = pd.DataFrame({"x0": x0, "x1": x1, "x2": x2})
    icp = InvariantCausalPrediction().fit(X, y, environments=env)
    assert set(icp.get_feature_names_out()) <= {"x0"}
    assert icp.subset_pvalues_[("x0",)] > 0.05
    assert icp.subset_pvalues_[("x2",)] < 0.05


def test_lasso_screening_keeps_the_parents_among_many_predictors():
    # 14 predictors, 8 kept. (With as many children of y as kept predictors,
    # the children can crowd a parent out: screening's known limitation.)
    X, y, env, parents = make_invariant_regression(
        500, 3, n_ancestors=9, n_parents=2, n_children=3, random_state=4
    )
    icp = InvariantCausalPrediction(screening="lasso", max_predictors=8).fit(
        X, y, environments=env
    )
    assert len(icp.screened_features_) == 8
    assert set(parents) <= set(icp.screened_features_)
    assert list(icp.get_feature_names_out()) == parents
    assert icp.n_subsets_tested_ == 2**8
    screened_out = ~X.columns.isin(icp.screened_features_)
    assert (icp.pvalues_[screened_out] == 1).all()


def test_sufficient_statistics_match_raw_residual_moments():
    X, y, env, _ = make_invariant_regression(50, 3, random_state=5)
    codes = np.unique(env, return_inverse=True)[1]
    stats_ = EnvironmentStatistics(X.to_numpy(), y, codes, 3)
    subsets = np.array([[0, 2], [1, 4]])
    beta, rss, _ = stats_.pooled_fit(subsets)
    s1, s2 = stats_.residual_moments(subsets, beta)
    Xc, yc = X.to_numpy() - X.to_numpy().mean(0), y - y.mean()
    for m, s in enumerate(subsets):
        r = yc - np.column_stack([np.ones(len(y)), Xc[:, s]]) @ beta[m]
        assert rss[m] == pytest.approx(r @ r, rel=1e-10)
        for e in range(3):
            assert s1[e, m] == pytest.approx(r[codes == e].sum(), abs=1e-9)
            assert s2[e, m] == pytest.approx((r[codes == e] ** 2).sum(), rel=1e-10)


# -- anchor regression -------------------------------------------------------

def _shifted(n_per_env, shifts, rng):
    """Anchors shift X; a hidden confounder h drives x1 and y."""
    blocks = []
    for e, a in enumerate(shifts):
        h = rng.normal(size=n_per_env)
        x1 = a + h + rng.normal(size=n_per_env)
        x2 = -a + rng.normal(size=n_per_env)
        y = 1.0 * x1 - 0.5 * x2 + 2.0 * h + rng.normal(size=n_per_env)
        blocks.append(pd.DataFrame({"x1": x1, "x2": x2, "y": y, "env": f"e{e}"}))
    return pd.concat(blocks, ignore_index=True)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 7.0])
@pytest.mark.parametrize("alpha,l1_ratio", [(0.0, 0.0), (0.2, 0.0), (0.05, 0.7)])
def test_anchor_closed_form_equals_cvxpy(gamma, alpha, l1_ratio):
    rng = np.random.default_rng(0)
    data = _shifted(150, [-1.0, 0.0, 1.5], rng)
    w = rng.uniform(0.5, 2.0, len(data))
    fits = [
        AnchorRegression(gamma=gamma, alpha=alpha, l1_ratio=l1_ratio, solver=s).fit(
            data[["x1", "x2"]], data["y"], environments=data["env"], sample_weight=w
        )
        for s in ("closed_form", "cvxpy")
    ]
    # Stated tolerance 1e-7 (measured 1e-9 or better).
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, atol=1e-7)
    assert fits[0].intercept_ == pytest.approx(fits[1].intercept_, abs=1e-7)
    assert fits[0].objective_ == pytest.approx(fits[1].objective_, rel=1e-9)


def test_anchor_gamma_one_is_ols_and_gamma_zero_partials_out():
    rng = np.random.default_rng(1)
    data = _shifted(200, [-1.0, 0.5, 2.0], rng)
    X, y, env = data[["x1", "x2"]], data["y"], data["env"]
    ols = LinearRegression().fit(X, y)
    ar1 = AnchorRegression(gamma=1.0).fit(X, y, environments=env)
    np.testing.assert_allclose(ar1.coef_, ols.coef_, atol=1e-10)
    dummies = pd.get_dummies(env, dtype=float)
    resid = lambda v: v - LinearRegression().fit(dummies, v).predict(dummies)  # noqa: E731
    partial = LinearRegression().fit(np.column_stack([resid(X[c]) for c in X]), resid(y))
    ar0 = AnchorRegression(gamma=0.0).fit(X, y, environments=env)
    np.testing.assert_allclose(ar0.coef_, partial.coef_, atol=1e-10)


def test_worst_environment_tuning_beats_ols_under_a_stronger_shift():
    rng = np.random.default_rng(2)
    train = _shifted(300, [-1.0, 0.0, 1.0, 2.0], rng)
    test = _shifted(300, [6.0, -5.0], rng)  # shifts outside the training range
    X, y, env = train[["x1", "x2"]], train["y"], train["env"]
    search = GridSearchCV(
        AnchorRegression(environment_column="env"),
        {"gamma": [0.0, 1.0, 2.0, 5.0, 20.0, 100.0]},
        cv=LeaveOneGroupOut(),
        scoring="neg_mean_squared_error",
        refit=worst_fold_refit(),
    )
    search.fit(train[["x1", "x2", "env"]], y, groups=env)
    chosen = search.best_params_["gamma"]
    ols = LinearRegression().fit(X, y)
    worst = make_worst_environment_scorer()
    test_X = test[["x1", "x2", "env"]]
    anchor_worst = -worst(search.best_estimator_, test_X, test["y"],
                          environments=test["env"])
    ols_worst = max(
        np.mean((test["y"][test["env"] == e] - ols.predict(test[["x1", "x2"]][test["env"] == e])) ** 2)
        for e in test["env"].unique()
    )
    assert chosen > 1.0
    assert anchor_worst < 0.8 * ols_worst
    # The pooled (mean) cross-validated error would have preferred OLS-like
    # gammas: the worst fold is what picks robustness.
    mean_choice = search.cv_results_["params"][
        int(np.argmax(search.cv_results_["mean_test_score"]))]["gamma"]
    assert mean_choice <= chosen


# -- real data: Sachs et al. (2005) ------------------------------------------

def _sachs_log():
    from skcausal_trust.datasets import load_sachs

    bunch = load_sachs()
    data = bunch.data.copy()
    proteins = [c for c in data.columns if c != "experiment"]
    data[proteins] = np.log(data[proteins])
    return data, proteins, bunch.consensus_edges


def test_sachs_erk_under_pka_activation_selects_a_consensus_parent():
    """Target p44/42 (Erk); environments: the observational conditions pooled
    against b2camp, which activates PKA (a parent) without touching Erk's own
    mechanism. ICP selects {PKA}: a consensus parent, and nothing else."""
    data, proteins, edges = _sachs_log()
    observational = ["cd3cd28", "cd3cd28icam2"]
    sub = data[data["experiment"].isin(observational + ["b2camp"])]
    env = np.where(sub["experiment"].isin(observational), "observational", "b2camp")
    X = sub[[p for p in proteins if p != "p44/42"]]
    icp = InvariantCausalPrediction().fit(X, sub["p44/42"], environments=env)
    consensus = set(edges.loc[edges["effect"] == "p44/42", "cause"])
    assert list(icp.get_feature_names_out()) == ["PKA"]
    assert set(icp.get_feature_names_out()) <= consensus


def test_sachs_all_nine_conditions_reject_the_linear_model():
    """U0126 inhibits Mek's activity: an intervention on Erk's mechanism, so
    no set is invariant over all nine conditions; ICP says so."""
    data, proteins, _ = _sachs_log()
    X = data[[p for p in proteins if p != "p44/42"]]
    with pytest.warns(ModelRejectedWarning):
        icp = InvariantCausalPrediction().fit(
            X, data["p44/42"], environments=data["experiment"]
        )
    assert icp.model_rejected_ and icp.get_feature_names_out().size == 0
    assert max(icp.subset_pvalues_.values()) < 1e-10


@pytest.fixture(params=["numpy", "compiled"])
def gram_route(request, monkeypatch):
    """environment_grams' two routes for interleaved labels: numpy's gather
    (numba made unavailable) and the compiled counting sort at any number of
    rows (skipped without numba)."""
    from skcausal_trust.invariance import _stats

    if request.param == "numpy":
        monkeypatch.setattr(_stats, "row_sorter", lambda: None)
    else:
        pytest.importorskip("numba")
        assert _stats.row_sorter() is not None
        monkeypatch.setattr(_stats, "COMPILED_MIN_ROWS", 0)
    return request.param


@pytest.mark.parametrize("labels", ["interleaved", "sorted"])
@pytest.mark.parametrize("n", [0, 1, 16_384, 40_001])
@pytest.mark.parametrize("order", ["C", "F", "strided", "int", "float32"])
def test_environment_grams_equal_each_environments_own_product(n, order, labels, gram_route):
    """Block by block (blocks of 16384 rows), any memory order (C rows are
    gathered or sorted directly, other layouts through a copy of the
    block), rows interleaved or stored by environment (runs multiplied in
    place, across block boundaries), an environment without rows, with and
    without numba: each environment's Gram matrix."""
    from skcausal_trust.invariance._stats import environment_grams

    rng = np.random.default_rng(n)
    Z = rng.standard_normal((n, 8)) + 10.0
    if order in ("int", "float32"):  # C-ordered, not float64: through the copy
        Z = np.ascontiguousarray(Z[:, :4]).astype(np.int64 if order == "int" else np.float32)
    else:
        Z = Z[:, ::2] if order == "strided" else np.asarray(Z[:, :4], order=order)
        assert Z.flags.c_contiguous == (order == "C") or n <= 1
    codes = rng.integers(0, 3, n)  # environment 3 has no rows
    if labels == "sorted":
        codes = np.sort(codes)[::-1]  # environment 2 first
    grams = environment_grams(Z, codes, 4)
    for e in range(4):
        rows = Z[codes == e].astype(float)
        np.testing.assert_allclose(grams[e], rows.T @ rows, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("extra", [0, 1])
def test_environment_grams_multiply_few_runs_in_place(monkeypatch, order, extra, gram_route):
    """A block whose labels change at most MAX_GRAM_RUNS times is multiplied
    run by run, without gathering or sorting (neither np.take nor the
    compiled sort is called); one change more and the rows are gathered
    (numpy) or sorted (numba), never both. Each gives each environment's
    product."""
    from skcausal_trust.invariance import _stats

    rng = np.random.default_rng(5)
    n = _stats.GRAM_BLOCK_ROWS
    changes = _stats.MAX_GRAM_RUNS + extra
    Z = np.asarray(rng.standard_normal((n, 3)), order=order)
    # changes + 1 runs cycling over 3 environments, of unequal lengths.
    cuts = np.sort(rng.choice(np.arange(1, n), changes, replace=False))
    codes = np.repeat(np.arange(changes + 1) % 3, np.diff([0, *cuts, n]))
    assert np.count_nonzero(np.diff(codes)) == changes
    calls = {"take": 0, "sort": 0}
    real_take, real_sorter = np.take, _stats.row_sorter()

    def spy_take(*args, **kwargs):
        calls["take"] += 1
        return real_take(*args, **kwargs)

    def spy_sort(*args):
        calls["sort"] += 1
        return real_sorter(*args)

    monkeypatch.setattr(_stats.np, "take", spy_take)
    if real_sorter is not None:
        monkeypatch.setattr(_stats, "row_sorter", lambda: spy_sort)
    grams = _stats.environment_grams(Z, codes, 3)
    monkeypatch.undo()
    gathered = "take" if gram_route == "numpy" else "sort"
    assert bool(calls[gathered]) == bool(extra)
    assert calls["take" if gathered == "sort" else "sort"] == 0
    for e in range(3):
        rows = Z[codes == e]
        np.testing.assert_allclose(grams[e], rows.T @ rows, rtol=1e-13)


@pytest.mark.parametrize("threshold, sorted_", [(1000, True), (1001, False)])
def test_environment_grams_sort_from_compiled_min_rows(monkeypatch, threshold, sorted_):
    """The compiled sort is used from COMPILED_MIN_ROWS rows on (below,
    numba is not even imported): 1000 interleaved rows are sorted at a
    threshold of 1000 and gathered at 1001; the same Gram matrices."""
    from skcausal_trust.invariance import _stats

    calls = []
    monkeypatch.setattr(_stats, "row_sorter", lambda: calls.append(1) or _sort_by_numpy)
    monkeypatch.setattr(_stats, "COMPILED_MIN_ROWS", threshold)
    rng = np.random.default_rng(1)
    Z, codes = rng.standard_normal((1000, 3)), rng.integers(0, 2, 1000)
    grams = _stats.environment_grams(Z, codes, 2)
    assert bool(calls) == sorted_
    for e in range(2):
        np.testing.assert_allclose(grams[e], Z[codes == e].T @ Z[codes == e], rtol=1e-13)


def _sort_by_numpy(Z, codes, out, starts):
    """The compiled sort's contract written with numpy (a stand-in that needs
    no numba)."""
    order = np.argsort(codes, kind="stable")
    out[:] = Z[order]
    starts[:] = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=starts.size - 1))])
