"""The counterfactual estimators' fit-time input handling
(``CounterfactualModelMixin._fit_inputs`` in ``fairness/_base.py``), where
mutation testing (``benchmarks/run_mutation.py --modules fairness_base``)
showed that nothing told a bug from the right answer: a regressor requires
``y`` and reads an object-dtype ``y`` as numbers, as scikit-learn's
``check_X_y(y_numeric=True)`` does, and its fit on it is the fit on the
floats.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.causal import CausalGraph
from skcausal_trust.fairness import CounterfactuallyFairRegressor


def _data():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 120).astype(float)
    x = a + rng.normal(size=120)
    z = rng.normal(size=120)
    X = pd.DataFrame({"x": x, "z": z})
    return X, a, 2.0 * x - z + rng.normal(size=120)


GRAPH = CausalGraph([("a", "x")], nodes=["a", "x", "z"])


def test_the_regressor_requires_y():
    X, a, _ = _data()
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        CounterfactuallyFairRegressor(causal_model=GRAPH).fit(X, None, sensitive_features=a)


def test_an_object_dtype_target_is_read_as_numbers():
    X, a, y = _data()
    floats = CounterfactuallyFairRegressor(causal_model=GRAPH, alpha=0.5).fit(
        X, y, sensitive_features=a)
    objects = CounterfactuallyFairRegressor(causal_model=GRAPH, alpha=0.5).fit(
        X, pd.Series(y, dtype=object), sensitive_features=a)
    assert_allclose(objects.coef_, floats.coef_, rtol=1e-12)
    assert objects.intercept_ == pytest.approx(floats.intercept_, rel=1e-12)
    assert floats.coef_[1] == pytest.approx(-1.0, abs=0.25)  # z is free



@pytest.mark.parametrize("estimator", ["regressor", "classifier"])
def test_without_sensitive_features_dask_warns_what_memory_warns(estimator, dask_sync):
    """The fallback (no sensitive attribute: an unconstrained model) is
    announced with the same words on both routes, and fits the same."""
    import warnings

    dd = pytest.importorskip("dask.dataframe")
    from skcausal_trust.exceptions import NoSensitiveFeaturesWarning
    from skcausal_trust.fairness import CounterfactuallyFairClassifier

    X, _, y = _data()
    if estimator == "classifier":
        model, y = CounterfactuallyFairClassifier(causal_model=GRAPH), (y > 0).astype(int)
    else:
        model = CounterfactuallyFairRegressor(causal_model=GRAPH)
    messages = []
    for data, target in ((X, pd.Series(y)),
                         (dd.from_pandas(X, npartitions=2), dd.from_pandas(pd.Series(y),
                                                                           npartitions=2))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = model.__class__(**model.get_params()).fit(data, target)
        messages.append([str(w.message) for w in caught
                         if issubclass(w.category, NoSensitiveFeaturesWarning)])
        assert fitted.n_free_directions_ == 2
    assert len(messages[0]) == 1 and messages[0] == messages[1]


@pytest.mark.parametrize("paths,match", [
    (["x -> a"], r"fair_paths: 'x -> a' must run from a sensitive node \['a'\]"),
    (["a -> z"], r"fair_paths: 'a -> z' uses edges \[\('a', 'z'\)\] that are not in the "
                 "causal graph"),
])
def test_bad_paths_are_named_with_their_argument(paths, match):
    X, a, y = _data()
    with pytest.raises(ValueError, match=match):
        CounterfactuallyFairRegressor(causal_model=GRAPH, fair_paths=paths).fit(
            X, y, sensitive_features=a)


def test_an_attribute_that_names_no_node_lists_the_candidates():
    X, a, y = _data()
    graph = CausalGraph([("a", "x"), ("b", "x")], nodes=["a", "b", "x", "z"])
    with pytest.raises(ValueError, match=r"the attribute names are \['s'\] and the nodes "
                                         r"that are not feature columns are \['a', 'b'\]"):
        CounterfactuallyFairRegressor(causal_model=graph).fit(
            X, y, sensitive_features=pd.Series(a, name="s"))
