"""Larger than memory: the linear SCM and the counterfactual estimators fit
on dask collections, partition by partition, with the in-memory result.

Every test runs on a two-worker LocalCluster on loopback (the session
fixture ``dask_client``): the partition statistics are computed in other
processes and only they come back.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.causal import LinearSCM

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")

RTOL = 1e-10


def _sizes(ddf):
    return tuple(ddf.map_partitions(len).compute().tolist())


def _unequal(frame, cuts):
    """A dask dataframe whose partitions have unequal sizes (``cuts`` are the
    first row of each partition after the first)."""
    return dd.from_pandas(frame, npartitions=1).repartition(
        divisions=[0, *cuts, len(frame) - 1])


@pytest.fixture(scope="module")
def scm_data():
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.choice(["f", "m"], n)
    r = rng.choice(["x", "y", "z"], n)
    # x sits far from 0: the mid-range offsets keep its digits.
    x = 1e3 + 2.0 * (a == "m") + rng.normal(size=n)
    z = 0.5 * x - (r == "y") + rng.normal(size=n)
    frame = pd.DataFrame({"a": pd.Categorical(a), "r": r, "x": x, "z": z})
    return frame, rng.uniform(0.1, 3.0, n)


GRAPH = [("a", "x"), ("x", "z"), ("r", "z")]


def _assert_same_scm(dask_scm, scm):
    assert {v: list(c) for v, c in dask_scm.categories_.items()} == {
        v: list(c) for v, c in scm.categories_.items()}
    for v, eq in scm.equations_.items():
        for key in ("intercept", "coef", "noise_scale"):
            assert_allclose(dask_scm.equations_[v][key], eq[key], rtol=RTOL, atol=1e-12)
    for v, root in scm.roots_.items():
        for key, value in root.items():
            assert_allclose(dask_scm.roots_[v][key], value, rtol=RTOL)


def test_scm_fit_on_a_dask_dataframe_equals_the_in_memory_fit(dask_client, scm_data):
    frame, weights = scm_data
    ddf = _unequal(frame, [400, 1700, 1750, 2600])
    assert ddf.npartitions == 5
    _assert_same_scm(LinearSCM(GRAPH).fit(ddf), LinearSCM(GRAPH).fit(frame))
    dw = da.from_array(weights, chunks=(_sizes(ddf),))
    _assert_same_scm(LinearSCM(GRAPH).fit(ddf, sample_weight=dw),
                     LinearSCM(GRAPH).fit(frame, sample_weight=weights))
    # The routed weights as a series of the same dataframe.
    with_w = ddf.assign(w=dd.from_pandas(pd.Series(weights), npartitions=1)
                        .repartition(divisions=ddf.divisions))
    _assert_same_scm(LinearSCM(GRAPH).fit(with_w, sample_weight=with_w["w"]),
                     LinearSCM(GRAPH).fit(frame, sample_weight=weights))


def test_integer_weights_on_dask_equal_repeated_rows(dask_client, scm_data):
    frame, _ = scm_data
    counts = np.random.default_rng(1).integers(0, 4, len(frame))
    ddf = dd.from_pandas(frame, npartitions=4)
    dw = da.from_array(counts.astype(float), chunks=(_sizes(ddf),))
    repeated = frame.loc[frame.index.repeat(counts)].reset_index(drop=True)
    _assert_same_scm(LinearSCM(GRAPH).fit(ddf, sample_weight=dw),
                     LinearSCM(GRAPH).fit(repeated))


def test_scm_fit_on_dask_refuses_what_it_cannot_know(dask_client, scm_data):
    frame, weights = scm_data
    unknown = dd.from_pandas(frame, npartitions=3)
    unknown["a"] = unknown["a"].cat.as_unknown()
    with pytest.raises(ValueError, match=r"data\['a'\] is a categorical column of "
                       "unknown categories"):
        LinearSCM(GRAPH).fit(unknown)
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(ValueError, match="not aligned: data 3, sample_weight 2 partitions"):
        LinearSCM(GRAPH).fit(ddf, sample_weight=da.from_array(weights, chunks=2000))
    with pytest.raises(ValueError, match="sample_weight must be a dask array or series"):
        LinearSCM(GRAPH).fit(ddf, sample_weight=weights)
    holed = frame.copy()
    holed.loc[2500, "z"] = np.nan
    fresh = LinearSCM(GRAPH)
    with pytest.raises(ValueError, match=r"data\['z'\] has 1 missing value"):
        fresh.fit(dd.from_pandas(holed, npartitions=3))
    assert not hasattr(fresh, "equations_")
    with pytest.raises(ValueError, match=r"causal graph nodes \[.r.\] are not columns of data"):
        LinearSCM(GRAPH).fit(ddf[["a", "x", "z"]])
