"""Shared machinery of the counterfactual fairness estimators: worlds
(candidate causal models), their fitting, and counterfactual directions."""

import numpy as np
import pandas as pd

from ..causal import CausalGraph, LinearSCM
from ..causal._scm import _as_graph

__all__ = ["fit_worlds", "counterfactual_directions"]

#: More levels than this and the pairwise constraints explode; such an
#: attribute is better treated as continuous by the user.
MAX_SENSITIVE_LEVELS = 50


def _is_fitted_scm(scm):
    return isinstance(scm, LinearSCM) and hasattr(scm, "equations_")


def as_world_list(causal_model):
    """``causal_model`` as a list of CausalGraph / LinearSCM (``None`` kept)."""
    if causal_model is None:
        return [None]
    if isinstance(causal_model, (CausalGraph, LinearSCM)):
        return [causal_model]
    worlds = list(causal_model)
    if not worlds:
        raise ValueError("causal_model is an empty list; give at least one world.")
    for i, world in enumerate(worlds):
        if not isinstance(world, (CausalGraph, LinearSCM)):
            raise ValueError(
                f"causal_model[{i}] is a {type(world).__name__}; each world must be a "
                "CausalGraph or a LinearSCM (wrap edge lists in CausalGraph(...))."
            )
    return worlds


def _graph_of(world, argument="causal_model"):
    if _is_fitted_scm(world):
        return world.graph_
    if isinstance(world, LinearSCM):
        return _as_graph(world.graph, argument)
    return world


def resolve_sensitive_node(world, feature_names, sensitive_name, argument="causal_model"):
    """Which node of ``world`` is the sensitive attribute; check the nodes."""
    graph = _graph_of(world, argument)
    nodes = graph.nodes
    features = set(feature_names)
    if sensitive_name is not None and sensitive_name in graph:
        node = sensitive_name
    else:
        others = [n for n in nodes if n not in features]
        if len(others) != 1:
            raise ValueError(
                f"{argument}: cannot tell which node is the sensitive attribute; the "
                f"nodes that are not feature columns are {others!r}. Name the "
                "sensitive column in sensitive_feature_ids, or pass "
                "sensitive_features as a Series named after its node."
            )
        node = others[0]
    extra = [n for n in nodes if n not in features and n != node]
    if extra:
        raise ValueError(
            f"{argument} has nodes {extra!r} that are neither columns of X nor the "
            "sensitive attribute; every node must be observed."
        )
    missing = [f for f in feature_names if f not in graph]
    if missing:
        raise ValueError(
            f"columns {missing!r} of X are not nodes of {argument}; add them (as "
            "isolated nodes if the sensitive attribute does not cause them)."
        )
    return node


def fit_worlds(causal_model, features, feature_names, sensitive, sensitive_name,
               sample_weight=None, argument="causal_model"):
    """Fit (or check) one LinearSCM per world over features and the attribute.

    ``causal_model=None`` means the default world: the sensitive attribute
    causes every feature directly and nothing else is assumed.

    Returns
    -------
    scms : list of LinearSCM
    node : the sensitive node's name (the same in every world)
    """
    worlds = as_world_list(causal_model)
    scms, nodes = [], set()
    for i, world in enumerate(worlds):
        label = argument if len(worlds) == 1 else f"{argument}[{i}]"
        if world is None:
            node = sensitive_name if sensitive_name is not None else "sensitive"
            if node in feature_names:
                node = f"{node}__sensitive"
            world = CausalGraph([(node, f) for f in feature_names], nodes=[node])
        else:
            node = resolve_sensitive_node(world, feature_names, sensitive_name, label)
        frame = pd.DataFrame(features, columns=feature_names)
        frame[node] = sensitive
        if _is_fitted_scm(world):
            scm = world
            scm._check_frame(frame, scm.graph_, argument="X")
            if node in scm.categories_:
                scm._encode_column(node, sensitive, argument="sensitive_features")
        else:
            graph = world.graph if isinstance(world, LinearSCM) else world
            scm = LinearSCM(graph).fit(frame, sample_weight=sample_weight)
        scms.append(scm)
        nodes.add(node)
    if len(nodes) != 1:
        raise ValueError(
            f"{argument}: the worlds name the sensitive attribute differently "
            f"({sorted(map(str, nodes))!r})."
        )
    return scms, nodes.pop()


def sensitive_argument(sensitive_feature_ids, sensitive_name):
    """How error messages name the sensitive attribute's source."""
    if sensitive_feature_ids is None:
        return "sensitive_features"
    return f"X[:, {sensitive_name!r}] (sensitive_feature_ids)"


def sensitive_levels(sensitive, argument="sensitive_features"):
    levels = np.unique(sensitive)
    if levels.size < 2:
        raise ValueError(
            f"{argument} has a single level {levels[0]!r}; counterfactual fairness "
            "needs at least two levels to compare."
        )
    if levels.size > MAX_SENSITIVE_LEVELS:
        raise ValueError(
            f"{argument} has {levels.size} distinct values (more than "
            f"{MAX_SENSITIVE_LEVELS}); pass a categorical attribute with few levels."
        )
    return levels


def counterfactual_directions(scms, node, levels, feature_names):
    """Total effects of ``do(node=l_k)`` against ``do(node=l_0)`` on the features.

    Returns
    -------
    directions : ndarray of shape (n_worlds, n_levels - 1, n_features)
        ``directions[w, k - 1]`` is the change of every feature's value when
        the attribute moves from level 0 to level k in world w; the change
        from level j to level k is ``directions[w, k-1] - directions[w, j-1]``
        (with ``directions[w, -1] = 0`` for level 0).
    """
    out = np.zeros((len(scms), len(levels) - 1, len(feature_names)))
    for w, scm in enumerate(scms):
        for k in range(1, len(levels)):
            out[w, k - 1] = scm.total_effect(node, levels[0], levels[k], feature_names)
    return out
