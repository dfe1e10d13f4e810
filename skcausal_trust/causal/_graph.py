"""Directed acyclic causal graphs, stored on networkx."""

import csv
from collections.abc import Mapping

import networkx as nx

from ..exceptions import CyclicGraphError

__all__ = ["CausalGraph"]


class CausalGraph:
    """A causal directed acyclic graph (DAG) over named variables.

    A thin layer over :class:`networkx.DiGraph` that checks acyclicity once,
    at construction, and answers the questions the estimators ask: parents,
    ancestors, descendants, directed paths, a topological order, and whether
    the graph's nodes are columns of a data set.

    Parameters
    ----------
    edges : iterable of (cause, effect) pairs, mapping or networkx.DiGraph, \
            default=None
        The directed edges. A mapping is read as ``{node: parents}``, each
        value an iterable of the node's direct causes. A
        :class:`networkx.DiGraph` is copied.
    nodes : iterable of hashable, default=None
        Extra nodes, for variables without edges (isolated nodes).

    Attributes
    ----------
    nodes : list
        The nodes, in insertion order.
    edges : list of tuple
        The directed edges ``(cause, effect)``.

    Raises
    ------
    CyclicGraphError
        If the edges contain a directed cycle; the message lists one cycle.
    ValueError
        If an edge is not a pair, or links a node to itself.

    See Also
    --------
    LinearSCM : A linear additive-noise structural causal model on a graph.

    References
    ----------
    .. [1] J. Pearl, "Causality: Models, Reasoning, and Inference", 2nd ed.,
       Cambridge University Press, 2009.

    Examples
    --------
    >>> from skcausal_trust.causal import CausalGraph
    >>> g = CausalGraph([("sex", "education"), ("education", "income"),
    ...                  ("sex", "income")])
    >>> g.parents("income")
    ['sex', 'education']
    >>> g.descendants("sex")
    ['education', 'income']
    >>> g.directed_paths("sex", "income")
    [['sex', 'income'], ['sex', 'education', 'income']]
    >>> CausalGraph.from_parents({"y": ["x"], "x": []}).edges
    [('x', 'y')]
    """

    def __init__(self, edges=None, *, nodes=None):
        graph = nx.DiGraph()
        if nodes is not None:
            graph.add_nodes_from(nodes)
        if isinstance(edges, nx.DiGraph):
            graph.add_nodes_from(edges.nodes)
            graph.add_edges_from(edges.edges)
        elif isinstance(edges, Mapping):
            for child, parents in edges.items():
                graph.add_node(child)
                if isinstance(parents, (str, bytes)):
                    parents = [parents]
                for parent in parents:
                    graph.add_edge(parent, child)
        elif edges is not None:
            for edge in edges:
                edge = tuple(edge)
                if len(edge) != 2:
                    raise ValueError(
                        f"edges must be (cause, effect) pairs; got {edge!r}."
                    )
                graph.add_edge(*edge)
        loops = list(nx.nodes_with_selfloops(graph))
        if loops:
            raise CyclicGraphError(
                f"edges link a node to itself: {loops!r}; a causal graph is acyclic."
            )
        if not nx.is_directed_acyclic_graph(graph):
            cycle = [u for u, _ in nx.find_cycle(graph)]
            raise CyclicGraphError(
                "edges contain the directed cycle "
                + " -> ".join(map(repr, cycle + cycle[:1]))
                + "; a causal graph must be acyclic."
            )
        self._graph = graph

    # -- constructors -----------------------------------------------------
    @classmethod
    def from_edges(cls, edges, *, nodes=None):
        """Build a graph from ``(cause, effect)`` pairs.

        Parameters
        ----------
        edges : iterable of (cause, effect) pairs
            The directed edges.
        nodes : iterable of hashable, default=None
            Extra isolated nodes.

        Returns
        -------
        graph : CausalGraph
        """
        return cls(list(edges), nodes=nodes)

    @classmethod
    def from_parents(cls, parents):
        """Build a graph from a mapping ``{node: iterable of its parents}``.

        Parameters
        ----------
        parents : mapping
            Each key a node, each value its direct causes.

        Returns
        -------
        graph : CausalGraph
        """
        return cls(dict(parents))

    @classmethod
    def from_csv(cls, path):
        """Read an edge list file: one ``cause,effect`` pair per line.

        A first line ``cause,effect`` (any case) is read as a header and
        skipped; blank lines and lines starting with ``#`` are ignored; a line
        holding a single name adds an isolated node.

        Parameters
        ----------
        path : str or path-like
            The file to read.

        Returns
        -------
        graph : CausalGraph

        Raises
        ------
        ValueError
            If a line has more than two fields.
        """
        edges, nodes = [], []
        with open(path, newline="") as handle:
            for lineno, row in enumerate(csv.reader(handle), start=1):
                row = [field.strip() for field in row]
                if not row or not row[0] or row[0].startswith("#"):
                    continue
                if lineno == 1 and [f.lower() for f in row] == ["cause", "effect"]:
                    continue
                if len(row) == 1:
                    nodes.append(row[0])
                elif len(row) == 2:
                    edges.append((row[0], row[1]))
                else:
                    raise ValueError(
                        f"graph file {str(path)!r} line {lineno}: expected "
                        f"'cause,effect', got {len(row)} fields."
                    )
        return cls(edges, nodes=nodes)

    # -- queries ----------------------------------------------------------
    @property
    def nodes(self):
        return list(self._graph.nodes)

    @property
    def edges(self):
        return list(self._graph.edges)

    def to_networkx(self):
        """Return a copy of the graph as a :class:`networkx.DiGraph`."""
        return self._graph.copy()

    def _check_node(self, node):
        if node not in self._graph:
            raise ValueError(
                f"node {node!r} is not in the causal graph; its nodes are "
                f"{self.nodes!r}."
            )

    def parents(self, node):
        """Direct causes of ``node``, sorted by node order in the graph."""
        self._check_node(node)
        return self._in_node_order(self._graph.predecessors(node))

    def children(self, node):
        """Direct effects of ``node``, sorted by node order in the graph."""
        self._check_node(node)
        return self._in_node_order(self._graph.successors(node))

    def ancestors(self, node):
        """All nodes with a directed path into ``node``."""
        self._check_node(node)
        return self._in_node_order(nx.ancestors(self._graph, node))

    def descendants(self, node):
        """All nodes reached by a directed path from ``node``."""
        self._check_node(node)
        return self._in_node_order(nx.descendants(self._graph, node))

    def directed_paths(self, source, target):
        """All directed paths from ``source`` to ``target``, as node lists.

        Paths are sorted by length, then by node order.
        """
        self._check_node(source)
        self._check_node(target)
        order = {n: i for i, n in enumerate(self._graph.nodes)}
        paths = nx.all_simple_paths(self._graph, source, target)
        return sorted(paths, key=lambda p: (len(p), [order[n] for n in p]))

    def topological_order(self):
        """The nodes in a topological order (causes before effects).

        Ties are broken by insertion order, so the order is deterministic.
        """
        order = {n: i for i, n in enumerate(self._graph.nodes)}
        return list(nx.lexicographical_topological_sort(self._graph, key=order.get))

    def check_nodes_in(self, columns, *, argument="data"):
        """Raise ``ValueError`` naming the nodes that are not in ``columns``.

        Parameters
        ----------
        columns : iterable
            Column names of a data set.
        argument : str, default="data"
            The argument name used in the error message.
        """
        columns = set(columns)
        missing = [n for n in self._graph.nodes if n not in columns]
        if missing:
            raise ValueError(
                f"causal graph nodes {missing!r} are not columns of {argument}; "
                f"its columns are {sorted(map(str, columns))!r}."
            )

    def expand(self, groups):
        """Replace nodes by groups of nodes, copying their edges.

        Useful to move a graph over variables to one over their one-hot
        columns: ``{"race": ["race_White", "race_Black", ...]}``. Every edge
        into or out of a replaced node is copied to each member of its group.

        Parameters
        ----------
        groups : mapping
            ``{node: list of new nodes}``; nodes not in the mapping stay.

        Returns
        -------
        graph : CausalGraph
        """
        for node in groups:
            self._check_node(node)
        members = {n: list(groups.get(n, [n])) for n in self._graph.nodes}
        edges = [
            (a, b) for u, v in self._graph.edges for a in members[u] for b in members[v]
        ]
        nodes = [m for n in self._graph.nodes for m in members[n]]
        return CausalGraph(edges, nodes=nodes)

    def _in_node_order(self, nodes):
        nodes = set(nodes)
        return [n for n in self._graph.nodes if n in nodes]

    def __contains__(self, node):
        return node in self._graph

    def __len__(self):
        return self._graph.number_of_nodes()

    def __eq__(self, other):
        if not isinstance(other, CausalGraph):
            return NotImplemented
        return set(self.nodes) == set(other.nodes) and set(self.edges) == set(
            other.edges
        )

    __hash__ = None

    def __repr__(self):
        return (
            f"CausalGraph(n_nodes={self._graph.number_of_nodes()}, "
            f"n_edges={self._graph.number_of_edges()})"
        )
