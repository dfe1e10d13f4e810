"""Scale-out: the invariance estimators give the same numbers on a Dask
cluster (joblib's "dask" backend) as in one process.

The cluster has two worker processes, so every task is pickled, sent to a
process that imports the package afresh, and its result pickled back.
"""

import numpy as np
import pytest
import sklearn
from joblib import parallel_backend
from numpy.testing import assert_array_equal
from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut

from skcausal_trust.datasets import make_invariant_regression
from skcausal_trust.invariance import (
    AnchorRegression,
    InvariantCausalPrediction,
    make_worst_environment_scorer,
    worst_fold_refit,
)

distributed = pytest.importorskip("dask.distributed")

#: The point is the cluster (joblib's "dask" backend runs nowhere else):
#: slow, with the other tests on a LocalCluster (``python -m pytest -m slow``).
pytestmark = pytest.mark.slow

GAMMAS = [0.0, 1.0, 5.0, 50.0]


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def data():
    # 10 predictors: 1,024 subsets, in one chunk per subset size.
    X, y, env, parents = make_invariant_regression(
        200, 3, n_ancestors=4, n_parents=2, n_children=4, random_state=1)
    return X, y, env, parents


def test_icp_on_dask_equals_the_serial_run_exactly(client, data):
    X, y, env, parents = data
    serial = InvariantCausalPrediction().fit(X, y, environments=env)
    with distributed.get_task_stream(client) as stream:
        with parallel_backend("dask"):
            remote = InvariantCausalPrediction(n_jobs=2).fit(X, y, environments=env)
    # The chunks ran on the cluster's workers, not in this process.
    workers = {task["worker"] for task in stream.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    assert remote.n_subsets_tested_ == serial.n_subsets_tested_ == 2**10
    # Exactly equal, subset by subset: same arithmetic, only elsewhere.
    assert list(remote.subset_pvalues_) == list(serial.subset_pvalues_)
    assert remote.subset_pvalues_ == serial.subset_pvalues_
    assert remote.accepted_subsets_ == serial.accepted_subsets_
    assert_array_equal(remote.support_, serial.support_)
    assert_array_equal(remote.pvalues_, serial.pvalues_)
    # ...and a non-trivial result: the parents, from many accepted subsets.
    assert list(remote.get_feature_names_out()) == parents
    assert len(remote.accepted_subsets_) > 1


def test_routed_anchor_grid_search_on_dask_equals_the_serial_run(client, data):
    X, y, env, _ = data

    def search(n_jobs):
        return GridSearchCV(
            AnchorRegression(), {"gamma": GAMMAS}, cv=LeaveOneGroupOut(),
            scoring={"worst": make_worst_environment_scorer(),
                     "mse": "neg_mean_squared_error"},
            refit=worst_fold_refit("worst"), n_jobs=n_jobs, error_score="raise",
        )

    with sklearn.config_context(enable_metadata_routing=True):
        serial = search(None).fit(X, y, groups=env, environments=env)
        with distributed.get_task_stream(client) as stream:
            with parallel_backend("dask"):
                remote = search(2).fit(X, y, groups=env, environments=env)
    assert {task["worker"] for task in stream.data}
    n_candidates, n_splits = len(GAMMAS), 3
    for key in serial.cv_results_:
        if key.startswith(("split", "mean_test", "std_test", "rank_test")):
            assert_array_equal(remote.cv_results_[key], serial.cv_results_[key],
                               err_msg=key)
            assert len(serial.cv_results_[key]) == n_candidates
    assert sum(k.startswith("split") and k.endswith("_test_worst")
               for k in remote.cv_results_) == n_splits
    assert remote.best_index_ == serial.best_index_
    assert_array_equal(remote.best_estimator_.coef_, serial.best_estimator_.coef_)
    # The candidates differ, so equal scores are not a coincidence of equal
    # models: gamma changes every held-out environment's error.
    scores = serial.cv_results_["split0_test_worst"]
    assert np.unique(scores).size == n_candidates
