"""The certificate of :func:`unfair_area` checks, in turn, that the decision
function moves (1) by the same amount for every row of a level when the row
goes to its twin, (2) by the same amount for every row along each noise
direction, and (3) affinely along random combinations of the directions.
Each model below breaks exactly one of them and must be refused with that
check's reason; a linear model on a large scale must still be certified.

The models add to a logistic regression a term with a steep linear trend
and a small non-linear part: its changes differ between rows by far more
than the tolerance on the scores' scale, yet by less than their own size, so
a check made relative to their size would pass them.

The task's SCM: ``A -> x0, x1, x2``; ``x1 -> x2, x5``; ``x2 -> x4``; ``x3``
isolated (a move along its noise direction moves ``x3`` alone, by its
noise scale).
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.datasets import make_counterfactual_classification
from skcausal_trust.fairness import unfair_area
from skcausal_trust.fairness._unfair_area import PROBE_ROWS


class _PlusTerm(LogisticRegression):
    """Logistic regression whose decision function gets ``term(X)`` added
    (``predict`` follows the sign, as the certificate requires)."""

    def __init__(self, term=None, C=1.0):
        self.term = term
        super().__init__(C=C)

    def decision_function(self, X):
        X = np.asarray(X, dtype=float)
        return super().decision_function(X) + self.term(X)

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class _AbsTerm:
    """``3 x_j + 0.2 |x_j - centre|``: a move by s > 0 changes it by
    3.2 s on one side of the centre and by 2.8 s on the other."""

    def __init__(self, column, centre):
        self.column, self.centre = column, centre

    def __call__(self, X):
        x = X[:, self.column]
        return 3.0 * x + 0.2 * np.abs(x - self.centre)


class _PeriodicTerm:
    """``3 x_j + 0.2 sin(2 pi x_j / period)``: a move by a whole period
    changes it by 3 periods at every row, a move by a fraction of a period
    by an amount that depends on the row."""

    def __init__(self, column, period):
        self.column, self.period = column, period

    def __call__(self, X):
        x = X[:, self.column]
        return 3.0 * x + 0.2 * np.sin(2 * np.pi * x / self.period)


@pytest.fixture(scope="module")
def task():
    X, y, a, _ = make_counterfactual_classification(400, random_state=0)
    data = X.rename(columns={f"x{i}": i for i in range(6)})
    graph = CausalGraph([("A", 0), ("A", 1), ("A", 2), (1, 2), (1, 5), (2, 4)],
                        nodes=["A", *range(6)])
    scm = LinearSCM(graph).fit(data.assign(A=a))
    X = data.to_numpy()
    terms = {"twin": _AbsTerm(0, np.median(X[:, 0])),
             "direction": _AbsTerm(3, np.median(X[:, 3])),
             "combination": _PeriodicTerm(3, scm.noise_scale(3))}
    return X, y, a, scm, terms


@pytest.mark.parametrize("check, reason", [
    ("twin", "its response to a counterfactual change differs between rows"),
    ("direction", "its response to a noise direction differs between rows"),
    ("combination", "its decision function is not affine in the perturbation"),
])
def test_each_check_refuses_the_model_that_breaks_it(task, check, reason):
    X, y, a, scm, terms = task
    model = _PlusTerm(terms[check]).fit(X, y)
    with pytest.raises(ValueError, match=f"cannot be certified for _PlusTerm: {reason}"):
        unfair_area(model, X, scm=scm, radius=0.5, sensitive_features=a, method="exact")


def test_the_terms_break_only_their_check(task):
    """Independent of the certificate (twins from ``scm.counterfactual``):
    at the first rows of each level, the twin term's change to the twin
    differs between rows (by less than its size) while the other terms do
    not change; so does the direction term's change along x3's noise; the
    periodic term's change along x3's noise is the same at every row, along
    a fraction of it it is not (the random combinations' moves)."""
    X, y, a, scm, terms = task
    frame = pd.DataFrame(X).assign(A=pd.Categorical(a))
    twins = scm.counterfactual(frame, {"A": 1 - np.asarray(a)})
    twin_X = twins[list(range(6))].to_numpy(dtype=float)
    unit = np.eye(6)[3] * scm.noise_scale(3)
    probes = np.concatenate([np.flatnonzero(np.asarray(a) == level)[:PROBE_ROWS]
                             for level in (0, 1)])
    for level in (0, 1):
        rows = probes[np.asarray(a)[probes] == level]
        change = terms["twin"](twin_X[rows]) - terms["twin"](X[rows])
        assert 0.1 < np.ptp(change) < np.abs(change).min()
        for other in ("direction", "combination"):
            assert np.allclose(terms[other](twin_X[rows]), terms[other](X[rows]))
    change = terms["direction"](X[probes] + unit) - terms["direction"](X[probes])
    assert 0.1 < np.ptp(change) < np.abs(change).min()
    periodic = terms["combination"]
    assert np.allclose(periodic(X + unit) - periodic(X), 3.0 * unit[3], atol=1e-9)
    change = periodic(X[probes] + 0.3 * unit) - periodic(X[probes])
    assert np.ptp(change) > 0.1


def test_an_affine_model_on_a_large_scale_is_certified(task):
    """Scores of order 1e6: the checks' tolerance scales with them, and the
    certified area agrees with dense sampling from below."""
    X, y, a, scm, _ = task
    model = _PlusTerm(lambda X: 1e6 * (X[:, 1] + 0.5)).fit(X, y)
    result = unfair_area(model, X, scm=scm, radius=0.5, sensitive_features=a,
                         method="exact", return_details=True)
    sampled = unfair_area(model, X, scm=scm, radius=0.5, sensitive_features=a,
                          method="monte-carlo", n_perturbations=200, random_state=0)
    assert result.method == "exact"
    assert 0.2 < result.area < 0.9
    assert sampled <= result.area + 1e-12
    assert result.area - sampled < 0.05
