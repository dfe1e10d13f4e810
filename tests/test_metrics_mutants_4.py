"""Tests that kill surviving mutants of ``_Twins.__init__`` in
``fairness/_metrics.py`` (issue 17): the routes by which the sensitive
attribute reaches ``counterfactual_unfairness`` when the SCM's node and
X's column differ.

* X as a plain array (integer-coded attribute, an SCM on column
  positions), the attribute named by position or routed: the attribute is
  read from the array, not from a frame made of it;
* the attribute's column in X under another name than the SCM's node
  (``sex`` in X, ``a`` in the SCM): the SCM is matched by elimination and
  the twins set the column X has.

The expected values are written out on the rows as in
``test_metrics_mutants.py`` (twin = row + the total effect of the change
of level, from least squares), not through another route of the function.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.fairness import counterfactual_unfairness
from test_metrics_mutants import (
    LEVELS,
    _chain,
    _chain_effects,
    _reference_with_column,
    _scm,
    _with_column,
)


def _total_shift(X, a):
    d_m, b_a, b_m = _chain_effects(X, a)
    return np.column_stack([np.zeros(3), d_m, b_a + b_m * d_m])


def test_the_attribute_under_another_column_name_than_the_scm_node():
    """X names the attribute ``sex``; the SCM (fitted on ``a``) has one node
    that is not a column of X, so it is the attribute; the twins set X's
    ``sex`` column and the SCM's ``a``."""
    X, Xa, a, w, pipe = _with_column()
    expected = _reference_with_column(X, Xa, a, w, pipe, _total_shift(X, a), True)
    assert expected > 1e-3
    Xs = Xa.rename(columns={"a": "sex"})
    renamed = make_pipeline(
        ColumnTransformer([("a", OneHotEncoder(), ["sex"])], remainder="passthrough"),
        LogisticRegression()).fit(Xs, pipe.predict(Xa))
    # The same model under the new name (its coefficients, refitted on the
    # renamed frame, are the original ones: copy them to be exact).
    renamed[-1].coef_, renamed[-1].intercept_ = pipe[-1].coef_, pipe[-1].intercept_
    assert np.array_equal(renamed.predict_proba(Xs), pipe.predict_proba(Xa))
    got = counterfactual_unfairness(renamed, Xs, scm=_scm(X, a), sensitive_feature_ids="sex",
                                    sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-10)


def test_routed_values_named_like_a_column_of_x_that_is_not_their_node_are_refused():
    """Routed under X's column name ``sex``, the attribute would be matched
    to the SCM's node ``a`` and X's ``sex`` left factual in the twins (the
    value with the direct path ignored, 0.31 instead of 0.40 here)."""
    X, Xa, a, w, pipe = _with_column()
    Xs = Xa.rename(columns={"a": "sex"})
    with pytest.raises(ValueError, match="sensitive_feature_ids='sex'"):
        counterfactual_unfairness(pipe, Xs, scm=_scm(X, a),
                                  sensitive_features=pd.Series(a, name="sex"))


def _array_setting(seed=3):
    """The chain as an array [a code, z, m, x] and an SCM on positions."""
    X, a, y, w = _chain(seed=seed)
    code = np.searchsorted(LEVELS, a)
    array = np.column_stack([code, X.to_numpy()]).astype(float)
    graph = CausalGraph([(0, 2), (2, 3), (0, 3)], nodes=[1])
    positions = pd.DataFrame(array).astype({0: int}).astype({0: "category"})
    scm = LinearSCM(graph).fit(positions)
    clf = LogisticRegression().fit(array, y)
    return X, a, code, array, w, scm, clf


def _array_reference(X, a, code, array, w, clf):
    shift = _total_shift(X, a)
    p = clf.predict_proba(array)[:, 1]
    total = mass = 0.0
    for k in range(len(LEVELS)):
        rows = np.flatnonzero(code != k)
        twins = array[rows].copy()
        twins[:, 1:] += shift[k] - shift[code[rows]]
        twins[:, 0] = k
        total += np.dot(w[rows], np.abs(clf.predict_proba(twins)[:, 1] - p[rows]))
        mass += w[rows].sum()
    return total / mass


@pytest.mark.parametrize("route", ["position", "routed"])
def test_an_array_with_an_integer_coded_attribute_and_an_scm_on_positions(route):
    X, a, code, array, w, scm, clf = _array_setting()
    expected = _array_reference(X, a, code, array, w, clf)
    assert expected > 1e-3
    given = ({"sensitive_feature_ids": 0} if route == "position"
             else {"sensitive_features": pd.Series(code, name=0)})
    got = counterfactual_unfairness(clf, array, scm=scm, sample_weight=w, **given)
    assert got == pytest.approx(expected, rel=1e-10)


def test_an_array_refuses_an_attribute_named_by_a_string():
    """An array has no column names: ``"0"`` is not its first column."""
    X, a, code, array, w, scm, clf = _array_setting()
    with pytest.raises(ValueError, match="sensitive_feature_ids"):
        counterfactual_unfairness(clf, array, scm=scm, sensitive_feature_ids="0")
