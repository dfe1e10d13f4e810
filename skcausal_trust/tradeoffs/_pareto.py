"""Multi-objective model selection: the Pareto front of a search's
candidates, its display, a refit rule that picks from it, and a scorer for
a private model's epsilon."""

import numpy as np
import pandas as pd
from sklearn.utils._optional_dependencies import check_matplotlib_support

__all__ = ["ParetoFrontDisplay", "epsilon_scorer", "pareto_front", "pareto_refit"]

_DIRECTIONS = ("max", "min")


def epsilon_scorer(estimator, X=None, y=None):
    """Scorer of a private model's privacy loss: ``-epsilon_`` (greater is better).

    For multi-metric scoring in a search over ``epsilon``; a fit whose
    guarantee is void scores ``-inf``.

    Parameters
    ----------
    estimator : fitted estimator with ``epsilon_`` (or a Pipeline ending in one)
    X, y : ignored

    Returns
    -------
    score : float
    """
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    if not hasattr(final, "epsilon_"):
        raise ValueError(f"epsilon_scorer needs a fitted private estimator; "
                         f"{type(final).__name__} has no epsilon_.")
    return -float(final.epsilon_)


def _objectives(cv_results, objectives):
    """The objective columns of ``cv_results`` as a frame oriented so that
    greater is better, and the names of the columns read."""
    if not isinstance(objectives, dict) or not objectives:
        raise ValueError("objectives must be a non-empty dict {name: 'max' or 'min'}; got "
                         f"{objectives!r}.")
    results = pd.DataFrame(cv_results)
    values, columns = {}, {}
    for name, direction in objectives.items():
        if direction not in _DIRECTIONS:
            raise ValueError(f"objectives[{name!r}] must be 'max' or 'min'; got "
                             f"{direction!r}.")
        column = name if name in results.columns else f"mean_test_{name}"
        if column not in results.columns:
            available = [c[len("mean_test_"):] for c in results.columns
                         if c.startswith("mean_test_")]
            raise ValueError(f"objective {name!r} is not in cv_results (neither {name!r} "
                             f"nor 'mean_test_{name}'); the scores are {available!r}.")
        col = pd.to_numeric(results[column], errors="coerce").to_numpy(dtype=float)
        if np.isnan(col).any():
            raise ValueError(f"objective {name!r} has NaN values (failed fits?): "
                             f"candidates {np.flatnonzero(np.isnan(col)).tolist()}.")
        values[name] = col if direction == "max" else -col
        columns[name] = column
    return pd.DataFrame(values), results, columns


def _non_dominated(oriented):
    """Mask of the rows no other row dominates (>= everywhere, > somewhere)."""
    V = oriented.to_numpy()
    ge = (V[:, None, :] >= V[None, :, :]).all(axis=2)
    gt = (V[:, None, :] > V[None, :, :]).any(axis=2)
    dominated = (ge & gt).any(axis=0)
    return ~dominated


def pareto_front(cv_results, objectives):
    """The candidates of a search that no other candidate beats on every objective.

    Candidate ``a`` dominates ``b`` when it is at least as good on every
    objective and better on one; the front is the set of non-dominated
    candidates (equal candidates are all kept).

    Parameters
    ----------
    cv_results : dict or DataFrame
        A fitted search's ``cv_results_`` (multi-metric).
    objectives : dict
        ``{name: "max" or "min"}``: a scorer name (read from
        ``mean_test_<name>``) or a column of ``cv_results``. Scores of
        scikit-learn scorers are already "greater is better" (``"max"``);
        use ``"min"`` for a raw loss or a column such as ``param_epsilon``.

    Returns
    -------
    front : pandas.DataFrame
        One row per non-dominated candidate, indexed by its position in
        ``cv_results``, with the objectives (as in ``cv_results``) and the
        candidate's ``params``, sorted by the first objective, best first.

    Raises
    ------
    ValueError
        An objective that is not in ``cv_results``, a direction other than
        ``"max"``/``"min"``, or NaN scores.

    Examples
    --------
    >>> from skcausal_trust.tradeoffs import pareto_front
    >>> cv_results = {"mean_test_accuracy": [0.80, 0.85, 0.84, 0.70],
    ...               "mean_test_unfairness": [-0.01, -0.10, -0.02, -0.01],
    ...               "params": [{"eps": 0.0}, {"eps": 1.0}, {"eps": 0.1}, {"eps": 9}]}
    >>> front = pareto_front(cv_results, {"accuracy": "max", "unfairness": "max"})
    >>> front.index.tolist()
    [1, 2, 0]
    """
    oriented, results, columns = _objectives(cv_results, objectives)
    mask = _non_dominated(oriented)
    front = results.loc[mask, list(columns.values())].copy()
    front.columns = list(columns)
    if "params" in results.columns:
        front["params"] = results.loc[mask, "params"]
    first = next(iter(objectives))
    order = np.argsort(-oriented.loc[mask, first].to_numpy(), kind="stable")
    return front.iloc[order]


def pareto_refit(objectives, *, select, constraints=None):
    """A ``refit`` callable for a search: the best Pareto-optimal candidate
    under a stated rule.

    Among the candidates on the front of ``objectives`` that meet every
    constraint, the one best on ``select``; for example the most accurate
    candidate whose counterfactual unfairness is at most 0.01.

    Parameters
    ----------
    objectives : dict
        As in :func:`pareto_front`.
    select : str
        One of ``objectives``: the candidate best on it is chosen.
    constraints : dict or None, default=None
        ``{name: (op, bound)}`` with ``op`` one of ``"<="``, ``">="``, on
        the values as stored in ``cv_results`` (``mean_test_<name>`` or the
        column).

    Returns
    -------
    refit : callable
        ``refit(cv_results) -> int``, the index of the chosen candidate
        (what :class:`~sklearn.model_selection.GridSearchCV` expects). It
        raises ``ValueError`` naming the constraints when no candidate
        meets them.

    Examples
    --------
    >>> from skcausal_trust.tradeoffs import pareto_refit
    >>> rule = pareto_refit({"accuracy": "max", "unfairness": "max"}, select="accuracy",
    ...                     constraints={"unfairness": (">=", -0.05)})
    >>> rule({"mean_test_accuracy": [0.80, 0.85, 0.84],
    ...       "mean_test_unfairness": [-0.01, -0.10, -0.02]})
    2
    """
    if select not in objectives:
        raise ValueError(f"select={select!r} must be one of the objectives "
                         f"{list(objectives)!r}.")
    constraints = dict(constraints or {})
    for name, rule in constraints.items():
        if (not isinstance(rule, (tuple, list)) or len(rule) != 2
                or rule[0] not in ("<=", ">=")):
            raise ValueError(f"constraints[{name!r}] must be ('<=' or '>=', bound); got "
                             f"{rule!r}.")

    def refit(cv_results):
        front = pareto_front(cv_results, objectives)
        results = pd.DataFrame(cv_results)
        ok = np.ones(len(front), dtype=bool)
        for name, (op, bound) in constraints.items():
            column = name if name in results.columns else f"mean_test_{name}"
            if column not in results.columns:
                raise ValueError(f"constraint {name!r} is not in cv_results.")
            values = results.loc[front.index, column].to_numpy(dtype=float)
            ok &= values <= bound if op == "<=" else values >= bound
        if not ok.any():
            raise ValueError(f"no Pareto-optimal candidate meets the constraints "
                             f"{constraints!r}; the front is\n{front.to_string()}")
        candidates = front[ok]
        sign = 1.0 if objectives[select] == "max" else -1.0
        return int(candidates.index[np.argmax(sign * candidates[select].to_numpy())])

    return refit


class ParetoFrontDisplay:
    """Plot of a search's candidates on two objectives, with the Pareto front.

    Every candidate is a point; the non-dominated ones are highlighted and
    joined by the front's staircase. Create it with :meth:`from_cv_results`
    (scikit-learn's Display API).

    Parameters
    ----------
    values : pandas.DataFrame of shape (n_candidates, 2)
        The two objectives, as stored in ``cv_results``.
    on_front : ndarray of bool of shape (n_candidates,)
    directions : tuple of str
        ``"max"`` or ``"min"`` per objective.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    front_ : pandas.DataFrame
        The front's candidates (as :func:`pareto_front`).

    Examples
    --------
    >>> from skcausal_trust.tradeoffs import ParetoFrontDisplay
    >>> cv_results = {"mean_test_accuracy": [0.80, 0.85, 0.84, 0.70],
    ...               "mean_test_unfairness": [-0.01, -0.10, -0.02, -0.01]}
    >>> display = ParetoFrontDisplay.from_cv_results(cv_results, "accuracy", "unfairness")
    >>> display.front_.index.tolist()
    [1, 2, 0]
    """

    def __init__(self, values, on_front, directions):
        self.values = values
        self.on_front = np.asarray(on_front, dtype=bool)
        self.directions = tuple(directions)

    def plot(self, ax=None):
        """Draw the candidates and the front.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None

        Returns
        -------
        display : ParetoFrontDisplay
        """
        check_matplotlib_support("ParetoFrontDisplay.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        x, y = (self.values.iloc[:, 0].to_numpy(float),
                self.values.iloc[:, 1].to_numpy(float))
        ax.scatter(x[~self.on_front], y[~self.on_front], color="0.6",
                   label="dominated")
        order = np.argsort(x[self.on_front])
        ax.plot(x[self.on_front][order], y[self.on_front][order], "o-",
                drawstyle="steps-post" if self.directions[0] == self.directions[1]
                else "steps-pre", color="C0", label="Pareto front")
        names = list(self.values.columns)
        ax.set_xlabel(f"{names[0]} ({'higher' if self.directions[0] == 'max' else 'lower'}"
                      " is better)")
        ax.set_ylabel(f"{names[1]} ({'higher' if self.directions[1] == 'max' else 'lower'}"
                      " is better)")
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_cv_results(cls, cv_results, x, y, *, directions=("max", "max"), ax=None,
                        plot=True):
        """Build (and draw) the display from a search's ``cv_results_``.

        Parameters
        ----------
        cv_results : dict or DataFrame
        x, y : str
            The objectives on each axis (scorer names or columns).
        directions : tuple of str, default=("max", "max")
        ax : matplotlib Axes or None, default=None
        plot : bool, default=True
            Draw it (False computes the front only).

        Returns
        -------
        display : ParetoFrontDisplay
        """
        objectives = {x: directions[0], y: directions[1]}
        oriented, results, columns = _objectives(cv_results, objectives)
        on_front = _non_dominated(oriented)
        values = results[[columns[x], columns[y]]].astype(float)
        values.columns = [x, y]
        display = cls(values, on_front, directions)
        display.front_ = pareto_front(cv_results, objectives)
        return display.plot(ax=ax) if plot else display
