"""Simulators with a known structural causal model (ground truth for tests)."""

from numbers import Integral

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn.utils import check_random_state

from ..causal import CausalGraph, LinearSCM

__all__ = ["make_counterfactual_classification", "make_invariant_regression"]


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



def make_invariant_regression(
    n_samples_per_environment=500,
    n_environments=3,
    *,
    n_parents=2,
    n_ancestors=2,
    n_children=2,
    intervention_strength=1.0,
    intervene_on=None,
    random_state=None,
):
    """Simulate a regression task from several environments of a linear SCM.

    Predictors ``x0, x1, ...`` come in three groups along a random linear
    Gaussian SCM: ``n_ancestors`` upstream variables that are not parents of
    the target, ``n_parents`` parents of the target ``y``, and
    ``n_children`` children of ``y`` (predictive, but not invariant). The
    upstream variables cause the parents, the parents cause ``y``, and ``y``
    and the parents cause the children. Environment 0 is observational; in
    every other environment, each variable in ``intervene_on`` is shifted by
    ``intervention_strength`` times a random amount (a soft intervention on
    its mean) and has its noise scaled. The target's own mechanism never
    changes, so the parents are exactly the invariant set of invariant causal
    prediction (Peters et al. 2016).

    Parameters
    ----------
    n_samples_per_environment : int, default=500
        Rows per environment, >= 2.
    n_environments : int, default=3
        Number of environments, >= 2.
    n_parents : int, default=2
        Number of parents of ``y``, >= 0.
    n_ancestors : int, default=2
        Number of upstream predictors (ancestors of ``y`` through the
        parents), >= 0.
    n_children : int, default=2
        Number of children of ``y``, >= 0.
    intervention_strength : float, default=1.0
        Scale of the mean shifts (>= 0); 0 makes every environment alike.
    intervene_on : list of str or None, default=None
        Predictors intervened on in environments 1, 2, ...; all by default.
    random_state : int, RandomState instance or None, default=None
        Controls every draw.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_features)
        The predictors, ``n_samples = n_samples_per_environment *
        n_environments`` and ``n_features = n_ancestors + n_parents +
        n_children``.
    y : ndarray of shape (n_samples,)
    environments : ndarray of object of shape (n_samples,)
        Environment labels ``"e0"``, ``"e1"``, ...
    parents : list of str
        The names of the parents of ``y``.

    Raises
    ------
    ValueError
        If an argument is out of range or ``intervene_on`` names an unknown
        predictor.

    References
    ----------
    .. [1] J. Peters, P. Buhlmann and N. Meinshausen, "Causal inference by
       using invariant prediction: identification and confidence intervals",
       JRSS-B 78(5):947-1012, 2016.

    Examples
    --------
    >>> from skcausal_trust.datasets import make_invariant_regression
    >>> X, y, env, parents = make_invariant_regression(random_state=0)
    >>> X.shape, sorted(set(env)), parents
    ((1500, 6), ['e0', 'e1', 'e2'], ['x2', 'x3'])
    """
    for name, value, low in [
        ("n_samples_per_environment", n_samples_per_environment, 2),
        ("n_environments", n_environments, 2),
        ("n_parents", n_parents, 0),
        ("n_ancestors", n_ancestors, 0),
        ("n_children", n_children, 0),
    ]:
        if not isinstance(value, Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    if n_ancestors + n_parents + n_children < 1:
        raise ValueError("make_invariant_regression needs at least one predictor.")
    if not intervention_strength >= 0:
        raise ValueError(
            f"intervention_strength must be >= 0; got {intervention_strength!r}."
        )
    rng = check_random_state(random_state)
    p = n_ancestors + n_parents + n_children
    names = [f"x{j}" for j in range(p)]
    ancestors = list(range(n_ancestors))
    parents = list(range(n_ancestors, n_ancestors + n_parents))
    children = list(range(n_ancestors + n_parents, p))
    intervene_on = names if intervene_on is None else list(intervene_on)
    unknown = [v for v in intervene_on if v not in names]
    if unknown:
        raise ValueError(f"intervene_on names unknown predictors {unknown!r}; "
                         f"the predictors are {names!r}.")
    targets = [names.index(v) for v in intervene_on]

    def coef():
        return rng.uniform(0.5, 1.5) * rng.choice([-1.0, 1.0])

    W_anc = {(i, j): coef() for i in ancestors for j in parents}
    w_y = {j: coef() for j in parents}
    W_child = {(i, j): coef() for i in parents for j in children if rng.uniform() < 0.5}
    w_child_y = {j: coef() for j in children}
    shifts = intervention_strength * rng.uniform(1.0, 2.0, (n_environments, p)) * \
        rng.choice([-1.0, 1.0], (n_environments, p))
    scales = rng.uniform(1.0, 2.0, (n_environments, p))
    shifts[0], scales[0] = 0.0, 1.0
    blocks, ys, envs = [], [], []
    n = n_samples_per_environment
    for e in range(n_environments):
        X = np.zeros((n, p))
        hit = np.zeros(p, dtype=bool)
        hit[targets] = e > 0

        def noise(j):
            scale = scales[e, j] if hit[j] else 1.0
            return shifts[e, j] * hit[j] + scale * rng.normal(size=n)

        for j in ancestors:
            X[:, j] = noise(j)
        for j in parents:
            X[:, j] = sum(W_anc[i, j] * X[:, i] for i in ancestors) + noise(j)
        y = sum((w_y[j] * X[:, j] for j in parents), np.zeros(n)) + rng.normal(size=n)
        for j in children:
            X[:, j] = (
                w_child_y[j] * y
                + sum(W_child.get((i, j), 0.0) * X[:, i] for i in parents)
                + noise(j)
            )
        blocks.append(X)
        ys.append(y)
        envs.append(np.full(n, f"e{e}", dtype=object))
    X = pd.DataFrame(np.vstack(blocks), columns=names)
    return X, np.concatenate(ys), np.concatenate(envs), [names[j] for j in parents]
