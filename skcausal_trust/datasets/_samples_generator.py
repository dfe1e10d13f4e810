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
    n_sensitive=1,
    n_categorical=0,
    n_categories=3,
    effect_strength=1.5,
    edge_probability=0.3,
    random_state=None,
):
    """Simulate a classification task from a known linear SCM.

    A categorical sensitive attribute ``A`` (levels ``0 .. n_levels - 1``;
    with ``n_sensitive=2``, two attributes ``A`` and ``B``) causes the first
    ``n_mediators`` features directly; the features also cause each other
    along a random DAG (feature ``j`` may cause feature ``k > j`` with
    probability ``edge_probability``); every structural equation is linear
    with additive noise. The first ``n_categorical`` features are
    categorical (levels ``"c0"``, ``"c1"``, ...), each a linear probability
    model of its parents (one linear equation per non-baseline level's
    indicator), so their counterfactuals are real-valued indicator vectors;
    the others are numeric with standard Gaussian noise. The label is drawn
    from a (multinomial) logistic model of the (encoded) features and of the
    attributes themselves, so a classifier trained on the features alone is
    unfair through the mediators. The true SCM is returned, so tests can
    compute true counterfactuals.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows, >= 2.
    n_features : int, default=6
        Number of features ``x0 .. x{n_features-1}``, >= 1.
    n_mediators : int, default=None
        Number of features with the attribute(s) as direct parents; half of
        the features (rounded up) by default. Features may also descend from
        them through other features.
    n_levels : int or list of int, default=2
        Number of levels of each attribute, >= 2 (one per attribute, or the
        same for all); drawn uniformly.
    n_classes : int, default=2
        Number of classes of ``y``, >= 2.
    n_sensitive : int, default=1
        Number of sensitive attributes (1 to 26), named ``"A"``, ``"B"``, ...
    n_categorical : int, default=0
        Number of categorical features (the first ones), in
        ``[0, n_features]``.
    n_categories : int, default=3
        Number of levels of each categorical feature, >= 2.
    effect_strength : float, default=1.5
        Scale of the direct effects of the attributes on numeric mediators
        (each level's effect is drawn uniformly in
        ``[0.5, 1] * effect_strength`` with a random sign); a tenth of it on
        a categorical mediator's level probabilities.
    edge_probability : float, default=0.3
        Probability of each feature-to-feature edge ``x_j -> x_k``, ``j < k``.
    random_state : int, RandomState instance or None, default=None
        Controls every draw.

    Returns
    -------
    X : pandas.DataFrame of shape (n_samples, n_features)
        The features: float64, and ``category`` dtype for the categorical
        ones.
    y : ndarray of shape (n_samples,)
        Integer class labels.
    sensitive : pandas.Series of shape (n_samples,) or DataFrame of shape \
            (n_samples, n_sensitive)
        The sensitive attribute, named ``"A"``, categorical; a DataFrame
        with columns ``"A"``, ``"B"``, ... when ``n_sensitive > 1``.
    scm : LinearSCM
        The true model over the attributes and ``x0, ...`` (built with
        :meth:`~skcausal_trust.causal.LinearSCM.from_coefficients`);
        ``scm.graph_`` is its graph.

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
    >>> X, y, s, scm = make_counterfactual_classification(
    ...     200, n_sensitive=2, n_levels=[3, 2], n_categorical=2, random_state=0)
    >>> list(s.columns), str(X["x0"].dtype)
    (['A', 'B'], 'category')
    """
    for name, value, low in [
        ("n_samples", n_samples, 2),
        ("n_features", n_features, 1),
        ("n_classes", n_classes, 2),
        ("n_sensitive", n_sensitive, 1),
        ("n_categories", n_categories, 2),
    ]:
        if not isinstance(value, Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    if n_sensitive > 26:
        raise ValueError(f"n_sensitive must be at most 26; got {n_sensitive!r}.")
    level_counts = list(n_levels) if isinstance(n_levels, (list, tuple)) else (
        [n_levels] * n_sensitive)
    if len(level_counts) != n_sensitive or any(
        not isinstance(k, Integral) or k < 2 for k in level_counts
    ):
        raise ValueError(
            f"n_levels must be an integer >= 2 or a list of {n_sensitive} of them; "
            f"got {n_levels!r}."
        )
    if n_mediators is None:
        n_mediators = (n_features + 1) // 2
    if not isinstance(n_mediators, Integral) or not 0 <= n_mediators <= n_features:
        raise ValueError(
            f"n_mediators must be an integer in [0, n_features={n_features}]; "
            f"got {n_mediators!r}."
        )
    if not isinstance(n_categorical, Integral) or not 0 <= n_categorical <= n_features:
        raise ValueError(
            f"n_categorical must be an integer in [0, n_features={n_features}]; "
            f"got {n_categorical!r}."
        )
    if not 0 <= edge_probability <= 1:
        raise ValueError(f"edge_probability must be in [0, 1]; got {edge_probability!r}.")
    rng = check_random_state(random_state)

    names = [f"x{j}" for j in range(n_features)]
    attributes = [chr(ord("A") + i) for i in range(n_sensitive)]
    levels = {s: list(range(k)) for s, k in zip(attributes, level_counts)}
    categories = {s: lv for s, lv in levels.items()}
    for child in names[:n_categorical]:
        categories[child] = [f"c{i}" for i in range(n_categories)]
    edges, coefficients = [], {}
    for j, child in enumerate(names):
        coefficients[child] = {}
        categorical = child in categories
        child_levels = categories[child][1:] if categorical else None
        if j < n_mediators:
            for s in attributes:
                edges.append((s, child))
                k = len(levels[s]) - 1
                if categorical:
                    coefficients[child][s] = {
                        out: dict(zip(levels[s][1:], rng.choice([-1.0, 1.0], size=k)
                                      * rng.uniform(0.5, 1.0, size=k)
                                      * effect_strength / 10))
                        for out in child_levels
                    }
                else:
                    sign = rng.choice([-1.0, 1.0], size=k)
                    size = rng.uniform(0.5, 1.0, size=k) * effect_strength
                    coefficients[child][s] = dict(zip(levels[s][1:], sign * size))
        for parent in names[:j]:
            if rng.uniform() < edge_probability:
                edges.append((parent, child))
                coefficients[child][parent] = _feature_effect(
                    rng, categories.get(parent), child_levels)
    graph = CausalGraph(edges, nodes=attributes + names)
    scm = LinearSCM.from_coefficients(graph, coefficients, categories=categories)
    sampled = scm.sample(n_samples, random_state=rng)
    X = sampled[names].copy()
    numeric = [c for c in names if c not in categories]
    X[numeric] = X[numeric].astype(float)
    if n_sensitive == 1:
        sensitive = sampled["A"].rename("A")
    else:
        sensitive = sampled[attributes].copy()

    design = scm.encode(sampled, names)
    weights = rng.normal(0.0, 1.0, size=(n_classes, design.shape[1]))
    logits = design @ weights.T
    for s in attributes:
        direct = rng.normal(0.0, 0.5, size=(n_classes, len(levels[s])))
        codes = sampled[s].cat.codes.to_numpy()
        logits = logits + direct[:, codes].T
    if n_classes == 2:
        logits = logits - logits[:, [0]]
    proba = softmax(logits, axis=1)
    cum = proba.cumsum(axis=1)
    y = (rng.uniform(size=(n_samples, 1)) > cum).sum(axis=1)
    y = np.minimum(y, n_classes - 1).astype(int)
    return X, y, sensitive, scm


def _feature_effect(rng, parent_levels, child_levels):
    """Coefficient of a feature parent: a number (numeric parent and child),
    per parent level (categorical parent), per child level (categorical
    child, a linear probability model with small effects)."""
    if child_levels is None:
        if parent_levels is None:
            return rng.uniform(0.3, 0.8) * rng.choice([-1, 1])
        return {lvl: rng.uniform(0.3, 0.8) * rng.choice([-1, 1])
                for lvl in parent_levels[1:]}
    if parent_levels is None:
        return {out: rng.uniform(0.02, 0.05) * rng.choice([-1, 1]) for out in child_levels}
    return {out: {lvl: rng.uniform(0.05, 0.1) * rng.choice([-1, 1])
                  for lvl in parent_levels[1:]}
            for out in child_levels}


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
