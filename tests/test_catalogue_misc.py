"""Bad input from the catalogue of the audit issue that is answered outside
the causal, invariance and decomposition modules."""

import numpy as np
import pandas as pd
import pytest

from skcausal_trust.invariance import AnchorRegression
from skcausal_trust.privacy import DPCausalRegressor


def _string_predictor():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=40), "job": ["a", "b"] * 20,
                      "site": ["s1", "s2"] * 20})
    return X, rng.normal(size=40)


def test_a_string_predictor_is_named():
    X, y = _string_predictor()
    with pytest.raises(ValueError, match=r"non-numeric \(categorical or string\) columns "
                                         r"\['job'\]"):
        AnchorRegression(environment_column="site").fit(X, y)


def test_a_string_predictor_of_the_private_regressor_is_encoded_and_named():
    """The private regressor one-hot encodes it; its levels, not declared,
    come from the data, which voids the guarantee and is said."""
    from skcausal_trust.exceptions import PrivacyLeakWarning

    X, y = _string_predictor()
    with pytest.warns(PrivacyLeakWarning, match="levels of 'job' were taken from the data"):
        reg = DPCausalRegressor(environment_column="site", feature_bound=5.0,
                                target_bound=5.0).fit(X, y)
    assert reg.predictors_ == ["x", "job_a", "job_b", "job_nan"]
    assert reg.epsilon_ == np.inf
