"""Tests that kill the surviving mutants of ``fairness/_metrics.py`` (issue
17, ``benchmarks/run_mutation.py --modules metrics``): counterfactual
unfairness (the three kinds, weights, several attributes, the attribute's
own column, path-specific twins, categorical descendants fed after the
model's encoder, batches of twins) and the two scorers.

Every expected value comes from an independent computation on the rows:

* the SCM ``a -> m -> x``, ``a -> x`` is fitted by least squares, so each
  twin is its row moved by the total effect of the change of level, the
  difference of group means for ``m`` and ``b_a + b_m * d_m`` for ``x``
  (``b`` from ``np.linalg.lstsq`` of ``x`` on ``[1, one-hot(a), m]``); a
  path's effect is the product of its edges' coefficients;
* a categorical descendant's twin is its one-hot row plus the differences
  of its levels' proportions (the linear probability model), fed to the
  last step of the pipeline after the encoder;
* the model's outputs on the twins are written out: ``expit`` of the
  logistic score (total variation ``|p - p'|`` for two classes, half the
  L1 distance of the softmax for three), the sign of the score (flips),
  ``coef @ change`` (regression); the average is over every row and every
  other level (combination), weighted by the row's weight;
* the group scorer is minus fairlearn's own metric on ``predict``.
"""

import functools
import itertools

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression, Perceptron
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.fairness import (
    _metrics,
    counterfactual_unfairness,
    make_counterfactual_unfairness_scorer,
    make_group_fairness_scorer,
)

LEVELS = np.array(["f", "g", "h"])
CHAIN = CausalGraph([("a", "m"), ("m", "x"), ("a", "x")], nodes=["z"])
FEATURES = ["z", "m", "x"]


def _chain(n=60, seed=0, n_classes=2):
    rng = np.random.default_rng(seed)
    code = np.arange(n) % 3
    a = LEVELS[code]
    m = np.array([0.0, 1.5, -1.0])[code] + rng.normal(size=n)
    x = 0.7 * m + np.array([0.0, -0.8, 2.0])[code] + rng.normal(size=n)
    z = rng.normal(size=n)
    score = z + m - 0.5 * x
    if n_classes == 2:
        y = (score + rng.logistic(size=n) > 0).astype(int)
    else:
        y = np.digitize(score + rng.logistic(size=n), [-1.0, 1.0])
    w = rng.integers(1, 4, size=n).astype(float)
    X = pd.DataFrame({"z": z, "m": m, "x": x})
    return X, a, y, w


def _scm(X, a):
    return LinearSCM(CHAIN).fit(X.assign(a=pd.Categorical(a, categories=LEVELS)))


def _lstsq(A, b):
    return np.linalg.lstsq(A, b, rcond=None)[0]


def _chain_effects(X, a):
    """(d_m, b_a, b_m): per level (the first 0) the change of m, x's direct
    coefficients and x's coefficient on m."""
    d_m = np.array([X["m"][a == lv].mean() - X["m"][a == "f"].mean() for lv in LEVELS])
    A = np.column_stack([np.ones(len(a))] + [(a == lv).astype(float) for lv in LEVELS[1:]]
                        + [X["m"]])
    beta = _lstsq(A, X["x"].to_numpy())
    return d_m, np.concatenate([[0.0], beta[1:3]]), beta[3]


def _total(X, a):
    """Per level, the change of (z, m, x) from the first level."""
    d_m, b_a, b_m = _chain_effects(X, a)
    return np.column_stack([np.zeros(3), d_m, b_a + b_m * d_m])


def _average(X, a, w, distance, shift):
    """The weighted average of distance(rows, twins) over every row and
    every other level; twins = rows + shift[k] - shift[level]."""
    Z = X.to_numpy()
    code = np.searchsorted(LEVELS, a)
    total, mass = 0.0, 0.0
    for i in range(len(Z)):
        for k in range(len(LEVELS)):
            if k == code[i]:
                continue
            twin = Z[i] + shift[k] - shift[code[i]]
            total += w[i] * distance(Z[i], twin)
            mass += w[i]
    return total / mass


# --------------------------------------------------------------------------
# The three kinds on a model of the features (_unfairness_sums, _Twins)
# --------------------------------------------------------------------------
def test_probability_is_the_weighted_total_variation_over_twins():
    X, a, y, w = _chain()
    clf = LogisticRegression().fit(X, y)
    scm = _scm(X, a)

    def p(row):
        return expit(row @ clf.coef_[0] + clf.intercept_[0])

    expected = _average(X, a, w, lambda r, t: abs(p(r) - p(t)), _total(X, a))
    got = counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a, sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)
    flat = _average(X, a, np.ones(len(a)), lambda r, t: abs(p(r) - p(t)), _total(X, a))
    assert counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a,
                                     kind="probability") == pytest.approx(flat, rel=1e-10)
    assert abs(flat - expected) > 1e-4


def test_probability_of_three_classes_is_half_the_l1_distance():
    X, a, y, w = _chain(seed=1, n_classes=3)
    clf = LogisticRegression().fit(X, y)

    def p(row):
        return softmax(clf.coef_ @ row + clf.intercept_)

    expected = _average(X, a, w, lambda r, t: 0.5 * np.abs(p(r) - p(t)).sum(),
                        _total(X, a))
    got = counterfactual_unfairness(clf, X, scm=_scm(X, a), sensitive_features=a,
                                    sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)


def test_flip_is_the_weighted_share_of_changed_decisions():
    X, a, y, w = _chain(seed=2)
    clf = LogisticRegression().fit(X, y)

    def decision(row):
        return row @ clf.coef_[0] + clf.intercept_[0] > 0

    expected = _average(X, a, w, lambda r, t: float(decision(r) != decision(t)),
                        _total(X, a))
    assert 0.05 < expected < 0.95
    got = counterfactual_unfairness(clf, X, scm=_scm(X, a), sensitive_features=a,
                                    sample_weight=w, kind="flip")
    assert got == pytest.approx(expected, rel=1e-12)
    scorer = make_counterfactual_unfairness_scorer(_scm(X, a), kind="flip")
    assert scorer(clf, X, sensitive_features=a, sample_weight=w) == pytest.approx(
        -expected, rel=1e-12)
    # Without predict_proba, "auto" is "flip".
    per = Perceptron(random_state=0).fit(X, y)

    def decision_p(row):
        return row @ per.coef_[0] + per.intercept_[0] > 0

    expected = _average(X, a, w, lambda r, t: float(decision_p(r) != decision_p(t)),
                        _total(X, a))
    got = counterfactual_unfairness(per, X, scm=_scm(X, a), sensitive_features=a,
                                    sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-12)


def test_prediction_is_the_weighted_mean_absolute_change():
    X, a, _, w = _chain(seed=3)
    y = X.to_numpy() @ [1.0, -2.0, 0.5] + np.random.default_rng(4).normal(size=len(a))
    reg = LinearRegression().fit(X, y)
    expected = _average(X, a, w, lambda r, t: abs((t - r) @ reg.coef_), _total(X, a))
    got = counterfactual_unfairness(reg, X, scm=_scm(X, a), sensitive_features=a,
                                    sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)
    scorer = make_counterfactual_unfairness_scorer(_scm(X, a))
    assert scorer(reg, X, sensitive_features=a, sample_weight=w) == pytest.approx(
        -expected, rel=1e-10)


def test_rows_of_zero_weight_are_not_compared():
    X, a, _, w = _chain(seed=5)
    y = X.to_numpy() @ [1.0, -2.0, 0.5]
    reg = LinearRegression().fit(X, y)
    w = np.where(a == "g", 0.0, w)
    expected = _average(X, a, w, lambda r, t: abs((t - r) @ reg.coef_), _total(X, a))
    got = counterfactual_unfairness(reg, X, scm=_scm(X, a), sensitive_features=a,
                                    sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)


def test_a_level_absent_from_the_rows_is_still_a_twin():
    """The levels compared are the SCM's: rows of f and g only still get
    twins at h."""
    X, a, _, w = _chain(seed=6)
    y = X.to_numpy() @ [1.0, -2.0, 0.5]
    reg = LinearRegression().fit(X, y)
    scm = _scm(X, a)
    keep = a != "h"
    expected = _average(X[keep], a[keep], w[keep], lambda r, t: abs((t - r) @ reg.coef_),
                        _total(X, a))
    got = counterfactual_unfairness(reg, X[keep], scm=scm, sensitive_features=a[keep],
                                    sample_weight=w[keep])
    assert got == pytest.approx(expected, rel=1e-10)


# --------------------------------------------------------------------------
# Several attributes: every other combination
# --------------------------------------------------------------------------
def test_two_attributes_compare_every_other_combination():
    rng = np.random.default_rng(7)
    n = 60
    a = np.array(["f", "g"])[np.arange(n) % 2]
    b = np.array(["p", "q", "r"])[(np.arange(n) // 2) % 3]
    m = (1.0 * (a == "g") + np.select([b == "q", b == "r"], [2.0, -1.0], 0.0)
         + rng.normal(size=n))
    z = rng.normal(size=n)
    X = pd.DataFrame({"z": z, "m": m})
    y = 2.0 * z - m
    reg = LinearRegression().fit(X, y)
    frame = X.assign(a=pd.Categorical(a), b=pd.Categorical(b))
    scm = LinearSCM(CausalGraph([("a", "m"), ("b", "m")], nodes=["z"])).fit(frame)
    A = np.column_stack([np.ones(n), a == "g", b == "q", b == "r"]).astype(float)
    c = _lstsq(A, m)
    combos = list(itertools.product(["f", "g"], ["p", "q", "r"]))

    def shift(combo):
        return c[1] * (combo[0] == "g") + c[2] * (combo[1] == "q") + c[3] * (combo[1] == "r")

    w = rng.uniform(0.5, 2.0, size=n)
    total = mass = 0.0
    for i in range(n):
        for combo in combos:
            if combo == (a[i], b[i]):
                continue
            total += w[i] * abs(reg.coef_[1] * (shift(combo) - shift((a[i], b[i]))))
            mass += w[i]
    sensitive = pd.DataFrame({"a": a, "b": b})
    got = counterfactual_unfairness(reg, X, scm=scm, sensitive_features=sensitive,
                                    sample_weight=w)
    assert got == pytest.approx(total / mass, rel=1e-10)


# --------------------------------------------------------------------------
# The attribute's own column, read by the model, and path-specific twins
# (_Twins._raw, _path_specific_changes, _parse_paths)
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _with_column(seed=8):
    """The chain with the attribute's column in X, read by the model (one
    fit per seed, shared by the tests, which do not modify it)."""
    X, a, y, w = _chain(seed=seed)
    Xa = X.assign(a=a)
    pipe = make_pipeline(
        ColumnTransformer([("a", OneHotEncoder(), ["a"])], remainder="passthrough"),
        LogisticRegression()).fit(Xa, y)
    return X, Xa, a, w, pipe


def _twin_frames(X, a, shift, set_column):
    """Per other level: the rows (positions), their twins as raw frames."""
    code = np.searchsorted(LEVELS, a)
    for k, level in enumerate(LEVELS):
        rows = np.flatnonzero(code != k)
        moved = X.iloc[rows].to_numpy() + shift[k] - shift[code[rows]]
        twins = pd.DataFrame(moved, columns=FEATURES).assign(
            a=level if set_column else a[rows])
        yield rows, twins


def _reference_with_column(X, Xa, a, w, pipe, shift, set_column):
    p = pipe.predict_proba(Xa)[:, 1]
    total = mass = 0.0
    for rows, twins in _twin_frames(X, a, shift, set_column):
        total += np.dot(w[rows], np.abs(pipe.predict_proba(twins)[:, 1] - p[rows]))
        mass += w[rows].sum()
    return total / mass


@pytest.mark.parametrize("paths,part,set_column", [
    (None, "total", True),
    ({"fair_paths": ["a"]}, "total", False),
    ({"unfair_paths": ["a"]}, "none", True),
    ({"unfair_paths": ["a -> m -> x"]}, "indirect", False),
    ({"fair_paths": ["a -> m -> x"]}, "direct", True),
    ({"unfair_paths": ["a -> m", ("a", "x")]}, "direct", False),
])
def test_the_attribute_column_and_path_specific_twins(paths, part, set_column):
    X, Xa, a, w, pipe = _with_column()
    d_m, b_a, b_m = _chain_effects(X, a)
    zero = np.zeros(3)
    shift = {
        "total": np.column_stack([zero, d_m, b_a + b_m * d_m]),
        "indirect": np.column_stack([zero, zero, b_m * d_m]),
        "direct": np.column_stack([zero, d_m, b_a]),
        "none": np.zeros((3, 3)),
    }[part]
    expected = _reference_with_column(X, Xa, a, w, pipe, shift, set_column)
    assert expected > 1e-3
    got = counterfactual_unfairness(pipe, Xa, scm=_scm(X, a), sensitive_feature_ids="a",
                                    sample_weight=w, **(paths or {}))
    assert got == pytest.approx(expected, rel=1e-10)
    if paths and not set_column:
        # The scorer passes the paths on.
        scorer = make_counterfactual_unfairness_scorer(_scm(X, a), sensitive_feature_ids="a",
                                                       **paths)
        assert scorer(pipe, Xa, sample_weight=w) == pytest.approx(-expected, rel=1e-10)


@pytest.mark.parametrize("paths,match", [
    (["m -> x"], "unfair_paths"), ([()], "unfair_paths"), (["x -> a"], "unfair_paths"),
    (["a -> z"], "not a directed path"), (["a -> m -> a"], "unfair_paths")])
def test_paths_not_from_the_attribute_to_a_feature_are_refused(paths, match):
    X, Xa, a, w, pipe = _with_column()
    with pytest.raises(ValueError, match=match):
        counterfactual_unfairness(pipe, Xa, scm=_scm(X, a), sensitive_feature_ids="a",
                                  unfair_paths=paths)


def test_fair_and_unfair_paths_together_are_refused():
    X, Xa, a, w, pipe = _with_column()
    with pytest.raises(ValueError, match="not both"):
        counterfactual_unfairness(pipe, Xa, scm=_scm(X, a), sensitive_feature_ids="a",
                                  unfair_paths=["a"], fair_paths=["a -> m"])


def test_batches_of_twins_give_the_same_value(monkeypatch):
    """Twins sent to the model a few rows at a time: every part counted
    once, in its own rows."""
    X, Xa, a, w, pipe = _with_column(seed=9)
    d_m, b_a, b_m = _chain_effects(X, a)
    shift = np.column_stack([np.zeros(3), d_m, b_a + b_m * d_m])
    expected = _reference_with_column(X, Xa, a, w, pipe, shift, True)
    for cells in [1, 4 * 80, 4 * 120]:
        monkeypatch.setattr(_metrics, "TWIN_BATCH_CELLS", cells)
        got = counterfactual_unfairness(pipe, Xa, scm=_scm(X, a),
                                        sensitive_feature_ids="a", sample_weight=w)
        assert got == pytest.approx(expected, rel=1e-10), cells


# --------------------------------------------------------------------------
# Categorical descendants fed after the encoder (_find_space, _probe,
# _probe_blocks, _add_soft, _set_column)
# --------------------------------------------------------------------------
def _categorical(n=60, seed=10):
    rng = np.random.default_rng(seed)
    a = LEVELS[np.arange(n) % 3]
    probs = {"f": [0.6, 0.3, 0.1], "g": [0.2, 0.5, 0.3], "h": [0.1, 0.2, 0.7]}
    c = np.array([rng.choice(["u", "v", "w"], p=probs[lv]) for lv in a])
    z = rng.normal(size=n)
    y = (z + 1.5 * (c == "v") - (c == "w") + rng.logistic(size=n) > 0).astype(int)
    w = rng.integers(1, 4, size=n).astype(float)
    return pd.DataFrame({"z": z, "c": c}), a, y, w


def _shares(c, a):
    return np.array([[np.mean(c[a == lv] == v) for v in ["u", "v", "w"]] for lv in LEVELS])


@pytest.mark.parametrize("dtype", ["object", "category"])
def test_a_categorical_descendant_moves_by_its_level_shares(dtype):
    X, a, y, w = _categorical()
    if dtype == "category":
        X = X.assign(c=pd.Categorical(X["c"], categories=["u", "v", "w"]))
    pipe = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["c"])], remainder="passthrough"),
        LogisticRegression()).fit(X, y)
    scm = LinearSCM(CausalGraph([("a", "c")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a), c=pd.Categorical(X["c"])))
    shares = _shares(X["c"].to_numpy(dtype=object), a)
    encoded = pipe[0].transform(X)
    names = list(pipe[0].get_feature_names_out())
    cols = [names.index(f"c__c_{v}") for v in ["u", "v", "w"]]
    final = pipe[-1]
    p = final.predict_proba(encoded)[:, 1]
    code = np.searchsorted(LEVELS, a)
    total = mass = 0.0
    for k in range(3):
        rows = np.flatnonzero(code != k)
        twin = encoded[rows].astype(float).copy()
        twin[:, cols] += shares[k] - shares[code[rows]]
        total += np.dot(w[rows], np.abs(final.predict_proba(twin)[:, 1] - p[rows]))
        mass += w[rows].sum()
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a,
                                    sample_weight=w)
    assert got == pytest.approx(total / mass, rel=1e-10)


def test_an_encoder_that_mixes_columns_is_refused():
    """A step after the one-hot columns that mixes them with z: the change
    of the encoding depends on the row."""

    class Mix(BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            X = np.asarray(X, dtype=float)
            return X * X[:, -1:]

    X, a, y, w = _categorical(seed=11)
    pipe = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["c"])], remainder="passthrough"),
        Mix(), LogisticRegression()).fit(X, y)
    scm = LinearSCM(CausalGraph([("a", "c")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a), c=pd.Categorical(X["c"])))
    # The first step encodes c on its own: it is where the twins are fed.
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)
    assert 0.0 < got < 1.0
    mixing = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["c"])], remainder="passthrough"),
        LogisticRegression())
    mixing.steps.insert(0, ("mix", _MixRaw()))
    mixing.fit(X, y)
    with pytest.raises(ValueError, match="depends on the other"):
        counterfactual_unfairness(mixing, X, scm=scm, sensitive_features=a)


class _MixRaw(BaseEstimator):
    """Raw rows in, one-hot columns of c scaled by |z| out."""

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def transform(self, X):
        out = pd.DataFrame({f"c_{v}": (X["c"] == v) * (1.0 + X["z"].abs())
                            for v in ["u", "v", "w"]})
        return out.assign(z=X["z"].to_numpy(), c=X["c"].to_numpy())


# --------------------------------------------------------------------------
# Kinds and attributes refused (_resolve_kind, _sensitive_of_scm)
# --------------------------------------------------------------------------
def test_kinds_that_do_not_fit_the_estimator_are_refused():
    X, a, y, w = _chain(seed=12)
    scm = _scm(X, a)
    reg = LinearRegression().fit(X, y)
    clf = LogisticRegression().fit(X, y)
    per = Perceptron().fit(X, y)
    for est, kind, match in [(reg, "flip", "is a regressor"),
                             (reg, "probability", "is a regressor"),
                             (clf, "prediction", "is a classifier"),
                             (per, "probability", "needs predict_proba"),
                             (clf, "proba", "kind must be one of")]:
        with pytest.raises(ValueError, match=match):
            counterfactual_unfairness(est, X, scm=scm, sensitive_features=a, kind=kind)

    class Neither(BaseEstimator):
        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(ValueError, match="cannot tell whether Neither"):
        counterfactual_unfairness(Neither(), X, scm=scm, sensitive_features=a)


def test_unseen_levels_and_numeric_attributes_are_refused():
    X, a, y, w = _chain(seed=13)
    clf = LogisticRegression().fit(X, y)
    bad = np.where(np.arange(len(a)) == 0, "k", a)
    with pytest.raises(ValueError, match="never seen"):
        counterfactual_unfairness(clf, X, scm=_scm(X, a), sensitive_features=bad)
    numeric = LinearSCM(CHAIN).fit(X.assign(a=np.searchsorted(LEVELS, a).astype(float)))
    with pytest.raises(ValueError, match="numeric node"):
        counterfactual_unfairness(clf, X, scm=numeric,
                                  sensitive_features=np.searchsorted(LEVELS, a))


# --------------------------------------------------------------------------
# The group fairness scorer: minus fairlearn's metric on predict
# --------------------------------------------------------------------------
def test_group_scorer_is_minus_fairlearn():
    X, a, y, w = _chain(seed=14)
    Xa = X.assign(a=a)
    clf = make_pipeline(
        ColumnTransformer([("a", OneHotEncoder(), ["a"])], remainder="passthrough"),
        LogisticRegression()).fit(Xa, y)
    pred = clf.predict(Xa)
    metric = demographic_parity_difference
    scorer = make_group_fairness_scorer(metric, sensitive_feature_ids="a")
    expected = metric(y, pred, sensitive_features=a, sample_weight=w)
    assert expected > 0.01
    assert scorer(clf, Xa, y, sample_weight=w) == pytest.approx(-expected, rel=1e-12)
    flat = metric(y, pred, sensitive_features=a)
    assert abs(flat - expected) > 1e-3
    routed = make_group_fairness_scorer(metric)
    assert routed(clf, Xa, y, sensitive_features=a) == pytest.approx(-flat, rel=1e-12)
    # Two attributes are intersected.
    b = np.where(X["z"] > 0, "p", "q")
    both = metric(y, pred, sensitive_features=pd.DataFrame({"a": a, "b": b}))
    assert abs(both - flat) > 1e-3
    assert routed(clf, Xa, y, sensitive_features=pd.DataFrame({"a": a, "b": b})) == (
        pytest.approx(-both, rel=1e-12))
    odds = make_group_fairness_scorer(equalized_odds_difference, sensitive_feature_ids="a")
    assert odds(clf, Xa, y) == pytest.approx(
        -equalized_odds_difference(y, pred, sensitive_features=a), rel=1e-12)
    with pytest.raises(ValueError, match="needs the sensitive attribute"):
        routed(clf, Xa, y)


class _Shared(BaseEstimator):
    """Raw rows in; out: z, then indicator columns of the levels u and v
    shared by c1 and c2 (their sum, or their product when ``mix``)."""

    def __init__(self, mix=False):
        self.mix = mix

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def transform(self, X):
        one = {v: (X["c1"] == v).to_numpy(dtype=float) for v in ["u", "v"]}
        two = {v: (X["c2"] == v).to_numpy(dtype=float) for v in ["u", "v"]}
        join = (lambda s, t: s * t) if self.mix else (lambda s, t: s + t)
        return np.column_stack([X["z"].to_numpy(dtype=float)]
                               + [join(one[v], two[v]) for v in ["u", "v"]])


def test_two_categorical_descendants_sharing_columns_add_up():
    rng = np.random.default_rng(15)
    n = 60
    a = LEVELS[np.arange(n) % 3]
    p1 = {"f": 0.2, "g": 0.6, "h": 0.8}
    p2 = {"f": 0.7, "g": 0.4, "h": 0.1}
    c1 = np.where(rng.uniform(size=n) < [p1[v] for v in a], "u", "v")
    c2 = np.where(rng.uniform(size=n) < [p2[v] for v in a], "u", "v")
    z = rng.normal(size=n)
    X = pd.DataFrame({"z": z, "c1": c1, "c2": c2})
    y = (z + 2.0 * (c1 == "u") + rng.logistic(size=n) > 1).astype(int)
    w = rng.integers(1, 4, size=n).astype(float)
    scm = LinearSCM(CausalGraph([("a", "c1"), ("a", "c2")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a), c1=pd.Categorical(c1), c2=pd.Categorical(c2)))
    pipe = make_pipeline(_Shared(), LogisticRegression()).fit(X, y)

    delta = _level_shares(c1, a, ["u", "v"]) + _level_shares(c2, a, ["u", "v"])
    expected = _pair_reference(pipe, X, a, delta, weights=w)
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a,
                                    sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)
    # A product of the indicators: on probe rows that share c1 and c2 each
    # node alone moves the columns the same way in every row, but together
    # they do not add up.
    X.loc[:2, ["c1", "c2"]] = "u"
    mixed = make_pipeline(_Shared(mix=True), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="interact"):
        counterfactual_unfairness(mixed, X, scm=scm, sensitive_features=a)


def test_the_attribute_column_of_category_dtype():
    X, Xa, a, w, pipe = _with_column(seed=16)
    d_m, b_a, b_m = _chain_effects(X, a)
    shift = np.column_stack([np.zeros(3), d_m, b_a + b_m * d_m])
    expected = _reference_with_column(X, Xa, a, w, pipe, shift, True)
    categorical = Xa.assign(a=pd.Categorical(a, categories=LEVELS))
    got = counterfactual_unfairness(pipe, categorical, scm=_scm(X, a),
                                    sensitive_feature_ids="a", sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)


def test_an_array_with_an_scm_over_positions():
    X, a, _, w = _chain(seed=17)
    Z = X.to_numpy()
    y = Z @ [1.0, -2.0, 0.5]
    reg = LinearRegression().fit(Z, y)
    graph = CausalGraph([("a", 1), (1, 2), ("a", 2)], nodes=[0])
    scm = LinearSCM(graph).fit(pd.DataFrame(Z).assign(a=pd.Categorical(a)))
    expected = _average(X, a, w, lambda r, t: abs((t - r) @ reg.coef_), _total(X, a))
    got = counterfactual_unfairness(reg, Z, scm=scm, sensitive_features=a, sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="without column names"):
        counterfactual_unfairness(reg, Z, scm=_scm(X, a),
                                  sensitive_features=pd.Series(a, name="a"))


def test_extra_design_changes_move_their_nodes():
    """The perturbation route (``extra``, kind "decision"): rows moved by a
    given change of z's design column respond as the score on z + delta."""
    X, a, y, w = _chain(seed=18)
    clf = LogisticRegression().fit(X, y)
    scm = _scm(X, a)
    change = np.zeros(scm._n_design)
    change[scm._index["z"][0]] = 0.5
    twins = _metrics._Twins(clf, X, scm, a, None, caller="test", extra=[change])
    assert "z" in twins.moved
    rows = np.array([0, 3, 7])
    moved = twins.inputs(rows, np.tile(change, (len(rows), 1)))
    score = twins.respond(moved, "decision")
    expected = (X.to_numpy()[rows] + [0.5, 0.0, 0.0]) @ clf.coef_[0] + clf.intercept_[0]
    assert np.allclose(score, expected, rtol=1e-12, atol=1e-12)
    plain = _metrics._Twins(clf, X, scm, a, None, caller="test")
    assert "z" not in plain.moved


def test_twin_inputs_set_the_column_and_add_the_soft_shares():
    """``_Twins.inputs`` (the unfair-area route): the holder column set to
    the combination, a categorical descendant's indicators moved by the
    difference of its level shares, after the encoder."""
    X, a, y, w = _categorical(seed=19)
    Xa = X.assign(a=a)
    pipe = make_pipeline(
        ColumnTransformer([("c", OneHotEncoder(), ["c", "a"])], remainder="passthrough"),
        LogisticRegression()).fit(Xa, y)
    scm = LinearSCM(CausalGraph([("a", "c")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a), c=pd.Categorical(X["c"])))
    twins = _metrics._Twins(pipe, Xa, scm, None, "a", caller="test")
    shares = _shares(X["c"].to_numpy(dtype=object), a)
    rows = np.flatnonzero(a != "h")
    k = list(LEVELS).index("h")
    change = twins.twin_change(rows, k)
    got = twins.inputs(rows, change, k)
    names = list(pipe[0].get_feature_names_out())
    expected = pipe[0].transform(Xa.iloc[rows].assign(a="h")).astype(float)
    cols = [names.index(f"c__c_{v}") for v in ["u", "v", "w"]]
    code = np.searchsorted(LEVELS, a[rows])
    expected[:, cols] += shares[k] - shares[code]
    assert np.allclose(np.asarray(got, dtype=float), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# Two categorical descendants sharing encoded columns (_check_additive): the
# probes, the columns compared and the tolerance
# --------------------------------------------------------------------------
class _Pair(BaseEstimator):
    """z, then columns built from the indicators of c1 and c2 by ``form``."""

    def __init__(self, form="additive", s=1.0, eps=0.0, levels=("u", "v")):
        self.form, self.s, self.eps, self.levels = form, s, eps, levels

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def transform(self, X):
        one = {v: (X["c1"] == v).to_numpy(dtype=float) for v in ["u", "v", "w", "x", "y"]}
        two = {v: (X["c2"] == v).to_numpy(dtype=float) for v in ["u", "v", "w", "x", "y"]}
        z = X["z"].to_numpy(dtype=float)
        if self.form == "additive":      # one column per level, shared
            cols = [one[v] + two[v] for v in self.levels]
        elif self.form == "late":        # interaction of (c1=w, c2=v) only
            cols = [one["v"] + one["w"] + two["v"] + one["w"] * two["v"]]
        elif self.form == "own":         # interaction in c1's own column
            cols = [one["v"] + two["v"], one["v"] * (1.0 + two["v"])]
        else:                            # "tiny": an interaction of size eps
            cols = [self.s * one["v"] + self.s * two["v"] + self.eps * one["v"] * two["v"]]
        return np.column_stack([z] + cols)


def _pair_data(levels1, levels2, n=90, seed=20):
    rng = np.random.default_rng(seed)
    a = LEVELS[np.arange(n) % 3]
    c1 = np.empty(n, dtype=object)
    c2 = np.empty(n, dtype=object)
    for k, lv in enumerate(LEVELS):
        here = a == lv
        c1[here] = rng.choice(levels1, here.sum(), p=rng.dirichlet(np.ones(len(levels1))))
        c2[here] = rng.choice(levels2, here.sum(), p=rng.dirichlet(np.ones(len(levels2))))
    c1[:len(levels1)] = levels1          # every level present
    c2[:len(levels2)] = levels2
    c1[len(levels1):len(levels1) + 3] = "u"   # the probe rows: c1 = c2 = u
    c2[len(levels1):len(levels1) + 3] = "u"
    order = np.r_[len(levels1):len(levels1) + 3, :len(levels1), len(levels1) + 3:n]
    a, c1, c2 = a[order], c1[order], c2[order]
    z = rng.normal(size=n)
    X = pd.DataFrame({"z": z, "c1": c1, "c2": c2})
    y = (z + (c1 == "v") - (c2 == "v") + rng.logistic(size=n) > 0).astype(int)
    scm = LinearSCM(CausalGraph([("a", "c1"), ("a", "c2")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a), c1=pd.Categorical(c1), c2=pd.Categorical(c2)))
    return X, a, y, scm


def _pair_reference(pipe, X, a, shift_of_level, weights=None):
    """Total variation with the encoded columns moved by
    shift_of_level[k] - shift_of_level[level of the row], averaged over every
    row and other level with the row's weight (1 by default)."""
    encoded = pipe[0].transform(X)
    final = pipe[-1]
    p = final.predict_proba(encoded)[:, 1]
    code = np.searchsorted(LEVELS, a)
    w = np.ones(len(code)) if weights is None else np.asarray(weights, dtype=float)
    total = mass = 0.0
    for k in range(3):
        rows = np.flatnonzero(code != k)
        twin = encoded[rows].copy()
        twin[:, 1:] += shift_of_level[k] - shift_of_level[code[rows]]
        total += np.dot(w[rows], np.abs(final.predict_proba(twin)[:, 1] - p[rows]))
        mass += w[rows].sum()
    return total / mass


def _level_shares(c, a, levels):
    return np.array([[np.mean(c[a == lv] == v) for v in levels] for lv in LEVELS])


def test_many_levels_sharing_columns_are_probed_and_added():
    """Five levels each: 16 pairs of levels probed (a whole stride)."""
    levels = ["u", "v", "w", "x", "y"]
    X, a, y, scm = _pair_data(levels, levels)
    pipe = make_pipeline(_Pair("additive", levels=tuple(levels)),
                         LogisticRegression()).fit(X, y)
    shift = (_level_shares(X["c1"].to_numpy(), a, levels)
             + _level_shares(X["c2"].to_numpy(), a, levels))
    expected = _pair_reference(pipe, X, a, shift)
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("form,levels1", [("late", ["u", "v", "w"]), ("own", ["u", "v"])])
def test_interactions_on_any_probed_pair_and_column_are_refused(form, levels1):
    X, a, y, scm = _pair_data(levels1, ["u", "v"])
    pipe = make_pipeline(_Pair(form), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="interact"):
        counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)


def test_the_interaction_tolerance_is_relative_to_the_change():
    """1e-9 times the larger of 1 and the joint change: 1.5e-9 on a change
    of 1 is an interaction, 1e-9 on a change of 8 is not."""
    X, a, y, scm = _pair_data(["u", "v"], ["u", "v"])
    small = make_pipeline(_Pair("tiny", s=0.5, eps=1.5e-9), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="interact"):
        counterfactual_unfairness(small, X, scm=scm, sensitive_features=a)
    large = make_pipeline(_Pair("tiny", s=4.0, eps=1e-9), LogisticRegression()).fit(X, y)
    shift = 4.0 * (_level_shares(X["c1"].to_numpy(), a, ["v"])
                   + _level_shares(X["c2"].to_numpy(), a, ["v"]))
    expected = _pair_reference(large, X, a, shift)
    got = counterfactual_unfairness(large, X, scm=scm, sensitive_features=a)
    assert got == pytest.approx(expected, rel=1e-6)


def test_refused_fair_paths_are_named_as_such():
    X, Xa, a, w, pipe = _with_column()
    with pytest.raises(ValueError, match=r"^fair_paths: "):
        counterfactual_unfairness(pipe, Xa, scm=_scm(X, a), sensitive_feature_ids="a",
                                  fair_paths=["m -> x"])
    with pytest.raises(ValueError, match=r"^fair_paths: "):
        counterfactual_unfairness(pipe, Xa, scm=_scm(X, a), sensitive_feature_ids="a",
                                  fair_paths=[("x", "m")])


def test_paths_that_are_not_a_list_are_refused_by_name():
    X, Xa, a, w, pipe = _with_column()
    for argument in ["fair_paths", "unfair_paths"]:
        with pytest.raises(ValueError, match=rf"^{argument} must be a list of paths"):
            counterfactual_unfairness(pipe, Xa, scm=_scm(X, a), sensitive_feature_ids="a",
                                      **{argument: "a -> m"})


def test_a_path_between_two_sensitive_nodes_is_refused():
    rng = np.random.default_rng(21)
    n = 40
    a = np.array(["f", "g"])[np.arange(n) % 2]
    b = np.array(["p", "q"])[(np.arange(n) // 2) % 2]
    X = pd.DataFrame({"m": 1.0 * (b == "q") + rng.normal(size=n)})
    reg = LinearRegression().fit(X, X["m"] + rng.normal(size=n))
    scm = LinearSCM(CausalGraph([("a", "b"), ("b", "m")])).fit(
        X.assign(a=pd.Categorical(a), b=pd.Categorical(b)))
    sensitive = pd.DataFrame({"a": a, "b": b})
    with pytest.raises(ValueError, match="to a feature node"):
        counterfactual_unfairness(reg, X, scm=scm, sensitive_features=sensitive,
                                  unfair_paths=["a -> b"])


@pytest.mark.parametrize("ids", [3, [3, 4]])
def test_group_scorer_on_an_array(ids):
    X, a, y, w = _chain(seed=22)
    b = np.where(X["z"] > 0, 1, 0)
    codes = np.searchsorted(LEVELS, a)
    Z = np.column_stack([X.to_numpy(), codes, b])
    clf = LogisticRegression().fit(Z, y)
    pred = clf.predict(Z)
    sensitive = codes if ids == 3 else pd.DataFrame({"a": codes, "b": b})
    expected = demographic_parity_difference(y, pred, sensitive_features=sensitive,
                                             sample_weight=w)
    scorer = make_group_fairness_scorer(demographic_parity_difference,
                                        sensitive_feature_ids=ids)
    assert scorer(clf, Z, y, sample_weight=w) == pytest.approx(-expected, rel=1e-12)
    # An array has no column names: a name is refused, not read as a position.
    named = make_group_fairness_scorer(demographic_parity_difference,
                                       sensitive_feature_ids="3")
    with pytest.raises(ValueError, match="no column names"):
        named(clf, Z, y)



def test_group_scorer_with_a_metric_without_weights():
    """A metric that takes no sample_weight is called without one."""
    X, a, y, w = _chain(seed=24)
    clf = LogisticRegression().fit(X, y)

    def selection_gap(y_true, y_pred, *, sensitive_features):
        rates = [np.mean(y_pred[np.asarray(sensitive_features) == lv]) for lv in LEVELS]
        return max(rates) - min(rates)

    pred = clf.predict(X)
    rates = [pred[a == lv].mean() for lv in LEVELS]
    scorer = make_group_fairness_scorer(selection_gap)
    assert scorer(clf, X, y, sensitive_features=a) == pytest.approx(
        -(max(rates) - min(rates)), rel=1e-12)


class _ArrayOnly(BaseEstimator):
    """A regressor of arrays (positions), as fitted: refuses a DataFrame."""

    _estimator_type = "regressor"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        return tags

    def fit(self, X, y):
        self.coef_ = np.linalg.lstsq(np.asarray(X, dtype=float), y, rcond=None)[0]
        return self

    def predict(self, X):
        assert isinstance(X, np.ndarray), type(X)
        return X[:, :3].astype(float) @ self.coef_


def test_an_array_reaches_the_model_as_an_array():
    X, a, _, w = _chain(seed=25)
    Z = X.to_numpy()
    reg = _ArrayOnly().fit(Z, Z @ [1.0, -2.0, 0.5])
    graph = CausalGraph([("a", 1), (1, 2), ("a", 2)], nodes=[0])
    scm = LinearSCM(graph).fit(pd.DataFrame(Z).assign(a=pd.Categorical(a)))
    expected = _average(X, a, w, lambda r, t: abs((t - r) @ reg.coef_), _total(X, a))
    got = counterfactual_unfairness(reg, Z, scm=scm, sensitive_features=a, sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)


def _two_descendants(seed):
    """a -> c1 (dropped by the model's encoder) and a -> c2 (encoded), z, and
    a label column d that a causes nothing of."""
    rng = np.random.default_rng(seed)
    n = 60
    a = LEVELS[np.arange(n) % 3]
    probs = {"f": [0.6, 0.4], "g": [0.2, 0.8], "h": [0.5, 0.5]}
    c1 = np.array([rng.choice(["u", "v"], p=probs[lv]) for lv in a])
    c2 = np.array([rng.choice(["u", "v"], p=probs[lv][::-1]) for lv in a])
    d = rng.choice(["s", "t"], n)
    z = rng.normal(size=n)
    X = pd.DataFrame({"z": z, "c1": c1, "c2": c2, "d": d})
    y = (z + (c2 == "v") + (d == "s") + rng.logistic(size=n) > 0.5).astype(int)
    scm = LinearSCM(CausalGraph([("a", "c1"), ("a", "c2")], nodes=["z", "d"])).fit(
        X.assign(a=pd.Categorical(a), c1=pd.Categorical(c1), c2=pd.Categorical(c2),
                 d=pd.Categorical(d)))
    return X, a, y, scm


def _soft_reference(pipe, X, a, column, shares):
    """Total variation with the encoded column moved by the share change,
    fed to the rest of the pipeline."""
    encoded = pipe[0].transform(X)
    rest = pipe[1:]
    p = rest.predict_proba(encoded)[:, 1]
    code = np.searchsorted(LEVELS, a)
    total = mass = 0.0
    for k in range(3):
        rows = np.flatnonzero(code != k)
        twin = encoded[rows].copy()
        twin[:, column] = twin[:, column].astype(float) + shares[k] - shares[code[rows]]
        total += np.abs(rest.predict_proba(twin)[:, 1] - p[rows]).sum()
        mass += len(rows)
    return total / mass


def test_a_descendant_the_encoder_drops_does_not_stop_the_others():
    X, a, y, scm = _two_descendants(seed=26)
    pipe = make_pipeline(
        ColumnTransformer([("c2", OneHotEncoder(drop="first"), ["c2"]),
                           ("z", "passthrough", ["z"])]),
        LogisticRegression()).fit(X, y)
    shares = np.array([np.mean(X["c2"][a == lv] == "v") for lv in LEVELS])
    expected = _soft_reference(pipe, X, a, 0, shares)
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)
    assert got == pytest.approx(expected, rel=1e-10)


def test_soft_twins_stay_objects_for_a_step_that_reads_labels():
    """The first step encodes c2 and passes the labels of d on (an object
    array); the next step encodes d: the twins reach it as objects."""
    X, a, y, scm = _two_descendants(seed=27)
    pipe = make_pipeline(
        ColumnTransformer([("c2", OneHotEncoder(drop="first"), ["c2"]),
                           ("rest", "passthrough", ["z", "d"])]),
        ColumnTransformer([("d", OneHotEncoder(), [2])], remainder="passthrough"),
        LogisticRegression()).fit(X, y)
    assert pipe[0].transform(X).dtype == object
    shares = np.array([np.mean(X["c2"][a == lv] == "v") for lv in LEVELS])
    expected = _soft_reference(pipe, X, a, 0, shares)
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)
    assert got == pytest.approx(expected, rel=1e-10)
