"""The audit task: data, target, sensitive attributes, graph and options,
validated before anything is fitted."""

import math
import os
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd

from ..causal import CausalGraph

__all__ = ["AuditError", "AuditTask", "PreparedData"]

DEFAULT_EPSILONS = (0.0, 0.25, 0.5, 1.0, 2.0)


class AuditError(ValueError):
    """Bad audit input: an option, a file, a column or a level. The message
    names the option as the user wrote it (``--epsilons`` on the command
    line, ``epsilons`` in Python)."""


@dataclass
class PreparedData:
    """The rows the audit fits on, in the forms the sections need.

    Attributes
    ----------
    raw : DataFrame
        The graph's feature columns and the sensitive columns, as they are
        (the attributes as ``category``), rows with a missing value dropped.
    y : ndarray of shape (n_rows,)
        The target as 0/1 (1 for the positive class).
    encoded : DataFrame
        One-hot indicators and standardised numeric columns (the sensitive
        columns kept as labels), for the invariance and privacy sections.
    expanded : CausalGraph
        The graph over ``encoded``'s columns.
    numeric, categorical : list
        The raw feature columns by kind.
    environments : ndarray or None
        The environment labels, if an environment column was given.
    rows_dropped : int
        Rows dropped for a missing value.
    positive : object
        The positive class.
    """

    raw: pd.DataFrame
    y: np.ndarray
    encoded: pd.DataFrame
    expanded: CausalGraph
    numeric: list
    categorical: list
    environments: np.ndarray
    rows_dropped: int
    positive: object


@dataclass
class AuditTask:
    """What to audit, and how.

    Parameters
    ----------
    data : DataFrame
        The rows: the graph's columns, the target, and the environment
        column if any. Other columns are dropped (``columns_dropped``).
    target : str
        Binary target column.
    sensitive : str or list of str
        Sensitive attribute column(s); several are intersected.
    graph : CausalGraph
        Causal graph over the classifier's inputs (features and sensitive
        attributes), on the raw columns. It may hold the target as a node
        without children (its causes then feed the conflicts section; the
        classifiers' causal model is the graph without it).
    positive : object, default=None
        The positive class (default: the last label in sorted order).
    x0, x1 : object, default=None
        The reference and the comparison level of the (single) sensitive
        attribute for the causal fairness decomposition; default: its two
        levels in sorted order (then the result says which is which). With
        more than two levels, the decomposition compares the rows of these
        two.
    environment : str, default=None
        Environment column (site, period, group): adds the invariance
        section.
    epsilons : sequence of float, default=(0, 0.25, 0.5, 1, 2)
        Grid of ``epsilon`` (log-odds units, >= 0, finite) of the
        counterfactually fair classifier.
    cv : int, default=3
        Cross-validation folds, >= 2.
    n_jobs : int, default=1
        Parallel fits (joblib), >= 1 or -1.
    random_state : int, default=0
        Seeds the folds, the subsample and the decomposition.
    max_rows : int, default=None
        Audit a random subsample of this many rows (>= 10).
    confounders, mediators : list of str, default=None
        Roles for the decomposition (default: from the graph).
    decomposition : bool, default=True
        Run the causal fairness decomposition.
    privacy_epsilon : float, default=None
        Adds the privacy section at this epsilon (> 0, finite).
    audit_runs : int, default=2000
        Fits per data set of the privacy audit (>= 10).
    actionable : list of str, default=None
        Numeric features a person can act on: adds the recourse section
        (default for the bundled Adult data: ``education-num`` and
        ``hours-per-week``).
    increase_only : list of str, default=None
        Actionable features that can only increase (default for Adult:
        ``education-num``).
    source : str, default="data"
        Describes the data in the report.
    option_names : dict, default=None
        How errors name each parameter (the command line passes
        ``{"epsilons": "--epsilons", ...}``).
    """

    data: pd.DataFrame
    target: str
    sensitive: object
    graph: CausalGraph
    positive: object = None
    x0: object = None
    x1: object = None
    environment: str = None
    epsilons: tuple = DEFAULT_EPSILONS
    cv: int = 3
    n_jobs: int = 1
    random_state: int = 0
    max_rows: int = None
    confounders: list = None
    mediators: list = None
    decomposition: bool = True
    privacy_epsilon: float = None
    audit_runs: int = 2000
    actionable: list = None
    increase_only: list = None
    source: str = "data"
    option_names: dict = field(default_factory=dict)
    #: Why the decomposition is skipped (set by :meth:`validate`), or None.
    decomposition_skipped: str = field(default=None, init=False, repr=False)
    #: The graph with the target as a node (set by :meth:`validate` when the
    #: given graph holds it), or None.
    target_graph: CausalGraph = field(default=None, init=False, repr=False)

    # -- constructors -------------------------------------------------------
    @classmethod
    def from_csv(cls, path, *, target, sensitive, graph=None, option_names=None, **options):
        """Read a CSV file (and a graph file) into a task.

        Parameters
        ----------
        path : str or path-like
            The CSV file (a header row, comma-separated).
        target, sensitive : str
            Columns, as in :class:`AuditTask`.
        graph : str, path-like, CausalGraph or None, default=None
            A graph file (see :meth:`CausalGraph.from_csv`) or a graph;
            ``None``: every sensitive attribute causes every other column.
        option_names : dict, default=None
            How errors name the options.
        **options
            The other fields of :class:`AuditTask`.

        Raises
        ------
        AuditError
            The file is missing, a directory, not text, empty, or has no
            rows; the graph file cannot be read (the message names the file
            and line).
        """
        names = dict(option_names or {})
        data = read_csv(path, names.get("data", "data"))
        sensitive = _as_list(sensitive)
        if graph is None or isinstance(graph, CausalGraph):
            pass
        else:
            graph = read_graph(graph, names.get("graph", "graph"))
        if graph is None:
            _require_columns(data, {"target": [target], "sensitive": sensitive}, names,
                             Path(path).name)
            others = [c for c in data.columns if c != target and c not in sensitive
                      and c != options.get("environment")]
            graph = CausalGraph([(s, c) for s in sensitive for c in others], nodes=sensitive)
        return cls(data=data, target=target, sensitive=sensitive, graph=graph,
                   source=str(path), option_names=names, **options)

    @classmethod
    def adult(cls, *, sensitive=None, graph=None, target=None, option_names=None,
              **options):
        """The bundled UCI Adult data: target ``income`` (positive ``>50K``),
        sensitive ``sex`` by default, the documented default graph."""
        from ..datasets import adult_causal_graph, load_adult

        names = dict(option_names or {})
        if target is not None and target != "income":
            raise AuditError(
                f"{names.get('target', 'target')}={target!r} needs "
                f"{names.get('data', 'data')}: the bundled Adult audit uses 'income'."
            )
        if graph is not None and not isinstance(graph, CausalGraph):
            graph = read_graph(graph, names.get("graph", "graph"))
        if graph is None:
            # The documented graph over the inputs, and income caused by
            # every one of them (Chiappa 2019's Adult graph).
            inputs = adult_causal_graph()
            graph = CausalGraph(list(inputs.edges) + [(n, "income") for n in inputs.nodes],
                                nodes=list(inputs.nodes) + ["income"])
        sensitive = _as_list(sensitive) if sensitive else ["sex"]
        unknown = [c for c in sensitive if c not in graph]
        if unknown:
            raise AuditError(
                f"{names.get('sensitive', 'sensitive')}={','.join(sensitive)!r}: "
                f"{unknown!r} are not nodes of the Adult graph; its nodes are "
                f"{graph.nodes!r}. Other columns need {names.get('data', 'data')} and "
                f"{names.get('graph', 'graph')}."
            )
        options.setdefault("positive", ">50K")
        if options.get("actionable") is None:
            options["actionable"] = ["education-num", "hours-per-week"]
            if options.get("increase_only") is None:
                options["increase_only"] = ["education-num"]
        if options["positive"] is None:
            options["positive"] = ">50K"
        return cls(data=load_adult().frame, target="income", sensitive=sensitive,
                   graph=graph, source="UCI Adult (bundled)", option_names=names,
                   **options)

    # -- validation ---------------------------------------------------------
    def name(self, option):
        """How errors name ``option``."""
        return self.option_names.get(option, option)

    def validate(self):
        """Check every option and the data before anything is fitted.

        Returns
        -------
        self : AuditTask

        Raises
        ------
        AuditError
            The first problem found, naming the option, column or level.
        """
        self.sensitive = _as_list(self.sensitive)
        self._check_options()
        data = self.data
        if not isinstance(data, pd.DataFrame):
            raise AuditError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
        if data.shape[0] == 0:
            raise AuditError(f"{self.name('data')} has no rows.")
        if data.columns.duplicated().any():
            raise AuditError(
                f"{self.name('data')} repeats the columns "
                f"{sorted(set(data.columns[data.columns.duplicated()]))!r}."
            )
        _require_columns(data, {"target": [self.target], "sensitive": self.sensitive},
                         self.option_names, self.source)
        if self.environment is not None:
            _require_columns(data, {"environment": [self.environment]},
                             self.option_names, self.source)
            if self.environment == self.target or self.environment in self.sensitive:
                raise AuditError(
                    f"{self.name('environment')} must differ from "
                    f"{self.name('target')} and {self.name('sensitive')}."
                )
        if self.target in self.sensitive:
            raise AuditError(
                f"{self.name('target')} and {self.name('sensitive')} name the same "
                "column."
            )
        graph = self.graph
        if not isinstance(graph, CausalGraph):
            raise AuditError(f"{self.name('graph')} must be a CausalGraph.")
        if self.target in graph:
            children = graph.children(self.target)
            if children:
                raise AuditError(
                    f"{self.name('graph')}: the target {self.target!r} causes "
                    f"{list(children)!r}; the classifiers' causal model is over their "
                    "inputs, and dropping the target would cut the paths through it. "
                    "Give the target no children (or leave it out of the graph)."
                )
            # The full graph (with the target) serves the conflicts section;
            # the classifiers' causal model is over their inputs.
            self.target_graph = graph
            self.graph = graph = CausalGraph(
                [(u, v) for u, v in graph.edges if self.target not in (u, v)],
                nodes=[n for n in graph.nodes if n != self.target])
        absent = [s for s in self.sensitive if s not in graph]
        if absent:
            raise AuditError(
                f"{self.name('graph')}: the sensitive attributes {absent!r} are not "
                f"nodes; its nodes are {graph.nodes!r}."
            )
        missing = [n for n in graph.nodes if n not in data.columns]
        if missing:
            raise AuditError(
                f"{self.name('graph')}: nodes {missing!r} are not columns of "
                f"{self.source}; its columns are {list(data.columns)!r}."
            )
        rows = self._rows()
        labels = sorted(pd.unique(rows[self.target]), key=str)
        if len(labels) != 2:
            raise AuditError(
                f"{self.name('target')} {self.target!r} has {len(labels)} classes "
                f"{labels[:10]!r}; the audit needs a binary target."
            )
        if self.positive is not None and str(self.positive) not in {str(v) for v in labels}:
            raise AuditError(
                f"{self.name('positive')}={self.positive!r} is not a class of "
                f"{self.target!r}: {labels!r}."
            )
        for s in self.sensitive:
            levels = pd.unique(rows[s])
            if len(levels) < 2:
                raise AuditError(
                    f"{self.name('sensitive')} {s!r} has a single level {levels[0]!r} in "
                    "the rows audited; counterfactual fairness compares levels."
                )
        self._check_magnitudes(rows)
        self._check_decomposition(rows)
        self._check_recourse(rows)
        return self

    def _check_magnitudes(self, rows):
        """Numeric columns the models read: finite, and of magnitudes whose
        products stay floats (the audit standardises them and fits models
        penalised in their units)."""
        from ..utils._scaling import SAFE_MAGNITUDES

        low, high = SAFE_MAGNITUDES
        for c in [n for n in self.graph.nodes if n not in self.sensitive]:
            if c not in rows or not pd.api.types.is_numeric_dtype(rows[c]) or \
                    pd.api.types.is_bool_dtype(rows[c]):
                continue
            values = rows[c].to_numpy(dtype=float, na_value=np.nan)
            if np.isinf(values).any():
                raise AuditError(f"{self.source}: column {c!r} has infinite values.")
            peak = float(np.nanmax(np.abs(values), initial=0.0))
            if peak > 0 and not low <= peak <= high:
                raise AuditError(
                    f"{self.source}: column {c!r} has values of magnitude {peak:.3g}; "
                    "the audit standardises numeric columns, whose squares overflow "
                    "or lose their digits outside about 1e-120 to 1e120: rescale the "
                    "column (a change of units).")

    def _check_recourse(self, rows):
        """The recourse section's actionable features, checked before fitting."""
        if self.actionable is None:
            if self.increase_only:
                raise AuditError(f"{self.name('increase_only')} needs "
                                 f"{self.name('actionable')}.")
            return
        actionable = _as_list(self.actionable)
        increase = _as_list(self.increase_only) if self.increase_only else []
        features = [n for n in self.graph.nodes if n not in self.sensitive]
        bad = [c for c in actionable if c not in features
               or not pd.api.types.is_numeric_dtype(rows[c])]
        if not actionable or bad:
            raise AuditError(
                f"{self.name('actionable')}={','.join(map(str, actionable))!r}: "
                f"{bad!r} are not numeric feature columns of the graph (not sensitive, "
                "not the target).")
        stray = [c for c in increase if c not in actionable]
        if stray:
            raise AuditError(f"{self.name('increase_only')}: {stray!r} are not actionable.")
        self.actionable, self.increase_only = actionable, increase

    def _check_options(self):
        eps = self.epsilons
        if isinstance(eps, (str, bytes)) or not np.iterable(eps):
            raise AuditError(f"{self.name('epsilons')}={eps!r}: give a list of numbers.")
        eps = list(eps)
        bad = [e for e in eps if not isinstance(e, Real) or isinstance(e, bool)
               or not math.isfinite(e) or e < 0]
        if not eps or bad:
            raise AuditError(
                f"{self.name('epsilons')}={','.join(_fmt(e) for e in eps)!r}: give one or more "
                "finite values >= 0 (log-odds units)."
            )
        self.epsilons = tuple(float(e) for e in eps)
        _integer(self, "cv", 2)
        _integer(self, "audit_runs", 10)
        _integer(self, "random_state", 0)
        if self.max_rows is not None:
            _integer(self, "max_rows", 10)
        if not isinstance(self.n_jobs, Integral) or isinstance(self.n_jobs, bool) or (
                self.n_jobs < 1 and self.n_jobs != -1):
            raise AuditError(f"{self.name('n_jobs')}={self.n_jobs!r}: give -1 or a "
                             "positive integer.")
        pe = self.privacy_epsilon
        if pe is not None and (not isinstance(pe, Real) or not math.isfinite(pe) or pe <= 0):
            raise AuditError(f"{self.name('privacy_epsilon')}={pe!r}: must be finite "
                             "and > 0.")

    def _check_decomposition(self, rows):
        """Roles and groups of the decomposition, checked before fitting."""
        self.decomposition_skipped = None
        if not self.decomposition:
            return
        attribute = self.sensitive[0]
        levels = sorted(pd.unique(rows[attribute]), key=str)
        given = [v for v in (self.x0, self.x1) if v is not None]
        for option, value in (("x0", self.x0), ("x1", self.x1)):
            if value is not None and str(value) not in {str(v) for v in levels}:
                raise AuditError(
                    f"{self.name(option)}={value!r} is not a level of {attribute!r}: "
                    f"{[str(v) for v in levels]!r}."
                )
        if len(given) == 1:
            raise AuditError(
                f"give both {self.name('x0')} and {self.name('x1')}, or neither."
            )
        if given and str(self.x0) == str(self.x1):
            raise AuditError(f"{self.name('x0')} and {self.name('x1')} are the same level.")
        if len(self.sensitive) > 1:
            self.decomposition_skipped = (
                "the causal fairness decomposition compares two groups of one "
                f"attribute; the audit has {len(self.sensitive)} attributes "
                f"{self.sensitive!r}"
            )
            return
        if len(levels) != 2 and not given:
            self.decomposition_skipped = (
                "the causal fairness decomposition compares two groups; "
                f"{attribute!r} has {len(levels)} levels: choose them with "
                f"{self.name('x0')} and {self.name('x1')}"
            )
            return
        self.roles()

    def roles(self):
        """Confounders Z and mediators W of the decomposition: given, or the
        graph's non-descendants and descendants of the attribute."""
        attribute = self.sensitive[0]
        features = [n for n in self.graph.nodes if n not in self.sensitive]
        descendants = set(self.graph.descendants(attribute))
        Z = list(self.confounders) if self.confounders else [
            c for c in features if c not in descendants]
        W = list(self.mediators) if self.mediators else [
            c for c in features if c in descendants]
        unknown = [c for c in Z + W if c not in features]
        if unknown:
            raise AuditError(
                f"{self.name('confounders')}/{self.name('mediators')} name {unknown!r}, "
                f"which are not features of the audit; they are {features!r}."
            )
        return Z, W

    def _rows(self):
        data = self.data
        if self.max_rows is not None and self.max_rows < len(data):
            data = data.sample(self.max_rows, random_state=self.random_state)
        return data

    @property
    def columns_dropped(self):
        """Columns of the data that are neither graph nodes, the target nor the
        environment: the audit does not use them."""
        used = set(self.graph.nodes) | {self.target, self.environment}
        return [c for c in self.data.columns if c not in used]

    # -- preparation --------------------------------------------------------
    def prepare(self):
        """The rows the sections fit on (:class:`PreparedData`)."""
        from ..causal import one_hot_encode

        sensitive = self.sensitive
        features = [n for n in self.graph.nodes if n not in sensitive]
        extra = ([self.environment] if self.environment is not None
                 and self.environment not in self.graph else [])
        used = self._rows()[features + sensitive + [self.target] + extra]
        n_before = len(used)
        used = used.dropna()
        if len(used) < 2 * self.cv:
            raise AuditError(
                f"{self.source}: {len(used)} complete rows (of {n_before}), too few for "
                f"{self.name('cv')}={self.cv} folds."
            )
        labels = sorted(pd.unique(used[self.target]), key=str)
        positive = self.positive if self.positive is not None else labels[-1]
        y = (used[self.target].astype(str) == str(positive)).astype(int).to_numpy()
        raw = used[features + sensitive].reset_index(drop=True)
        for s in sensitive:
            # A sensitive attribute is categorical whatever its dtype.
            raw[s] = pd.Categorical(raw[s])
        numeric = [c for c in features if pd.api.types.is_numeric_dtype(raw[c])]
        categorical = [c for c in features if c not in numeric]
        encoded, expanded = one_hot_encode(raw, self.graph, exclude=sensitive)
        encoded = encoded.loc[:, [c for c in encoded.columns
                                  if encoded[c].nunique() > 1 or c in sensitive]]
        if [n for n in expanded.nodes if n not in encoded.columns]:
            keep = [n for n in expanded.nodes if n in encoded.columns]
            expanded = CausalGraph(
                [(u, v) for u, v in expanded.edges if u in keep and v in keep], nodes=keep)
        for c in numeric:
            std = encoded[c].std()
            encoded[c] = (encoded[c] - encoded[c].mean()) / (std if std > 0 else 1.0)
        env = (None if self.environment is None
               else used[self.environment].astype(str).to_numpy())
        return PreparedData(raw, y, encoded, expanded, numeric, categorical, env,
                            n_before - len(used), positive)

    def options(self):
        """The options as a JSON-able dict (for the report)."""
        skip = {"data", "graph", "option_names", "sensitive", "target", "source",
                "decomposition_skipped"}
        out = {}
        for f in fields(self):
            if f.name in skip:
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return {k: (v if isinstance(v, (str, int, float, bool, list, type(None)))
                    else str(v)) for k, v in out.items()}


def _fmt(value):
    return f"{value:g}" if isinstance(value, Real) and not isinstance(value, bool) else str(value)


def _as_list(value):
    if isinstance(value, str):
        return [c.strip() for c in value.split(",") if c.strip()]
    return list(value)


def _integer(task, option, low):
    value = getattr(task, option)
    if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
        raise AuditError(f"{task.name(option)}={value!r}: give an integer >= {low}.")


def _require_columns(data, groups, names, source):
    for option, values in groups.items():
        for value in values:
            if value not in data.columns:
                raise AuditError(
                    f"{names.get(option, option)}={value!r} is not a column of "
                    f"{Path(str(source)).name}; its columns are {list(data.columns)!r}."
                )


def _check_file(path, option):
    path = Path(path)
    if not path.exists():
        raise AuditError(f"{option}: no such file {str(path)!r}.")
    if path.is_dir():
        raise AuditError(f"{option}: {str(path)!r} is a directory, not a file.")
    if not os.access(path, os.R_OK):
        raise AuditError(f"{option}: cannot read {str(path)!r} (permission denied).")
    if path.stat().st_size == 0:
        raise AuditError(f"{option}: {str(path)!r} is empty.")
    return path


def read_csv(path, option="data"):
    """Read a data file with errors that name it."""
    path = _check_file(path, option)
    try:
        data = pd.read_csv(path, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AuditError(f"{option}: {str(path)!r} is not UTF-8 text ({exc}).") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise AuditError(f"{option}: {str(path)!r} is not a CSV table ({exc}).") from exc
    if data.shape[0] == 0:
        raise AuditError(f"{option}: {str(path)!r} has a header but no rows.")
    return data


def read_graph(path, option="graph"):
    """Read a graph file with errors that name it (and the line)."""
    path = _check_file(path, option)
    try:
        return CausalGraph.from_csv(path)
    except UnicodeDecodeError as exc:
        raise AuditError(f"{option}: {str(path)!r} is not UTF-8 text ({exc}).") from exc
    except ValueError as exc:
        raise AuditError(f"{option}: {exc}") from exc
