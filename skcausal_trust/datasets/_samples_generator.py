"""Simulators with a known structural causal model (ground truth for tests)."""

from numbers import Integral

import numpy as np
from scipy.special import softmax
from sklearn.utils import check_random_state

from ..causal import CausalGraph, LinearSCM

__all__ = ["make_counterfactual_classification"]


def make_counterfactual_classification(
    n_samples=1000,
    n_features=6,
    *,
    n_mediators=None,
    n_levels=2,
    n_classes=2,
    effect_strength=1.5,
    edge_probability=0.3,
    random_state=None,
):
    """Simulate a classification task from a known linear SCM.

    A categorical sensitive attribute ``A`` (levels ``0 .. n_levels - 1``)
    causes the first ``n_mediators`` features directly; the features also
    cause each other along a random DAG (feature ``j`` may cause feature
    ``k > j`` with probability ``edge_probability``); every structural
    equation is linear with standard Gaussian noise. The label is drawn from
    a (multinomial) logistic model of the features and of ``A`` itself, so a
    classifier trained on the features alone is unfair through the mediators.
    The true SCM is returned, so tests can compute true counterfactuals with
    :meth:`~skcausal_trust.causal.LinearSCM.counterfactual`.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows, >= 2.
    n_features : int, default=6
        Number of features ``x0 .. x{n_features-1}``, >= 1.
    n_mediators : int, default=None
        Number of features with ``A`` as a direct parent; half of the
        features (rounded up) by default. Features may also descend from
        ``A`` through other features.
    n_levels : int, default=2
        Number of levels of ``A``, >= 2; drawn uniformly.
    n_classes : int, default=2
        Number of classes of ``y``, >= 2.
    effect_strength : float, default=1.5
        Scale of the direct effects of ``A`` on the mediators (each level's
        effect is drawn uniformly in ``[0.5, 1] * effect_strength`` with a
        random sign).
    edge_probability : float, default=0.3
        Probability of each feature-to-feature edge ``x_j -> x_k``, ``j < k``.
    random_state : int, RandomState instance or None, default=None
        Controls every draw.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_features)
        The features, float64.
    y : ndarray of shape (n_samples,)
        Integer class labels.
    sensitive : pandas.Series of shape (n_samples,)
        The sensitive attribute, named ``"A"``, categorical.
    scm : LinearSCM
        The true model over ``["A", "x0", ...]`` (built with
        :meth:`~skcausal_trust.causal.LinearSCM.from_coefficients`); ``scm.graph_`` is its graph.

    Raises
    ------
    ValueError
        If an argument is out of range (the message names it).

    See Also
    --------
    skcausal_trust.fairness.CounterfactuallyFairClassifier

    Examples
    --------
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> X, y, a, scm = make_counterfactual_classification(200, random_state=0)
    >>> X.shape, y.shape, a.name
    ((200, 6), (200,), 'A')
    >>> scm.graph_.children("A")
    ['x0', 'x1', 'x2']
    """
    for name, value, low in [
        ("n_samples", n_samples, 2),
        ("n_features", n_features, 1),
        ("n_levels", n_levels, 2),
        ("n_classes", n_classes, 2),
    ]:
        if not isinstance(value, Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    if n_mediators is None:
        n_mediators = (n_features + 1) // 2
    if not isinstance(n_mediators, Integral) or not 0 <= n_mediators <= n_features:
        raise ValueError(
            f"n_mediators must be an integer in [0, n_features={n_features}]; "
            f"got {n_mediators!r}."
        )
    if not 0 <= edge_probability <= 1:
        raise ValueError(f"edge_probability must be in [0, 1]; got {edge_probability!r}.")
    rng = check_random_state(random_state)

    names = [f"x{j}" for j in range(n_features)]
    levels = list(range(n_levels))
    edges, coefficients = [], {}
    for j, child in enumerate(names):
        coefficients[child] = {}
        if j < n_mediators:
            edges.append(("A", child))
            sign = rng.choice([-1.0, 1.0], size=n_levels - 1)
            size = rng.uniform(0.5, 1.0, size=n_levels - 1) * effect_strength
            coefficients[child]["A"] = {lvl: s for lvl, s in zip(levels[1:], sign * size)}
        for parent in names[:j]:
            if rng.uniform() < edge_probability:
                edges.append((parent, child))
                coefficients[child][parent] = rng.uniform(0.3, 0.8) * rng.choice([-1, 1])
    graph = CausalGraph(edges, nodes=["A"] + names)
    scm = LinearSCM.from_coefficients(
        graph, coefficients, categories={"A": levels}
    )
    sampled = scm.sample(n_samples, random_state=rng)
    X = sampled[names].astype(float)
    sensitive = sampled["A"].rename("A")

    weights = rng.normal(0.0, 1.0, size=(n_classes, n_features))
    direct = rng.normal(0.0, 0.5, size=(n_classes, n_levels))
    codes = sensitive.cat.codes.to_numpy()
    logits = X.to_numpy() @ weights.T + direct[:, codes].T
    if n_classes == 2:
        logits = logits - logits[:, [0]]
    proba = softmax(logits, axis=1)
    cum = proba.cumsum(axis=1)
    y = (rng.uniform(size=(n_samples, 1)) > cum).sum(axis=1)
    y = np.minimum(y, n_classes - 1).astype(int)
    return X, y, sensitive, scm

