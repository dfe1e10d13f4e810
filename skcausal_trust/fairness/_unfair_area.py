"""The unfair area: the share of samples whose decision changes somewhere in
their protected causal perturbation ball (Ehyaei et al., AAAI 2024)."""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy.stats import binomtest
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import UNUSED, _MetadataRequester

from ..causal import LinearSCM
from ..exceptions import UncertifiedEstimateWarning
from ..utils._validation import check_weights
from ._metrics import _Twins

__all__ = ["UnfairAreaResult", "make_unfair_area_scorer", "unfair_area"]

#: Rows (sample times perturbation) the Monte Carlo path sends to the model
#: in one call.
MONTE_CARLO_BATCH = 200_000
#: Rows on which the exact path checks that the decision function is affine
#: in the perturbation.
PROBE_ROWS = 5


@dataclass
class UnfairAreaResult:
    """The outcome of :func:`unfair_area` with ``return_details=True``.

    Attributes
    ----------
    area : float
        The (weighted) share of samples flagged unfair, in [0, 1].
    interval : tuple of float
        ``(area, area)`` for a certificate; for Monte Carlo, the
        Clopper-Pearson interval at ``confidence_level`` for the share of
        samples in which sampling finds a flip (rows drawn at random from a
        population; unweighted).
    method : {"exact", "monte-carlo"}
    n_perturbations : int
        Points sampled per ball (0 for a certificate).
    flags : ndarray of shape (n_samples,)
        Whether each sample's decision changes in its ball (Monte Carlo: a
        change was found).
    sensitivity : float or None
        Exact path: the largest change of the decision function per unit of
        radius (the dual norm of its gradient in the standardised noise).
    """

    area: float
    interval: tuple
    method: str
    n_perturbations: int
    flags: np.ndarray
    sensitivity: float = None


def _perturbed_nodes(scm):
    return [v for v in scm.variables_
            if v not in scm.categories_ and scm.noise_scale(v) > 0]


def unfair_area(estimator, X, *, scm, radius, sensitive_features=None,
                sensitive_feature_ids=None, twins=True, method="auto",
                n_perturbations=100, confidence_level=0.95, random_state=None,
                sample_weight=None, return_details=False):
    """Share of samples whose decision changes in their protected causal
    perturbation ball.

    The ball of a sample :math:`x` with sensitive level :math:`a` is the
    union over every level :math:`a'` (its own included) of the points whose
    non-sensitive exogenous noise is within L2 distance ``radius`` of the
    counterfactual twin :math:`x^{(a')}`'s, each coordinate in units of its
    noise scale (Ehyaei et al. [1]_; their "unfair area"). Numeric nodes of
    ``scm`` move with their noise; categorical nodes keep their level (give
    a binary feature as a 0/1 numeric column to perturb it continuously, as
    the paper's code does). ``radius=0`` is the counterfactual flip rate
    (the share of samples with a twin of another decision); ``twins=False``
    keeps only the ball around the sample itself: the share of samples that
    are not robust to causal perturbations (adversarial vulnerability).

    Exact (certified) for a binary classifier whose decision function is
    affine in the perturbation (a linear model, or a Pipeline of affine and
    one-hot steps ending in one): the decision function over the ball ranges
    over :math:`[\\min_{a'} f(x^{(a')}) - \\Delta\\|g\\|,
    \\max_{a'} f(x^{(a')}) + \\Delta\\|g\\|]`, with :math:`g` its gradient in
    the standardised noise; this is checked on a few rows (the change along
    each noise direction and along random combinations, at the sample and at
    its twins). Any other classifier: Monte Carlo, ``n_perturbations``
    points drawn uniformly in each ball (plus the twins themselves), a lower
    bound of the unfair area.

    Read more in the :ref:`User Guide <robust_fairness>`.

    Parameters
    ----------
    estimator : fitted classifier
        Takes ``X``'s columns (a Pipeline, or an estimator of this package).
    X : {array-like, DataFrame} of shape (n_samples, n_features)
        The samples, raw or encoded columns as the estimator takes them.
    scm : LinearSCM
        A fitted model whose nodes are columns of ``X`` plus the sensitive
        attribute(s) (categorical nodes), as for
        :func:`counterfactual_unfairness`.
    radius : float
        :math:`\\Delta \\ge 0`, in units of the noise scales.
    sensitive_features : array-like of shape (n_samples,) or \
            (n_samples, n_attributes), default=None
        The attribute(s), when not columns of ``X``.
    sensitive_feature_ids : str, int or list of them, default=None
        The column(s) of ``X`` holding the attribute(s).
    twins : bool, default=True
        Include the counterfactual twins' balls (the unfair area); ``False``:
        the ball around the sample only (the non-robust area).
    method : {"auto", "exact", "monte-carlo"}, default="auto"
        ``"auto"``: the certificate when the checks pass, else Monte Carlo
        with an :class:`~skcausal_trust.exceptions.UncertifiedEstimateWarning`.
        ``"exact"`` raises when the model cannot be certified.
    n_perturbations : int, default=100
        Monte Carlo: points drawn per ball.
    confidence_level : float, default=0.95
        Monte Carlo: level of the Clopper-Pearson interval in the details.
    random_state : int, RandomState instance or None, default=None
        Monte Carlo: seeds the sampled points.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the samples in the share (the Monte Carlo interval is for
        unweighted rows and is not given with weights).
    return_details : bool, default=False
        Return an :class:`UnfairAreaResult` instead of the float.

    Returns
    -------
    area : float or UnfairAreaResult
        In [0, 1].

    Raises
    ------
    ValueError
        A negative or infinite radius, a bad ``method``, ``n_perturbations``
        or ``confidence_level``; ``method="exact"`` for a model that is not
        a binary classifier with an affine decision function; and every
        error of :func:`counterfactual_unfairness` (no sensitive attribute, a
        node missing from ``X``, a level ``scm`` never saw...).

    See Also
    --------
    CausallyRobustFairClassifier : Trained on the worst case over the ball.
    counterfactual_unfairness : The twins only.
    make_unfair_area_scorer : The same as a scorer.

    References
    ----------
    .. [1] A.-R. Ehyaei, K. Mohammadi, A.-H. Karimi, S. Samadi and G.
       Farnadi, "Causal Adversarial Perturbations for Individual Fairness and
       Robustness in Heterogeneous Data Spaces", AAAI 2024.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.fairness import unfair_area
    >>> X, y, a, scm = make_counterfactual_classification(500, random_state=0)
    >>> clf = LogisticRegression().fit(X, y)
    >>> area0 = unfair_area(clf, X, scm=scm, radius=0.0, sensitive_features=a)
    >>> area1 = unfair_area(clf, X, scm=scm, radius=0.1, sensitive_features=a)
    >>> bool(area0 <= area1)
    True
    """
    if not isinstance(scm, LinearSCM) or not hasattr(scm, "equations_"):
        raise ValueError("scm must be a fitted LinearSCM.")
    if (not isinstance(radius, Real) or isinstance(radius, bool)
            or not np.isfinite(radius) or radius < 0):
        raise ValueError(f"radius must be a finite number >= 0; got {radius!r}.")
    if method not in ("auto", "exact", "monte-carlo"):
        raise ValueError(
            f"method must be 'auto', 'exact' or 'monte-carlo'; got {method!r}.")
    if (not isinstance(n_perturbations, Integral) or isinstance(n_perturbations, bool)
            or n_perturbations < 1):
        raise ValueError(
            f"n_perturbations must be an integer >= 1; got {n_perturbations!r}.")
    if not isinstance(confidence_level, Real) or not 0 < confidence_level < 1:
        raise ValueError(
            f"confidence_level must be in (0, 1); got {confidence_level!r}.")
    if not hasattr(estimator, "predict") or not hasattr(estimator, "classes_"):
        raise ValueError(f"{type(estimator).__name__} is not a fitted classifier "
                         "(predict and classes_): unfair_area compares decisions.")
    nodes = _perturbed_nodes(scm) if radius > 0 else []
    basis = scm.noise_effect(nodes) if nodes else np.zeros((0, scm._n_design))
    ctx = _Twins(estimator, X, scm, sensitive_features, sensitive_feature_ids,
                 caller="unfair_area", extra=basis)
    weights = check_weights(sample_weight, np.empty((ctx.n, 0)))
    combos = range(len(ctx.combos)) if twins else [None]

    reason = None
    if method != "monte-carlo":
        certified, reason = _certify(estimator, ctx, basis, combos)
        if certified is not None:
            scores, gradient = certified
            norm = float(np.linalg.norm(gradient))
            low = scores.min(axis=1) - radius * norm
            high = scores.max(axis=1) + radius * norm
            positive = scores[:, 0] > 0
            flags = np.where(positive, low <= 0, high > 0)
            area = float(np.dot(weights, flags) / weights.sum())
            if return_details:
                return UnfairAreaResult(area, (area, area), "exact", 0, flags, norm)
            return area
        if method == "exact":
            raise ValueError(f"unfair_area cannot be certified for "
                             f"{type(estimator).__name__}: {reason}. Use "
                             "method='monte-carlo' (a lower bound).")
        warnings.warn(
            f"unfair_area of {type(estimator).__name__} is a Monte Carlo estimate "
            f"({n_perturbations} points per ball; a lower bound): {reason}.",
            UncertifiedEstimateWarning, stacklevel=2,
        )
    flags = _monte_carlo(ctx, basis, combos, radius, n_perturbations,
                         check_random_state(random_state))
    area = float(np.dot(weights, flags) / weights.sum())
    if not return_details:
        return area
    interval = (np.nan, np.nan)
    if sample_weight is None:
        ci = binomtest(int(flags.sum()), ctx.n).proportion_ci(
            confidence_level=confidence_level, method="exact")
        interval = (float(ci.low), float(ci.high))
    return UnfairAreaResult(area, interval, "monte-carlo", int(n_perturbations), flags)


def _certify(estimator, ctx, basis, combos):
    """``((scores, gradient), None)`` when the decision function is affine in
    the perturbation (checked), else ``(None, reason)``. ``scores[:, 0]`` is
    the sample's own; then one column per twin."""
    classes = getattr(estimator, "classes_", None)
    if classes is None or len(classes) != 2:
        return None, "it is not a binary classifier with classes_"
    if not hasattr(estimator, "decision_function"):
        return None, "it has no decision_function"
    rows = np.arange(ctx.n)
    factual_inputs = ctx.factual_inputs()
    try:
        f0 = ctx.respond(factual_inputs, "decision")
    except Exception as exc:  # noqa: BLE001 - a model that cannot take the inputs
        return None, f"its decision_function failed ({type(exc).__name__}: {exc})"
    if f0.ndim != 1:
        return None, "its decision_function is not one score per sample"
    labels = np.asarray(ctx.respond(factual_inputs, "flip"))
    if not np.array_equal(labels, np.asarray(classes)[(f0 > 0).astype(int)]):
        return None, ("its predictions are not classes_[decision_function > 0] "
                      "(another threshold)")
    # An affine score moves by the same amount for every row of a level when
    # the row goes to its twin: measured on a few rows of each level (and
    # checked equal across them), then applied to every row.
    scale = max(1.0, float(np.abs(f0).max()))
    codes = ctx.factual_code
    probes = np.concatenate([np.flatnonzero(codes == j)[:PROBE_ROWS]
                             for j in np.unique(codes)])
    columns = [f0]
    parts = [(probes, ctx.twin_change(probes, k), k) for k in combos if k is not None]
    for _, moved in ctx.respond_many(parts, "decision"):
        shift = np.zeros(len(ctx.combos))
        for j in np.unique(codes[probes]):
            at = codes[probes] == j
            diff = moved[at] - f0[probes][at]
            if not np.allclose(diff, diff[0], rtol=0, atol=1e-7 * scale):
                return None, ("its response to a counterfactual change differs "
                              "between rows")
            shift[j] = diff[0]
        columns.append(f0 + shift[codes])
    scores = np.column_stack(columns)
    if basis.shape[0] == 0:
        return (scores, np.zeros(0)), None
    # The gradient in the standardised noise, on a few rows; then checks that
    # it is the same at every probe row, at their twins, and along random
    # combinations of the directions.
    probe = rows[:PROBE_ROWS]
    m = probe.size
    scale = max(1.0, float(np.abs(scores).max()))
    parts = [(probe, np.repeat(basis[[r]], m, axis=0), None) for r in range(basis.shape[0])]
    unit = [moved - f0[probe] for _, moved in ctx.respond_many(parts, "decision")]
    unit = np.column_stack(unit)  # (m, n_nodes)
    gradient = unit[0]
    if not np.allclose(unit, gradient, rtol=0, atol=1e-7 * scale):
        return None, "its response to a noise direction differs between rows"
    rng = np.random.default_rng(0)
    checks, parts = [], []
    for k in [None] + [k for k in combos if k is not None][:4]:
        delta = rng.normal(size=(m, basis.shape[0]))
        base_change = (np.zeros((m, basis.shape[1])) if k is None
                       else ctx.twin_change(probe, k))
        if k is not None:
            parts.append((probe, base_change, k))
        parts.append((probe, base_change + delta @ basis, k))
        checks.append((k, delta))
    # Every base and moved row in one call of the encoding and the model.
    responses = (moved for _, moved in ctx.respond_many(parts, "decision"))
    for k, delta in checks:
        base = f0[probe] if k is None else next(responses)
        moved = next(responses)
        if not np.allclose(moved - base, delta @ gradient, rtol=0,
                           atol=1e-7 * scale * max(1.0, np.abs(delta).sum(axis=1).max())):
            return None, "its decision function is not affine in the perturbation"
    return (scores, gradient), None


def _uniform_ball(rng, size, dim):
    """``size`` points uniform in the unit L2 ball of dimension ``dim``."""
    direction = rng.standard_normal((size, dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * rng.uniform(size=(size, 1)) ** (1.0 / dim)


def _monte_carlo(ctx, basis, combos, radius, n_perturbations, rng):
    n = ctx.n
    factual = np.asarray(ctx.respond(ctx.factual_inputs(), "flip"))
    flags = np.zeros(n, dtype=bool)
    k_dim = basis.shape[0]
    draws = n_perturbations if k_dim and radius > 0 else 0
    per_row = draws + 1  # the twin (or the sample) itself
    chunk = max(1, MONTE_CARLO_BATCH // per_row)
    for k in combos:
        for start in range(0, n, chunk):
            rows = np.arange(start, min(n, start + chunk))
            base = (np.zeros((rows.size, basis.shape[1])) if k is None
                    else ctx.twin_change(rows, k))
            change = np.repeat(base, per_row, axis=0)
            if draws:
                delta = radius * _uniform_ball(rng, rows.size * draws, k_dim)
                moved = np.ones(rows.size * per_row, dtype=bool)
                moved[::per_row] = False
                change[moved] += delta @ basis
            out = np.asarray(ctx.respond(ctx.inputs(np.repeat(rows, per_row), change, k),
                                         "flip"))
            differs = (out != np.repeat(factual[rows], per_row)).reshape(rows.size,
                                                                         per_row)
            flags[rows] |= differs.any(axis=1)
    return flags


class _UnfairAreaScorer(_MetadataRequester):
    """Scorer: minus the unfair area (greater is better)."""

    __metadata_request__score = {"sensitive_features": True, "estimator": UNUSED}

    def __init__(self, scm, radius, kwargs):
        self.scm = scm
        self.radius = radius
        self.kwargs = kwargs

    def __call__(self, estimator, X, y=None, *, sample_weight=None,
                 sensitive_features=None):
        return self.score(estimator, X, y, sample_weight=sample_weight,
                          sensitive_features=sensitive_features)

    def score(self, estimator, X, y=None, *, sample_weight=None, sensitive_features=None):
        """Minus the unfair area of ``estimator`` on ``X``."""
        return -unfair_area(estimator, X, scm=self.scm, radius=self.radius,
                            sensitive_features=sensitive_features,
                            sample_weight=sample_weight, **self.kwargs)

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"make_unfair_area_scorer(scm={self.scm!r}, radius={self.radius!r}{extra})"


def make_unfair_area_scorer(scm, radius, *, sensitive_feature_ids=None, twins=True,
                            method="auto", n_perturbations=100, random_state=None):
    """Make a scorer of the unfair area for model selection.

    The scorer returns **minus** :func:`unfair_area` (greater is better).

    Parameters
    ----------
    scm : LinearSCM
        A fitted model (the auditor's, shared by every candidate).
    radius : float
        :math:`\\Delta \\ge 0`, in units of the noise scales.
    sensitive_feature_ids : str, int or list of them, default=None
        The column(s) of ``X`` with the attribute(s); without it the scorer
        requests ``sensitive_features`` of the test rows under metadata
        routing.
    twins, method, n_perturbations, random_state
        As in :func:`unfair_area`.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None, sample_weight=None,
        sensitive_features=None)``.

    Raises
    ------
    ValueError
        If ``scm`` is not fitted or ``radius`` is negative or not finite.
    """
    if not isinstance(scm, LinearSCM) or not hasattr(scm, "equations_"):
        raise ValueError("scm must be a fitted LinearSCM.")
    if (not isinstance(radius, Real) or isinstance(radius, bool)
            or not np.isfinite(radius) or radius < 0):
        raise ValueError(f"radius must be a finite number >= 0; got {radius!r}.")
    return _UnfairAreaScorer(scm, radius, {
        "sensitive_feature_ids": sensitive_feature_ids, "twins": twins,
        "method": method, "n_perturbations": n_perturbations,
        "random_state": random_state})
