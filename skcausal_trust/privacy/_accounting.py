"""The total privacy loss of many private fits, and cross-validation folds
that one record's addition changes in one place only."""

import hashlib
from numbers import Integral

import numpy as np
import pandas as pd
from dp_accounting import GaussianDpEvent, NonPrivateDpEvent, get_sigma_gaussian
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant
from sklearn.model_selection import BaseCrossValidator, KFold
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils.validation import check_is_fitted

__all__ = ["HashKFold", "PrivacyAccountant"]


class HashKFold(BaseCrossValidator):
    """K-fold cross-validation with folds set by a public hash of record ids.

    A record's fold is ``blake2b(str(id) + salt) mod n_splits``, a function
    of the record alone: adding or removing one record leaves every other
    record in its fold, so each training set changes by at most that one
    record. With :class:`~sklearn.model_selection.KFold` the fold
    boundaries are positions: adding a record shifts them, and a training
    set can change by up to 3 records (with ``shuffle=True``, by any number),
    which multiplies the privacy cost of each fit (group privacy; see
    :class:`PrivacyAccountant`). Folds have random, not equal, sizes.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    salt : str, default=""
        Public string mixed into the hash (another salt, another split).

    Notes
    -----
    The record ids are ``groups`` when given, otherwise the index of a
    DataFrame ``X``; they must be distinct and fixed before the data are
    seen (a customer number, not a row position).

    Examples
    --------
    >>> import pandas as pd
    >>> from skcausal_trust.privacy import HashKFold
    >>> X = pd.DataFrame({"x": range(6)}, index=[f"id{i}" for i in range(6)])
    >>> folds = [test.tolist() for _, test in HashKFold(2).split(X)]
    >>> sorted(sum(folds, []))
    [0, 1, 2, 3, 4, 5]
    """

    def __init__(self, n_splits=5, *, salt=""):
        if not isinstance(n_splits, Integral) or isinstance(n_splits, bool) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2; got {n_splits!r}.")
        if not isinstance(salt, str):
            raise ValueError(f"salt must be a string; got {salt!r}.")
        self.n_splits = n_splits
        self.salt = salt

    def get_n_splits(self, X=None, y=None, groups=None):
        """The number of folds, ``n_splits``."""
        return self.n_splits

    def fold_of(self, ids):
        """Each record's fold (``0 .. n_splits - 1``) from its id."""
        return np.fromiter(
            (int.from_bytes(hashlib.blake2b((str(i) + self.salt).encode(),
                                            digest_size=8).digest(), "little")
             % self.n_splits for i in ids), dtype=np.intp, count=len(ids))

    def _iter_test_masks(self, X=None, y=None, groups=None):
        if groups is not None:
            ids = pd.Series(np.asarray(groups, dtype=object))
            source = "groups"
        elif isinstance(X, pd.DataFrame):
            ids = pd.Series(X.index, dtype=object)
            source = "X's index"
        else:
            raise ValueError("HashKFold needs record ids: pass groups= (one id per row) or "
                             "X as a DataFrame indexed by record id.")
        if ids.duplicated().any():
            raise ValueError(f"HashKFold: {source} repeats ids "
                             f"{ids[ids.duplicated()].astype(str).tolist()[:5]!r}; "
                             "each record needs its own id.")
        folds = self.fold_of(ids.tolist())
        for k in range(self.n_splits):
            yield folds == k


def _void_guarantee(params):
    """Why a private fit with these parameters has no guarantee, as far as
    the parameters tell (``None`` if they do not say)."""
    if params.get("feature_bound") is None or params.get("target_bound") is None:
        return "bounds taken from the data"
    if params.get("random_state") is not None:
        return "noise drawn from a seeded generator"
    compares = params.get("gamma", 1.0) != 1.0 or params.get("causal_features") == "icp"
    if compares and params.get("environment_levels") is None:
        return "environment levels taken from the data"
    return None


class PrivacyAccountant:
    """The total ``(epsilon, delta)`` of a sequence of private fits.

    Each fit of :class:`DPCausalRegressor` is one Gaussian mechanism whose
    noise multiplier (noise standard deviation over L2 sensitivity) depends
    on its ``epsilon`` and ``delta`` only; the accountant composes them
    with dp-accounting's privacy loss distribution accountant (tight, the
    default) or its Renyi accountant, under the add/remove-one-record
    relation. A fit whose guarantee is void (``is_private_ = False``)
    makes the total infinite.

    Parameters
    ----------
    accounting : {"pld", "rdp"}, default="pld"
        dp-accounting's ``PLDAccountant`` or ``RdpAccountant``.
    neighbouring : {"add_remove", "replace_one"}, default="add_remove"
        The relation the total is stated for; only fits calibrated for it
        (their ``neighbouring`` parameter) can be charged. Each Gaussian
        release is charged with its noise over its sensitivity under that
        relation, so the composition is the same computation for both.

    Attributes
    ----------
    n_fits_ : int
        Fits charged so far.
    uncovered_ : list of str
        What the charges do not cover (for a search: its cross-validation
        scores and its choice).

    Notes
    -----
    **Group privacy.** When neighbouring data sets make one fit's training
    data differ by ``g`` records, that fit is a Gaussian mechanism with
    sensitivity ``g`` times larger: it is charged with its noise multiplier
    divided by ``g`` (exact for the Gaussian mechanism). For a search with
    :class:`~sklearn.model_selection.KFold` without shuffling, ``g = 3``
    (adding a record shifts two fold boundaries); with :class:`HashKFold`,
    ``g = 1`` and a record is in the training set of ``n_splits - 1`` fits
    per candidate.

    Examples
    --------
    >>> from skcausal_trust.privacy import PrivacyAccountant
    >>> accountant = PrivacyAccountant()
    >>> _ = accountant.charge_gaussian(epsilon=1.0, delta=1e-6, count=4)
    >>> round(accountant.get_epsilon(1e-6), 2)  # not 4: Gaussian composition
    2.12
    """

    def __init__(self, accounting="pld", neighbouring="add_remove"):
        if accounting not in ("pld", "rdp"):
            raise ValueError(f"accounting must be 'pld' or 'rdp'; got {accounting!r}.")
        if neighbouring not in ("add_remove", "replace_one"):
            raise ValueError("neighbouring must be 'add_remove' or 'replace_one'; got "
                             f"{neighbouring!r}.")
        self.accounting = accounting
        self.neighbouring = neighbouring
        self._accountant = (pld_privacy_accountant.PLDAccountant() if accounting == "pld"
                            else rdp_privacy_accountant.RdpAccountant())
        self.n_fits_ = 0
        self.uncovered_ = []

    def charge_gaussian(self, *, epsilon, delta, count=1, group_size=1):
        """Charge ``count`` Gaussian mechanisms calibrated to ``(epsilon, delta)``.

        Parameters
        ----------
        epsilon, delta : float
            Each mechanism's calibration (analytic Gaussian).
        count : int, default=1
        group_size : int, default=1
            Records by which neighbouring data sets change each mechanism's
            input (see Notes).

        Returns
        -------
        self : PrivacyAccountant
        """
        if not (isinstance(count, Integral) and count >= 1):
            raise ValueError(f"count must be an integer >= 1; got {count!r}.")
        if not (isinstance(group_size, Integral) and group_size >= 1):
            raise ValueError(f"group_size must be an integer >= 1; got {group_size!r}.")
        if epsilon == np.inf:
            self._accountant.compose(NonPrivateDpEvent(), count)
        else:
            multiplier = get_sigma_gaussian(float(epsilon), float(delta)) / group_size
            self._accountant.compose(GaussianDpEvent(multiplier), count)
        self.n_fits_ += int(count)
        return self

    def charge(self, fitted, *, group_size=1):
        """Charge a fitted private estimator, or a fitted search over one.

        Parameters
        ----------
        fitted : DPCausalRegressor or GridSearchCV / RandomizedSearchCV
            Fitted. Any other fitted estimator (one without ``epsilon_``)
            has no guarantee: it makes the total infinite and is listed in
            ``uncovered_``. A search is charged for every fit it ran: each
            candidate on each split, and the refit. Its splitter sets the
            group size: :class:`HashKFold` 1 (and ``n_splits - 1`` fits per
            candidate see a given record), ``KFold(shuffle=False)`` 3 (2
            under ``replace_one``: a replacement can move rows whose order
            depends on the values); any other splitter, a search over a
            Pipeline (its other steps are fitted without noise) or over a
            non-private estimator make the total infinite, and so does a
            candidate whose parameters void its guarantee (bounds or
            environment levels from the data, a seed, another
            ``neighbouring``); the refit's ``is_private_`` is checked too.
            A search's ``cv_results_`` and its choice of ``best_params_``
            use the held-out rows without noise and are never covered
            (listed in ``uncovered_``).
        group_size : int, default=1
            For a single estimator (see :meth:`charge_gaussian`).

        Returns
        -------
        self : PrivacyAccountant

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fitted`` is not fitted.
        ValueError
            A single estimator calibrated for another ``neighbouring`` than
            the accountant's.
        """
        if isinstance(fitted, BaseSearchCV):
            return self._charge_search(fitted)
        from ._regressor import DPCausalRegressor

        if not isinstance(fitted, DPCausalRegressor) and not hasattr(fitted, "epsilon_"):
            check_is_fitted(fitted)
            self.uncovered_.append(f"{type(fitted).__name__} is not a private estimator")
            return self.charge_gaussian(epsilon=np.inf, delta=0.5)
        check_is_fitted(fitted, "epsilon_")
        self._check_relation(fitted)
        epsilon = fitted.epsilon_ if getattr(fitted, "is_private_", True) else np.inf
        return self.charge_gaussian(epsilon=epsilon, delta=fitted.delta_,
                                    group_size=group_size)

    def _check_relation(self, estimator):
        relation = getattr(estimator, "neighbouring", "add_remove")
        if relation != self.neighbouring:
            raise ValueError(
                f"the accountant composes {self.neighbouring!r} fits; this fit is "
                f"calibrated for neighbouring={relation!r}.")

    def _charge_search(self, search):
        check_is_fitted(search, "cv_results_")
        from ._regressor import DPCausalRegressor

        n_splits = int(search.n_splits_)
        results = search.cv_results_
        base = search.estimator
        splitter = search.cv
        if not isinstance(base, DPCausalRegressor):
            self.charge_gaussian(epsilon=np.inf, delta=0.5, count=1)
            self.uncovered_.append(f"{type(base).__name__} is not a private estimator")
            return self
        if isinstance(splitter, HashKFold):
            group, per_candidate = 1, n_splits - 1
        elif isinstance(splitter, KFold) and self.neighbouring == "replace_one":
            # A replacement can move rows when their order depends on the
            # values (sorted data): up to two training rows change.
            group, per_candidate = 2, n_splits
        elif isinstance(splitter, KFold) and not splitter.shuffle:
            group, per_candidate = 3, n_splits
        else:
            group, per_candidate = None, n_splits
        for params in results["params"]:
            candidate = base.get_params()
            candidate.update(params)
            void = _void_guarantee(candidate)
            if candidate.get("neighbouring", "add_remove") != self.neighbouring:
                void = (f"a candidate is calibrated for neighbouring="
                        f"{candidate['neighbouring']!r}")
            if void:
                self.uncovered_.append(f"candidate {params!r}: {void}")
            epsilon = candidate["epsilon"] if group is not None and not void else np.inf
            self.charge_gaussian(epsilon=epsilon, delta=candidate["delta"],
                                 count=per_candidate, group_size=group or 1)
        if group is None:
            self.uncovered_.append(
                f"the splitter {splitter!r} can change every training set when one record "
                "is added: no bound (use HashKFold)")
        if getattr(search, "refit", False) and hasattr(search, "best_estimator_"):
            best = search.best_estimator_
            if getattr(best, "neighbouring", "add_remove") != self.neighbouring:
                self.charge_gaussian(epsilon=np.inf, delta=best.delta_)
            else:
                self.charge(best)
        else:
            # Categorical columns whose levels were not declared show only in
            # a fitted estimator's privacy_leaks_.
            self.uncovered_.append(
                "without a refit, the fits' own privacy_leaks_ (levels of categorical "
                "columns taken from the data) could not be checked")
        self.uncovered_.append(
            f"{type(search).__name__}'s cv_results_ and its choice of best_params_ (scores "
            "on held-out rows without noise)")
        return self

    def get_epsilon(self, delta):
        """Total epsilon at ``delta`` of everything charged (0 if nothing)."""
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1); got {delta!r}.")
        return float(self._accountant.get_epsilon(delta))

    def get_delta(self, epsilon):
        """Total delta at ``epsilon`` of everything charged."""
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0; got {epsilon!r}.")
        return float(self._accountant.get_delta(epsilon))
