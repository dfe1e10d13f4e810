"""Documented default causal graphs for the bundled data."""

from ..causal import CausalGraph

__all__ = ["adult_causal_graph"]

#: Roles of the Adult columns in the default graph (Chiappa 2019, Sec. 5).
ADULT_ROLES = {
    "sensitive": ["sex"],
    "baseline": ["age", "race", "native-country"],
    "marital": ["marital-status", "relationship"],
    "education": ["education-num"],
    "work": ["workclass", "occupation", "hours-per-week", "capital-gain", "capital-loss"],
}


def adult_causal_graph():
    """The default causal graph over the UCI Adult features.

    The structure used for Adult in the path-specific counterfactual fairness
    literature [1]_ [2]_: the sensitive attribute ``sex`` (A) and the
    baseline variables C = {``age``, ``race``, ``native-country``} are roots;
    marital status M = {``marital-status``, ``relationship``}, education
    level L = {``education-num``} and working conditions R = {``workclass``,
    ``occupation``, ``hours-per-week``, ``capital-gain``, ``capital-loss``}
    follow, with edges A -> M, L, R; C -> M, L, R; M -> L, R; L -> R, and
    ``marital-status -> relationship`` inside M. The outcome (``income``) is
    not a node: the graph is over a classifier's inputs. ``education`` (a
    label for ``education-num``) and ``fnlwgt`` (a survey weight) are left
    out.

    This is an assumption, not a finding: every feature but the baseline ones
    is a descendant of ``sex``, so a counterfactually fair model may use them
    only through their sex-independent parts.

    Returns
    -------
    graph : CausalGraph
        12 nodes: the 11 features listed above and ``sex``.

    References
    ----------
    .. [1] S. Chiappa, "Path-Specific Counterfactual Fairness", AAAI 2019.
    .. [2] R. Nabi and I. Shpitser, "Fair Inference on Outcomes", AAAI 2018.

    Examples
    --------
    >>> from skcausal_trust.datasets import adult_causal_graph
    >>> g = adult_causal_graph()
    >>> g.parents("education-num")
    ['sex', 'age', 'race', 'native-country', 'marital-status', 'relationship']
    >>> len(g.descendants("sex"))
    8
    """
    roles = ADULT_ROLES
    edges = []
    for source, targets in [
        ("sensitive", ["marital", "education", "work"]),
        ("baseline", ["marital", "education", "work"]),
        ("marital", ["education", "work"]),
        ("education", ["work"]),
    ]:
        for target in targets:
            edges += [(u, v) for u in roles[source] for v in roles[target]]
    edges.append(("marital-status", "relationship"))
    nodes = [n for group in roles.values() for n in group]
    return CausalGraph(edges, nodes=nodes)
