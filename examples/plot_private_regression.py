"""
=====================================================
Differentially private regression on census data
=====================================================

:class:`~skcausal_trust.privacy.DPCausalRegressor` fits a linear model from
one differentially private release of the data's sufficient statistics. This
example predicts the usual weekly working hours of the people in the Adult
census extract (:func:`~skcausal_trust.datasets.load_adult`) from their
demographic and employment features, at privacy budgets
:math:`\\varepsilon \\in \\{0.1, 1, 10\\}`, and compares the accuracy on held-out
people with ordinary least squares. It then audits the privacy claim
empirically with :func:`~skcausal_trust.privacy.audit.empirical_epsilon_lower_bound`,
and shows why a few thousand runs of an audit cannot come close to the
claim. See the :ref:`User Guide <privacy>` for the privacy model and the
mechanism.
"""

# Authors: skcausal_trust developers
# License: BSD 3 clause

# %%
# Public bounds
# -------------
#
# The guarantee needs bounds on every record that are known *before* looking
# at the data: a bound on the L2 norm of a row of the predictors and a bound
# on the absolute value of the target. Bounds computed from the data reveal
# the most extreme person, and the estimator warns
# (:class:`~skcausal_trust.exceptions.PrivacyLeakWarning`) when it has to
# take them from the data. Here every bound comes from the published data
# dictionary of the data set (the ``DESCR`` of
# :func:`~skcausal_trust.datasets.load_adult`), not from the rows:
#
# * the target, ``hours-per-week``, ranges from 1 to 99. It is centred by the
#   public constant 40 (a full-time week, not the data's mean), so that
#   ``|y| <= 59``: ``target_bound=59``;
# * the numeric predictors are scaled to ``[0, 1]`` by their public ranges:
#   ``age`` (17 to 90), ``education-num`` (1 to 16), and ``capital-gain``
#   (0 to its top code 99,999), on a log scale because it is very skewed;
# * the seven categorical predictors are one-hot encoded over the levels
#   listed in the data dictionary (the loader's categories, which are the
#   levels of ``adult.names``) with
#   :func:`~skcausal_trust.causal.one_hot_encode`. The three columns that the
#   data dictionary lists with missing values (``workclass``, ``occupation``
#   and ``native-country``) get one more indicator, ``<column>_nan``, for a
#   missing value (``dummy_na``); the other columns have none. Each row then
#   has one indicator set per categorical, which contributes 1 to its squared
#   norm.
#
# Without the missing-value indicators, a missing value would give a row of
# zeros, and least squares would fit the same predictions: the effect of a
# missing value would be spread over all the column's indicators instead of
# lying along one coordinate. The private fit shrinks such spread-out
# directions much more (see :ref:`privacy_encoding` in the User Guide). The
# encoding is public: the indicator columns are added whether or not a value
# is missing in the data.
#
# A row therefore has a squared norm of at most 3 + 7 = 10, by construction:
# ``feature_bound = sqrt(10)``, and no row is ever clipped. Three columns are
# left out: ``fnlwgt`` (a survey weight, not a property of the person),
# ``education`` (the same information as ``education-num``), and
# ``capital-loss``, for which the data dictionary gives no range: bounding it
# by its largest value in the data would leak that value.
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from skcausal_trust.causal import one_hot_encode
from skcausal_trust.datasets import load_adult
from skcausal_trust.privacy import DPCausalRegressor

bunch = load_adult()
adult = bunch.data
# The levels the data dictionary declares: public, whatever the rows hold.
declared = {column: bunch.categories[column] for column in [
    "workclass", "marital-status", "occupation", "relationship", "race", "sex",
    "native-country"]}
numeric_ranges = {"age": (17, 90), "education-num": (1, 16)}
capital_gain_top_code = 99_999
categorical = [
    "workclass",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]
with_missing_values = ["workclass", "occupation", "native-country"]
hours_centre, target_bound = 40.0, 59.0
feature_bound = np.sqrt(len(numeric_ranges) + 1 + len(categorical))


def encode(frame):
    """Predictors scaled by public ranges and one-hot categoricals."""
    scaled = {
        column: (frame[column] - low) / (high - low)
        for column, (low, high) in numeric_ranges.items()
    }
    scaled["capital-gain"] = np.log1p(frame["capital-gain"]) / np.log1p(
        capital_gain_top_code
    )
    one_hot, _ = one_hot_encode(frame[categorical], categories=declared,
                                dummy_na=with_missing_values)
    return pd.concat([pd.DataFrame(scaled), one_hot], axis=1)


X = encode(adult)
y = adult["hours-per-week"] - hours_centre

# The original UCI split: adult.data (training) then adult.test.
n_train = 32_561
X_train, y_train = X.iloc[:n_train], y.iloc[:n_train]
X_test, y_test = X.iloc[n_train:], y.iloc[n_train:]
print(
    f"{X.shape[1]} predictors; {len(X_train):,} training and "
    f"{len(X_test):,} test rows"
)
print(
    f"feature_bound = sqrt(10) = {feature_bound:.4f}, "
    f"target_bound = {target_bound:g}"
)

# %%
# Least squares and private fits
# ------------------------------
#
# Ordinary least squares on the training rows is the non-private reference.
# Each private fit spends :math:`(\varepsilon, \delta)` on the training rows,
# with :math:`\delta = 10^{-6}` (the default), below one over the number of
# rows. The noise is drawn by OpenDP and is not seeded: each fit, and each
# run of this example, gives different numbers. Four fits per budget show the
# spread.
ols = LinearRegression().fit(X_train, y_train)
r2_ols = r2_score(y_test, ols.predict(X_test))
print(f"least squares: test R^2 = {r2_ols:.3f}")

epsilons = [0.1, 1.0, 10.0]
n_repeats = 4
rows = []
for epsilon in epsilons:
    for repeat in range(n_repeats):
        start = time.perf_counter()
        private = DPCausalRegressor(
            epsilon=epsilon, feature_bound=feature_bound, target_bound=target_bound
        ).fit(X_train, y_train)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "epsilon": epsilon,
                "test R^2": r2_score(y_test, private.predict(X_test)),
                "noise scale": private.noise_scale_,
                "eigenvalue floor": private.eigenvalue_floor_,
                "seconds": seconds,
            }
        )
results = pd.DataFrame(rows)
summary = results.groupby("epsilon").agg(
    noise_scale=("noise scale", "first"),
    r2_mean=("test R^2", "mean"),
    r2_min=("test R^2", "min"),
    r2_max=("test R^2", "max"),
    seconds_per_fit=("seconds", "mean"),
)
print(summary.round(3).to_string())
n_released = (X.shape[1] + 2) * (X.shape[1] + 3) // 2  # upper triangle
print(f"released entries per fit: {n_released:,}")

# %%
# ``noise scale`` is the standard deviation of the noise in the weighted,
# normalised units of the release (the Gram matrix of
# ``[1, x / feature_bound, y / target_bound]``, entry ``(j, k)`` multiplied
# by the public weight ``release_weights_[j, k]`` before the noise is added):
# the products of two different predictors, and of a predictor with the
# target, carry noise of that standard deviation; the predictors' squares,
# the count, the sums and the target's sum of squares more. It shrinks as
# :math:`\varepsilon` grows, a little more slowly than :math:`1/\varepsilon`
# (8.6 times less noise from 0.1 to 1, 7.8 times less from 1 to 10). Most of
# a fit's time is OpenDP drawing one noise value per released entry
# (the upper triangle of a 91 x 91 matrix).
fig, ax = plt.subplots(figsize=(6, 4))
ax.scatter(results["epsilon"], results["test R^2"], color="tab:blue", alpha=0.6,
           label="private fits")
ax.plot(summary.index, summary["r2_mean"], color="tab:blue", marker="o",
        label=f"private, mean of {n_repeats}")
ax.axhline(r2_ols, color="black", linestyle="--", label="least squares")
ax.set_xscale("log")
ax.set_xticks(epsilons, [f"{e:g}" for e in epsilons])
ax.set_xlabel("epsilon (delta = 1e-6)")
ax.set_ylabel("test R^2 (hours per week)")
ax.set_title("DPCausalRegressor on Adult")
ax.legend()
fig.tight_layout()
plt.show()

# %%
# The features explain little of the working hours: least squares reaches
# an R^2 below 0.2 (0.179). The noise is not seeded, so the private figures
# vary from run to run; in the run made while writing this example, the
# means of four fits were 0.179 at :math:`\varepsilon = 10`, 0.173 at
# :math:`\varepsilon = 1` and 0.131 at :math:`\varepsilon = 0.1`. Over ten
# runs of these fits, the private model was within about 0.001 of least
# squares at :math:`\varepsilon = 10` and lost about 0.007 at
# :math:`\varepsilon = 1` (means of four fits between 0.172 and 0.174); at
# :math:`\varepsilon = 0.1` it kept about two thirds of it and varied most
# from fit to fit (means of four fits between 0.115 and 0.125, single fits
# between 0.102 and 0.134). Without the missing-value indicators, least
# squares is the same but the private model does worse: over ten runs, means
# of four fits between 0.164 and 0.168 at :math:`\varepsilon = 1` and between
# 0.105 and 0.119 at :math:`\varepsilon = 0.1`. The
# eigenvalue floor, in the normalised units of the release, grows as the
# noise does: the eigenvalues of the predictors' released (centred) scatter
# matrix below it, which the noise alone could produce, are raised to it,
# which shrinks the coefficients in those directions, and the directions
# above it are left alone. The scatter matrix of these one-hot features has
# many small eigenvalues (rare categories): without noise, 67 of its 89 are
# below the floor at :math:`\varepsilon = 1`, 87 at 0.1 and 52 at 10.
print(results.groupby("epsilon")["eigenvalue floor"].mean().round(1).to_string())

# %%
# Auditing the claim
# ------------------
#
# An audit fits the estimator many times on a data set and on a neighbour
# with one more record, and looks for a test that tells the two apart better
# than :math:`(\varepsilon, \delta)`-DP allows: every such test has
# :math:`\mathrm{TPR} \le e^\varepsilon\,\mathrm{FPR} + \delta`. The
# most powerful test of this Gaussian release is
# :func:`~skcausal_trust.privacy.audit.release_projection`, the projection of
# the release on the added record's contribution. Its power depends only on
# the noise scale and on the size of that contribution (the record's
# ``[1, x, y]`` products weighted by ``release_weights_``), largest, equal to
# the sensitivity (1.404 here), for a record whose features and target are
# both at their bounds.
#
# Each fit of the model above draws 4,186 noise values, which makes
# thousands of fits slow. The audit therefore uses a model with the same
# noise scale (the sensitivity does not depend on the number of features)
# and two one-hot features (``sex``), fitted on the first 1,000 training
# rows, and adds a worst-case *canary*: a man working 99 hours a week. Its
# contribution attains the sensitivity, so no canary of the full model could
# make the audit stronger. The
# claim audited is :math:`\varepsilon = 1`, with 3,000 runs per data set for
# the bound (and 500 more to choose the test's threshold).
from scipy import stats

from skcausal_trust.privacy.audit import (
    empirical_epsilon_lower_bound,
    release_projection,
)

small = adult.iloc[:1000]
X_audit = pd.get_dummies(small["sex"], prefix="sex", dtype=float)
print("audit features:", list(X_audit.columns))
X_audit = X_audit.to_numpy()
y_audit = (small["hours-per-week"] - hours_centre).to_numpy(dtype=float)
canary_x, canary_y = np.array([0.0, 1.0]), 99 - hours_centre  # a man, 99 hours
X_neighbour = np.vstack([X_audit, canary_x])
y_neighbour = np.append(y_audit, canary_y)

claimed = DPCausalRegressor(epsilon=1.0, feature_bound=1.0, target_bound=target_bound)
start = time.perf_counter()
audit = empirical_epsilon_lower_bound(
    claimed,
    (X_audit, y_audit),
    (X_neighbour, y_neighbour),
    statistic=release_projection(canary_x, canary_y, 1.0, target_bound),
    n_runs=3000,
)
print(f"audit time: {time.perf_counter() - start:.1f} s")
print(f"claimed epsilon: {audit.claimed_epsilon:g} (delta = {audit.delta:g})")
print(f"95% lower bound on epsilon: {audit.epsilon_lower_bound:.3f}")
print(f"test rates: TPR >= {audit.tpr_lower:.3f}, FPR <= {audit.fpr_upper:.3f}")
print("claim refuted:", audit.flagged)

# %%
# The lower bound is below the claim: the audit found no leak beyond it. It
# does not *prove* the claim either; and with 3,000 runs it could not have
# come close to it even for a mechanism that meets the claim exactly. For
# the Gaussian mechanism, the likelihood ratio between the two data sets
# reaches :math:`e^\varepsilon` only far in the tail of the noise: the test
# that certifies :math:`\varepsilon = 1` has a false-positive rate of a few
# in a million. Estimated from :math:`n` runs, a false-positive rate has a
# Clopper-Pearson upper bound of at least :math:`1 - 0.025^{1/n}` (no false
# positive at all), about :math:`3.7 / n`. The computation below (not a
# measurement) gives, for this noise scale, the tail rates of that ideal
# test, and the best bound an audit of :math:`n` runs would get if its counts
# came out exactly as expected.
from dp_accounting import get_sigma_gaussian

epsilon, delta = audit.claimed_epsilon, audit.delta
# The statistic is Gaussian with the same spread on both data sets; adding
# the canary shifts its mean by this many standard deviations.
shift = 1 / get_sigma_gaussian(epsilon, delta)
thresholds = np.linspace(-5.0, 10.0, 30_001)
fpr = stats.norm.sf(thresholds)
tpr = stats.norm.sf(thresholds - shift)
with np.errstate(divide="ignore", invalid="ignore"):
    ideal = np.log((tpr - delta) / fpr)
best = np.nanargmax(ideal)
print(
    f"ideal test: epsilon = {ideal[best]:.3f} at FPR = {fpr[best]:.1e}, "
    f"TPR = {tpr[best]:.1e}"
)
print(f"smallest certifiable FPR with 3,000 runs: {1 - 0.025 ** (1 / 3000):.1e}")

level = (1 + audit.confidence) / 2  # each rate's Clopper-Pearson level
for n in [3_000, 30_000, 300_000, 3_000_000]:
    k_fp, k_tp = np.round(fpr * n), np.round(tpr * n)
    fpr_upper = stats.beta.ppf(level, k_fp + 1, np.maximum(n - k_fp, 1))
    tpr_lower = np.where(
        k_tp > 0, stats.beta.ppf(1 - level, np.maximum(k_tp, 1), n - k_tp + 1), 0.0
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(
            tpr_lower > delta, np.log((tpr_lower - delta) / fpr_upper), 0.0
        )
    i = int(np.nanargmax(bound))
    print(
        f"{n:>9,} runs: best expected bound {bound[i]:.2f} "
        f"(at FPR = {fpr[i]:.1e}, TPR = {tpr[i]:.1e})"
    )

# %%
# A run of 3,000 fits can only certify false-positive rates down to about
# one in a thousand, where the two distributions of the statistic overlap
# almost completely: the best bound it can be expected to give is a fraction
# of :math:`\varepsilon`, and each tenfold increase in the number of runs
# adds only about 0.2 to it. An audit is therefore useful in one direction
# only: a bound *above* the claim (for example from a bug that halves the
# noise) refutes it, while a bound below it, as here, is what a correct
# mechanism and many incorrect ones would both give. The guarantee itself
# rests on the proof (the sensitivity bound and the calibration of the
# noise), not on the audit.
