"""Tests that kill surviving mutants of ``fairness/_dask.py``
(``benchmarks/run_mutation.py --modules fairness_dask``): the rows' first
pass (``DaskRows.split``, ``dask_fit_rows``' summary), the partition-wise
sufficient statistics (``_weighted_gram``, ``GroupedGram``, ``CentredGram``
and ``dask_centred_gram``), the SCM assembled from them
(``scm_from_groups``), the logistic and multinomial loss, gradient and
Hessian of one partition (``_logistic_stats``, ``_multinomial_stats``), and
the classifier's Newton iterations: the warm start on the first partition
(``logistic_warm_start``), the first step from a start outside the
directions' null space (``_first_step``), Newton's method with Armijo step
halving (``_newton``) and the map-reduced fit (``dask_logistic_newton``).

The end-to-end dask tests compare a fit with the in-memory one, which does
not see a mutant that only changes which route is taken (a statistic that
is not used, a fallback pass, a warm start), that moves a result by less
than their tolerance, or that Newton's later steps correct. These tests
call the functions directly, on a few dozen rows, and pin each result
against an independent computation from the definition: weighted Gram sums
per group of rows (NumPy), the weighted least squares of each node on its
parents, the logistic and softmax losses with their derivatives (checked by
finite differences too), scikit-learn's Newton-Cholesky logistic regression
on the inputs projected on the null space, the minimiser of a quadratic
model, and the exact sequence of points Newton's method with step halving
visits on ``sqrt(1 + x**2)`` and on oracles of tabulated values.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import null_space

from skcausal_trust.base import RowAttribute
from skcausal_trust.causal import CausalGraph
from skcausal_trust.fairness import CounterfactuallyFairRegressor
from skcausal_trust.fairness import _dask as fd
from test_dask_fairness import _count_passes

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

#: Three unequal partitions of the rows of :func:`_frame`.
CUTS = (0, 17, 41)


def _frame(seed=0, n=60):
    """Rows with two sensitive attributes (``a``: 2 levels, ``r``: 3), two
    inputs far from 0 and on different scales, a target and weights."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["f", "m"], n)
    r = rng.choice(["n", "s", "w"], n)
    x1 = 100.0 + 1.5 * (a == "m") + rng.normal(size=n)
    x2 = 0.3 * x1 - 0.7 * (r == "s") + 0.01 * rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "x1": x1, "r": r, "x2": x2})
    y = 2.0 * x1 - x2 + rng.normal(size=n)
    return frame, y, rng.uniform(0.2, 3.0, n)


def _partitioned(frame, y, w, cuts=CUTS):
    """``frame``, ``y`` and ``w`` as dask collections of the partitions
    starting at ``cuts``."""
    ends = tuple(cuts) + (len(frame),)
    X = dd.concat([dd.from_pandas(frame.iloc[s:e], npartitions=1)
                   for s, e in zip(ends[:-1], ends[1:])])
    sizes = tuple(e - s for s, e in zip(ends[:-1], ends[1:]))
    return (X, da.from_array(np.asarray(y, dtype=float), chunks=(sizes,)),
            None if w is None else da.from_array(w, chunks=(sizes,)))


def _rows(frame, y, w, fused, ids=("a", "r"), cuts=CUTS):
    """The first pass of :func:`dask_fit_rows` on the partitioned rows."""
    X, yd, wd = _partitioned(frame, y, w, cuts)
    est = CounterfactuallyFairRegressor(sensitive_feature_ids=list(ids) or None)
    return fd.dask_fit_rows(est, X, yd, sensitive_features=None, sample_weight=wd,
                            target="continuous", fused=fused)


def _gram(Z, w):
    """``sum_i w_i Z_i Z_i'`` from the definition."""
    return sum(wi * np.outer(zi, zi) for zi, wi in zip(Z, w))


# -- the Gram matrices ------------------------------------------------------

@pytest.mark.parametrize("kind", ["ones", "twos", "some ones", "no ones"])
def test_weighted_gram_is_the_weighted_sum_of_outer_products(kind):
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(9, 3))
    w = {"ones": np.ones(9), "twos": np.full(9, 2.0),
         "some ones": np.r_[np.ones(4), rng.uniform(2, 3, 5)],
         "no ones": rng.uniform(2, 3, 9)}[kind]
    assert_allclose(fd._weighted_gram(Z, w), _gram(Z, w), rtol=1e-13)


def _attribute(values):
    """An in-memory sensitive attribute (one column per attribute) of the
    labels ``values``."""
    values = np.asarray(values, dtype=object)
    return RowAttribute(values, ["a", "r"][:values.shape[1]], "sensitive_features", [])


def test_grouped_gram_sums_each_combination_of_levels():
    """The Gram matrix of the inputs measured from the offsets, and per
    combination of the two attributes' levels its rows' weight and weighted
    column sums (the combinations present, keyed by their levels)."""
    frame, _, w = _frame(seed=2, n=40)
    Z = frame[["x1", "x2"]].to_numpy()
    offset = np.array([99.0, 30.5])
    out = fd.GroupedGram(offset)(Z, None, w, _attribute(frame[["a", "r"]].to_numpy()))
    assert_allclose(out["gram"], _gram(Z - offset, w), rtol=1e-12)
    keys = set(zip(frame["a"], frame["r"]))
    assert set(out["groups"]) == keys and len(keys) == 6
    for key, (weight, sums) in out["groups"].items():
        rows = ((frame["a"] == key[0]) & (frame["r"] == key[1])).to_numpy()
        assert weight == pytest.approx(w[rows].sum(), rel=1e-13)
        assert_allclose(sums, w[rows] @ (Z[rows] - offset), rtol=1e-12)
    # One attribute: its levels are the keys.
    one = fd.GroupedGram(offset)(Z, None, w, _attribute(frame[["r"]].to_numpy()))
    assert set(one["groups"]) == {("n",), ("s",), ("w",)}
    for (level,), (weight, sums) in one["groups"].items():
        rows = (frame["r"] == level).to_numpy()
        assert weight == pytest.approx(w[rows].sum(), rel=1e-13)
        assert_allclose(sums, w[rows] @ (Z[rows] - offset), rtol=1e-12)


def test_grouped_gram_offsets_are_the_first_partitions_mid_ranges():
    Z = np.array([[1.0, -4.0], [3.0, 10.0], [2.0, 0.0]])
    assert_allclose(fd.GroupedGram.from_first(Z).offset, [2.0, 3.0])
    assert fd.GroupedGram.from_first(np.empty((0, 2))) is None
    assert fd.GroupedGram.from_first(np.array([[1.0, np.inf], [0.0, 1.0]])) is None
    assert fd.GroupedGram.from_first(np.array([[1.0, 2.0], [np.nan, 1.0]])) is None


def test_centred_gram_sums_from_the_offsets():
    rng = np.random.default_rng(3)
    Z, y, w = rng.normal(size=(7, 2)) + 5.0, rng.normal(size=7) + 2.0, rng.uniform(1, 2, 7)
    xo, yo = np.array([4.5, 5.5]), 1.5
    W, sx, sy, xx, xy, yy = fd.CentredGram(xo, yo)(Z, y, w, None)
    Xc, yc = Z - xo, y - yo
    assert W == pytest.approx(w.sum(), rel=1e-14)
    assert_allclose(sx, w @ Xc, rtol=1e-13)
    assert sy == pytest.approx(w @ yc, rel=1e-13)
    assert_allclose(xx, _gram(Xc, w), rtol=1e-13)
    assert_allclose(xy, Xc.T @ (w * yc), rtol=1e-13)
    assert yy == pytest.approx(w @ yc**2, rel=1e-13)


def test_centred_gram_offsets_are_the_first_partitions_mid_ranges():
    Z = np.array([[1.0, -4.0], [3.0, 10.0], [2.0, 0.0]])
    y = np.array([5.0, -1.0, 0.0])
    terms = fd.CentredGram.from_first((Z, y), True)
    assert_allclose(terms.x_offset, [2.0, 3.0])
    assert terms.y_offset == 2.0
    # Without an intercept, or on an empty partition, no offsets.
    for first, fit_intercept in [((Z, y), False), ((np.empty((0, 2)), np.empty(0)), True)]:
        terms = fd.CentredGram.from_first(first, fit_intercept)
        assert_allclose(terms.x_offset, [0.0, 0.0])
        assert terms.y_offset == 0.0
    assert fd.CentredGram.from_first((Z, np.array([1.0, np.nan, 0.0])), True) is None
    assert fd.CentredGram.from_first((np.where(Z > 9, np.inf, Z), y), True) is None


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_dask_centred_gram_is_the_weighted_centred_gram(dask_sync, fused, fit_intercept,
                                                        weighted):
    """Weighted means, centred Gram matrix, cross products and sum of squares
    (about 0 without an intercept), from the first pass's offsets or in a
    pass of their own."""
    frame, y, w = _frame(seed=4)
    w = w if weighted else None

    def terms(rows):
        first = fd.first_partition(rows)
        return {"centred": fd.CentredGram.from_first(first, fit_intercept)}

    rows = _rows(frame[["x1", "x2"]], y, w, terms if fused else None, ids=())
    assert ("centred" in rows.summary) == fused
    H, g, x_mean, y_mean, yy = fd.dask_centred_gram(rows, fit_intercept)
    Z = frame[["x1", "x2"]].to_numpy()
    weights = np.ones(len(y)) if w is None else w
    if fit_intercept:
        xm, ym = weights @ Z / weights.sum(), weights @ y / weights.sum()
    else:
        xm, ym = np.zeros(2), 0.0
    assert_allclose(x_mean, xm, rtol=1e-13)
    assert y_mean == pytest.approx(ym, rel=1e-12)
    assert_allclose(H, _gram(Z - xm, weights), rtol=1e-9)
    assert_allclose(g, (Z - xm).T @ (weights * (y - ym)), rtol=1e-9)
    assert yy == pytest.approx(weights @ (y - ym) ** 2, rel=1e-9)


# -- the SCM from the grouped statistics -----------------------------------

SCM_GRAPH = CausalGraph([("a", "x1"), ("x1", "x2"), ("r", "x2"), ("a", "x2")])


def _weighted_lstsq(design, target, w):
    """Weighted least squares of ``target`` on ``[1, design]``: the
    coefficients and the residuals' weighted root mean square."""
    A = np.column_stack([np.ones(len(target)), design])
    s = np.sqrt(w)
    beta = np.linalg.lstsq(A * s[:, None], target * s, rcond=None)[0]
    resid = target - A @ beta
    return beta, np.sqrt(w @ resid**2 / w.sum())


def _scm_rows(frame, y, w, cuts=CUTS):
    """The first pass, gathering the SCM's statistics (:class:`GroupedGram`)."""
    return _rows(frame, y, w, lambda rows: fd.fused_scm_terms(rows)[0], cuts=cuts)


def _scm(rows, graph=SCM_GRAPH):
    """:func:`scm_from_groups` of ``graph`` (sensitive nodes ``a`` and ``r``,
    each input its own node), or None."""
    return fd.scm_from_groups(graph, rows, {c: c for c in rows.names}, ["a", "r"],
                              rows.summary["levels"])


@pytest.mark.parametrize("weighted, cuts", [(True, CUTS), (False, (0, 17, 17, 41))])
def test_scm_from_groups_is_the_weighted_least_squares_fit(dask_sync, weighted, cuts):
    """Each node's equation: weighted least squares on the indicators of
    its sensitive parents' levels (the first level the baseline) and its
    numeric parents; a sensitive root's probabilities are its levels'
    shares of the weight. A partition without rows adds nothing."""
    frame, y, w = _frame(seed=5)
    w = w if weighted else None
    weights = np.ones(len(frame)) if w is None else w
    rows = _scm_rows(frame, y, w, cuts)
    assert [list(lv) for lv in rows.summary["levels"]] == [["f", "m"], ["n", "s", "w"]]
    scm = _scm(rows)
    assert scm is not None
    a_m = (frame["a"] == "m").to_numpy(float)
    r_s, r_w = (frame["r"] == "s").to_numpy(float), (frame["r"] == "w").to_numpy(float)
    x1, x2 = frame["x1"].to_numpy(), frame["x2"].to_numpy()
    beta, noise = _weighted_lstsq(a_m[:, None], x1, weights)
    eq = scm.equations_["x1"]
    assert eq["intercept"] == pytest.approx(beta[0], rel=1e-10)
    assert_allclose(np.ravel(eq["coef"]), beta[1:], rtol=1e-9)
    assert_allclose(eq["noise_scale"], noise, rtol=1e-9)
    parents = scm.equations_["x2"]["parents"]
    columns = {"a": [a_m], "r": [r_s, r_w], "x1": [x1]}
    design = np.column_stack([c for p in parents for c in columns[p]])
    beta, noise = _weighted_lstsq(design, x2, weights)
    eq = scm.equations_["x2"]
    assert eq["intercept"] == pytest.approx(beta[0], rel=1e-9)
    assert_allclose(np.ravel(eq["coef"]), beta[1:], rtol=1e-8, atol=1e-10)
    assert_allclose(eq["noise_scale"], noise, rtol=1e-8)
    for v, levels in [("a", ["f", "m"]), ("r", ["n", "s", "w"])]:
        # The levels as the in-memory fit keeps them: labels of any type.
        assert scm.categories_[v].dtype == object and list(scm.categories_[v]) == levels
        share = [weights[(frame[v] == lv).to_numpy()].sum() / weights.sum() for lv in levels]
        assert_allclose(scm.roots_[v]["probabilities"], share, rtol=1e-12)


def test_scm_from_groups_declines_what_its_statistics_cannot_give(dask_sync):
    """None (the caller then fits the SCM with passes of its own) for a node
    that is neither an input nor a sensitive attribute, for fewer than two
    rows, without the statistics, and for a column whose spread is out of
    the safe range (but not for a constant column)."""
    frame, y, w = _frame(seed=6)
    rows = _scm_rows(frame, y, w)
    assert _scm(rows) is not None
    graph = CausalGraph([("a", "x1"), ("x1", "x2"), ("u", "x2")])
    assert _scm(rows, graph) is None
    assert _scm(rows, CausalGraph([("a", "x1")], nodes=["x2"])) is not None
    rows.summary["n"] = 1
    assert _scm(rows) is None
    rows.summary["n"] = 2
    assert _scm(rows) is not None
    # Weights summing to less than 1 are weights.
    assert _scm(_scm_rows(frame, y, w / (2 * w.sum()))) is not None
    rows = _scm_rows(frame, y, w)
    del rows.summary["scm_groups"]
    assert _scm(rows) is None
    for scale in (1e-80, 1e80):
        tiny = frame.assign(x2=frame["x2"] * scale)
        assert _scm(_scm_rows(tiny, y, w)) is None
    constant = frame.assign(x2=3.0)
    scm = _scm(_scm_rows(constant, y, w), CausalGraph([("a", "x1")], nodes=["x2"]))
    assert scm is not None
    assert scm.roots_["x2"]["mean"] == 3.0 and scm.roots_["x2"]["scale"] == 0.0


# -- the logistic and multinomial statistics --------------------------------

def _logistic_definition(Z, s, w, coef, b):
    """The weighted loss ``sum_i w_i log(1 + exp(-s_i m_i))`` (``m = Z c +
    b``) and its gradient and Hessian in ``(c, b)``."""
    A = np.column_stack([Z, np.ones(len(Z))])
    m = s * (A @ np.r_[coef, b])
    q = 1.0 / (1.0 + np.exp(m))  # the probability of the other class
    return (float(w @ np.logaddexp(0.0, -m)), A.T @ (-s * q * w),
            (A * (w * q * (1.0 - q))[:, None]).T @ A)


def _logistic_data(seed=7, n=12, p=3):
    """Inputs, signs, weights and a point ``(c, b)`` with margins of both
    signs."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, p)), np.where(rng.random(n) < 0.5, 1.0, -1.0),
            rng.uniform(0.5, 2.0, n), rng.normal(size=p) * 1.5, 0.4)


def test_logistic_stats_are_the_loss_and_its_derivatives():
    Z, s, w, coef, b = _logistic_data()
    loss, grad, hess = fd._logistic_stats(Z, s, w, coef, b)
    ref_loss, ref_grad, ref_hess = _logistic_definition(Z, s, w, coef, b)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-14)
    assert_allclose(hess, ref_hess, rtol=1e-12, atol=1e-14)
    # The gradient is the loss's: central differences.
    h = 1e-6
    point = np.r_[coef, b]
    for j in range(len(point)):
        e = np.zeros(len(point))
        e[j] = h
        up = _logistic_definition(Z, s, w, *np.split(point + e, [3]))[0]
        down = _logistic_definition(Z, s, w, *np.split(point - e, [3]))[0]
        assert grad[j] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-8)


def _multinomial_definition(Z, codes, w, W, b):
    """The weighted multinomial loss and its gradient and Hessian in
    ``(W_1, b_1, ..., W_K, b_K)``, class by class."""
    n, K = len(Z), W.shape[0]
    A = np.column_stack([Z, np.ones(n)])
    scores = A @ np.column_stack([W, b]).T
    prob = np.exp(scores - scores.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    onehot = np.eye(K)[codes]
    loss = float(-w @ np.log(prob[np.arange(n), codes]))
    grad = np.concatenate([A.T @ (w * (prob[:, k] - onehot[:, k])) for k in range(K)])
    hess = np.block([[(A * (w * prob[:, k] * ((k == m) - prob[:, m]))[:, None]).T @ A
                      for m in range(K)] for k in range(K)])
    return loss, grad, hess


def test_multinomial_stats_are_the_loss_and_its_derivatives():
    rng = np.random.default_rng(8)
    n, p, K = 15, 2, 3
    Z, w = rng.normal(size=(n, p)), rng.uniform(0.5, 2.0, n)
    codes = np.r_[0, 1, 2, rng.integers(0, K, n - 3)]
    W, b = rng.normal(size=(K, p)), np.array([0.3, -0.2, 0.5])
    loss, grad, hess = fd._multinomial_stats(Z, codes, w, W, b)
    ref_loss, ref_grad, ref_hess = _multinomial_definition(Z, codes, w, W, b)
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-14)
    assert hess.shape == (K * (p + 1), K * (p + 1))
    assert_allclose(hess, ref_hess, rtol=1e-12, atol=1e-14)
    # The gradient is the loss's, the Hessian the gradient's: differences.
    h = 1e-6
    point = np.column_stack([W, b]).reshape(-1)
    for j in range(len(point)):
        e = np.zeros(len(point))
        e[j] = h
        up = _multinomial_definition(Z, codes, w, *np.split(
            (point + e).reshape(K, p + 1), [p], axis=1))
        down = _multinomial_definition(Z, codes, w, *np.split(
            (point - e).reshape(K, p + 1), [p], axis=1))
        assert grad[j] == pytest.approx((up[0] - down[0]) / (2 * h), rel=1e-6, abs=1e-8)
        assert_allclose(hess[:, j], (up[1] - down[1]).ravel() / (2 * h), rtol=1e-5,
                        atol=1e-7)


# -- Newton's method ----------------------------------------------------------

@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_first_step_minimises_the_quadratic_model_in_the_null_space(n_classes,
                                                                   fit_intercept):
    """From a start outside the null space, with the statistics of a
    quadratic loss ``x' A x / 2 - c' x`` there: the minimiser over ``theta``
    of that loss at ``P theta`` plus the penalty ``|z|^2 / (2 C)``."""
    rng = np.random.default_rng(9)
    p, C = 3, 0.7
    N = null_space(rng.normal(size=(1, p)))  # (3, 2), orthonormal columns
    model = fd._LogisticModel(list("abc")[:n_classes], N, C, fit_intercept)
    K = 1 if n_classes == 2 else n_classes
    dim = K * (p + 1)
    root = rng.normal(size=(dim, dim))
    A, c = root @ root.T + dim * np.eye(dim), rng.normal(size=dim)
    start = type("Start", (), {"point": rng.normal(size=dim)})()
    stats = (0.0, A @ start.point - c, A)
    theta = fd._first_step(start, stats, model)
    # P from the definition: each row's coefficients N z, its intercept b.
    P1 = np.zeros((p + 1, N.shape[1] + fit_intercept))
    P1[:p, :N.shape[1]] = N
    if fit_intercept:
        P1[p, -1] = 1.0
    P = np.kron(np.eye(K), P1)
    penalty = np.tile(np.r_[np.full(N.shape[1], 1.0 / C), np.zeros(int(fit_intercept))], K)
    expected = np.linalg.solve(P.T @ A @ P + np.diag(penalty), P.T @ c)
    assert_allclose(theta, expected, rtol=1e-10, atol=1e-12)


class _Recorder:
    """An oracle ``(value, gradient, Hessian)`` of ``f`` that records the
    points it is called at."""

    def __init__(self, f, df, d2f):
        self.f, self.df, self.d2f, self.points = f, df, d2f, []

    def __call__(self, x):
        self.points.append(np.array(x, dtype=float))
        return self.f(x), self.df(x), self.d2f(x)


def _smooth_abs():
    """``f(x) = sum sqrt(1 + x^2)``: convex, its minimum 1 per coordinate at
    0, and its Newton step ``-x (1 + x^2)`` overshoots far from 0."""
    return _Recorder(lambda x: float(np.sum(np.sqrt(1 + x**2))),
                     lambda x: x / np.sqrt(1 + x**2),
                     lambda x: np.diag((1 + x**2) ** -1.5))


def test_newton_halves_a_step_that_does_not_decrease_the_objective():
    """From 2: the Newton step to -8 raises f, so does its half (-3); a
    quarter (-0.5) decreases it and is taken. Then the steps converge to 0
    (quadratically), each a pass."""
    oracle = _smooth_abs()
    theta, value, passes, status = fd._newton(oracle, np.array([2.0]))
    assert_allclose(np.ravel(oracle.points[:5]), [2.0, -8.0, -3.0, -0.5, 0.125])
    assert status == "converged"
    assert passes == len(oracle.points)
    assert abs(theta[0]) < 1e-12
    assert value == pytest.approx(1.0, abs=1e-15)


def test_newton_takes_a_final_small_step_without_a_pass():
    """A quadratic ``f = h (x - x*)^2 / 2 + 3`` started ``1e-3`` from ``x* =
    1e6``: the step (below 1e-7 relative) is taken without evaluating f, and
    the objective is the quadratic model's, exactly 3."""
    h, x_star = 1e8, 1e6
    oracle = _Recorder(lambda x: float(0.5 * h * (x[0] - x_star) ** 2 + 3.0),
                       lambda x: h * (x - x_star), lambda x: np.array([[h]]))
    theta, value, passes, status = fd._newton(oracle, np.array([x_star + 1e-3]))
    assert len(oracle.points) == passes == 1
    assert status == "converged"
    assert theta[0] == pytest.approx(x_star, abs=1e-9)
    assert value == pytest.approx(3.0, abs=1e-9)


def test_newton_does_not_move_when_the_step_is_within_the_tolerance():
    """Started ``1e-7`` from ``x* = 1e6`` (a step below ``1e-12`` of the
    coefficients' scale): converged where it is, no step taken."""
    h, x_star = 1e8, 1e6
    f = lambda x: float(0.5 * h * (x[0] - x_star) ** 2 + 3.0)  # noqa: E731
    oracle = _Recorder(f, lambda x: h * (x - x_star), lambda x: np.array([[h]]))
    start = np.array([x_star + 1e-7])
    theta, value, passes, status = fd._newton(oracle, start)
    assert (passes, status) == (1, "converged")
    assert theta[0] == start[0] and value == f(start)


class _Table(_Recorder):
    """A one-coordinate oracle whose values are read from ``values`` (by
    point), with gradient ``-1`` and Hessian ``0.5`` at 0 (a Newton step of
    2, a decrement of 2) and gradient 0 elsewhere (converged)."""

    def __init__(self, values):
        super().__init__(lambda x: values.get(float(x[0]), 1e3),
                         lambda x: np.array([-1.0 if x[0] == 0 else 0.0]),
                         lambda x: np.array([[0.5]]))


def test_newton_takes_a_full_step_that_raises_the_objective_by_rounding():
    """A full step whose objective is higher by less than ``1e-13`` (relative)
    is taken: it is rounding, not an increase."""
    oracle = _Table({0.0: 10.0, 2.0: 10.0 * (1 + 2e-14)})
    theta, _, passes, status = fd._newton(oracle, np.array([0.0]))
    assert_allclose(np.ravel(oracle.points), [0.0, 2.0])
    assert theta[0] == 2.0 and (passes, status) == (2, "converged")


def test_newton_halves_a_step_until_it_decreases_the_objective_enough():
    """Armijo's rule: a full step that doubles the objective is halved, a
    half step that decreases it by less than ``1e-4`` of the decrement times
    the step size (``9.99995 > 10 - 1e-4 * 0.5 * 2``) is halved again, and
    the quarter step that does (``9.9999 <= 10 - 1e-4 * 0.25 * 2``) is
    taken."""
    oracle = _Table({0.0: 10.0, 2.0: 20.0, 1.0: 9.99995, 0.5: 9.9999})
    theta, value, passes, status = fd._newton(oracle, np.array([0.0]))
    assert_allclose(np.ravel(oracle.points), [0.0, 2.0, 1.0, 0.5])
    assert theta[0] == 0.5 and value == 9.9999
    assert (passes, status) == (4, "converged")
    # A half step that raises the objective by rounding is no full step.
    oracle = _Table({0.0: 10.0, 2.0: 20.0, 1.0: 10.0 * (1 + 2e-14), 0.5: 9.0})
    fd._newton(oracle, np.array([0.0]))
    assert_allclose(np.ravel(oracle.points), [0.0, 2.0, 1.0, 0.5])


def test_newton_takes_a_vanishing_step_when_no_step_decreases_the_objective(monkeypatch):
    """An uphill step (a wrong gradient): halved until below ``1e-10``
    (``2**-34``), then taken."""
    monkeypatch.setattr(fd, "MAX_NEWTON_ITERATIONS", 1)
    oracle = _Recorder(lambda x: float(x[0] ** 2), lambda x: -2.0 * x,
                       lambda x: np.array([[2.0]]))
    theta, _, passes, status = fd._newton(oracle, np.array([1.0]))
    assert_allclose(np.ravel(oracle.points), [1.0] + [1.0 + 2.0**-k for k in range(35)],
                    rtol=1e-15)
    assert theta[0] == 1.0 + 2.0**-34
    assert (passes, status) == (36, "max_iter reached")


def test_newton_stops_at_the_iteration_limit():
    """A linear objective (a constant gradient, a Hessian of zeros): the
    steps never shrink, so the iterations stop at the limit."""
    oracle = _Recorder(lambda x: float(-x[0]), lambda x: np.array([-1.0]),
                       lambda x: np.array([[1e-300]]))
    _, _, passes, status = fd._newton(oracle, np.array([0.0]))
    assert status == "max_iter reached"
    assert passes == len(oracle.points) == fd.MAX_NEWTON_ITERATIONS + 1


# -- the map-reduced logistic fit -------------------------------------------

def _classification(seed=10, n=90, n_classes=2):
    """Rows of three inputs, ``a`` a sensitive attribute moving ``x1``,
    labels from a logistic (or multinomial) model, weights."""
    rng = np.random.default_rng(seed)
    a = rng.choice(["f", "m"], n)
    X = rng.normal(size=(n, 3)) + [0.0, 2.0, -1.0]
    X[:, 0] += 1.2 * (a == "m")
    score = X @ [1.0, -0.7, 0.5]
    if n_classes == 2:
        y = np.where(score + rng.logistic(size=n) > 0.8, "yes", "no")
    else:
        y = np.array(["hi", "lo", "mid"], dtype=object)[
            np.digitize(score + rng.logistic(size=n), [-0.5, 1.5])]
    frame = pd.DataFrame(X, columns=["x1", "x2", "x3"]).assign(a=a)
    return frame, y, rng.uniform(0.5, 2.0, n)


def _class_rows(frame, y, w, estimator=None, fused=None):
    """The first pass of a classifier (``estimator``, by default one without
    a sensitive attribute) on the rows in the partitions :data:`CUTS`."""
    from skcausal_trust.fairness import CounterfactuallyFairClassifier

    ends = CUTS + (len(frame),)
    X = dd.concat([dd.from_pandas(frame.iloc[s:e], npartitions=1)
                   for s, e in zip(ends[:-1], ends[1:])])
    sizes = tuple(e - s for s, e in zip(ends[:-1], ends[1:]))
    yd = dd.concat([dd.from_pandas(pd.Series(y[s:e]), npartitions=1)
                    for s, e in zip(ends[:-1], ends[1:])])
    wd = da.from_array(w, chunks=(sizes,))
    est = estimator or CounterfactuallyFairClassifier()
    return fd.dask_fit_rows(est, X, yd, sensitive_features=None, sample_weight=wd,
                            target="classes", fused=fused)


def _sklearn(Z, y, w, C, fit_intercept=True):
    """scikit-learn's L2 logistic regression (binary or multinomial) by
    Newton-Cholesky, converged to rounding."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-15, max_iter=200,
                            fit_intercept=fit_intercept)
    return lr.fit(Z, y, sample_weight=w)


@pytest.mark.parametrize("n_classes, fit_intercept", [(2, True), (2, False), (3, True)])
def test_dask_logistic_newton_is_scikit_learns_fit_on_the_null_space(
        dask_sync, monkeypatch, n_classes, fit_intercept):
    """Started from the first partition's solution: the coefficients are
    scikit-learn's on the inputs times ``N`` (times ``N'``), the objective
    the penalised loss there, and ``n_iter`` the passes over the rows."""
    frame, y, w = _classification(n_classes=n_classes)
    rows = _class_rows(frame[["x1", "x2", "x3"]], y, w)
    N = null_space(np.array([[1.0, 0.5, -0.2]]))
    C = 0.8
    classes = np.array(sorted(set(y)), dtype=object)
    calls = _count_passes(monkeypatch)
    coef, intercept, info = fd.dask_logistic_newton(rows, N, classes, C, fit_intercept)
    Z = frame[["x1", "x2", "x3"]].to_numpy()
    lr = _sklearn(Z @ N, y, w, C, fit_intercept)
    assert info["status"] == "converged"
    assert info["n_iter"] == len(calls) and 2 <= len(calls) <= 8
    assert_allclose(coef, lr.coef_ @ N.T, rtol=1e-9, atol=1e-11)
    scores = Z @ coef.T + intercept
    if n_classes == 2:
        assert_allclose(intercept, lr.intercept_, rtol=1e-9, atol=1e-11)
        s = np.where(y == "yes", 1.0, -1.0)
        loss = w @ np.logaddexp(0.0, -s * scores[:, 0])
    else:
        assert_allclose(scores - scores.mean(axis=1, keepdims=True),
                        lr.decision_function(Z @ N)
                        - lr.decision_function(Z @ N).mean(axis=1, keepdims=True),
                        rtol=1e-8, atol=1e-10)
        codes = pd.Index(classes).get_indexer(y)
        top = scores.max(axis=1)
        lse = top + np.log(np.exp(scores - top[:, None]).sum(axis=1))
        loss = w @ (lse - scores[np.arange(len(y)), codes])
    objective = loss + np.sum(coef**2) / (2 * C)
    assert info["objective"] == pytest.approx(objective, rel=1e-12)


def _record_newton_starts(monkeypatch):
    """The points ``_newton`` is started from, recorded as it runs."""
    starts = []
    newton = fd._newton

    def recording(oracle, theta):
        starts.append(np.array(theta))
        return newton(oracle, theta)

    monkeypatch.setattr(fd, "_newton", recording)
    return starts


def test_dask_logistic_newton_warm_starts_from_the_first_partition(dask_sync, monkeypatch):
    """Without a start from the first pass: the iterations over all rows
    start from the first partition's own solution, its penalty scaled by its
    share of the weight (scikit-learn with ``C`` divided by that share)."""
    frame, y, w = _classification(seed=11)
    rows = _class_rows(frame[["x1", "x2", "x3"]], y, w)
    N = null_space(np.array([[1.0, 0.5, -0.2]]))
    C = 0.8
    starts = _record_newton_starts(monkeypatch)
    fd.dask_logistic_newton(rows, N, np.array(["no", "yes"], dtype=object), C, True)
    assert len(starts) == 2
    assert_allclose(starts[0], 0.0)
    first = slice(0, CUTS[1])
    share = w[first].sum() / w.sum()
    Z = frame[["x1", "x2", "x3"]].to_numpy()[first] @ N
    lr = _sklearn(Z, y[first], w[first], C / share)
    assert_allclose(starts[1], np.r_[lr.coef_[0], lr.intercept_], rtol=1e-9, atol=1e-11)


def test_dask_logistic_newton_first_step_from_the_first_pass(dask_sync, monkeypatch):
    """With a start gathered in the first pass (its loss, gradient and
    Hessian over all rows): the first iterate minimises the quadratic model
    there (in the null space, with the penalty), and that pass counts as
    the first iteration."""
    frame, y, w = _classification(seed=12)
    classes = np.array(["no", "yes"], dtype=object)
    point = np.array([0.8, -0.5, 0.3, 0.2])
    start = fd.LogisticStart(point, classes, 3)
    rows = _class_rows(frame[["x1", "x2", "x3"]], y, w,
                       fused=lambda rows: {"logistic_start": start})
    N = null_space(np.array([[1.0, 0.5, -0.2]]))
    C = 0.8
    Z = frame[["x1", "x2", "x3"]].to_numpy()
    _, grad, hess = _logistic_definition(Z, np.where(y == "yes", 1.0, -1.0), w,
                                         point[:3], point[3])
    assert_allclose(rows.summary["logistic_start"][1], grad, rtol=1e-10, atol=1e-12)
    starts = _record_newton_starts(monkeypatch)
    calls = _count_passes(monkeypatch)
    coef, intercept, info = fd.dask_logistic_newton(rows, N, classes, C, True)
    P = np.zeros((4, 3))
    P[:3, :2], P[3, 2] = N, 1.0
    expected = np.linalg.solve(P.T @ hess @ P + np.diag([1 / C, 1 / C, 0.0]),
                               P.T @ (hess @ point - grad))
    assert len(starts) == 1
    assert_allclose(starts[0], expected, rtol=1e-9, atol=1e-11)
    assert info["n_iter"] == len(calls) + 1
    lr = _sklearn(Z @ N, y, w, C)
    assert_allclose(coef, lr.coef_ @ N.T, rtol=1e-9, atol=1e-11)
    assert_allclose(intercept, lr.intercept_, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_logistic_warm_start_is_the_first_partitions_fit(dask_sync, monkeypatch,
                                                         fit_intercept):
    """The start: the penalised fit on the first rows of the first partition
    (at most ``WARM_START_ROWS``), the penalty scaled by their share of a
    partition's weight over the partitions (``C`` times the partitions,
    times the first partition's weight over those rows'); in the null space
    of the worlds' directions (here: ``x1``, which ``a`` moves, gets no
    coefficient)."""
    from skcausal_trust.fairness import CounterfactuallyFairClassifier

    frame, y, w = _classification(seed=13)
    graph = CausalGraph([("a", "x1")], nodes=["x2", "x3"])
    est = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a", C=0.6,
                                         fit_intercept=fit_intercept)
    rows = _class_rows(frame, y, w, estimator=est)
    first = fd.first_partition(rows)
    monkeypatch.setattr(fd, "WARM_START_ROWS", 12)
    start = fd.logistic_warm_start(est, rows, first)
    assert list(start.classes) == ["no", "yes"]
    k = slice(0, 12)
    share = w[k].sum() / (3 * w[:CUTS[1]].sum())
    lr = _sklearn(frame[["x2", "x3"]].to_numpy()[k], y[k], w[k], 0.6 / share,
                  fit_intercept)
    expected = np.r_[0.0, lr.coef_[0], lr.intercept_ if fit_intercept else 0.0]
    assert_allclose(start.point, expected, rtol=1e-8, atol=1e-10)
    # Its statistics at that point: the unpenalised loss of all the inputs.
    Z = frame[["x1", "x2", "x3"]].to_numpy()
    s = np.where(y == "yes", 1.0, -1.0)
    got = start(Z, y, w, None)
    ref = _logistic_definition(Z, s, w, start.point[:3], start.point[3])
    assert got[0] == pytest.approx(ref[0], rel=1e-12)
    assert_allclose(got[1], ref[1], rtol=1e-10, atol=1e-12)
    assert_allclose(got[2], ref[2], rtol=1e-10, atol=1e-12)


def test_logistic_warm_start_declines_a_first_partition_it_cannot_fit(dask_sync):
    """None for first rows of one class or without weight."""
    from skcausal_trust.fairness import CounterfactuallyFairClassifier

    frame, y, w = _classification(seed=14)
    est = CounterfactuallyFairClassifier()
    rows = _class_rows(frame[["x1", "x2", "x3"]], y, w, estimator=est)
    part, target, weights, local = fd.first_partition(rows)
    assert fd.logistic_warm_start(est, rows, (part, target, weights, local)) is not None
    one_class = np.full(len(target), "yes", dtype=object)
    assert fd.logistic_warm_start(est, rows, (part, one_class, weights, local)) is None
    assert fd.logistic_warm_start(est, rows, (part, target, 0.0 * weights, local)) is None
    # Weights summing to less than 1 are weights.
    assert fd.logistic_warm_start(est, rows, (part, target, 1e-3 * weights, local)) is not None


def test_logistic_warm_start_on_a_dask_array(dask_sync, monkeypatch):
    """The first rows of an array partition: the same start as scikit-learn's
    fit on them (no attribute: all the inputs free)."""
    from skcausal_trust.fairness import CounterfactuallyFairClassifier

    frame, y, w = _classification(seed=15)
    Z = frame[["x1", "x2", "x3"]].to_numpy()
    sizes = (CUTS[1], CUTS[2] - CUTS[1], len(y) - CUTS[2])
    est = CounterfactuallyFairClassifier(C=0.6)
    rows = fd.dask_fit_rows(est, da.from_array(Z, chunks=(sizes, 3)),
                            da.from_array(y, chunks=(sizes,)), sensitive_features=None,
                            sample_weight=da.from_array(w, chunks=(sizes,)),
                            target="classes")
    first = fd.first_partition(rows)
    assert isinstance(first[0], np.ndarray)
    monkeypatch.setattr(fd, "WARM_START_ROWS", 12)
    start = fd.logistic_warm_start(est, rows, first)
    share = w[:12].sum() / (3 * w[:CUTS[1]].sum())
    lr = _sklearn(Z[:12], y[:12], w[:12], 0.6 / share)
    assert_allclose(start.point, np.r_[lr.coef_[0], lr.intercept_], rtol=1e-8, atol=1e-10)


# -- the rows' first pass ---------------------------------------------------

def test_split_takes_the_parts_in_the_order_of_the_collections():
    X, y, w = np.arange(6.0).reshape(3, 2), np.array([1, 0, 1]), np.array([0.0, 2.0, 1.5])
    rows = fd.DaskRows(X, ["x1", "x2"], y, w, None)
    part, target, weights, rest = rows.split([X, y, w, "attr"])
    assert part is X and target is y and rest == ["attr"]
    assert_allclose(weights, w)
    part, target, weights, rest = rows.split([X, w], y=False)
    assert target is None and rest == []
    assert_allclose(weights, w)
    unweighted = fd.DaskRows(X, ["x1", "x2"], None, None, None)
    part, target, weights, rest = unweighted.split([X, "attr"])
    assert target is None and rest == ["attr"]
    assert_allclose(weights, np.ones(3))
    for bad in ([1.0, -1e-3, 1.0], [1.0, np.nan, 1.0], [np.inf, 1.0, 1.0]):
        with pytest.raises(ValueError, match="sample_weight has negative, NaN or infinite"):
            rows.split([X, y, np.array(bad)])


def test_first_pass_summary_is_the_rows_statistics(dask_sync):
    """Rows, weight, largest weight, the columns' highest and (negated)
    lowest values, weighted column sums and target sum, each level's
    weight."""
    frame, y, w = _frame(seed=15)
    rows = _rows(frame[["a", "x1", "x2"]], y, w, None, ids=("a",))
    summary = rows.summary
    Z = frame[["x1", "x2"]].to_numpy()
    assert summary["n"] == len(frame)
    assert summary["weight"] == pytest.approx(w.sum(), rel=1e-13)
    assert summary["max_weight"] == w.max()
    assert_allclose(summary["high"], Z.max(axis=0))
    assert_allclose(summary["low"], -Z.min(axis=0))
    assert_allclose(summary["sum"], w @ Z, rtol=1e-13)
    assert summary["y_sum"] == pytest.approx(w @ y, rel=1e-13)
    assert [list(lv) for lv in summary["levels"]] == [["f", "m"]]
    for level in ("f", "m"):
        mass = w[(frame["a"] == level).to_numpy()].sum()
        assert summary["mass"][0][level] == pytest.approx(mass, rel=1e-13)
    # The same masses from the SCM's statistics, when the pass gathers them.
    fused = _rows(frame[["a", "x1", "x2"]], y, w,
                  lambda rows: fd.fused_scm_terms(rows)[0], ids=("a",))
    for level in ("f", "m"):
        assert fused.summary["mass"][0][level] == pytest.approx(
            summary["mass"][0][level], rel=1e-13)


def test_first_pass_refuses_rows_it_cannot_fit(dask_sync):
    frame, y, w = _frame(seed=16)
    X = frame[["x1", "x2"]]
    with pytest.raises(ValueError, match="every weight is zero"):
        _rows(X, y, 0.0 * w, None, ids=())
    with pytest.raises(ValueError, match=r"NaN or infinite values in columns \['x2'\]"):
        _rows(X.assign(x2=np.where(np.arange(len(X)) == 50, np.nan, X["x2"])), y, w,
              None, ids=())
    with pytest.raises(ValueError, match="y has NaN or infinite"):
        _rows(X, np.where(np.arange(len(X)) == 30, np.inf, y), w, None, ids=())


def test_centred_gram_overflow_is_left_to_the_solve_without_warnings(dask_sync):
    """Inputs whose squares overflow: the statistics hold inf or NaN (the
    solve reports it, naming the columns), and no RuntimeWarning is raised
    on the way (here as errors)."""
    import warnings

    frame, y, w = _frame(seed=17)
    # In the last partition, columns of mixed signs near 1e200: their
    # products overflow to inf and -inf, whose sums are NaN.
    huge = np.where(np.arange(len(y)) < CUTS[2], 1.0, 1e200)
    X = pd.DataFrame({"x1": (frame["x1"] - 100.0) * huge, "x2": (frame["x2"] - 30.0) * huge})

    def terms(rows):
        return {"centred": fd.CentredGram.from_first(fd.first_partition(rows), True)}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = _rows(X, y, w, terms, ids=())
        H, g, _, _, yy = fd.dask_centred_gram(rows, True)
    assert np.isinf(H).any() and np.isnan(H).any()
    assert np.isfinite(yy)


def test_partition_sums_of_opposite_infinities_are_nan_without_warnings(dask_sync):
    """Across partitions (one statistic inf in one partition, -inf in
    another; finite sums that overflow), the combined statistics are NaN
    and inf for the callers to refuse, with no RuntimeWarning (as errors)."""
    import warnings

    import dask.array as da

    from skcausal_trust.utils._dask import reduce_partitions

    values = np.array([1e308, 1e308, -np.inf, np.inf, 1.0])
    column = da.from_array(values, chunks=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = reduce_partitions(
            lambda part: {"overflow": part[:1].clip(0.0).sum(), "signed": part.sum()},
            {"x": column})
    assert out["overflow"] == np.inf and np.isnan(out["signed"])


def test_scm_from_groups_range_check_reads_the_spread_not_the_magnitude(dask_sync):
    """A column near 2**251 spread over 1% of that (its spread, the largest
    distance from the offset, within the safe range) is fitted from the
    statistics: its mean is the weighted mean. Near 2**-249 (its spread below
    the range) it is not."""
    frame, y, w = _frame(seed=18)
    graph = CausalGraph([("a", "x1")], nodes=["x2"])
    relative = 1.0 + 0.01 * np.random.default_rng(18).standard_normal(len(y))
    scm = _scm(_scm_rows(frame.assign(x2=2.0**251 * relative), y, w), graph)
    assert scm is not None
    assert scm.roots_["x2"]["mean"] == pytest.approx(2.0**251 * (w @ relative) / w.sum(),
                                                     rel=1e-12)
    assert _scm(_scm_rows(frame.assign(x2=2.0**-249 * relative), y, w), graph) is None
    # The range includes its ends: values 0 and 2 * 2**e, so the offset
    # (the mid-range) is 2**e and so is the spread.
    for e in (250, -250):
        ends = 2.0 ** (e + 1) * (np.arange(len(y)) % 2)
        scm = _scm(_scm_rows(frame.assign(x2=ends), y, w), graph)
        assert scm is not None
        assert scm.roots_["x2"]["mean"] == pytest.approx(2.0 ** (e + 1) * (
            w[1::2].sum() / w.sum()), rel=1e-12)


def test_grouped_gram_overflow_declines_the_statistics_without_warnings(dask_sync):
    """Inputs whose products overflow (to inf and -inf, in the last
    partition): the first pass gathers them without a RuntimeWarning (here
    as errors) and the SCM declines them (it takes passes of its own)."""
    import warnings

    frame, y, w = _frame(seed=19)
    huge = np.where(np.arange(len(y)) < CUTS[2], 1.0, 1e200)
    noise = np.random.default_rng(19).standard_normal((len(y), 2)) * huge[:, None]
    X = frame.assign(x1=noise[:, 0], x2=noise[:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = _scm_rows(X, y, w)
        gram = rows.summary["scm_groups"]["gram"]
        assert np.isinf(np.diag(gram)).all()
        assert _scm(rows) is None


# -- the logistic model in the null space's coordinates ----------------------

@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_logistic_model_stats_penalty_and_unpacking(n_classes, fit_intercept):
    """At ``P theta`` (each row's coefficients ``N z`` and its intercept, 0
    without one): the loss, ``P'`` times the gradient and ``P' H P``, from
    the definition; the penalty ``share * |z|^2 / (2 C)`` on the ``z`` only;
    a target given as a column is the same target."""
    rng = np.random.default_rng(20)
    n, p, C, share = 14, 3, 0.7, 0.3
    Z, w = rng.normal(size=(n, p)), rng.uniform(0.5, 2.0, n)
    classes = ["a", "b", "c"][:n_classes]
    target = np.array(classes, dtype=object)[np.r_[np.arange(n_classes),
                                                   rng.integers(0, n_classes, n - n_classes)]]
    N = null_space(rng.normal(size=(1, p)))
    model = fd._LogisticModel(classes, N, C, fit_intercept)
    K = 1 if n_classes == 2 else n_classes
    q = N.shape[1] + int(fit_intercept)
    theta = rng.normal(size=K * q)
    rows = theta.reshape(K, q)
    coef = rows[:, :N.shape[1]] @ N.T
    intercept = rows[:, -1] if fit_intercept else np.zeros(K)
    assert model.K == K and model.P.shape == (K * (p + 1), K * q)
    assert_allclose(model.P @ theta, np.column_stack([coef, intercept]).ravel(), atol=1e-15)
    got_coef, got_intercept = model.unpack(theta, p)
    assert_allclose(got_coef, coef, atol=1e-15)
    assert_allclose(got_intercept, intercept, atol=1e-15)
    if K == 1:
        ref = _logistic_definition(Z, np.where(target == "b", 1.0, -1.0), w, coef[0],
                                   intercept[0])
    else:
        codes = pd.Index(classes).get_indexer(target)
        ref = _multinomial_definition(Z, codes, w, coef, intercept)
    full = model.full_stats(Z, target, w, model.P @ theta)
    column = model.full_stats(Z, target.reshape(-1, 1), w, model.P @ theta)
    for got in (full, column):
        assert got[0] == pytest.approx(ref[0], rel=1e-12)
        assert_allclose(got[1], ref[1], rtol=1e-11, atol=1e-13)
        assert_allclose(got[2], ref[2], rtol=1e-11, atol=1e-13)
    loss, grad, hess = model.stats(Z, target, w, theta)
    assert loss == pytest.approx(ref[0], rel=1e-12)
    assert_allclose(grad, model.P.T @ ref[1], rtol=1e-11, atol=1e-13)
    assert_allclose(hess, model.P.T @ ref[2] @ model.P, rtol=1e-11, atol=1e-13)
    penalised = np.tile(np.r_[np.ones(N.shape[1]), np.zeros(int(fit_intercept))], K) > 0
    assert_allclose(model.penalty(), np.where(penalised, 1.0 / C, 0.0), rtol=1e-15)
    assert_allclose(model.penalty(share), np.where(penalised, share / C, 0.0), rtol=1e-15)
    z = np.where(penalised, theta, 0.0)
    for args, s in [((), 1.0), ((share,), share)]:
        value, g, h = model.penalise((loss, grad, hess), theta, *args)
        assert value == pytest.approx(loss + s * np.sum(z**2) / (2 * C), rel=1e-13)
        assert_allclose(g, grad + s * z / C, rtol=1e-13, atol=1e-15)
        assert_allclose(h, hess + np.diag(np.where(penalised, s / C, 0.0)), rtol=1e-13,
                        atol=1e-15)


def test_signs_of_a_target_column():
    """+1 for the positive class, -1 otherwise, as a vector (also of a
    column of labels)."""
    target = np.array([["yes"], ["no"], ["yes"], ["maybe"]], dtype=object)
    for t in (target, target.ravel()):
        got = fd._signs(t, "yes")
        assert got.shape == (4,)
        assert_allclose(got, [1.0, -1.0, 1.0, -1.0])


@pytest.mark.parametrize("p, fit_intercept", [(3, True), (3, False), (2, True)])
def test_projection_places_the_null_space_and_the_intercept(p, fit_intercept):
    N = null_space(np.random.default_rng(21).normal(size=(1, p)))
    P = fd._projection(N, fit_intercept)
    q = N.shape[1]
    expected = np.zeros((p + 1, q + int(fit_intercept)))
    expected[:p, :q] = N
    if fit_intercept:
        expected[p, q] = 1.0
    assert P.shape == expected.shape
    assert_allclose(P, expected, atol=0)


# -- the logistic terms on dask rows -----------------------------------------

@pytest.mark.parametrize("n_classes", [2, 3])
def test_dask_logistic_terms_are_the_in_memory_terms(dask_sync, n_classes):
    """Loss and gradients in ``theta`` and the intercepts, summed over the
    partitions: those of ``_LogisticTerms`` on all the rows in memory (also
    for a target given as a one-column array); each call one pass."""
    from skcausal_trust.fairness import CounterfactuallyFairClassifier
    from skcausal_trust.fairness._counterfactual import _LogisticTerms

    frame, y, w = _classification(seed=22, n_classes=n_classes)
    Z = frame[["x1", "x2", "x3"]].to_numpy(copy=True)
    Z[:, 2] = np.round(3.0 * Z[:, 2])  # integers: also read from nullable integers
    classes = np.array(sorted(set(y)), dtype=object)
    codes = pd.Index(classes).get_indexer(y)
    K = 1 if n_classes == 2 else n_classes
    rng = np.random.default_rng(22)
    M = rng.normal(size=(3, 2))
    theta, b = rng.normal(size=(K, 2)), rng.normal(size=K)
    ref = _LogisticTerms(Z, codes, w, K)(M, theta, b)
    sizes = (CUTS[1], CUTS[2] - CUTS[1], len(y) - CUTS[2])
    ends = CUTS + (len(y),)
    integers = pd.DataFrame(Z[:, :2], columns=["x1", "x2"]).assign(
        x3=pd.array(Z[:, 2].astype(int), dtype="Int64"))
    X_frame = dd.concat([dd.from_pandas(integers.iloc[s:e], npartitions=1)
                         for s, e in zip(ends[:-1], ends[1:])])
    for X, target in [(da.from_array(Z, chunks=(sizes, 3)), y),
                      (da.from_array(Z, chunks=(sizes, 3)), y.reshape(-1, 1)),
                      (X_frame, y)]:
        rows = fd.dask_fit_rows(
            CounterfactuallyFairClassifier(), X,
            da.from_array(target, chunks=(sizes,) + target.shape[1:]),
            sensitive_features=None, sample_weight=da.from_array(w, chunks=(sizes,)),
            target="classes")
        terms = fd.DaskLogisticTerms(rows, classes)
        assert terms.total_weight == pytest.approx(w.sum(), rel=1e-13)
        assert terms.passes == 0
        for call in (1, 2):
            loss, grad, grad_b = terms(M, theta, b)
            assert terms.passes == call
            assert loss == pytest.approx(ref[0], rel=1e-12)
            assert_allclose(grad, ref[1], rtol=1e-11, atol=1e-13)
            assert_allclose(grad_b, ref[2], rtol=1e-11, atol=1e-13)


# -- the rows' validation and first pass, further ------------------------------

def test_fit_rows_refuses_non_dask_targets_and_boolean_or_text_columns(dask_sync):
    """``y`` and the weights must be dask collections; the kept columns of a
    dataframe numeric and not boolean (at most five of the others named)."""
    frame, y, w = _frame(seed=23)
    X, yd, wd = _partitioned(frame[["x1", "x2"]], y, w)
    est = CounterfactuallyFairRegressor()
    with pytest.raises(ValueError, match="y must be a dask Series or array aligned with X "
                                         "when X is a dask collection"):
        fd.dask_fit_rows(est, X, y, sensitive_features=None, sample_weight=wd,
                         target="continuous")
    with pytest.raises(ValueError, match="sample_weight must be a dask Series or array "
                                         "aligned with X when X is a dask collection"):
        fd.dask_fit_rows(est, X, yd, sensitive_features=None, sample_weight=w,
                         target="continuous")
    flags = X.assign(flag=X["x1"] > 100.0)
    with pytest.raises(ValueError, match=r"X has non-numeric columns \['flag'\]"):
        fd.dask_fit_rows(est, flags, yd, sensitive_features=None, sample_weight=wd,
                         target="continuous")
    text = X.assign(**{f"t{k}": "v" for k in range(7)})
    with pytest.raises(ValueError, match=r"columns \['t0', 't1', 't2', 't3', 't4'\]: on"):
        fd.dask_fit_rows(est, text, yd, sensitive_features=None, sample_weight=wd,
                         target="continuous")


def test_fit_rows_of_an_array_without_its_sensitive_column(dask_sync):
    """A 2-D dask array with its sensitive column named by position: the
    features are the other columns (named by their positions), and the
    estimator records the attribute's column; without a target, ``y`` is
    not kept."""
    frame, y, w = _frame(seed=24)
    values = np.column_stack([frame["x1"], (frame["a"] == "m").astype(float), frame["x2"]])
    sizes = (CUTS[1], CUTS[2] - CUTS[1], len(y) - CUTS[2])
    X = da.from_array(values, chunks=(sizes, 3))
    est = CounterfactuallyFairRegressor(sensitive_feature_ids=1)
    rows = fd.dask_fit_rows(est, X, da.from_array(y, chunks=(sizes,)),
                            sensitive_features=None, sample_weight=None, target=None)
    assert rows.y is None and rows.names == [0, 2]
    assert est._sensitive_columns == [1] and est.n_features_in_ == 3
    assert rows.attribute.rows is rows
    assert_allclose(rows.features.compute(), values[:, [0, 2]])
    assert_allclose(rows.summary["sum"], values[:, [0, 2]].sum(axis=0), rtol=1e-13)
    assert [list(lv) for lv in rows.summary["levels"]] == [[0.0, 1.0]]


def test_first_pass_largest_weight_below_one(dask_sync):
    """The largest weight when every weight is below 1 (not 1)."""
    frame, y, w = _frame(seed=25)
    rows = _rows(frame[["x1", "x2"]], y, w / 10.0, None, ids=())
    assert rows.summary["max_weight"] == pytest.approx(w.max() / 10.0, rel=1e-15)


def test_first_pass_statistics_in_blocks_of_rows(dask_sync, monkeypatch):
    """The further statistics are gathered per block of rows (here 5): each
    call on consecutive rows of one partition (inputs, labels, weights and
    attribute of those rows), their sums the statistics of all the rows."""
    frame, y, w = _frame(seed=26)
    monkeypatch.setattr(fd, "EXTRA_BLOCK_ROWS", 5)
    calls, named = [], []

    def record(Z, target, weights, attribute):
        calls.append((Z.copy(), target.copy(), weights.copy(), attribute.values.copy()))
        named.append((attribute.names, attribute.argument, attribute.columns))
        return np.r_[weights @ Z, weights @ target, weights.sum(), len(target)]

    rows = _rows(frame, y, w, lambda rows: {"record": record})
    Z = frame[["x1", "x2"]].to_numpy()
    # In the order of the rows (the scheduler picks the partitions' order).
    calls = sorted(calls, key=lambda c: np.flatnonzero(Z[:, 0] == c[0][0, 0])[0])
    assert [len(c[1]) for c in calls] == [5, 5, 5, 2] + [5] * 4 + [4] + [5] * 3 + [4]
    assert_allclose(np.vstack([c[0] for c in calls]), Z)
    assert_allclose(np.concatenate([c[1] for c in calls]), y)
    assert_allclose(np.concatenate([c[2] for c in calls]), w)
    assert (np.vstack([c[3] for c in calls]) == frame[["a", "r"]].to_numpy()).all()
    attribute = rows.attribute
    assert named == [(attribute.names, attribute.argument, attribute.columns)] * len(calls)
    assert attribute.names == ["a", "r"] and attribute.columns == [0, 2]
    assert_allclose(rows.summary["record"], np.r_[w @ Z, w @ y, w.sum(), len(y)],
                    rtol=1e-13)
    # Without a target, each call is given None for it.
    targets = []
    X, _, wd = _partitioned(frame, y, w)
    fd.dask_fit_rows(CounterfactuallyFairRegressor(sensitive_feature_ids=["a", "r"]), X,
                     None, sensitive_features=None, sample_weight=wd, target=None,
                     fused=lambda rows: {"t": lambda Z, t, *_: targets.append(t) or 0.0})
    assert len(targets) == 13 and all(t is None for t in targets)


def test_first_pass_of_classes_and_of_an_integer_column(dask_sync):
    """The classes of ``y`` over the partitions (of a one-column array too),
    and the statistics of a column of pandas' nullable integers (read as
    floats)."""
    from skcausal_trust.fairness import CounterfactuallyFairClassifier

    frame, y, w = _classification(seed=27)
    X = frame[["x1", "x2", "x3"]].assign(k=pd.array(np.arange(len(y)) % 7, dtype="Int64"))
    sizes = (CUTS[1], CUTS[2] - CUTS[1], len(y) - CUTS[2])
    Xd = dd.concat([dd.from_pandas(X.iloc[s:e], npartitions=1)
                    for s, e in zip((0,) + CUTS[1:], CUTS[1:] + (len(y),))])
    rows = fd.dask_fit_rows(CounterfactuallyFairClassifier(), Xd,
                            da.from_array(y.reshape(-1, 1), chunks=(sizes, 1)),
                            sensitive_features=None,
                            sample_weight=da.from_array(w, chunks=(sizes,)), target="classes")
    assert rows.summary["classes"] == {"no", "yes"}
    Z = X.to_numpy(dtype=float)
    assert_allclose(rows.summary["sum"], w @ Z, rtol=1e-13)
    assert_allclose(rows.summary["high"], Z.max(axis=0))


def test_first_pass_target_sum_over_an_empty_partition_and_columns(dask_sync):
    """The weighted sum of a continuous ``y``: a partition without rows adds
    nothing; a one-column array, or a series of pandas' nullable integers,
    is the same target."""
    frame, y, w = _frame(seed=28)
    X = frame[["x1", "x2"]]
    rows = _rows(X, y, w, None, ids=(), cuts=(0, 17, 17, 41))
    assert rows.summary["n"] == len(y)
    assert rows.summary["y_sum"] == pytest.approx(w @ y, rel=1e-13)
    Xd, _, wd = _partitioned(X, y, w)
    sizes = (CUTS[1], CUTS[2] - CUTS[1], len(y) - CUTS[2])
    integers = np.round(y).astype(int)
    ends = CUTS + (len(y),)
    targets = [
        (da.from_array(y.reshape(-1, 1), chunks=(sizes, 1)), y),
        (dd.concat([dd.from_pandas(pd.Series(pd.array(integers[s:e], dtype="Int64")),
                                   npartitions=1) for s, e in zip(ends[:-1], ends[1:])]),
         integers),
    ]
    for yd, values in targets:
        rows = fd.dask_fit_rows(CounterfactuallyFairRegressor(), Xd, yd,
                                sensitive_features=None, sample_weight=wd,
                                target="continuous")
        assert rows.summary["y_sum"] == pytest.approx(w @ values, rel=1e-13)


def test_first_pass_of_no_rows_and_of_one_row(dask_sync):
    frame, y, w = _frame(seed=29)
    X = frame[["x1", "x2"]]
    with pytest.raises(ValueError, match="X has 0 rows; nothing to fit"):
        _rows(X.iloc[:0], y[:0], w[:0], None, ids=(), cuts=(0,))
    rows = _rows(X.iloc[:1], y[:1], w[:1], None, ids=(), cuts=(0,))
    assert rows.summary["n"] == 1
    assert rows.summary["y_sum"] == pytest.approx(w[0] * y[0], rel=1e-15)


def test_first_pass_masses_from_the_combinations_of_two_attributes(dask_sync):
    """With the SCM's statistics, each level's weight is the sum over the
    combinations holding it."""
    frame, y, w = _frame(seed=30)
    rows = _scm_rows(frame, y, w)
    for j, v in enumerate(["a", "r"]):
        assert set(rows.summary["mass"][j]) == set(frame[v])
        for level, mass in rows.summary["mass"][j].items():
            assert mass == pytest.approx(w[(frame[v] == level).to_numpy()].sum(), rel=1e-13)


# -- the combinations of levels, the SCM's rows and checks on dask -------------

@pytest.mark.parametrize("n", [0, 1, 2, 25])
def test_combinations_are_each_rows_levels(n):
    """Each row's index among the distinct combinations of its levels (one
    attribute, or two); no combination without an attribute or rows."""
    frame, _, _ = _frame(seed=31, n=max(n, 1))
    frame = frame.iloc[:n]
    for names in (["a", "r"], ["r"]):
        keys, codes = fd._combinations(_attribute(frame[names].to_numpy()), n)
        assert len(codes) == n and len(set(keys)) == len(keys)
        assert set(keys) == set(map(tuple, frame[names].to_numpy()))
        assert [keys[c] for c in codes] == list(map(tuple, frame[names].to_numpy()))
    keys, codes = fd._combinations(None, 3)
    assert keys == [] and list(codes) == [0, 0, 0]


def _positional_world(calls):
    """A world whose rows in the SCM's variables are the inputs ``x1``,
    ``x2`` (read by position); it counts its calls in this process, and
    requires each part's index to start from 0."""

    class World:
        def scm_frame(self, inputs, part):
            calls.append(len(part))
            assert list(part.index) == list(range(len(part)))
            Z = np.asarray(part, dtype=float)
            return pd.DataFrame({"x1": Z[:, 0], "x2": Z[:, 1]})

    return World()


def test_dask_scm_frame_is_the_in_memory_frame_partition_by_partition(dask_sync):
    """The rows in the SCM's variables with the attributes as categoricals of
    their levels, one partition per partition of X (one of them with one row,
    one without any), each part given with a fresh index; built lazily (only
    the schema's made-up row converted until computed)."""
    frame, y, w = _frame(seed=32)
    cuts = (0, 1, 17, 17)
    rows = _scm_rows(frame, y, w, cuts=cuts)
    levels = rows.summary["levels"]
    calls = []
    out = fd.dask_scm_frame(_positional_world(calls), None, rows, ["a", "r"], levels)
    assert len(calls) == 1 and len(out._meta) == 0
    assert out.npartitions == 4
    got = out.compute()
    expected = frame[["x1", "x2"]].reset_index(drop=True).assign(
        a=pd.Categorical(frame["a"], categories=levels[0]),
        r=pd.Categorical(frame["r"], categories=levels[1]))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)
    assert list(out.dtypes) == list(expected.dtypes)


def test_dask_scm_frame_refuses_misaligned_collections(dask_sync):
    frame, y, w = _frame(seed=33)
    X, _, _ = _partitioned(frame[["x1", "x2"]], y, w)
    levels = [np.array(["f", "m"], dtype=object)]
    world = _positional_world([])
    for chunks, message in [((30, 30), r"not aligned: X 3, sensitive_features 2 partitions"),
                            ((16, 25, 19), r"partitions of different lengths \[(16, 17|24, 25)\]")]:
        attribute = fd.DaskAttribute([da.from_array(frame["a"].to_numpy(), chunks=(chunks,))],
                                     ["a"], "sensitive_features")
        rows = fd.DaskRows(X, ["x1", "x2"], None, None, attribute)
        with pytest.raises(ValueError, match=message):
            fd.dask_scm_frame(world, None, rows, ["a"], levels).compute()


def test_scm_first_pass_is_the_rows_summary_in_the_scms_variables(dask_sync):
    """The ranges of the graph's numeric nodes in the graph's order (the
    sensitive ones skipped, wherever they are), the levels, rows and
    weights; None for a node that is neither."""
    frame, y, w = _frame(seed=34)
    rows = _scm_rows(frame, y, w)
    levels = rows.summary["levels"]
    variables = {c: c for c in rows.names}
    for graph in (SCM_GRAPH, CausalGraph([("x1", "x2"), ("a", "x2")], nodes=["r"])):
        numeric = [v for v in graph.nodes if v not in ("a", "r")]
        assert min(graph.nodes.index("a"), graph.nodes.index("r")) < graph.nodes.index(
            numeric[-1])
        first = fd.scm_first_pass(rows, graph, variables, ["a", "r"], levels)
        cols = [frame[v].to_numpy() for v in numeric]
        assert_allclose(first["high"], [c.max() for c in cols])
        assert_allclose(first["low"], [-c.min() for c in cols])
        assert first["n"] == len(y) and first["max_weight"] == w.max()
        assert_allclose(first["weight"], [w.sum()], rtol=1e-13)
        assert first["levels"] == {"a": {"f", "m"}, "r": {"n", "s", "w"}}
    assert fd.scm_first_pass(rows, CausalGraph([("a", "u")]), variables, ["a", "r"],
                             levels) is None


def test_dask_check_fitted_scm_checks_each_partition_with_rows(dask_sync):
    """The check runs on every partition with rows: its inputs with a fresh
    index, and its attribute's labels."""
    frame, y, w = _frame(seed=35)
    rows = _scm_rows(frame, y, w, cuts=(0, 17, 17, 41))
    seen = []

    def check(part, attribute):
        seen.append((part.copy(), attribute.values.copy()))

    fd.dask_check_fitted_scm(check, rows)
    assert len(seen) == 3
    seen.sort(key=lambda s: np.flatnonzero(frame["x1"].to_numpy() == s[0]["x1"].iloc[0])[0])
    for part, _ in seen:
        assert list(part.columns) == ["x1", "x2"]
        assert list(part.index) == list(range(len(part)))
    got = pd.concat([s[0] for s in seen], ignore_index=True)
    pd.testing.assert_frame_equal(got, frame[["x1", "x2"]].reset_index(drop=True))
    assert (np.vstack([s[1] for s in seen]) == frame[["a", "r"]].to_numpy()).all()


def test_fused_scm_terms_of_nullable_integers(dask_sync):
    """The SCM's statistics from a first partition with a column of pandas'
    nullable integers: its offsets are the mid-ranges (as floats); without
    an attribute there are none."""
    frame, y, w = _frame(seed=36)
    frame = frame.assign(x1=pd.array(np.round(frame["x1"]).astype(int), dtype="Int64"))
    rows = _scm_rows(frame, y, w)
    first = frame[["x1", "x2"]].iloc[:CUTS[1]].to_numpy(dtype=float)
    assert_allclose(rows.fused["scm_groups"].offset,
                    first.min(axis=0) / 2 + first.max(axis=0) / 2, rtol=1e-15)
    terms, part = fd.fused_scm_terms(_rows(frame[["x1", "x2"]], y, w, None, ids=()))
    assert terms == {} and len(part[0]) == CUTS[1]
