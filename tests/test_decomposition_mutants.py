"""The causal fairness decomposition (``skcausal_trust/decomposition/
_decomposition.py``) pinned against independent computations, written to
kill the mutants that the statistical tests of ``test_decomposition.py`` and
``test_decomposition_guarantees.py`` let through (issue 17).

The key device: nuisance models that are *known functions* (``fit`` does
nothing), so that cross-fitting changes nothing and the one-step estimates,
their influence functions, standard errors, intervals and overlap
diagnostics are closed-form functions of the data, written out here from
their definitions (Plecko and Bareinboim 2024; Kish's effective sample
size) and compared to machine precision. The nuisance functions are
deliberately sharp so that clipping is active at both bounds.

Groups:

* the one-step formula, influence functions, standard errors, intervals,
  diagnostics (with a third level of X left out, reversed levels, boolean
  and binary outcomes, y_pred);
* the overlap rule at its boundaries, Kish's ESS, the warning, the
  ``overlap_ok`` flags;
* the fold-level fallbacks (no confounders, one outcome class in the
  training folds), ``_predict_outcome``;
* the bootstrap, recomputed from the resampled rows it drew;
* defaults (folds, clip, confidence, default nuisance models), levels,
  column roles, input validation at its boundaries;
* the direct-effect scorer.
"""

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.dummy import DummyClassifier

from skcausal_trust.decomposition import (
    CausalFairnessDecomposition,
    _decomposition,
    causal_fairness_decomposition,
    make_direct_effect_scorer,
)
from skcausal_trust.exceptions import PositivityWarning

MEASURES = ("TV", "DE", "IE", "SE")


# -- known nuisance models ------------------------------------------------------


class _KnownRegressor(RegressorMixin, BaseEstimator):
    """A regression function known in advance: ``fit`` learns nothing."""

    def __init__(self, fn=None):
        self.fn = fn

    def fit(self, X, y):
        self.n_rows_ = len(X)
        return self

    def predict(self, X):
        return np.asarray(self.fn(X), dtype=float)


class _KnownClassifier(ClassifierMixin, BaseEstimator):
    """P(class 1 | .) known in advance; ``classes_`` from ``fit``."""

    def __init__(self, fn=None):
        self.fn = fn

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        p = np.asarray(self.fn(X), dtype=float)
        return np.column_stack([1 - p, p])


# Outcome regressions at X = x1 (the design's "__x1" column is the x1
# indicator; the estimator sets it to 1 when predicting).
def _mu_z(X):
    return 3.0 * X["__x1"] + 2.0 * X["z"] - 0.5


def _mu_zw(X):
    return X["__x1"] + 2.0 * X["w"] + X["z"] + 0.25


# Sharp propensities: clipped at both bounds for many rows.
def _e_z(X):
    return expit(4.0 * X["z"])


def _e_zw(X):
    return expit(3.0 * (X["w"] - 0.5))


def _outcome(fn_z=_mu_z, fn_zw=_mu_zw):
    return _KnownRegressor(lambda X: fn_zw(X) if "w" in X.columns else fn_z(X))


def _propensity(fn_z=_e_z, fn_zw=_e_zw):
    return _KnownClassifier(lambda X: fn_zw(X) if "w" in X.columns else fn_z(X))


def _sfm(n, seed, third=0):
    """Standard fairness model z -> x, (x, z) -> w, (x, z, w) -> y, with
    ``third`` rows of a third level X = 2 whose outcome is absurd (1000)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    x = (rng.uniform(size=n) < expit(z)).astype(int)
    w = x + 0.5 * z + rng.normal(size=n)
    y = x + 2.0 * w + z + rng.normal(size=n)
    data = pd.DataFrame({"x": x, "z": z, "w": w, "y": y})
    if third:
        extra = pd.DataFrame({"x": 2, "z": rng.normal(size=third),
                              "w": rng.normal(size=third), "y": 1000.0})
        data = pd.concat([data, extra], ignore_index=True)
    return data


# -- the one-step estimator written out ------------------------------------------


def _one_step(y, i1, mu_c, mu_b, e_c, e_b, clip):
    """Estimates, influence functions and standard errors of the one-step
    estimator from its definition: with ``n0``, ``n1`` the group sizes and
    the odds ``(1 - e) / e`` of the clipped propensities,

    A = mean of y over x0,  D = mean of y over x1,
    C = [sum_x0 mu_c + sum_x1 odds_c (y - mu_c)] / n0      (E[y_x1 | x0]),
    B = [sum_x0 mu_b + sum_x1 odds_b (y - mu_b)] / n0      (E[y_{x1,W_x0} | x0]),

    TV = D - A, DE = B - A, IE = B - C, SE = C - D; each ratio's influence
    function is (its summand minus the ratio on its group's rows) / P(group),
    the standard error the sample standard deviation of the combination
    over sqrt(n)."""
    y = np.asarray(y, dtype=float)
    i0 = ~i1
    n, n0, n1 = len(y), int(i0.sum()), int(i1.sum())
    odds_c = (1 - np.clip(e_c, clip, 1 - clip)) / np.clip(e_c, clip, 1 - clip)
    odds_b = (1 - np.clip(e_b, clip, 1 - clip)) / np.clip(e_b, clip, 1 - clip)
    A = sum(y[i] for i in range(n) if i0[i]) / n0
    D = sum(y[i] for i in range(n) if i1[i]) / n1
    C = (sum(mu_c[i0]) + sum((odds_c * (y - mu_c))[i1])) / n0
    B = (sum(mu_b[i0]) + sum((odds_b * (y - mu_b))[i1])) / n0
    psi = {
        "A": np.where(i0, y - A, 0.0) * n / n0,
        "D": np.where(i1, y - D, 0.0) * n / n1,
        "C": np.where(i0, mu_c - C, odds_c * (y - mu_c)) * n / n0,
        "B": np.where(i0, mu_b - B, odds_b * (y - mu_b)) * n / n0,
    }
    est = {"TV": D - A, "DE": B - A, "IE": B - C, "SE": C - D}
    inf = {"TV": psi["D"] - psi["A"], "DE": psi["B"] - psi["A"],
           "IE": psi["B"] - psi["C"], "SE": psi["C"] - psi["D"]}
    se = {m: np.sqrt(np.sum((f - f.mean()) ** 2) / (n - 1) / n) for m, f in inf.items()}
    return est, inf, se


def _kish(e_raw, i1, clip):
    """Overlap diagnostics written out: clipping shares of the raw
    propensities (strictly outside [clip, 1 - clip]) and Kish's effective
    sample size of the x1 rows' odds weights of the clipped propensities."""
    e = np.minimum(np.maximum(e_raw, clip), 1 - clip)
    w = np.array([(1 - e[i]) / e[i] for i in range(len(e)) if i1[i]])
    ess = w.sum() ** 2 / (w**2).sum()
    low = np.count_nonzero(e_raw < clip) / len(e_raw)
    high = np.count_nonzero(e_raw > 1 - clip) / len(e_raw)
    frac = ess / len(w)
    return {"share_clipped": low + high, "share_clipped_low": low,
            "min_propensity": min(e_raw), "effective_sample_size": ess,
            "n_weighted": len(w), "ess_fraction": frac,
            "overlap_ok": bool(low <= 0.05 and frac >= 0.05)}


def _at_x1(frame):
    return frame.assign(__x1=1.0)


def _check_against_formula(res, frame, y, i1, clip, confidence, fns=None):
    fn_mu_z, fn_mu_zw, fn_e_z, fn_e_zw = fns or (_mu_z, _mu_zw, _e_z, _e_zw)
    mu_c = np.asarray(fn_mu_z(_at_x1(frame)), dtype=float)
    mu_b = np.asarray(fn_mu_zw(_at_x1(frame)), dtype=float)
    e_c = np.asarray(fn_e_z(frame), dtype=float)
    e_b = np.asarray(fn_e_zw(frame), dtype=float)
    est, inf, se = _one_step(y, i1, mu_c, mu_b, e_c, e_b, clip)
    assert res.n_samples == len(y)
    assert list(res.influence.columns) == list(MEASURES)
    for m in MEASURES:
        assert res.estimates[m] == pytest.approx(est[m], rel=1e-10, abs=1e-12), m
        assert res.standard_errors[m] == pytest.approx(se[m], rel=1e-10), m
        np.testing.assert_allclose(res.influence[m].to_numpy(), inf[m],
                                   rtol=1e-9, atol=1e-9)
    # Intervals of to_frame: estimate -/+ the normal quantile times the SE.
    q = NormalDist().inv_cdf(0.5 + confidence / 2)
    table = res.to_frame()
    assert list(table.columns) == ["measure", "estimate", "std_error", "ci_lower",
                                   "ci_upper", "label", "x0", "x1", "overlap_ok"]
    assert (table["x0"] == res.x0).all() and (table["x1"] == res.x1).all()
    assert (table["label"] == res.label).all()
    table = table.set_index("measure")
    assert list(table.index) == list(MEASURES)
    for m in MEASURES:
        assert table.loc[m, "estimate"] == res.estimates[m]
        assert table.loc[m, "std_error"] == res.standard_errors[m]
        assert table.loc[m, "ci_lower"] == pytest.approx(est[m] - q * se[m], rel=1e-9)
        assert table.loc[m, "ci_upper"] == pytest.approx(est[m] + q * se[m], rel=1e-9)
    assert res.confidence == confidence
    # Overlap diagnostics of P(x1 | Z) then P(x1 | Z, W).
    diag = res.diagnostics
    assert list(diag["propensity"]) == ["P(x1 | Z)", "P(x1 | Z, W)"]
    assert list(diag["measures"]) == ["IE, SE", "DE, IE"]
    for row, e_raw in zip(range(2), (e_c, e_b)):
        for key, value in _kish(e_raw, i1, clip).items():
            got = diag.iloc[row][key]
            if isinstance(value, bool):
                assert bool(got) is value, (row, key)
            else:
                assert got == pytest.approx(value, rel=1e-10, abs=1e-15), (row, key)
    return est, se


# -- 1. the estimator against its formula -----------------------------------------


@pytest.mark.parametrize("levels,clip,confidence", [
    ((0, 1), 0.05, 0.9),
    ((1, 0), 0.1, 0.8),
    ((0, 1), 0.0, 0.95),
])
def test_estimates_ses_intervals_and_diagnostics_match_the_one_step_formula(
        levels, clip, confidence):
    # Rows shuffled: the index is not 0..n-1 (results keep the data's index).
    data = _sfm(300, seed=1, third=25).sample(frac=1.0, random_state=0)
    x0, x1 = levels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        res = causal_fairness_decomposition(
            data, "x", "z", ["w"], "y", x0=x0, x1=x1, outcome_model=_outcome(),
            propensity_model=_propensity(), n_folds=3, propensity_clip=clip,
            confidence=confidence, random_state=0)
    keep = data["x"].isin([0, 1]).to_numpy()
    frame = data[keep]
    i1 = (frame["x"] == x1).to_numpy()
    assert (res.x0, res.x1) == (x0, x1)
    assert list(res.influence.index) == list(frame.index)
    # Clipping is active at both bounds among the x1 rows.
    e = _e_z(frame).to_numpy()[i1]
    assert clip == 0 or ((e < clip).any() and (e > 1 - clip).any())
    _check_against_formula(res, frame, frame["y"].to_numpy(), i1, clip, confidence)


def test_boolean_and_binary_outcomes_and_y_pred_use_the_same_formula():
    data = _sfm(200, seed=2)
    data["flag"] = data["y"] > 1.0  # boolean outcome
    frame, i1 = data, data["x"].to_numpy() == 1
    fns = (lambda X: 0.2 + 0.5 * X["__x1"] * expit(X["z"]),
           lambda X: 0.1 + 0.6 * X["__x1"] * expit(X["w"]), _e_z, _e_zw)
    known = dict(outcome_model=_KnownClassifier(
        lambda X: fns[1](X) if "w" in X.columns else fns[0](X)),
        propensity_model=_propensity(), propensity_clip=0.05, n_folds=2,
        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        res = causal_fairness_decomposition(data, "x", "z", "w", "flag", **known)
        y = data["flag"].to_numpy(dtype=float)
        _check_against_formula(res, frame, y, i1, 0.05, 0.95, fns)
        assert res.label == "outcome"
        # The same values as 0/1 integers, and as y_pred (no Y column).
        data["flag01"] = data["flag"].astype(int)
        res01 = causal_fairness_decomposition(data, "x", "z", "w", "flag01", **known)
        assert res01.estimates == res.estimates
        pred = causal_fairness_decomposition(data.drop(columns="y"), "x", "z", "w",
                                             y_pred=list(data["flag01"]), **known)
        assert pred.label == "predictions"
        assert pred.estimates == res.estimates
        named = causal_fairness_decomposition(data, "x", "z", "w", "flag", label="mine",
                                              **known)
        assert named.label == "mine"


def test_a_numeric_categorical_outcome_is_its_numbers():
    data = _sfm(120, seed=3)
    data["yc"] = pd.Categorical(np.round(data["y"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PositivityWarning)
        res = causal_fairness_decomposition(
            data, "x", "z", "w", "yc", outcome_model=_outcome(),
            propensity_model=_propensity(), propensity_clip=0.05, n_folds=2)
    _check_against_formula(res, data, np.round(data["y"]).to_numpy(),
                           data["x"].to_numpy() == 1, 0.05, 0.95)


# -- 2. the overlap rule ---------------------------------------------------------


def test_overlap_rule_at_its_boundaries():
    overlap = _decomposition._overlap
    # 100 rows, 50 of them x1 with e = 0.5 (weights 1, full ESS); 5 x0 rows
    # clipped low: exactly the 5% the rule allows.
    i1 = np.arange(100) < 50
    e = np.full(100, 0.5)
    e[95:] = 0.001
    out = overlap(e, i1, 0.01)
    assert out["share_clipped_low"] == 0.05 and out["overlap_ok"] is True
    assert out["effective_sample_size"] == pytest.approx(50) and out["n_weighted"] == 50
    e[94] = 0.001  # 6%
    assert overlap(e, i1, 0.01)["overlap_ok"] is False
    # Clipping at the upper bound does not count.
    e = np.full(100, 0.5)
    e[50:] = 0.999
    out = overlap(e, i1, 0.01)
    assert out["share_clipped"] == 0.5 and out["share_clipped_low"] == 0
    assert out["overlap_ok"] is True
    # A propensity exactly at a bound is inside [clip, 1 - clip]: not clipped.
    e = np.array([0.25, 0.75, 0.1, 0.9, 0.5, 0.5])
    out = overlap(e, np.array([True, True, True, True, False, False]), 0.25)
    assert out["share_clipped"] == pytest.approx(2 / 6)
    assert out["share_clipped_low"] == pytest.approx(1 / 6)
    assert out["min_propensity"] == 0.1
    # ESS exactly 5% of the x1 rows passes: 20 x1 rows, one weight 1, the
    # others 0 (propensity 1, clip 0) -- ESS 1 of 20.
    i1 = np.arange(40) < 20
    e = np.full(40, 0.5)
    e[1:20] = 1.0
    out = overlap(e, i1, 0.0)
    assert out["effective_sample_size"] == 1.0 and out["ess_fraction"] == 0.05
    assert out["overlap_ok"] is True
    i1 = np.arange(42) < 21  # 1 of 21
    e = np.full(42, 0.5)
    e[1:21] = 1.0
    assert overlap(e, i1, 0.0)["overlap_ok"] is False
    # Either failure alone fails the rule (and, not or).
    e = np.full(40, 0.5)
    e[1:20] = 1.0
    e[20:] = 0.001
    assert overlap(e, np.arange(40) < 20, 0.0)["overlap_ok"] is True  # clip 0
    assert overlap(e, np.arange(40) < 20, 0.01)["overlap_ok"] is False


def test_a_zero_propensity_on_an_x1_row_gives_zero_ess_silently():
    i1 = np.arange(40) < 20
    e = np.full(40, 0.5)
    e[3] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _decomposition._overlap(e, i1, 0.0)
    assert out["effective_sample_size"] == 0.0 and out["ess_fraction"] == 0.0
    assert out["overlap_ok"] is False and out["min_propensity"] == 0.0


def _flags(first_ok, second_ok):
    diagnostics = pd.DataFrame({"propensity": ["P(x1 | Z)", "P(x1 | Z, W)"],
                                "measures": ["IE, SE", "DE, IE"],
                                "overlap_ok": [first_ok, second_ok]})
    res = CausalFairnessDecomposition(
        estimates=dict.fromkeys(MEASURES, 0.0), standard_errors=dict.fromkeys(MEASURES, 1.0),
        confidence=0.95, x0=0, x1=1, n_samples=10, influence=None,
        diagnostics=diagnostics)
    return res.overlap_ok, list(res.to_frame()["overlap_ok"])


def test_overlap_flags_mark_the_measures_of_a_failed_model():
    assert _flags(True, True)[0] == dict.fromkeys(MEASURES, True)
    assert _flags(False, True) == (
        {"TV": True, "DE": True, "IE": False, "SE": False}, [True, True, False, False])
    assert _flags(True, False)[0] == {"TV": True, "DE": False, "IE": False, "SE": True}
    res = CausalFairnessDecomposition(
        estimates=dict.fromkeys(MEASURES, 0.0), standard_errors=dict.fromkeys(MEASURES, 1.0),
        confidence=0.95, x0=0, x1=1, n_samples=10, influence=None)
    assert res.overlap_ok == dict.fromkeys(MEASURES, True)


def test_a_failed_overlap_warns_and_a_passed_one_does_not():
    data = _sfm(200, seed=4)
    kw = dict(outcome_model=_outcome(), n_folds=2, random_state=0)
    with pytest.warns(PositivityWarning, match=(
            r"^overlap \(positivity\) fails in the decomposition of 'outcome' between "
            r"X='x' levels x0=0 \(reference\) and x1=1: P\(x1 \| Z, W\) \(used by DE, "
            r"IE\): .* below propensity_clip=0.01 .*estimates of DE, IE and their "
            r"intervals")):
        res = causal_fairness_decomposition(
            data, "x", "z", "w", "y",
            propensity_model=_propensity(fn_z=lambda X: expit(X["z"]),
                                         fn_zw=lambda X: expit(40 * X["w"])), **kw)
    assert list(res.diagnostics["overlap_ok"]) == [True, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PositivityWarning)
        res = causal_fairness_decomposition(
            data, "x", "z", "w", "y", propensity_model=_propensity(
                fn_z=lambda X: expit(X["z"]), fn_zw=lambda X: expit(0.5 * X["w"])), **kw)
    assert list(res.diagnostics["overlap_ok"]) == [True, True]


# -- 3. the fold-level fallbacks -----------------------------------------------------


def test_without_confounders_the_propensity_is_the_training_folds_share_of_x1():
    data = _sfm(92, seed=5)
    mu_z = lambda X: 2.0 * X["__x1"] + 0.5  # noqa: E731
    mu_zw = lambda X: X["__x1"] + 2.0 * X["w"] + 0.25  # noqa: E731
    res = causal_fairness_decomposition(
        data, "x", (), "w", "y", outcome_model=_outcome(fn_z=mu_z, fn_zw=mu_zw),
        propensity_model=_propensity(fn_zw=lambda X: expit(X["w"])), n_folds=3,
        random_state=1)
    i1 = data["x"].to_numpy() == 1
    share = {k: i1[res.folds != k].mean() for k in range(3)}
    e_z = np.array([share[k] for k in res.folds])
    assert len(set(share.values())) > 1  # the folds' shares differ
    fns = (mu_z, mu_zw, lambda X: e_z, lambda X: expit(X["w"]))
    _check_against_formula(res, data, data["y"].to_numpy(), i1, 0.01, 0.95, fns)


def test_one_outcome_class_in_the_training_folds_predicts_its_mean():
    """A 0/1 outcome with a single 1: the fold that holds it is fitted on
    zeros only, and its rows get the training mean (0) instead of a fit."""
    data = _sfm(60, seed=6)
    data["b"] = 0
    data.loc[data.index[data["x"] == 1][0], "b"] = 1
    fn = lambda X: 0.3 + 0.4 * X["__x1"] * expit(X["z"])  # noqa: E731
    res = causal_fairness_decomposition(
        data, "x", "z", "w", "b", outcome_model=_KnownClassifier(fn),
        propensity_model=_propensity(fn_z=lambda X: expit(X["z"]),
                                     fn_zw=lambda X: expit(X["w"])),
        n_folds=3, random_state=2)
    y = data["b"].to_numpy(dtype=float)
    lone = res.folds[y == 1][0]
    mu = np.where(res.folds == lone, 0.0, fn(_at_x1(data)))
    fns = (lambda X: mu, lambda X: mu, lambda X: expit(X["z"]), lambda X: expit(X["w"]))
    _check_against_formula(res, data, y, data["x"].to_numpy() == 1, 0.01, 0.95, fns)


def test_a_constant_continuous_outcome_is_still_fitted():
    data = _sfm(60, seed=7)
    data["c"] = 3.0
    res = causal_fairness_decomposition(
        data, "x", "z", "w", "c", outcome_model=_outcome(),
        propensity_model=_propensity(fn_z=lambda X: expit(X["z"]),
                                     fn_zw=lambda X: expit(X["w"])),
        n_folds=2, random_state=0)
    fns = (_mu_z, _mu_zw, lambda X: expit(X["z"]), lambda X: expit(X["w"]))
    _check_against_formula(res, data, data["c"].to_numpy(), data["x"].to_numpy() == 1,
                           0.01, 0.95, fns)


class _Reversed(ClassifierMixin, BaseEstimator):
    """Classes listed as [1, 0]: P(1) is the first column."""

    def fit(self, X, y):
        self.classes_ = np.array([1, 0])
        return self

    def predict_proba(self, X):
        return np.column_stack([np.full(len(X), 0.8), np.full(len(X), 0.2)])


def test_predict_outcome_takes_the_column_of_class_one():
    frame = pd.DataFrame({"a": np.arange(4.0)})
    predict = _decomposition._predict_outcome
    np.testing.assert_array_equal(predict(_Reversed().fit(frame, [0, 1, 0, 1]), frame),
                                  np.full(4, 0.8))
    for label, expected in ((1, 1.0), (0, 0.0)):
        single = DummyClassifier().fit(frame, [label] * 4)
        out = predict(single, frame)
        assert out.shape == (4,) and (out == expected).all()
    prior = DummyClassifier(strategy="prior").fit(frame, [0, 1, 1, 1])
    np.testing.assert_allclose(predict(prior, frame), 0.75)
    out = predict(_KnownRegressor(lambda X: X["a"] * 2), frame)
    assert out.dtype == float and list(out) == [0.0, 2.0, 4.0, 6.0]
    # A regressor predicting integers: floats all the same.
    ints = _KnownRegressor(lambda X: X["a"].astype(int))
    ints.predict = lambda X: X["a"].to_numpy().astype(int)
    out = predict(ints, frame)
    assert out.dtype == float and list(out) == [0.0, 1.0, 2.0, 3.0]


# -- 4. the bootstrap --------------------------------------------------------------


class _Recording(np.random.RandomState):
    """A RandomState that keeps every array it draws."""

    def __init__(self, seed):
        super().__init__(seed)
        self.draws = []

    def randint(self, *args, **kwargs):
        out = super().randint(*args, **kwargs)
        self.draws.append(out)
        return out


def test_bootstrap_standard_errors_are_those_of_the_resampled_scores():
    """Recomputed from the rows each resample drew: a resample's estimate of
    a group mean is the sum of its scores over its count of the group's
    rows (at least one: a small x1 group is often absent)."""
    data = _sfm(30, seed=8)
    data["x"] = 0
    data.loc[[3, 17], "x"] = 1  # two x1 rows
    rs = _Recording(11)
    fns = (_mu_z, _mu_zw, lambda X: expit(X["z"]), lambda X: expit(X["w"]))
    res = causal_fairness_decomposition(
        data, "x", "z", "w", "y", outcome_model=_outcome(),
        propensity_model=_propensity(fn_z=fns[2], fn_zw=fns[3]), n_folds=2,
        n_bootstrap=40, random_state=rs)
    n = len(data)
    resamples = [d for d in rs.draws if np.ndim(d) == 1 and len(d) == n]
    assert len(resamples) == 40
    # Rows drawn with replacement from all n rows: every row turns up.
    assert set(np.concatenate(resamples).tolist()) == set(range(n))
    y, i1 = data["y"].to_numpy(), data["x"].to_numpy() == 1
    i0 = ~i1
    mu_c, mu_b = _mu_z(_at_x1(data)).to_numpy(), _mu_zw(_at_x1(data)).to_numpy()
    e_c, e_b = (np.clip(f(data).to_numpy(), 0.01, 0.99) for f in fns[2:])
    scores = {"A": np.where(i0, y, 0.0), "D": np.where(i1, y, 0.0),
              "C": np.where(i0, mu_c, (1 - e_c) / e_c * (y - mu_c)),
              "B": np.where(i0, mu_b, (1 - e_b) / e_b * (y - mu_b))}
    rows = {"A": i0, "B": i0, "C": i0, "D": i1}
    replicates = []
    for idx in resamples:
        th = {k: scores[k][idx].sum() / max(rows[k][idx].sum(), 1) for k in scores}
        replicates.append([th["D"] - th["A"], th["B"] - th["A"], th["B"] - th["C"],
                           th["C"] - th["D"]])
    assert any(i1[idx].sum() == 0 for idx in resamples)
    assert any(i1[idx].sum() == 1 for idx in resamples)
    replicates = np.array(replicates)
    mean = replicates.mean(axis=0)
    sd = np.sqrt(((replicates - mean) ** 2).sum(axis=0) / (len(replicates) - 1))
    for j, m in enumerate(MEASURES):
        assert res.standard_errors[m] == pytest.approx(sd[j], rel=1e-10), m
    # The estimates are the plain one-step ones.
    est, _, _ = _one_step(y, i1, mu_c, mu_b, fns[2](data).to_numpy(),
                          fns[3](data).to_numpy(), 0.01)
    for m in MEASURES:
        assert res.estimates[m] == pytest.approx(est[m], rel=1e-10, abs=1e-12)


# -- 5. defaults, reproducibility, default nuisance models --------------------------


def test_defaults_five_folds_clip_one_percent_and_95_percent_intervals():
    data = _sfm(100, seed=9)
    # P(x1 | Z, W): 0.005 on three rows (clipped at the default 0.01),
    # 0.015 on three more (not clipped by it).
    e_zw = np.full(len(data), 0.5)
    e_zw[:3], e_zw[3:6] = 0.005, 0.015
    data["k"] = np.arange(len(data))
    res = causal_fairness_decomposition(
        data, "x", ["z", "k"], "w", "y", outcome_model=_outcome(),
        propensity_model=_propensity(fn_z=lambda X: expit(X["z"]),
                                     fn_zw=lambda X: e_zw[X["k"].to_numpy()]),
        random_state=0)
    assert sorted(np.unique(res.folds)) == [0, 1, 2, 3, 4]
    assert res.diagnostics.iloc[1]["share_clipped"] == pytest.approx(0.03)
    assert res.confidence == 0.95
    fns = (_mu_z, _mu_zw, lambda X: expit(X["z"]), lambda X: e_zw)
    _check_against_formula(res, data, data["y"].to_numpy(), data["x"].to_numpy() == 1,
                           0.01, 0.95, fns)


def test_folds_are_shuffled_stratified_and_reproducible():
    data = _sfm(80, seed=10)
    kw = dict(outcome_model=_outcome(), propensity_model=_propensity(
        fn_z=lambda X: expit(X["z"]), fn_zw=lambda X: expit(X["w"])), n_folds=4)
    a = causal_fairness_decomposition(data, "x", "z", "w", "y", random_state=3, **kw)
    b = causal_fairness_decomposition(data, "x", "z", "w", "y", random_state=3, **kw)
    np.testing.assert_array_equal(a.folds, b.folds)
    assert a.folds.dtype.kind == "i"
    # Shuffled: not the contiguous blocks of an unshuffled split.
    assert (np.diff(a.folds[data["x"].to_numpy() == 0]) < 0).any()
    # A RandomState instance is used as given (the same draws twice).
    c = causal_fairness_decomposition(data, "x", "z", "w", "y",
                                      random_state=np.random.RandomState(3), **kw)
    d = causal_fairness_decomposition(data, "x", "z", "w", "y",
                                      random_state=np.random.RandomState(3), **kw)
    np.testing.assert_array_equal(c.folds, d.folds)


def _stub(base):
    made = []

    class Stub(base):
        def __init__(self, categorical_features=None, random_state=None):
            self.categorical_features = categorical_features
            self.random_state = random_state

        def fit(self, X, y):
            made.append((base.__name__, self.categorical_features, self.random_state))
            if base is _KnownClassifier:
                self.classes_ = np.unique(y)
            return self

        fn = staticmethod(lambda X: np.full(len(X), 0.5))

    return Stub, made


def test_default_nuisance_models_classifier_for_a_binary_outcome(monkeypatch):
    clf, made_c = _stub(_KnownClassifier)
    reg, made_r = _stub(_KnownRegressor)
    monkeypatch.setattr(_decomposition, "HistGradientBoostingClassifier", clf)
    monkeypatch.setattr(_decomposition, "HistGradientBoostingRegressor", reg)
    data = _sfm(40, seed=11)
    data["b"] = (data["y"] > 1).astype(float)
    causal_fairness_decomposition(data, "x", "z", "w", "b", n_folds=2, random_state=0)
    # Per fold: two outcome and two propensity classifiers.
    assert len(made_c) == 8 and not made_r
    assert {m[1] for m in made_c} == {"from_dtype"}
    seeds = {m[2] for m in made_c}
    assert len(seeds) == 1 and isinstance(seeds.pop(), int)
    made_c.clear()
    causal_fairness_decomposition(data, "x", "z", "w", "y", n_folds=2, random_state=0)
    assert len(made_c) == 4 and len(made_r) == 4
    assert {m[1] for m in made_c + made_r} == {"from_dtype"}
    seeds = {m[2] for m in made_c + made_r}
    assert len(seeds) == 1 and isinstance(seeds.pop(), int)
    # A given propensity model replaces only the propensity default.
    made_c.clear()
    made_r.clear()
    causal_fairness_decomposition(data, "x", "z", "w", "y", n_folds=2, random_state=0,
                                  propensity_model=_propensity(
                                      fn_z=lambda X: expit(X["z"]),
                                      fn_zw=lambda X: expit(X["w"])))
    assert not made_c and len(made_r) == 4


# -- 6. levels, roles, validation -------------------------------------------------


def _known(**kw):
    return dict(outcome_model=_outcome(), propensity_model=_propensity(
        fn_z=lambda X: expit(X["z"]), fn_zw=lambda X: expit(X["w"])), n_folds=2,
        random_state=0, **kw)


def test_levels_order_types_and_the_one_given():
    data = _sfm(60, seed=12)
    res = causal_fairness_decomposition(data, "x", "z", "w", "y", **_known())
    assert (res.x0, res.x1) == (0, 1) and type(res.x0) is int and type(res.x1) is int
    res = causal_fairness_decomposition(data, "x", "z", "w", "y", x1=0, **_known())
    assert (res.x0, res.x1) == (1, 0)
    res = causal_fairness_decomposition(data, "x", "z", "w", "y", x0=1, **_known())
    assert (res.x0, res.x1) == (1, 0)
    # A categorical X: category order, absent categories ignored.
    cat = data.assign(x=pd.Categorical(np.where(data["x"] == 1, "a", "b"),
                                       categories=["c", "b", "a"]))
    res = causal_fairness_decomposition(cat, "x", "z", "w", "y", **_known())
    assert (res.x0, res.x1) == ("b", "a")
    # Mixed types: ordered by their text.
    mixed = data.assign(x=pd.Series(["a" if v == 1 else 1 for v in data["x"]],
                                    index=data.index, dtype=object))
    res = causal_fairness_decomposition(mixed, "x", "z", "w", "y", **_known())
    assert (res.x0, res.x1) == (1, "a")
    # Three levels: one given is not enough; both given are.
    three = data.copy()
    three.loc[:9, "x"] = 2
    with pytest.raises(ValueError, match="has 3 levels"):
        causal_fairness_decomposition(three, "x", "z", "w", "y", x0=0, **_known())
    res = causal_fairness_decomposition(three, "x", "z", "w", "y", x0=2, x1=0,
                                        **_known())
    assert res.n_samples == int(three["x"].isin([0, 2]).sum())
    with pytest.raises(ValueError, match="two different levels"):
        causal_fairness_decomposition(data, "x", "z", "w", "y", x0=1, x1=1, **_known())
    with pytest.raises(ValueError, match="x0=5 is not a level"):
        causal_fairness_decomposition(data, "x", "z", "w", "y", x0=5, x1=1, **_known())


def test_column_roles():
    data = _sfm(60, seed=13)
    base = causal_fairness_decomposition(data, "x", "z", "w", "y", **_known())
    for X, Z, W, Y in ((["x"], ["z"], ("w",), ["y"]), ("x", ("z",), ["w"], "y")):
        res = causal_fairness_decomposition(data, X, Z, W, Y, **_known())
        assert res.estimates == base.estimates
    with pytest.raises(ValueError, match="^X names one column"):
        causal_fairness_decomposition(data, ["x", "z"], (), "w", "y", **_known())
    with pytest.raises(ValueError, match="^Y names one column"):
        causal_fairness_decomposition(data, "x", "z", "w", ["y", "w"], **_known())
    with pytest.raises(ValueError, match="two roles"):
        causal_fairness_decomposition(data, "x", "z", "x", "y", **_known())
    with pytest.raises(ValueError, match=r"^column 'z' is given two roles \(Z and Y\);"):
        causal_fairness_decomposition(data, "x", "z", "w", "z", **_known())
    with pytest.raises(ValueError, match="not in data"):
        causal_fairness_decomposition(data, "x", "z", "w", "nope", **_known())
    with pytest.raises(ValueError, match="DataFrame"):
        causal_fairness_decomposition(data.to_numpy(), "x", "z", "w", "y", **_known())
    # Non-string labels: one label is one column.
    num = data.rename(columns={"x": 0, "z": 1, "w": 2, "y": 3})
    kw = _known()
    kw["outcome_model"] = _KnownRegressor(
        lambda X: _mu_zw(X.rename(columns={1: "z", 2: "w"})) if 2 in X.columns
        else _mu_z(X.rename(columns={1: "z"})))
    kw["propensity_model"] = _KnownClassifier(
        lambda X: expit(X[2]) if 2 in X.columns else expit(X[1]))
    res = causal_fairness_decomposition(num, 0, 1, 2, 3, **kw)
    assert res.estimates == base.estimates
    assert _decomposition._as_columns("Z", None) == []
    assert _decomposition._as_column("X", None) is None


def test_string_columns_reach_the_models_as_categories():
    data = _sfm(60, seed=14)
    data["g"] = np.where(data["z"] > 0, "hi", "lo")

    def typed(X):
        assert isinstance(X["g"].dtype, pd.CategoricalDtype)
        assert pd.api.types.is_float_dtype(X["z"])
        return X

    res = causal_fairness_decomposition(
        data, "x", ["z", "g"], [], "y",
        outcome_model=_KnownRegressor(lambda X: _mu_z(typed(X)) + (X["g"] == "hi")),
        propensity_model=_KnownClassifier(lambda X: expit(typed(X)["z"])),
        n_folds=2, random_state=0)
    assert np.isfinite(res.estimates["DE"])


def test_missing_and_infinite_values_are_refused_where_they_matter():
    data = _sfm(60, seed=15)
    data["unused"] = np.nan
    data["flag"] = data["z"] > 0
    causal_fairness_decomposition(data, "x", ["z", "flag"], "w", "y", **_known())
    for col, value, match in (("z", np.nan, "missing values in the column"),
                              ("w", np.inf, "infinite values in the column"),
                              ("y", np.nan, "missing values in the column"),
                              ("y", -np.inf, "infinite values in the column"),
                              ("x", np.nan, "missing values in the column")):
        bad = data.copy()
        bad.loc[5, col] = value
        with pytest.raises(ValueError, match=match):
            causal_fairness_decomposition(bad, "x", ["z", "flag"], "w", "y", **_known())
    # With y_pred, the outcome column is not used (not checked) but X, Z, W are.
    bad = data.copy()
    bad.loc[5, "y"] = np.nan
    causal_fairness_decomposition(bad, "x", "z", "w", y_pred=data["y"], **_known())
    for col in ("x", "z", "w"):
        bad = data.copy()
        bad.loc[5, col] = np.inf if col != "x" else np.nan
        with pytest.raises(ValueError, match="values in the column"):
            causal_fairness_decomposition(bad, "x", "z", "w", y_pred=data["y"], **_known())
    with pytest.raises(ValueError, match="shape"):
        causal_fairness_decomposition(data, "x", "z", "w", y_pred=data["y"][1:], **_known())
    with pytest.raises(ValueError, match="missing or infinite"):
        causal_fairness_decomposition(data, "x", "z", "w", y_pred=data["y"] / 0,
                                      **_known())
    with pytest.raises(ValueError, match="numeric"):
        causal_fairness_decomposition(data, "x", "z", "w",
                                      y_pred=np.array(["a"] * len(data)), **_known())
    with pytest.raises(ValueError, match="not numeric"):
        causal_fairness_decomposition(data.assign(s="u"), "x", "z", "w", "s", **_known())


def test_parameter_validation_at_the_boundaries():
    data = _sfm(60, seed=16)
    run = lambda **kw: causal_fairness_decomposition(  # noqa: E731
        data, "x", "z", "w", "y", **{**_known(), **kw})
    # The package's own messages (scikit-learn would refuse some values too,
    # in other words).
    for key, value, message in (
            ("n_folds", 1, "n_folds must be an integer >= 2; got 1."),
            ("n_folds", 2.0, "n_folds must be an integer >= 2; got 2.0."),
            ("propensity_clip", 0.5, "propensity_clip must be in [0, 0.5); got 0.5."),
            ("propensity_clip", -0.01, "propensity_clip must be in [0, 0.5); got -0.01."),
            ("confidence", 0.0, "confidence must be in (0, 1); got 0.0."),
            ("confidence", 1.0, "confidence must be in (0, 1); got 1.0."),
            ("n_jobs", 0, "n_jobs must be None or a non-zero integer"),
            ("n_jobs", True, "n_jobs must be None or a non-zero integer"),
            ("n_jobs", 1.5, "n_jobs must be None or a non-zero integer")):
        with pytest.raises(ValueError) as info:
            run(**{key: value})
        assert str(info.value).startswith(message), (key, value, str(info.value))
    run(propensity_clip=0.0, confidence=0.5, n_jobs=1)
    _decomposition._check_n_jobs(-1)
    _decomposition._check_n_jobs(None)
    # A group of exactly n_folds rows is enough; one fewer is not.
    small = data.copy()
    small["x"] = 0
    small.loc[[1, 7, 30], "x"] = 1
    res = causal_fairness_decomposition(small, "x", "z", "w", "y", **_known())
    assert res.n_samples == len(small)
    res = causal_fairness_decomposition(small, "x", "z", "w", "y",
                                        **{**_known(), "n_folds": 3})
    with pytest.raises(ValueError, match="too few for cross-fitting"):
        causal_fairness_decomposition(small, "x", "z", "w", "y",
                                      **{**_known(), "n_folds": 4})


# -- 7. the direct-effect scorer ---------------------------------------------------


class _Model(BaseEstimator):
    """predict_proba's positive column, and predict, are different known
    functions of the rows."""

    def predict_proba(self, X):
        p = expit(X["z"] + 0.8 * X["x"])
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return 2.0 * X["x"] - X["w"]


class _PredictOnly(BaseEstimator):
    def predict(self, X):
        return 2.0 * X["x"] - X["w"]


def test_direct_effect_scorer():
    data = _sfm(40, seed=17)
    data["x"] = 0
    data.loc[[2, 9], "x"] = 1  # two x1 rows: two folds, the scorer's default
    kw = _known()
    kw.pop("n_folds")
    expected = {}
    for name, pred in (("proba", _Model().predict_proba(data)[:, 1]),
                       ("predict", _Model().predict(data))):
        res = causal_fairness_decomposition(data, "x", "z", "w", y_pred=pred, n_folds=2,
                                            **kw)
        expected[name] = res.estimates["DE"]
    assert expected["proba"] != expected["predict"]
    score = make_direct_effect_scorer("x", "z", "w", **kw)
    assert score(_Model(), data) == pytest.approx(-abs(expected["proba"]), rel=1e-12)
    score = make_direct_effect_scorer("x", ["z"], ["w"], absolute=False, **kw)
    assert score(_Model(), data) == pytest.approx(expected["proba"], rel=1e-12)
    score = make_direct_effect_scorer("x", "z", "w", response_method="predict",
                                      absolute=False, **kw)
    assert score(_Model(), data) == pytest.approx(expected["predict"], rel=1e-12)
    score = make_direct_effect_scorer("x", "z", "w", absolute=False, **kw)
    assert score(_PredictOnly(), data) == pytest.approx(expected["predict"], rel=1e-12)
    score = make_direct_effect_scorer("x", "z", "w", response_method="predict_proba",
                                      absolute=False, **kw)
    assert score(_Model(), data) == pytest.approx(expected["proba"], rel=1e-12)
    with pytest.raises(ValueError, match="DataFrame"):
        score(_Model(), data.to_numpy())


def test_distinct_random_states_give_distinct_folds():
    """Folds (and default models) are seeded from ``random_state``: 20
    seeds give 20 different fold assignments (a seed space of a few dozen
    values would repeat some)."""
    data = _sfm(60, seed=18)
    kw = _known()
    kw.pop("random_state")
    seen = {tuple(causal_fairness_decomposition(data, "x", "z", "w", "y", random_state=r,
                                                **kw).folds) for r in range(20)}
    assert len(seen) == 20


def test_messages_list_the_levels():
    data = _sfm(60, seed=19)
    for n_levels, shown in ((10, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),
                            (11, "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, '...']")):
        many = data.assign(x=np.arange(len(data)) % n_levels)
        with pytest.raises(ValueError) as info:
            causal_fairness_decomposition(many, "x", "z", "w", "y", **_known())
        assert str(info.value).startswith(
            f"X='x' has {n_levels} levels {shown}; pass x0 and x1")
    with pytest.raises(ValueError, match=r"^x1=7 is not a level of X='x'; its levels "
                                         r"are \[0, 1\]\.$"):
        causal_fairness_decomposition(data, "x", "z", "w", "y", x0=0, x1=7, **_known())
    with pytest.raises(ValueError, match=r"^x0 and x1 must be two different levels of "
                                         r"X='x'; both are 1\.$"):
        causal_fairness_decomposition(data, "x", "z", "w", "y", x0=1, x1=1, **_known())
    two = data.assign(s=np.where(data["z"] > 0, "yes", "no"))
    with pytest.raises(ValueError) as info:
        causal_fairness_decomposition(two, "x", "z", "w", "s", **_known())
    first, second = pd.unique(two["s"])  # in order of appearance
    assert (f"it has two levels {[first, second]!r}: encode the one to count as 1, "
            f"e.g. data['s'] = (data['s'] == {second!r}).astype(int)") in str(info.value)
    for n_levels, shown in ((5, "['a', 'b', 'c', 'd', 'e']"),
                            (6, "['a', 'b', 'c', 'd', 'e', '...']")):
        text = data.assign(s=[list("abcdef")[i % n_levels] for i in range(len(data))])
        with pytest.raises(ValueError) as info:
            causal_fairness_decomposition(text, "x", "z", "w", "s", **_known())
        assert f"it has {n_levels} levels {shown}; decompose a numeric score" \
            in str(info.value)


@pytest.mark.parametrize("small", [0, 1])
def test_a_group_smaller_than_n_folds_is_named_by_its_level(small):
    """The group with too few rows for cross-fitting is named by its own
    level of X (x0 or x1, whichever it is), with its row count."""
    data = _sfm(60, seed=4)
    keep = (data["x"] != small) | (data.index.isin(data.index[data["x"] == small][:2]))
    data = data[keep]
    with pytest.raises(ValueError, match=(f"the group X={small} has 2 rows, fewer than "
                                          r"n_folds=3: too few for cross-fitting\.")):
        causal_fairness_decomposition(data, "x", "z", "w", "y", x0=0, x1=1, n_folds=3)
