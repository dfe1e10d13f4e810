"""
===================================================
Causal recourse on German credit: what can I do?
===================================================

A bank's model denies a loan. The applicant asks what they can change.
:func:`~skcausal_trust.recourse.causal_recourse` answers with the cheapest
*intervention* on the features they can act on (Karimi, Schölkopf and Valera,
FAccT 2021). A change to the credit amount also moves the repayment duration
through the causal model, so the answer is an action, not a nearest point.
:func:`~skcausal_trust.recourse.recourse_disparity` then asks whether
recourse costs men and women the same. See the
:ref:`User Guide <recourse>`.
"""

# Authors: skcausal_trust developers
# License: BSD 3 clause

# %%
# Data, model and causal model
# ----------------------------
#
# Four columns of the bundled German credit data: sex (immutable), age
# (immutable), credit amount and duration (actionable). The graph follows
# the German credit example of Karimi et al.: sex and age cause the amount
# asked for, and the amount causes the duration. The linear SCM is fitted on
# the same rows as the logistic model.
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.datasets import load_german_credit
from skcausal_trust.recourse import causal_recourse, recourse_disparity

frame = load_german_credit().frame
X = pd.DataFrame({
    "sex": (frame["sex"].astype(str) == "male").astype(float),
    "age": frame["age"].astype(float),
    "credit-amount": frame["credit-amount"].astype(float),
    "duration": frame["duration"].astype(float),
})
y = (frame["credit_risk"].astype(str) == "good").astype(int)
graph = CausalGraph([("sex", "credit-amount"), ("age", "credit-amount"),
                     ("credit-amount", "duration")])
scm = LinearSCM(graph).fit(X)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
denied = X[model.predict(X) == 0]
print(f"{len(denied)} of {len(X)} applicants denied")

# %%
# The cheapest action for three applicants
# ----------------------------------------
#
# Costs are in units of each feature's noise scale: how unusual the change is
# given its causes. The model is linear, so the answer is exact: no action
# on the same features is cheaper. The duration moves with the amount, as
# the SCM says, unless the applicant acts on it too. A row whose value lies
# outside its bounds is not acted on in that feature.
actionable = ["credit-amount", "duration"]
# Amounts stay within the bank's range (250 to 20,000 DM), durations within
# 4 to 72 months.
limits = {"bounds": {"credit-amount": (250.0, 20000.0), "duration": (4.0, 72.0)}}
result = causal_recourse(model, denied.head(3), scm, actionable, **limits)
print(result.table[["status", "cost", "actions"]])
print(result.counterfactuals.round(1))

# %%
# Does recourse cost the same for men and women?
# ----------------------------------------------
#
# Among the denied, the cost of recourse by sex, and each person's cost
# against their counterfactual twin of the other sex: the same person, had
# their sex been different, with everything it causes moved by the SCM.
disparity = recourse_disparity(model, denied, scm, actionable, "sex", **limits)
print(disparity.groups.round(3))
print(f"gap in mean cost between the groups: {disparity.gap:.3f} noise units")
print(disparity.individual["gap"].describe().round(3))

fig, ax = plt.subplots(figsize=(6, 3.5))
costs = causal_recourse(model, denied, scm, actionable, **limits).table["cost"]
for level, label in ((0.0, "female"), (1.0, "male")):
    ax.hist(costs[denied["sex"] == level], bins=20, alpha=0.6, label=label)
ax.set_xlabel("cost of recourse (noise units)")
ax.set_ylabel("denied applicants")
ax.legend()
ax.set_title("The cheapest action for each denied applicant, by sex")
fig.tight_layout()
plt.show()
