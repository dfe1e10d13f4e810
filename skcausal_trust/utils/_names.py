"""The one rule that maps encoded column names to the raw columns they encode.

A causal graph is declared on the user's raw columns (``"sex"``,
``"occupation"``); after a :class:`~sklearn.compose.ColumnTransformer` or a
:class:`~sklearn.preprocessing.OneHotEncoder` the model sees columns such as
``"onehot__occupation_Sales"``. :func:`match_columns` finds, for every such
column, the raw column (graph node) it comes from.
"""

__all__ = ["match_columns", "columns_of_node", "describe_rule", "node_of_name"]

#: The rule, as the error messages and the docs state it.
RULE = (
    "a column belongs to node v if, in this order, its name is v; its name "
    "without a ColumnTransformer prefix '<transformer>__' is v; that name "
    "starts with 'v_' (OneHotEncoder's '<column>_<level>'); its full name "
    "starts with 'v_'"
)


def describe_rule():
    """The column-to-node rule in words (for error messages and docs)."""
    return RULE


def _stripped(column):
    if isinstance(column, str) and "__" in column:
        return column.split("__", 1)[1]
    return None


def _match_one(column, nodes, string_nodes):
    """The nodes of ``column`` at the first step of the rule that matches."""
    stripped = _stripped(column)
    if column in nodes:
        return [column]
    if stripped is not None and stripped in nodes:
        return [stripped]
    for name in (stripped, column):
        if isinstance(name, str):
            prefixed = [v for v in string_nodes if name.startswith(f"{v}_")]
            if prefixed:
                return prefixed
    return []


def match_columns(columns, nodes, *, argument="causal_model"):
    """Map each column to the node it encodes.

    Parameters
    ----------
    columns : sequence of hashable
        Column names of the model's input (raw or encoded).
    nodes : iterable of hashable
        The graph's nodes (raw column names).
    argument : str, default="causal_model"
        Names the graph in error messages.

    Returns
    -------
    owners : list
        ``owners[j]`` is the node of ``columns[j]``, or ``None`` when no node
        matches.

    Raises
    ------
    ValueError
        If a column matches two nodes (for example ``"a_b_c"`` with nodes
        ``"a"`` and ``"a_b"``): rename one of them.
    """
    nodes = list(nodes)
    node_set = set(nodes)
    string_nodes = [v for v in nodes if isinstance(v, str)]
    owners, ambiguous = [], {}
    for column in columns:
        found = _match_one(column, node_set, string_nodes)
        if len(found) > 1:
            ambiguous[column] = found
        owners.append(found[0] if len(found) == 1 else None)
    if ambiguous:
        raise ValueError(
            f"columns of X map to two nodes of {argument} each: {ambiguous!r} "
            f"(rule: {RULE}). Rename the nodes so that no node name followed by "
            "'_' starts another."
        )
    return owners


def columns_of_node(node, columns):
    """Positions of the columns that ``node`` alone would own by the rule:
    the column named ``node`` (with or without a transformer prefix), else
    the columns ``'node_'`` prefixes."""
    exact = [j for j, c in enumerate(columns) if c == node or _stripped(c) == node]
    if exact:
        return exact[:1]
    if not isinstance(node, str):
        return []
    return [j for j, c in enumerate(columns)
            if (_stripped(c) or c).startswith(f"{node}_")]


def node_of_name(name, nodes):
    """The node a column name (an attribute's column) stands for: itself, or
    itself without a transformer prefix; ``None`` if neither is a node."""
    nodes = set(nodes)
    if name in nodes:
        return name
    stripped = _stripped(name)
    return stripped if stripped in nodes else None
