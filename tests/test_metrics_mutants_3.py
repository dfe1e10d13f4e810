"""Tests that kill surviving mutants of ``fairness/_metrics.py``'s dask
route (issue 17, ``benchmarks/run_mutation.py --modules metrics --only
"*x__dask_unfairness__mutmut_*" ...``): ``_dask_unfairness`` sums each
partition's weighted differences and weights, skipping a partition only
when it has no row of positive weight.

The partitions here take every branch: an empty one, one of a single row,
one whose weights are all positive but at most 1, one whose weights are
all 0; the value must be the in-memory one, also path-specific, and also
when the total weight is below 1. A total weight of 0 is an error.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from skcausal_trust.causal import CausalGraph, LinearSCM
from skcausal_trust.fairness import counterfactual_unfairness

dd = pytest.importorskip("dask.dataframe")

#: Partition sizes: empty, one row, weights in (0, 1], weights 0, the rest.
SIZES = (0, 1, 12, 9, 38)
N = sum(SIZES)
FEATURES = ["m", "x", "z"]


@pytest.fixture(scope="module")
def setting():
    """a -> m -> x and a -> x (linear), z independent; a logistic model on
    [m, x, z]; weights by the partitions' roles above."""
    rng = np.random.default_rng(21)
    a = rng.choice(["f", "g"], N)
    m = 1.2 * (a == "g") + rng.normal(size=N)
    x = 0.8 * m - 0.9 * (a == "g") + rng.normal(size=N)
    z = rng.normal(size=N)
    frame = pd.DataFrame({"m": m, "x": x, "z": z})
    label = (m + x - z + rng.logistic(size=N) > 0.5).astype(int)
    scm = LinearSCM(CausalGraph([("a", "m"), ("m", "x"), ("a", "x")], nodes=["z"])).fit(
        frame.assign(a=pd.Categorical(a)))
    clf = LogisticRegression().fit(frame, label)
    ends = np.cumsum((0,) + SIZES)
    weights = rng.uniform(1.5, 3.0, N)
    weights[ends[2]:ends[3]] = rng.uniform(0.1, 1.0, SIZES[2])
    weights[ends[3]:ends[4]] = 0.0
    return frame, pd.Series(a), weights, scm, clf


def _dask(data):
    ends = np.cumsum((0,) + SIZES)
    return dd.concat([dd.from_pandas(data.iloc[s:e], npartitions=1)
                      for s, e in zip(ends[:-1], ends[1:])])


@pytest.mark.parametrize("paths", [{}, {"fair_paths": ["a -> m -> x"]},
                                   {"unfair_paths": ["a -> x"]}])
@pytest.mark.parametrize("kind", ["probability", "flip"])
def test_dask_unfairness_over_every_kind_of_partition_is_the_in_memory_value(
        dask_sync, setting, kind, paths):
    frame, a, weights, scm, clf = setting
    w = pd.Series(weights)
    assert _dask(frame).npartitions == len(SIZES)
    eager = counterfactual_unfairness(clf, frame, scm=scm, kind=kind,
                                      sensitive_features=a, sample_weight=weights, **paths)
    lazy = counterfactual_unfairness(clf, _dask(frame), scm=scm, kind=kind,
                                     sensitive_features=_dask(a), sample_weight=_dask(w),
                                     **paths)
    assert eager > 1e-3
    assert_allclose(lazy, eager, rtol=1e-12)
    # Unweighted: the single row and the zero-weight partition count.
    eager = counterfactual_unfairness(clf, frame, scm=scm, kind=kind,
                                      sensitive_features=a, **paths)
    lazy = counterfactual_unfairness(clf, _dask(frame), scm=scm, kind=kind,
                                     sensitive_features=_dask(a), **paths)
    assert_allclose(lazy, eager, rtol=1e-12)


def test_the_path_specific_value_on_dask_is_not_the_total_one(dask_sync, setting):
    frame, a, weights, scm, clf = setting
    values = [counterfactual_unfairness(clf, _dask(frame), scm=scm,
                                        sensitive_features=_dask(a), **paths)
              for paths in ({}, {"fair_paths": ["a -> m -> x"]})]
    assert abs(values[0] - values[1]) > 1e-3


def test_dask_unfairness_with_a_total_weight_below_one_or_zero(dask_sync, setting):
    frame, a, weights, scm, clf = setting
    small = weights * 1e-3
    assert 0 < small.sum() < 1
    eager = counterfactual_unfairness(clf, frame, scm=scm, sensitive_features=a,
                                      sample_weight=small)
    lazy = counterfactual_unfairness(clf, _dask(frame), scm=scm,
                                     sensitive_features=_dask(a),
                                     sample_weight=_dask(pd.Series(small)))
    assert_allclose(lazy, eager, rtol=1e-12)
    with pytest.raises(ValueError, match=r"^X has no rows with positive weight; nothing "
                                         r"to measure\.$"):
        counterfactual_unfairness(clf, _dask(frame), scm=scm, sensitive_features=_dask(a),
                                  sample_weight=_dask(pd.Series(np.zeros(N))))


def test_an_unfitted_scm_is_refused(setting):
    frame, a, _, scm, clf = setting
    with pytest.raises(ValueError, match=r"^scm must be a fitted LinearSCM\.$"):
        counterfactual_unfairness(clf, frame, scm=LinearSCM(scm.graph_),
                                  sensitive_features=a)
    with pytest.raises(ValueError, match=r"^scm must be a fitted LinearSCM\.$"):
        counterfactual_unfairness(clf, frame, scm=scm.graph_, sensitive_features=a)
