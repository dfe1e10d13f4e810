"""
=====================================================
Larger than memory: fitting partition by partition
=====================================================

The estimators whose fit lives in sums over rows (Gram matrices, counts)
accept a dask array or dataframe: each partition's rows are turned into
statistics where they live, only the small statistics travel, and the solve
is the in-memory code. Here the rows are generated lazily, partition by
partition, as they would be read from parquet files too large for one
machine's memory; we fit the counterfactually fair classifier and invariant
causal prediction on them, and check against the in-memory fit on the same
rows.

Read more in the :ref:`User Guide <larger_than_memory>`.
"""

# %%
# A lazily generated dataset
# --------------------------
# Each partition is drawn from the same structural causal model by a seeded
# generator: a binary sensitive attribute ``a`` causes ``x2`` and ``x3``;
# environments shift ``x0``; the target is caused by ``x0``, ``x1`` and
# ``x2``. Nothing is computed until a fit asks for it.
import time

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.distributed import Client

from skcausal_trust.causal import CausalGraph
from skcausal_trust.fairness import CounterfactuallyFairClassifier
from skcausal_trust.invariance import InvariantCausalPrediction


def make_partition(seed, n_rows=100_000):
    rng = np.random.default_rng(seed)
    env = rng.integers(0, 3, n_rows)
    a = np.where(rng.random(n_rows) < 0.5, "f", "m")
    x0 = 0.7 * env + rng.normal(size=n_rows)
    x1 = rng.normal(size=n_rows)
    x2 = 0.8 * (a == "m") + rng.normal(size=n_rows)
    x3 = 0.5 * x2 - 0.6 * (a == "m") + rng.normal(size=n_rows)
    y = x0 + 0.5 * x1 + 0.5 * x2 + rng.normal(size=n_rows)
    x4 = y + 0.3 * env + 0.5 * rng.normal(size=n_rows)  # a child of y
    return pd.DataFrame({"env": env, "a": a, "x0": x0, "x1": x1, "x2": x2, "x3": x3,
                         "x4": x4, "y": y, "label": (y > 0.5).astype(int)})


frame = dd.from_map(make_partition, range(10))  # a million rows, lazily
print(frame.npartitions, "partitions of", len(make_partition(0)), "rows")

# %%
# A cluster
# ---------
# On a laptop, a local cluster; on a real one, ``Client("tcp://scheduler:8786")``
# and the same code. (Here the workers are threads of this process, which is
# what a documentation build can start; ``LocalCluster(processes=True)`` starts
# worker processes.)
client = Client(processes=False, n_workers=2, threads_per_worker=1,
                dashboard_address=":0")

# %%
# Counterfactual fairness on dask
# -------------------------------
# The classifier reads the rows in passes. The first gathers the levels and
# checks, the statistics the linear SCM of the causal graph is fitted from,
# and the logistic loss at a start fitted on the first partition (its first
# Newton step); then one pass per further step of Newton's method (the loss,
# its gradient and its Hessian are sums over rows).
graph = CausalGraph([("a", "x2"), ("a", "x3"), ("x2", "x3")], nodes=["x0", "x1", "x4"])
features = ["a", "x0", "x1", "x2", "x3", "x4"]
start = time.perf_counter()
clf = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a").fit(
    frame[features], frame["label"])
print(f"fitted in {time.perf_counter() - start:.1f} s, {clf.n_iter_} Newton iterations")
print("coefficients:", dict(zip(clf.input_features_, np.round(clf.coef_[0], 3))))
print("counterfactual direction:", np.round(clf.counterfactual_directions_[0, 0], 3))

# %%
# The same rows in memory give the same model (the in-memory fit uses
# L-BFGS, stopped at its tolerance; Newton's method on dask is exact to
# about 1e-12).
memory = frame.compute()
reference = CounterfactuallyFairClassifier(graph, sensitive_feature_ids="a",
                                           tol=1e-10, max_iter=1000).fit(
    memory[features], memory["label"])
print("largest difference of the coefficients:",
      float(np.max(np.abs(clf.coef_ - reference.coef_))))

# %%
# Predictions stay lazy: a dask collection, computed partition by partition.
proba = clf.predict_proba(frame[features])
print(type(proba).__name__, proba.npartitions, "partitions")
print(proba.head())

# %%
# Invariant causal prediction on dask
# -----------------------------------
# ICP needs each environment's Gram matrix of ``[1, X, y]``: two passes.
icp = InvariantCausalPrediction().fit(frame[["x0", "x1", "x2", "x3", "x4"]], frame["y"],
                                      environments=frame["env"])
# ICP keeps ``x0``, the one cause whose effect the environments reveal: a set
# that omits ``x1`` or ``x2`` is invariant too (their omission adds noise that
# is the same in every environment), and ICP keeps what every accepted set
# shares. The child ``x4`` is never kept.
print("selected:", list(icp.get_feature_names_out()))
icp_memory = InvariantCausalPrediction().fit(memory[["x0", "x1", "x2", "x3", "x4"]],
                                             memory["y"], environments=memory["env"])
print("largest difference of the p-values:",
      float(np.nanmax(np.abs(icp.pvalues_ - icp_memory.pvalues_))))

client.close()
