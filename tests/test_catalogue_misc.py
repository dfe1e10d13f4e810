"""Bad input from the catalogue of the audit issue that is answered outside
the causal, invariance and decomposition modules."""

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.invariance import AnchorRegression
from skcausal_trust.privacy import DPCausalRegressor


@pytest.mark.parametrize("Est, params", [
    (AnchorRegression, {}),
    (DPCausalRegressor, {"feature_bound": 5.0, "target_bound": 5.0}),
])
def test_a_string_predictor_is_named(Est, params):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=40), "job": ["a", "b"] * 20,
                      "site": ["s1", "s2"] * 20})
    y = rng.normal(size=40)
    with pytest.raises(ValueError, match=r"non-numeric \(categorical or string\) columns "
                                         r"\['job'\]"):
        Est(environment_column="site", **params).fit(X, y)
