"""Causal fairness analysis: the total variation of an outcome (or of a
model's predictions) between two groups, decomposed into direct, indirect
and spurious effects (Plecko and Bareinboim 2024)."""

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state

__all__ = [
    "CausalFairnessDecomposition",
    "FairnessDecompositionDisplay",
    "causal_fairness_decomposition",
    "make_direct_effect_scorer",
]

MEASURES = ("TV", "DE", "IE", "SE")


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
        The two levels of the protected attribute.
    n_samples : int
    influence : pandas.DataFrame of shape (n_samples, 4)
        Each measure's estimated influence function (mean zero).
    label : str
        What was decomposed ("outcome", or a model's name).
    """

    estimates: dict
    standard_errors: dict
    confidence: float
    x0: object
    x1: object
    n_samples: int
    influence: pd.DataFrame = field(repr=False)
    label: str = "outcome"

    def to_frame(self):
        """The measures as a tidy DataFrame.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``measure``, ``estimate``, ``std_error``, ``ci_lower``,
            ``ci_upper``, ``label``; one row per measure (TV, DE, IE, SE).
        """
        z = stats.norm.ppf(0.5 + self.confidence / 2)
        rows = []
        for m in MEASURES:
            est, se = self.estimates[m], self.standard_errors[m]
            rows.append({"measure": m, "estimate": est, "std_error": se,
                         "ci_lower": est - z * se, "ci_upper": est + z * se,
                         "label": self.label})
        return pd.DataFrame(rows)


def _check_columns(data, X, Z, W, Y):
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame; got {type(data).__name__}.")
    roles = {"X": [X], "Z": list(Z), "W": list(W)}
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

    Read more in the :ref:`User Guide <causal_fairness_analysis>`.

    Parameters
    ----------
    data : pandas.DataFrame of shape (n_samples, n_columns)
    X : str
        The protected attribute's column.
    Z : list of str, default=()
        Confounders (causes of X and of the outcome; e.g. age, race).
    W : list of str, default=()
        Mediators (effects of X that affect the outcome).
    Y : str or None, default=None
        The outcome's column (binary 0/1 or continuous); not needed with
        ``y_pred``.
    y_pred : array-like of shape (n_samples,), default=None
        Values to decompose instead of ``data[Y]``.
    x0, x1 : object, default=None
        The two levels of ``X`` to compare; the sorted levels if ``X`` has
        exactly two.
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
    random_state : int, RandomState instance or None, default=None
        Folds, default nuisance models and bootstrap.

    Returns
    -------
    result : CausalFairnessDecomposition

    Raises
    ------
    ValueError
        Missing columns, a column in two roles, ``X`` with more than two
        levels and no ``x0``/``x1``, a level with fewer rows than
        ``n_folds``, or missing values.

    References
    ----------
    .. [1] D. Plecko and E. Bareinboim, "Causal Fairness Analysis: A Causal
       Toolkit for Fair Machine Learning", Foundations and Trends in Machine
       Learning, 17(3):304-589, 2024.
    .. [2] E. J. Tchetgen Tchetgen and I. Shpitser, "Semiparametric theory for
       causal mediation analysis", Annals of Statistics, 40(3), 2012.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skcausal_trust.fairness import causal_fairness_decomposition
    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> z = rng.normal(size=n)
    >>> x = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    >>> w = x + 0.5 * z + rng.normal(size=n)
    >>> y = 1.0 * x + 2.0 * w + z + rng.normal(size=n)
    >>> data = pd.DataFrame({"x": x, "z": z, "w": w, "y": y})
    >>> res = causal_fairness_decomposition(data, "x", ["z"], ["w"], "y",
    ...                                     random_state=0)
    >>> est = res.estimates
    >>> bool(abs(est["TV"] - (est["DE"] - est["IE"] - est["SE"])) < 1e-12)
    True
    >>> # True values: DE = 1 (the direct coefficient), IE = 2 * (0 - 1) = -2.
    >>> bool(abs(est["DE"] - 1) < 0.2 and abs(est["IE"] + 2) < 0.2)
    True
    """
    _check_columns(data, X, Z, W, Y)
    Z, W = list(Z), list(W)
    if y_pred is None:
        if Y is None:
            raise ValueError("give the outcome column Y or the values y_pred.")
        y = data[Y].to_numpy()
        label = label or "outcome"
    else:
        y = np.asarray(y_pred)
        if y.shape != (len(data),):
            raise ValueError(f"y_pred must have shape ({len(data)},); got {y.shape}.")
        label = label or "predictions"
    if pd.isna(data[[X] + Z + W]).any().any() or pd.isna(y).any():
        raise ValueError("data (or y_pred) has missing values; impute or drop them.")
    y = np.asarray(y, dtype=float)
    if not isinstance(n_folds, Integral) or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2; got {n_folds!r}.")
    if not 0 <= propensity_clip < 0.5:
        raise ValueError(f"propensity_clip must be in [0, 0.5); got {propensity_clip!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")

    levels = pd.unique(data[X])
    if x0 is None or x1 is None:
        if len(levels) != 2:
            raise ValueError(
                f"X={X!r} has {len(levels)} levels {sorted(map(str, levels))!r}; pass "
                "x0 and x1 to choose the two to compare."
            )
        try:
            x0, x1 = sorted(levels)
        except TypeError:  # mixed types: order by their text
            x0, x1 = sorted(levels, key=str)
    for name, level in (("x0", x0), ("x1", x1)):
        if level not in set(levels):
            raise ValueError(f"{name}={level!r} is not a level of X={X!r}.")
    keep = data[X].isin([x0, x1]).to_numpy()
    frame, y = data.loc[keep], y[keep]
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
    binary = set(np.unique(y)) <= {0.0, 1.0}
    outcome_model = outcome_model or _default_outcome_model(binary, seed)
    propensity_model = propensity_model or HistGradientBoostingClassifier(
        categorical_features="from_dtype", random_state=seed)

    xcol = pd.Series(i1.astype(float), index=frame.index, name="__x1")
    feats_z = _features(frame[Z])
    feats_zw = _features(frame[Z + W])
    n = len(y)
    mu_z1, mu_zw1 = np.empty(n), np.empty(n)
    e_z, e_zw = np.empty(n), np.empty(n)
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(np.zeros(n), i1):
        for feats, mu_out, e_out in ((feats_z, mu_z1, e_z), (feats_zw, mu_zw1, e_zw)):
            design = pd.concat([xcol, feats], axis=1)
            if binary and len(np.unique(y[train])) < 2:
                mu_out[test] = y[train].mean()
            else:
                model = clone(outcome_model).fit(design.iloc[train], y[train])
                at_x1 = design.iloc[test].copy()
                at_x1["__x1"] = 1.0
                mu_out[test] = _predict_outcome(model, at_x1)
            if feats.shape[1] == 0:
                e_out[test] = i1[train].mean()
            else:
                prop = clone(propensity_model).fit(feats.iloc[train], i1[train])
                proba = prop.predict_proba(feats.iloc[test])
                e_out[test] = proba[:, list(prop.classes_).index(True)]
    e_z = np.clip(e_z, propensity_clip, 1 - propensity_clip)
    e_zw = np.clip(e_zw, propensity_clip, 1 - propensity_clip)

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
        index=frame.index)
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
        influence=influence, label=label,
    )




class FairnessDecompositionDisplay:
    """Plot of causal fairness decompositions, for the outcome and models.

    Each decomposition's TV, DE, IE and SE are drawn as points with their
    confidence intervals, one colour per decomposition, side by side: which
    paths did a model amplify compared with the outcome? Create it with
    :meth:`from_decompositions`, :meth:`from_predictions` or
    :meth:`from_estimator` (scikit-learn's Display API).

    Parameters
    ----------
    decompositions : list of CausalFairnessDecomposition

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    frame_ : pandas.DataFrame
        The plotted values (``to_frame`` of every decomposition).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from skcausal_trust.fairness import (
    ...     FairnessDecompositionDisplay, causal_fairness_decomposition)
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=1000); x = (rng.uniform(size=1000) < 0.5).astype(int)
    >>> w = x + z + rng.normal(size=1000); y = x + w + rng.normal(size=1000)
    >>> data = pd.DataFrame({"x": x, "z": z, "w": w, "y": y})
    >>> res = causal_fairness_decomposition(
    ...     data, "x", ["z"], ["w"], "y", outcome_model=LinearRegression(),
    ...     propensity_model=LogisticRegression(), random_state=0)
    >>> display = FairnessDecompositionDisplay.from_decompositions([res])
    >>> list(display.frame_["measure"])
    ['TV', 'DE', 'IE', 'SE']
    """

    def __init__(self, decompositions):
        self.decompositions = list(decompositions)

    def plot(self, ax=None):
        """Draw the decompositions.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure otherwise.

        Returns
        -------
        display : FairnessDecompositionDisplay
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        frames = [d.to_frame() for d in self.decompositions]
        k = len(frames)
        width = 0.8 / max(k, 1)
        for j, frame in enumerate(frames):
            pos = np.arange(len(MEASURES)) - 0.4 + width * (j + 0.5)
            err = np.vstack([frame["estimate"] - frame["ci_lower"],
                             frame["ci_upper"] - frame["estimate"]])
            ax.errorbar(frame["estimate"], pos, xerr=err, fmt="o", capsize=3,
                        label=frame["label"].iloc[0])
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.set_yticks(np.arange(len(MEASURES)))
        ax.set_yticklabels(["TV (total)", "DE (direct)", "IE (indirect)", "SE (spurious)"])
        ax.invert_yaxis()
        first = self.decompositions[0] if self.decompositions else None
        levels = f" ({first.x0} vs {first.x1})" if first is not None else ""
        ax.set_xlabel(f"estimate{levels}; TV = DE - IE - SE\n"
                      "(IE and SE are measured from x1 back to x0)")
        ax.legend(loc="best")
        self.ax_, self.figure_ = ax, ax.figure
        self.frame_ = pd.concat(frames, ignore_index=True)
        return self

    @classmethod
    def from_decompositions(cls, decompositions, *, ax=None):
        """Plot already computed decompositions.

        Parameters
        ----------
        decompositions : list of CausalFairnessDecomposition
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : FairnessDecompositionDisplay
        """
        return cls(decompositions).plot(ax=ax)

    @classmethod
    def from_predictions(cls, data, X, Z, W, Y, y_pred, *, model_names=None, ax=None,
                         **kwargs):
        """Decompose the outcome and one or more models' predictions, and plot.

        Parameters
        ----------
        data : pandas.DataFrame
        X, Z, W, Y : see :func:`causal_fairness_decomposition`
        y_pred : array-like of shape (n_samples,) or list of them
            Predictions (or scores) of one or more models on ``data``.
        model_names : list of str, default=None
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :func:`causal_fairness_decomposition`.

        Returns
        -------
        display : FairnessDecompositionDisplay
        """
        # One model's predictions (an array, a Series, or a list of numbers) or
        # a list of several models' arrays.
        several = isinstance(y_pred, (list, tuple)) and len(y_pred) > 0 and all(
            np.ndim(p) == 1 for p in y_pred)
        preds = list(y_pred) if several else [y_pred]
        kwargs.pop("label", None)
        names = model_names or [f"model {i}" for i in range(len(preds))]
        results = [causal_fairness_decomposition(data, X, Z, W, Y, **kwargs)]
        results += [causal_fairness_decomposition(data, X, Z, W, y_pred=p, label=n, **kwargs)
                    for p, n in zip(preds, names)]
        return cls(results).plot(ax=ax)

    @classmethod
    def from_estimator(cls, estimator, data, X, Z, W, Y, *, features=None,
                       response_method="auto", ax=None, **kwargs):
        """Decompose the outcome and a fitted estimator's predictions, and plot.

        Parameters
        ----------
        estimator : fitted estimator
            Scored on ``data[features]``: ``predict_proba[:, 1]`` for
            classifiers (``response_method="auto"``), else ``predict``.
        data : pandas.DataFrame
        X, Z, W, Y : see :func:`causal_fairness_decomposition`
        features : list of str, default=None
            Columns the estimator takes (all but ``Y`` by default).
        response_method : {"auto", "predict", "predict_proba"}, default="auto"
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :func:`causal_fairness_decomposition`.

        Returns
        -------
        display : FairnessDecompositionDisplay
        """
        features = features or [c for c in data.columns if c != Y]
        inputs = data[features]
        if response_method == "predict_proba" or (
                response_method == "auto" and hasattr(estimator, "predict_proba")):
            pred = estimator.predict_proba(inputs)[:, 1]
        else:
            pred = estimator.predict(inputs)
        name = type(estimator).__name__
        return cls.from_predictions(data, X, Z, W, Y, [np.asarray(pred, float)],
                                    model_names=[name], ax=ax, **kwargs)


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
    Z, W : list of str
    response_method : {"auto", "predict", "predict_proba"}, default="auto"
    n_folds : int, default=2
        Cross-fitting folds within each test fold.
    absolute : bool, default=True
    **kwargs
        Passed to :func:`causal_fairness_decomposition`.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None)``.
    """

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
