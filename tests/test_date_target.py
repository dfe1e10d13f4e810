"""A date or duration target is refused, by name, on every route.

numpy reads ``datetime64`` and ``timedelta64`` values as float in
nanoseconds: before, the counterfactually fair regressor, anchor regression
and the private regressor fitted such a target in memory (coefficients of
order 1e11 per unit of input, in nanoseconds), the fair regressor did so on
dask too, and ICP called it a "multiclass target". Every estimator that
reads ``y`` as numbers now raises the same ``ValueError``, in memory and on
dask, before any pass over the rows. (The plugin's checks try a date and a
duration target on every discovered estimator in memory.)
"""

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.causal import CausalGraph
from skcausal_trust.fairness import CounterfactuallyFairRegressor
from skcausal_trust.invariance import AnchorRegression, InvariantCausalPrediction
from skcausal_trust.privacy import DPCausalRegressor

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

N = 120
ESTIMATORS = {
    "fair regressor": lambda: CounterfactuallyFairRegressor(
        causal_model=CausalGraph([("a", "x"), ("x", "w")]), sensitive_feature_ids="a"),
    "anchor": lambda: AnchorRegression(environment_column="a", gamma=2.0),
    "icp": lambda: InvariantCausalPrediction(environment_column="a"),
    "private": lambda: DPCausalRegressor(environment_column="a", environment_levels=[0, 1],
                                         feature_bound=5.0, target_bound=5.0),
}


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.integers(0, 2, N), "x": rng.normal(size=N),
                         "w": rng.normal(size=N)})


def _targets():
    days = pd.to_timedelta(np.random.default_rng(1).integers(0, 100, N), unit="D")
    when = pd.Timestamp("2020-01-01") + days
    return {
        "datetime": (pd.Series(when, name="t"), "datetime64"),
        "datetime with a time zone": (pd.Series(when.tz_localize("Europe/Paris"), name="t"),
                                      "datetime64"),
        "duration": (pd.Series(days, name="t"), "timedelta64"),
        "datetime array": (when.to_numpy(), "datetime64"),
        "duration array": (days.to_numpy(), "timedelta64"),
    }


TARGETS = _targets()


def _never_computed(*args, **kwargs):
    raise AssertionError("a pass over the rows ran before the target was refused")


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
@pytest.mark.parametrize("target", list(TARGETS))
def test_a_date_target_is_refused_in_memory(X, estimator, target):
    y, dtype = TARGETS[target]
    est = ESTIMATORS[estimator]()
    with pytest.raises(ValueError, match=rf"^y has date or duration values \(dtype {dtype}"):
        est.fit(X, y)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
@pytest.mark.parametrize("target", ["datetime", "datetime with a time zone", "duration",
                                    "duration array"])
def test_a_date_target_is_refused_on_dask_before_any_pass(X, estimator, target):
    y, dtype = TARGETS[target]
    if isinstance(y, pd.Series):
        Xd = dd.from_pandas(X.assign(t=y), npartitions=3)
        Xd, yd = Xd[list(X.columns)], Xd["t"]
    else:
        Xd = da.from_array(X.to_numpy(), chunks=(40, 3))
        yd = da.from_array(y, chunks=40)
    est = ESTIMATORS[estimator]()
    if isinstance(Xd, da.Array) and estimator == "fair regressor":
        est.set_params(sensitive_feature_ids=0,
                       causal_model=CausalGraph([("x0", "x1"), ("x1", "x2")]))
    elif isinstance(Xd, da.Array):
        est.set_params(environment_column=0)
    with dask.config.set(scheduler=_never_computed):
        with pytest.raises(ValueError,
                           match=rf"^y has date or duration values \(dtype {dtype}"):
            est.fit(Xd, yd)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]


def test_numbers_of_days_are_accepted(X):
    # The remedy the message gives: the same target in days fits.
    y, _ = TARGETS["duration"]
    for make in ESTIMATORS.values():
        assert hasattr(make().fit(X, y.dt.days + 0.5), "n_features_in_")
