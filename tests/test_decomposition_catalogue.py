"""Every bad input to the decomposition family answered; overlap diagnostics;
single-threaded nuisances and parallel folds.

Issue: "The audit as sections that fail fast; every bad input answered".
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LinearRegression, LogisticRegression
from threadpoolctl import threadpool_info, threadpool_limits

from skcausal_trust.exceptions import PositivityWarning
from skcausal_trust.fairness import (
    FairnessDecompositionDisplay,
    StagedSCMSampler,
    causal_fairness_decomposition,
    generative_bias_decomposition,
    make_direct_effect_scorer,
)

LINEAR = dict(outcome_model=LinearRegression(), propensity_model=LogisticRegression(),
              n_folds=2)


def _sfm(n, seed, *, names=("x", "z", "w", "y")):
    """The linear standard fairness model of tests/test_decomposition.py."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    x = (rng.uniform(size=n) < expit(z)).astype(int)
    w = x + 0.5 * z + rng.normal(size=n)
    y = x + 2.0 * w + z + rng.normal(size=n)
    return pd.DataFrame(dict(zip(names, (x, z, w, y))))


def _credit_like(n, seed):
    """German-credit-like data where the confounder (age) all but determines
    the attribute: "young" applicants are those under 30, up to a year of
    noise; the credit amount mediates, the outcome is a 0/1 repayment."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(19, 75, n)
    young = (age + rng.normal(size=n) < 30).astype(int)
    amount = 3 - young + 0.02 * age + rng.normal(size=n)
    good = (rng.uniform(size=n) < expit(0.5 - 0.5 * young + 0.3 * amount)).astype(int)
    return pd.DataFrame({"young": young, "age": age, "amount": amount, "good": good})


# -- 1. StagedSCMSampler: a failed refit keeps the previous fit -----------------


def test_failed_refit_of_the_sampler_keeps_the_previous_fit_and_names_infinite_column():
    real = _sfm(300, 0)
    sampler = StagedSCMSampler(LogisticRegression(), LinearRegression()).fit(
        real, "x", ["z"], ["w"], "y", random_state=0)
    before = dict(sampler.__dict__)
    other = _sfm(300, 1, names=("a", "b", "c", "d"))
    other.loc[5, "c"] = np.inf
    with pytest.raises(ValueError, match=r"infinite values in the column\(s\) \['c'\]"):
        sampler.fit(other, "a", ["b"], ["c"], "d", random_state=0)
    # An error raised while the mechanisms are fitted (Y is 0/1 here, so it
    # needs predict_proba), after the roles were recorded.
    binary = other.assign(c=0.0, d=(other["d"] > 0).astype(int))
    sampler.estimators = {"d": LinearRegression()}
    with pytest.raises(ValueError, match="has no predict_proba"):
        sampler.fit(binary, "a", ["b"], ["c"], "d", random_state=0)
    sampler.estimators = None
    assert sampler.__dict__.keys() == before.keys()
    assert all(sampler.__dict__[k] is v for k, v in before.items())
    assert (sampler.X_, sampler.columns_) == ("x", ["x", "z", "w", "y"])
    assert sampler.sample_stage(real, "WY", random_state=0).shape == (300, 4)
    # A fresh sampler stays unfitted.
    fresh = StagedSCMSampler(LogisticRegression(), LinearRegression())
    with pytest.raises(ValueError, match=r"infinite values in the column\(s\) \['c'\]"):
        fresh.fit(other, "a", ["b"], ["c"], "d")
    assert not hasattr(fresh, "mechanisms_") and not hasattr(fresh, "X_")
    with pytest.raises(ValueError, match=r"infinite values in the column\(s\) \['z'\]"):
        sampler.sample_stage(real.assign(z=np.where(real.index == 3, -np.inf, real.z)),
                             "Y")


# -- 2. Outcome dtype, one column name as a role ---------------------------------


@pytest.mark.parametrize("levels,hint", [
    (["low", "mid", "high"], "has 3 levels"),
    (["bad", "good"], r"\(data\['grade'\] == 'good'\)\.astype\(int\)"),
])
def test_a_string_outcome_is_refused_naming_the_outcome_column(levels, hint):
    data = _sfm(200, 2)
    data["grade"] = np.array(levels)[np.arange(200) % len(levels)]
    with pytest.raises(ValueError, match=r"outcome column Y='grade' is not numeric"):
        causal_fairness_decomposition(data, "x", ["z"], ["w"], "grade", **LINEAR)
    with pytest.raises(ValueError, match=hint):
        causal_fairness_decomposition(data, "x", ["z"], ["w"], "grade", **LINEAR)
    stages = {"Y": data}
    with pytest.raises(ValueError, match=r"stage 'real': the outcome column Y='grade'"):
        generative_bias_decomposition(data, stages, "x", ["z"], ["w"], "grade", **LINEAR)
    with pytest.raises(ValueError, match="y_pred must be numeric"):
        causal_fairness_decomposition(data, "x", ["z"], ["w"], y_pred=data["grade"],
                                      **LINEAR)


def test_one_column_name_is_one_column_for_z_and_w():
    data = _sfm(400, 3, names=("sex", "age", "hours", "income"))
    lists = causal_fairness_decomposition(data, "sex", ["age"], ["hours"], "income",
                                          random_state=0, **LINEAR)
    names = causal_fairness_decomposition(data, ["sex"], "age", "hours", "income",
                                          random_state=0, **LINEAR)
    assert names.estimates == lists.estimates
    with pytest.raises(ValueError, match="X names one column"):
        causal_fairness_decomposition(data, ["sex", "age"], (), "hours", "income")
    # The generative decomposition and the sampler.
    sampler = StagedSCMSampler(LogisticRegression(), LinearRegression()).fit(
        data, "sex", "age", "hours", "income", random_state=0)
    assert (sampler.Z_, sampler.W_) == (["age"], ["hours"])
    stages = sampler.sample_stages(data, ("Y",), random_state=0)
    by_name = generative_bias_decomposition(data, stages, "sex", "age", "hours", "income",
                                            random_state=0, **LINEAR)
    by_list = generative_bias_decomposition(data, stages, "sex", ["age"], ["hours"],
                                            "income", random_state=0, **LINEAR)
    pd.testing.assert_frame_equal(by_name.to_frame(), by_list.to_frame())
    # The scorer: minus |DE| of a model's predictions, the same either way.
    model = LinearRegression().fit(data[["sex", "age", "hours"]], data["income"])
    kw = dict(random_state=0, outcome_model=LinearRegression(),
              propensity_model=LogisticRegression())
    score_names = make_direct_effect_scorer("sex", "age", "hours", **kw)
    score_lists = make_direct_effect_scorer("sex", ["age"], ["hours"], **kw)
    inputs = data[["sex", "age", "hours"]]
    assert score_names(model, inputs) == score_lists(model, inputs)
    assert score_names(model, inputs) == pytest.approx(-1.0, abs=0.3)


# -- 3. Which level is x0 ---------------------------------------------------------


def test_the_result_says_which_level_is_x0():
    data = _sfm(300, 4)
    res = causal_fairness_decomposition(data, "x", ["z"], ["w"], "y", **LINEAR)
    # Python scalars, not NumPy ones (messages read x0=0, JSON writes 0).
    assert (res.x0, res.x1) == (0, 1) and type(res.x0) is int and type(res.x1) is int
    frame = res.to_frame()
    assert frame[["x0", "x1"]].drop_duplicates().values.tolist() == [[0, 1]]
    # One level given: the other is the other level (it used to be overridden
    # by the sorted pair).
    flipped = causal_fairness_decomposition(data, "x", ["z"], ["w"], "y", x1=0,
                                            random_state=0, **LINEAR)
    assert (flipped.x0, flipped.x1) == (1, 0)
    assert flipped.estimates["TV"] == pytest.approx(-res.estimates["TV"], abs=1e-12)
    # Text levels are sorted; a pandas categorical keeps its category order.
    text = data.assign(x=np.where(data["x"] == 1, "male", "female"))
    res = causal_fairness_decomposition(text, "x", ["z"], ["w"], "y", **LINEAR)
    assert (res.x0, res.x1) == ("female", "male")
    ordered = text.assign(x=pd.Categorical(text["x"], categories=["male", "female"]))
    res = causal_fairness_decomposition(ordered, "x", ["z"], ["w"], "y", **LINEAR)
    assert (res.x0, res.x1) == ("male", "female")
    with pytest.raises(ValueError, match="x0 and x1 must be two different levels"):
        causal_fairness_decomposition(data, "x", ["z"], ["w"], "y", x0=1, x1=1)


# -- 4. Overlap diagnostics ------------------------------------------------------


class _KnownPropensity(ClassifierMixin, BaseEstimator):
    """P(x1 | z) = expit(3 z), whatever the training data: the diagnostics
    can be computed by hand."""

    def fit(self, X, y):
        self.classes_ = np.array([False, True])
        return self

    def predict_proba(self, X):
        e = expit(3 * X["z"].to_numpy())
        return np.column_stack([1 - e, e])


def test_overlap_diagnostics_are_the_clipped_share_min_propensity_and_kish_ess():
    data = _sfm(500, 5)
    with pytest.warns(PositivityWarning, match="8.0% of the rows have P"):
        res = causal_fairness_decomposition(
            data, "x", ["z"], ["w"], "y", outcome_model=LinearRegression(),
            propensity_model=_KnownPropensity(), propensity_clip=0.02, n_folds=2)
    e = expit(3 * data["z"].to_numpy())
    x1 = data["x"].to_numpy() == 1
    clipped = np.clip(e, 0.02, 0.98)
    w = ((1 - clipped) / clipped)[x1]
    ess = w.sum() ** 2 / (w**2).sum()
    diag = res.diagnostics.set_index("propensity")
    assert list(diag.index) == ["P(x1 | Z)", "P(x1 | Z, W)"]
    assert list(diag["measures"]) == ["IE, SE", "DE, IE"]
    for name in diag.index:
        row = diag.loc[name]
        assert row["share_clipped"] == pytest.approx(np.mean((e < 0.02) | (e > 0.98)))
        assert row["share_clipped_low"] == pytest.approx(np.mean(e < 0.02))
        assert row["min_propensity"] == pytest.approx(e.min())
        assert row["effective_sample_size"] == pytest.approx(ess)
        assert row["n_weighted"] == x1.sum()
        assert row["ess_fraction"] == pytest.approx(ess / x1.sum())


def test_overlapping_groups_raise_no_positivity_warning():
    data = _sfm(1000, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PositivityWarning)
        res = causal_fairness_decomposition(data, "x", ["z"], ["w"], "y",
                                            random_state=0, **LINEAR)
    diag = res.diagnostics.set_index("propensity")
    assert diag["overlap_ok"].all()
    # P(x1 | z) = expit(z): nothing near 0 or 1; Kish's ESS is ~0.44 of the
    # x1 rows in the population (0.16 given z and w).
    assert diag.loc["P(x1 | Z)", "share_clipped"] == 0
    assert 0.3 < diag.loc["P(x1 | Z)", "ess_fraction"] < 0.6
    assert diag.loc["P(x1 | Z, W)", "ess_fraction"] > 0.05
    assert res.to_frame()["overlap_ok"].all()


def test_a_confounder_that_determines_the_attribute_trips_the_positivity_warning():
    data = _credit_like(1000, 7)
    with pytest.warns(PositivityWarning) as record:
        res = causal_fairness_decomposition(data, "young", ["age"], ["amount"], "good",
                                            random_state=0, **LINEAR)
    message = str(record[0].message)
    diag = res.diagnostics.set_index("propensity")
    z_row = diag.loc["P(x1 | Z)"]
    # x1 = "young" is impossible for the many applicants over ~33.
    assert not z_row["overlap_ok"]
    assert z_row["share_clipped_low"] > 0.5 and z_row["min_propensity"] < 1e-4
    # (The weights of the few young applicants near 30 are concentrated too,
    # against ~0.44 for overlapping groups, though above the rule's 5%.)
    assert z_row["ess_fraction"] < 0.15
    assert "x0=0 (reference) and x1=1" in message
    assert f"{z_row['share_clipped_low']:.1%} of the rows" in message
    assert "effective sample size" in message and "DE, IE, SE" in message
    ok = res.to_frame().set_index("measure")["overlap_ok"]
    assert ok.to_dict() == {"TV": True, "DE": False, "IE": False, "SE": False}
    # The display marks the three estimates.
    display = FairnessDecompositionDisplay.from_decompositions([res])
    notes = [t.get_text() for t in display.ax_.texts]
    assert notes.count("overlap fails") == 3
    assert "open markers: overlap fails" in display.ax_.get_xlabel()
    assert list(display.frame_["overlap_ok"]) == [True, False, False, False]


def test_german_credit_personal_status_determines_sex():
    """On the real data: the UCI code table's personal status encodes sex,
    so as a confounder it leaves no overlap at all."""
    from skcausal_trust.datasets import load_german_credit

    frame = load_german_credit().frame
    frame["good"] = (frame["credit_risk"] == "good").astype(int)
    with pytest.warns(PositivityWarning, match="x0='female' .reference. and x1='male'"):
        res = causal_fairness_decomposition(frame, "sex", ["age", "personal-status"],
                                            "credit-amount", "good", n_folds=2,
                                            random_state=0)
    diag = res.diagnostics.set_index("propensity")
    # Every woman is clipped up (x1 = male impossible for her status), every
    # man down: all weights equal, so Kish's ESS is full -- the clipping
    # share is what sees it.
    share_female = (frame["sex"] == "female").mean()
    assert diag["share_clipped"].tolist() == [1.0, 1.0]
    assert diag["share_clipped_low"].tolist() == pytest.approx([share_female] * 2)
    assert not diag["overlap_ok"].any()
    assert diag["ess_fraction"].tolist() == pytest.approx([1.0, 1.0])


def test_generative_decomposition_names_the_stage_of_a_positivity_warning():
    real = _credit_like(600, 8)
    stages = {"Y": real.assign(good=1 - real["good"])}
    with pytest.warns(PositivityWarning, match="stage '(real|Y)': overlap") as record:
        res = generative_bias_decomposition(real, stages, "young", "age", "amount",
                                            "good", random_state=0, **LINEAR)
    assert {str(w.message)[:11] for w in record
            if w.category is PositivityWarning} == {"stage 'real", "stage 'Y': "}
    assert list(res.diagnostics["stage"]) == ["real", "real", "Y", "Y"]
    ok = res.measures.set_index(["stage", "measure"])["overlap_ok"]
    assert not ok["real", "SE"] and ok["real", "TV"]


# -- 5. Threads and parallel folds ---------------------------------------------------

_THREADS_SEEN = []


class _ThreadRecordingClassifier(LogisticRegression):
    """Logistic regression that records the BLAS/OpenMP thread limits at fit."""

    def fit(self, X, y, sample_weight=None):
        _THREADS_SEEN.append({p["user_api"]: p["num_threads"] for p in threadpool_info()})
        return super().fit(X, y, sample_weight=sample_weight)


def test_nuisance_fits_run_single_threaded():
    data = _sfm(200, 9)
    _THREADS_SEEN.clear()
    with threadpool_limits(limits=2):
        outside = {p["num_threads"] for p in threadpool_info()}
        if 2 not in outside:
            pytest.skip("no thread pool here can run two threads")
        causal_fairness_decomposition(
            data, "x", ["z"], ["w"], "y", outcome_model=LinearRegression(),
            propensity_model=_ThreadRecordingClassifier(), n_folds=2)
        StagedSCMSampler(_ThreadRecordingClassifier(), LinearRegression()).fit(
            data, "x", ["z"], ["w"], "y")
    assert len(_THREADS_SEEN) == 4 + 1   # 2 folds x 2 propensities, the sampler's X
    assert all(set(seen.values()) == {1} for seen in _THREADS_SEEN), _THREADS_SEEN


@pytest.mark.parametrize("backend", [
    "threading",
    # Two processes: slow (the pool's start and imports are most of the test).
    pytest.param("loky", marks=pytest.mark.slow),
])
def test_parallel_folds_give_identical_results(backend):
    """Default gradient boosting nuisances, folds one after another and two
    at a time (in two threads, or in two processes)."""
    from joblib import parallel_config

    data = _sfm(300, 10)
    with parallel_config(backend=backend):
        one, two = (causal_fairness_decomposition(data, "x", ["z"], ["w"], "y", n_folds=2,
                                                  n_jobs=n_jobs, random_state=0)
                    for n_jobs in (1, 2))
    assert one.estimates == two.estimates
    assert one.standard_errors == two.standard_errors
    pd.testing.assert_frame_equal(one.influence, two.influence, check_exact=True)
    pd.testing.assert_frame_equal(one.diagnostics, two.diagnostics, check_exact=True)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True])
def test_bad_n_jobs_is_named(n_jobs):
    with pytest.raises(ValueError, match="n_jobs must be None or a non-zero integer"):
        causal_fairness_decomposition(_sfm(100, 11), "x", ["z"], ["w"], "y",
                                      n_jobs=n_jobs, **LINEAR)
