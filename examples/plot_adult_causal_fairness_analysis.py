"""
==========================================
Causal fairness analysis of income (Adult)
==========================================

Men in the UCI Adult census data earn more than 50K dollars a year far more
often than women. This example splits that disparity, for the data and for
three classifiers trained on it, into the three kinds of effects of the
*standard fairness model* of Plecko and Bareinboim:

* the **direct effect** (DE) of sex on the outcome, not through any other
  variable (disparate treatment);
* the **indirect effect** (IE) through mediators that sex affects: marital
  status, education and working conditions;
* the **spurious effect** (SE), carried by confounders that differ between
  the two groups without being caused by sex: age, race, native country.

Comparing a model's decomposition with the outcome's tells which of these
paths the model reproduces, removes or amplifies. See the
:ref:`User Guide <causal_fairness_analysis>` for the definitions, the sign
convention (``TV = DE - IE - SE``) and the estimator.
"""

# Authors: skcausal_trust developers
# License: BSD 3 clause

# %%
# Load the data
# -------------
#
# :func:`~skcausal_trust.datasets.load_adult` returns the 48,842 rows of the
# two UCI files; rows with a missing value are dropped. The outcome is
# whether the income exceeds 50K dollars a year.
import matplotlib.pyplot as plt
import pandas as pd

from skcausal_trust.datasets import load_adult

frame = load_adult().frame.dropna()
frame["high_income"] = (frame["income"] == ">50K").astype(int)
print(f"{len(frame)} complete rows")
print(frame.groupby("sex", observed=True)["high_income"].mean().round(4).to_string())

# %%
# The standard fairness model
# ---------------------------
#
# The decomposition needs every variable to play one role: the protected
# attribute ``X`` (sex, compared from ``x0 = "Female"`` to ``x1 = "Male"``),
# the confounders ``Z``, the mediators ``W`` and the outcome ``Y``. These
# are the roles of :func:`~skcausal_trust.datasets.adult_causal_graph`:
# age, race and native country are not descendants of sex, every other
# feature is. The roles are an assumption, and so is the absence of hidden
# confounding between them (see the User Guide).
X = "sex"
Z = ["age", "race", "native-country"]
W = [
    "marital-status",
    "relationship",
    "education-num",
    "workclass",
    "occupation",
    "hours-per-week",
    "capital-gain",
    "capital-loss",
]
Y = "high_income"

# %%
# One mediator needs a warning before any number: ``relationship`` records
# "Husband" or "Wife", which nearly determines sex.
print(pd.crosstab(frame["relationship"], frame["sex"]).to_string())

# %%
# The direct and indirect effects compare women with what they would earn
# with their own mediators but the other sex, so they need men with the
# mediator values of women. There is one male "Wife" and one female
# "Husband" among 45,222 rows. For the 14% of women who are wives, the
# comparison rests on how the outcome regression extrapolates to men who
# are wives. The propensity of being a man given the mediators is then close
# to 0 (for wives) or 1 (for husbands), and the estimator clips it to
# [0.01, 0.99]. Keep this in mind when reading DE and IE. The total and
# spurious effects do not involve the mediators and are not affected.
#
# Train three classifiers
# -----------------------
#
# The rows are split into a training set (70%) and held-out rows (30%). As
# in the :ref:`counterfactual fairness example
# <sphx_glr_auto_examples_plot_adult_counterfactual_fairness.py>`, the
# categorical features are one-hot encoded together with the causal graph
# (:func:`~skcausal_trust.causal.one_hot_encode`; ``sex`` stays one column)
# and the numeric ones standardised with the training statistics.
from sklearn.model_selection import train_test_split

from skcausal_trust.causal import one_hot_encode
from skcausal_trust.datasets import adult_causal_graph

graph = adult_causal_graph()
features, graph_1h = one_hot_encode(frame[graph.nodes], graph, exclude=["sex"])
numeric = ["age", "education-num", "hours-per-week", "capital-gain", "capital-loss"]

train, test = train_test_split(
    frame.index, test_size=0.3, stratify=frame[Y], random_state=0
)
X_train, X_test = features.loc[train].copy(), features.loc[test].copy()
y_train, y_test = frame.loc[train, Y], frame.loc[test, Y]
mean, std = X_train[numeric].mean(), X_train[numeric].std()
X_train[numeric] = (X_train[numeric] - mean) / std
X_test[numeric] = (X_test[numeric] - mean) / std
print(f"{len(train)} training rows, {len(test)} held-out rows")

# %%
# The three classifiers:
#
# * a :class:`~sklearn.linear_model.LogisticRegression` on every feature but
#   sex ("LR without sex");
# * the same model with sex as one more indicator column ("LR with sex"),
#   which can use sex directly;
# * :class:`~skcausal_trust.fairness.CounterfactuallyFairClassifier` with
#   ``epsilon=0``: a logistic regression whose log-odds do not change at all
#   between a person and their counterfactual twin of the other sex, under a
#   linear structural causal model of the expanded graph fitted on the
#   training rows. It reads sex from its column and never uses it as an
#   input.
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skcausal_trust.fairness import CounterfactuallyFairClassifier

models = {
    "LR without sex": make_pipeline(
        make_column_transformer(("drop", ["sex"]), remainder="passthrough"),
        LogisticRegression(max_iter=1000),
    ),
    "LR with sex": make_pipeline(
        make_column_transformer(
            (OneHotEncoder(drop="if_binary"), ["sex"]), remainder="passthrough"
        ),
        LogisticRegression(max_iter=1000),
    ),
    "CF, epsilon=0": CounterfactuallyFairClassifier(
        graph_1h, epsilon=0.0, sensitive_feature_ids="sex"
    ),
}
probabilities = {}
for name, model in models.items():
    model.fit(X_train, y_train)
    probabilities[name] = model.predict_proba(X_test)[:, 1]
    accuracy = model.score(X_test, y_test)
    print(f"{name:15s} held-out accuracy {accuracy:.4f}")

# %%
# Decompose the outcome and the predictions
# -----------------------------------------
#
# :func:`~skcausal_trust.decomposition.causal_fairness_decomposition` estimates
# TV, DE, IE and SE with cross-fitted doubly robust estimators (gradient
# boosting nuisance models by default) and influence-function standard
# errors. Every decomposition below uses the same held-out rows, so that the
# outcome and the models are compared on the same people; a model's
# predicted probability replaces the outcome through ``y_pred``. The four
# decompositions take most of this example's running time.
from skcausal_trust.decomposition import causal_fairness_decomposition

held_out = frame.loc[test]
results = [
    causal_fairness_decomposition(
        held_out, X, Z, W, Y, x0="Female", x1="Male", random_state=0
    )
]
for name, proba in probabilities.items():
    results.append(
        causal_fairness_decomposition(
            held_out, X, Z, W, y_pred=proba, x0="Female", x1="Male",
            label=name, random_state=0,
        )
    )

table = pd.concat([r.to_frame() for r in results])
table["estimate (95% CI)"] = [
    f"{e:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    for e, lo, hi in zip(table["estimate"], table["ci_lower"], table["ci_upper"])
]
print(
    table.pivot(index="label", columns="measure", values="estimate (95% CI)")
    .loc[[r.label for r in results], ["TV", "DE", "IE", "SE"]]
    .to_string()
)

# %%
# The decomposition is exact: for every row of the table,
# ``TV = DE - IE - SE`` up to rounding errors.
for r in results:
    e = r.estimates
    gap = e["TV"] - (e["DE"] - e["IE"] - e["SE"])
    print(f"{r.label:15s} TV - (DE - IE - SE) = {gap:.1e}")

# %%
# Plot the decompositions
# -----------------------
#
# :class:`~skcausal_trust.decomposition.FairnessDecompositionDisplay` draws each
# measure with its 95% interval, one colour per decomposition. IE and SE are
# plotted as reported, in the reverse direction (from men to women): a
# negative IE or SE *adds* to the men's advantage.
from skcausal_trust.decomposition import FairnessDecompositionDisplay

display = FairnessDecompositionDisplay.from_decompositions(results)
display.ax_.set_title("Adult, held-out rows: Female -> Male")
display.figure_.tight_layout()
plt.show()

# %%
# Differences with the outcome
# ----------------------------
#
# The outcome and the three models are decomposed on the same rows, so their
# estimates are correlated and their intervals cannot simply be compared.
# The influence functions (``influence``, one row per person)
# give paired standard errors: the difference of two estimates has the
# difference of their influence functions as its own.
import numpy as np

outcome = results[0]
rows = []
for r in results[1:]:
    for m in ["TV", "DE", "IE", "SE"]:
        diff = r.estimates[m] - outcome.estimates[m]
        paired = r.influence[m] - outcome.influence[m]
        se = paired.std(ddof=1) / np.sqrt(r.n_samples)
        value = f"{diff:+.3f} ± {1.96 * se:.3f}"
        rows.append({"model": r.label, "measure": m, "value": value})
print("model - outcome (95% half-width)")
print(
    pd.DataFrame(rows)
    .pivot(index="model", columns="measure", values="value")
    .loc[list(probabilities), ["TV", "DE", "IE", "SE"]]
    .to_string()
)

# %%
# What the numbers say
# --------------------
#
# **The outcome.** On the held-out rows, men earn more than 50K dollars
# 0.206 more often than women. The decomposition attributes +0.029 (95%
# interval [0.012, 0.046]) of this gap to the direct effect of sex, 0.125 to
# the mediators (IE = -0.125: moving women's mediators to the values they
# would have had as men raises the outcome) and 0.052 to the confounders
# (SE = -0.052). Most of the disparity runs through marital status,
# education and working conditions. DE and IE rest, for the wives, on the
# extrapolation discussed above; TV and SE do not.
#
# **LR without sex.** Its direct effect is -0.001 [-0.003, 0.000]. A model
# that does not take sex as an input has no direct effect by construction,
# so this number only shows the estimator's error. Its TV is 0.029 lower
# than the outcome's (paired 95% half-width 0.010), and the paired
# differences place this gap in the direct effect (-0.030 ± 0.018). Its
# indirect and spurious effects are within 0.006 of the outcome's (IE
# -0.006 ± 0.017, SE +0.005 ± 0.004). Dropping sex removes the direct path
# and reproduces the others. The disparity carried through the mediators
# stays, and on these data the model does not measurably amplify it.
#
# **LR with sex.** Its direct effect, +0.027 [0.025, 0.030], matches the
# outcome's (paired difference -0.002 ± 0.018). Using sex did not change
# the held-out accuracy to three decimals (0.849 with and without sex).
#
# **Counterfactually fair classifier.** Its TV is 0.052, a quarter of the
# outcome's, and its accuracy 0.835. The direct effect is -0.001 and the
# indirect effect -0.010 [-0.018, -0.002], against -0.125 for the outcome
# (paired difference +0.114 ± 0.017). The spurious effect, -0.043, is close
# to the outcome's -0.052. So most of what remains of the disparity,
# 0.043 of 0.052, is spurious:
# the difference in age, race and native country between the women and
# the men of the sample. This is the pattern that the User Guide predicts
# for a counterfactually fair model that does not take sex as an input:
# counterfactual fairness removes the effect of sex on each person's
# prediction, along every causal path (under the causal model), and says
# nothing about differences that sex does not cause. The small indirect
# effect left has an interval that excludes zero. The
# classifier's constraint is exact under the linear structural causal
# model it fitted. The decomposition does not assume that model, and for
# the wives it relies on the same extrapolation as above.
#
# Whether the spurious and indirect effects are acceptable is not a
# statistical question: it depends on which mediators are considered
# justified for the decision (the *business necessity* set). The
# decomposition tells which paths carry the disparity, not which ones may.
