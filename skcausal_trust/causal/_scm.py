"""Linear additive-noise structural causal models: fit, abduction,
counterfactuals and sampling."""

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight
from sklearn.exceptions import NotFittedError

from ..exceptions import RoundedCounterfactualWarning
from ..utils._dask import is_dask_collection, reduce_partitions
from ..utils._scaling import exponents_below, times_power_of_two
from ..utils._validation import check_no_date_columns, keep_state_on_failure
from ._graph import CausalGraph

__all__ = ["LinearSCM"]


def _as_graph(graph, argument="graph"):
    if isinstance(graph, CausalGraph):
        return graph
    if graph is None:
        raise ValueError(f"{argument} is required: a CausalGraph, edges or a mapping.")
    try:
        return CausalGraph(graph)
    except ValueError as exc:  # CyclicGraphError included: name the argument
        raise type(exc)(f"{argument}: {exc}") from exc


def _check_unique_columns(data, variables, argument):
    """Refuse a frame where a variable's column label appears more than once:
    ``data[v]`` would then be a frame, not the variable's column."""
    columns = pd.Index(data.columns)
    if columns.is_unique:
        return
    duplicated = set(columns[columns.duplicated()])
    clash = [v for v in variables if v in duplicated]
    if clash:
        counts = {v: int((columns == v).sum()) for v in clash}
        raise ValueError(
            f"{argument} has duplicated column(s) "
            + ", ".join(f"{v!r} ({k} times)" for v, k in counts.items())
            + "; each variable of the SCM needs exactly one column. Rename or "
            "drop the copies."
        )


def _check_level_keys(mapping, levels, argument, node):
    """Raise for keys of ``mapping`` that are not levels of ``node``."""
    unknown = [k for k in mapping if k not in set(levels)]
    if unknown:
        raise ValueError(f"{argument} names {unknown!r}, which are not levels of {node!r}; "
                         f"its levels are {list(levels)!r}.")


def _as_node_list(nodes, index):
    """``nodes`` as a list of known variables (one node or a list)."""
    nodes = list(nodes) if isinstance(nodes, (list, tuple)) else [nodes]
    unknown = [v for v in nodes if v not in index]
    if unknown:
        raise ValueError(f"sensitive names {unknown!r}, which are not variables of "
                         "the SCM.")
    return nodes


def _is_categorical(series):
    return (
        isinstance(series.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(series.dtype)
        or pd.api.types.is_string_dtype(series.dtype)
    )


def _scaling_exponents(design):
    """Per column, the exponent ``e`` with ``2**e <= max|column| < 2**(e + 1)``
    (0 for an all-zero column): dividing by ``2**e`` is exact and brings every
    column's largest magnitude into [1, 2)."""
    peak = np.abs(design).max(axis=0) if design.shape[0] else np.zeros(design.shape[1])
    return exponents_below(peak)


def _partition_weights(weights, n):
    """A partition's row weights (ones without weights), checked."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float).reshape(-1)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight has negative, NaN or infinite values.")
    return w


def _least_squares(zz, zy, yy, shift_z, shift_y):
    """Solve the normal equations of power-of-two scaled columns, unscaled.

    ``zz``, ``zy`` and ``yy`` (the diagonal of the outcome block) are blocks
    of the Gram matrix of the scaled columns; the column ``j`` of the data is
    the scaled one times ``2**shift[j]``.

    Returns
    -------
    beta : ndarray of shape (n_regressors, n_outcomes)
        The coefficients on the unscaled columns: the minimum-norm solution
        (in the unscaled coordinates, as without scaling) when regressors are
        collinear, for example a full set of one-hot indicators.
    noise_scale : ndarray of shape (n_outcomes,)
        The residual standard deviations, unscaled.
    full_rank : bool
        Whether the regressors are linearly independent.
    """
    beta, _, rank, _ = np.linalg.lstsq(zz, zy, rcond=None)
    resid_var = yy - np.sum(zy * beta, axis=0)
    # An overflow gives inf, which _check_finite_fit reports with the columns.
    with np.errstate(over="ignore"):
        noise_scale = np.ldexp(np.sqrt(np.maximum(resid_var, 0.0)), shift_y)
        beta = np.ldexp(beta, shift_y[None, :] - shift_z[:, None])
    if rank < zz.shape[0]:
        # The solutions form beta + null space; lstsq's minimum norm is in the
        # scaled coordinates, so project out the null space of the unscaled
        # regressors (the scaled one stretched by 2**-shift).
        _, _, vt = np.linalg.svd(zz)
        null = np.ldexp(vt[rank:].T, -shift_z[:, None])
        basis, _ = np.linalg.qr(null)
        beta = beta - basis @ (basis.T @ beta)
    return beta, noise_scale, rank == zz.shape[0]


def _check_finite_fit(equations, roots, peak, index, design_columns):
    """Refuse a fit whose parameters left the float range, naming the node and
    the magnitudes of its columns (``peak``: each design column's largest
    magnitude); never NaN or inf in fitted attributes."""

    def magnitudes(variables):
        return ", ".join(
            f"{name!r} up to {peak[j]:.3g}"
            for v in variables
            for name, j in zip(design_columns[v], index[v])
        )

    for v, eq in equations.items():
        values = [eq["intercept"], eq["coef"], eq["noise_scale"]]
        if not all(np.isfinite(x).all() for x in values):
            raise ValueError(
                f"data: the structural equation of {v!r} does not fit in floating "
                f"point (its coefficients overflow); its columns have magnitudes "
                f"{magnitudes([v] + list(eq['parents']))}. Rescale these columns "
                "to comparable units before fitting."
            )
    for v, root in roots.items():
        if not all(np.isfinite(x).all() for x in root.values()):
            raise ValueError(
                f"data[{v!r}] has magnitudes {magnitudes([v])}, too large for its "
                "mean and standard deviation in floating point; rescale it before "
                "fitting."
            )


class LinearSCM:
    """Linear additive-noise structural causal model on a causal graph.

    Every non-root node :math:`V_j` follows a structural equation that is
    linear in its parents with additive noise independent of them,

    .. math:: V_j = b_j + B_j \\, \\mathrm{pa}(V_j) + U_j,

    fitted by ordinary least squares on the observed data (from one Gram
    matrix of the encoded data, so the cost is one pass over the rows). Root nodes keep
    their empirical distribution (level frequencies, or mean and standard
    deviation for sampling). Counterfactuals follow Pearl's three steps:
    *abduction* of the noise :math:`U_j = V_j - b_j - B_j\\,\\mathrm{pa}(V_j)`
    from an observed row, *action* ``do(node=value)``, and *prediction* of the
    descendants of the intervened nodes with the same noise.

    Categorical variables (pandas ``category``, ``object`` or string dtype)
    are one-hot encoded with their first level (sorted) as baseline: the
    design column of level ``l`` of ``v`` is named ``"v_l"``. As parents they
    enter their children's equations through these indicators. A categorical
    *non-root* node is modelled by a linear probability model: one linear
    equation with additive noise per indicator. Its counterfactual is then a
    vector of real-valued ("soft") indicators, exact in the design space
    (:meth:`counterfactual_design`) but not a level; :meth:`counterfactual`
    rounds it to the level with the largest value and warns
    (:class:`~skcausal_trust.exceptions.RoundedCounterfactualWarning`).
    One-hot encode such columns before fitting to keep counterfactuals exact.

    Assumptions (the model's, not checked by the fit): the graph is the true
    causal DAG with no hidden confounders (noises mutually independent),
    every mechanism is linear in the encoded parents, and noises are additive,
    so a change of a parent shifts a child by the same amount in every unit.
    :meth:`sample` additionally draws noises as independent Gaussians with
    the residual standard deviation.

    Read more in the :ref:`User Guide <counterfactual_fairness>`.

    Parameters
    ----------
    graph : CausalGraph, iterable of (cause, effect) pairs or mapping
        The causal DAG; anything :class:`CausalGraph` accepts.

    Attributes
    ----------
    graph_ : CausalGraph
        The validated graph.
    variables_ : list
        The graph's nodes in topological order.
    categories_ : dict
        ``{variable: ndarray of levels}`` for categorical variables; the first
        level is the baseline.
    design_columns_ : dict
        ``{variable: list of design column names}``.
    equations_ : dict
        For every non-root node, a dict with ``parents`` (list),
        ``intercept`` (ndarray of shape (k,)), ``coef`` (ndarray of shape
        (k, n_parent_columns)) and ``noise_scale`` (ndarray of shape (k,)),
        ``k`` the node's number of design columns.
    roots_ : dict
        For every root node, ``{"mean", "scale"}`` (numeric) or
        ``{"probabilities"}`` (categorical), used by :meth:`sample`.

    See Also
    --------
    CausalGraph : The causal DAG.
    skcausal_trust.fairness.CounterfactuallyFairClassifier : Uses the
        model's counterfactuals as constraints.

    References
    ----------
    .. [1] J. Pearl, "Causality: Models, Reasoning, and Inference", 2nd ed.,
       Cambridge University Press, 2009, Sec. 7.1 (abduction, action,
       prediction).
    .. [2] M. J. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       Fairness", NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skcausal_trust.causal import LinearSCM
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 2, 500)
    >>> x = 2.0 * a + rng.normal(size=500)
    >>> data = pd.DataFrame({"a": a, "x": x})
    >>> scm = LinearSCM([("a", "x")]).fit(data)
    >>> twin = scm.counterfactual(data, {"a": 1 - data["a"]})
    >>> bool(np.allclose(twin["x"] - data["x"], scm.equations_["x"]["coef"][0, 0]
    ...                  * (1 - 2 * data["a"])))
    True
    """

    def __init__(self, graph):
        self.graph = graph

    # -- fitting ----------------------------------------------------------
    @keep_state_on_failure
    def fit(self, data, sample_weight=None):
        """Fit every structural equation by (weighted) least squares.

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)
            Must hold a column for every node of the graph; other columns are
            ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; a weight of 2 counts a row twice.

        Returns
        -------
        self : LinearSCM

        Raises
        ------
        ValueError
            If ``data`` is not a DataFrame, lacks a node's column or has it
            twice, has missing or infinite values in a node's column, a node
            of date or duration dtype (numpy would read it as nanoseconds:
            convert it to numbers in your unit, or to categories), or has
            fewer than two rows; if a structural equation's coefficients
            overflow the float range (columns of wildly different magnitudes,
            such as 1e300 and 1e-300: the message names them).

        Notes
        -----
        Each design column is divided by a power of two near its largest
        magnitude before the Gram matrix is formed, and the coefficients are
        scaled back. The division is exact, so the fit does not depend on
        the columns' units: data multiplied by 1e300, or by 1e-9, gives the
        same equations in the new units.
        """
        graph = _as_graph(self.graph)
        if is_dask_collection(data):
            statistics = self._dask_statistics(graph, data, sample_weight)
        else:
            statistics = self._statistics(graph, data, sample_weight)
        return self._fit_statistics(graph, *statistics)

    def _statistics(self, graph, data, sample_weight):
        """Rows to sufficient statistics (in memory): the weighted Gram
        matrix of ``[1, design]`` (columns scaled by powers of two; weights
        summing to 1), the scaling exponents, each categorical root's level
        weights and each design column's largest magnitude."""
        data = self._check_frame(data, graph)
        if data.shape[0] < 2:
            raise ValueError(
                f"data has {data.shape[0]} row(s); fitting an SCM needs at least 2."
            )
        n = data.shape[0]
        sw = _check_sample_weight(sample_weight, np.empty((n, 0)), ensure_non_negative=True)
        with np.errstate(over="ignore"):  # an infinite total is handled below
            total = sw.sum()
        if total <= 0:
            raise ValueError("sample_weight sums to 0; nothing to fit.")
        if not np.isfinite(total):  # huge weights: only their ratios matter
            sw = sw / sw.max()
        sw = sw / sw.sum()
        self._setup(graph, data)
        design = self.encode(data)
        # Each design column is divided by a power of two near its largest
        # magnitude: exact in floating point, and it keeps the Gram matrix
        # finite for values near 1e300 and its small singular values above
        # the rank cut-off for values near 1e-9 (a column's units must not
        # decide whether it is a cause). The solution is unscaled below.
        peak = np.abs(design).max(axis=0)
        offset = self._offsets(design.min(axis=0), design.max(axis=0))
        shifted = design - offset
        shift = _scaling_exponents(shifted)
        # Sufficient statistics: one weighted Gram matrix of [1, design -
        # offset]; each node's least squares is then a small solve on a
        # block of it.
        full = np.column_stack([np.ones(n), times_power_of_two(shifted, -shift)])
        gram = (full * sw[:, None]).T @ full
        level_weights = {
            v: np.array([sw[data[v].to_numpy() == lvl].sum() for lvl in self.categories_[v]])
            for v in self.categories_ if not graph.parents(v)
        }
        return gram, shift, offset, level_weights, peak

    def _offsets(self, low, high):
        """The point each design column is measured from: its mid-range for a
        numeric variable (so that a column far from 0, such as 1e3 + noise,
        does not cancel digits in the Gram matrix), 0 for an indicator."""
        offset = low / 2 + high / 2
        for v in self.categories_:
            offset[self._index[v]] = 0.0
        return offset

    def _fit_dask(self, data, sample_weight, first):
        """Fit on a dask dataframe whose first-pass summary (``first``, as
        the first pass of :meth:`_dask_statistics` returns it) is already
        known: one pass over the partitions (the Gram matrix)."""
        graph = _as_graph(self.graph)
        return self._fit_statistics(
            graph, *self._dask_statistics(graph, data, sample_weight, first=first))

    def _dask_statistics(self, graph, data, sample_weight, first=None):
        """The statistics of :meth:`_statistics` from a dask dataframe, in
        two passes over its partitions: levels, extremes and weight totals,
        then the Gram matrix (the first is skipped when ``first`` gives its
        result: ``n``, ``levels`` of the categorical nodes, ``high`` and
        ``low`` of the numeric ones in graph order, ``weight`` and
        ``max_weight``)."""
        import dask.dataframe as dd

        if not isinstance(data, dd.DataFrame):
            raise ValueError(
                "data must be a pandas or dask DataFrame with a column per graph "
                f"node; got {type(data).__name__}."
            )
        graph.check_nodes_in(data.columns, argument="data")
        _check_unique_columns(data, graph.nodes, "data")
        nodes = list(graph.nodes)
        kinds = {}
        for v in nodes:
            dtype = data.dtypes[v]
            if isinstance(dtype, pd.CategoricalDtype) and not data[v].cat.known:
                raise ValueError(
                    f"data[{v!r}] is a categorical column of unknown categories; "
                    f"declare them (data = data.categorize(columns=[{v!r}]), or "
                    "astype a pandas CategoricalDtype) before fitting."
                )
            kinds[v] = _is_categorical(data._meta[v])
        collections = {"data": data[nodes]}
        if sample_weight is not None:
            if not is_dask_collection(sample_weight):
                raise ValueError(
                    "sample_weight must be a dask array or series aligned with data "
                    "when data is a dask DataFrame."
                )
            collections["sample_weight"] = sample_weight

        def first_pass(part, weights=None):
            self._check_frame(part, graph)
            w = _partition_weights(weights, part.shape[0])
            levels = {v: set(pd.unique(part[v])) for v in nodes if kinds[v]}
            numeric = [v for v in nodes if not kinds[v]]
            values = part[numeric].to_numpy(dtype=float)  # (n, k), also for n = 0
            with np.errstate(over="ignore"):  # an infinite total is handled below
                weight = np.array([w.sum()])
            return {"n": part.shape[0], "levels": levels,
                    "high": values.max(axis=0, initial=-np.inf),
                    "low": -values.min(axis=0, initial=np.inf),
                    "weight": weight, "max_weight": w.max(initial=0.0)}

        if first is None:
            first = reduce_partitions(
                first_pass, collections,
                combine={"high": "max", "low": "max", "max_weight": "max"})
        n = first["n"]
        if n < 2:
            raise ValueError(f"data has {n} row(s); fitting an SCM needs at least 2.")
        total = float(first["weight"][0])
        if total <= 0:
            raise ValueError("sample_weight sums to 0; nothing to fit.")
        categories = {}
        for v in nodes:
            if kinds[v]:
                present = first["levels"][v]
                dtype = data.dtypes[v]
                if isinstance(dtype, pd.CategoricalDtype):
                    levels = [c for c in dtype.categories if c in present]
                else:
                    levels = sorted(present, key=str)
                categories[v] = np.asarray(levels, dtype=object)
        self._setup_from(graph, categories)
        numeric = [v for v in nodes if not kinds[v]]
        # Indicators: 0 and 1 (a level of the design occurs by construction).
        low, high = np.zeros(self._n_design), np.ones(self._n_design)
        for v, lo, hi in zip(numeric, first["low"], first["high"]):
            low[self._index[v]], high[self._index[v]] = -lo, hi
        peak = np.maximum(np.abs(low), np.abs(high))
        offset = self._offsets(low, high)
        shift = exponents_below(np.maximum(high - offset, offset - low))
        # A total that overflows (1/total = 0) or is subnormal (1/total = inf):
        # the weights are divided by the largest one instead, and the Gram
        # matrix is normalised after.
        scale = 1.0 / total
        if not 0.0 < scale < np.inf:
            scale = None
        max_weight = float(first["max_weight"])
        roots = [v for v in categories if not graph.parents(v)]

        def second_pass(part, weights=None):
            w = _partition_weights(weights, part.shape[0])
            w = w * scale if scale is not None else (w / max_weight)
            design = self.encode(part) - offset
            full = np.column_stack([np.ones(part.shape[0]),
                                    times_power_of_two(design, -shift)])
            gram = (full * w[:, None]).T @ full
            level_weights = {
                v: np.array([w[part[v].to_numpy() == lvl].sum()
                             for lvl in self.categories_[v]])
                for v in roots
            }
            return gram, level_weights

        gram, level_weights = reduce_partitions(second_pass, collections)
        if scale is None:  # huge weights: normalise the rescaled totals
            gram = gram / gram[0, 0]
        return gram, shift, offset, level_weights, peak

    def _fit_statistics(self, graph, gram, shift, offset, level_weights, peak):
        """Statistics to solution: each node's least squares on a block of
        the Gram matrix (the same code for in-memory and dask rows)."""
        shift = np.concatenate([[0], shift])
        equations, roots = {}, {}
        for v in self.variables_:
            cols = self._index[v]
            parents = graph.parents(v)
            if not parents:
                if v in self.categories_:
                    probs = level_weights[v]
                    roots[v] = {"probabilities": probs / probs.sum()}
                else:
                    j = 1 + cols[0]
                    mean = gram[0, j]
                    var = gram[j, j] - mean**2
                    with np.errstate(over="ignore"):  # checked below
                        roots[v] = {
                            "mean": np.ldexp(mean, shift[j]) + offset[j - 1],
                            "scale": np.ldexp(np.sqrt(max(var, 0.0)), shift[j]),
                        }
                continue
            pidx = np.concatenate([self._index[p] for p in parents])
            zi = np.concatenate([[0], 1 + pidx])
            yi = 1 + cols
            zz, zy = gram[np.ix_(zi, zi)], gram[np.ix_(zi, yi)]
            yy = np.diag(gram[np.ix_(yi, yi)])
            beta, noise_scale, full_rank = _least_squares(zz, zy, yy, shift[zi], shift[yi])
            with np.errstate(over="ignore", invalid="ignore"):  # checked below
                if full_rank:
                    # v - c_v = b' + B (pa - c_pa): b = b' + c_v - B c_pa.
                    intercept = beta[0] + offset[cols] - offset[pidx] @ beta[1:]
                else:
                    # Not identified: the minimum-norm solution is defined in
                    # the columns' own coordinates, so undo the offsets in the
                    # statistics ([1, x] = [1, x - c] T) and solve there.
                    T = np.eye(len(zi))
                    T[0, 1:] = np.ldexp(offset[pidx], -shift[zi][1:])
                    ty = np.ldexp(offset[cols], -shift[yi])
                    zy_u = T.T @ (zy + np.outer(zz[:, 0], ty))
                    zz_u = T.T @ zz @ T
                    yy_u = yy + 2 * ty * zy[0] + ty**2 * zz[0, 0]
                    beta, noise_scale, _ = _least_squares(zz_u, zy_u, yy_u, shift[zi],
                                                          shift[yi])
                    intercept = beta[0]
            equations[v] = {
                "parents": parents,
                "intercept": intercept,
                "coef": beta[1:].T.copy(),
                "noise_scale": noise_scale,
            }
        _check_finite_fit(equations, roots, peak, self._index, self.design_columns_)
        self.equations_, self.roots_ = equations, roots
        return self

    @classmethod
    def from_coefficients(
        cls,
        graph,
        coefficients,
        *,
        intercepts=None,
        noise_scales=None,
        categories=None,
        root_distributions=None,
    ):
        """Build a model with given (true) coefficients, for simulation.

        Parameters
        ----------
        graph : CausalGraph, iterable of pairs or mapping
            The causal DAG.
        coefficients : dict
            ``{child: {parent: coef}}`` for every edge. For a categorical
            parent, ``coef`` is ``{level: effect}`` relative to the baseline
            (first) level; missing levels have effect 0. For a categorical
            child (listed in ``categories``: a linear probability model, one
            equation per non-baseline level's indicator), ``coef`` is
            ``{child_level: effect}`` (numeric parent) or
            ``{child_level: {parent_level: effect}}`` (categorical parent).
        intercepts : dict, default=None
            ``{child: intercept}``; 0 when absent. For a categorical child,
            ``{child_level: intercept}`` (the probability of that level when
            the parents are 0), uniform when absent.
        noise_scales : dict, default=None
            ``{child: standard deviation of the Gaussian noise}``; 1 when
            absent.
        categories : dict, default=None
            ``{variable: list of levels}`` for categorical variables (roots
            or children); the first level is the baseline.
        root_distributions : dict, default=None
            ``{root: {"mean": m, "scale": s}}`` for numeric roots (default
            standard normal) or ``{root: {"probabilities": p}}`` for
            categorical roots (default uniform).

        Returns
        -------
        scm : LinearSCM
            A model that behaves as if fitted.

        Raises
        ------
        ValueError
            If an edge has no coefficient, or a coefficient names a non-edge.
        """
        graph = _as_graph(graph)
        categories = {k: np.asarray(v, dtype=object) for k, v in (categories or {}).items()}
        intercepts = intercepts or {}
        noise_scales = noise_scales or {}
        root_distributions = root_distributions or {}
        scm = cls(graph)
        scm._setup_from(graph, categories)
        scm.equations_, scm.roots_ = {}, {}
        for v in scm.variables_:
            parents = graph.parents(v)
            if not parents:
                if v in categories:
                    k = len(categories[v])
                    dist = root_distributions.get(v, {"probabilities": np.full(k, 1 / k)})
                    scm.roots_[v] = {"probabilities": np.asarray(dist["probabilities"], float)}
                else:
                    dist = root_distributions.get(v, {"mean": 0.0, "scale": 1.0})
                    scm.roots_[v] = {"mean": float(dist["mean"]), "scale": float(dist["scale"])}
                continue
            given = coefficients.get(v, {})
            extra = set(given) - set(parents)
            if extra:
                raise ValueError(
                    f"coefficients[{v!r}] names {sorted(map(str, extra))!r}, "
                    f"which are not parents of {v!r}."
                )
            missing = [p for p in parents if p not in given]
            if missing:
                raise ValueError(f"coefficients[{v!r}] lacks the parent {missing[0]!r}.")
            # One equation per design column of v: the value of a numeric
            # node, or each non-baseline level's indicator of a categorical
            # one (a linear probability model).
            outputs = list(categories[v][1:]) if v in categories else [None]
            k = len(outputs)
            default_intercept = 1.0 / (k + 1) if v in categories else 0.0
            raw_intercept = intercepts.get(v, default_intercept if v in categories else 0.0)
            # A level key that is not a level is a misspelling, not an effect of 0.
            for p in parents:
                c = given[p]
                if v in categories and isinstance(c, dict):
                    _check_level_keys(c, categories[v], f"coefficients[{v!r}][{p!r}]", v)
                    for per_level in c.values():
                        if p in categories and isinstance(per_level, dict):
                            _check_level_keys(per_level, categories[p],
                                              f"coefficients[{v!r}][{p!r}][...]", p)
                elif p in categories and isinstance(c, dict):
                    _check_level_keys(c, categories[p], f"coefficients[{v!r}][{p!r}]", p)
            if v in categories and isinstance(raw_intercept, dict):
                _check_level_keys(raw_intercept, categories[v], f"intercepts[{v!r}]", v)
            rows = []
            for out in outputs:
                row = []
                for p in parents:
                    c = given[p]
                    if out is not None:
                        if not isinstance(c, dict):
                            raise ValueError(
                                f"coefficients[{v!r}][{p!r}] must be a dict keyed by "
                                f"the levels of the categorical child {v!r}; got {c!r}."
                            )
                        c = c.get(out, {} if p in categories else 0.0)
                    if p in categories:
                        if not isinstance(c, dict):
                            raise ValueError(
                                f"coefficients[{v!r}][{p!r}] must give a dict "
                                f"{{level of {p!r}: effect}} for the categorical parent "
                                f"{p!r}; got {c!r}."
                            )
                        row.extend(float(c.get(lvl, 0.0)) for lvl in categories[p][1:])
                    else:
                        row.append(float(c))
                rows.append(row)
            if v not in categories or not isinstance(raw_intercept, dict):
                intercept = np.full(k, float(raw_intercept))
            else:
                intercept = np.array([float(raw_intercept.get(o, default_intercept))
                                      for o in outputs])
            scale = noise_scales.get(v, 1.0)
            # A one-level categorical child has no design column: a constant.
            width = sum(len(categories[p]) - 1 if p in categories else 1 for p in parents)
            scm.equations_[v] = {
                "parents": parents,
                "intercept": intercept,
                "coef": np.array(rows, dtype=float).reshape(k, width),
                "noise_scale": np.full(k, float(scale)),
            }
        return scm

    # -- encoding ---------------------------------------------------------
    def _setup(self, graph, data):
        categories = {}
        for v in graph.nodes:
            col = data[v]
            if _is_categorical(col):
                if isinstance(col.dtype, pd.CategoricalDtype):
                    levels = [c for c in col.cat.categories if (col == c).any()]
                else:
                    levels = sorted(pd.unique(col), key=str)
                categories[v] = np.asarray(levels, dtype=object)
        self._setup_from(graph, categories)

    def _setup_from(self, graph, categories):
        self.graph_ = graph
        self.variables_ = graph.topological_order()
        self.categories_ = categories
        self.design_columns_ = {}
        self._index = {}
        start = 0
        for v in self.variables_:
            if v in categories:
                names = [f"{v}_{lvl}" for lvl in categories[v][1:]]
            else:
                names = [str(v)]
            self.design_columns_[v] = names
            self._index[v] = np.arange(start, start + len(names))
            start += len(names)
        self._n_design = start

    @staticmethod
    def _check_frame(data, graph, argument="data"):
        if not isinstance(data, pd.DataFrame):
            raise ValueError(
                f"{argument} must be a pandas DataFrame with a column per graph "
                f"node; got {type(data).__name__}."
            )
        graph.check_nodes_in(data.columns, argument=argument)
        _check_unique_columns(data, graph.nodes, argument)
        check_no_date_columns(data, argument, graph.nodes)
        for v in graph.nodes:
            col = data[v]
            if col.isna().any():
                raise ValueError(
                    f"{argument}[{v!r}] has {int(col.isna().sum())} missing "
                    "value(s); impute or drop them before fitting the SCM."
                )
            if not _is_categorical(col) and not np.isfinite(
                col.to_numpy(dtype=float)
            ).all():
                raise ValueError(f"{argument}[{v!r}] has infinite values.")
        return data

    def _encode_column(self, v, values, argument="data"):
        if v in self.categories_:
            levels = self.categories_[v]
            values = np.asarray(values, dtype=object)
            known = np.isin(values, levels)
            if not known.all():
                unseen = sorted({str(x) for x in values[~known]})
                raise ValueError(
                    f"{argument}[{v!r}] has level(s) {unseen!r} unseen when the "
                    f"SCM was fitted; known levels: {[str(x) for x in levels]!r}."
                )
            if len(levels) == 1:
                # A one-level variable is a constant: no design column.
                return np.empty((len(values), 0))
            return np.column_stack([values == lvl for lvl in levels[1:]]).astype(
                float
            ).reshape(len(values), len(levels) - 1)
        return np.asarray(values, dtype=float).reshape(-1, 1)

    def encode(self, data, variables=None):
        """Return the numeric design matrix of ``data``.

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)
            Holds a column for every variable requested.
        variables : list, default=None
            Variables to encode, in the given order; all (topological order)
            by default.

        Returns
        -------
        design : ndarray of shape (n_samples, n_design_columns)
            Numeric columns as they are; categorical ones as baseline-dropped
            indicators (see :meth:`get_design_columns`).
        """
        self._check_fitted()
        variables = self.variables_ if variables is None else list(variables)
        missing = [v for v in variables if v not in data.columns]
        if missing:
            raise ValueError(f"data lacks the SCM variables {missing!r}.")
        _check_unique_columns(data, variables, "data")
        parts = [self._encode_column(v, data[v].to_numpy()) for v in variables]
        return np.hstack(parts) if parts else np.empty((len(data), 0))

    def get_design_columns(self, variables=None):
        """Names of the design columns of ``variables`` (all by default)."""
        self._check_fitted()
        variables = self.variables_ if variables is None else list(variables)
        return [c for v in variables for c in self.design_columns_[v]]

    def design_index(self, variables):
        """Positions of ``variables``' design columns in the full design."""
        self._check_fitted()
        return np.concatenate([self._index[v] for v in variables]).astype(int)

    # -- abduction, counterfactuals --------------------------------------
    def abduct(self, data):
        """Abduct the noise of every non-root node from observed rows.

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)

        Returns
        -------
        noise : pandas.DataFrame of shape (n_samples, n_noise_columns)
            :math:`U_j = V_j - b_j - B_j\\,\\mathrm{pa}(V_j)`, one column per
            design column of each non-root node, indexed like ``data``.
        """
        self._check_frame(data, self.graph_)
        design = self.encode(data)
        return self._abduct_design(design, data.index)

    def _abduct_design(self, design, index=None):
        parts, names = [], []
        for v in self.variables_:
            if v not in self.equations_:
                continue
            eq = self.equations_[v]
            pidx = self.design_index(eq["parents"])
            pred = eq["intercept"] + design[:, pidx] @ eq["coef"].T
            parts.append(design[:, self._index[v]] - pred)
            names.extend(self.design_columns_[v])
        values = np.hstack(parts) if parts else np.empty((design.shape[0], 0))
        return pd.DataFrame(values, columns=names, index=index)

    def _noise_design(self, design):
        """Abducted noise in design coordinates: shape of ``design``, zero in
        the columns of root nodes (which have no equation)."""
        noise = np.zeros_like(design, dtype=float)
        for v, eq in self.equations_.items():
            pidx = self.design_index(eq["parents"])
            pred = eq["intercept"] + design[:, pidx] @ eq["coef"].T
            noise[:, self._index[v]] = design[:, self._index[v]] - pred
        return noise

    def _intervene_design(self, design, intervention, n):
        encoded = {}
        for node, value in intervention.items():
            if node not in self._index:
                raise ValueError(
                    f"intervention names {node!r}, which is not a variable of the "
                    f"SCM; its variables are {self.variables_!r}."
                )
            if np.ndim(value) == 0:
                value = np.repeat(np.asarray([value], dtype=object), n)
            # A list of a categorical node's levels keeps their types (levels
            # [0, "one"] would all become strings).
            value = np.asarray(value, dtype=object if node in self.categories_
                               and not isinstance(value, np.ndarray) else None)
            if value.shape != (n,):
                raise ValueError(
                    f"intervention[{node!r}] must be a scalar or have shape "
                    f"({n},); got shape {value.shape}."
                )
            encoded[node] = self._encode_column(node, value, argument="intervention")
        if not encoded:
            return design.copy()
        coords = np.concatenate([self._index[v] for v in encoded])
        delta = np.hstack([encoded[v] for v in encoded]) - design[:, coords]
        # Every mechanism is linear: the twin is the row plus the change of the
        # intervened coordinates times their total effects, which are found by
        # propagating unit changes (not the rows) through the graph.
        effects = np.zeros((coords.size, self._n_design))
        effects[np.arange(coords.size), coords] = 1.0
        changed = set(encoded)
        for v in self.variables_:
            if v in encoded or v not in self.equations_:
                continue
            eq = self.equations_[v]
            if not any(p in changed for p in eq["parents"]):
                continue
            pidx = self.design_index(eq["parents"])
            effects[:, self._index[v]] = effects[:, pidx] @ eq["coef"].T
            changed.add(v)
        return design + delta @ effects

    def counterfactual_design(self, data, intervention):
        """Counterfactual rows in the design space (exact).

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)
            The observed (factual) rows.
        intervention : dict
            ``{node: value}``; a value is a scalar (the same for every row) or
            an array of shape (n_samples,).

        Returns
        -------
        design : ndarray of shape (n_samples, n_design_columns)
            The counterfactual design: intervened nodes set, descendants
            recomputed with their abducted noise, others unchanged.
        """
        self._check_frame(data, self.graph_)
        design = self.encode(data)
        return self._intervene_design(design, intervention, len(data))

    def counterfactual(self, data, intervention):
        """Counterfactual rows ``data_{do(intervention)}``, as a DataFrame.

        Abduction, action, prediction: each row keeps its own noise.

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)
            The observed (factual) rows; columns that are not SCM variables
            are copied unchanged.
        intervention : dict
            ``{node: value}``; a value is a scalar or an array of shape
            (n_samples,).

        Returns
        -------
        twins : pandas.DataFrame of shape (n_samples, n_columns)
            Same columns and index as ``data``; numeric columns that change
            (the intervened nodes and their descendants) become float64,
            the others keep their dtype. A categorical
            descendant's soft counterfactual is rounded to its most likely
            level, with a ``RoundedCounterfactualWarning``.

        Raises
        ------
        ValueError
            If the intervention names an unknown node or an unseen level.
        """
        new = self.counterfactual_design(data, intervention)
        old = self.encode(data)
        twins = data.copy()
        rounded = []
        for v in self.variables_:
            idx = self._index[v]
            if np.array_equal(new[:, idx], old[:, idx]):
                continue
            if v in self.categories_:
                levels = self.categories_[v]
                soft = new[:, idx]
                full = np.column_stack([1.0 - soft.sum(axis=1), soft])
                values = levels[np.argmax(full, axis=1)]
                if v not in intervention:
                    rounded.append(v)
                if isinstance(twins[v].dtype, pd.CategoricalDtype):
                    twins[v] = pd.Categorical(values, dtype=twins[v].dtype)
                else:
                    twins[v] = values
            else:
                twins[v] = new[:, idx[0]]
        if rounded:
            warnings.warn(
                f"categorical descendants {rounded!r} have soft counterfactuals "
                "under the linear probability model; rounded to their most likely "
                "level. One-hot encode them before fitting to keep twins exact.",
                RoundedCounterfactualWarning,
                stacklevel=2,
            )
        return twins

    def total_effect(self, node, value_from, value_to, variables=None):
        """Change of every design column under ``do(node=value_to)`` against
        ``do(node=value_from)``.

        Because every mechanism is linear with additive noise, this change is
        the same for every unit: a counterfactual twin is the factual row plus
        this vector.

        Parameters
        ----------
        node : hashable
            The intervened variable.
        value_from, value_to : scalar
            Levels (categorical) or values (numeric) of ``node``.
        variables : list, default=None
            Restrict the result to these variables' design columns.

        Returns
        -------
        effect : ndarray of shape (n_design_columns,)
        """
        return self.intervention_effect({node: value_from}, {node: value_to}, variables)

    def intervention_effect(self, values_from, values_to, variables=None):
        """Change of every design column under a joint intervention.

        The change from ``do(values_from)`` to ``do(values_to)``, both dicts
        over the same nodes (for example two sensitive attributes set
        together). It is the same for every unit in a linear additive-noise
        model. Nodes intervened on are held fixed: an effect of one intervened
        node through another is cut, as ``do`` prescribes.

        Parameters
        ----------
        values_from, values_to : dict
            ``{node: level or value}`` with the same keys.
        variables : list, default=None
            Restrict the result to these variables' design columns.

        Returns
        -------
        effect : ndarray of shape (n_design_columns,)

        Raises
        ------
        ValueError
            Different keys, an unknown node, or a level the model does not
            know.
        """
        self._check_fitted()
        if set(values_from) != set(values_to) or not values_from:
            raise ValueError(
                "values_from and values_to must set the same, non-empty set of nodes; "
                f"got {sorted(map(str, values_from))!r} and {sorted(map(str, values_to))!r}."
            )
        base = np.zeros((1, self._n_design))
        for node, value in values_from.items():
            if node not in self._index:
                raise ValueError(f"node {node!r} is not a variable of the SCM.")
            base[:, self._index[node]] = self._encode_column(
                node, np.array([value], dtype=object), argument="value_from"
            )
        target = {node: np.array([value], dtype=object) for node, value in values_to.items()}
        new = self._intervene_design(base, target, 1)
        effect = (new - base)[0]
        if variables is not None:
            effect = effect[self.design_index(list(variables))]
        return effect

    def path_effect(self, path, value_from, value_to):
        """Change of the design transmitted along one directed path.

        The change of ``path[0]`` from ``value_from`` to ``value_to``,
        carried edge by edge along ``path`` only (the product of the edges'
        coefficients; matrices for categorical nodes), reaching the last
        node's design columns (Pearl 2001; Chiappa 2019). In a linear SCM
        the total effect of ``path[0]`` is the sum over every directed path
        from it.

        Parameters
        ----------
        path : sequence of nodes
            A directed path of the graph (at least two nodes). A step may be
            a list of nodes that stand together for one node (the columns a
            node was expanded into); the effect then flows through all of
            them, and a step needs an edge from one member of the previous
            step.
        value_from, value_to : scalar
            Levels (categorical) or values (numeric) of ``path[0]``.

        Returns
        -------
        effect : ndarray of shape (n_design_columns,)
            Zero outside the last step's design columns.

        Raises
        ------
        ValueError
            If ``path`` is not a directed path of the graph, or a level is
            unknown.
        """
        self._check_fitted()
        steps = [list(step) if isinstance(step, (list, set)) else [step] for step in path]
        edges = set(self.graph_.edges)
        if len(steps) < 2 or len(steps[0]) != 1 or any(
                not any((u, v) in edges for u in a for v in b)
                for a, b in zip(steps, steps[1:])):
            raise ValueError(f"{list(path)!r} is not a directed path of the SCM's graph.")
        start = steps[0][0]
        delta = np.zeros(self._n_design)
        delta[self._index[start]] = (
            self._encode_column(start, np.array([value_to], dtype=object), "value_to")
            - self._encode_column(start, np.array([value_from], dtype=object),
                                  "value_from"))[0]
        for carriers, group in zip(steps, steps[1:]):
            carriers = set(carriers)
            new = np.zeros(self._n_design)
            for v in group:
                eq = self.equations_.get(v)
                if eq is None:
                    continue
                position = 0
                for parent in eq["parents"]:
                    width = len(self._index[parent])
                    if parent in carriers:
                        new[self._index[v]] += (eq["coef"][:, position:position + width]
                                                @ delta[self._index[parent]])
                    position += width
            delta = new
        return delta

    def noise_scale(self, node):
        """Scale of a numeric node's exogenous noise: the residual standard
        deviation of its equation, or a root's standard deviation.

        Raises
        ------
        ValueError
            If ``node`` is not a numeric variable of the model.
        """
        self._check_fitted()
        if node not in self._index or node in self.categories_:
            raise ValueError(f"{node!r} is not a numeric variable of the SCM.")
        if node in self.equations_:
            return float(self.equations_[node]["noise_scale"][0])
        return float(self.roots_[node]["scale"])

    def noise_effect(self, nodes):
        """Change of every design column per unit of each node's standardised
        noise.

        Row ``r`` is the change of the whole design when the exogenous noise
        of ``nodes[r]`` grows by one noise scale (:meth:`noise_scale`), its
        causes unchanged and its descendants moved through the structural
        equations (a root's noise is its deviation from the mean). It is the
        same for every unit in a linear additive-noise model: the map from the
        non-sensitive coordinates of the semi-latent space to the features
        used by the causal fair metric of Ehyaei et al. (2024).

        Parameters
        ----------
        nodes : list
            Numeric variables of the model.

        Returns
        -------
        effect : ndarray of shape (len(nodes), n_design_columns)

        Raises
        ------
        ValueError
            If a node is not a numeric variable of the model.

        References
        ----------
        .. [1] A.-R. Ehyaei, K. Mohammadi, A.-H. Karimi, S. Samadi and G.
           Farnadi, "Causal Adversarial Perturbations for Individual Fairness
           and Robustness in Heterogeneous Data Spaces", AAAI 2024.
        """
        nodes = list(nodes)
        scales = np.array([self.noise_scale(v) for v in nodes])
        return scales[:, None] * self.shift_effect(nodes)

    def shift_effect(self, nodes):
        """Change of every design column per unit additive shift of each
        node's mechanism (a soft intervention).

        Row ``r`` is the change of the whole design when ``nodes[r]`` is
        shifted by one unit, ``V := f(pa(V)) + U + 1``: its causes unchanged,
        its descendants moved through the structural equations. Unlike
        ``do(V := v + 1)`` (:meth:`intervention_effect`), a shift keeps the
        node's dependence on its causes, so shifts of several nodes add up
        through each other.

        Parameters
        ----------
        nodes : list
            Numeric variables of the model.

        Returns
        -------
        effect : ndarray of shape (len(nodes), n_design_columns)

        Raises
        ------
        ValueError
            If a node is not a numeric variable of the model.
        """
        self._check_fitted()
        nodes = list(nodes)
        for v in nodes:
            if v not in self._index or v in self.categories_:
                raise ValueError(f"{v!r} is not a numeric variable of the SCM.")
        effect = np.zeros((len(nodes), self._n_design))
        for r, v in enumerate(nodes):
            effect[r, self._index[v][0]] = 1.0
        for v in self.variables_:
            if v not in self.equations_:
                continue
            eq = self.equations_[v]
            pidx = self.design_index(eq["parents"])
            effect[:, self._index[v]] += effect[:, pidx] @ eq["coef"].T
        return effect

    def semi_latent(self, data, sensitive):
        """The semi-latent representation of rows (Ehyaei et al. 2024).

        The sensitive nodes are kept as they are; every numeric node is
        replaced by its exogenous noise in units of its noise scale (a
        root's standardised deviation from its mean); a categorical node
        that is not sensitive keeps its level (it is not perturbed). A row
        and its counterfactual twin under any ``do(sensitive=a')`` have the
        same non-sensitive coordinates.

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)
            A column per node.
        sensitive : hashable or list
            The sensitive node(s).

        Returns
        -------
        latent : pandas.DataFrame of shape (n_samples, n_nodes)
            Columns in the model's topological order, indexed like ``data``.

        Raises
        ------
        ValueError
            An unknown sensitive node, or a frame the model cannot read.
        """
        self._check_fitted()
        sensitive = _as_node_list(sensitive, self._index)
        self._check_frame(data, self.graph_)
        design = self.encode(data)
        noise = self._noise_design(design)
        out = {}
        for v in self.variables_:
            if v in sensitive or v in self.categories_:
                out[v] = data[v].to_numpy()
                continue
            j = self._index[v][0]
            if v in self.equations_:
                value = noise[:, j]
            else:
                value = design[:, j] - self.roots_[v]["mean"]
            scale = self.noise_scale(v)
            out[v] = value / scale if scale > 0 else np.zeros(len(data))
        return pd.DataFrame(out, index=data.index)

    def causal_fair_distance(self, data_a, data_b, sensitive):
        """The causal fair metric between paired rows (Ehyaei et al. 2024).

        The L2 distance between the non-sensitive coordinates of the rows'
        semi-latent representations (:meth:`semi_latent`): 0 between a row
        and its counterfactual twins, ``Delta`` for a row whose standardised
        noise moved by ``Delta``; infinite when a categorical node that is
        not sensitive has another level (a level is not a small change).

        Parameters
        ----------
        data_a, data_b : pandas.DataFrame of shape (n_samples, n_columns)
            Paired rows.
        sensitive : hashable or list
            The sensitive node(s), ignored by the metric.

        Returns
        -------
        distance : ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            Frames of different lengths, an unknown sensitive node, or a
            frame the model cannot read.
        """
        if len(data_a) != len(data_b):
            raise ValueError(f"data_a and data_b must pair rows; got {len(data_a)} "
                             f"and {len(data_b)} rows.")
        sensitive = _as_node_list(sensitive, self._index)
        a = self.semi_latent(data_a, sensitive)
        b = self.semi_latent(data_b, sensitive)
        numeric = [v for v in self.variables_
                   if v not in sensitive and v not in self.categories_]
        diff = a[numeric].to_numpy(dtype=float) - b[numeric].to_numpy(dtype=float)
        distance = np.sqrt(np.sum(diff**2, axis=1))
        for v in self.variables_:
            if v in self.categories_ and v not in sensitive:
                other = (np.asarray(a[v], dtype=object) != np.asarray(b[v], dtype=object))
                distance[other] = np.inf
        return distance

    # -- sampling ---------------------------------------------------------
    def sample(self, n_samples, random_state=None):
        """Draw rows from the model (ancestral sampling).

        Root nodes are drawn from their fitted level frequencies (categorical)
        or from a Gaussian with their mean and standard deviation (numeric);
        noises are independent Gaussians with the residual standard
        deviations. A categorical non-root node draws its level with the
        linear-probability-model probabilities clipped to [0, 1] and
        renormalised.

        Parameters
        ----------
        n_samples : int
            Number of rows, >= 1.
        random_state : int, RandomState instance or None, default=None
            Controls the draws.

        Returns
        -------
        data : pandas.DataFrame of shape (n_samples, n_variables)
            One column per variable, in topological order.
        """
        self._check_fitted()
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        rng = check_random_state(random_state)
        design = np.zeros((n_samples, self._n_design))
        columns = {}
        for v in self.variables_:
            idx = self._index[v]
            if v in self.roots_:
                root = self.roots_[v]
                if v in self.categories_:
                    values = rng.choice(
                        len(self.categories_[v]), size=n_samples, p=root["probabilities"]
                    )
                    values = self.categories_[v][values]
                else:
                    values = rng.normal(root["mean"], root["scale"], size=n_samples)
            else:
                eq = self.equations_[v]
                pidx = self.design_index(eq["parents"])
                mean = eq["intercept"] + design[:, pidx] @ eq["coef"].T
                if v in self.categories_:
                    probs = np.clip(np.column_stack([1 - mean.sum(axis=1), mean]), 0, 1)
                    probs = probs + 1e-12
                    probs /= probs.sum(axis=1, keepdims=True)
                    cum = probs.cumsum(axis=1)
                    draw = (rng.uniform(size=(n_samples, 1)) > cum).sum(axis=1)
                    values = self.categories_[v][np.minimum(draw, probs.shape[1] - 1)]
                else:
                    values = mean[:, 0] + rng.normal(
                        0.0, eq["noise_scale"][0], size=n_samples
                    )
            design[:, idx] = self._encode_column(v, values)
            columns[v] = values
        frame = pd.DataFrame(columns)
        for v, levels in self.categories_.items():
            frame[v] = pd.Categorical(frame[v], categories=levels)
        return frame

    def _check_fitted(self):
        if not hasattr(self, "_index"):
            raise NotFittedError(
                "This LinearSCM is not fitted yet; call fit(data) or build it with "
                "LinearSCM.from_coefficients."
            )

    def __repr__(self):
        return f"LinearSCM(graph={self.graph!r})"

