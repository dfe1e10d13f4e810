"""What the one-step estimator of the causal fairness decomposition promises,
tested where correctly specified nuisance models cannot: double robustness
(one wrong nuisance model, the estimate still centres on the truth; both
wrong, it does not), cross-fitting (no nuisance prediction comes from a
model that saw its row), and interval coverage with one wrong nuisance.

Issue: "Tests that catch the silent bugs".

The simulated standard fairness model, with ``logit P(x1 | z) = -1 + z +
0.7 z ** 2``::

    z ~ N(0, 1),  w = x + z / 2 + u_w,  y = x + 2 w + z + 2 x z + x w + u_y.

Its regressions ``E[y | x, z]``, ``E[y | x, z, w]`` are quadratic and its
propensities ``logit P(x1 | z)``, ``logit P(x1 | z, w)`` are quadratic in
``z`` (and linear in ``w``): models on degree-2 polynomial features are
right, a plain linear (logistic) regression is wrong -- it omits the
interactions of ``x`` (the outcome) or the square of ``z`` (the propensity).
"""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from skcausal_trust.decomposition import causal_fairness_decomposition

MEASURES = ("TV", "DE", "IE", "SE")
# logit P(x1 | z) = PROP[0] + PROP[1] z + PROP[2] z ** 2; y's interactions.
PROP = (-1.0, 1.0, 0.7)
XZ, XW = 2.0, 1.0


def _propensity(z):
    return expit(PROP[0] + PROP[1] * z + PROP[2] * z**2)


def _draw_noise(n, rng):
    z = rng.normal(size=n)
    x = (rng.uniform(size=n) < _propensity(z)).astype(int)
    return z, x, rng.normal(size=n), rng.normal(size=n)


def _mediator(x, z, u_w):
    return x + 0.5 * z + u_w


def _outcome(x, z, w, u_y):
    return x + 2.0 * w + z + XZ * x * z + XW * x * w + u_y


def _sfm(n, rng):
    z, x, u_w, u_y = _draw_noise(n, rng)
    w = _mediator(x, z, u_w)
    return pd.DataFrame({"x": x, "z": z, "w": w, "y": _outcome(x, z, w, u_y)})


def _closed_form_truth():
    """The four measures from E[z | x], by quadrature.

    With ``E0 = E[z | x0]``, ``E1 = E[z | x1]`` and ``s = 2 + XW / 2 + XZ``
    (the slope of ``E[y | x1, z]`` in ``z``): ``A = E[y | x0] = 2 E0``,
    ``D = E[y | x1] = 3 + XW + s E1``, ``C = E[y_x1 | x0] = 3 + XW + s E0``
    and ``B = E[y_{x1, W_x0} | x0] = 1 + s E0`` (the x0 group keeps its
    mediator ``z / 2 + u_w``).
    """
    mean_z = {}
    for x in (0, 1):
        weight = _propensity if x else (lambda z: 1 - _propensity(z))
        num = integrate.quad(lambda z: z * stats.norm.pdf(z) * weight(z), -12, 12)[0]
        den = integrate.quad(lambda z: stats.norm.pdf(z) * weight(z), -12, 12)[0]
        mean_z[x] = num / den
    s = 2 + XW / 2 + XZ
    A, D = 2 * mean_z[0], 3 + XW + s * mean_z[1]
    C, B = 3 + XW + s * mean_z[0], 1 + s * mean_z[0]
    return {"TV": D - A, "DE": B - A, "IE": B - C, "SE": C - D}


TRUTH = _closed_form_truth()


def _right_outcome():
    return make_pipeline(PolynomialFeatures(2, include_bias=False), LinearRegression())


def _wrong_outcome():
    # Additive in x: omits x z and x w.
    return LinearRegression()


def _right_propensity():
    return make_pipeline(PolynomialFeatures(2, include_bias=False), StandardScaler(),
                         LogisticRegression(C=1e4))


def _wrong_propensity():
    # Linear in z: omits z ** 2.
    return LogisticRegression(C=1e4)


class _TruePropensity(ClassifierMixin, BaseEstimator):
    """The simulated model's P(x1 | z) or P(x1 | z, w), known, not fitted.

    ``P(x1 | z, w)`` follows by Bayes from ``w | x, z ~ N(x + z / 2, 1)``:
    its log-odds add ``w - z / 2 - 1 / 2`` to those of ``P(x1 | z)``.
    """

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        z = X["z"].to_numpy()
        logit = PROP[0] + PROP[1] * z + PROP[2] * z**2
        if "w" in X.columns:
            logit = logit + X["w"].to_numpy() - 0.5 * z - 0.5
        p = expit(logit)
        return np.column_stack([1 - p, p])


def _decompose(data, outcome_model, propensity_model, seed, n_folds=2):
    return causal_fairness_decomposition(
        data, "x", "z", "w", "y", outcome_model=outcome_model,
        propensity_model=propensity_model, n_folds=n_folds, random_state=seed)


def _pooled(outcome_model, propensity_model, *, n=2000, reps=8, seed=0):
    """Mean estimate over ``reps`` independent data sets and its standard
    error ``sqrt(sum se_r ** 2) / reps`` from the reported ones."""
    rng = np.random.default_rng(seed)
    results = [_decompose(_sfm(n, rng), outcome_model, propensity_model, r)
               for r in range(reps)]
    mean = {m: np.mean([r.estimates[m] for r in results]) for m in MEASURES}
    sem = {m: np.sqrt(np.sum([r.standard_errors[m] ** 2 for r in results])) / reps
           for m in MEASURES}
    return mean, sem


def _plug_in(data, outcome_model):
    """The outcome-regression (plug-in) estimates: the one-step estimator
    without its propensity-weighted correction, without cross-fitting."""
    i0 = data["x"].to_numpy() == 0
    means = {"A": data["y"][i0].mean(), "D": data["y"][~i0].mean()}
    for key, cols in (("C", ["x", "z"]), ("B", ["x", "z", "w"])):
        model = clone(outcome_model).fit(data[cols], data["y"])
        means[key] = model.predict(data.loc[i0, cols].assign(x=1)).mean()
    A, B, C, D = (means[k] for k in "ABCD")
    return {"TV": D - A, "DE": B - A, "IE": B - C, "SE": C - D}


# -- the truth -----------------------------------------------------------------


def test_closed_form_truth_matches_a_monte_carlo_of_the_counterfactuals():
    rng = np.random.default_rng(0)
    n = 1_000_000
    z, x, u_w, u_y = _draw_noise(n, rng)
    i0 = x == 0
    w = _mediator(x, z, u_w)
    # The counterfactuals share the units' noise.
    A = _outcome(x, z, w, u_y)[i0].mean()
    D = _outcome(x, z, w, u_y)[~i0].mean()
    C = _outcome(1, z, _mediator(1, z, u_w), u_y)[i0].mean()
    B = _outcome(1, z, _mediator(0, z, u_w), u_y)[i0].mean()
    monte_carlo = {"TV": D - A, "DE": B - A, "IE": B - C, "SE": C - D}
    # Monte Carlo standard errors are about 0.01 (sd(y | x1) ~ 6, 400,000
    # x1 rows); DE and IE share most of their noise and are far closer.
    for m in MEASURES:
        assert monte_carlo[m] == pytest.approx(TRUTH[m], abs=0.04), m
    assert TRUTH["IE"] == pytest.approx(-2 - XW)


# -- 1. double robustness --------------------------------------------------------


@pytest.mark.parametrize("outcome_model,propensity_model", [
    (_wrong_outcome(), _right_propensity()),
    (_right_outcome(), _wrong_propensity()),
], ids=["wrong-outcome-right-propensity", "right-outcome-wrong-propensity"])
def test_one_misspecified_nuisance_model_still_centres_on_the_truth(
        outcome_model, propensity_model):
    """8 data sets of 2,000 rows: the mean estimate within 4 of its
    standard errors of the closed-form truth (measured: within 1.8). Not 3:
    with a wrong outcome model the reported standard errors of IE
    understate its spread by 1.3x to 1.5x (see the coverage test below).
    The two tests that follow show that this band has power."""
    mean, sem = _pooled(outcome_model, propensity_model)
    for m in MEASURES:
        assert abs(mean[m] - TRUTH[m]) <= 4 * sem[m], (m, mean[m], TRUTH[m], sem[m])


def test_with_both_nuisance_models_wrong_the_estimate_is_off():
    """Both wrong, DE and SE fall outside the band of the test above (by
    6.3 and 10.1 standard errors, measured; asymptotically both are off by
    about 0.8, and IE's two errors cancel)."""
    mean, sem = _pooled(_wrong_outcome(), _wrong_propensity())
    for m in ("DE", "SE"):
        assert abs(mean[m] - TRUTH[m]) > 4 * sem[m], (m, mean[m], TRUTH[m], sem[m])


def test_the_wrong_outcome_model_alone_plug_in_is_off():
    """The propensity correction does work here: without it, the wrong
    outcome model's plug-in estimates of DE, IE and SE fall outside the
    band of the one-step estimates (by 14, 8 and 9 of their standard
    errors, measured)."""
    rng = np.random.default_rng(0)
    plug = [_plug_in(_sfm(2000, rng), _wrong_outcome()) for _ in range(8)]
    _, sem = _pooled(_wrong_outcome(), _right_propensity())
    for m in ("DE", "IE", "SE"):
        off = np.mean([p[m] for p in plug]) - TRUTH[m]
        assert abs(off) > 4 * sem[m], (m, off, sem[m])


# -- 2. cross-fitting ------------------------------------------------------------

_FITS = []  # one record per fitted spy: its role, columns, rows seen


class _Spy(BaseEstimator):
    """Fits ``estimator`` and records the confounder values of the rows it
    is fitted on and predicts for (the data give each row its own ``z``).
    Works in-process only (``n_jobs=None``)."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        self.record_ = {"role": self._role, "columns": tuple(X.columns),
                        "fit": X["z"].to_numpy().copy(), "predict": []}
        _FITS.append(self.record_)
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def _seen(self, X):
        self.record_["predict"].append(X["z"].to_numpy().copy())


class _OutcomeSpy(RegressorMixin, _Spy):
    _role = "outcome"

    def predict(self, X):
        self._seen(X)
        return self.estimator_.predict(X)


class _PropensitySpy(ClassifierMixin, _Spy):
    _role = "propensity"

    def fit(self, X, y):
        super().fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        self._seen(X)
        return self.estimator_.predict_proba(X)


@pytest.mark.parametrize("n_folds", [2, 5])
def test_every_nuisance_prediction_comes_from_a_model_fitted_on_the_other_folds(
        n_folds):
    rng = np.random.default_rng(7)
    data = _sfm(400, rng)
    # A third level of X, left out of the comparison: ``folds`` follows
    # the rows kept, in the order of ``influence``.
    data.loc[rng.choice(400, 50, replace=False), "x"] = 2
    kept = np.flatnonzero(data["x"].isin([0, 1]).to_numpy())
    position = {z: i for i, z in enumerate(data["z"].to_numpy()[kept])}
    assert len(position) == len(kept)  # each row its own z

    _FITS.clear()
    res = causal_fairness_decomposition(
        data, "x", "z", "w", "y", x0=0, x1=1,
        outcome_model=_OutcomeSpy(LinearRegression()),
        propensity_model=_PropensitySpy(LogisticRegression()),
        n_folds=n_folds, random_state=0)
    fits = list(_FITS)
    _FITS.clear()

    folds = res.folds
    assert folds.shape == (len(kept),) and np.issubdtype(folds.dtype, np.integer)
    assert list(res.influence.index) == list(data.index[kept])
    assert sorted(np.unique(folds)) == list(range(n_folds))
    for k in range(n_folds):  # stratified on X
        assert set(data["x"].to_numpy()[kept][folds == k]) == {0, 1}

    # One outcome regression and one propensity per conditioning set and fold.
    assert Counter((f["role"], f["columns"]) for f in fits) == {
        ("outcome", ("__x1", "z")): n_folds, ("outcome", ("__x1", "z", "w")): n_folds,
        ("propensity", ("z",)): n_folds, ("propensity", ("z", "w")): n_folds}
    predicted = Counter()
    for f in fits:
        seen = [position[z] for z in f["fit"]]  # KeyError: a left-out row
        assert len(f["predict"]) == 1
        rows = [position[z] for z in f["predict"][0]]
        (k,) = np.unique(folds[rows])  # predicts for one fold ...
        assert sorted(rows) == list(np.flatnonzero(folds == k))  # ... all of it,
        assert set(seen).isdisjoint(rows)  # never on a row it saw,
        assert sorted(seen) == list(np.flatnonzero(folds != k))  # fitted on the rest
        predicted[f["role"], f["columns"]] += len(rows)
    # Each row predicted once by each of the four nuisance models.
    assert set(predicted.values()) == {len(kept)}


# -- 3. coverage with one misspecified nuisance model --------------------------


def _coverage(outcome_model, propensity_model, *, n=800, reps=80, seed=0):
    rng = np.random.default_rng(seed)
    covered = dict.fromkeys(MEASURES, 0)
    estimates, ses = {m: [] for m in MEASURES}, {m: [] for m in MEASURES}
    for r in range(reps):
        frame = _decompose(_sfm(n, rng), outcome_model, propensity_model, r).to_frame()
        for row in frame.itertuples():
            covered[row.measure] += row.ci_lower <= TRUTH[row.measure] <= row.ci_upper
            estimates[row.measure].append(row.estimate)
            ses[row.measure].append(row.std_error)
    spread = {m: np.std(estimates[m], ddof=1) / np.mean(ses[m]) for m in MEASURES}
    return {m: c / reps for m, c in covered.items()}, spread


@pytest.mark.parametrize("outcome_model,propensity_model", [
    (_right_outcome(), _wrong_propensity()),
    (_wrong_outcome(), _TruePropensity()),
], ids=["right-outcome-wrong-propensity", "wrong-outcome-known-propensity"])
@pytest.mark.slow
def test_intervals_with_one_misspecified_nuisance_cover_at_the_nominal_rate(
        outcome_model, propensity_model):
    """80 data sets of 800 rows, 95% intervals.

    Binomial tolerance: at the nominal 0.95, fewer than 71 of 80 covered
    has probability 0.0065 (per measure), so coverage >= 71 / 80 = 0.8875.
    The spread of the estimates over the data sets, divided by the mean
    reported standard error, lies within [0.7, 1.35] (its sampling error
    is about 8% at 80 data sets): the intervals are neither too narrow nor
    too wide.

    With a wrong outcome model the propensity is the known one: estimating
    it (even with the right model) adds to the estimates' variance a term
    that the influence-function standard errors leave out, and the
    intervals of IE and SE then cover about 0.88 to 0.90 (measured over
    200 to 400 data sets of 1,000 and 4,000 rows; DE's over-cover, 0.98 to
    1.0) -- see Notes of causal_fairness_decomposition. With the known
    propensity the same intervals cover at the nominal rate, which checks
    the correction term and its influence function on their own.
    """
    coverage, spread = _coverage(outcome_model, propensity_model)
    for m in MEASURES:
        assert coverage[m] >= 71 / 80, (m, coverage)
        assert 0.7 <= spread[m] <= 1.35, (m, spread)
