"""Directed acyclic causal graphs, stored on networkx."""

import codecs
import csv
import os
from collections.abc import Mapping

import networkx as nx

from ..exceptions import CyclicGraphError

__all__ = ["CausalGraph"]


class GraphFileNotFoundError(FileNotFoundError, ValueError):
    """A missing graph file: a ``FileNotFoundError`` and, as every bad input
    of this package, a ``ValueError``."""


class GraphFileIsADirectoryError(IsADirectoryError, ValueError):
    """A graph file path that is a directory; also a ``ValueError``."""


def as_paths(paths, argument):
    """``paths`` (node sequences, or ``"a -> b -> c"`` strings) as distinct
    node tuples, in order; ``None`` stays ``None``.

    Raises
    ------
    ValueError
        If ``paths`` is not a list or tuple of paths (naming ``argument``).
    """
    if paths is None:
        return None
    if isinstance(paths, str) or not isinstance(paths, (list, tuple)):
        raise ValueError(f"{argument} must be a list of paths; got {paths!r}.")
    out = []
    for path in paths:
        nodes = (tuple(p.strip() for p in path.split("->")) if isinstance(path, str)
                 else tuple(path))
        if nodes not in out:
            out.append(nodes)
    return out


def _decode_graph_file(raw, shown):
    """Decode a graph file's bytes as UTF-8 (a byte-order mark dropped), or
    raise a ValueError naming the file and the line of the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            raise ValueError(
                f"graph file {shown!r} is UTF-16 text; save it as UTF-8."
            ) from exc
        lineno = exc.object[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"graph file {shown!r} line {lineno}: not UTF-8 text (byte "
            f"{exc.object[exc.start]:#04x}); save the file as UTF-8."
        ) from exc


def _split_graph_line(line, shown, lineno):
    """Split one line of a graph file into stripped names.

    Returns the names and a description of the separator, for messages.
    """
    if "->" in line:
        return [f.strip() for f in line.split("->")], "'->'"
    if "\t" in line:
        return [f.strip() for f in line.split("\t")], "tabs"
    try:
        fields = next(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise ValueError(
            f"graph file {shown!r} line {lineno}: not a CSV line ({exc}): {line!r}."
        ) from exc
    return [f.strip() for f in fields], "commas"


def _as_pair(edge, position):
    """Return ``edge`` as ``(cause, effect)`` or raise a ValueError naming it.

    A string is refused rather than unpacked: ``"xy"`` is a name, not the
    edge ``x -> y``. Unordered containers (sets, mappings) are refused too,
    since they cannot say which node is the cause.
    """
    what = f"edges[{position}] = {edge!r}"
    if isinstance(edge, (str, bytes)):
        raise ValueError(
            f"{what}: an edge must be a (cause, effect) pair, not a string; "
            "write ('x', 'y') for the edge x -> y."
        )
    if isinstance(edge, (set, frozenset, Mapping)):
        raise ValueError(
            f"{what}: an edge must be an ordered (cause, effect) pair; a "
            f"{type(edge).__name__} does not say which node is the cause."
        )
    try:
        pair = tuple(edge)
    except TypeError:
        raise ValueError(
            f"{what}: an edge must be a (cause, effect) pair; a "
            f"{type(edge).__name__} is not one."
        ) from None
    if len(pair) != 2:
        raise ValueError(
            f"{what}: an edge must be a (cause, effect) pair; got {len(pair)} items."
        )
    return pair


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
        If ``edges`` is not one of the forms above, or an edge is not an
        ordered ``(cause, effect)`` pair (a string such as ``"xy"`` is
        refused, not unpacked) or has an unhashable node.

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
                try:
                    parents = list(parents)
                except TypeError:
                    raise ValueError(
                        f"edges[{child!r}] must be an iterable of the parents of "
                        f"{child!r}; got {parents!r}. Write [{parents!r}] for a "
                        "single parent."
                    ) from None
                for parent in parents:
                    graph.add_edge(parent, child)
        elif isinstance(edges, (str, bytes)):
            raise ValueError(
                f"edges must be an iterable of (cause, effect) pairs, a mapping "
                f"or a networkx.DiGraph; got the string {edges!r}."
            )
        elif edges is not None:
            try:
                edges = iter(edges)
            except TypeError:
                raise ValueError(
                    "edges must be an iterable of (cause, effect) pairs, a mapping "
                    f"or a networkx.DiGraph; got {type(edges).__name__}."
                ) from None
            for position, edge in enumerate(edges):
                cause, effect = _as_pair(edge, position)
                try:
                    graph.add_edge(cause, effect)
                except TypeError:  # an unhashable node
                    raise ValueError(
                        f"edges[{position}] = {edge!r}: a node must be hashable "
                        "(a column name or position)."
                    ) from None
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
        """Read a graph file: one edge, or one isolated node, per line.

        An edge is written ``cause,effect`` (CSV, with its quoting rules, so
        a quoted name may hold a comma), ``cause -> effect`` or
        ``cause<TAB>effect``; the form is chosen line by line: ``->`` if the
        line contains it, else a tab if it contains one, else a comma. A line
        holding a single name adds an isolated node. Names are stripped of
        surrounding spaces. Blank lines and lines starting with ``#`` are
        ignored; the first other line is a header, and is skipped, if it reads
        ``cause,effect`` (any case, any of the three separators). The file is
        read as UTF-8; a byte-order mark (as written by Excel) is dropped.

        Parameters
        ----------
        path : str or path-like
            The file to read.

        Returns
        -------
        graph : CausalGraph
            The isolated nodes first, then the nodes of the edges in order of
            appearance.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist. The error is also a ``ValueError``.
        IsADirectoryError
            If ``path`` is a directory. The error is also a ``ValueError``.
        ValueError
            If the file is not UTF-8 text, holds no edge or node, or a line
            has more than two fields, an empty name or unbalanced quotes; the
            message names the file and the line.
        CyclicGraphError
            If a line links a node to itself or the edges form a directed
            cycle; the message names the file and the lines.

        Examples
        --------
        >>> import os, tempfile
        >>> from skcausal_trust.causal import CausalGraph
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = os.path.join(folder.name, "graph.txt")
        >>> with open(path, "w", encoding="utf-8") as handle:
        ...     _ = handle.write("cause,effect\\nsex -> education\\n"
        ...                      "education\\tincome\\nsex,income\\n")
        >>> graph = CausalGraph.from_csv(path)
        >>> graph.edges
        [('sex', 'education'), ('sex', 'income'), ('education', 'income')]
        >>> folder.cleanup()
        """
        shown = str(os.fspath(path))
        if os.path.isdir(path):
            raise GraphFileIsADirectoryError(
                f"graph file {shown!r} is a directory; pass the path of an edge list "
                "file."
            )
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError as exc:
            raise GraphFileNotFoundError(
                f"graph file {shown!r} does not exist."
            ) from exc
        text = _decode_graph_file(raw, shown)
        edges, nodes, lines = [], [], {}
        header_possible = True
        for lineno, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields, separator = _split_graph_line(line, shown, lineno)
            if header_possible and [f.lower() for f in fields] == ["cause", "effect"]:
                header_possible = False
                continue
            header_possible = False
            where = f"graph file {shown!r} line {lineno}"
            if len(fields) > 2:
                raise ValueError(
                    f"{where}: expected one edge ('cause,effect', 'cause -> effect' "
                    f"or 'cause<TAB>effect') or one node name; got {len(fields)} "
                    f"fields separated by {separator} in {line!r}."
                )
            if not all(fields):
                raise ValueError(
                    f"{where}: a node name is empty in {line!r}; write "
                    "'cause,effect' for an edge or a single name for an isolated "
                    "node."
                )
            if len(fields) == 1:
                nodes.append(fields[0])
                continue
            cause, effect = fields
            if cause == effect:
                raise CyclicGraphError(
                    f"{where}: the edge {cause!r} -> {effect!r} links a node to "
                    "itself; a causal graph is acyclic."
                )
            edges.append((cause, effect))
            lines.setdefault((cause, effect), lineno)
        if not edges and not nodes:
            raise ValueError(
                f"graph file {shown!r} holds no edge or node: it is empty or has "
                "only a header, blank lines and comments."
            )
        digraph = nx.DiGraph(edges)
        if not nx.is_directed_acyclic_graph(digraph):
            cycle = nx.find_cycle(digraph)
            path_ = [u for u, _ in cycle]
            raise CyclicGraphError(
                f"graph file {shown!r}: the edges on lines "
                + ", ".join(str(lines[e]) for e in cycle)
                + " form the directed cycle "
                + " -> ".join(map(repr, path_ + path_[:1]))
                + "; a causal graph must be acyclic."
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
