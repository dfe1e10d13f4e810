"""Counterfactual unfairness of any fitted classifier or regressor under an
SCM, and fairness scorers for model selection."""

import itertools

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import UNUSED, _MetadataRequester

from ..base import SENSITIVE, check_column_labels, resolve_row_attribute
from ..causal import LinearSCM
from ..causal._graph import as_paths
from ..utils._dask import is_dask_collection, reduce_partitions
from ..utils._names import node_of_name
from ..utils._validation import check_weights

__all__ = [
    "counterfactual_unfairness",
    "make_counterfactual_unfairness_scorer",
    "make_group_fairness_scorer",
]

_KINDS = ("auto", "probability", "flip", "prediction")


def _as_frame(X):
    """``X`` as a DataFrame; arrays get integer column names (positions)."""
    if isinstance(X, pd.DataFrame):
        check_column_labels(X)
        return X, True
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional; got shape {X.shape}.")
    return pd.DataFrame(X), False


def _resolve_kind(estimator, kind):
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS!r}; got {kind!r}.")
    regressor, classifier = is_regressor(estimator), is_classifier(estimator)
    name = type(estimator).__name__
    if kind == "auto":
        if regressor:
            return "prediction"
        if classifier:
            return "probability" if hasattr(estimator, "predict_proba") else "flip"
        raise ValueError(
            f"cannot tell whether {name} is a classifier or a regressor (its "
            "scikit-learn tags say neither); pass kind='probability' or 'flip' for a "
            "classifier, kind='prediction' for a regressor."
        )
    if regressor and kind != "prediction":
        raise ValueError(
            f"{name} is a regressor: its counterfactual unfairness is the mean "
            "absolute change of its prediction over the twins, in units of y "
            f"(kind='prediction' or 'auto'); kind={kind!r} compares classes."
        )
    if kind == "prediction" and classifier:
        raise ValueError(
            f"{name} is a classifier: kind='prediction' averages the change of a "
            "real-valued prediction; use kind='probability' (or 'flip')."
        )
    if kind == "probability" and not hasattr(estimator, "predict_proba"):
        raise ValueError(
            f"kind='probability' needs predict_proba, which {name} lacks; use "
            "kind='flip' (the share of decisions that change)."
        )
    return kind


def _set_column(frame, column, values):
    """Assign ``values`` to ``frame[column]`` keeping a categorical dtype
    when every value is one of its categories."""
    current = frame[column]
    if isinstance(current.dtype, pd.CategoricalDtype):
        values = np.asarray(values, dtype=object)
        if np.isin(values, np.asarray(current.cat.categories, dtype=object)).all():
            frame[column] = pd.Categorical(values, dtype=current.dtype)
            return
        frame[column] = current.astype(object)
    frame[column] = values


class _InputSpace:
    """Where a fitted model's input lives, for exact counterfactual twins.

    ``encode(frame)`` maps raw rows (X's columns) to the model's input;
    ``respond(inputs, kind)`` gives the model's output from its input. A
    categorical descendant's counterfactual under a linear SCM is a vector
    of real-valued indicators, not a level: it can be fed to the model only
    after its column is encoded, where it is the same linear combination of
    the levels' encodings.
    """

    def __init__(self, encode, respond, where):
        self.encode = encode
        self.respond = respond
        self.where = where


def _respond(estimator, inputs, kind):
    if kind == "decision":
        return np.asarray(estimator.decision_function(inputs), dtype=float)
    if kind == "probability":
        return np.asarray(estimator.predict_proba(inputs), dtype=float)
    return np.asarray(estimator.predict(inputs))


def _identity_space(estimator, is_frame):
    def encode(frame):
        return frame if is_frame else frame.to_numpy()

    return _InputSpace(encode, lambda inputs, kind: _respond(estimator, inputs, kind),
                       "raw columns")


def _candidate_spaces(estimator, is_frame):
    """Input spaces to try, from the rawest to the last step's input: the
    output of each pipeline step in turn, then the one-hot encoding inside
    an estimator of this package."""
    as_input = (lambda f: f) if is_frame else (lambda f: f.to_numpy())
    final, prefix, where = estimator, None, ""
    if isinstance(estimator, Pipeline):
        steps = estimator.steps
        for k in range(1, len(steps)):
            head, rest = estimator[:k], estimator[k:]
            yield _InputSpace(
                lambda f, head=head: head.transform(as_input(f)),
                lambda z, kind, rest=rest: _respond(rest, z, kind),
                f"the output of pipeline step {k - 1} ({steps[k - 1][0]!r})",
            )
        final = steps[-1][1]
        prefix = estimator[:-1] if len(steps) > 1 else None
        where = " (the last step of the pipeline)"
    inner = getattr(final, "_encoded_input_space", None)
    spaces = inner() if inner is not None else None
    if spaces is not None:
        encode_final, respond_final = spaces
        yield _InputSpace(
            lambda f: encode_final(
                prefix.transform(as_input(f)) if prefix is not None else as_input(f)),
            respond_final,
            f"the one-hot encoding inside {type(final).__name__}{where}",
        )


class _NotEncodedHere(Exception):
    """A candidate step's output still holds a soft node's raw labels."""


def _table(out):
    if isinstance(out, pd.DataFrame):
        return out
    if sparse.issparse(out):
        out = out.toarray()
    return pd.DataFrame(np.asarray(out))


def _float_column(series):
    try:
        return np.asarray(series, dtype=float)
    except (TypeError, ValueError):
        return None


def _probe(space, probe, settings):
    """Encode the probe rows under each setting ``{node: level}`` in one
    call; return the float values (settings, rows, columns), which columns
    are numeric, and the raw values of the others."""
    # The probe rows once per setting, each node's column set in one
    # assignment (a node a setting leaves alone keeps the probe's values).
    moved = pd.concat([probe] * len(settings), ignore_index=True)
    for node in dict.fromkeys(n for setting in settings for n in setting):
        values = np.tile(probe[node].to_numpy(dtype=object), len(settings))
        for k, setting in enumerate(settings):
            if node in setting:
                values[k * len(probe):(k + 1) * len(probe)] = setting[node]
        _set_column(moved, node, values)
    try:
        out = _table(space.encode(moved))
    except Exception as exc:  # noqa: BLE001 - an encoder refusing a level
        nodes = sorted({str(n) for setting in settings for n in setting})
        raise ValueError(
            f"at {space.where}, the model's encoding fails on levels of {nodes} that "
            f"scm knows ({type(exc).__name__}: {exc}). Under a linear SCM a "
            "categorical descendant's counterfactual puts weight on every level: "
            "fit the encoder with handle_unknown='ignore' (a level it never saw "
            "then has no effect of its own), or fit scm on the rows the model saw."
        ) from exc
    shape = (len(settings), len(probe), out.shape[1])
    try:
        values = out.to_numpy(dtype=float)
        numeric = np.ones(out.shape[1], dtype=bool)
    except (TypeError, ValueError):
        values = np.zeros(out.shape)
        numeric = np.zeros(out.shape[1], dtype=bool)
        for j in range(out.shape[1]):
            column = _float_column(out.iloc[:, j])
            if column is not None:
                values[:, j], numeric[j] = column, True
    others = out.loc[:, ~numeric].to_numpy(dtype=object).reshape(shape[:2] + (-1,))
    return values.reshape(shape), numeric, others


def _probe_blocks(space, probe, soft, scm):
    """Per soft node ``v``: the output columns that encode it and the change
    of those columns when ``v`` moves from its first level to each level.

    Raises ``_NotEncodedHere`` when a column that changes with ``v`` is not
    numeric (the step passes the raw labels on), and ``ValueError`` when the
    change depends on the rest of the row (the encoding mixes columns: no
    exact linear extension) or two soft nodes interact.
    """
    blocks = {}
    for v in soft:
        levels = list(scm.categories_[v])
        values, numeric, others = _probe(space, probe, [{v: lvl} for lvl in levels])
        if others.size and np.any(others != others[:1]):
            raise _NotEncodedHere(v)
        delta = values - values[:1]
        changed = np.flatnonzero(numeric & np.any(delta != 0, axis=(0, 1)))
        delta = delta[:, :, changed]
        scale = np.maximum(1.0, np.abs(delta).max(axis=(0, 1), initial=0.0))
        if not np.all(np.abs(delta - delta[:, :1]) <= 1e-9 * scale):
            raise ValueError(
                f"at {space.where}, the encoding of {v!r} depends on the other "
                "columns of the row, so the real-valued counterfactual of this "
                "categorical descendant cannot be encoded exactly. Encode each "
                "categorical column on its own (OneHotEncoder in a "
                "ColumnTransformer) before any step that mixes columns."
            )
        blocks[v] = (list(changed), delta[:, 0, :])
    for i, v in enumerate(soft):
        for w in soft[i + 1:]:
            if set(blocks[v][0]) & set(blocks[w][0]):
                _check_additive(space, probe, v, w, blocks, scm)
    return blocks


#: Level pairs tried per pair of soft nodes whose encodings share columns.
MAX_INTERACTION_PROBES = 12


def _check_additive(space, probe, v, w, blocks, scm):
    """Two soft nodes whose encodings share output columns (a step that
    reads both, such as a residualizer) must act additively there: the
    change from moving both equals the sum of the changes from moving each."""
    lv, lw = list(scm.categories_[v]), list(scm.categories_[w])
    pairs = [(i, j) for i in range(1, len(lv)) for j in range(1, len(lw))]
    pairs = pairs[::max(1, len(pairs) // MAX_INTERACTION_PROBES)]
    settings = [{v: lv[0], w: lw[0]}] + [{v: lv[i], w: lw[j]} for i, j in pairs]
    values, _, _ = _probe(space, probe, settings)
    columns = sorted(set(blocks[v][0]) | set(blocks[w][0]))
    for k, (i, j) in enumerate(pairs, start=1):
        expected = np.zeros(values.shape[2])
        for node, level in ((v, i), (w, j)):
            positions, deltas = blocks[node]
            expected[positions] += deltas[level]
        delta = values[k][:, columns] - values[0][:, columns]
        scale = max(1.0, float(np.abs(delta).max(initial=0.0)))
        if not np.allclose(delta, expected[columns], rtol=0, atol=1e-9 * scale):
            raise ValueError(
                f"at {space.where}, the encodings of {v!r} and {w!r} interact, so "
                "their real-valued counterfactuals cannot be encoded exactly; "
                "encode each categorical column on its own."
            )


def _find_space(estimator, data, columns, is_frame, soft, scm, holders, combos):
    # Probe a few distinct rows under each combination of sensitive levels
    # (at most 16): the twins set the attribute, so an encoding that reads it
    # together with a soft node must show up here.
    base = data[columns].drop_duplicates().iloc[:3]
    in_x = [(j, h) for j, h in enumerate(holders) if h in set(columns)]
    parts = []
    for combo in combos[:16] if in_x else combos[:1]:
        part = base.copy()
        for j, holder in in_x:
            _set_column(part, holder, np.repeat(np.asarray([combo[j]], dtype=object),
                                                len(part)))
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    for space in _candidate_spaces(estimator, is_frame):
        try:
            space.encode(rows)
        except Exception:  # noqa: BLE001 - a prefix that cannot take these rows
            continue
        try:
            return space, _probe_blocks(space, rows, soft, scm)
        except _NotEncodedHere:
            continue
    raise ValueError(
        f"the categorical descendants {soft!r} of the sensitive attribute have "
        "real-valued (linear-probability) counterfactuals under the SCM, which are "
        f"not levels, and {type(estimator).__name__} takes raw columns without an "
        "encoding step this function can see. Put the encoder in a Pipeline before "
        "the model (ColumnTransformer with OneHotEncoder), use an estimator of this "
        "package (they encode raw columns themselves), or fit the SCM on one-hot "
        "columns. Counterfactuals are never rounded to a level."
    )


def _add_soft(inputs, soft, blocks, scm, change):
    """Add each soft node's change of indicators (every level's, the
    baseline's being minus the others'), as the same linear combination of
    its levels' encodings, to the encoded twin rows."""
    table = _table(inputs).copy()
    for v in soft:
        positions, deltas = blocks[v]
        if not positions:
            continue
        idx = scm._index[v]
        indicators = np.column_stack([-change[:, idx].sum(axis=1), change[:, idx]])
        shift = indicators @ deltas
        for i, j in enumerate(positions):
            table.isetitem(j, np.asarray(table.iloc[:, j], dtype=float) + shift[:, i])
    if isinstance(inputs, pd.DataFrame):
        return table
    # Real-valued indicators: never cast back to an integer encoding's dtype.
    object_dtype = not sparse.issparse(inputs) and np.asarray(inputs).dtype == object
    return table.to_numpy(dtype=object if object_dtype else float)


def _sensitive_of_scm(scm, attribute, columns):
    """The SCM's sensitive nodes and their levels, checked."""
    nodes_in = scm.graph_.nodes
    names = attribute.names
    mapped = [None if n is None else node_of_name(n, nodes_in) for n in names]
    if all(m is not None for m in mapped):
        nodes = mapped
    else:
        others = [v for v in nodes_in if v not in set(columns)]
        if attribute.n_attributes == 1 and len(others) == 1:
            nodes = others
        else:
            raise ValueError(
                "cannot tell which node of scm is the sensitive attribute; its name "
                f"is {names!r} and the nodes that are not columns of X are {others!r}."
            )
    levels = []
    for j, node in enumerate(nodes):
        if node not in scm.categories_:
            raise ValueError(
                f"the sensitive attribute {node!r} is a numeric node of scm, which "
                "treats it as a dose (linear in its value) and extrapolates to unseen "
                "values; refit the SCM with the attribute as a categorical column "
                "(pandas 'category' dtype)."
            )
        known = np.asarray(scm.categories_[node], dtype=object)
        values = attribute.column(j)
        unseen = ~np.isin(values, known)
        if unseen.any():
            raise ValueError(
                f"{attribute.argument_of(j)} has value(s) "
                f"{sorted({repr(v) for v in values[unseen]})} never seen when scm was "
                f"fitted; its levels are {[v for v in known]!r}. A counterfactual "
                "to or from them would extrapolate."
            )
        levels.append(known)
    return nodes, levels


def counterfactual_unfairness(
    estimator,
    X,
    *,
    scm,
    sensitive_features=None,
    sensitive_feature_ids=None,
    kind="auto",
    sample_weight=None,
    fair_paths=None,
    unfair_paths=None,
):
    """Counterfactual unfairness of a fitted classifier or regressor.

    For every sample and every other level :math:`a'` of the sensitive
    attribute (every other combination of levels, for several attributes),
    builds the counterfactual twin :math:`x^{(a')}` with ``scm`` (abduction,
    action, prediction) and compares the model's output on the sample and on
    its twin [1]_. For a classifier, ``kind="probability"`` averages the total
    variation distance between the predicted class distributions
    (:math:`|p(x) - p(x^{(a')})|` for binary targets) and ``kind="flip"`` the
    share of pairs whose predicted class changes; for a regressor
    (``kind="prediction"``) it is the mean :math:`|f(x) - f(x^{(a')})|`, in
    units of ``y``. All are 0 for a counterfactually fair model.

    Twins are exact under the SCM: a linear additive-noise model moves
    every row by the total effect of the intervention, whatever the row. A
    categorical descendant of the attribute then has a real-valued ("soft")
    counterfactual indicator vector that is not a level; it is fed to the
    model where its input lives: after the first pipeline step that encodes
    it into numeric columns, or after the one-hot encoding inside this
    package's estimators, as the same linear combination of the levels'
    encodings (real-valued, whatever the encoder's dtype). That step must
    encode each such column on its own: this is checked on a few rows under
    every combination of sensitive levels (at most 16), and an encoding that
    mixes the column with others (a crossed feature, for example) is an
    error. The raw route, a ColumnTransformer route and a pre-encoded route
    (one-hot columns and a graph over them) give the same value. Where no
    such step exists, an error says so: counterfactuals are never rounded.

    Read more in the :ref:`User Guide <your_graph_your_columns>`.

    Parameters
    ----------
    estimator : fitted estimator
        A classifier (``predict``, and ``predict_proba`` for
        ``kind="probability"``) or a regressor, for example a Pipeline. It
        receives ``X``'s columns.
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        The samples, raw columns (strings, categories, numbers) or encoded
        ones, as the estimator takes them. An array's columns are the
        positions 0, 1, ...: the SCM must then name its nodes by position.
        A dask array or dataframe is measured partition by partition (the
        weighted sum of the differences and the weight compared are sums over
        rows), with ``sensitive_features`` and ``sample_weight`` as dask
        collections aligned with it: the same value as in memory.
    scm : LinearSCM
        A fitted model whose nodes are columns of ``X`` plus the sensitive
        attribute(s), each a categorical node; columns of ``X`` outside the
        model are copied to the twins unchanged.
    sensitive_features : array-like of shape (n_samples,) or \
            (n_samples, n_attributes), default=None
        The attribute(s), when not columns of ``X``. A node is the Series'
        name (a DataFrame's column names) if that is a node, else the one node
        that is not a column of ``X``.
    sensitive_feature_ids : str, int or list of them, default=None
        The column(s) of ``X`` holding the attribute(s) (kept in ``X``: the
        estimator sees them, and the twins change them).
    kind : {"auto", "probability", "flip", "prediction"}, default="auto"
        What to average (see above); ``"auto"``: ``"prediction"`` for a
        regressor, ``"probability"`` for a classifier with
        ``predict_proba``, else ``"flip"``.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples.
    fair_paths : list or None, default=None
        Path-specific unfairness (Chiappa 2019): the twins move only along
        the paths that are not listed. A path is a directed path of ``scm``
        from a sensitive node to a feature node (node list or ``"a -> m ->
        x"`` string), or the sensitive node alone (the model reading the
        attribute's column directly). ``None``: every path counts.
    unfair_paths : list or None, default=None
        The complement: the twins move along these paths only.

    Returns
    -------
    unfairness : float
        In [0, 1] for classifiers; in units of ``y`` for regressors.

    Raises
    ------
    ValueError
        If ``scm`` is not fitted; the attribute is missing, given twice, a
        numeric node of ``scm``, or has a value ``scm`` never saw; routed
        ``sensitive_features`` are named like a column of ``X`` that is not
        their node of ``scm`` (the twins would leave that column as it is:
        name it with ``sensitive_feature_ids``); ``kind``
        does not fit the estimator (``"flip"`` for a regressor, or
        ``"probability"`` without ``predict_proba``); ``X`` is an array while
        ``scm`` names its nodes; or a categorical descendant's counterfactual
        cannot be encoded exactly (see above).

    See Also
    --------
    make_counterfactual_unfairness_scorer : The same as a scorer.
    fairlearn.metrics.demographic_parity_difference : A group metric.

    References
    ----------
    .. [1] M. J. Kusner, J. Loftus, C. Russell and R. Silva, "Counterfactual
       Fairness", NeurIPS 2017.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import counterfactual_unfairness
    >>> X, y, a, scm = make_counterfactual_classification(500, random_state=0)
    >>> clf = LogisticRegression().fit(X, y)
    >>> round(counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a), 3)
    0.132
    """
    if not isinstance(scm, LinearSCM) or not hasattr(scm, "equations_"):
        raise ValueError("scm must be a fitted LinearSCM.")
    kind = _resolve_kind(estimator, kind)
    if is_dask_collection(X):
        return _dask_unfairness(estimator, X, scm, sensitive_features,
                                sensitive_feature_ids, kind, sample_weight, fair_paths,
                                unfair_paths)
    total, mass = _unfairness_sums(estimator, X, scm, sensitive_features,
                                   sensitive_feature_ids, kind, sample_weight, fair_paths,
                                   unfair_paths)
    return float(total / mass)


def _dask_unfairness(estimator, X, scm, sensitive_features, sensitive_feature_ids, kind,
                     sample_weight, fair_paths, unfair_paths):
    """:func:`counterfactual_unfairness` of a dask ``X``: the weighted sum of
    the differences and the weight of the compared rows are sums over rows,
    computed partition by partition (the levels compared are the SCM's)."""
    collections = {"X": X}
    for argument, value in (("sensitive_features", sensitive_features),
                            ("sample_weight", sample_weight)):
        if value is not None:
            if not is_dask_collection(value):
                raise ValueError(f"{argument} must be a dask collection aligned with X "
                                 "when X is one.")
            collections[argument] = value
    routed, weighted = sensitive_features is not None, sample_weight is not None

    def sums(part, *others):
        if part.shape[0] == 0:
            return np.zeros(2)
        others = list(others)
        attribute = others.pop(0) if routed else None
        weights = others.pop(0) if weighted else None
        if weights is not None and not np.any(np.asarray(weights, dtype=float) > 0):
            return np.zeros(2)  # nothing to compare in this partition
        return np.array(_unfairness_sums(estimator, part, scm, attribute,
                                         sensitive_feature_ids, kind, weights, fair_paths,
                                         unfair_paths))

    total, mass = reduce_partitions(sums, collections)
    if mass <= 0:
        raise ValueError("X has no rows with positive weight; nothing to measure.")
    return float(total / mass)


def _unfairness_sums(estimator, X, scm, sensitive_features, sensitive_feature_ids, kind,
                     sample_weight, fair_paths, unfair_paths):
    """The weighted sum of the output differences over every row and other
    level, and the weight of those comparisons."""
    twins = _Twins(estimator, X, scm, sensitive_features, sensitive_feature_ids,
                   caller="counterfactual_unfairness", fair_paths=fair_paths,
                   unfair_paths=unfair_paths)
    weights = check_weights(sample_weight, np.empty((twins.n, 0)))
    factual = twins.respond(twins.factual_inputs(), kind)
    total, mass = 0.0, 0.0
    parts = ((rows, twins.twin_change(rows, k), k)
             for k in range(len(twins.combos))
             for rows in [np.flatnonzero(twins.factual_code != k)] if rows.size)
    for rows, out in twins.respond_many(parts, kind):
        if kind == "probability":
            diff = 0.5 * np.abs(out - factual[rows]).sum(axis=1)
        elif kind == "flip":
            diff = (out != factual[rows]).astype(float)
        else:
            diff = np.abs(np.asarray(out, dtype=float).ravel()
                          - np.asarray(factual, dtype=float).ravel()[rows])
        total += np.dot(weights[rows], diff)
        mass += weights[rows].sum()
    return total, mass


def _parse_paths(paths, nodes, argument):
    paths = as_paths(paths, argument)
    for seq in paths or []:
        if not seq or seq[0] not in nodes or (len(seq) > 1 and seq[-1] in nodes):
            raise ValueError(
                f"{argument}: {' -> '.join(map(str, seq))!r} must run from a sensitive "
                f"node {list(nodes)!r} to a feature node (or be the sensitive node "
                "alone: the model reading it directly).")
    return paths


def _path_specific_changes(scm, nodes, combos, changes, fair_paths, unfair_paths):
    """The twins' design changes along the unfair paths only, and whether
    each attribute's direct path (the model reading its column) is unfair."""
    if fair_paths is not None and unfair_paths is not None:
        raise ValueError("give fair_paths or unfair_paths, not both.")
    fair = _parse_paths(fair_paths, nodes, "fair_paths")
    unfair = _parse_paths(unfair_paths, nodes, "unfair_paths")
    chosen = unfair if unfair is not None else fair
    position = {node: j for j, node in enumerate(nodes)}
    out = {}
    for (j, k), total in changes.items():
        along = np.zeros_like(total)
        for path in chosen:
            if len(path) > 1:
                a = position[path[0]]
                along += scm.path_effect(path, combos[j][a], combos[k][a])
        out[(j, k)] = along if unfair is not None else total - along
    singles = {path[0] for path in chosen if len(path) == 1}
    direct = [(node in singles) if unfair is not None else (node not in singles)
              for node in nodes]
    return out, direct


#: Raw cells (rows times X's columns) of twins encoded and sent to the model
#: per call (:meth:`_Twins.respond_many`): 2**21, 16 MB as floats before the
#: encoding (131,072 rows of 16 columns).
TWIN_BATCH_CELLS = 2**21


class _Twins:
    """A fitted model's inputs for its rows moved through a linear SCM.

    Under a linear additive-noise SCM a twin (or a perturbed row) differs
    from its row by a change of the design that does not depend on the
    row: ``inputs(rows, change, combo)`` builds the model's input for the
    rows moved by ``change`` (one design row per row), with the sensitive
    holders set to the combination ``combo`` (``None``: left as they are).
    ``extra`` are further design changes the caller will apply (the causal
    perturbation basis): the nodes they move are prepared as well.
    """

    def __init__(self, estimator, X, scm, sensitive_features, sensitive_feature_ids,
                 *, caller, extra=None, fair_paths=None, unfair_paths=None):
        frame, is_frame = _as_frame(X)
        n = frame.shape[0]
        columns = list(frame.columns)
        attribute, _ = resolve_row_attribute(
            frame if is_frame else X, frame.to_numpy() if not is_frame else frame,
            sensitive_features, sensitive_feature_ids, SENSITIVE,
            names=[str(c) for c in columns] if is_frame else None,
        )
        if attribute is None:
            raise ValueError(
                f"{caller} needs the sensitive attribute: pass "
                "sensitive_features or sensitive_feature_ids."
            )
        nodes, levels = _sensitive_of_scm(scm, attribute, columns)
        feature_nodes = [v for v in scm.graph_.nodes if v not in set(nodes)]
        if not is_frame and any(not isinstance(v, (int, np.integer))
                                for v in feature_nodes):
            raise ValueError(
                "X is an array without column names but scm names its nodes "
                f"({feature_nodes[:5]!r}...); matching them to positions would be a "
                "guess. Pass X as a DataFrame with those columns, or an SCM whose "
                "nodes are column positions."
            )
        data = frame.copy()
        # Where each attribute lives in X (the twins change that column), and
        # its node's column for the SCM.
        if attribute.columns and len(attribute.columns) != attribute.n_attributes:
            raise ValueError(
                f"{attribute.argument} names one-hot columns of the sensitive "
                f"attribute; {caller} sets the attribute to each other level in X, "
                "which it does for a column of labels: pass X with the attribute's "
                "raw column (before the encoder), or route sensitive_features."
            )
        holders = ([columns[j] for j in attribute.columns] if attribute.columns
                   else list(nodes))
        if not attribute.columns:
            for name, node in zip(attribute.names, nodes):
                if name is not None and name in set(columns) and name != node:
                    raise ValueError(
                        f"sensitive_features is named {name!r} like a column of X, but "
                        f"scm's node for it is {node!r}: the twins would set {node!r} "
                        f"and leave X[{name!r}] at its factual value. Pass "
                        f"sensitive_feature_ids={name!r} to have them set that column."
                    )
        for j, node in enumerate(nodes):
            if not attribute.columns or holders[j] != node:
                data[node] = attribute.column(j)
        scm._check_frame(data, scm.graph_, argument="X")

        # Under a linear additive-noise SCM a twin differs from its row by the
        # total effect of the intervention, the same for every row with the
        # same factual levels: no row needs encoding in the SCM's design (a
        # rare level of a feature unseen when the SCM was fitted does not
        # matter).
        combos = list(itertools.product(*levels))
        index = {combo: k for k, combo in enumerate(combos)}
        factual_code = np.fromiter((index[tuple(row)] for row in attribute.values),
                                   dtype=np.intp, count=n)
        present = np.unique(factual_code)
        changes = {
            (j, k): scm.intervention_effect(dict(zip(nodes, combos[j])),
                                            dict(zip(nodes, combos[k])))
            for j in present for k in range(len(combos)) if j != k
        }
        direct = [True] * len(nodes)
        if fair_paths is not None or unfair_paths is not None:
            changes, direct = _path_specific_changes(scm, nodes, combos, changes,
                                                     fair_paths, unfair_paths)
        every = list(changes.values()) + ([] if extra is None else list(extra))
        sensitive_nodes = set(nodes)
        soft = [
            v for v in scm.variables_
            if v in scm.categories_ and v not in sensitive_nodes
            and any(np.any(np.abs(c[scm._index[v]]) > 1e-12) for c in every)
        ]
        moved = [
            v for v in scm.variables_
            if v not in scm.categories_ and v not in sensitive_nodes
            and any(c[scm._index[v][0]] != 0 for c in every)
        ]
        booleans = [v for v in moved
                    if v in data and pd.api.types.is_bool_dtype(data[v].dtype)]
        if booleans:
            raise ValueError(
                f"X's columns {booleans!r} are boolean but scm models them as numeric "
                "descendants of the sensitive attribute, whose counterfactuals are "
                "real numbers (0.6, say), not booleans. Make them categorical "
                "(category or string dtype) in the data scm is fitted on, so that "
                "their twins are exact indicator vectors, or cast them to float in X "
                "for a model that reads them as numbers."
            )
        if soft:
            space, blocks = _find_space(estimator, data, columns, is_frame, soft, scm,
                                        holders, combos)
        else:
            space, blocks = _identity_space(estimator, is_frame), {}
        self.scm, self.n, self.columns, self.data = scm, n, columns, data
        self.nodes, self.holders, self.combos = nodes, holders, combos
        self.factual_code, self.changes = factual_code, changes
        self.soft, self.moved, self.space, self.blocks = soft, moved, space, blocks
        self.direct = direct

    def factual_inputs(self):
        return self.space.encode(self.data[self.columns])

    def twin_change(self, rows, k):
        """Design change of each of ``rows`` when set to combination ``k``
        (zero for rows already there)."""
        table = np.zeros((len(self.combos), self.scm._n_design))
        for (j, target), change in self.changes.items():
            if target == k:
                table[j] = change
        return table[self.factual_code[rows]]

    def _raw(self, rows, change, combo):
        """The raw twin rows, before the model's encoding."""
        raw = self.data.iloc[rows].copy()
        if combo is not None:
            for j, holder in enumerate(self.holders):
                if not self.direct[j]:
                    continue  # the direct path (the model reading the column) is fair
                _set_column(raw, holder, np.repeat(
                    np.asarray([self.combos[combo][j]], dtype=object), len(rows)))
        for v in self.moved:
            raw[v] = raw[v].to_numpy(dtype=float) + change[:, self.scm._index[v][0]]
        return raw

    def _encode(self, raw, change):
        inputs = self.space.encode(raw[self.columns])
        if self.soft:
            inputs = _add_soft(inputs, self.soft, self.blocks, self.scm, change)
        return inputs

    def inputs(self, rows, change, combo=None):
        return self._encode(self._raw(rows, change, combo), change)

    def respond(self, inputs, kind):
        return self.space.respond(inputs, kind)

    def respond_many(self, parts, kind):
        """``(rows, respond(inputs(rows, change, combo), kind))`` for each
        ``(rows, change, combo)`` of the iterable ``parts``, read lazily:
        the raw rows of consecutive parts are stacked and sent through the
        encoding and the model in one call per :data:`TWIN_BATCH_CELLS` raw
        cells (the encoding and the model act row by row, so the outputs are
        the same; the nine other combinations of two attributes of 2 and 5
        levels cost one call, not nine)."""
        budget = max(1, TWIN_BATCH_CELLS // max(1, len(self.columns)))
        batch, rows_in_batch = [], 0
        for part in parts:
            if batch and rows_in_batch + len(part[0]) > budget:
                yield from self._respond_batch(batch, kind)
                batch, rows_in_batch = [], 0
            batch.append(part)
            rows_in_batch += len(part[0])
        if batch:
            yield from self._respond_batch(batch, kind)

    def _respond_batch(self, batch, kind):
        raw = pd.concat([self._raw(*part) for part in batch], ignore_index=True)
        change = np.vstack([part[1] for part in batch])
        out = np.asarray(self.respond(self._encode(raw, change), kind))
        sizes = np.cumsum([len(part[0]) for part in batch])[:-1]
        return zip([part[0] for part in batch], np.split(out, sizes))


class _CounterfactualUnfairnessScorer(_MetadataRequester):
    """Scorer: minus the counterfactual unfairness (greater is better)."""

    # ``estimator`` is the scored model, not metadata.
    __metadata_request__score = {"sensitive_features": True, "estimator": UNUSED}

    def __init__(self, scm, kind, sensitive_feature_ids, fair_paths=None,
                 unfair_paths=None):
        self.scm = scm
        self.kind = kind
        self.sensitive_feature_ids = sensitive_feature_ids
        self.fair_paths = fair_paths
        self.unfair_paths = unfair_paths

    def __call__(self, estimator, X, y=None, *, sample_weight=None,
                 sensitive_features=None):
        return self.score(estimator, X, y, sample_weight=sample_weight,
                          sensitive_features=sensitive_features)

    def score(self, estimator, X, y=None, *, sample_weight=None,
              sensitive_features=None):
        """Minus the counterfactual unfairness of ``estimator`` on ``X``."""
        return -counterfactual_unfairness(
            estimator,
            X,
            scm=self.scm,
            sensitive_features=sensitive_features,
            sensitive_feature_ids=self.sensitive_feature_ids,
            kind=self.kind,
            sample_weight=sample_weight,
            fair_paths=self.fair_paths,
            unfair_paths=self.unfair_paths,
        )

    def __repr__(self):
        paths = "".join(f", {name}={value!r}" for name, value in (
            ("fair_paths", self.fair_paths), ("unfair_paths", self.unfair_paths))
            if value is not None)
        return (
            f"make_counterfactual_unfairness_scorer(scm={self.scm!r}, "
            f"kind={self.kind!r}, sensitive_feature_ids={self.sensitive_feature_ids!r}"
            f"{paths})"
        )


def make_counterfactual_unfairness_scorer(scm, *, kind="auto",
                                          sensitive_feature_ids=None, fair_paths=None,
                                          unfair_paths=None):
    """Make a scorer of counterfactual unfairness for model selection.

    The scorer returns **minus** :func:`counterfactual_unfairness`, so that
    greater is better, as scikit-learn's model selection expects.

    Parameters
    ----------
    scm : LinearSCM
        A fitted model (the auditor's, shared by every candidate).
    kind : {"auto", "probability", "flip", "prediction"}, default="auto"
        See :func:`counterfactual_unfairness` (``"auto"`` picks the kind from
        the scored estimator, so one scorer serves classifiers and
        regressors).
    sensitive_feature_ids : str, int or list of them, default=None
        The column(s) of ``X`` with the attribute(s). Without it, the scorer needs
        ``sensitive_features`` of the test rows, which scikit-learn routes to
        it when metadata routing is enabled (the scorer requests it by
        default).
    fair_paths, unfair_paths : list or None, default=None
        Path-specific unfairness, as in :func:`counterfactual_unfairness`.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None, sample_weight=None,
        sensitive_features=None)``.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import make_counterfactual_unfairness_scorer
    >>> X, y, a, scm = make_counterfactual_classification(300, random_state=0)
    >>> scorer = make_counterfactual_unfairness_scorer(scm)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     cv = cross_validate(LogisticRegression(), X, y, cv=3,
    ...                         scoring={"cf": scorer},
    ...                         params={"sensitive_features": a})
    >>> bool((cv["test_cf"] < 0).all())
    True
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS!r}; got {kind!r}.")
    if not isinstance(scm, LinearSCM) or not hasattr(scm, "equations_"):
        raise ValueError("scm must be a fitted LinearSCM.")
    return _CounterfactualUnfairnessScorer(scm, kind, sensitive_feature_ids, fair_paths,
                                           unfair_paths)


class _GroupFairnessScorer(_MetadataRequester):
    """Scorer: minus a fairlearn group disparity of ``predict`` (greater is
    better)."""

    __metadata_request__score = {"sensitive_features": True, "estimator": UNUSED}

    def __init__(self, metric, sensitive_feature_ids):
        self.metric = metric
        self.sensitive_feature_ids = sensitive_feature_ids

    def __call__(self, estimator, X, y, *, sample_weight=None, sensitive_features=None):
        return self.score(estimator, X, y, sample_weight=sample_weight,
                          sensitive_features=sensitive_features)

    def score(self, estimator, X, y, *, sample_weight=None, sensitive_features=None):
        """Minus the disparity of ``estimator``'s predictions on ``X``."""
        if is_dask_collection(X):
            return self._score_dask(estimator, X, y, sample_weight, sensitive_features)
        frame, is_frame = _as_frame(X)
        attribute, _ = resolve_row_attribute(
            frame if is_frame else X, frame if is_frame else frame.to_numpy(),
            sensitive_features, self.sensitive_feature_ids, SENSITIVE,
            names=[str(c) for c in frame.columns] if is_frame else None,
        )
        if attribute is None:
            raise ValueError(
                "the group fairness scorer needs the sensitive attribute: route "
                "sensitive_features to it or set sensitive_feature_ids."
            )
        # fairlearn intersects several sensitive columns itself.
        sensitive = (attribute.column(0) if attribute.n_attributes == 1
                     else pd.DataFrame(attribute.values,
                                       columns=[str(n) for n in attribute.names]))
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        y_pred = estimator.predict(X)
        return -float(self.metric(y, y_pred, sensitive_features=sensitive, **kwargs))

    def _score_dask(self, estimator, X, y, sample_weight, sensitive_features):
        """On dask rows: the contingency table of labels, predictions
        (``predict`` partition by partition) and levels in one pass, then the
        metric on it with the cells' weights (the value on the rows)."""
        import dask.dataframe as dd

        from ..utils._dask import map_rows
        from ._dask import _as_dask_attribute
        from ._group import group_contingency

        names = ([str(c) for c in X.columns] if isinstance(X, dd.DataFrame)
                 and all(isinstance(c, str) for c in X.columns) else None)
        attribute = _as_dask_attribute(sensitive_features, X, self.sensitive_feature_ids,
                                       names)
        if attribute is None:
            raise ValueError(
                "the group fairness scorer needs the sensitive attribute: route "
                "sensitive_features to it or set sensitive_feature_ids."
            )
        if attribute.columns:  # the column route: X's own columns
            positions = attribute.columns
            if isinstance(X, dd.DataFrame):
                sensitive = (X.iloc[:, positions[0]] if len(positions) == 1
                             else X.iloc[:, positions])
            else:
                sensitive = X[:, positions[0]] if len(positions) == 1 else X[:, positions]
        else:
            sensitive = sensitive_features
        table = group_contingency(y, map_rows(estimator.predict, X, dtype=object),
                                  sensitive, sample_weight=sample_weight)
        levels = table.iloc[:, 2:-1]
        try:
            value = self.metric(table["y_true"], table["y_pred"],
                                sensitive_features=(levels.iloc[:, 0] if levels.shape[1] == 1
                                                    else levels),
                                sample_weight=table["weight"])
        except TypeError as error:
            raise ValueError(
                f"the metric {getattr(self.metric, '__name__', self.metric)!r} is "
                "evaluated on dask rows through their contingency table, with "
                "sample_weight; it must accept sample_weight (fairlearn's metrics do)."
            ) from error
        return -float(value)

    def __repr__(self):
        name = getattr(self.metric, "__name__", repr(self.metric))
        return (f"make_group_fairness_scorer({name}, "
                f"sensitive_feature_ids={self.sensitive_feature_ids!r})")


def make_group_fairness_scorer(metric, *, sensitive_feature_ids=None):
    """Make a scorer from a fairlearn group disparity metric.

    Wraps a function such as
    :func:`fairlearn.metrics.demographic_parity_difference` or
    :func:`fairlearn.metrics.equalized_odds_difference` (signature
    ``metric(y_true, y_pred, *, sensitive_features, sample_weight=None)``)
    into a scorer returning **minus** the disparity of the estimator's
    ``predict``, so that greater is better. On a dask ``X`` (with ``y``, a
    routed ``sensitive_features`` and ``sample_weight`` aligned with it) it
    predicts partition by partition and evaluates the metric on the rows'
    :func:`group_contingency` table with its weights: the value on the
    rows, in one pass (the metric must accept ``sample_weight``).

    Parameters
    ----------
    metric : callable
        The fairlearn metric (0 means no disparity).
    sensitive_feature_ids : str, int or list of them, default=None
        The column(s) of ``X`` with the attribute(s) (several are intersected,
        as fairlearn does). Without it, the scorer needs
        ``sensitive_features`` of the test rows, routed to it under metadata
        routing (requested by default).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=None, sensitive_features=None)``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from fairlearn.metrics import demographic_parity_difference
    >>> from sklearn.dummy import DummyClassifier
    >>> from skcausal_trust.fairness import make_group_fairness_scorer
    >>> X = pd.DataFrame({"s": [0, 0, 1, 1], "x": [1.0, 2.0, 3.0, 4.0]})
    >>> y = np.array([0, 1, 0, 1])
    >>> scorer = make_group_fairness_scorer(demographic_parity_difference,
    ...                                     sensitive_feature_ids="s")
    >>> scorer(DummyClassifier().fit(X, y), X, y)
    -0.0
    """
    if not callable(metric):
        raise ValueError(f"metric must be callable; got {metric!r}.")
    return _GroupFairnessScorer(metric, sensitive_feature_ids)
