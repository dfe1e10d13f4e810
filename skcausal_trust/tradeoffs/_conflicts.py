"""Invariance conflicts read off a causal graph, and a selector that keeps the
features satisfying the invariances the user chooses.

Each goal is an invariance of the predictor under a change to the
data-generating process (Binkyte et al. 2025): counterfactual fairness, to
an intervention on the sensitive attributes (Kusner et al. 2017: a
predictor of the non-descendants of the sensitive attributes is
counterfactually fair); path-specific fairness, to an intervention
transmitted along the unfair paths only (Chiappa 2019; Nabi and Shpitser
2018); invariance across environments, to a shift by the environment nodes
(Peters, Buhlmann and Meinshausen 2016: the conditional of the target
given a set ``S`` is the same in every environment when ``S`` d-separates
the target from the environments). Two invariances conflict on a feature
when one needs it and the other forbids it.
"""

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, _fit_context
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

import warnings
from numbers import Real

from ..causal import CausalGraph, LinearSCM
from ..causal._graph import as_paths
from ..exceptions import ModelRejectedWarning, NoCausalModelWarning
from ..utils._names import describe_rule, match_columns

__all__ = ["SelectiveInvarianceSelector", "invariance_conflicts"]

INVARIANCES = ("counterfactual", "path_specific", "shift")


def _as_graph(causal_model):
    if isinstance(causal_model, LinearSCM):
        return causal_model.graph
    if isinstance(causal_model, CausalGraph):
        return causal_model
    raise ValueError("causal_model must be a CausalGraph or a LinearSCM; got "
                     f"{type(causal_model).__name__}.")


def _as_list(value, argument, graph, *, allow_empty=True):
    items = [] if value is None else (
        [value] if isinstance(value, (str, int)) else list(value))
    if not items and not allow_empty:
        raise ValueError(f"{argument} must name at least one node.")
    missing = [v for v in items if v not in graph]
    if missing:
        raise ValueError(f"{argument} names {missing!r}, which are not nodes of the "
                         f"causal graph; its nodes are {graph.nodes!r}.")
    return items


def _as_paths(fair_paths, graph, sensitive, target):
    """Validated allowed paths: node lists from a sensitive node to the target,
    each edge in the graph; ``"a -> b -> y"`` strings are split on ``->``."""
    paths = as_paths(fair_paths, "fair_paths")
    for nodes in paths or []:
        path = " -> ".join(map(str, nodes))
        if len(nodes) < 2 or nodes[0] not in sensitive or nodes[-1] != target:
            raise ValueError(
                f"fair_paths: {path!r} must run from a sensitive attribute "
                f"{sensitive!r} to the target {target!r}.")
        missing = [(a, b) for a, b in zip(nodes, nodes[1:])
                   if (a, b) not in set(graph.edges)]
        if missing:
            raise ValueError(f"fair_paths: {path!r} uses edges {missing!r} that are not "
                             "in the causal graph.")
    return paths


class _Roles:
    """The graph and the roles of its nodes, validated once."""

    def __init__(self, causal_model, target, sensitive, environments, fair_paths):
        self.graph = _as_graph(causal_model)
        graph = self.graph
        if isinstance(target, (list, tuple, set)) or target is None:
            raise ValueError(f"target must be one node; got {target!r}.")
        self.target = _as_list(target, "target", graph, allow_empty=False)[0]
        self.sensitive = _as_list(sensitive, "sensitive", graph)
        self.environments = _as_list(environments, "environments", graph)
        overlap = ({self.target} & (set(self.sensitive) | set(self.environments))
                   or set(self.sensitive) & set(self.environments))
        if overlap:
            raise ValueError(f"nodes {sorted(map(str, overlap))!r} have two roles among "
                             "target, sensitive and environments.")
        self.fair_paths = _as_paths(fair_paths, graph, self.sensitive, self.target)
        roles = {self.target, *self.sensitive, *self.environments}
        self.features = [v for v in graph.nodes if v not in roles]
        self.digraph = graph.to_networkx()
        self.desc_target = set(graph.descendants(self.target))
        self.desc_sensitive = {v for a in self.sensitive for v in graph.descendants(a)}
        self.desc_env = {e: set(graph.descendants(e)) for e in self.environments}
        # The largest conditioning set the local Markov property makes
        # invariant: every feature that is not a descendant of the target.
        self.base = [v for v in self.features if v not in self.desc_target]

    def separated(self, conditioning):
        """Whether the environments are d-separated from the target given
        ``conditioning`` (True without environment nodes)."""
        if not self.environments:
            return True
        return nx.is_d_separator(self.digraph, set(self.environments), {self.target},
                                 set(conditioning))

    def unfair_prefix(self, path):
        """Whether a directed path from a sensitive node is not a prefix of an
        allowed path (its effect would travel along an unfair path)."""
        return not any(tuple(path) == allowed[:len(path)] for allowed in self.fair_paths)

    def path_specific_fair(self, v):
        for a in self.sensitive:
            for path in self.graph.directed_paths(a, v):
                if self.unfair_prefix(path):
                    return False
        return True


def invariance_conflicts(causal_model, target, sensitive=None, environments=None, *,
                         fair_paths=None):
    """Which invariances each feature satisfies, and where they conflict.

    Reads the causal graph only (no data). For every node that is not the
    target, a sensitive attribute or an environment node, it reports how
    the feature relates to the target, which directed paths from the
    sensitive attributes reach it, whether the environments shift it, and
    which invariances a predictor using it keeps:

    - counterfactual fairness: the feature is not a descendant of a
      sensitive attribute (Kusner et al. 2017, Lemma 1);
    - path-specific fairness (with ``fair_paths``): every directed path
      from a sensitive attribute to the feature is the start of an allowed
      path (Chiappa 2019);
    - invariance under shift: adding the feature to ``B``, the features
      that are not descendants of the target, keeps the environments
      d-separated from the target (``B`` itself does, by the local Markov
      property, unless an environment acts on the target directly).

    When the features of ``B`` that a fairness invariance allows leave the
    environments d-connected to the target, the two invariances conflict:
    the conflict is recorded on the forbidden features whose return alone
    restores the separation or, when none does, on the forbidden features
    through which an environment reaches the target. Conditioning can open
    paths too: with a feature that is caused by both an environment and a
    sensitive attribute (a collider), keeping it opens a path from the
    environment through the sensitive attribute's other effects.

    Parameters
    ----------
    causal_model : CausalGraph or LinearSCM
        The graph over the raw columns, with the target, the sensitive
        attributes and the environment (shift) nodes as nodes.
    target : node
        The target variable.
    sensitive : node, list of nodes or None, default=None
    environments : node, list of nodes or None, default=None
        Environment (anchor, shift) nodes: their edges say which variables
        the shift acts on.
    fair_paths : list or None, default=None
        Allowed directed paths from a sensitive attribute to the target, as
        node lists or ``"a -> m -> y"`` strings; the other paths are unfair.

    Returns
    -------
    table : pandas.DataFrame
        One row per feature (index: the feature), columns
        ``parent_of_target``, ``ancestor_of_target``,
        ``descendant_of_target`` (bool), ``paths_from_sensitive`` (list of
        ``"a -> ... -> v"`` strings), ``shifted_by`` (list of environment
        nodes), ``counterfactually_fair``, ``path_specific_fair`` (bool;
        ``None`` without ``fair_paths``), ``shift_invariant`` (bool) and
        ``conflicts`` (list of sentences). ``table.attrs["summary"]`` holds
        the set-level findings (sentences) and
        ``table.attrs["invariant_set"]`` the features ``B``.

    Raises
    ------
    ValueError
        A role names a node not in the graph, a node has two roles, or a
        fair path does not run along the graph's edges from a sensitive
        attribute to the target.

    References
    ----------
    .. [1] M. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       fairness", NeurIPS 2017.
    .. [2] S. Chiappa, "Path-specific counterfactual fairness", AAAI 2019.
    .. [3] J. Peters, P. Buhlmann and N. Meinshausen, "Causal inference by
       using invariant prediction", JRSS-B 2016.
    .. [4] R. Binkyte, I. Ziaeetabar, ..., M. Fritz, "Causality is key to
       understand and balance multiple goals in trustworthy ML and
       foundation models", 2025.

    Examples
    --------
    >>> from skcausal_trust.causal import CausalGraph
    >>> from skcausal_trust.tradeoffs import invariance_conflicts
    >>> g = CausalGraph([("sex", "edu"), ("site", "edu"), ("edu", "income"),
    ...                  ("age", "income"), ("income", "spending")])
    >>> table = invariance_conflicts(g, "income", "sex", "site")
    >>> table.loc["edu", ["counterfactually_fair", "shift_invariant"]].tolist()
    [False, True]
    >>> table.loc["edu", "conflicts"]  # doctest: +ELLIPSIS
    ['invariance under shift needs edu (without it, site is d-connected to income ...']
    """
    roles = _Roles(causal_model, target, sensitive, environments, fair_paths)
    graph, target = roles.graph, roles.target
    parents = set(graph.parents(target))
    ancestors = set(graph.ancestors(target))
    base_invariant = roles.separated(roles.base)
    rows = {}
    for v in roles.features:
        paths = [" -> ".join(map(str, p)) for a in roles.sensitive
                 for p in graph.directed_paths(a, v)]
        shifted = [e for e in roles.environments if v in roles.desc_env[e]]
        cf = v not in roles.desc_sensitive
        ps = None if roles.fair_paths is None else roles.path_specific_fair(v)
        invariant = base_invariant and (
            v in roles.base or roles.separated(roles.base + [v]))
        rows[v] = {
            "parent_of_target": v in parents,
            "ancestor_of_target": v in ancestors,
            "descendant_of_target": v in roles.desc_target,
            "paths_from_sensitive": paths,
            "shifted_by": shifted,
            "counterfactually_fair": cf,
            "path_specific_fair": ps,
            "shift_invariant": bool(invariant),
            "conflicts": [],
        }
    summary = []
    if roles.environments and not base_invariant:
        summary.append(
            f"no set of features is invariant under shift: the environments "
            f"{roles.environments!r} act on {target!r} other than through its causes "
            "(directly, or through a hidden path the graph shows).")
    checks = [("counterfactual fairness", "counterfactually_fair")]
    if roles.fair_paths is not None:
        checks.append(("path-specific fairness", "path_specific_fair"))
    for name, column in checks:
        allowed = [v for v in roles.base if rows[v][column]]
        if not roles.environments or not base_invariant or roles.separated(allowed):
            continue
        forbidden = [v for v in roles.base if not rows[v][column]]
        # The forbidden features whose return alone restores the separation;
        # else those through which an environment reaches the target.
        culprits = [v for v in forbidden if roles.separated(allowed + [v])] or [
            v for v in forbidden if rows[v]["shifted_by"] and rows[v]["ancestor_of_target"]]
        envs = ", ".join(map(str, roles.environments))
        for v in culprits:
            rows[v]["conflicts"].append(
                f"invariance under shift needs {v} (without it, {envs} is d-connected to "
                f"{target} given the features {name} allows), {name} forbids it (paths: "
                f"{'; '.join(rows[v]['paths_from_sensitive'])})")
        summary.append(
            f"invariance under shift and {name} conflict: the features {name} allows "
            f"({allowed!r}) leave the environments d-connected to {target!r}; the "
            f"conflict is on {culprits!r}.")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "feature"
    table.attrs["summary"] = summary
    table.attrs["invariant_set"] = list(roles.base) if base_invariant else []
    return table


class SelectiveInvarianceSelector(SelectorMixin, BaseEstimator):
    """Keep the features that satisfy the invariances the user selects.

    Enforcing every invariance at once can leave nothing to predict with,
    or conflict (see :func:`invariance_conflicts`); this transformer keeps
    the input columns whose graph node satisfies each of the chosen
    ``invariances``, decided from the causal graph:

    - ``"counterfactual"``: not a descendant of a sensitive attribute (nor
      the attribute itself);
    - ``"path_specific"``: every path from a sensitive attribute to it is
      the start of one of ``fair_paths`` (the attribute itself is kept only
      if its direct edge to the target is allowed);
    - ``"shift"``: the kept set leaves the environments d-separated from
      the target: the features that are not descendants of the target, and
      those descendants whose addition keeps the separation, in the graph's
      topological order.

    Columns map to nodes by the library's column rule (raw names, or a
    ColumnTransformer's / OneHotEncoder's output names), so the selector
    works on a raw DataFrame and after encoding.

    Parameters
    ----------
    causal_model : CausalGraph, LinearSCM or None, default=None
        Over the raw columns, with the target (and the environment nodes)
        as nodes. ``None`` keeps every column, with a
        :class:`~skcausal_trust.exceptions.NoCausalModelWarning` (as
        scikit-learn's checks fit it).
    target : node or None, default=None
        Required with a causal model.
    sensitive : node, list of nodes or None, default=None
    environments : node, list of nodes or None, default=None
        Environment (shift) nodes of the graph.
    invariances : tuple of {"counterfactual", "path_specific", "shift"},
            default=("counterfactual", "shift")
    fair_paths : list or None, default=None
        Allowed paths, as in :func:`invariance_conflicts` (needed by
        ``"path_specific"``).
    confirm : bool, default=False
        Confirm the graph's choice on data: :meth:`fit` then needs ``y`` and
        the rows' ``environments``, and tests the invariance of the kept set
        with :class:`~skcausal_trust.invariance.InvariantCausalPrediction`
        (Peters, Bühlmann and Meinshausen 2016; its test at level
        ``alpha``, over the kept columns, which must be numeric). When the
        data reject the kept set's invariance, the selection is kept (it is
        the graph's) and a
        :class:`~skcausal_trust.exceptions.ModelRejectedWarning` says so.
    alpha : float, default=0.05
        Level of the confirmation's test.

    Attributes
    ----------
    confirmation_ : dict or None
        With ``confirm=True``: ``pvalue`` (of the invariance of the kept
        set), ``confirmed`` (``pvalue > alpha``), ``accepted_subsets`` (every
        subset of the kept columns ICP accepts) and ``icp`` (the fitted
        :class:`~skcausal_trust.invariance.InvariantCausalPrediction`);
        ``None`` otherwise.
    conflicts_ : pandas.DataFrame or None
        :func:`invariance_conflicts` of the graph (``None`` without one).
    selected_nodes_ : list or None
        The nodes whose columns are kept (``None`` without a graph).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        When ``X`` has string column names.

    Raises
    ------
    ValueError
        In ``fit``: the roles or paths are invalid (see
        :func:`invariance_conflicts`), ``"path_specific"`` without
        ``fair_paths``, ``"shift"`` when no set is invariant, a column that
        maps to no node, or no column kept.

    Examples
    --------
    >>> import pandas as pd
    >>> from skcausal_trust.causal import CausalGraph
    >>> from skcausal_trust.tradeoffs import SelectiveInvarianceSelector
    >>> g = CausalGraph([("sex", "edu"), ("site", "spend"), ("edu", "income"),
    ...                  ("age", "income"), ("income", "spend")])
    >>> X = pd.DataFrame({"sex": [0, 1], "edu": [1, 2], "age": [30, 40],
    ...                   "spend": [3, 4]})
    >>> selector = SelectiveInvarianceSelector(g, "income", "sex", "site").fit(X)
    >>> list(selector.get_feature_names_out())
    ['age']
    """

    _parameter_constraints = {
        "causal_model": [CausalGraph, LinearSCM, None],
        "target": "no_validation",
        "sensitive": "no_validation",
        "environments": "no_validation",
        "invariances": [tuple, list],
        "fair_paths": [list, tuple, None],
        "confirm": ["boolean"],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, causal_model=None, target=None, sensitive=None, environments=None, *,
                 invariances=("counterfactual", "shift"), fair_paths=None, confirm=False,
                 alpha=0.05):
        self.causal_model = causal_model
        self.target = target
        self.sensitive = sensitive
        self.environments = environments
        self.invariances = invariances
        self.fair_paths = fair_paths
        self.confirm = confirm
        self.alpha = alpha

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, environments=None):
        """Decide the kept columns from the graph; optionally confirm on data.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Columns named as graph nodes (or encoded from them).
        y : array-like of shape (n_samples,) or None, default=None
            The target; used only with ``confirm=True``.
        environments : array-like of shape (n_samples,), default=None
            Each row's environment label; used (and required) only with
            ``confirm=True``.

        Returns
        -------
        self : SelectiveInvarianceSelector
        """
        unknown = [i for i in self.invariances if i not in INVARIANCES]
        if unknown or not self.invariances:
            raise ValueError(f"invariances must be a non-empty subset of {INVARIANCES!r}; "
                             f"got {self.invariances!r}.")
        if "path_specific" in self.invariances and self.fair_paths is None:
            raise ValueError("invariances includes 'path_specific': pass fair_paths, the "
                             "allowed paths from the sensitive attributes to the target.")
        validate_data(self, X, dtype=None, ensure_all_finite=False, ensure_min_samples=1)
        if self.causal_model is None:
            warnings.warn(
                "SelectiveInvarianceSelector has no causal_model: every column is kept.",
                NoCausalModelWarning, stacklevel=3)
            self.conflicts_ = None
            self.selected_nodes_ = None
            self.confirmation_ = None
            self._mask = np.ones(self.n_features_in_, dtype=bool)
            return self
        roles = _Roles(self.causal_model, self.target, self.sensitive, self.environments,
                       self.fair_paths)
        table = invariance_conflicts(self.causal_model, self.target, self.sensitive,
                                     self.environments, fair_paths=self.fair_paths)
        columns = (list(self.feature_names_in_) if hasattr(self, "feature_names_in_")
                   else list(range(self.n_features_in_)))
        owners = match_columns(columns, roles.graph.nodes, argument="causal_model")
        orphans = [c for c, o in zip(columns, owners) if o is None]
        if orphans:
            raise ValueError(f"columns {orphans!r} of X are not nodes of causal_model "
                             f"(rule: {describe_rule()}).")
        role_columns = [c for c, o in zip(columns, owners)
                        if o == roles.target or o in roles.environments]
        if role_columns:
            raise ValueError(f"columns {role_columns!r} of X are the target or an "
                             "environment node, not features.")
        keep = set(roles.features) | set(roles.sensitive)
        if "counterfactual" in self.invariances:
            keep -= roles.desc_sensitive | set(roles.sensitive)
        if "path_specific" in self.invariances:
            direct = {a for a in roles.sensitive
                      if (a, roles.target) in set(roles.fair_paths)}
            keep -= {v for v in roles.features if not table.loc[v, "path_specific_fair"]}
            keep -= set(roles.sensitive) - direct
        if "shift" in self.invariances:
            if roles.environments and not table.attrs["invariant_set"]:
                raise ValueError(
                    "invariances includes 'shift', but no set of features is invariant: "
                    f"{table.attrs['summary'][0]}")
            candidates = [v for v in roles.graph.topological_order() if v in keep]
            chosen = [v for v in candidates if v not in roles.desc_target]
            if not roles.separated(chosen):
                raise ValueError(
                    f"the invariances {tuple(self.invariances)!r} conflict: the features "
                    "they allow leave the environments d-connected to the target. "
                    + " ".join(table.attrs["summary"]))
            for v in candidates:
                if v in roles.desc_target and roles.separated(chosen + [v]):
                    chosen.append(v)
            keep = set(chosen)
        mask = np.array([o in keep for o in owners], dtype=bool)
        if not mask.any():
            raise ValueError(f"no column of X satisfies {tuple(self.invariances)!r}; see "
                             "invariance_conflicts for why.")
        confirmation = self._confirm(X, y, environments, mask) if self.confirm else None
        self.conflicts_ = table
        self.selected_nodes_ = [v for v in roles.graph.nodes if v in keep]
        self._mask = mask
        self.confirmation_ = confirmation
        return self

    def _confirm(self, X, y, environments, mask):
        """Test the invariance of the kept columns on data with ICP."""
        from ..invariance import InvariantCausalPrediction

        if y is None or environments is None:
            raise ValueError("confirm=True tests the kept set on data: pass y and the "
                             "rows' environments to fit.")
        kept = X.loc[:, mask] if hasattr(X, "loc") else np.asarray(X)[:, mask]
        try:
            values = np.asarray(kept, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("confirm=True needs numeric kept columns (encode categorical "
                             "ones before the selector).") from None
        names = [f"x{j}" for j in range(values.shape[1])]
        icp = InvariantCausalPrediction(alpha=self.alpha).fit(
            pd.DataFrame(values, columns=names), y, environments=environments)
        pvalues = {frozenset(key): v for key, v in icp.subset_pvalues_.items()}
        pvalue = float(pvalues.get(frozenset(names), np.nan))
        confirmed = bool(pvalue > self.alpha)
        if not confirmed:
            warnings.warn(
                f"the data reject the invariance of the kept set across environments "
                f"(ICP p-value {pvalue:.3g} <= alpha={self.alpha}): the graph, the "
                "environments or the linear Gaussian test's assumptions are wrong; the "
                "selection is the graph's.", ModelRejectedWarning, stacklevel=3)
        return {"pvalue": pvalue, "confirmed": confirmed,
                "accepted_subsets": list(icp.accepted_subsets_), "icp": icp}

    def _get_support_mask(self):
        check_is_fitted(self, "_mask")
        return self._mask

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.target_tags.required = False
        return tags

