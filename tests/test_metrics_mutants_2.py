"""More tests that kill surviving mutants of ``fairness/_metrics.py`` (issue
17, ``benchmarks/run_mutation.py --modules metrics``): the probing of the
model's encoding for categorical descendants (``_probe_blocks``,
``_find_space``), the sums over twins (``_unfairness_sums``, ``_Twins``) and
the batches of twins (``_respond_batch``).

Every expected value comes from an independent computation on the rows:

* a categorical descendant ``c`` of the attribute ``a`` (the SCM ``a -> c``)
  has as twin the one-hot row of ``c`` plus the difference of the level
  shares of ``c`` between the groups of ``a`` (the linear probability model),
  fed to the model after its encoding; the model's outputs on the twins are
  written out with ``expit`` of the logistic score;
* an encoding whose change with ``c`` depends on the row by more than
  ``1e-9`` times the larger of 1 and that column's change is refused.
"""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.fairness import counterfactual_unfairness

LEVELS = np.array(["f", "g", "h"])
C_LEVELS = ["u", "v", "w"]


def _descendant(n=60, seed=3):
    """``a -> c`` (c categorical), ``z`` independent; the first three rows
    (the rows the encoding is probed on) have z = 0, 1 and 0.5."""
    rng = np.random.default_rng(seed)
    code = np.arange(n) % 3
    a = LEVELS[code]
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    c = np.array([rng.choice(C_LEVELS, p=probs[k]) for k in code], dtype=object)
    z = rng.normal(size=n)
    z[:3] = [0.0, 1.0, 0.5]
    y = (z + 1.5 * (c == "v") - (c == "w") + rng.logistic(size=n) > 0).astype(int)
    X = pd.DataFrame({"z": z, "c": c})
    scm = LinearSCM(CausalGraph([("a", "c")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a, categories=LEVELS), c=pd.Categorical(c)))
    return X, a, y, scm


def _shares(c, a):
    """Per level of a, the share of each level of c."""
    return np.array([[np.mean(c[a == lv] == v) for v in C_LEVELS] for lv in LEVELS])


class _Scaled(TransformerMixin, BaseEstimator):
    """Raw rows in; out: each level's indicator of c times
    ``scale[level] + eps[level] * z``, then z."""

    def __init__(self, scale=(1.0, 1.0, 1.0), eps=(0.0, 0.0, 0.0)):
        self.scale = scale
        self.eps = eps

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def transform(self, X):
        z = X["z"].to_numpy(dtype=float)
        c = X["c"].to_numpy(dtype=object)
        cols = [(c == v) * (s + e * z) for v, s, e in zip(C_LEVELS, self.scale, self.eps)]
        return np.column_stack(cols + [z])


# --------------------------------------------------------------------------
# _probe_blocks: the tolerance of the row-dependence check is 1e-9 times
# the larger of 1 and each column's own largest change
# --------------------------------------------------------------------------
@pytest.mark.parametrize("scale,eps", [
    # A change of 1 that varies by 1.5e-9 over the probed rows: refused
    # (the floor of the scale is 1, not 2).
    ((1.0, 1.0, 1.0), (1.5e-9, 0.0, 0.0)),
    # A change of 1 in column v that varies by 5e-9, next to a change of 100
    # in column u: refused (each column has its own scale).
    ((100.0, 1.0, 1.0), (0.0, 5e-9, 0.0)),
])
def test_a_row_dependence_above_the_tolerance_is_refused(scale, eps):
    X, a, y, scm = _descendant()
    pipe = make_pipeline(_Scaled(scale, eps), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="depends on the other"):
        counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)


@pytest.mark.parametrize("scale,eps", [
    # A change of 2 that varies by 0.5e-9.
    ((2.0, 1.0, 3.0), (0.5e-9, 0.0, 0.0)),
    # A change of 100 that varies by 5e-8 (the tolerance is 1e-9 * 100).
    ((100.0, 1.0, 1.0), (5e-8, 0.0, 0.0)),
])
def test_a_row_dependence_below_the_tolerance_is_the_linear_twin(scale, eps):
    """Accepted, and the twins are the encoded rows moved by the level
    shares times the scales (the change on the first probed row, z = 0)."""
    X, a, y, scm = _descendant()
    pipe = make_pipeline(_Scaled(scale, eps), LogisticRegression())
    pipe.fit(X, y)
    clf = pipe[-1]
    encoded = pipe[0].transform(X)
    shares = _shares(X["c"].to_numpy(), a) * np.asarray(scale)
    code = np.searchsorted(LEVELS, a)
    p = expit(encoded @ clf.coef_[0] + clf.intercept_[0])
    total = mass = 0.0
    for k in range(3):
        rows = np.flatnonzero(code != k)
        twin = encoded[rows].copy()
        twin[:, :3] += shares[k] - shares[code[rows]]
        total += np.abs(expit(twin @ clf.coef_[0] + clf.intercept_[0]) - p[rows]).sum()
        mass += rows.size
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_features=a)
    assert got == pytest.approx(total / mass, rel=1e-7)


# --------------------------------------------------------------------------
# Two attributes read by the model, one's direct path fair (_Twins._raw)
# --------------------------------------------------------------------------
def test_a_fair_direct_path_leaves_only_that_column_unchanged():
    """fair_paths=["a"]: the model reading a's column is fair, so the twins
    keep a's column and set b's; m moves by the total effect of both."""
    rng = np.random.default_rng(12)
    n = 48
    a = np.array(["f", "g"])[np.arange(n) % 2]
    b = np.array(["p", "q", "r"])[(np.arange(n) // 2) % 3]
    m = (1.0 * (a == "g") + np.select([b == "q", b == "r"], [2.0, -1.0], 0.0)
         + rng.normal(size=n))
    z = rng.normal(size=n)
    X = pd.DataFrame({"a": a, "z": z, "b": b, "m": m})
    y = 2.0 * z - m + 1.5 * (a == "g") - 2.5 * (b == "r") + 0.1 * rng.normal(size=n)
    pipe = make_pipeline(
        ColumnTransformer([("s", OneHotEncoder(), ["a", "b"])], remainder="passthrough"),
        LinearRegression()).fit(X, y)
    scm = LinearSCM(CausalGraph([("a", "m"), ("b", "m")], nodes=["z"])).fit(
        X.assign(a=pd.Categorical(a), b=pd.Categorical(b)))
    # m's total effects: least squares of m on [1, a == g, b == q, b == r].
    A = np.column_stack([np.ones(n), a == "g", b == "q", b == "r"]).astype(float)
    c = np.linalg.lstsq(A, m, rcond=None)[0]

    def effect(ai, bi):
        return c[1] * (ai == "g") + c[2] * (bi == "q") + c[3] * (bi == "r")

    w = rng.uniform(0.5, 2.0, size=n)
    f = pipe.predict(X)
    total = mass = 0.0
    for ai, bi in itertools.product(["f", "g"], ["p", "q", "r"]):
        rows = np.flatnonzero((a != ai) | (b != bi))
        twins = X.iloc[rows].assign(
            b=bi, m=m[rows] + effect(ai, bi) - effect(a[rows], b[rows]))
        total += np.dot(w[rows], np.abs(pipe.predict(twins) - f[rows]))
        mass += w[rows].sum()
    got = counterfactual_unfairness(pipe, X, scm=scm, sensitive_feature_ids=["a", "b"],
                                    sample_weight=w, fair_paths=["a"])
    assert got == pytest.approx(total / mass, rel=1e-10)


def test_a_missing_attribute_is_refused_naming_the_function():
    X, a, y, scm = _descendant()
    pipe = make_pipeline(_Scaled(), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match=r"^counterfactual_unfairness needs the sensitive"):
        counterfactual_unfairness(pipe, X, scm=scm)
