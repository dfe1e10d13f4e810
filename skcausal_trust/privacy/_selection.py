"""Private hyper-parameter selection: random stopping over private fits,
scored on a private release of held-out statistics."""

import warnings
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import pandas as pd
from dp_accounting import GaussianDpEvent, get_sigma_gaussian
from dp_accounting.dp_event import RepeatAndSelectDpEvent
from dp_accounting.rdp import rdp_privacy_accountant
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid
from sklearn.utils import check_array

from ..exceptions import PrivacyBudgetWarning, PrivacyLeakWarning
from ._accounting import HashKFold
from ._mechanisms import gaussian_noise_scale
from ._regressor import DPCausalRegressor, release_grams, release_weights
from ._statistics import clip_records, exact_gram_sums, rounding_allowance

__all__ = ["PrivateSearchResult", "private_random_search"]


@dataclass
class PrivateSearchResult:
    """The outcome of :func:`private_random_search`.

    Attributes
    ----------
    best_params : dict
        The selected candidate's parameters.
    best_estimator : DPCausalRegressor
        Its private fit on the training part (the model released).
    best_score : float
        Its private score: minus the mean squared error on the held-out
        part, computed from the held-out release (in units of ``y``
        squared).
    epsilon, delta : float
        The guarantee of the whole search (``inf`` if it does not hold).
    epsilon_rounds, epsilon_validation : float
        The two parts: the repeated fits (random stopping) and the held-out
        release; a record is in one part only, so the total is the larger.
    n_rounds : int
        How many candidates were drawn (random, mean ``mean_rounds``). **Not
        covered**: the guarantee needs the number of rounds to stay hidden;
        do not publish it.
    tried : list of dict
        Each round's candidate parameters and private score. **Not
        covered** either (its length is ``n_rounds``): release
        ``best_params``, ``best_estimator`` and ``best_score`` only.
    """

    best_params: dict
    best_estimator: DPCausalRegressor
    best_score: float
    epsilon: float
    delta: float
    epsilon_rounds: float
    epsilon_validation: float
    n_rounds: int
    tried: list = field(default_factory=list)


def _ids_of(X, ids):
    if ids is not None:
        return list(np.asarray(ids, dtype=object))
    if isinstance(X, pd.DataFrame):
        return list(X.index)
    raise ValueError("private_random_search needs record ids for its public split: pass "
                     "ids= (one per row) or X as a DataFrame indexed by record id.")


def private_random_search(estimator, param_grid, X, y, *, ids=None, mean_rounds=10,
                          validation_share=0.25, validation_epsilon=1.0, delta=None,
                          salt="", random_state=None):
    """Select hyper-parameters of a private regressor privately.

    The rows are split by a public hash of their ids (as :class:`HashKFold`)
    into a training part and a held-out part. The held-out part's Gram
    matrix of ``[1, x / B_x, y / B_y]`` (clipped to the estimator's
    declared bounds) is released once with Gaussian noise for
    ``(validation_epsilon, delta)``. Then a random number of rounds
    ``K`` is run, geometric with mean ``mean_rounds``: each round draws a
    candidate uniformly from ``param_grid``, fits the private estimator on
    the training part, and scores it by minus its mean squared error on the
    held-out part, computed from the held-out release (post-processing).
    The best candidate is returned.

    **Guarantee** (add/remove one record). The rounds are Papernot and
    Steinke's repeat-and-select with a geometric number of runs; its Renyi
    privacy is computed by dp-accounting's RDP accountant
    (``RepeatAndSelectDpEvent``) from the smallest noise multiplier among
    the candidates, and converted to ``epsilon_rounds`` at ``delta``. The
    held-out release costs ``validation_epsilon``. A record is in one part
    only (its hash decides), so the total is the larger of the two. Only the
    selected candidate, its fitted model and its score are covered; the
    other rounds' scores are not to be published.

    Parameters
    ----------
    estimator : DPCausalRegressor
        With declared ``feature_bound`` and ``target_bound`` (shared by the
        candidates) and ``random_state=None``; pooled fits only (no
        environments).
    param_grid : dict or list of dicts
        As :class:`~sklearn.model_selection.ParameterGrid`; the candidates
        may change ``epsilon`` (each round is charged at the smallest noise),
        ``causal_features``, ``fit_intercept``.
    X : DataFrame or array of shape (n_samples, n_features)
        Numeric predictors.
    y : array-like of shape (n_samples,)
    ids : array-like of shape (n_samples,) or None, default=None
        Public record ids for the split; ``None`` uses the index of a
        DataFrame ``X``.
    mean_rounds : float, default=10
        Mean of the geometric number of rounds, >= 1.
    validation_share : float, default=0.25
        Share of the hash range held out, in (0, 1) (the held-out share of
        the rows is close to it).
    validation_epsilon : float, default=1.0
        Budget of the held-out release, > 0.
    delta : float or None, default=None
        The ``delta`` of the held-out release and the one at which the
        rounds' Renyi guarantee is converted to ``epsilon_rounds``; the
        estimator's ``delta`` by default. Each round is charged at its
        candidate's own calibration ``(epsilon, delta)``.
    salt : str, default=""
        Mixed into the hash of the split.
    random_state : None, int or Generator, default=None
        Draws the number of rounds and the candidates (not the noise, which
        the estimator draws with OpenDP). The number of rounds must stay
        secret for the guarantee: a seeded search is not private
        (``epsilon = inf``, with a ``PrivacyLeakWarning``).

    Returns
    -------
    result : PrivateSearchResult

    Raises
    ------
    ValueError
        For an estimator that is not a :class:`DPCausalRegressor` with
        declared bounds, candidates that use environments, bad arguments,
        or a split that leaves a part empty.

    References
    ----------
    .. [1] N. Papernot and T. Steinke, "Hyperparameter tuning with Renyi
       differential privacy", ICLR 2022.
    .. [2] J. Liu and K. Talwar, "Private selection from private
       candidates", STOC 2019.
    """
    if not isinstance(estimator, DPCausalRegressor):
        raise ValueError("private_random_search tunes a DPCausalRegressor; got "
                         f"{type(estimator).__name__}.")
    if estimator.feature_bound is None or estimator.target_bound is None:
        raise ValueError("private_random_search needs declared feature_bound and "
                         "target_bound on the estimator (the held-out release uses them).")
    if estimator.random_state is not None:
        raise ValueError("the estimator's random_state must be None (OpenDP noise).")
    if estimator.neighbouring != "add_remove":
        raise ValueError("private_random_search is stated for add/remove neighbours; the "
                         f"estimator has neighbouring={estimator.neighbouring!r}.")
    if not isinstance(mean_rounds, Real) or not mean_rounds >= 1:
        raise ValueError(f"mean_rounds must be a number >= 1; got {mean_rounds!r}.")
    if not isinstance(validation_share, Real) or not 0 < validation_share < 1:
        raise ValueError(f"validation_share must be in (0, 1); got {validation_share!r}.")
    if not isinstance(validation_epsilon, Real) or not validation_epsilon > 0:
        raise ValueError(f"validation_epsilon must be > 0; got {validation_epsilon!r}.")
    delta = float(estimator.delta if delta is None else delta)
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1); got {delta!r}.")
    candidates = list(ParameterGrid(param_grid))
    if not candidates:
        raise ValueError("param_grid has no candidate.")
    for params in candidates:
        unknown = set(params) - set(estimator.get_params())
        if unknown:
            raise ValueError(f"param_grid names {sorted(unknown)!r}, which are not "
                             "parameters of the estimator.")
        if {"feature_bound", "target_bound", "random_state"} & set(params):
            raise ValueError("the candidates must share the bounds and random_state=None.")
        merged = {**estimator.get_params(), **params}
        if merged["gamma"] != 1.0 or merged["causal_features"] == "icp":
            raise ValueError("private_random_search supports pooled fits only (gamma=1, no "
                             "'icp'): environments are not split by the hash yet.")
    Xa = check_array(X, dtype=np.float64, input_name="X")
    ya = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
    if Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"y has {ya.shape[0]} rows but X has {Xa.shape[0]}.")
    record_ids = _ids_of(X, ids)
    if len(record_ids) != Xa.shape[0]:
        raise ValueError(f"ids has {len(record_ids)} values but X has {Xa.shape[0]} rows.")
    if pd.Series(record_ids, dtype=object).duplicated().any():
        raise ValueError("ids repeat: each record needs its own id.")

    # The public split: hash of the id into 1,000 buckets.
    buckets = HashKFold(1000, salt=salt).fold_of(record_ids)
    held_out = buckets < int(round(1000 * validation_share))
    if held_out.all() or not held_out.any():
        raise ValueError("the hash split left one part empty; use more rows or another "
                         "validation_share.")
    leaks = []
    rng = np.random.default_rng(random_state)
    if random_state is not None:
        leaks.append("the number of rounds and the candidates were drawn from a seeded "
                     "generator")
        warnings.warn("random_state is set: the number of rounds is reproducible, so the "
                      "search is not private (epsilon = inf).", PrivacyLeakWarning,
                      stacklevel=2)

    # The held-out release (every predictor, pooled weights of 1).
    fb, tb = float(estimator.feature_bound), float(estimator.target_bound)
    k = Xa.shape[1]
    W, formula = release_weights(k)
    sensitivity = formula + rounding_allowance(W)
    sigma_v = gaussian_noise_scale(validation_epsilon, delta, sensitivity)
    kx, ky = clip_records(Xa[held_out], ya[held_out], fb, tb)
    G = release_grams(exact_gram_sums(kx, ky), W, sigma_v, sensitivity)[0]
    n_held = max(G[0, 0], 1.0)

    def score(model):
        c = np.concatenate([[-model.intercept_], -fb * model.coef_, [tb]])
        return -float(c @ G @ c) / n_held

    # The rounds: a geometric number (mean mean_rounds), candidates uniform.
    n_rounds = int(rng.geometric(1.0 / mean_rounds))
    X_train = X.iloc[~held_out] if isinstance(X, pd.DataFrame) else Xa[~held_out]
    y_train = ya[~held_out]
    tried, best = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyBudgetWarning)
        for _ in range(n_rounds):
            params = candidates[int(rng.integers(len(candidates)))]
            model = clone(estimator).set_params(**params).fit(X_train, y_train)
            if not model.is_private_:
                leaks.extend(model.privacy_leaks_)
            s = score(model)
            tried.append({"params": params, "score": s})
            if best is None or s > best[2]:
                best = (params, model, s)

    # The guarantee: repeat-and-select over the least noisy candidate.
    # Each candidate's noise multiplier comes from its own calibration
    # (epsilon, delta); the least noisy one bounds every round.
    multiplier = min(get_sigma_gaussian(float(merged["epsilon"]), float(merged["delta"]))
                     for merged in ({**estimator.get_params(), **p} for p in candidates))
    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(RepeatAndSelectDpEvent(GaussianDpEvent(multiplier),
                                              float(mean_rounds), 1.0))
    epsilon_rounds = float(accountant.get_epsilon(delta))
    epsilon = max(epsilon_rounds, float(validation_epsilon)) if not leaks else float("inf")
    return PrivateSearchResult(
        best_params=dict(best[0]), best_estimator=best[1], best_score=best[2],
        epsilon=epsilon, delta=delta, epsilon_rounds=epsilon_rounds,
        epsilon_validation=float(validation_epsilon), n_rounds=n_rounds, tried=tried)

