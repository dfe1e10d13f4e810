"""Causal algorithmic recourse for linear classifiers under a linear SCM.

Karimi, Schölkopf and Valera (FAccT 2021): a person denied by a model asks
what to do; an action is an intervention ``do(X_S := x_S + delta_S)`` on
actionable features, whose effect reaches their causal descendants. Under a
linear additive-noise SCM the counterfactual of an individual (their noise
abducted) is ``x + M_S delta_S``, with ``M_S`` the effects of the intervened
features with their own causes cut; a linear score ``w . x + b`` then needs
``(w' M_S) delta_S >= margin - f(x)``: one linear constraint. For a fixed
set ``S`` the cheapest action is a small convex program (weighted L1: a
fractional knapsack; weighted L2: a projection with box constraints), solved
here exactly, with cvxpy as the reference; the set is chosen by enumerating
the subsets of the actionable features.
"""

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..causal import LinearSCM
from ..exceptions import UncertifiedEstimateWarning

__all__ = ["RecourseDisparity", "RecourseResult", "causal_recourse", "make_recourse_scorer",
           "recourse_disparity"]

#: Subsets of actionable features enumerated at most (2**12).
MAX_ACTIONABLE = 12


@dataclass
class RecourseResult:
    """The outcome of :func:`causal_recourse`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per input row (same index): ``status`` (``"found"``,
        ``"already"``: the model already gives the desired class,
        ``"infeasible"``: no action within the constraints reaches it),
        ``cost``, ``n_actions`` and ``actions`` (text such as ``"increase
        education-num by 2.00"``).
    interventions : list of dict
        Per row, ``{feature: new value}`` of the intervened features (empty
        when none is needed or possible).
    counterfactuals : pandas.DataFrame
        The features after the action, descendants updated through the SCM
        (the row itself when no action is taken).
    """

    table: pd.DataFrame
    interventions: list
    counterfactuals: pd.DataFrame


@dataclass
class _RecourseSetup:
    """What every row of :func:`causal_recourse` shares, prepared once from
    the validated arguments and given to :func:`_solve_rows` for each chunk
    of rows (serial or in joblib workers)."""

    estimator: object
    columns: list
    subsets: list
    #: Per set acted on: the change of every column per unit of each action.
    effects: dict
    #: Per set: which of its features take integer values.
    is_integer: dict
    #: Per actionable feature: the cost scale.
    scale: dict
    monotone: dict
    bounds: dict
    cost: str
    intervention: str
    desired: object
    margin: float
    n_directions: int
    max_cost: float
    #: Exact path: the score ``w . x + b`` as ``(w, b)``, per set the score's
    #: gain per unit action, and per set (and for no action, ``()``) the
    #: robustness penalty. ``None`` on the search path.
    linear: tuple = None
    gains: dict = None
    penalty: dict = None


class _NotAffine(ValueError):
    """The model's decision function is not affine in X's columns."""


def _desired_class(estimator, desired):
    classes = list(getattr(estimator, "classes_", []))
    if len(classes) != 2:
        raise ValueError(f"recourse needs a binary classifier; classes_ is {classes!r}.")
    if desired is None:
        desired = classes[1]
    if desired not in classes:
        raise ValueError(f"desired={desired!r} is not a class of the model; its classes "
                         f"are {classes!r}.")
    return desired


def _linear_score(estimator, columns, desired, X_probe):
    """``(w, b)`` with ``sign * decision_function(x) = w . x + b``, sign
    chosen so that positive means the desired class; checked to be affine."""
    desired = _desired_class(estimator, desired)
    if not hasattr(estimator, "decision_function"):
        raise _NotAffine(f"{type(estimator).__name__} has no decision_function (exact "
                         "recourse needs a linear classifier, or a Pipeline of affine "
                         "steps ending in one)")
    classes = list(estimator.classes_)
    sign = 1.0 if desired == classes[1] else -1.0
    p = len(columns)
    points = pd.DataFrame(np.vstack([np.zeros(p), np.eye(p)]), columns=columns)
    values = sign * np.asarray(estimator.decision_function(points), dtype=float)
    b = float(values[0])
    w = values[1:] - b
    # Affine? Compare with the model on the rows themselves.
    check = sign * np.asarray(estimator.decision_function(X_probe), dtype=float)
    predicted = X_probe.to_numpy(dtype=float) @ w + b
    scale = max(1.0, float(np.abs(check).max()))
    if not np.allclose(check, predicted, rtol=1e-7, atol=1e-7 * scale):
        raise _NotAffine(
            f"{type(estimator).__name__}'s decision function is not affine in X's columns "
            "(exact causal recourse needs a linear model)")
    return w, b, desired


def _effect_matrix(scm, columns, subset):
    """``M_S``: change of every column per unit change of each intervened
    feature, the intervened features held fixed (a ``do``)."""
    idx = scm.design_index(columns)
    out = np.zeros((len(columns), len(subset)))
    zero = {v: 0.0 for v in subset}
    for j, v in enumerate(subset):
        unit = dict(zero)
        unit[v] = 1.0
        out[:, j] = scm.intervention_effect(zero, unit)[idx]
    return out


def _noise_sensitivity(scm, columns, w, subset):
    """``||(w' N_S) * s||_2``: the score's sensitivity to each node's noise
    (in units of its noise scale ``s``) when ``subset`` is intervened on. A
    unit of node ``v``'s noise moves ``v`` by one unit and its descendants
    through the paths that avoid the intervened nodes; the intervened nodes'
    own noise has no effect."""
    out = []
    for v in scm.variables_:
        if v in subset:
            continue
        scale = (scm.equations_[v]["noise_scale"][0] if v in scm.equations_
                 else scm.roots_[v]["scale"])
        column = _effect_matrix(scm, columns, list(subset) + [v])[:, -1]
        out.append(float(w @ column) * float(scale))
    return float(np.linalg.norm(out))


def solve_action(a, r, costs, low, high, cost="l2"):
    """Cheapest ``delta`` with ``a . delta >= r`` and ``low <= delta <= high``.

    The cost is ``sum_j costs_j |delta_j|`` (``"l1"``) or ``sqrt(sum_j
    (costs_j delta_j)^2)`` (``"l2"``). ``low <= 0 <= high``.

    Parameters
    ----------
    a : ndarray of shape (k,)
    r : float
        > 0 (otherwise no action is needed).
    costs : ndarray of shape (k,)
        > 0 (inverse noise scales, or user weights).
    low, high : ndarray of shape (k,)
        Bounds on ``delta`` (``-inf``/``inf`` allowed).
    cost : {"l1", "l2"}

    Returns
    -------
    delta : ndarray of shape (k,) or None
        ``None`` when no ``delta`` in the box reaches ``r``.
    value : float
        The cost (``inf`` when infeasible).
    """
    a = np.asarray(a, float)
    # The largest gain of each coordinate within its bounds (0 for a zero
    # gain, whose product with an infinite bound is undefined).
    with np.errstate(invalid="ignore"):
        best_gain = np.where(a > 0, a * high, a * low)
    reachable = float(np.where(a == 0, 0.0, best_gain).sum())
    if not reachable >= r * (1 - 1e-12):
        return None, np.inf
    k = a.size
    delta = np.zeros(k)
    if cost == "l1":
        # Fractional knapsack: gain per unit of cost |a_j| / costs_j.
        order = np.argsort(-np.abs(a) / costs, kind="stable")
        need = r
        for j in order:
            if a[j] == 0 or need <= 0:
                break
            limit = high[j] if a[j] > 0 else low[j]
            step = need / a[j]
            if abs(step) <= abs(limit):
                delta[j] = step
                need = 0.0
            else:
                delta[j] = limit
                need -= a[j] * limit
        return delta, float(np.sum(costs * np.abs(delta)))
    # L2: delta_j = clip(lam a_j / costs_j^2, low_j, high_j); a . delta(lam)
    # increases with lam: find the root by bisection on a bracket.
    direction = a / costs**2
    # Without binding bounds the minimiser is the projection itself.
    free = r / float(a @ direction) * direction
    if (free >= low).all() and (free <= high).all():
        return free, float(np.sqrt(np.sum((costs * free) ** 2)))

    def gain(lam):
        return float(a @ np.clip(lam * direction, low, high))

    hi_lam = 1.0
    while gain(hi_lam) < r and hi_lam < 1e300:
        hi_lam *= 2.0
    lo_lam = 0.0
    for _ in range(200):
        mid = 0.5 * (lo_lam + hi_lam)
        if gain(mid) < r:
            lo_lam = mid
        else:
            hi_lam = mid
        if hi_lam - lo_lam <= 1e-15 * hi_lam:
            break
    delta = np.clip(hi_lam * direction, low, high)
    return delta, float(np.sqrt(np.sum((costs * delta) ** 2)))


def solve_action_cvxpy(a, r, costs, low, high, cost="l2"):
    """The same program stated in cvxpy (the reference for tests)."""
    import cvxpy as cp

    k = len(a)
    delta = cp.Variable(k)
    weighted = cp.multiply(costs, delta)
    objective = cp.norm1(weighted) if cost == "l1" else cp.norm2(weighted)
    constraints = [a @ delta >= r]
    for j in range(k):
        if np.isfinite(low[j]):
            constraints.append(delta[j] >= low[j])
        if np.isfinite(high[j]):
            constraints.append(delta[j] <= high[j])
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve()
    if problem.status not in ("optimal", "optimal_inaccurate"):
        return None, np.inf
    return np.asarray(delta.value, float), float(problem.value)


def causal_recourse(estimator, X, scm, actionable, *, desired=None, cost="l2",
                    scales=None, monotone=None, bounds=None, margin=1e-6,
                    max_actions=None, robustness=0.0, intervention="hard", integer=None,
                    method="auto", n_directions=64, max_cost=10.0, random_state=None,
                    n_jobs=None):
    """The cheapest intervention on actionable features that changes the decision.

    For each row of ``X``, every non-empty set ``S`` of actionable features
    (at most ``max_actions`` of them) is tried: the cheapest intervention on
    ``S`` whose counterfactual (the row's noise abducted, descendants updated
    through ``scm``) gets the desired class with decision value at least
    ``margin``; the cheapest over the sets is returned. Exact for a linear
    classifier under a linear SCM (Karimi, Schölkopf and Valera 2021); any
    other classifier gets a documented search (``method``).

    Parameters
    ----------
    estimator : fitted binary classifier
        Exact path: a ``decision_function`` affine in ``X``'s columns (a
        linear model, or a Pipeline of affine steps such as
        ``StandardScaler`` ending in one); checked on the rows. Search path:
        any classifier with ``predict``.
    X : pandas.DataFrame of shape (n_samples, n_features)
        Numeric columns, each a node of ``scm``: the model's inputs.
    scm : LinearSCM
        Fitted, over (at least) ``X``'s columns, all numeric.
    actionable : list of str
        Features a person can act on; the others (sex, race, age...) are
        never intervened on (they change only as descendants of an action).
    desired : object or None, default=None
        The class to reach; ``classes_[1]`` by default.
    cost : {"l2", "l1"}, default="l2"
        Weighted norm of the action ``delta``.
    scales : dict or None, default=None
        ``{feature: scale}``: the cost counts ``delta_j / scale_j``; by
        default each feature's noise scale in ``scm`` (its spread given its
        causes; a root's standard deviation).
    monotone : dict or None, default=None
        ``{feature: "increase" or "decrease"}``: the only direction allowed
        (age, education).
    bounds : dict or None, default=None
        ``{feature: (low, high)}`` on the feature's new value; a row whose
        value lies outside its bounds is not acted on in that feature.
    margin : float, default=1e-6
        Decision value to reach (in the decision function's units; exact
        path).
    max_actions : int or None, default=None
        Largest number of features acted on together (all by default).
    robustness : float, default=0.0
        Radius ``Delta`` of the causal perturbation ball, in units of the
        noise scales: the action must stay valid for every individual whose
        exogenous noise is within L2 distance ``Delta`` (each coordinate
        divided by its node's noise scale) of this person's (robust
        recourse, Dominguez-Olmedo, Karimi and Schölkopf 2022). The
        intervened values are fixed (hard interventions); the other features
        move with the perturbation through the SCM. For a linear model this
        raises the decision value to reach by ``Delta`` times the norm of
        the score's sensitivity to the noise, which depends on the set acted
        on: the program stays the same size. Rows the model accepts with
        less than that margin are not ``"already"``. Exact path only.
    intervention : {"hard", "soft"}, default="hard"
        ``"hard"``: ``do(X_S := x_S + delta_S)``, the intervened features
        set (cut from their causes). ``"soft"``: each intervened feature's
        mechanism is shifted, ``X_j := f_j(pa_j) + U_j + delta_j``, so it
        still moves with its causes, intervened ones included. The two agree
        when no intervened feature is an ancestor of another.
    integer : list of str or None, default=None
        Actionable features whose new value must be an integer (years of
        education). Exact path: the integer changes are enumerated within
        the cost of a feasible rounded action, and the others solved
        exactly for each (at most ``MAX_INTEGER_COMBINATIONS`` per set).
        Search path: the changes are rounded away from zero.
    method : {"auto", "exact", "search"}, default="auto"
        ``"exact"``: the linear program above (raises for a model that is
        not affine). ``"search"``: for every set, ``n_directions`` random
        directions of the allowed action space (unit cost, signs from
        ``monotone`` and ``bounds``), each scanned for the first cost at
        which ``predict`` gives the desired class (a grid of 24 steps up to
        ``max_cost``, then 30 bisection steps on the best direction). The
        action returned is checked on the model through the SCM; its cost is
        an upper bound of the minimal cost. ``"auto"``: exact when the model
        is affine, else search with an
        :class:`~skcausal_trust.exceptions.UncertifiedEstimateWarning`.
    n_directions : int, default=64
        Search: directions per set.
    max_cost : float, default=10.0
        Search: the largest cost scanned (noise units by default); a row
        with no valid action within it is ``"infeasible"``.
    random_state : int, RandomState instance or None, default=None
        Search: seeds the directions (one seed drawn per row, so the result
        does not depend on ``n_jobs``).
    n_jobs : int or None, default=None
        Rows are solved in chunks in parallel with joblib (``None``: one
        job); the result does not depend on it.

    Returns
    -------
    result : RecourseResult
        Empty (no row) for an ``X`` without rows.

    Raises
    ------
    ValueError
        No actionable feature, more than ``MAX_ACTIONABLE``, an actionable
        or input feature that is not a numeric node of ``scm``, a bad
        ``cost``, ``monotone``, ``bounds``, ``scales``, ``intervention``,
        ``integer`` or ``method``, a ``desired`` class the model does not
        have, NaN in ``X``, ``method="exact"`` (or ``robustness > 0``) for a
        model whose decision function is not affine, or too many integer
        combinations.

    References
    ----------
    .. [1] A.-H. Karimi, B. Schölkopf and I. Valera, "Algorithmic recourse:
       from counterfactual explanations to interventions", FAccT 2021.
    .. [2] R. Dominguez-Olmedo, A.-H. Karimi and B. Schölkopf, "On the
       adversarial robustness of causal algorithmic recourse", ICML 2022.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcausal_trust.causal import LinearSCM
    >>> from skcausal_trust.recourse import causal_recourse
    >>> scm = LinearSCM.from_coefficients(
    ...     [("education", "income"), ("income", "savings")],
    ...     {"income": {"education": 2.0}, "savings": {"income": 0.5}})
    >>> X = scm.sample(500, random_state=0)
    >>> clf = LogisticRegression().fit(X, (X["savings"] > 0.5).astype(int))
    >>> denied = X[clf.predict(X) == 0].head(3)
    >>> result = causal_recourse(clf, denied, scm, ["education", "income"])
    >>> (clf.predict(result.counterfactuals) == 1).all()
    np.True_
    """
    if not isinstance(scm, LinearSCM) or not hasattr(scm, "equations_"):
        raise ValueError("scm must be a fitted LinearSCM.")
    if not isinstance(X, pd.DataFrame):
        raise ValueError("X must be a DataFrame whose columns are nodes of scm.")
    columns = list(X.columns)
    variables = set(scm.variables_)
    unknown = [c for c in columns if c not in variables]
    if unknown:
        raise ValueError(f"X's columns {unknown!r} are not nodes of scm.")
    categorical = [c for c in columns if c in scm.categories_]
    if categorical:
        raise ValueError(f"X's columns {categorical!r} are categorical nodes; recourse is "
                         "implemented for numeric features only.")
    actionable = [actionable] if isinstance(actionable, str) else list(actionable)
    if not actionable:
        raise ValueError("actionable is empty: name the features a person can act on.")
    not_inputs = [v for v in actionable if v not in columns]
    if not_inputs:
        raise ValueError(f"actionable names {not_inputs!r}, which are not columns of X.")
    if len(actionable) > MAX_ACTIONABLE:
        raise ValueError(f"{len(actionable)} actionable features: at most {MAX_ACTIONABLE} "
                         "(the sets of features acted on are enumerated).")
    if cost not in ("l1", "l2"):
        raise ValueError(f"cost must be 'l1' or 'l2'; got {cost!r}.")
    if intervention not in ("hard", "soft"):
        raise ValueError(f"intervention must be 'hard' or 'soft'; got {intervention!r}.")
    if method not in ("auto", "exact", "search"):
        raise ValueError(f"method must be 'auto', 'exact' or 'search'; got {method!r}.")
    integer = [integer] if isinstance(integer, str) else list(integer or [])
    bad_integer = [v for v in integer if v not in actionable]
    if bad_integer:
        raise ValueError(f"integer names {bad_integer!r}, which are not actionable.")
    if not (isinstance(n_directions, (int, np.integer)) and n_directions >= 1):
        raise ValueError(f"n_directions must be an integer >= 1; got {n_directions!r}.")
    if not (np.isfinite(max_cost) and max_cost > 0):
        raise ValueError(f"max_cost must be a finite number > 0; got {max_cost!r}.")
    values = X.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("X has NaN or infinite values.")
    monotone = dict(monotone or {})
    for v, way in monotone.items():
        if v not in actionable or way not in ("increase", "decrease"):
            raise ValueError(f"monotone[{v!r}] must name an actionable feature and be "
                             f"'increase' or 'decrease'; got {way!r}.")
    bounds = dict(bounds or {})
    for v, pair in bounds.items():
        if v not in actionable or len(pair) != 2 or not pair[0] <= pair[1]:
            raise ValueError(f"bounds[{v!r}] must name an actionable feature and be "
                             f"(low, high) with low <= high; got {pair!r}.")
    scale = {}
    for v in actionable:
        if scales is not None and v in scales:
            s = float(scales[v])
        elif v in scm.equations_:
            s = float(scm.equations_[v]["noise_scale"][0])
        else:
            s = float(scm.roots_[v]["scale"])
        if not s > 0:
            raise ValueError(f"the cost scale of {v!r} is {s!r}; give a positive scale.")
        scale[v] = s
    max_actions = len(actionable) if max_actions is None else int(max_actions)
    if max_actions < 1:
        raise ValueError(f"max_actions must be >= 1; got {max_actions!r}.")
    if not np.isfinite(robustness) or robustness < 0:
        raise ValueError(f"robustness must be a finite number >= 0; got {robustness!r}.")
    if robustness > 0 and scm.categories_:
        raise ValueError("robustness > 0 needs an SCM without categorical nodes (their "
                         "noise has no scale).")

    if len(X) == 0:
        return RecourseResult(
            pd.DataFrame({"status": pd.Series(dtype=object), "cost": pd.Series(dtype=float),
                          "n_actions": pd.Series(dtype=int),
                          "actions": pd.Series(dtype=object)}, index=X.index),
            [], X.astype(float))
    linear, reason = None, None
    if method != "search":
        try:
            linear = _linear_score(estimator, columns, desired, X)
        except _NotAffine as exc:
            reason = str(exc)
            if method == "exact":
                raise ValueError(reason) from None
    if linear is None:
        if robustness > 0:
            raise ValueError("robustness > 0 is implemented for linear models only (the "
                             "margin over the ball is exact there); "
                             + (reason or "method='search' was asked."))
        desired = _desired_class(estimator, desired)
        if method == "auto":
            warnings.warn(
                f"causal_recourse of {type(estimator).__name__} uses a random search "
                f"({n_directions} directions per set; the costs are upper bounds of the "
                f"minimal costs): {reason}", UncertifiedEstimateWarning, stacklevel=2)
    subsets = [s for k in range(1, max_actions + 1)
               for s in itertools.combinations(actionable, k)]
    # Per subset: the change of every column per unit of each action (the
    # same for every row: a linear additive-noise model).
    if intervention == "hard":
        effects = {s: _effect_matrix(scm, columns, list(s)) for s in subsets}
    else:
        idx = scm.design_index(columns)
        effects = {s: scm.shift_effect(list(s))[:, idx].T for s in subsets}
    setup = _RecourseSetup(
        estimator=estimator, columns=columns, subsets=subsets, effects=effects,
        is_integer={s: np.array([v in integer for v in s]) for s in subsets},
        scale=scale, monotone=monotone, bounds=bounds, cost=cost,
        intervention=intervention, desired=desired, margin=margin,
        n_directions=n_directions, max_cost=max_cost)
    if linear is not None:
        w, b, setup.desired = linear
        setup.linear = (w, b)
        setup.gains = {s: w @ effects[s] for s in subsets}
        # Robustness: the worst score loss over the noise ball, per set acted
        # on (a soft intervention cuts no noise).
        setup.penalty = {s: robustness * _noise_sensitivity(
            scm, columns, w, list(s) if intervention == "hard" else [])
            if robustness > 0 else 0.0 for s in [()] + subsets}
    # One seed per row: a row's search draws the same directions whatever
    # n_jobs (and however the rows are chunked).
    seeds = check_random_state(random_state).randint(0, 2**31 - 1, len(X))
    if n_jobs not in (None, 1) and len(X) > 1:
        from joblib import Parallel, delayed, effective_n_jobs

        chunks = np.array_split(np.arange(len(X)), min(len(X), 4 * effective_n_jobs(n_jobs)))
        parts = Parallel(n_jobs=n_jobs)(
            delayed(_solve_rows)(setup, X.iloc[c], seeds[c]) for c in chunks if c.size)
    else:
        parts = [_solve_rows(setup, X, seeds)]
    table = pd.DataFrame([row for part in parts for row in part[0]],
                         columns=["status", "cost", "n_actions", "actions"], index=X.index)
    cf = pd.DataFrame(np.vstack([x for part in parts for x in part[2]]), columns=columns,
                      index=X.index)
    return RecourseResult(table, [a for part in parts for a in part[1]], cf)


def _solve_rows(setup, X, seeds):
    """The cheapest action of each row of ``X`` (a chunk of the rows of
    :func:`causal_recourse`), row ``i``'s search seeded by ``seeds[i]``.

    Returns the table's rows ``(status, cost, n_actions, actions)``, the
    interventions and the counterfactual rows, in ``X``'s order.
    """
    columns = setup.columns
    position = {c: i for i, c in enumerate(columns)}
    values = X.to_numpy(dtype=float)
    if setup.linear is not None:
        w, b = setup.linear
        scores = values @ w + b
    else:
        factual = np.asarray(setup.estimator.predict(X)) == setup.desired

    def is_desired(rows):
        out = setup.estimator.predict(pd.DataFrame(rows, columns=columns))
        return np.asarray(out) == setup.desired

    rows, interventions, counterfactuals = [], [], []
    for i in range(len(X)):
        x = values[i]
        if setup.linear is not None:
            need = setup.margin - scores[i]
            already = need + setup.penalty[()] <= 0
        else:
            already = bool(factual[i])
        if already:
            rows.append(("already", 0.0, 0, ""))
            interventions.append({})
            counterfactuals.append(x.copy())
            continue
        best = (np.inf, None, None)
        rng = np.random.RandomState(seeds[i]) if setup.linear is None else None
        for s in setup.subsets:
            low = np.array([_low(v, x[position[v]], setup.monotone, setup.bounds)
                            for v in s])
            high = np.array([_high(v, x[position[v]], setup.monotone, setup.bounds)
                             for v in s])
            costs = np.array([1.0 / setup.scale[v] for v in s])
            current = np.array([x[position[v]] for v in s])
            if setup.linear is not None:
                delta, value = _solve_integer(setup.gains[s], need + setup.penalty[s],
                                              costs, low, high, setup.cost,
                                              setup.is_integer[s], current)
            else:
                delta, value = _search_action(is_desired, x, setup.effects[s], costs, low,
                                              high, setup.cost, setup.is_integer[s],
                                              current, setup.n_directions,
                                              setup.max_cost, rng)
            # Ties (within rounding) keep the smaller set, tried first.
            if delta is not None and (best[1] is None
                                      or value < best[0] - 1e-12 * max(1.0, best[0])):
                best = (value, s, delta)
        value, s, delta = best
        if s is None:
            rows.append(("infeasible", np.inf, 0, ""))
            interventions.append({})
            counterfactuals.append(x.copy())
            continue
        acted = {v: d for v, d in zip(s, delta) if d != 0.0}
        new = x + setup.effects[s] @ delta
        verb = "shift" if setup.intervention == "soft" else None
        rows.append(("found", value, len(acted), "; ".join(
            f"{verb or ('increase' if d > 0 else 'decrease')} {v} by "
            f"{(d if verb else abs(d)):.2f}" for v, d in acted.items())))
        interventions.append({v: float(new[position[v]]) for v in s})
        counterfactuals.append(new)
    return rows, interventions, counterfactuals


#: Integer changes enumerated at most per set of features acted on.
MAX_INTEGER_COMBINATIONS = 100_000


def _integer_values(current, low, high, limit):
    """Changes ``d`` with ``current + d`` an integer, ``low <= d <= high``
    and ``|d| <= limit``."""
    lo = max(low, -limit)
    hi = min(high, limit)
    first, last = np.ceil(current + lo - 1e-9), np.floor(current + hi + 1e-9)
    if last < first:
        return np.empty(0)
    if last - first > MAX_INTEGER_COMBINATIONS:
        raise ValueError("too many integer values to enumerate; give bounds on the "
                         "integer features.")
    return np.arange(first, last + 1) - current


def _solve_integer(a, r, costs, low, high, cost, is_int, current):
    """:func:`solve_action` with some coordinates' new values integers:
    exact, by enumerating the integer changes within the cost of a feasible
    action and solving the others exactly for each."""
    if not is_int.any():
        return solve_action(a, r, costs, low, high, cost)
    relaxed, _ = solve_action(a, r, costs, low, high, cost)
    if relaxed is None:
        return None, np.inf
    cont = ~is_int

    def total(delta_int, delta_cont):
        parts = np.r_[costs[is_int] * delta_int, costs[cont] * delta_cont]
        return float(np.abs(parts).sum() if cost == "l1" else np.sqrt(np.sum(parts**2)))

    def complete(delta_int):
        need = r - a[is_int] @ delta_int
        if cont.any():
            if need <= 0:
                return np.zeros(cont.sum()), total(delta_int, np.zeros(cont.sum()))
            d, _ = solve_action(a[cont], need, costs[cont], low[cont], high[cont], cost)
            return (None, np.inf) if d is None else (d, total(delta_int, d))
        return (np.zeros(0), total(delta_int, np.zeros(0))) if need <= 1e-12 * max(
            1.0, abs(r)) else (None, np.inf)

    # An upper bound: the relaxed action's integer coordinates rounded in the
    # direction of their gain (then clipped back into the bounds).
    limit = np.inf
    rounded = relaxed[is_int].copy()
    up = a[is_int] >= 0
    value_new = current[is_int] + rounded
    rounded = np.where(up, np.ceil(value_new - 1e-9), np.floor(value_new + 1e-9)) \
        - current[is_int]
    if np.all(rounded >= low[is_int] - 1e-12) and np.all(rounded <= high[is_int] + 1e-12):
        d, value = complete(rounded)
        if d is not None:
            limit = value
    ranges = []
    for j, c in zip(np.flatnonzero(is_int), costs[is_int]):
        ranges.append(_integer_values(current[j], low[j], high[j], limit / c))
    n_combinations = int(np.prod([len(v) for v in ranges]))
    if n_combinations > MAX_INTEGER_COMBINATIONS:
        raise ValueError(f"{n_combinations} integer changes to enumerate (more than "
                         f"{MAX_INTEGER_COMBINATIONS}); give bounds on the integer "
                         "features.")
    best = (None, np.inf)
    for combo in itertools.product(*ranges):
        delta_int = np.array(combo, dtype=float)
        d, value = complete(delta_int)
        if d is not None and (best[0] is None
                              or value < best[1] - 1e-12 * max(1.0, best[1])):
            full = np.zeros(a.size)
            full[is_int], full[cont] = delta_int, d
            best = (full, value)
    return best


#: Search: cost steps scanned per direction before the bisection.
SEARCH_GRID = 24
#: Search: bisection steps on the best direction.
SEARCH_BISECTION = 30


def _search_action(is_desired, x, effect, costs, low, high, cost, is_int, current,
                   n_directions, max_cost, rng):
    """A valid action of small cost for any classifier: random directions
    of the allowed box at unit cost, each scanned for its first valid cost;
    the best refined by bisection; integer changes rounded away from zero;
    validity checked on the model."""
    k = effect.shape[1]
    D = rng.standard_normal((n_directions, k))
    D = np.where(high[None, :] <= 0, -np.abs(D), D)
    D = np.where(low[None, :] >= 0, np.abs(D), D)
    D[:, (low >= 0) & (high <= 0)] = 0.0
    norms = (np.abs(costs * D).sum(axis=1) if cost == "l1"
             else np.sqrt(((costs * D) ** 2).sum(axis=1)))
    keep = norms > 0
    if not keep.any():
        return None, np.inf
    D = D[keep] / norms[keep, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = np.where(D > 0, high / D, np.where(D < 0, low / D, np.inf))
    t_max = np.minimum(reach.min(axis=1), max_cost)
    steps = np.arange(1, SEARCH_GRID + 1) / SEARCH_GRID
    T = t_max[:, None] * steps[None, :]                      # (n_dir, grid)
    deltas = T[:, :, None] * D[:, None, :]                   # (n_dir, grid, k)
    deltas = _round_integer(deltas, is_int, current)
    rows = x[None, :] + deltas.reshape(-1, k) @ effect.T
    valid = is_desired(rows).reshape(T.shape)
    if not valid.any():
        return None, np.inf
    first = np.where(valid.any(axis=1), valid.argmax(axis=1), SEARCH_GRID)
    t_first = np.where(first < SEARCH_GRID, T[np.arange(len(T)), np.minimum(
        first, SEARCH_GRID - 1)], np.inf)
    d = int(np.argmin(t_first))
    lo_t = T[d, first[d] - 1] if first[d] > 0 else 0.0
    hi_t = t_first[d]
    for _ in range(SEARCH_BISECTION):
        mid = 0.5 * (lo_t + hi_t)
        delta = _round_integer(mid * D[d][None, None, :], is_int, current)[0, 0]
        if is_desired((x + effect @ delta)[None, :])[0]:
            hi_t = mid
        else:
            lo_t = mid
    delta = _round_integer(hi_t * D[d][None, None, :], is_int, current)[0, 0]
    if not is_desired((x + effect @ delta)[None, :])[0]:
        return None, np.inf
    value = (float(np.sum(costs * np.abs(delta))) if cost == "l1"
             else float(np.sqrt(np.sum((costs * delta) ** 2))))
    return delta, value


def _round_integer(deltas, is_int, current):
    """Round the integer coordinates' new values away from the current value."""
    if not is_int.any():
        return deltas
    out = deltas.copy()
    new = current[is_int] + out[..., is_int]
    rounded = np.where(out[..., is_int] >= 0, np.ceil(new - 1e-9), np.floor(new + 1e-9))
    out[..., is_int] = rounded - current[is_int]
    return out


def _low(v, value, monotone, bounds):
    """Lower bound on the change of ``v`` (<= 0): its monotonicity and its
    bounds; a feature outside its bounds is not acted on."""
    if v in bounds and not bounds[v][0] <= value <= bounds[v][1]:
        return 0.0
    low = 0.0 if monotone.get(v) == "increase" else -np.inf
    if v in bounds:
        low = max(low, bounds[v][0] - value)
    return low


def _high(v, value, monotone, bounds):
    """Upper bound on the change of ``v`` (>= 0), as :func:`_low`."""
    if v in bounds and not bounds[v][0] <= value <= bounds[v][1]:
        return 0.0
    high = 0.0 if monotone.get(v) == "decrease" else np.inf
    if v in bounds:
        high = min(high, bounds[v][1] - value)
    return high


@dataclass
class RecourseDisparity:
    """The outcome of :func:`recourse_disparity`.

    Attributes
    ----------
    groups : pandas.DataFrame
        One row per level of the sensitive attribute: ``n``, ``n_denied``,
        ``share_with_recourse`` (of the denied), and the ``mean_cost``,
        ``median_cost`` and ``q90_cost`` of the denied rows' recourse (those
        with recourse).
    gap : float
        The largest difference in mean cost between two groups.
    individual : pandas.DataFrame or None
        For a binary attribute, per denied row: its ``cost``, its
        counterfactual twin's ``twin_cost`` (the same person had the
        attribute been the other level, under the SCM; 0 when the twin is
        not denied) and ``gap = cost - twin_cost``.
    """

    groups: pd.DataFrame
    gap: float
    individual: pd.DataFrame = None


def recourse_disparity(estimator, X, scm, actionable, sensitive, **kwargs):
    """Is recourse fair? The cost of recourse by group, and against the twin.

    Among the rows the model denies, the minimal cost of recourse
    (:func:`causal_recourse`) is compared between the levels of the
    sensitive attribute (group recourse disparity), and, for a binary
    attribute, each denied person's cost is compared with their
    counterfactual twin's (individual recourse fairness), after von
    Kügelgen et al. (2022).

    Parameters
    ----------
    estimator, X, scm, actionable
        As in :func:`causal_recourse`.
    sensitive : str
        A column of ``X`` and a numeric node of ``scm`` (not actionable).
    **kwargs
        Passed to :func:`causal_recourse` (``desired``, ``cost``, ...).

    Returns
    -------
    result : RecourseDisparity

    Raises
    ------
    ValueError
        ``sensitive`` not a column of ``X``, actionable, or with one level;
        and the errors of :func:`causal_recourse`.

    References
    ----------
    .. [1] J. von Kügelgen, A.-H. Karimi, U. Bhatt, I. Valera, A. Weller and
       B. Schölkopf, "On the fairness of causal algorithmic recourse", AAAI
       2022.
    """
    if not isinstance(X, pd.DataFrame) or sensitive not in X.columns:
        raise ValueError(f"sensitive={sensitive!r} must be a column of X.")
    acted = [actionable] if isinstance(actionable, str) else list(actionable)
    if sensitive in acted:
        raise ValueError(f"sensitive={sensitive!r} is actionable; a sensitive attribute "
                         "is not something a person acts on.")
    levels = sorted(pd.unique(X[sensitive]).tolist())
    if len(levels) < 2:
        raise ValueError(f"sensitive={sensitive!r} has one level {levels!r} in X.")
    result = causal_recourse(estimator, X, scm, actionable, **kwargs)
    denied = result.table["status"] != "already"
    rows = []
    for level in levels:
        group = (X[sensitive] == level).to_numpy()
        costs = result.table.loc[group & denied.to_numpy(), "cost"]
        finite = costs[np.isfinite(costs)]
        rows.append({
            "level": level, "n": int(group.sum()), "n_denied": int(costs.size),
            "share_with_recourse": float(finite.size / costs.size) if costs.size
            else float("nan"),
            "mean_cost": float(finite.mean()) if finite.size else float("nan"),
            "median_cost": float(finite.median()) if finite.size else float("nan"),
            "q90_cost": float(finite.quantile(0.9)) if finite.size else float("nan"),
        })
    groups = pd.DataFrame(rows).set_index("level")
    means = groups["mean_cost"].dropna()
    gap = float(means.max() - means.min()) if means.size >= 2 else float("nan")
    individual = None
    if len(levels) == 2 and denied.any():
        who = X[denied.to_numpy()]
        other = np.where(who[sensitive] == levels[0], levels[1], levels[0])
        twins = scm.counterfactual(who, {sensitive: other})[list(X.columns)]
        twin = causal_recourse(estimator, twins, scm, actionable, **kwargs)
        individual = pd.DataFrame({
            "cost": result.table.loc[who.index, "cost"],
            "twin_cost": twin.table["cost"].to_numpy(),
        }, index=who.index)
        individual["gap"] = individual["cost"] - individual["twin_cost"]
    return RecourseDisparity(groups, gap, individual)


def make_recourse_scorer(scm, actionable, *, statistic="mean", **kwargs):
    """A scorer of the cost of recourse, for model selection.

    ``scorer(estimator, X, y=None)`` returns **minus** the mean (or median)
    cost of :func:`causal_recourse` over the rows of ``X`` the model denies
    (greater is better, as scikit-learn expects); rows without recourse
    (``"infeasible"``) count with the largest finite cost found, or 0 when
    there is none, and ``0.0`` when nobody is denied. Use it beside accuracy in a
    multi-metric search: a model that denies people who then have a long
    way to go scores low.

    Parameters
    ----------
    scm : LinearSCM
    actionable : list of str
    statistic : {"mean", "median"}, default="mean"
    **kwargs
        Passed to :func:`causal_recourse` (``cost``, ``monotone``, ...).

    Returns
    -------
    scorer : callable
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median'; got {statistic!r}.")

    def scorer(estimator, X, y=None):
        result = causal_recourse(estimator, X, scm, actionable, **kwargs)
        denied = result.table[result.table["status"] != "already"]
        if denied.empty:
            return 0.0
        costs = denied["cost"].to_numpy(dtype=float)
        finite = costs[np.isfinite(costs)]
        costs = np.where(np.isfinite(costs), costs, finite.max() if finite.size else 0.0)
        return -float(np.mean(costs) if statistic == "mean" else np.median(costs))

    return scorer
