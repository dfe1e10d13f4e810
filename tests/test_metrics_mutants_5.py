"""Tests that kill surviving mutants of ``fairness/_metrics.py`` (issue 17,
``benchmarks/run_mutation.py --modules metrics``) left by the earlier files:
the attribute's column set on the twins (its category dtype kept, a level
outside its categories), the dtype of the model's outputs and of the soft
twins it receives, an array reaching a pipeline step as an array, the
interaction probes of two categorical descendants with many levels, the
messages naming where the twins are fed, the two scorers' reprs and
refusals, and the group scorer on dask rows.

Every expected value comes from an independent computation on the rows:

* the SCM here is ``a -> m`` (or ``a -> c`` for a categorical descendant)
  with ``z`` independent; a model that reads ``z`` and ``a`` only sees its
  twin change by ``a``'s level alone, so the unfairness is the average of
  the change of its output, written out per row and other level;
* a categorical descendant's twin is its one-hot row plus the differences of
  its levels' proportions (the linear probability model) in the encoded
  columns, fed to the last step of the pipeline;
* the counterfactually fair classifier of this package on the true SCM of
  ``make_counterfactual_classification`` has no unfairness (its pipelines
  must find its own one-hot encoding, after every step before it);
* the group scorer is minus fairlearn's own metric on ``predict`` of the
  in-memory rows (with the weights when given), or, for string labels, the
  weighted gap of the rates of "yes" written out per group;
* a refusal is pinned by its message.
"""

import functools

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.fairness import (
    counterfactual_unfairness,
    make_counterfactual_unfairness_scorer,
    make_group_fairness_scorer,
)

LEVELS = np.array(["f", "g", "h"])
EFFECT = {"f": 0.0, "g": 1.3, "h": -0.9}


def _rows(n=30, seed=0, levels=LEVELS):
    rng = np.random.default_rng(seed)
    a = np.asarray(levels)[np.arange(n) % len(levels)]
    z = rng.normal(size=n)
    m = 0.8 * np.array([EFFECT[lv] for lv in a]) + rng.normal(size=n)
    return pd.DataFrame({"z": z, "m": m}), a


def _scm(X, a):
    return LinearSCM(CausalGraph([("a", "m")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a, categories=LEVELS)))


def _twin_average(z, a, out):
    """Average over every row and other level of ``out(z, level', level)``."""
    total, count = 0.0, 0
    for zi, lv in zip(z, a):
        for other in LEVELS:
            if other != lv:
                total += out(zi, other, lv)
                count += 1
    return total / count


class _ReadsCodes(ClassifierMixin, BaseEstimator):
    """Scores z + 0.7 * (category code of a): needs a's category dtype with
    the three levels, as it was fitted."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        dtype = X["a"].dtype
        assert isinstance(dtype, pd.CategoricalDtype), dtype
        assert list(dtype.categories) == list(LEVELS), dtype
        p = expit(X["z"].to_numpy() + 0.7 * X["a"].cat.codes.to_numpy())
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


class _ReadsLabels(ClassifierMixin, BaseEstimator):
    """Scores z + EFFECT[a] from a's labels (any dtype); with ``hard``, its
    probabilities are 0/1 in uint8."""

    def __init__(self, hard=False):
        self.hard = hard

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def _score(self, X):
        return X["z"].to_numpy() + np.array([EFFECT[v] for v in X["a"]])

    def predict_proba(self, X):
        s = self._score(X)
        if self.hard:
            d = (s > 0).astype(np.uint8)
            return np.column_stack([1 - d, d]).astype(np.uint8)
        p = expit(s)
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self._score(X) > 0).astype(int)


# --------------------------------------------------------------------------
# The attribute's column set on the twins (_set_column)
# --------------------------------------------------------------------------
def test_the_attribute_column_keeps_its_category_dtype_on_the_twins():
    X, a = _rows(seed=1)
    Xa = X.assign(a=pd.Categorical(a, categories=LEVELS))
    clf = _ReadsCodes().fit(Xa, None)
    code = {lv: k for k, lv in enumerate(LEVELS)}
    expected = _twin_average(
        X["z"], a, lambda z, t, s: abs(expit(z + 0.7 * code[t]) - expit(z + 0.7 * code[s])))
    got = counterfactual_unfairness(clf, Xa, scm=_scm(X, a), sensitive_feature_ids="a")
    assert got == pytest.approx(expected, rel=1e-12)


def test_a_level_outside_the_columns_categories_is_set_as_a_label():
    """X's column has the categories of its rows (f, g); scm knows h too:
    the twins at h hold the label h (an object column)."""
    X, a = _rows(seed=2, levels=LEVELS[:2])
    Xa = X.assign(a=pd.Categorical(a))
    assert list(Xa["a"].cat.categories) == ["f", "g"]
    scm = LinearSCM(CausalGraph([("a", "m")], nodes=["z"])).fit(
        pd.concat([X.assign(a=a), pd.DataFrame({"z": [0.1, -0.2], "m": [0.3, -0.9],
                                                 "a": ["h", "h"]})],
                  ignore_index=True).assign(a=lambda d: pd.Categorical(d["a"])))
    assert list(scm.categories_["a"]) == list(LEVELS)
    clf = _ReadsLabels().fit(Xa, None)
    expected = _twin_average(
        X["z"], a, lambda z, t, s: abs(expit(z + EFFECT[t]) - expit(z + EFFECT[s])))
    got = counterfactual_unfairness(clf, Xa, scm=scm, sensitive_feature_ids="a")
    assert got == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------
# The model's outputs as floats (_respond)
# --------------------------------------------------------------------------
def test_integer_probabilities_are_compared_as_floats():
    """Probabilities 0/1 in uint8: the total variation is the share of
    changed decisions (no wrap-around of unsigned integers)."""
    X, a = _rows(seed=3)
    Xa = X.assign(a=a)
    clf = _ReadsLabels(hard=True).fit(Xa, None)
    expected = _twin_average(
        X["z"], a, lambda z, t, s: float((z + EFFECT[t] > 0) != (z + EFFECT[s] > 0)))
    assert 0.05 < expected < 0.95
    got = counterfactual_unfairness(clf, Xa, scm=_scm(X, a), sensitive_feature_ids="a",
                                    kind="probability")
    assert got == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------
# Scorers: reprs and refusals
# --------------------------------------------------------------------------
def test_counterfactual_scorer_repr_lists_the_paths_given():
    X, a = _rows(seed=4)
    scm = _scm(X, a)
    plain = make_counterfactual_unfairness_scorer(scm, kind="flip",
                                                  sensitive_feature_ids="a")
    assert repr(plain) == (f"make_counterfactual_unfairness_scorer(scm={scm!r}, "
                           "kind='flip', sensitive_feature_ids='a')")
    fair = make_counterfactual_unfairness_scorer(scm, fair_paths=["a -> m"])
    assert repr(fair) == (f"make_counterfactual_unfairness_scorer(scm={scm!r}, "
                          "kind='auto', sensitive_feature_ids=None, "
                          "fair_paths=['a -> m'])")


def test_counterfactual_scorer_refusals_say_why():
    X, a = _rows(seed=5)
    scm = _scm(X, a)
    with pytest.raises(ValueError, match=r"^kind must be one of \('auto', 'probability', "
                                         r"'flip', 'prediction'\); got 'proba'\.$"):
        make_counterfactual_unfairness_scorer(scm, kind="proba")
    for bad in (LinearSCM(scm.graph_), scm.graph_):
        with pytest.raises(ValueError, match=r"^scm must be a fitted LinearSCM\.$"):
            make_counterfactual_unfairness_scorer(bad)


def _gap(y_true, y_pred, *, sensitive_features, sample_weight=None):
    return demographic_parity_difference(y_true, y_pred,
                                         sensitive_features=sensitive_features,
                                         sample_weight=sample_weight)


def test_group_scorer_repr_names_the_metric():
    scorer = make_group_fairness_scorer(demographic_parity_difference,
                                        sensitive_feature_ids=["a", "b"])
    assert repr(scorer) == ("make_group_fairness_scorer(demographic_parity_difference, "
                            "sensitive_feature_ids=['a', 'b'])")
    partial = functools.partial(_gap)
    scorer = make_group_fairness_scorer(partial)
    assert repr(scorer) == (f"make_group_fairness_scorer({partial!r}, "
                            "sensitive_feature_ids=None)")
    with pytest.raises(ValueError, match=r"^metric must be callable; got 'dp'\.$"):
        make_group_fairness_scorer("dp")


# --------------------------------------------------------------------------
# Soft twins: float inputs, arrays kept arrays (_add_soft, _candidate_spaces)
# --------------------------------------------------------------------------
CS = ["u", "v", "w"]


def _categorical(n=45, seed=10):
    rng = np.random.default_rng(seed)
    a = LEVELS[np.arange(n) % 3]
    probs = {"f": [0.6, 0.3, 0.1], "g": [0.2, 0.5, 0.3], "h": [0.1, 0.2, 0.7]}
    c = np.array([rng.choice(CS, p=probs[lv]) for lv in a], dtype=object)
    z = rng.normal(size=n)
    y = (z + 1.5 * (c == "v") - (c == "w") + rng.logistic(size=n) > 0).astype(int)
    scm = LinearSCM(CausalGraph([("a", "c")], nodes=["z"])).fit(
        pd.DataFrame({"z": z, "c": pd.Categorical(c), "a": pd.Categorical(a)}))
    return pd.DataFrame({"z": z, "c": c}), a, y, scm


def _shares(c, a):
    return np.array([[np.mean(c[a == lv] == v) for v in CS] for lv in LEVELS])


def _soft_reference(encoded, cols, a, c, proba):
    """Total variation with the one-hot columns ``cols`` of ``encoded`` moved
    by the change of c's level shares, averaged over rows and other levels."""
    shares = _shares(c, a)
    p = proba(encoded)
    code = np.searchsorted(LEVELS, a)
    total = count = 0.0
    for k in range(3):
        rows = np.flatnonzero(code != k)
        twin = np.asarray(encoded[rows], dtype=float).copy()
        twin[:, cols] += shares[k] - shares[code[rows]]
        total += np.abs(proba(twin) - p[rows]).sum()
        count += len(rows)
    return total / count


class _FloatLogit(ClassifierMixin, BaseEstimator):
    """A logistic model that takes float inputs only (dense or sparse)."""

    def fit(self, X, y):
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        assert X.dtype == np.float64, X.dtype
        dense = X.toarray() if sparse.issparse(X) else X
        p = expit(dense @ self.model_.coef_[0] + self.model_.intercept_[0])
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


@pytest.mark.parametrize("sparse_output", [False, True])
def test_soft_twins_reach_the_model_as_floats(sparse_output):
    X, a, y, scm = _categorical(seed=11)
    encoder = ColumnTransformer([("c", OneHotEncoder(), ["c"])], remainder="passthrough",
                                sparse_threshold=1.0 if sparse_output else 0.0)
    pipe = make_pipeline(encoder, _FloatLogit()).fit(X, y)
    encoded = pipe[0].transform(X)
    assert sparse.issparse(encoded) is sparse_output
    encoded = encoded.toarray() if sparse_output else encoded
    expected = _soft_reference(encoded, [0, 1, 2], a, X["c"].to_numpy(),
                               lambda E: pipe[-1].predict_proba(E)[:, 1])
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)
    assert got == pytest.approx(expected, rel=1e-10)


def _array_one_hot(X):
    """Arrays only: the indicators of c (column 1) and z (column 0)."""
    assert isinstance(X, np.ndarray), type(X)
    return np.column_stack([(X[:, 1] == v).astype(float) for v in CS]
                           + [X[:, 0].astype(float)])


def test_an_array_reaches_a_pipeline_step_as_an_array():
    X, a, y, _ = _categorical(seed=12)
    Z = X.to_numpy(dtype=object)
    scm = LinearSCM(CausalGraph([("a", 1)], nodes=[0])).fit(
        pd.DataFrame({0: X["z"], 1: pd.Categorical(X["c"]), "a": pd.Categorical(a)}))
    pipe = make_pipeline(FunctionTransformer(_array_one_hot), LogisticRegression()).fit(Z, y)
    expected = _soft_reference(pipe[0].transform(Z), [0, 1, 2], a, X["c"].to_numpy(),
                               lambda E: pipe[-1].predict_proba(E)[:, 1])
    got = counterfactual_unfairness(pipe, Z, scm=scm, sensitive_features=a)
    assert got == pytest.approx(expected, rel=1e-10)


def _mix_only(X):
    """Raw rows in; the indicators of c scaled by 1 + |z|, and z, out."""
    scale = 1.0 + X["z"].abs().to_numpy()
    return np.column_stack([(X["c"] == v).to_numpy() * scale for v in CS]
                           + [X["z"].to_numpy()])


def test_a_refusal_names_the_pipeline_step_probed():
    X, a, y, scm = _categorical(seed=13)
    pipe = Pipeline([("mix", FunctionTransformer(_mix_only)),
                     ("model", LogisticRegression())]).fit(X, y)
    with pytest.raises(ValueError, match=r"^at the output of pipeline step 0 "
                                         r"\('mix'\), the encoding of 'c' depends "
                                         r"on the other columns of the row"):
        counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)


# --------------------------------------------------------------------------
# Interactions of two categorical descendants with many levels
# (_check_additive probes at most 12 pairs of levels, a stride of the pairs)
# --------------------------------------------------------------------------
class _Cross(BaseEstimator):
    """z, and one column shared by c1 and c2: [c1 = p] + [c2 = q], plus
    their interaction [c1 = p][c2 = r]."""

    def __init__(self, p="l01", q="l02", r="l03"):
        self.p, self.q, self.r = p, q, r

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def transform(self, X):
        one = (X["c1"] == self.p).to_numpy(dtype=float)
        two = (X["c2"] == self.q).to_numpy(dtype=float)
        both = one * (X["c2"] == self.r).to_numpy(dtype=float)
        return np.column_stack([X["z"].to_numpy(dtype=float), one + two + both])


def _cross_data(n1, n2, n=90, seed=30):
    rng = np.random.default_rng(seed)
    levels1 = [f"l{k:02d}" for k in range(n1)]
    levels2 = [f"l{k:02d}" for k in range(n2)]
    a = LEVELS[np.arange(n) % 3]
    c1 = rng.choice(levels1, n).astype(object)
    c2 = rng.choice(levels2, n).astype(object)
    c1[3:3 + n1], c2[3:3 + n2] = levels1, levels2   # every level present
    c1[:3], c2[:3] = "l00", "l00"                   # the probe rows
    z = rng.normal(size=n)
    X = pd.DataFrame({"z": z, "c1": c1, "c2": c2})
    y = (z + rng.logistic(size=n) > 0).astype(int)
    scm = LinearSCM(CausalGraph([("a", "c1"), ("a", "c2")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a), c1=pd.Categorical(c1), c2=pd.Categorical(c2)))
    return X, a, y, scm


@pytest.mark.parametrize("n1,n2,p,q,r", [
    # 2 x 12 pairs, every other one probed: (1, 3) is, (0, j) pairs are not.
    (3, 13, "l01", "l01", "l03"),
    # 12 x 2 pairs, every other one probed: (i, 1) are, (i, 0) pairs are not.
    (13, 3, "l05", "l02", "l01"),
])
def test_an_interaction_on_a_probed_pair_of_many_levels_is_refused(n1, n2, p, q, r):
    X, a, y, scm = _cross_data(n1, n2)
    pipe = make_pipeline(_Cross(p, q, r), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match=r"^at the output of pipeline step 0 \('_cross'\), "
                                         r"the encodings of 'c1' and 'c2' interact"):
        counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)


# --------------------------------------------------------------------------
# The group scorer on dask rows: minus fairlearn's metric on the rows
# --------------------------------------------------------------------------
def _group_rows(n=120, seed=40, frame=True):
    rng = np.random.default_rng(seed)
    s = np.arange(n) % 3
    b = rng.integers(0, 2, n)
    z = rng.normal(size=n) + 0.3 * s - 0.4 * b
    X = pd.DataFrame({"z": z, "x": rng.normal(size=n), "s": s, "b": b})
    y = (z + rng.logistic(size=n) > 0.5).astype(int)
    w = np.where(z > 0, 3.0, 0.5) * rng.uniform(0.5, 1.5, n)
    clf = LogisticRegression().fit(X if frame else X.to_numpy(), y)
    return X, y, w, clf


@pytest.mark.parametrize("ids", [2, [2, 3]])
def test_group_scorer_on_a_dask_array_reads_the_columns_named(dask_sync, ids):
    da = pytest.importorskip("dask.array")
    X, y, w, clf = _group_rows(frame=False)
    pred = clf.predict(X.to_numpy())
    groups = X["s"] if ids == 2 else X[["s", "b"]]
    weighted = demographic_parity_difference(y, pred, sensitive_features=groups,
                                             sample_weight=w)
    flat = demographic_parity_difference(y, pred, sensitive_features=groups)
    assert abs(weighted - flat) > 1e-3
    if ids != 2:  # both columns count, not the first alone
        assert abs(weighted - demographic_parity_difference(
            y, pred, sensitive_features=X["s"], sample_weight=w)) > 1e-3
    scorer = make_group_fairness_scorer(demographic_parity_difference,
                                        sensitive_feature_ids=ids)
    lazy_X = da.from_array(X.to_numpy(), chunks=(40, -1))
    lazy_y = da.from_array(y, chunks=40)
    got = scorer(clf, lazy_X, lazy_y, sample_weight=da.from_array(w, chunks=40))
    assert got == pytest.approx(-weighted, abs=1e-12)
    assert scorer(clf, lazy_X, lazy_y) == pytest.approx(-flat, abs=1e-12)


def test_group_scorer_on_a_dask_dataframe_with_one_column_named(dask_sync):
    dd = pytest.importorskip("dask.dataframe")
    X, y, w, clf = _group_rows(seed=41)
    pred = clf.predict(X)
    weighted = demographic_parity_difference(y, pred, sensitive_features=X["b"],
                                             sample_weight=w)
    scorer = make_group_fairness_scorer(demographic_parity_difference,
                                        sensitive_feature_ids="b")
    got = scorer(clf, dd.from_pandas(X, npartitions=3),
                 dd.from_pandas(pd.Series(y), npartitions=3),
                 sample_weight=dd.from_pandas(pd.Series(w), npartitions=3))
    assert got == pytest.approx(-weighted, abs=1e-12)


# --------------------------------------------------------------------------
# The one-hot encoding inside an estimator of this package, as the last
# step of a pipeline (_candidate_spaces): its prefix is every step before it
# --------------------------------------------------------------------------
def _drop_noise(X):
    """Drops the column ``noise`` of a DataFrame."""
    return X.drop(columns="noise")


@pytest.fixture(scope="module")
def exactly_fair():
    """Categorical mediators x0, x1 and the true SCM: the counterfactually
    fair classifier on it has no counterfactual unfairness."""
    from skcausal_trust.datasets import make_counterfactual_classification
    from skcausal_trust.fairness import CounterfactuallyFairClassifier

    X, y, a, scm = make_counterfactual_classification(
        200, 4, n_categorical=2, n_levels=3, random_state=3)
    noise = np.random.default_rng(0).normal(size=len(X))
    return X, y, a, scm, noise, CounterfactuallyFairClassifier


def test_a_pipeline_of_one_estimator_of_this_package_is_exactly_fair(exactly_fair):
    X, y, a, scm, _, cfc = exactly_fair
    pipe = Pipeline([("clf", cfc(scm))]).fit(X, y, clf__sensitive_features=a)
    assert counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a) < 1e-6


def test_the_prefix_before_the_package_estimator_is_every_step(exactly_fair):
    X, y, a, scm, noise, cfc = exactly_fair
    Xn = X.assign(noise=noise)
    pipe = Pipeline([("same", FunctionTransformer()), ("drop", FunctionTransformer(_drop_noise)),
                     ("clf", cfc(scm))]).fit(Xn, y, clf__sensitive_features=a)
    assert counterfactual_unfairness(pipe, Xn, scm=scm, sensitive_features=a) < 1e-6


# --------------------------------------------------------------------------
# Refusals of X and of the attribute (_as_frame, _sensitive_of_scm)
# --------------------------------------------------------------------------
def test_x_of_unreadable_labels_or_shape_is_refused():
    X, a = _rows(seed=7)
    clf = _ReadsLabels().fit(X.assign(a=a), None)
    mixed = X.assign(a=a).set_axis(["z", 1, "a"], axis=1)
    with pytest.raises(ValueError, match=r"^X's column labels \['z', 1, 'a'\] are not all "
                                         r"strings"):
        counterfactual_unfairness(clf, mixed, scm=_scm(X, a), sensitive_feature_ids="a")
    with pytest.raises(ValueError, match=r"^X must be 2-dimensional; got shape \(30,\)\.$"):
        counterfactual_unfairness(clf, X["z"].to_numpy(), scm=_scm(X, a),
                                  sensitive_features=a)


def test_an_unnamed_attribute_among_two_outside_nodes_is_refused():
    """X lacks m as well: two nodes of scm are not columns of X."""
    X, a = _rows(seed=8)
    clf = _ReadsLabels().fit(X.assign(a=a), None)
    with pytest.raises(ValueError, match=r"^cannot tell which node of scm is the sensitive "
                                         r"attribute; its name is \[None\] and the nodes "
                                         r"that are not columns of X are \['a', 'm'\]"):
        counterfactual_unfairness(clf, X[["z"]], scm=_scm(X, a), sensitive_features=a)


def _yes_gap(y_true, y_pred, *, sensitive_features, sample_weight=None):
    """The gap of the weighted rates of "yes" between the groups."""
    pred = np.asarray(y_pred) == "yes"
    groups = np.asarray(sensitive_features)
    w = np.ones(len(pred)) if sample_weight is None else np.asarray(sample_weight, float)
    rates = [np.dot(w[groups == g], pred[groups == g]) / w[groups == g].sum()
             for g in np.unique(groups)]
    return max(rates) - min(rates)


def test_group_scorer_on_dask_rows_of_string_predictions(dask_sync):
    dd = pytest.importorskip("dask.dataframe")
    X, y, w, _ = _group_rows(seed=42)
    labels = np.where(y == 1, "yes", "no")
    clf = LogisticRegression().fit(X, labels)
    pred = clf.predict(X)
    groups = X["s"].to_numpy()
    rates = [np.average(pred[groups == g] == "yes", weights=w[groups == g])
             for g in range(3)]
    expected = max(rates) - min(rates)
    assert expected > 0.05
    scorer = make_group_fairness_scorer(_yes_gap, sensitive_feature_ids="s")
    got = scorer(clf, dd.from_pandas(X, npartitions=3),
                 dd.from_pandas(pd.Series(labels), npartitions=3),
                 sample_weight=dd.from_pandas(pd.Series(w), npartitions=3))
    assert got == pytest.approx(-expected, abs=1e-12)
