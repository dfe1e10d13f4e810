"""Causal bias of generative models: how much of the change of each causal
fairness measure, from the real data to the generated data, each replaced
mechanism is responsible for (Plecko 2026)."""

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ..exceptions import PositivityWarning
from ..utils._validation import keep_state_on_failure
from ._decomposition import (
    MEASURES,
    _check_columns,
    _check_values,
    _python,
    _roles,
    causal_fairness_decomposition,
)

__all__ = [
    "GenerativeBiasDecomposition",
    "StagedSCMSampler",
    "generative_bias_decomposition",
]

#: The stages, in the order in which the generative model takes over the
#: mechanisms of the standard fairness model (after the real data).
STAGES = ("Y", "WY", "all")

# Mechanisms each stage has replaced, and the roles whose real values it keeps.
_REPLACED = {"real": (), "Y": ("Y",), "WY": ("W", "Y"), "all": ("X", "Z", "W", "Y")}
_KEPT = {"real": ("X", "Z", "W", "Y"), "Y": ("X", "Z", "W"), "WY": ("X", "Z"), "all": ()}
_MECHANISM_ORDER = ("X", "Z", "W", "Y")
_SE_METHODS = ("auto", "paired", "independent")


@dataclass
class GenerativeBiasDecomposition:
    """Result of :func:`generative_bias_decomposition`.

    Attributes
    ----------
    measures : pandas.DataFrame of shape (4 * n_stages, 6)
        Columns ``stage`` (``"real"``, then the given stages among ``"Y"``,
        ``"WY"``, ``"all"``), ``measure`` (TV, DE, IE, SE), ``estimate``,
        ``std_error`` (the decomposition's standard error), ``n_samples``
        and ``overlap_ok`` (False when the estimate weights by a propensity
        model that failed the overlap rule of
        :func:`causal_fairness_decomposition` on that stage).
    contributions : pandas.DataFrame of shape (4 * (n_stages - 1), 7)
        Columns ``mechanism`` (the mechanisms replaced between two
        consecutive stages, e.g. ``"Y"``, ``"W"``, ``"X+Z"``; merged, e.g.
        ``"W+Y"``, when a stage is missing), ``measure``, ``contribution``
        (measure at ``to_stage`` minus measure at ``from_stage``), ``std_error``,
        ``from_stage``, ``to_stage`` and ``se_method`` (``"paired"`` or
        ``"independent"``). For every measure the contributions sum to the
        total change, the measure at the last stage minus its value on the
        real data (up to rounding).
    totals : pandas.DataFrame of shape (4, 7)
        The total change of each measure, real data to last stage, with the
        columns of ``contributions`` (``mechanism`` is ``"total"``).
    confidence : float
        Level of the intervals of :meth:`to_frame`.
    x0, x1 : object
        The two levels of the protected attribute compared.
    decompositions : dict
        Stage name -> its :class:`CausalFairnessDecomposition` (with the
        influence functions).
    diagnostics : pandas.DataFrame of shape (2 * n_stages, 10) or None
        The overlap diagnostics of every stage's decomposition (see
        :class:`CausalFairnessDecomposition`), with a first column
        ``stage``.
    """

    measures: pd.DataFrame
    contributions: pd.DataFrame
    totals: pd.DataFrame
    confidence: float
    x0: object
    x1: object
    decompositions: dict = field(repr=False)
    diagnostics: pd.DataFrame = field(default=None, repr=False)

    def to_frame(self):
        """Contributions and totals with confidence intervals, as one table.

        Returns
        -------
        frame : pandas.DataFrame
            The rows of ``contributions`` followed by those of ``totals``
            (``mechanism == "total"``), with the columns ``mechanism``,
            ``measure``, ``contribution``, ``std_error``, ``ci_lower``,
            ``ci_upper``, ``from_stage``, ``to_stage``, ``se_method``. Sum
            the rows whose mechanism is not ``"total"`` to get the totals.
        """
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        frame = pd.concat([self.contributions, self.totals], ignore_index=True)
        frame.insert(4, "ci_lower", frame["contribution"] - z * frame["std_error"])
        frame.insert(5, "ci_upper", frame["contribution"] + z * frame["std_error"])
        return frame


def _mechanism_name(before, after):
    new = set(_REPLACED[after]) - set(_REPLACED[before])
    return "+".join(m for m in _MECHANISM_ORDER if m in new)


def _role_columns(role, X, Z, W, Y):
    return {"X": [X], "Z": list(Z), "W": list(W), "Y": [Y]}[role]


def _aligned(frame_a, frame_b, kept_cols):
    """Whether two stages hold the same real rows: the same index, in the same
    order, and equal values in every column both kept from the real data."""
    if not kept_cols or len(frame_a) != len(frame_b):
        return False
    if not frame_a.index.equals(frame_b.index):
        return False
    return all(
        frame_a[c].reset_index(drop=True).equals(frame_b[c].reset_index(drop=True))
        for c in kept_cols
    )


def _difference(name_a, frame_a, res_a, name_b, frame_b, res_b, roles, se_method):
    """Change of every measure from stage a to stage b, with its standard error."""
    kept = [c for role in _KEPT[name_a] if role in _KEPT[name_b] for c in roles[role]]
    aligned = _aligned(frame_a, frame_b, kept)
    if se_method == "paired" and not aligned:
        raise ValueError(
            f"se_method='paired' needs stages {name_a!r} and {name_b!r} to hold the same "
            "real rows (same index in the same order, equal values in the columns both "
            f"keep from the real data: {kept!r}); they do not. Use se_method='auto' or "
            "'independent'."
        )
    paired = aligned and se_method != "independent"
    rows = []
    for m in MEASURES:
        diff = res_b.estimates[m] - res_a.estimates[m]
        if paired:
            # Same rows, same cross-fitting folds: the difference is
            # asymptotically linear with influence phi_b - phi_a.
            phi = res_b.influence[m].to_numpy() - res_a.influence[m].to_numpy()
            se = float(phi.std(ddof=1) / np.sqrt(len(phi)))
        else:
            se = float(np.hypot(res_a.standard_errors[m], res_b.standard_errors[m]))
        rows.append({
            "mechanism": _mechanism_name(name_a, name_b), "measure": m,
            "contribution": float(diff), "std_error": se, "from_stage": name_a,
            "to_stage": name_b, "se_method": "paired" if paired else "independent",
        })
    return rows


def generative_bias_decomposition(real, stages, X, Z=(), W=(), Y=None, *,
                                  se_method="auto", **decomposition_kwargs):
    """Attribute the change of each causal fairness measure to the mechanisms
    a generative model replaced.

    A generative model of the standard fairness model (protected ``X``,
    confounders ``Z``, mediators ``W``, outcome ``Y``; see
    :func:`causal_fairness_decomposition`) builds its own mechanism for
    every variable [1]_. Sample it in stages that hand over the mechanisms
    one group at a time:

    - ``"Y"``: real ``X``, ``Z``, ``W``; ``Y`` sampled from the model given
      them;
    - ``"WY"``: real ``X``, ``Z``; ``W`` then ``Y`` sampled;
    - ``"all"``: every variable sampled.

    Each stage's TV, DE, IE and SE are estimated with
    :func:`causal_fairness_decomposition`, and the change of each from the
    real data to the last stage telescopes exactly into the contribution of
    each replaced mechanism::

        Y      : measure(Y)   - measure(real)
        W      : measure(WY)  - measure(Y)
        X + Z  : measure(all) - measure(WY)

    If a stage is missing, the two contributions on either side of it merge
    into one (e.g. without ``"Y"``, ``"W+Y"`` = measure(WY) -
    measure(real)); the sum is still the total change. Because ``TV = DE -
    IE - SE`` holds at every stage, the contributions to TV are the
    contributions to DE minus those to IE and SE.

    Standard errors of the contributions (``se_method="auto"``):

    - **paired** when the two stages hold the same real rows -- same index
      in the same order and equal values in the columns both keep from the
      real data (real vs ``"Y"``: X, Z, W; real or ``"Y"`` vs ``"WY"``: X,
      Z) -- as produced by :meth:`StagedSCMSampler.sample_stage`. Both
      decompositions then use the same rows and the same cross-fitting
      folds, and the SE is that of the row-wise difference of the two
      influence functions, ``std(phi_b - phi_a) / sqrt(n)``. Treating them
      as independent would overstate it (the shared rows make the two
      estimates strongly, positively correlated), most for the spurious
      effect, which the kept ``X`` and ``Z`` determine.
    - **independent** otherwise (always for the step to ``"all"``, which
      keeps nothing real): ``sqrt(se_a ** 2 + se_b ** 2)``, which assumes the
      two stages are independent samples. If they are positively correlated
      -- e.g. the ``"all"`` stage of :class:`StagedSCMSampler` bootstraps
      the real ``Z`` rows -- this is conservative.

    Either way the SEs are conditional on the generative model (treated as
    fixed: the uncertainty of its own fit is not included), and the paired
    SE uses the influence functions even if ``n_bootstrap`` is passed.

    Read more in the :ref:`User Guide <causal_fairness_analysis>`.

    Parameters
    ----------
    real : pandas.DataFrame of shape (n_samples, n_columns)
        The real data.
    stages : dict
        Stage name (``"Y"``, ``"WY"`` or ``"all"``; any non-empty subset, in
        any order: they are used in the order ``"Y"``, ``"WY"``, ``"all"``)
        -> pandas.DataFrame of shape (n_stage_samples, n_columns) with the
        columns ``X``, ``Z``, ``W``, ``Y``. A stage may lack columns of
        ``real`` that play no role, but may have no column ``real`` lacks.
    X : str
        The protected attribute's column.
    Z : str or list of str, default=()
        Confounders; one name is one column.
    W : str or list of str, default=()
        Mediators; one name is one column.
    Y : str
        The outcome's column (binary 0/1 or continuous). Required.
    se_method : {"auto", "paired", "independent"}, default="auto"
        How the standard errors of the differences are computed (see above).
        ``"paired"`` raises if two consecutive stages do not hold the same
        real rows. The totals (real data to last stage) use ``"auto"``
        unless ``"independent"`` is asked for.
    **decomposition_kwargs
        Passed to :func:`causal_fairness_decomposition` for every stage
        (e.g. ``outcome_model``, ``propensity_model``, ``n_folds``,
        ``confidence``, ``x0``, ``x1``, ``n_jobs``, ``random_state``). The levels
        ``x0``, ``x1`` are fixed on the real data and reused for every
        stage; an integer seed is drawn once from ``random_state`` so every
        stage uses the same folds. ``y_pred`` and ``label`` are not
        accepted.

    Returns
    -------
    result : GenerativeBiasDecomposition
        With ``measures``, ``contributions``, ``totals`` and
        :meth:`~GenerativeBiasDecomposition.to_frame`.

    Raises
    ------
    ValueError
        ``stages`` empty or not a dict, an unknown stage name, a stage that
        is not a DataFrame, lacks a column of the standard fairness model or
        has a column the real data lacks, ``Y`` not given, columns missing
        from ``real`` or in two roles, an unknown ``se_method``,
        ``se_method="paired"`` with stages that do not share their rows, or
        any error of :func:`causal_fairness_decomposition` on a stage
        (prefixed by the stage's name).
    TypeError
        ``y_pred`` or ``label`` in ``decomposition_kwargs``.

    Warns
    -----
    PositivityWarning
        A stage's decomposition failed the overlap rule of
        :func:`causal_fairness_decomposition` (the message starts with the
        stage's name; ``diagnostics`` has the numbers).

    See Also
    --------
    causal_fairness_decomposition : The decomposition of one data set.
    StagedSCMSampler : A tabular generative model that samples the stages.

    References
    ----------
    .. [1] D. Plecko, "Causal bias detection in generative artificial
       intelligence", preprint, arXiv:2605.11365, 2026.
    .. [2] D. Plecko and E. Bareinboim, "Causal Fairness Analysis: A Causal
       Toolkit for Fair Machine Learning", Foundations and Trends in Machine
       Learning, 17(3):304-589, 2024.

    Examples
    --------
    A "generative model" whose outcome mechanism doubles the direct effect
    of ``x`` (1 -> 2) and is exact otherwise:

    >>> import numpy as np, pandas as pd
    >>> from scipy.special import expit
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from skcausal_trust.decomposition import generative_bias_decomposition
    >>> rng = np.random.default_rng(0)
    >>> def draw_z_x(n):
    ...     z = rng.normal(size=n)
    ...     return z, (rng.uniform(size=n) < expit(z)).astype(int)
    >>> f_w = lambda x, z: x + 0.5 * z + rng.normal(size=len(z))
    >>> f_y = lambda x, z, w: x + 2 * w + z + rng.normal(size=len(z))
    >>> f_y_model = lambda x, z, w: 2 * x + 2 * w + z + rng.normal(size=len(z))
    >>> n = 3000
    >>> z, x = draw_z_x(n); w = f_w(x, z)
    >>> real = pd.DataFrame({"x": x, "z": z, "w": w, "y": f_y(x, z, w)})
    >>> w_model = f_w(x, z)
    >>> z2, x2 = draw_z_x(n); w2 = f_w(x2, z2)
    >>> stages = {
    ...     "Y": real.assign(y=f_y_model(x, z, w)),
    ...     "WY": real.assign(w=w_model, y=f_y_model(x, z, w_model)),
    ...     "all": pd.DataFrame({"x": x2, "z": z2, "w": w2,
    ...                          "y": f_y_model(x2, z2, w2)}),
    ... }
    >>> res = generative_bias_decomposition(
    ...     real, stages, "x", ["z"], ["w"], "y", outcome_model=LinearRegression(),
    ...     propensity_model=LogisticRegression(), random_state=0)
    >>> c = res.contributions.set_index(["mechanism", "measure"])
    >>> list(c.index.get_level_values("mechanism").unique())
    ['Y', 'W', 'X+Z']
    >>> bool(abs(c.loc[("Y", "DE"), "contribution"] - 1) < 0.2)
    True
    >>> list(c["se_method"].unique())
    ['paired', 'independent']
    >>> # The contributions telescope to the total change.
    >>> m = res.measures.set_index(["stage", "measure"])["estimate"]
    >>> total = m["all", "DE"] - m["real", "DE"]
    >>> bool(abs(c.xs("DE", level="measure")["contribution"].sum() - total) < 1e-12)
    True
    """
    if not isinstance(real, pd.DataFrame):
        raise ValueError(f"real must be a pandas DataFrame; got {type(real).__name__}.")
    if Y is None:
        raise ValueError("give the outcome column Y: each stage's outcome is decomposed.")
    _check_columns(real, X, Z, W, Y)
    X, Z, W, Y = _roles(X, Z, W, Y)
    if not isinstance(stages, Mapping) or not stages:
        raise ValueError(
            "stages must be a non-empty dict from stage name ('Y', 'WY', 'all') to "
            f"DataFrame; got {stages!r:.80}."
        )
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(
            f"unknown stage name(s) {unknown!r}; the stages are 'Y' (the model's Y "
            "mechanism), 'WY' (its W and Y mechanisms) and 'all' (every mechanism)."
        )
    if se_method not in _SE_METHODS:
        raise ValueError(f"se_method must be one of {_SE_METHODS!r}; got {se_method!r}.")
    for bad in ("y_pred", "label"):
        if bad in decomposition_kwargs:
            raise TypeError(
                f"{bad!r} is not accepted: each stage's own column Y={Y!r} is decomposed, "
                "under the stage's name."
            )
    roles = {r: _role_columns(r, X, Z, W, Y) for r in _MECHANISM_ORDER}
    needed = [c for r in _MECHANISM_ORDER for c in roles[r]]
    names = [s for s in STAGES if s in stages]
    for s in names:
        frame = stages[s]
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(
                f"stage {s!r} must be a pandas DataFrame; got {type(frame).__name__}.")
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(
                f"stage {s!r} lacks the column(s) {missing!r} of the standard fairness "
                f"model; its columns are {list(frame.columns)!r}."
            )
        extra = [c for c in frame.columns if c not in real.columns]
        if extra:
            raise ValueError(
                f"stage {s!r} has the column(s) {extra!r} that the real data does not "
                "have: a stage must have the real data's columns."
            )

    kwargs = dict(decomposition_kwargs)
    seed = kwargs.pop("random_state", None)
    if not isinstance(seed, Integral):
        seed = int(check_random_state(seed).randint(2**31 - 1))
    kwargs["random_state"] = seed
    confidence = kwargs.get("confidence", 0.95)

    frames = {"real": real, **{s: stages[s] for s in names}}
    results = {}
    for s, frame in frames.items():
        with warnings.catch_warnings(record=True) as caught:
            # Other warnings meet the caller's filters here; a PositivityWarning
            # meets them when it is re-issued below, with the stage's name.
            warnings.simplefilter("always", PositivityWarning)
            try:
                results[s] = causal_fairness_decomposition(frame, X, Z, W, Y, label=s,
                                                           **kwargs)
            except ValueError as err:
                raise ValueError(f"stage {s!r}: {err}") from err
        for w in caught:
            if issubclass(w.category, PositivityWarning):
                # Say which stage the overlap failed on, at the caller's line.
                warnings.warn(f"stage {s!r}: {w.message}", w.category, stacklevel=2)
            else:  # others as they were, where they were raised
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                       source=w.source)
        # Compare the same two levels at every stage.
        kwargs["x0"], kwargs["x1"] = _python(results[s].x0), _python(results[s].x1)

    measures = pd.DataFrame([
        {"stage": s, "measure": m, "estimate": res.estimates[m],
         "std_error": res.standard_errors[m], "n_samples": res.n_samples,
         "overlap_ok": res.overlap_ok[m]}
        for s, res in results.items() for m in MEASURES
    ])
    diagnostics = pd.concat(
        [res.diagnostics.assign(stage=s) for s, res in results.items()], ignore_index=True)
    diagnostics = diagnostics[["stage"] + [c for c in diagnostics if c != "stage"]]
    order = list(frames)
    rows = []
    for a, b in zip(order[:-1], order[1:]):
        rows += _difference(a, frames[a], results[a], b, frames[b], results[b], roles,
                            se_method)
    columns = ["mechanism", "measure", "contribution", "std_error", "from_stage", "to_stage",
               "se_method"]
    contributions = pd.DataFrame(rows, columns=columns)
    totals = pd.DataFrame(
        _difference("real", real, results["real"], order[-1], frames[order[-1]],
                    results[order[-1]], roles,
                    "independent" if se_method == "independent" else "auto"),
        columns=columns)
    totals["mechanism"] = "total"
    return GenerativeBiasDecomposition(
        measures=measures, contributions=contributions, totals=totals,
        confidence=float(confidence), x0=kwargs["x0"], x1=kwargs["x1"],
        decompositions=results, diagnostics=diagnostics,
    )


def _is_discrete(series):
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return True
    return set(pd.unique(series)) <= {0, 1}


class StagedSCMSampler:
    """A tabular generative model of the standard fairness model, sampled in
    stages.

    A nonlinear structural causal model fitted by machine learning, in the
    causal order of the standard fairness model: ``Z`` (joint), ``X | Z``,
    each mediator ``W_j | X, Z, W_1, ..., W_{j-1}`` in the given order, then
    ``Y | X, Z, W``. The mechanisms are

    - ``Z``: the empirical distribution (bootstrap of the real ``Z`` rows,
      kept jointly);
    - ``X``: a classifier of ``X`` on ``Z`` (the empirical distribution of
      ``X`` if there is no ``Z``);
    - a categorical variable (non-numeric, boolean or 0/1 column, or one
      listed in ``categorical``): a classifier, sampled from its predicted
      class probabilities;
    - a numeric variable: additive noise, ``V = f(parents) + U``, ``f`` a
      regressor and ``U`` drawn from its centred (by default out-of-fold)
      residuals, independently of the parents (residual bootstrap).

    :meth:`sample_stage` samples the stages of
    :func:`generative_bias_decomposition`: ``"Y"`` (the model's Y given the
    real X, Z, W), ``"WY"`` (its W then Y given the real X, Z) or ``"all"``.
    It stands in for a generative model to audit, or is one to compare
    with; a deliberately biased model is made by passing a biased estimator
    for a mechanism in ``estimators`` (e.g. a pipeline that drops ``X`` or
    a confounder).

    This is not a scikit-learn estimator (its ``fit`` takes a DataFrame and
    column roles), so it is not in the estimator checks.

    Parameters
    ----------
    classifier : classifier, default=None
        Model of the categorical mechanisms (cloned per mechanism; needs
        ``predict_proba``). Default:
        ``HistGradientBoostingClassifier(categorical_features="from_dtype")``.
    regressor : regressor, default=None
        Model of the numeric mechanisms (cloned per mechanism). Default:
        ``HistGradientBoostingRegressor(categorical_features="from_dtype")``.
    estimators : dict, default=None
        Column name (``X``, a mediator or ``Y``) -> estimator for that
        mechanism only, overriding ``classifier``/``regressor`` (a
        classifier for a categorical column).
    categorical : list of str, default=None
        Numeric mediators or outcome to model as categorical (beyond the
        automatic rule: non-numeric, boolean or 0/1 columns). ``X`` is
        always categorical.
    residual_cv : int or None, default=5
        Folds of the out-of-fold residuals of the numeric mechanisms, so a
        flexible regressor's overfitting does not shrink the noise; ``None``
        uses the in-sample residuals (one fit fewer per fold).

    Attributes
    ----------
    columns_ : list of str
        The columns of the model, in the order of the fitted data.
    mechanisms_ : dict
        Column -> ``{"kind": "classifier" | "regressor" | "constant" |
        "empirical", "parents": list of str, "model": fitted estimator or
        None, "residuals": ndarray or None, "values": ndarray or None}``.
    z_rows_ : pandas.DataFrame of shape (n_samples, n_confounders)
        The real ``Z`` rows that the ``"all"`` stage bootstraps.
    n_samples_ : int
        Rows of the fitted data.

    Notes
    -----
    The model's estimators receive the parents as a DataFrame with their
    original column names (so a :class:`~sklearn.compose.ColumnTransformer`
    can drop some) in which non-numeric columns are pandas categoricals with
    the categories seen in ``fit`` (for the histogram gradient boosting's
    native categorical support; use a one-hot encoding in a pipeline for
    other estimators). Sampled numeric columns are floats; categorical ones
    keep the fitted data's dtype.

    References
    ----------
    .. [1] D. Plecko, "Causal bias detection in generative artificial
       intelligence", preprint, arXiv:2605.11365, 2026.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from scipy.special import expit
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from skcausal_trust.decomposition import StagedSCMSampler
    >>> rng = np.random.default_rng(0)
    >>> n = 2000
    >>> z = rng.normal(size=n); x = (rng.uniform(size=n) < expit(z)).astype(int)
    >>> w = x + 0.5 * z + rng.normal(size=n); y = x + 2 * w + z + rng.normal(size=n)
    >>> real = pd.DataFrame({"x": x, "z": z, "w": w, "y": y})
    >>> sampler = StagedSCMSampler(LogisticRegression(), LinearRegression()).fit(
    ...     real, "x", ["z"], ["w"], "y", random_state=0)
    >>> stage = sampler.sample_stage(real, "WY", random_state=0)
    >>> stage.shape
    (2000, 4)
    >>> bool(stage[["x", "z"]].equals(real[["x", "z"]]))   # X, Z kept
    True
    >>> bool((stage["w"] != real["w"]).all())                # W resampled
    True
    >>> stages = sampler.sample_stages(real, random_state=0)
    >>> sorted(stages)
    ['WY', 'Y', 'all']
    """

    def __init__(self, classifier=None, regressor=None, *, estimators=None,
                 categorical=None, residual_cv=5):
        self.classifier = classifier
        self.regressor = regressor
        self.estimators = estimators
        self.categorical = categorical
        self.residual_cv = residual_cv

    def __repr__(self):
        return (f"{type(self).__name__}(classifier={self.classifier!r}, "
                f"regressor={self.regressor!r}, estimators={self.estimators!r}, "
                f"categorical={self.categorical!r}, residual_cv={self.residual_cv!r})")

    # -- fitting ----------------------------------------------------------------

    def _design(self, frame, parents):
        """The parents as the estimators' input: non-numeric columns as
        categoricals with the categories seen in fit."""
        out = frame[parents].copy()
        for c in parents:
            if c in self._categories:
                out[c] = out[c].astype(pd.CategoricalDtype(self._categories[c]))
        return out

    @keep_state_on_failure
    def fit(self, data, X, Z=(), W=(), Y=None, random_state=None):
        """Fit every mechanism of the standard fairness model.

        The fit is transactional: if it fails, the sampler keeps the state
        it had before (unfitted, or the previous fit).

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)
            The real data (no missing or infinite values in the model's
            columns).
        X : str
            The protected attribute's column.
        Z : str or list of str, default=()
            Confounders; one name is one column.
        W : str or list of str, default=()
            Mediators, in causal order (each may depend on the ones before);
            one name is one column.
        Y : str
            The outcome's column. Required.
        random_state : int, RandomState instance or None, default=None
            Seeds the default estimators and the residual folds.

        Returns
        -------
        self : StagedSCMSampler

        Raises
        ------
        ValueError
            ``Y`` not given, missing columns or a column in two roles,
            missing or infinite values (naming the columns), ``estimators``
            or ``categorical`` naming a column that is not ``X``, a mediator
            or ``Y`` (the ``Z`` rows are bootstrapped), a bad
            ``residual_cv``, or a categorical mechanism whose estimator has
            no ``predict_proba``; or any error of a mechanism's estimator.

        Notes
        -----
        The mechanisms' estimators are fitted with one BLAS/OpenMP thread
        (``threadpoolctl``): on a loaded machine the threads of histogram
        gradient boosting spin-wait.
        """
        if Y is None:
            raise ValueError("give the outcome column Y.")
        _check_columns(data, X, Z, W, Y)
        X, Z, W, Y = _roles(X, Z, W, Y)
        roles = [X] + Z + W + [Y]
        _check_values(data, roles)
        rc = self.residual_cv
        if rc is not None and (not isinstance(rc, Integral) or isinstance(rc, bool)
                               or rc < 2):
            raise ValueError(f"residual_cv must be None or an integer >= 2; got {rc!r}.")
        modelled = [X] + W + [Y]
        estimators = dict(self.estimators or {})
        categorical = list(self.categorical or [])
        for name, cols in (("estimators", list(estimators)), ("categorical", categorical)):
            bad = [c for c in cols if c not in modelled]
            if bad:
                raise ValueError(
                    f"{name} names {bad!r}, which are not X, a mediator or Y "
                    f"({modelled!r}); the confounders Z are sampled by bootstrap of "
                    "the real rows."
                )
        rng = check_random_state(random_state)
        seed = int(rng.randint(2**31 - 1))

        self.X_, self.Z_, self.W_, self.Y_ = X, Z, W, Y
        self.columns_ = [c for c in data.columns if c in set(roles)]
        self._dtypes = {c: data[c].dtype for c in roles}
        self._categories = {}
        for c in roles:
            s = data[c]
            if isinstance(s.dtype, pd.CategoricalDtype):
                self._categories[c] = list(s.cat.categories)
            elif not pd.api.types.is_numeric_dtype(s):
                self._categories[c] = sorted(pd.unique(s), key=str)
        self.z_rows_ = data[Z].reset_index(drop=True).copy()
        self.n_samples_ = len(data)

        self.mechanisms_ = {}
        with threadpool_limits(limits=1):
            if Z:
                self.mechanisms_[X] = self._fit_one(data, X, Z, True, estimators, seed)
            else:
                self.mechanisms_[X] = {"kind": "empirical", "parents": [], "model": None,
                                       "residuals": None, "values": data[X].to_numpy()}
            for j, wj in enumerate(W):
                discrete = wj in categorical or _is_discrete(data[wj])
                self.mechanisms_[wj] = self._fit_one(data, wj, [X] + Z + W[:j], discrete,
                                                     estimators, seed)
            discrete = Y in categorical or _is_discrete(data[Y])
            self.mechanisms_[Y] = self._fit_one(data, Y, [X] + Z + W, discrete,
                                                estimators, seed)
        return self

    def _fit_one(self, data, target, parents, discrete, estimators, seed):
        y = data[target].to_numpy()
        design = self._design(data, parents)
        if discrete:
            classes = pd.unique(data[target])
            if len(classes) == 1:
                return {"kind": "constant", "parents": parents, "model": None,
                        "residuals": None, "values": classes[:1]}
            est = estimators.get(target, self.classifier)
            est = clone(est) if est is not None else HistGradientBoostingClassifier(
                categorical_features="from_dtype", random_state=seed)
            if not hasattr(est, "predict_proba"):
                raise ValueError(
                    f"the mechanism of the categorical column {target!r} is sampled from "
                    f"predicted probabilities; {type(est).__name__} has no predict_proba."
                )
            return {"kind": "classifier", "parents": parents, "model": est.fit(design, y),
                    "residuals": None, "values": None}
        y = y.astype(float)
        est = estimators.get(target, self.regressor)
        est = clone(est) if est is not None else HistGradientBoostingRegressor(
            categorical_features="from_dtype", random_state=seed)
        if is_classifier(est):
            raise ValueError(
                f"the numeric column {target!r} needs a regressor; got the classifier "
                f"{type(est).__name__} (list the column in categorical to model it as "
                "categorical)."
            )
        if self.residual_cv is None:
            model = est.fit(design, y)
            fitted = model.predict(design)
        else:
            folds = KFold(self.residual_cv, shuffle=True, random_state=seed)
            fitted = cross_val_predict(clone(est), design, y, cv=folds)
            model = est.fit(design, y)
        residuals = y - np.asarray(fitted, dtype=float)
        return {"kind": "regressor", "parents": parents, "model": model,
                "residuals": residuals - residuals.mean(), "values": None}

    # -- sampling ---------------------------------------------------------------

    def _draw(self, column, frame, n, rng):
        mech = self.mechanisms_[column]
        kind = mech["kind"]
        if kind == "empirical":
            values = mech["values"][rng.randint(0, len(mech["values"]), n)]
        elif kind == "constant":
            values = np.repeat(mech["values"], n)
        elif kind == "classifier":
            model = mech["model"]
            proba = np.asarray(model.predict_proba(self._design(frame, mech["parents"])))
            u = rng.uniform(size=(n, 1))
            idx = (np.cumsum(proba, axis=1) < u).sum(axis=1)
            values = np.asarray(model.classes_)[np.minimum(idx, proba.shape[1] - 1)]
        else:
            pred = mech["model"].predict(self._design(frame, mech["parents"]))
            res = mech["residuals"]
            return np.asarray(pred, dtype=float) + res[rng.randint(0, len(res), n)]
        return pd.Series(values, index=frame.index).astype(self._dtypes[column])

    def sample_stage(self, data, stage, random_state=None, *, n_samples=None):
        """Sample one stage: the model's mechanisms replace some real ones.

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns) or None
            The real rows whose kept columns the stage reuses: ``X``, ``Z``,
            ``W`` for ``"Y"``; ``X``, ``Z`` for ``"WY"`` (other columns are
            not needed). For ``"all"`` only its number of rows is used, and
            it may be ``None``.
        stage : {"Y", "WY", "all"}
            ``"Y"``: the model's Y given the real X, Z, W; ``"WY"``: its
            mediators (in order) then Y, given the real X, Z; ``"all"``:
            every variable sampled (Z bootstrapped from the fitted data).
        random_state : int, RandomState instance or None, default=None
        n_samples : int, default=None
            Rows of the ``"all"`` stage: ``len(data)``, or the number of
            fitted rows if ``data`` is None. Only for ``"all"``.

        Returns
        -------
        sample : pandas.DataFrame of shape (n_samples, n_model_columns)
            The model's columns (``columns_``, in order). For ``"Y"`` and
            ``"WY"``, the index and the kept columns are those of ``data``
            (so :func:`generative_bias_decomposition` pairs the rows); for
            ``"all"``, a fresh ``RangeIndex``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Called before :meth:`fit`.
        ValueError
            Unknown stage, ``data`` missing a needed column or with missing
            or infinite values in it, ``data=None`` for ``"Y"``/``"WY"``, or
            ``n_samples`` given for ``"Y"``/``"WY"`` or not a positive
            integer.
        """
        if not hasattr(self, "mechanisms_"):
            raise NotFittedError(
                "This StagedSCMSampler is not fitted yet; call fit before sample_stage.")
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; the stages are {STAGES!r}.")
        rng = check_random_state(random_state)
        X, Z, W, Y = self.X_, self.Z_, self.W_, self.Y_
        if stage == "all":
            if n_samples is None:
                n_samples = self.n_samples_ if data is None else len(data)
            if (not isinstance(n_samples, Integral) or isinstance(n_samples, bool)
                    or n_samples < 1):
                raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
            n = int(n_samples)
            rows = rng.randint(0, len(self.z_rows_), n)
            out = self.z_rows_.iloc[rows].reset_index(drop=True)
            out[X] = self._draw(X, out, n, rng)
            to_sample = W + [Y]
        else:
            if n_samples is not None:
                raise ValueError(
                    f"n_samples is only for the 'all' stage; stage {stage!r} has the rows "
                    "of data.")
            if not isinstance(data, pd.DataFrame):
                raise ValueError(
                    f"stage {stage!r} keeps real columns: data must be a pandas DataFrame; "
                    f"got {type(data).__name__}.")
            kept = [X] + Z + (W if stage == "Y" else [])
            missing = [c for c in kept if c not in data.columns]
            if missing:
                raise ValueError(
                    f"stage {stage!r} keeps the real columns {kept!r}; {missing!r} are "
                    f"not in data (its columns are {list(data.columns)!r}).")
            _check_values(data, kept)
            n = len(data)
            out = data[kept].copy()
            to_sample = (W if stage == "WY" else []) + [Y]
        with threadpool_limits(limits=1):
            for c in to_sample:
                out[c] = self._draw(c, out, n, rng)
        return out[self.columns_]

    def sample_stages(self, data, stages=STAGES, random_state=None):
        """Sample several stages, for :func:`generative_bias_decomposition`.

        Parameters
        ----------
        data : pandas.DataFrame of shape (n_samples, n_columns)
            The real rows (see :meth:`sample_stage`).
        stages : sequence of {"Y", "WY", "all"}, default=("Y", "WY", "all")
        random_state : int, RandomState instance or None, default=None
            One independent seed per stage is drawn from it.

        Returns
        -------
        stages : dict
            Stage name -> its sample (``len(data)`` rows each).
        """
        rng = check_random_state(random_state)
        return {s: self.sample_stage(data, s, random_state=int(rng.randint(2**31 - 1)))
                for s in stages}
