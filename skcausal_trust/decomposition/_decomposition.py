"""Causal fairness analysis: the total variation of an outcome (or of a
model's predictions) between two groups, decomposed into direct, indirect
and spurious effects (Plecko and Bareinboim 2024)."""

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from ..exceptions import PositivityWarning

__all__ = [
    "CausalFairnessDecomposition",
    "causal_fairness_decomposition",
    "make_direct_effect_scorer",
]

MEASURES = ("TV", "DE", "IE", "SE")

#: Overlap rule of :func:`causal_fairness_decomposition`: a propensity model
#: fails when more than this share of the rows had P(x1 | .) clipped up to
#: ``propensity_clip`` ...
MAX_SHARE_CLIPPED = 0.05
#: ... or when the Kish effective sample size of the x1 group's
#: inverse-propensity weights is below this share of the group's rows.
MIN_ESS_FRACTION = 0.05

# The propensity models, the conditioning sets they use and the measures
# whose estimates weight by them (B = E[y_{x1, W_x0} | x0] uses P(x1 | Z, W)
# and enters DE and IE; C = E[y_x1 | x0] uses P(x1 | Z) and enters IE, SE).
_PROPENSITIES = (("P(x1 | Z)", ("IE", "SE")), ("P(x1 | Z, W)", ("DE", "IE")))


@dataclass
class CausalFairnessDecomposition:
    """Result of :func:`causal_fairness_decomposition`.

    Sign convention (that of the R package ``faircause``): with
    ``TV = E[y | x1] - E[y | x0]``,

    - ``DE = Ctf-DE_{x0,x1}(y | x0) = E[y_{x1, W_{x0}} | x0] - E[y | x0]``,
    - ``IE = Ctf-IE_{x1,x0}(y | x0) = E[y_{x1, W_{x0}} | x0] - E[y_{x1} | x0]``,
    - ``SE = Ctf-SE_{x1,x0}(y) = E[y_{x1} | x0] - E[y | x1]``,

    so that ``TV = DE - IE - SE`` exactly (IE and SE are taken in the
    reverse direction, from x1 to x0).

    Attributes
    ----------
    estimates : dict
        ``{"TV", "DE", "IE", "SE"}`` -> estimate.
    standard_errors : dict
        Influence-function standard errors (bootstrap ones if requested).
    confidence : float
    x0, x1 : object
        The two levels of the protected attribute: ``x0`` is the reference
        group (every counterfactual quantity is "for the x0 group, had they
        been x1"), ``x1`` the comparison group. When they were not given,
        the sorted levels (the category order of a pandas categorical).
        NumPy scalars are returned as the Python ones.
    n_samples : int
    influence : pandas.DataFrame of shape (n_samples, 4)
        Each measure's estimated influence function (mean zero).
    label : str
        What was decomposed ("outcome", or a model's name).
    diagnostics : pandas.DataFrame of shape (2, 9) or None
        Overlap (positivity) diagnostics, one row per propensity model,
        ``"P(x1 | Z)"`` then ``"P(x1 | Z, W)"``, with the columns

        - ``propensity``: the model's name;
        - ``measures``: the measures whose estimates weight by it
          (``"IE, SE"`` and ``"DE, IE"``);
        - ``share_clipped``: share of the rows whose cross-fitted
          propensity ``P(X = x1 | .)`` lay outside ``[propensity_clip,
          1 - propensity_clip]`` and was clipped;
        - ``share_clipped_low``: share of the rows clipped at the lower
          bound (``x1`` (nearly) impossible for them: the failure that
          matters for these estimands, see Notes of
          :func:`causal_fairness_decomposition`);
        - ``min_propensity``: the smallest ``P(X = x1 | .)``, before
          clipping;
        - ``effective_sample_size``: Kish's effective sample size
          ``(sum w) ** 2 / sum w ** 2`` of the inverse-propensity weights
          ``w = (1 - e) / e`` (clipped ``e``) that carry the x1 rows over
          to the x0 group;
        - ``n_weighted``: the x1 rows those weights are on;
        - ``ess_fraction``: ``effective_sample_size / n_weighted``;
        - ``overlap_ok``: False when the rule of
          :func:`causal_fairness_decomposition` flags the model.
    folds : ndarray of shape (n_samples,) of int or None
        The cross-fitting fold of each row, ``0`` to ``n_folds - 1``, in the
        order of the rows of ``influence`` (the rows of ``data`` whose ``X``
        is ``x0`` or ``x1``). The nuisance predictions (outcome regressions
        and propensities) of the rows with ``folds == k`` come from models
        fitted on exactly the rows with ``folds != k``.
    """

    estimates: dict
    standard_errors: dict
    confidence: float
    x0: object
    x1: object
    n_samples: int
    influence: pd.DataFrame = field(repr=False)
    label: str = "outcome"
    diagnostics: pd.DataFrame = field(default=None, repr=False)
    folds: np.ndarray = field(default=None, repr=False)

    @property
    def overlap_ok(self):
        """Measure -> whether the propensity models its estimate weights by
        passed the overlap rule (TV uses none; True without diagnostics).

        Returns
        -------
        overlap_ok : dict
        """
        ok = dict.fromkeys(MEASURES, True)
        if self.diagnostics is not None:
            for _, row in self.diagnostics.iterrows():
                if not row["overlap_ok"]:
                    for m in row["measures"].split(", "):
                        ok[m] = False
        return ok

    def to_frame(self):
        """The measures as a tidy DataFrame.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``measure``, ``estimate``, ``std_error``, ``ci_lower``,
            ``ci_upper``, ``label``, then ``x0``, ``x1`` (the levels
            compared) and ``overlap_ok`` (False for an estimate that weights
            by a propensity model failing the overlap rule; see
            ``diagnostics``); one row per measure (TV, DE, IE, SE).
        """
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        ok = self.overlap_ok
        rows = []
        for m in MEASURES:
            est, se = self.estimates[m], self.standard_errors[m]
            rows.append({"measure": m, "estimate": est, "std_error": se,
                         "ci_lower": est - z * se, "ci_upper": est + z * se,
                         "label": self.label, "x0": self.x0, "x1": self.x1,
                         "overlap_ok": ok[m]})
        return pd.DataFrame(rows)


def _python(level):
    """A NumPy scalar as the Python one (readable in messages and JSON)."""
    return level.item() if isinstance(level, np.generic) else level


def _as_columns(name, value):
    """A role's columns as a list: one column name (a string, or any label
    that is not a collection) is a one-element list, not its characters."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _as_column(name, value):
    """A role of exactly one column (X, Y): a one-element list is accepted."""
    if value is None or isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return value
    cols = list(value)
    if len(cols) != 1:
        raise ValueError(
            f"{name} names one column; got {value!r} ({len(cols)} columns)."
        )
    return cols[0]


def _roles(X, Z, W, Y):
    """The column roles normalised: X and Y one name, Z and W lists."""
    return (_as_column("X", X), _as_columns("Z", Z), _as_columns("W", W),
            _as_column("Y", Y))


def _check_columns(data, X, Z, W, Y):
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
    X, Z, W, Y = _roles(X, Z, W, Y)
    roles = {"X": [X], "Z": Z, "W": W}
    if Y is not None:
        roles["Y"] = [Y]
    seen = {}
    for role, cols in roles.items():
        for c in cols:
            if c in seen:
                raise ValueError(
                    f"column {c!r} is given two roles ({seen[c]} and {role}); each "
                    "column has one role in the standard fairness model."
                )
            seen[c] = role
    missing = [c for c in seen if c not in data.columns]
    if missing:
        raise ValueError(
            f"columns {missing!r} are not in data; its columns are {list(data.columns)!r}."
        )


def _features(frame):
    """Numeric columns as they are; others as pandas categories (for the
    histogram gradient boosting's native categorical support)."""
    out = frame.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype("category")
    return out


def _default_outcome_model(binary, random_state):
    if binary:
        return HistGradientBoostingClassifier(categorical_features="from_dtype",
                                              random_state=random_state)
    return HistGradientBoostingRegressor(categorical_features="from_dtype",
                                         random_state=random_state)


def _predict_outcome(model, frame):
    if is_classifier(model):
        proba = model.predict_proba(frame)
        return proba[:, list(model.classes_).index(1)] if proba.shape[1] > 1 else (
            np.full(len(frame), float(model.classes_[0] == 1)))
    return np.asarray(model.predict(frame), dtype=float)


def _check_values(data, columns, what="data"):
    """Missing and infinite values, naming the columns that hold them."""
    frame = data[columns]
    missing = [c for c in columns if frame[c].isna().any()]
    if missing:
        raise ValueError(
            f"{what} has missing values in the column(s) {missing!r}; impute or drop them.")
    infinite = [c for c in columns if _is_number(frame[c])
                and np.isinf(frame[c].to_numpy(dtype=float)).any()]
    if infinite:
        raise ValueError(
            f"{what} has infinite values in the column(s) {infinite!r}; replace or drop "
            "them.")


def _is_number(series):
    return (pd.api.types.is_numeric_dtype(series)
            and not pd.api.types.is_bool_dtype(series))


def _outcome(data, Y):
    """The outcome column as floats; a non-numeric column is refused by name."""
    col = data[Y]
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=float)
    if isinstance(col.dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(
            col.cat.categories):
        return col.astype(float).to_numpy()
    levels = [_python(v) for v in pd.unique(col.dropna())]
    shown = levels[:5] + (["..."] if len(levels) > 5 else [])
    if len(levels) == 2:
        hint = (f"it has two levels {shown!r}: encode the one to count as 1, e.g. "
                f"data[{Y!r}] = (data[{Y!r}] == {levels[1]!r}).astype(int)")
    else:
        hint = (f"it has {len(levels)} levels {shown!r}; decompose a numeric score or "
                "the 0/1 indicator of one level instead")
    raise ValueError(
        f"the outcome column Y={Y!r} is not numeric (dtype {col.dtype}): the "
        f"decomposition needs a 0/1 or continuous outcome; {hint}."
    )


def _levels(series):
    """The levels present, sorted: by value, by text for mixed types, and in
    category order for a pandas categorical."""
    present = pd.unique(series)
    if isinstance(series.dtype, pd.CategoricalDtype):
        here = set(present)
        return [_python(c) for c in series.cat.categories if c in here]
    present = [_python(v) for v in present]
    try:
        return sorted(present)
    except TypeError:  # mixed types: order by their text
        return sorted(present, key=str)


def _check_n_jobs(n_jobs):
    if n_jobs is not None and (not isinstance(n_jobs, Integral)
                               or isinstance(n_jobs, bool) or n_jobs == 0):
        raise ValueError(
            f"n_jobs must be None or a non-zero integer (-1: all processors); got "
            f"{n_jobs!r}.")


def _cross_fit_outcomes(train, test, xcol, feats, y, binary, outcome_model):
    """The outcome regressions ``E[y | x1, Z]`` and ``E[y | x1, Z, W]`` of
    one fold: fitted on ``train``, predicted on ``test`` with X set to x1.

    Fits run with one BLAS/OpenMP thread: on a loaded machine the default
    gradient boosting spin-waits (80 s instead of 0.7 s measured); parallelism
    is across folds, by joblib.
    """
    out = []
    with threadpool_limits(limits=1):
        for f in feats:
            design = pd.concat([xcol, f], axis=1)
            if binary and len(np.unique(y[train])) < 2:
                mu = np.full(len(test), y[train].mean())
            else:
                model = clone(outcome_model).fit(design.iloc[train], y[train])
                at_x1 = design.iloc[test].copy()
                at_x1["__x1"] = 1.0
                mu = _predict_outcome(model, at_x1)
            out.append(mu)
    return tuple(out)


def _cross_fit_propensities(train, test, feats, i1, propensity_model):
    """The propensities ``P(x1 | Z)`` and ``P(x1 | Z, W)`` of one fold,
    before clipping (one thread, as :func:`_cross_fit_outcomes`)."""
    out = []
    with threadpool_limits(limits=1):
        for f in feats:
            if f.shape[1] == 0:
                e = np.full(len(test), i1[train].mean())
            else:
                prop = clone(propensity_model).fit(f.iloc[train], i1[train])
                proba = prop.predict_proba(f.iloc[test])
                e = np.asarray(proba, dtype=float)[:, list(prop.classes_).index(True)]
            out.append(e)
    return tuple(out)


def _overlap(e_raw, i1, clip):
    """Overlap diagnostics of one propensity model (see the result's
    ``diagnostics``); ``e_raw`` is P(x1 | .) before clipping."""
    e = np.clip(e_raw, clip, 1 - clip)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = ((1 - e) / e)[i1]
        ess = float(w.sum() ** 2 / np.square(w).sum())
    if not np.isfinite(ess):  # a zero propensity on an x1 row (clip = 0)
        ess = 0.0
    n_weighted = int(i1.sum())
    stats_ = {
        "share_clipped": float(np.mean((e_raw < clip) | (e_raw > 1 - clip))),
        "share_clipped_low": float(np.mean(e_raw < clip)),
        "min_propensity": float(np.min(e_raw)),
        "effective_sample_size": ess,
        "n_weighted": n_weighted,
        "ess_fraction": ess / n_weighted,
    }
    stats_["overlap_ok"] = bool(stats_["share_clipped_low"] <= MAX_SHARE_CLIPPED
                                and stats_["ess_fraction"] >= MIN_ESS_FRACTION)
    return stats_


def _warn_overlap(diagnostics, X, x0, x1, clip, label):
    failed = diagnostics[~diagnostics["overlap_ok"]]
    if failed.empty:
        return
    measures = sorted({m for ms in failed["measures"] for m in ms.split(", ")},
                      key=MEASURES.index)
    parts = []
    for _, r in failed.iterrows():
        parts.append(
            f"{r['propensity']} (used by {r['measures']}): {r['share_clipped_low']:.1%} "
            f"of the rows have P(x1 | .) below propensity_clip={clip:g} (clipped up; "
            f"the rule allows at most {MAX_SHARE_CLIPPED:.0%}), {r['share_clipped']:.1%} "
            f"are clipped at either bound, the smallest propensity is "
            f"{r['min_propensity']:.3g}, and the x1 rows' inverse-propensity weights have "
            f"an effective sample size of {r['effective_sample_size']:.1f} of "
            f"{r['n_weighted']} rows ({r['ess_fraction']:.1%}; the rule asks for at least "
            f"{MIN_ESS_FRACTION:.0%})")
    warnings.warn(
        f"overlap (positivity) fails in the decomposition of {label!r} between "
        f"X={X!r} levels x0={x0!r} (reference) and x1={x1!r}: " + "; ".join(parts) + ". "
        "Either the groups barely overlap -- many x0 rows have almost no comparable x1 "
        "rows (a confounder or mediator all but determines X), so their counterfactual x1 "
        "outcomes are extrapolated by the outcome model and a few x1 rows carry most of "
        f"the weight -- or the propensity model is overconfident (a flexible model fitted "
        "on few rows; try a regularised or calibrated propensity_model). Either way the "
        f"estimates of {', '.join(measures)} and their intervals are unreliable (TV is not "
        "affected). Use fewer or coarser confounders/mediators, or restrict the data to "
        "where both levels occur; see result.diagnostics.",
        PositivityWarning, stacklevel=4,
    )


def causal_fairness_decomposition(
    data,
    X,
    Z=(),
    W=(),
    Y=None,
    *,
    y_pred=None,
    x0=None,
    x1=None,
    outcome_model=None,
    propensity_model=None,
    n_folds=5,
    propensity_clip=0.01,
    n_bootstrap=0,
    confidence=0.95,
    label=None,
    n_jobs=None,
    random_state=None,
):
    """Decompose a disparity into direct, indirect and spurious effects.

    In the standard fairness model (SFM) of Plecko and Bareinboim [1]_ --
    protected attribute ``X`` with levels ``x0``, ``x1``, confounders ``Z``,
    mediators ``W``, outcome ``Y`` -- the total variation
    ``TV = E[y | x1] - E[y | x0]`` splits exactly into the x-specific
    counterfactual direct, indirect and spurious effects:
    ``TV = DE - IE - SE`` (see :class:`CausalFairnessDecomposition` for the
    definitions and sign convention). Each is identified under the SFM (no
    unmeasured confounding of X-W, X-Y, W-Y beyond Z) and estimated by the
    one-step (doubly robust) estimator with cross-fitting: outcome
    regressions ``E[Y | X, Z]``, ``E[Y | X, Z, W]`` and propensities
    ``P(X | Z)``, ``P(X | Z, W)`` fitted on the other folds, with standard
    errors from the influence function.

    Pass ``y_pred`` (a fitted model's predictions or scores on ``data``)
    instead of ``Y`` to decompose a model's disparity: comparing it with the
    outcome's tells which paths the model amplified.

    The overlap of the two groups is checked for each propensity model
    (see Notes): the result's ``diagnostics`` report it, and a
    :class:`~skcausal_trust.exceptions.PositivityWarning` names the
    estimates that rest on extrapolation.

    Read more in the :ref:`User Guide <causal_fairness_analysis>`.

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_columns)
    X : str
        The protected attribute's column (a one-element list is accepted).
    Z : str or list of str, default=()
        Confounders (causes of X and of the outcome; e.g. age, race). One
        name is one column (``Z="age"`` is ``Z=["age"]``).
    W : str or list of str, default=()
        Mediators (effects of X that affect the outcome); one name is one
        column.
    Y : str or None, default=None
        The outcome's column: numeric (binary 0/1 or continuous) or
        boolean; not needed with ``y_pred``.
    y_pred : array-like of shape (n_samples,), default=None
        Numeric values to decompose instead of ``data[Y]``.
    x0, x1 : object, default=None
        The two levels of ``X`` to compare: ``x0`` the reference group
        (the counterfactual quantities are about the x0 group), ``x1`` the
        other. If ``X`` has exactly two levels, one may be omitted (it is
        the other level) or both (the sorted levels: ``x0`` the smaller, or
        the first category of a pandas categorical); the result's ``x0`` and
        ``x1`` say which was chosen.
    outcome_model, propensity_model : estimator, default=None
        Nuisance models (any scikit-learn classifier or regressor; cloned per
        fold). Defaults: histogram gradient boosting (classifier for a 0/1
        outcome), with native categorical support.
    n_folds : int, default=5
        Cross-fitting folds (>= 2), stratified on ``X``.
    propensity_clip : float, default=0.01
        Propensities are clipped to ``[clip, 1 - clip]`` (in [0, 0.5)).
    n_bootstrap : int, default=0
        If positive, standard errors from this many bootstrap resamples of
        the cross-fitted scores (nuisances not refitted).
    confidence : float, default=0.95
        Level of the intervals in ``to_frame``.
    label : str or None, default=None
        Name of what is decomposed ("outcome" or "predictions" by default).
    n_jobs : int, default=None
        Number of processes fitting the cross-fitting folds in parallel
        (joblib; each fold fits its four nuisance models). ``None`` means 1
        unless in a :func:`joblib.parallel_backend` context; ``-1`` means
        all processors. Each nuisance fit runs with one BLAS/OpenMP thread
        whatever ``n_jobs`` (see Notes), and the result does not depend on
        ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Folds, default nuisance models and bootstrap.

    Returns
    -------
    result : CausalFairnessDecomposition
        With ``estimates``, ``standard_errors``, ``x0``, ``x1``,
        ``diagnostics``, ``folds`` (each row's cross-fitting fold) and
        :meth:`~CausalFairnessDecomposition.to_frame`.

    Raises
    ------
    ValueError
        ``data`` not a DataFrame, missing columns, a column in two roles,
        ``X`` or ``Y`` naming several columns, a non-numeric outcome
        column, ``X`` with more than two levels and no ``x0``/``x1``,
        ``x0``/``x1`` not levels of ``X`` or equal, a level with fewer rows
        than ``n_folds``, missing or infinite values (naming the columns), or
        a bad ``n_folds``, ``propensity_clip``, ``confidence`` or ``n_jobs``.

    Warns
    -----
    PositivityWarning
        When a propensity model fails the overlap rule (see Notes); the
        message gives its numbers and the estimates that rest on it.

    Notes
    -----
    **Overlap.** The counterfactual quantities are about the x0 group had
    it been x1, so each needs x1 rows comparable to every x0 row: the
    propensity ``e = P(X = x1 | Z)`` (for IE, SE) or ``P(X = x1 | Z, W)``
    (for DE, IE) must stay away from 0. Where it is near 0, the outcome
    model extrapolates to rows that have no x1 counterparts and the x1 rows
    that do resemble them get large inverse-propensity weights
    ``w = (1 - e) / e``. For each propensity model the result's
    ``diagnostics`` report the share of rows whose cross-fitted propensity
    was clipped (at either bound, and at the lower bound), the smallest
    propensity before clipping and Kish's effective sample size
    ``(sum w) ** 2 / sum w ** 2`` of the weights of the x1 rows. The rule:
    a model fails when

    - more than 5% of the rows (``MAX_SHARE_CLIPPED``) had their
      propensity clipped up to ``propensity_clip`` (x1 all but impossible
      for them), or
    - the effective sample size is below 5% (``MIN_ESS_FRACTION``) of the
      x1 rows (a twentieth of them carry the estimate).

    Clipping at the upper bound (x0 all but impossible) is reported but
    does not count: the x0 group is the target, and such rows get a weight
    near 0 either way. A failed model marks the estimates that use it
    (``overlap_ok`` in ``to_frame``; TV uses none) and triggers a
    :class:`~skcausal_trust.exceptions.PositivityWarning`. With
    ``propensity_clip=0`` nothing is clipped and only the effective sample
    size counts. The two rules see different failures: a propensity that
    (nearly) separates the groups is clipped for every row, which makes the
    weights equal (and the effective sample size full), while a few
    extreme weights among moderate ones leave the clipping share small.
    The thresholds are set so that correctly specified propensities on
    well-overlapping data do not trip them: the odds weights are heavy
    tailed and Kish's effective sample size is noisy (on the simulated
    model of the Examples, with the true ``P(x1 | Z, W)`` and 1,000 rows,
    its share of the x1 rows fell below 10% in about 5% of the samples but
    below 7% in fewer than 1%). A flexible propensity model fitted on few
    rows (the default gradient boosting on a few thousand rows) may be
    overconfident and trip them on data that do overlap: the warning then
    says that its own propensities, hence the estimates, are unreliable.

    **Double robustness and intervals.** The estimate of ``C`` (``B``) is
    consistent when either the outcome regression or the propensity given
    ``Z`` (given ``Z, W``) is; its bias is of the order of the product of
    their errors. The rows of each fold get their nuisances from models
    fitted on the other folds only (the result's ``folds``). The standard
    errors, and the intervals of ``to_frame``, are those of the influence
    function with both nuisances consistent. With a misspecified
    propensity model and a correct outcome model they stayed close to
    nominal in simulations. With a misspecified outcome model, the
    variance added by estimating the propensity is left out: on the
    simulated model of ``tests/test_decomposition_guarantees.py`` (a linear
    outcome model missing two interactions, a correctly specified logistic
    propensity, 1,000 to 4,000 rows) the 95% intervals of IE and SE
    covered 0.88 to 0.90 and those of DE 0.98 to 1.0. The bootstrap
    (``n_bootstrap``) does not refit the nuisances and shares this.

    **Speed.** Every nuisance model is fitted and predicts with one
    BLAS/OpenMP thread (``threadpoolctl``): on a loaded machine the
    threads of histogram gradient boosting spin-wait (one fit measured at
    80 s with two threads against 0.7 s with one). Use ``n_jobs`` to fit
    the folds in parallel processes instead.

    References
    ----------
    .. [1] D. Plecko and E. Bareinboim, "Causal Fairness Analysis: A Causal
       Toolkit for Fair Machine Learning", Foundations and Trends in Machine
       Learning, 17(3):304-589, 2024.
    .. [2] E. J. Tchetgen Tchetgen and I. Shpitser, "Semiparametric theory for
       causal mediation analysis", Annals of Statistics, 40(3), 2012.
    .. [3] L. Kish, "Survey Sampling", Wiley, New York, 1965 (effective
       sample size of weighted data).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skcausal_trust.decomposition import causal_fairness_decomposition
    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> z = rng.normal(size=n)
    >>> x = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    >>> w = x + 0.5 * z + rng.normal(size=n)
    >>> y = 1.0 * x + 2.0 * w + z + rng.normal(size=n)
    >>> data = pd.DataFrame({"x": x, "z": z, "w": w, "y": y})

    The mechanisms are linear here, so linear nuisance models are correctly
    specified (the default, gradient boosting, needs no such knowledge):

    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> res = causal_fairness_decomposition(
    ...     data, "x", "z", "w", "y", outcome_model=LinearRegression(),
    ...     propensity_model=LogisticRegression(), random_state=0)
    >>> res.x0, res.x1
    (0, 1)
    >>> est = res.estimates
    >>> bool(abs(est["TV"] - (est["DE"] - est["IE"] - est["SE"])) < 1e-12)
    True
    >>> # True values: DE = 1 (the direct coefficient), IE = 2 * (0 - 1) = -2.
    >>> bool(abs(est["DE"] - 1) < 0.2 and abs(est["IE"] + 2) < 0.2)
    True
    >>> # The groups overlap: no propensity model is flagged.
    >>> res.diagnostics["overlap_ok"].tolist()
    [True, True]
    """
    outcomes = [(None, label or "outcome") if y_pred is None
                else (y_pred, label or "predictions")]
    return _decompose(
        data, X, Z, W, Y, outcomes, x0=x0, x1=x1, outcome_model=outcome_model,
        propensity_model=propensity_model, n_folds=n_folds,
        propensity_clip=propensity_clip, n_bootstrap=n_bootstrap, confidence=confidence,
        n_jobs=n_jobs, random_state=random_state)[0]


def _check_y_pred(y_pred, n):
    y = np.asarray(y_pred)
    if y.shape != (n,):
        raise ValueError(f"y_pred must have shape ({n},); got {y.shape}.")
    try:
        y = y.astype(float)
    except (TypeError, ValueError):
        raise ValueError(
            f"y_pred must be numeric (predictions or scores); got dtype {y.dtype}."
        ) from None
    if not np.isfinite(y).all():
        raise ValueError("y_pred has missing or infinite values.")
    return y


def _decompose(data, X, Z, W, Y, outcomes, *, x0=None, x1=None, outcome_model=None,
               propensity_model=None, n_folds=5, propensity_clip=0.01, n_bootstrap=0,
               confidence=0.95, n_jobs=None, random_state=None):
    """Decompose several outcomes of the same rows, with the same folds.

    ``outcomes`` lists ``(y_pred, label)`` pairs; ``y_pred=None`` stands
    for the column ``Y``. The propensities ``P(x1 | Z)`` and
    ``P(x1 | Z, W)`` do not depend on the outcome: they are cross-fitted
    once and shared, so each result equals that of its own call of
    :func:`causal_fairness_decomposition` with the same integer
    ``random_state`` (the folds, the nuisance models' seed and the
    bootstrap draws are those of a fresh generator).
    """
    _check_columns(data, X, Z, W, Y)
    X, Z, W, Y = _roles(X, Z, W, Y)
    if Y is None and any(p is None for p, _ in outcomes):
        raise ValueError("give the outcome column Y or the values y_pred.")
    columns = [X] + Z + W
    _check_values(data, columns + ([Y] if any(p is None for p, _ in outcomes) else []))
    ys = [(_outcome(data, Y) if p is None else _check_y_pred(p, len(data)), name)
          for p, name in outcomes]
    if not isinstance(n_folds, Integral) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2; got {n_folds!r}.")
    if not 0 <= propensity_clip < 0.5:
        raise ValueError(f"propensity_clip must be in [0, 0.5); got {propensity_clip!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    _check_n_jobs(n_jobs)

    levels = _levels(data[X])
    shown = levels[:10] + (["..."] if len(levels) > 10 else [])
    if x0 is None or x1 is None:
        if len(levels) != 2:
            raise ValueError(
                f"X={X!r} has {len(levels)} levels {shown!r}; pass x0 and x1 to choose "
                "the two to compare."
            )
        if x0 is None and x1 is None:
            x0, x1 = levels
        elif x0 is None:
            x0 = next((v for v in levels if v != x1), None)
        else:
            x1 = next((v for v in levels if v != x0), None)
    for name, level in (("x0", x0), ("x1", x1)):
        if level not in set(levels):
            raise ValueError(
                f"{name}={level!r} is not a level of X={X!r}; its levels are {shown!r}.")
    if x0 == x1:
        raise ValueError(f"x0 and x1 must be two different levels of X={X!r}; both are "
                         f"{x0!r}.")
    x0, x1 = _python(x0), _python(x1)
    keep = data[X].isin([x0, x1]).to_numpy()
    frame = data.loc[keep]
    i1 = (frame[X] == x1).to_numpy()
    i0 = ~i1
    for name, mask in (("x0", i0), ("x1", i1)):
        if mask.sum() < n_folds:
            raise ValueError(
                f"the group X={x0 if name == 'x0' else x1!r} has {int(mask.sum())} rows, "
                f"fewer than n_folds={n_folds}: too few for cross-fitting."
            )
    rng = check_random_state(random_state)
    seed = rng.randint(2**31 - 1)
    # Each outcome's bootstrap draws from the generator as its own call would.
    rng_state = rng.get_state()
    propensity_model = propensity_model or HistGradientBoostingClassifier(
        categorical_features="from_dtype", random_state=seed)

    xcol = pd.Series(i1.astype(float), index=frame.index, name="__x1")
    feats = (_features(frame[Z]), _features(frame[Z + W]))
    n = len(frame)
    splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(
        np.zeros(n), i1))
    fold_of = np.empty(n, dtype=np.intp)
    for k, (_, test) in enumerate(splits):
        fold_of[test] = k
    tasks = [delayed(_cross_fit_propensities)(train, test, feats, i1, propensity_model)
             for train, test in splits]
    models = []
    for y, _ in ys:
        y = y[keep]
        binary = set(np.unique(y)) <= {0.0, 1.0}
        model = outcome_model or _default_outcome_model(binary, seed)
        models.append((y, binary, model))
        tasks += [delayed(_cross_fit_outcomes)(train, test, xcol, feats, y, binary, model)
                  for train, test in splits]
    # joblib returns the tasks in the order given.
    fitted = Parallel(n_jobs=n_jobs)(tasks)
    e_z, e_zw = np.empty(n), np.empty(n)
    for (_, test), (e_a, e_b) in zip(splits, fitted[:n_folds]):
        e_z[test], e_zw[test] = e_a, e_b
    diagnostics = pd.DataFrame([
        {"propensity": name, "measures": ", ".join(ms), **_overlap(e, i1, propensity_clip)}
        for (name, ms), e in zip(_PROPENSITIES, (e_z, e_zw))
    ])
    e_z = np.clip(e_z, propensity_clip, 1 - propensity_clip)
    e_zw = np.clip(e_zw, propensity_clip, 1 - propensity_clip)

    results = []
    for j, ((y, _, _), (_, label)) in enumerate(zip(models, ys)):
        mu_z1, mu_zw1 = np.empty(n), np.empty(n)
        done = fitted[n_folds * (j + 1):n_folds * (j + 2)]
        for (_, test), (mu_a, mu_b) in zip(splits, done):
            mu_z1[test], mu_zw1[test] = mu_a, mu_b
        rng.set_state(rng_state)
        results.append(_one_step(
            y, i0, i1, mu_z1, mu_zw1, e_z, e_zw, frame.index, n_bootstrap, rng, confidence,
            x0, x1, label, diagnostics.copy(), fold_of.copy()))
        _warn_overlap(diagnostics, X, x0, x1, propensity_clip, label)
    return results


def _one_step(y, i0, i1, mu_z1, mu_zw1, e_z, e_zw, index, n_bootstrap, rng, confidence,
              x0, x1, label, diagnostics, folds):
    """The one-step estimates and their standard errors from cross-fitted
    nuisances (clipped propensities)."""
    n = len(y)
    # Scores whose means over the x0 (x1) group are the four quantities.
    g = {
        "A": i0 * y,                                                  # E[y | x0]
        "D": i1 * y,                                                  # E[y | x1]
        "C": i0 * mu_z1 + i1 * (1 - e_z) / e_z * (y - mu_z1),         # E[y_x1 | x0]
        "B": i0 * mu_zw1 + i1 * (1 - e_zw) / e_zw * (y - mu_zw1),     # E[y_{x1,W_x0} | x0]
    }
    p0, p1 = i0.mean(), i1.mean()
    group = {"A": (i0, p0), "B": (i0, p0), "C": (i0, p0), "D": (i1, p1)}
    theta = {k: g[k].sum() / group[k][0].sum() for k in g}
    phi = {k: (g[k] - theta[k] * group[k][0]) / group[k][1] for k in g}
    combos = {"TV": {"D": 1, "A": -1}, "DE": {"B": 1, "A": -1},
              "IE": {"B": 1, "C": -1}, "SE": {"C": 1, "D": -1}}
    estimates = {m: float(sum(s * theta[k] for k, s in c.items())) for m, c in combos.items()}
    influence = pd.DataFrame(
        {m: sum(s * phi[k] for k, s in c.items()) for m, c in combos.items()},
        index=index)
    if n_bootstrap:
        boot = np.empty((n_bootstrap, 4))
        for b in range(n_bootstrap):
            idx = rng.randint(0, n, n)
            th = {k: g[k][idx].sum() / max(group[k][0][idx].sum(), 1) for k in g}
            boot[b] = [sum(s * th[k] for k, s in combos[m].items()) for m in MEASURES]
        ses = dict(zip(MEASURES, boot.std(axis=0, ddof=1)))
    else:
        ses = {m: float(influence[m].std(ddof=1) / np.sqrt(n)) for m in MEASURES}
    return CausalFairnessDecomposition(
        estimates=estimates, standard_errors={m: float(v) for m, v in ses.items()},
        confidence=float(confidence), x0=x0, x1=x1, n_samples=int(n),
        influence=influence, label=label, diagnostics=diagnostics, folds=folds,
    )


def make_direct_effect_scorer(X, Z, W, *, response_method="auto", n_folds=2,
                              absolute=True, **kwargs):
    """Scorer of a model's counterfactual direct effect, for GridSearchCV.

    On each test fold, decomposes the model's predictions (probability of
    the positive class for classifiers) with
    :func:`causal_fairness_decomposition` and returns minus the direct
    effect's magnitude (``absolute=True``, greater is better) or the signed
    estimate. ``X``, ``Z`` and ``W`` name columns of the test fold's ``X``
    (a DataFrame).

    Parameters
    ----------
    X : str
    Z, W : str or list of str
        One name is one column.
    response_method : {"auto", "predict", "predict_proba"}, default="auto"
    n_folds : int, default=2
        Cross-fitting folds within each test fold.
    absolute : bool, default=True
    **kwargs
        Passed to :func:`causal_fairness_decomposition` (e.g.
        ``outcome_model``, ``propensity_model``, ``n_jobs``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None)``.
    """

    X, Z, W, _ = _roles(X, Z, W, None)

    def scorer(estimator, data, y=None):
        if not isinstance(data, pd.DataFrame):
            raise ValueError("the direct-effect scorer needs X as a DataFrame.")
        if response_method == "predict_proba" or (
                response_method == "auto" and hasattr(estimator, "predict_proba")):
            pred = estimator.predict_proba(data)[:, 1]
        else:
            pred = estimator.predict(data)
        res = causal_fairness_decomposition(data, X, Z, W, y_pred=np.asarray(pred, float),
                                            n_folds=n_folds, **kwargs)
        de = res.estimates["DE"]
        return -abs(de) if absolute else de

    return scorer
