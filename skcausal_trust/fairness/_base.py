"""Shared machinery of the counterfactual fairness estimators.

From what the user passes to what a convex program needs:

1. the model's inputs: raw DataFrames (string, categorical and numeric
   columns) are one-hot encoded inside (:class:`RawColumnEncoder`); numeric
   input (pre-encoded, or a ColumnTransformer's output) is used as it is;
2. the worlds (candidate causal models), each declared on raw columns and
   carried to the model's input columns: a graph is fitted as a
   :class:`~skcausal_trust.causal.LinearSCM` on the raw columns (raw input)
   or on the input columns with the graph expanded by the column-name rule;
   a fitted model is used as it is, its design mapped linearly to the input;
3. the counterfactual directions: in a linear additive-noise SCM every twin
   differs from its sample by a vector that depends only on the sensitive
   levels, one per combination of levels (several attributes are
   intersected).
"""

import itertools
import warnings

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted

from ..base import SensitiveFeaturesMixin, attribute_levels
from ..causal import CausalGraph, LinearSCM
from ..causal._columns import (
    RawColumnEncoder,
    design_to_columns,
    is_categorical_column,
    node_owners,
)
from ..causal._graph import as_paths
from ..causal._scm import _as_graph
from ..exceptions import DegenerateConstraintWarning
from ..utils._dask import any_dask, dask_partners
from ..utils._names import match_columns, node_of_name
from ..utils._scaling import refuse_extreme_magnitudes, refuse_extreme_weight_total
from ..utils._validation import check_weights

__all__ = ["CounterfactualModelMixin", "Worlds", "fit_worlds"]

#: More levels than this and the pairwise constraints explode; such an
#: attribute is better treated as continuous by the user.
MAX_SENSITIVE_LEVELS = 50
#: Largest number of combinations of the levels of several attributes.
MAX_SENSITIVE_COMBINATIONS = 256


def is_fitted_scm(scm):
    return isinstance(scm, LinearSCM) and hasattr(scm, "equations_")


def as_world_list(causal_model, argument="causal_model"):
    """``causal_model`` as a list of CausalGraph / LinearSCM (``None`` kept)."""
    if causal_model is None:
        return [None]
    if isinstance(causal_model, (CausalGraph, LinearSCM)):
        return [causal_model]
    worlds = list(causal_model)
    if not worlds:
        raise ValueError(f"{argument} is an empty list; give at least one world.")
    for i, world in enumerate(worlds):
        if not isinstance(world, (CausalGraph, LinearSCM)):
            raise ValueError(
                f"{argument}[{i}] is a {type(world).__name__}; each world must be a "
                "CausalGraph or a LinearSCM (wrap edge lists in CausalGraph(...))."
            )
    return worlds


def graph_of(world, argument="causal_model"):
    if is_fitted_scm(world):
        return world.graph_
    if isinstance(world, LinearSCM):
        return _as_graph(world.graph, argument)
    return world


class ModelInputs:
    """The model's input columns, from raw or numeric ``X``.

    Attributes
    ----------
    encoder : RawColumnEncoder or None
        Set when ``X`` had categorical columns (raw input).
    raw_names : list
        The feature columns as given (raw column names or, for arrays,
        positions).
    names : list
        The input columns of the linear model (encoded names).
    """

    def __init__(self, features, raw_names, *, argument="X"):
        self.raw_names = list(raw_names)
        self.encoder = None
        if isinstance(features, pd.DataFrame) and any(
            is_categorical_column(features[c]) for c in features.columns
        ):
            self.encoder = RawColumnEncoder().fit(features, argument=argument)
            self.names = list(self.encoder.names_out_)
        else:
            self.names = list(raw_names)

    def transform(self, features, argument="X"):
        """The float input matrix, shape (n_samples, len(names))."""
        if self.encoder is not None:
            if not isinstance(features, pd.DataFrame):
                features = pd.DataFrame(features, columns=self.raw_names)
            return self.encoder.transform(features, argument=argument)
        try:
            return check_array(
                np.asarray(features) if not isinstance(features, pd.DataFrame) else features,
                dtype=np.float64, input_name="X", ensure_min_features=0,
                # Checked by the callers, which name the columns.
                ensure_all_finite=False,
            )
        except ValueError as exc:
            frame = features if isinstance(features, pd.DataFrame) else pd.DataFrame(
                np.asarray(features, dtype=object), columns=self.raw_names)
            bad = [n for n, c in zip(self.raw_names, frame.columns)
                   if not _is_numeric(frame[c])]
            if not bad:
                raise
            raise ValueError(
                f"X has non-numeric columns {bad!r}, but it is an array: raw "
                "categorical columns are encoded only from a DataFrame, where each "
                f"column's dtype says what it is. ({exc})"
            ) from exc

    @property
    def is_raw(self):
        return self.encoder is not None

    def numeric_position(self, column):
        """Position in the input matrix of a numeric raw column."""
        if self.encoder is None:
            return self.raw_names.index(column)
        for j, (owner, level) in enumerate(zip(self.encoder.owners_, self.encoder.levels_)):
            if owner == column and level is None:
                return j
        raise KeyError(column)


def _is_numeric(series):
    try:
        np.asarray(series, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


class World:
    """One fitted causal model, seen from the model's input columns.

    Attributes
    ----------
    scm : LinearSCM
    nodes : list
        The sensitive nodes.
    M : ndarray of shape (n_design_columns, n_inputs)
        Design changes to input changes.
    frame : DataFrame
        The training rows in the SCM's variables.
    column_nodes : dict
        The SCM variable of each of ``X``'s feature columns.
    """

    def __init__(self, scm, nodes, M, frame, column_nodes=None, level_columns=(),
                 graph=None, members=None):
        self.scm = scm
        self.nodes = list(nodes)
        self.M = M
        self.frame = frame
        self.column_nodes = column_nodes or {}
        self.level_columns = set(level_columns)
        self.graph = graph
        self.members = members or {}

    def path_effect(self, path, combo_from, combo_to):
        """Change of the inputs along one directed path from a sensitive node
        when the sensitive nodes move from ``combo_from`` to ``combo_to``: the
        product of the edges' coefficients (matrices for categorical nodes),
        reaching the path's last node only (Pearl 2001; Chiappa 2019)."""
        start = self.nodes.index(path[0])
        steps = [path[0]] + [self.members.get(v, [v]) for v in path[1:]]
        return self.scm.path_effect(steps, combo_from[start], combo_to[start]) @ self.M

    def perturbation(self):
        """The causal perturbation basis seen from the inputs.

        Returns
        -------
        nodes : list
            The perturbed variables: every numeric, non-sensitive variable
            with a positive noise scale that is not a categorical level's
            encoding (a categorical node keeps its level, on every route).
        Q : ndarray of shape (len(nodes), n_inputs)
            Change of the inputs per unit of each node's standardised noise.
        """
        scm, sensitive = self.scm, set(self.nodes)
        fixed = {self.column_nodes.get(c, c) for c in self.level_columns}
        nodes = [v for v in scm.variables_
                 if v not in scm.categories_ and v not in sensitive and v not in fixed
                 and scm.noise_scale(v) > 0]
        if not nodes:
            return nodes, np.zeros((0, self.M.shape[1]))
        return nodes, scm.noise_effect(nodes) @ self.M

    def scm_frame(self, inputs, features):
        """The rows in the SCM's variables: raw categorical columns as they
        are, numeric ones from the input matrix, renamed to their variables."""
        Z = inputs.transform(features)
        data = {}
        for j, column in enumerate(inputs.raw_names):
            variable = self.column_nodes[column]
            if inputs.is_raw and column in set(inputs.encoder.categorical_):
                source = features[column] if isinstance(features, pd.DataFrame) else (
                    pd.Series(np.asarray(features)[:, j]))
                data[variable] = source.to_numpy()
                if isinstance(source.dtype, pd.CategoricalDtype):
                    data[variable] = pd.Categorical(source.to_numpy(),
                                                    categories=source.cat.categories)
            else:
                data[variable] = Z[:, inputs.numeric_position(column)]
        return pd.DataFrame(data)

    def direction(self, combo_from, combo_to):
        """Change of the inputs from ``do(nodes=combo_from)`` to ``combo_to``."""
        design = self.scm.intervention_effect(
            dict(zip(self.nodes, combo_from)), dict(zip(self.nodes, combo_to))
        )
        return design @ self.M

    def twin_changes(self, rows, combo):
        """Per-sample change of the inputs when ``rows`` are set to ``combo``
        (abduction, action, prediction, row by row)."""
        sub = self.frame.iloc[rows]
        twins = self.scm.counterfactual_design(sub, dict(zip(self.nodes, combo)))
        return (twins - self.scm.encode(sub)) @ self.M


class Worlds:
    """The fitted worlds and the sensitive levels they compare.

    Attributes
    ----------
    worlds : list of World
    nodes : list
        The sensitive nodes (the same in every world).
    levels : list of ndarray
        Levels of each attribute seen in fit.
    combos : list of tuple
        Every combination of levels; the first is the reference.
    labels : ndarray of shape (n_samples,)
        Each training row's combination index.
    directions : ndarray of shape (n_worlds, n_combos - 1, n_inputs)
        ``directions[w, k - 1]``: change of the inputs from combination 0 to
        combination k in world w.
    """

    def __init__(self, worlds, nodes, levels, combos, codes):
        self.worlds = worlds
        self.nodes = nodes
        self.levels = levels
        self.combos = combos
        self.codes = codes
        p = worlds[0].M.shape[1]
        self.directions = np.zeros((len(worlds), len(combos) - 1, p))
        for w, world in enumerate(worlds):
            for k in range(1, len(combos)):
                self.directions[w, k - 1] = world.direction(combos[0], combos[k])

    @property
    def scms(self):
        return [w.scm for w in self.worlds]

    def restrict_to_paths(self, fair_paths=None, unfair_paths=None):
        """Replace ``directions`` by their path-specific part: the effect along
        ``unfair_paths``, or the total effect minus the effect along
        ``fair_paths`` (validated lists of node tuples)."""
        chosen = unfair_paths if unfair_paths is not None else fair_paths
        for w, world in enumerate(self.worlds):
            for k in range(1, len(self.combos)):
                along = sum((world.path_effect(path, self.combos[0], self.combos[k])
                             for path in chosen), np.zeros(self.directions.shape[2]))
                self.directions[w, k - 1] = (along if unfair_paths is not None
                                             else self.directions[w, k - 1] - along)
        self.path_specific = True


def check_paths(paths, worlds, argument):
    """``paths`` (node lists or ``"a -> b -> c"`` strings) as distinct node
    tuples, each a directed path of every world's graph from a sensitive
    node to a node that is not sensitive."""
    paths = as_paths(paths, argument)
    if paths is None:
        return None
    for nodes in paths:
        path = " -> ".join(map(str, nodes))
        if len(nodes) < 2 or nodes[0] not in worlds.nodes or nodes[-1] in worlds.nodes:
            raise ValueError(
                f"{argument}: {path!r} must run from a sensitive node "
                f"{list(worlds.nodes)!r} to a feature node (the path then enters the "
                "model through that feature).")
        for world in worlds.worlds:
            edges = set(world.graph.edges)
            missing = [(a, b) for a, b in zip(nodes, nodes[1:]) if (a, b) not in edges]
            if missing:
                raise ValueError(f"{argument}: {path!r} uses edges {missing!r} that are "
                                 "not in the causal graph.")
    return paths


def _check_levels(attribute, sample_weight):
    columns = [attribute.column(j) for j in range(attribute.n_attributes)]
    levels = [attribute_levels(column) for column in columns]
    with np.errstate(over="ignore"):  # an infinite mass is still > 0
        masses = [{level: float(sample_weight[column == level].sum()) for level in lv}
                  for column, lv in zip(columns, levels)]
    return check_level_masses(attribute, levels, masses)


def check_level_masses(attribute, levels, masses):
    """Refuse attributes with one level, too many levels or combinations, or a
    level of zero weight; return ``levels``. ``masses[j]`` maps each level of
    attribute ``j`` to its total weight (from the rows in memory or from a
    pass over dask partitions)."""
    for j, (lv, mass) in enumerate(zip(levels, masses)):
        argument = attribute.argument_of(j)
        if lv.size < 2:
            raise ValueError(
                f"{argument} has a single level {lv[0]!r}; counterfactual fairness "
                "needs at least two levels to compare."
            )
        if lv.size > MAX_SENSITIVE_LEVELS:
            raise ValueError(
                f"{argument} has {lv.size} distinct values (more than "
                f"{MAX_SENSITIVE_LEVELS}); a sensitive attribute is categorical: "
                "pass one with few levels."
            )
        empty = [level for level in lv if mass[level] <= 0]
        if empty:
            raise ValueError(
                f"sample_weight is zero on every row where {argument} is "
                f"{empty!r}: the effect of that level cannot be estimated, so its "
                "counterfactual constraint would be void. Give those rows positive "
                "weight or drop the level."
            )
    n_combos = int(np.prod([lv.size for lv in levels]))
    if n_combos > MAX_SENSITIVE_COMBINATIONS:
        raise ValueError(
            f"the sensitive attributes have {n_combos} combinations of levels (more "
            f"than {MAX_SENSITIVE_COMBINATIONS}); use fewer attributes or levels."
        )
    return levels


def _sensitive_nodes(graph, attribute, owned, argument):
    """Which nodes of ``graph`` are the sensitive attributes: the nodes their
    names stand for (a column's name, with or without a ColumnTransformer
    prefix; a routed Series' or DataFrame's names), or else the single node
    that owns no feature column."""
    mapped = [None if n is None else node_of_name(n, graph.nodes) for n in attribute.names]
    if all(m is not None for m in mapped):
        if len(set(mapped)) != len(mapped):
            raise ValueError(
                f"{argument}: the sensitive attributes {attribute.names!r} name the "
                f"same node twice ({mapped!r})."
            )
        return mapped
    others = [v for v in graph.nodes if v not in owned]
    if attribute.n_attributes == 1 and len(others) == 1:
        return others
    named = [n for n in attribute.names if n is not None]
    raise ValueError(
        f"{argument}: cannot tell which node is the sensitive attribute"
        f"{'s' if attribute.n_attributes > 1 else ''}; the attribute names are "
        f"{named!r} and the nodes that are not feature columns are {others!r}. Name "
        "the sensitive columns in sensitive_feature_ids, or pass sensitive_features "
        "as a Series (DataFrame) named after the node(s)."
    )


def _default_graph(feature_nodes, attribute):
    nodes = []
    for j, name in enumerate(attribute.names):
        node = name if name is not None else (
            "sensitive" if attribute.n_attributes == 1 else f"sensitive_{j}")
        while node in set(feature_nodes) or node in nodes:
            node = f"{node}__sensitive"
        nodes.append(node)
    edges = [(s, f) for s in nodes for f in feature_nodes]
    return CausalGraph(edges, nodes=nodes + list(feature_nodes)), nodes


def fit_worlds(causal_model, inputs, features, attribute, sample_weight,
               argument="causal_model"):
    """Fit (or check) every world and compute the counterfactual directions.

    Parameters
    ----------
    causal_model : CausalGraph, LinearSCM, list of them, or None
    inputs : ModelInputs
    features : DataFrame or ndarray
        The feature columns as given (raw, for the raw route) or the input
        matrix (numeric route).
    attribute : RowAttribute
    sample_weight : ndarray of shape (n_samples,)

    Returns
    -------
    worlds : Worlds
    """
    if getattr(attribute, "rows", None) is not None:
        # Dask rows: the levels and their weights come from the first pass.
        summary = attribute.rows.summary
        levels = check_level_masses(attribute, summary["levels"], [
            {level: mass.get(level, 0.0) for level in lv}
            for lv, mass in zip(summary["levels"], summary["mass"])])
        combos = list(itertools.product(*levels))
        codes = None
    else:
        levels = _check_levels(attribute, sample_weight)
        combos = list(itertools.product(*levels))
        # Each row's combination, as its position in ``combos`` (the last
        # attribute varies fastest, as in itertools.product).
        codes = np.zeros(attribute.values.shape[0], dtype=np.intp)
        for j, lv in enumerate(levels):
            codes = codes * len(lv) + pd.Index(lv).get_indexer(attribute.column(j))
    world_list = as_world_list(causal_model, argument)
    fitted, node_sets = [], set()
    for i, world in enumerate(world_list):
        label = argument if len(world_list) == 1 else f"{argument}[{i}]"
        fitted_world = _fit_world(world, inputs, features, attribute, levels,
                                  sample_weight, label)
        fitted.append(fitted_world)
        node_sets.add(tuple(fitted_world.nodes))
    if len(node_sets) != 1:
        raise ValueError(
            f"{argument}: the worlds name the sensitive attribute differently "
            f"({sorted(map(str, node_sets))!r})."
        )
    return Worlds(fitted, fitted[0].nodes, levels, combos, codes)


def _sensitive_frame(frame, nodes, attribute, levels, categorical=True):
    frame = frame.copy()
    for j, node in enumerate(nodes):
        values = attribute.column(j)
        frame[node] = pd.Categorical(values, categories=levels[j]) if categorical else values
    return frame


def _column_variables(columns, owners, categorical, label):
    """The SCM variable of each input column: its node when the node has this
    one column (renamed if need be), else the column itself (the node is
    expanded into its columns, each a numeric node with the node's edges)."""
    groups = {}
    for column, owner in zip(columns, owners):
        groups.setdefault(owner, []).append(column)
    for node, cols in groups.items():
        exact = [c for c in cols if c == node or _stripped(c) == node]
        if len(exact) > 1:
            raise ValueError(
                f"columns {exact!r} of X are all named {node!r} (a column and a "
                f"one-hot level of another column share a name?); each column "
                f"must map to one node of {label}: rename the columns or nodes."
            )
        raw = [c for c in cols if c in categorical]
        if raw and len(cols) > 1:
            raise ValueError(
                f"node {node!r} of {label} is the raw categorical column {raw[0]!r} "
                f"and also the columns {[c for c in cols if c != raw[0]]!r}; a "
                "categorical node is one raw column (encoded inside) or its encoded "
                "columns, not both."
            )
    return {c: (o if len(groups[o]) == 1 else c) for c, o in zip(columns, owners)}


def _stripped(column):
    if isinstance(column, str) and "__" in column:
        return column.split("__", 1)[1]
    return None


def _fit_world(world, inputs, features, attribute, levels, sw, label):
    columns = inputs.raw_names
    categorical = set(inputs.encoder.categorical_) if inputs.is_raw else set()
    default_nodes = None
    if world is None:
        world, default_nodes = _default_graph(columns, attribute)
    graph = graph_of(world, label)
    positional = all(isinstance(n, (int, np.integer)) for n in columns)
    named_nodes = [v for v in graph.nodes
                   if isinstance(v, str) and v not in set(attribute.names)]
    # On an array only the sensitive nodes may have names (the routed
    # attribute's node is the one node that is not a column position).
    if positional and len(named_nodes) > attribute.n_attributes and columns:
        raise ValueError(
            f"X has no column names (an array, or a DataFrame without string "
            f"names) but {label} names its nodes ({named_nodes[:6]!r}); matching them "
            "to columns by position would be a guess. Pass a DataFrame with those "
            "columns (set_output(transform='pandas') on the step before), or a graph "
            "whose nodes are column positions (0, 1, ...)."
        )
    owners_try = match_columns(columns, graph.nodes, argument=label)
    owned = {o for o in owners_try if o is not None}
    nodes = default_nodes or _sensitive_nodes(graph, attribute, owned, label)
    owners = node_owners(columns, graph, nodes, argument=label)
    variable_of = _column_variables(columns, owners, categorical, label)
    world_ = World(None, nodes, None, None, variable_of)
    rows = getattr(attribute, "rows", None)  # dask rows: read partition by partition
    frame = None if rows is not None else world_.scm_frame(inputs, features)
    if is_fitted_scm(world):
        scm = world
        renamed = [c for c, o in zip(columns, owners) if o != c]
        if renamed:
            raise ValueError(
                f"{label} is a fitted LinearSCM, used in the units of its own columns, "
                f"but X's columns {renamed[:5]!r} are encoded versions of its nodes. "
                "Pass the raw columns (the estimator encodes them), or pass the "
                "graph (scm.graph_) to refit the model on the encoded columns."
            )
        for node in nodes:
            if node not in scm.categories_:
                raise ValueError(
                    f"the sensitive attribute {node!r} is a numeric node of the fitted "
                    f"{label}, which treats it as a dose (linear in its value) and "
                    "extrapolates to unseen values; refit the model with the attribute "
                    "as a categorical column (pandas 'category' dtype)."
                )
        def check(features_part, attribute_part):
            part = _sensitive_frame(world_.scm_frame(inputs, features_part), nodes,
                                    attribute_part, levels, categorical=False)
            _check_against_fitted(scm, part, nodes, attribute_part, label)
            return part

        if rows is not None:
            from ._dask import dask_check_fitted_scm

            dask_check_fitted_scm(check, rows)
        else:
            frame = check(features, attribute)
    else:
        groups = {}
        for column, owner in zip(columns, owners):
            if variable_of[column] == column and column != owner:
                groups.setdefault(owner, []).append(column)
        if groups:
            graph = graph.expand(groups)
        if rows is not None:
            from ._dask import dask_scm_frame, scm_first_pass, scm_from_groups

            # From the statistics gathered in the rows' first pass when it
            # had them; else partition by partition (its first pass, levels
            # and ranges, known from the rows' summary). No frame is kept.
            scm = scm_from_groups(graph, rows, variable_of, nodes, levels)
            if scm is None:
                frame = dask_scm_frame(world_, inputs, rows, nodes, levels)
                first = scm_first_pass(rows, graph, variable_of, nodes, levels)
                scm = (LinearSCM(graph).fit(frame, sample_weight=sw) if first is None
                       else LinearSCM(graph)._fit_dask(frame, sw, first))
            frame = None
        else:
            frame = _sensitive_frame(frame, nodes, attribute, levels)
            scm = LinearSCM(graph).fit(frame, sample_weight=sw)
    if inputs.is_raw:
        M = design_to_columns(scm, encoder=inputs.encoder, owner_map=variable_of)
    else:
        M = design_to_columns(scm, columns=[variable_of[c] for c in columns])
    # An encoded level ("onehot__sex_Male", or a block of columns for one
    # node) is a categorical node on this route: held fixed in a causal
    # perturbation, as the raw categorical column is.
    level_columns = [c for c, o in zip(columns, owners)
                     if c != o and _stripped(c) != o]
    members = {}
    for column, owner in zip(columns, owners):
        members.setdefault(owner, []).append(variable_of[column])
    return World(scm, nodes, M, frame, variable_of, level_columns,
                 graph_of(world, label) if not is_fitted_scm(world) else scm.graph_,
                 members)


def _check_against_fitted(scm, frame, nodes, attribute, label):
    """Refuse rows that a fitted SCM (used as it is) cannot describe."""
    scm._check_frame(frame, scm.graph_, argument="X")
    for j, node in enumerate(nodes):
        scm._encode_column(node, attribute.column(j), argument=attribute.argument_of(j))
    for v in scm.categories_:
        if v in set(nodes):
            continue
        values = np.asarray(frame[v], dtype=object)
        unseen = ~np.isin(values, np.asarray(scm.categories_[v], dtype=object))
        if unseen.any():
            raise ValueError(
                f"X[{v!r}] has level(s) {sorted(set(values[unseen]), key=str)!r} "
                f"that the fitted {label} never saw (its levels: "
                f"{list(scm.categories_[v])!r}). A fitted model is used as it is "
                "and must describe the training data: pass its graph to refit it, "
                "or drop those rows."
            )


#: The error of labels that do not sort (numbers beside strings), in
#: memory and on dask.
MIXED_LABELS = "y has labels of mixed types."


def check_class_labels(y):
    """scikit-learn's ``check_classification_targets``, with labels of mixed
    types (numbers beside strings, which numpy cannot sort) refused as on
    dask rather than by numpy's ``TypeError``."""
    try:
        check_classification_targets(y)
    except TypeError:
        raise ValueError(MIXED_LABELS) from None


def check_finite_inputs(Z, names):
    """Refuse NaN or infinite model inputs ``Z``, naming their columns."""
    finite = np.isfinite(Z).all(axis=0)
    if not finite.all():
        bad = [n for n, ok in zip(names, finite) if not ok]
        raise ValueError(f"X has NaN or infinite values in columns {bad!r}.")


class CounterfactualModelMixin(SensitiveFeaturesMixin):
    """Fit-time and predict-time input handling of the counterfactual
    estimators (classifier, regressor, residualizer)."""

    def _fit_inputs(self, X, y=None, *, sensitive_features=None, sample_weight=None,
                    y_numeric=False, require_y=False):
        # In memory (X is not a dask collection): a dask y, attribute or
        # weights would be computed whole; refused, as by ICP and anchor.
        others = {"y": y, "sensitive_features": sensitive_features,
                  "sample_weight": sample_weight}
        if any_dask(*others.values()):
            dask_partners(X, others)
        features, y, attribute, names = self._validate_sensitive(
            X, y, sensitive_features=sensitive_features, reset=True, y_numeric=y_numeric,
            require_y=require_y,
        )
        inputs = ModelInputs(features, names)
        Z = inputs.transform(features)
        check_finite_inputs(Z, inputs.names)
        peaks = np.abs(Z).max(axis=0, initial=0.0)
        self._check_magnitudes(peaks, list(inputs.names))
        sw = check_weights(sample_weight, Z)
        with np.errstate(over="ignore"):
            total = sw.sum()
        self._check_weight_total(total, peaks.max(initial=0.0))
        self._inputs = inputs
        self._sensitive_columns = [] if attribute is None else list(attribute.columns)
        return Z, y, attribute, features, sw, inputs

    def _data_units_reason(self, on_dask):
        """A clause saying why this estimator's program is stated in the
        data's units (``on_dask``: from dask rows), so that inputs outside
        :data:`~skcausal_trust.utils._scaling.SAFE_MAGNITUDES` are refused;
        None when it is solved at any finite scale."""
        return None

    def _check_magnitudes(self, peaks, names, on_dask=False):
        """Refuse inputs of extreme magnitude (``peaks``: each input's largest
        absolute value) where :meth:`_data_units_reason` says why."""
        reason = self._data_units_reason(on_dask)
        if reason is not None:
            refuse_extreme_magnitudes(peaks, names, reason)

    def _weights_reason(self):
        """A clause saying why the weights' total is bounded (a penalty
        stated beside the weighted sum of the losses, in the data's units),
        so that totals outside :data:`~skcausal_trust.utils._scaling.SAFE_MAGNITUDES`
        are refused; None when any total the float range holds is fitted."""
        return None

    def _check_weight_total(self, total, peak):
        """Refuse a weights' ``total`` that the program cannot sum (with
        ``peak``, the inputs' largest magnitude) where
        :meth:`_weights_reason` says why."""
        reason = self._weights_reason()
        if reason is not None:
            refuse_extreme_weight_total(total, peak, reason)

    def _dask_worlds(self, rows, fallback):
        """The inputs, fitted worlds and counterfactual directions of dask
        rows (:func:`~skcausal_trust.fairness._dask.dask_fit_rows`), after
        the inputs' magnitudes are checked; without a sensitive attribute,
        warn ``fallback`` and constrain nothing."""
        p = len(rows.names)
        peaks = np.maximum(rows.summary["high"], rows.summary["low"])
        self._check_magnitudes(peaks, list(rows.names), on_dask=True)
        self._check_weight_total(rows.summary["weight"], np.max(peaks, initial=0.0))
        inputs = ModelInputs(np.empty((0, p)), rows.names)
        self._inputs = inputs
        if rows.attribute is None:
            self._fallback_warning(fallback)
            return inputs, None, np.zeros((0, 1, p))
        worlds = fit_worlds(self.causal_model, inputs, rows.features, rows.attribute,
                            rows.sample_weight)
        self._restrict_paths(worlds)
        return inputs, worlds, worlds.directions

    def _predict_inputs(self, X):
        """The model's inputs for ``X`` (sensitive columns dropped)."""
        check_is_fitted(self)
        features = self._drop_sensitive(X)
        Z = self._inputs.transform(features)
        check_finite_inputs(Z, self._inputs.names)
        return Z

    def _encoded_input_space(self):
        """``(encode, respond)`` when this estimator one-hot encodes raw
        columns itself, else ``None``: the metrics feed the real-valued
        counterfactuals of categorical descendants to ``respond`` after
        ``encode``."""
        inputs = getattr(self, "_inputs", None)
        if inputs is None or not inputs.is_raw:
            return None
        return self._predict_inputs, self._respond_inputs

    def _drop_sensitive(self, X):
        """Validate ``X`` at predict time and drop the sensitive columns fit
        used, whatever their values (they are not inputs of the model)."""
        from ..base import validate_frame

        Xv = validate_frame(self, X, reset=False, dtype=None, ensure_all_finite=False)
        keep = [j for j in range(Xv.shape[1]) if j not in set(self._sensitive_columns)]
        features = X.iloc[:, keep] if isinstance(X, pd.DataFrame) else Xv[:, keep]
        return features

    def _check_path_parameters(self):
        if self.fair_paths is not None and self.unfair_paths is not None:
            raise ValueError(
                "give fair_paths or unfair_paths, not both: fair_paths constrains "
                "every path except those, unfair_paths only those.")

    def _restrict_paths(self, worlds):
        """Path-specific counterfactual fairness: constrain only the effect
        along the unfair paths (Chiappa 2019; Nabi and Shpitser 2018)."""
        if worlds is None or (self.fair_paths is None and self.unfair_paths is None):
            return
        fair = check_paths(self.fair_paths, worlds, "fair_paths")
        unfair = check_paths(self.unfair_paths, worlds, "unfair_paths")
        worlds.restrict_to_paths(fair, unfair)

    def _fallback_warning(self, what):
        from ..exceptions import NoSensitiveFeaturesWarning

        warnings.warn(
            f"{type(self).__name__} was fitted without sensitive features (neither "
            f"sensitive_features nor sensitive_feature_ids): {what}",
            NoSensitiveFeaturesWarning,
            stacklevel=4,
        )

    def _set_world_attributes(self, worlds, n_inputs):
        """Fitted attributes shared by the counterfactual estimators."""
        if worlds is None:
            self.scms_ = []
            self.sensitive_node_ = None
            self.sensitive_levels_ = None
            self.counterfactual_directions_ = np.zeros((0, 1, n_inputs))
            return
        self.scms_ = worlds.scms
        if len(worlds.nodes) == 1:
            self.sensitive_node_ = worlds.nodes[0]
            self.sensitive_levels_ = worlds.levels[0]
        else:
            self.sensitive_node_ = tuple(worlds.nodes)
            combos = np.empty(len(worlds.combos), dtype=object)
            combos[:] = worlds.combos
            self.sensitive_levels_ = combos
        self.counterfactual_directions_ = worlds.directions


def free_directions(directions, n_inputs, epsilon, owner):
    """Number of input directions the constraints leave free; warn when none.

    With ``epsilon=0`` the weights must be orthogonal to every counterfactual
    direction, so ``n_inputs - rank`` directions remain; with none left the
    model is constant (its intercept only).
    """
    if directions.shape[0] == 0:
        return n_inputs
    T = directions.reshape(-1, n_inputs)
    rank = int(np.linalg.matrix_rank(T)) if T.size else 0
    free = n_inputs - rank
    if free == 0 and epsilon == 0 and n_inputs > 0:
        warnings.warn(
            f"{owner}: the counterfactual constraints (epsilon=0) leave no free "
            f"direction: the {rank} counterfactual directions span all {n_inputs} "
            "inputs, so the fitted model is constant (its intercept only). Allow "
            "epsilon > 0, add features that the sensitive attribute does not cause, "
            "or use fewer levels.",
            DegenerateConstraintWarning,
            stacklevel=4,
        )
    return free
