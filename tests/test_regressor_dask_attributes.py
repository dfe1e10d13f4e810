"""CounterfactuallyFairRegressor on dask equals its in-memory fit in every
fitted attribute, not only the coefficients: with and without intercept,
with ``alpha=0`` (the objective has no penalty term), and with an attribute
that causes no feature (no constraint: the unconstrained path on both
routes). One feature is far from 0 (1e6): the dask sums are formed about
an offset, and would lose digits about 0."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.causal import CausalGraph
from skcausal_trust.fairness import CounterfactuallyFairRegressor

dd = pytest.importorskip("dask.dataframe")

GRAPH = CausalGraph([("a", "x1"), ("a", "x3"), ("x1", "x3")], nodes=["x2"])
#: The attribute causes nothing: no counterfactual direction moves.
INERT = CausalGraph([("x1", "x3")], nodes=["a", "x2"])


def _data(n=1200, seed=5):
    rng = np.random.default_rng(seed)
    a = rng.choice(["f", "m"], n)
    x1 = rng.normal(size=n) + (a == "m")
    x2 = rng.normal(size=n) + 1e6  # far from 0: the dask sums are formed about an offset
    x3 = 0.5 * x1 - (a == "f") + rng.normal(size=n)
    y = 1.0 + x1 - 0.5 * x2 + x3 + rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "x1": x1, "x2": x2, "x3": x3})
    weights = rng.integers(1, 4, n).astype(float)
    return frame, y, weights


@pytest.mark.parametrize("graph, kw", [
    (GRAPH, dict(fit_intercept=False, alpha=0.0, epsilon=0.0)),
    (GRAPH, dict(fit_intercept=True, alpha=0.0, epsilon=0.3)),
    (GRAPH, dict(fit_intercept=True, alpha=2.0, epsilon=0.0)),
    (INERT, dict(fit_intercept=True, alpha=0.0, epsilon=0.0)),
])
def test_every_fitted_attribute_equals_the_in_memory_fit(dask_sync, graph, kw):
    frame, y, weights = _data()
    ddf = dd.from_pandas(frame, npartitions=3)
    dy = dd.from_pandas(pd.Series(y, index=frame.index), npartitions=3)
    dw = dd.from_pandas(pd.Series(weights, index=frame.index), npartitions=3)
    kw = dict(sensitive_feature_ids="a", **kw)
    on_dask = CounterfactuallyFairRegressor(graph, **kw).fit(ddf, dy, sample_weight=dw)
    mem = CounterfactuallyFairRegressor(graph, **kw).fit(frame, y, sample_weight=weights)
    assert_allclose(on_dask.coef_, mem.coef_, rtol=1e-9, atol=1e-12)
    assert on_dask.intercept_ == pytest.approx(mem.intercept_, rel=1e-9, abs=1e-12)
    if not kw["fit_intercept"]:
        assert on_dask.intercept_ == 0.0
    # Without an intercept, the objective on dask is sum(w y^2) - 2 g'b + b'Hb
    # about 0: here y is near -5e5 and the objective near 1e4, so the
    # cancellation loses about 10 digits (documented in objective_).
    assert on_dask.objective_ == pytest.approx(
        mem.objective_, rel=1e-9 if kw["fit_intercept"] else 1e-5)
    assert on_dask.counterfactual_gap_ == pytest.approx(mem.counterfactual_gap_,
                                                        rel=1e-6, abs=1e-12)
    assert list(on_dask.input_features_) == list(mem.input_features_) == ["x1", "x2", "x3"]
    for name in ("solver_path_", "solver_", "solver_status_", "n_iter_",
                 "n_free_directions_"):
        assert getattr(on_dask, name) == getattr(mem, name), name
    assert mem.solver_path_ == ("unconstrained" if graph is INERT else "fast")
