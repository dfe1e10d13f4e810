"""A structural equation whose parents are collinear, fitted on columns far
from zero: the minimum-norm coefficients and the residual standard deviation
against numpy's least squares on the raw columns (issue 17: the noise scale
of this branch, computed from statistics measured from the columns'
mid-ranges, was not checked by any test)."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.causal import LinearSCM


@pytest.mark.parametrize("weighted", [False, True])
def test_collinear_parents_far_from_zero_match_numpy_least_squares(weighted):
    rng = np.random.default_rng(0)
    n = 300
    x1 = rng.uniform(1.0, 3.0, n)
    x2 = 2.0 * x1  # exactly collinear with x1: the equation is not identified
    y = 1000.0 + 3.0 * x1 + rng.normal(size=n)
    w = rng.integers(1, 4, n).astype(float) if weighted else np.ones(n)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "y": y})
    scm = LinearSCM([("x1", "x2"), ("x1", "y"), ("x2", "y")]).fit(
        frame, sample_weight=w if weighted else None)
    # Independent: weighted least squares of y on [1, x1, x2] in the raw
    # columns, the minimum-norm solution; the residual SD is the weighted
    # population one (divided by the total weight).
    root = np.sqrt(w)
    design = np.column_stack([np.ones(n), x1, x2])
    beta, *_ = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)
    resid = y - design @ beta
    equation = scm.equations_["y"]
    assert equation["parents"] == ["x1", "x2"]
    assert_allclose(equation["intercept"], [beta[0]], rtol=1e-9)
    assert_allclose(equation["coef"], [beta[1:]], rtol=1e-7)
    assert_allclose(equation["noise_scale"], [np.sqrt(np.sum(w * resid**2) / w.sum())],
                    rtol=1e-7)
    # The residual SD is the noise's (1.0), not y's spread around 1000.
    assert 0.85 < equation["noise_scale"][0] < 1.15
    assert scm.noise_scale("y") == equation["noise_scale"][0]
