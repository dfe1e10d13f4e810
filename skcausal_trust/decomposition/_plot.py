"""Display of causal fairness decompositions (matplotlib)."""

import numpy as np
import pandas as pd

from ._decomposition import MEASURES, _decompose

__all__ = ["FairnessDecompositionDisplay"]


class FairnessDecompositionDisplay:
    """Plot of causal fairness decompositions, for the outcome and models.

    Each decomposition's TV, DE, IE and SE are drawn as points with their
    confidence intervals, one colour per decomposition, side by side: which
    paths did a model amplify compared with the outcome? An estimate whose
    propensity model failed the overlap rule of
    :func:`causal_fairness_decomposition` (``overlap_ok`` False in
    ``frame_``) is drawn with an open marker and annotated "overlap fails".
    Create it with :meth:`from_decompositions`, :meth:`from_predictions` or
    :meth:`from_estimator` (scikit-learn's Display API).

    Parameters
    ----------
    decompositions : list of CausalFairnessDecomposition

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    frame_ : pandas.DataFrame
        The plotted values (``to_frame`` of every decomposition, with the
        column ``overlap_ok``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from skcausal_trust.decomposition import (
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
        any_failed = False
        for j, frame in enumerate(frames):
            pos = np.arange(len(MEASURES)) - 0.4 + width * (j + 0.5)
            err = np.vstack([frame["estimate"] - frame["ci_lower"],
                             frame["ci_upper"] - frame["estimate"]])
            bars = ax.errorbar(frame["estimate"], pos, xerr=err, fmt="o", capsize=3,
                               label=frame["label"].iloc[0])
            failed = ~frame["overlap_ok"].to_numpy(dtype=bool)
            if failed.any():
                # Estimates resting on a propensity model that failed the
                # overlap rule: open markers and a note beside them.
                any_failed = True
                colour = bars.lines[0].get_color()
                ax.plot(frame["estimate"][failed], pos[failed], "o", color=colour,
                        markerfacecolor="white", zorder=3)
                for est, p in zip(frame["ci_upper"][failed], pos[failed]):
                    ax.annotate("overlap fails", (est, p), xytext=(4, 0),
                                textcoords="offset points", va="center", fontsize=7,
                                color=colour)
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.set_yticks(np.arange(len(MEASURES)))
        ax.set_yticklabels(["TV (total)", "DE (direct)", "IE (indirect)", "SE (spurious)"])
        ax.invert_yaxis()
        first = self.decompositions[0] if self.decompositions else None
        levels = f" (x0={first.x0} vs x1={first.x1})" if first is not None else ""
        note = ("\nopen markers: overlap fails (PositivityWarning; see diagnostics)"
                if any_failed else "")
        ax.set_xlabel(f"estimate{levels}; TV = DE - IE - SE\n"
                      f"(IE and SE are measured from x1 back to x0){note}")
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

        Notes
        -----
        The outcome and every model are decomposed on the same
        cross-fitting folds, and the propensity models ``P(x1 | Z)`` and
        ``P(x1 | Z, W)``, which do not depend on what is decomposed, are
        fitted once and shared: each result equals its own
        :func:`causal_fairness_decomposition` call with the same integer
        ``random_state``.
        """
        # One model's predictions (an array, a Series, or a list of numbers) or
        # a list of several models' arrays.
        several = isinstance(y_pred, (list, tuple)) and len(y_pred) > 0 and all(
            np.ndim(p) == 1 for p in y_pred)
        preds = list(y_pred) if several else [y_pred]
        kwargs.pop("label", None)
        names = model_names or [f"model {i}" for i in range(len(preds))]
        # The propensities do not depend on the outcome: fitted once for all.
        results = _decompose(data, X, Z, W, Y, [(None, "outcome"), *zip(preds, names)],
                             **kwargs)
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
