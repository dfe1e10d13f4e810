"""Tests that kill surviving mutants of ``privacy/_regressor.py`` outside
its dask path (issue 17, ``benchmarks/run_mutation.py --modules
private_regressor``): ``count_clipped`` and ``predict`` on the spellings of
numeric predictors a user passes (booleans, an object array of numbers),
and their refusals.

The expected values are computed on the rows with numpy: a row is clipped
when its Euclidean norm exceeds ``feature_bound_`` (booleans count as 0 and
1), a target when its absolute value exceeds ``target_bound_``; a
prediction is ``X @ coef_ + intercept_`` over the released predictors.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skcausal_trust.privacy import DPCausalRegressor

N = 120


def _bool_data(seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.integers(0, 2, N).astype(bool),
                      "b": rng.integers(0, 2, N).astype(bool),
                      "c": rng.integers(0, 2, N).astype(bool)})
    y = X.to_numpy(dtype=float) @ np.array([1.0, -0.5, 0.8]) + rng.normal(size=N)
    return X, y


def _fit(X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DPCausalRegressor(epsilon=1.0, delta=1e-5, feature_bound=1.2,
                                 target_bound=1.5, random_state=0).fit(X, y)


def _counts_by_hand(reg, X, y):
    Z = np.asarray(X, dtype=float)
    return (int((np.linalg.norm(Z, axis=1) > reg.feature_bound_).sum()),
            int((np.abs(y) > reg.target_bound_).sum()))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("spelling", ["bool frame", "bool array", "object array",
                                      "bool and float frame"])
def test_boolean_and_object_predictors_are_counted_and_predicted_as_numbers(spelling):
    X, y = _bool_data()
    if spelling == "bool and float frame":
        X = X.assign(c=X["c"].astype(float) * 0.7)
    reg = _fit(X, y)
    given = {"bool frame": X, "bool and float frame": X, "bool array": X.to_numpy(),
             "object array": X.to_numpy(dtype=object)}[spelling]
    expected = _counts_by_hand(reg, X, y)
    # Two or three true indicators (norm sqrt(2), sqrt(3)) exceed 1.2; one
    # does not: both kinds are present.
    assert 0 < expected[0] < N
    assert reg.count_clipped(given, y) == expected
    Z = X.to_numpy(dtype=float)
    np.testing.assert_allclose(reg.predict(given), Z @ reg.coef_ + reg.intercept_,
                               rtol=1e-12, atol=1e-12)


def test_count_clipped_refuses_a_target_of_another_length():
    X, y = _bool_data()
    reg = _fit(X, y)
    with pytest.raises(ValueError, match=f"y has {N - 1} rows but X has {N}"):
        reg.count_clipped(X, y[:-1])


# --------------------------------------------------------------------------
# The calibration under replace-one neighbours: the replace-one sensitivity
# plus the rounding allowance (never minus it), and sqrt(2) times the
# add/remove one when a record can move environment.
# --------------------------------------------------------------------------
@pytest.mark.parametrize("by_environment", [False, True], ids=["pooled", "by-environment"])
def test_replace_one_calibration_adds_the_rounding_allowance(by_environment):
    dp_accounting = pytest.importorskip("dp_accounting")
    from test_privacy_enforced import (
        DOCUMENTED_WEIGHTS,
        _documented_sensitivity,
        _documented_weights,
        _rounding_allowance,
    )
    from test_private_regressor_mutants import _reference_replace_one

    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, (80, 3))
    y = X @ np.array([0.5, -0.2, 0.1]) + 0.1 * rng.normal(size=80)
    env = np.repeat([0, 1], 40)
    blocks = DOCUMENTED_WEIGHTS[by_environment]
    reg = DPCausalRegressor(epsilon=2.0, delta=1e-6, feature_bound=np.sqrt(3),
                            target_bound=1.5, neighbouring="replace_one",
                            environment_levels=[0, 1] if by_environment else None,
                            gamma=2.0 if by_environment else 1.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, y, environments=env if by_environment else None)
    W = _documented_weights(3, **blocks)
    allowance = _rounding_allowance(W)
    same = _reference_replace_one(3, **blocks, by_environment=False) + allowance
    expected = (max(same, np.sqrt(2.0) * (_documented_sensitivity(3, **blocks) + allowance))
                if by_environment else same)
    assert reg.sensitivity_ == pytest.approx(expected, rel=1e-12)
    # The allowance is far above the tolerance: minus it is another value.
    assert allowance / expected > 1e-7
    sigma = dp_accounting.get_sigma_gaussian(2.0, 1e-6) * expected
    assert reg.noise_scale_ == pytest.approx(sigma, rel=1e-9)


# --------------------------------------------------------------------------
# The eigenvalue floor of the solve is taken on the selected predictors'
# block of the release (their rows and columns of the noise scale), with
# the estimator's intercept setting.
# --------------------------------------------------------------------------
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_floor_is_that_of_the_selected_block_of_the_release(fit_intercept):
    from skcausal_trust.privacy._regressor import eigenvalue_floor

    rng = np.random.default_rng(8)
    n = 6000
    env = np.repeat([0, 1, 2], n // 3)
    # b: the cause, shifted by the environment (so that the empty set is
    # rejected); a: a child of y whose mechanism shifts too. ICP keeps b,
    # the second predictor: a selection that is not a prefix of the
    # released columns.
    b = rng.uniform(-0.5, 0.5, n) + np.array([-0.4, 0.0, 0.4])[env]
    y = 0.8 * b + 0.1 * rng.normal(size=n)
    a = np.clip(y + np.array([-0.6, 0.0, 0.6])[env] + 0.1 * rng.normal(size=n), -1, 1)
    X = np.column_stack([a, b, rng.uniform(-1, 1, n)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = DPCausalRegressor(epsilon=50.0, feature_bound=np.sqrt(3), target_bound=2.0,
                                causal_features="icp", environment_levels=[0, 1, 2],
                                fit_intercept=fit_intercept, gamma=2.0,
                                random_state=1).fit(X, y, environments=env)
    assert reg.selected_features_ == ["x1"]
    grams = reg.released_statistics_.copy()
    grams[:, 0, 0] = np.maximum(grams[:, 0, 0], 2.0)
    cols = [0, 2, 4]
    scale = reg.noise_scale_ / reg.release_weights_
    expected = eigenvalue_floor(grams[:, cols][:, :, cols], scale[np.ix_(cols, cols)],
                                2.0, fit_intercept)
    assert reg.eigenvalue_floor_ == pytest.approx(expected, rel=1e-12)
    other = eigenvalue_floor(grams[:, cols][:, :, cols], scale[np.ix_(cols, cols)],
                             2.0, not fit_intercept)
    assert abs(other - expected) > 1e-6 * expected


# --------------------------------------------------------------------------
# eigenvalue_floor: the draws come in chunks of at most 4e6 matrix entries
# (memory stays bounded), n_draws matrices in all; gamma defaults to 1.
# --------------------------------------------------------------------------
class _RecordingGenerator:
    """A numpy Generator that records the size of each normal draw."""

    def __init__(self, seed):
        self.generator = np.random.Generator(np.random.PCG64(seed))
        self.sizes = []

    def normal(self, loc, scale, size):
        self.sizes.append(size)
        return self.generator.normal(loc, scale, size)


def test_eigenvalue_floor_draws_in_chunks_of_at_most_four_million_entries(monkeypatch):
    from skcausal_trust.privacy import _regressor as module

    k, n_draws = 148, 200
    m = k + 2
    grams = np.zeros((1, m, m))
    grams[0, 0, 0] = 1e6
    grams[0, 1:, 1:] = np.eye(k + 1) * 1e6
    noise = np.full((m, m), 0.01)
    made = []

    def default_rng(seed):
        made.append(_RecordingGenerator(seed))
        return made[-1]

    monkeypatch.setattr(module.np.random, "default_rng", default_rng)
    module.eigenvalue_floor(grams, noise, fit_intercept=False, n_draws=n_draws)
    (rng,) = made
    per_chunk = 4_000_000 // (m * m)  # 177 matrices of 150 x 150
    assert [size[0] for size in rng.sizes] == [per_chunk, n_draws - per_chunk]
    assert all(size[1:] == (1, m * (m + 1) // 2) for size in rng.sizes)


def test_eigenvalue_floor_defaults_to_gamma_one_with_an_intercept():
    from skcausal_trust.privacy._regressor import eigenvalue_floor

    rng = np.random.default_rng(3)
    Z = rng.uniform(-1, 1, (60, 4))
    codes = np.repeat([0, 1], 30)
    grams = np.stack([Z[codes == e].T @ Z[codes == e] for e in (0, 1)])
    grams[:, 0, 0] = 30.0  # the count
    scale = np.full((4, 4), 0.5)
    default = eigenvalue_floor(grams, scale)
    assert default == eigenvalue_floor(grams, scale, 1.0, True)
    assert default != eigenvalue_floor(grams, scale, 2.0, True)


class _KeepingGenerator(_RecordingGenerator):
    """A numpy Generator that also keeps each normal draw."""

    def __init__(self, seed):
        super().__init__(seed)
        self.draws = []

    def normal(self, loc, scale, size):
        self.draws.append(super().normal(loc, scale, size))
        return self.draws[-1]


def _anchor_block(G, gamma):
    """Anchor regression's predictors' block from per-environment Gram
    matrices of [1, x, y], from its definition: within-environment scatter
    plus gamma times the between-environment scatter of the means."""
    k = G.shape[-1] - 2
    n, s, S = G[:, 0, 0], G[:, 0, 1:], G[:, 1:, 1:]
    within = sum(S[e] - np.outer(s[e], s[e]) / n[e] for e in range(len(n)))
    pooled = s.sum(axis=0) / n.sum()
    between = sum(n[e] * np.outer(s[e] / n[e] - pooled, s[e] / n[e] - pooled)
                  for e in range(len(n)))
    M = within + gamma * between
    return M[:k, :k]


def test_eigenvalue_floor_is_the_quantile_of_the_noisy_blocks_spectral_change(monkeypatch):
    """Each draw: symmetric noise of the given scale added to the released
    Gram matrices, the noisy count raised to 2 (as the fit does), and the
    spectral norm of the change of the anchor block; the floor is their
    (1 - failure_probability) quantile. Small counts and a large count noise:
    the raise to 2 happens in many draws."""
    from skcausal_trust.privacy import _regressor as module

    rng = np.random.default_rng(4)
    E, k, gamma = 2, 2, 3.0
    m = k + 2
    grams = np.empty((E, m, m))
    for e in range(E):
        Z = np.column_stack([np.ones(5), rng.uniform(-1, 1, (5, k + 1))])
        grams[e] = Z.T @ Z
    scale = np.full((m, m), 0.3)
    scale[0, 0] = 2.5
    kept = []

    def default_rng(seed):
        kept.append(_KeepingGenerator(seed))
        return kept[-1]

    monkeypatch.setattr(module.np.random, "default_rng", default_rng)
    floor = module.eigenvalue_floor(grams, scale, gamma, True, n_draws=60,
                                    failure_probability=0.1)
    draws = np.concatenate(kept[0].draws)
    assert draws.shape == (60, E, m * (m + 1) // 2)
    iu = np.triu_indices(m)
    norms, raised = [], 0
    for d in draws:
        noisy = grams.copy()
        for e in range(E):
            N = np.zeros((m, m))
            N[iu] = d[e]
            noisy[e] += N + np.triu(N, 1).T
        raised += int((noisy[:, 0, 0] < 2.0).any())
        noisy[:, 0, 0] = np.maximum(noisy[:, 0, 0], 2.0)
        change = _anchor_block(noisy, gamma) - _anchor_block(grams, gamma)
        norms.append(np.abs(np.linalg.eigvalsh((change + change.T) / 2)).max())
    assert raised >= 5
    assert floor == pytest.approx(np.quantile(norms, 0.9), rel=1e-10)


def test_centred_scatter_returns_the_symmetric_part_of_the_block():
    """A Gram matrix that rounding left slightly asymmetric: the block is
    symmetrised, (A + A') / 2."""
    from skcausal_trust.privacy._regressor import centred_scatter

    rng = np.random.default_rng(6)
    Z = np.column_stack([np.ones(9), rng.uniform(-1, 1, (9, 3))])
    G = (Z.T @ Z)[None]
    G[0, 1, 2] += 1e-3
    A, b, _ = centred_scatter(G, 1.0, True)
    assert np.array_equal(A, A.T)
    block = _anchor_block(G, 1.0)
    assert_allclose(A, (block + block.T) / 2, rtol=1e-12)


def test_fit_requires_y():
    X, _ = _bool_data()
    with pytest.raises(ValueError, match="requires y to be passed, but the target y is None"):
        DPCausalRegressor(feature_bound=2.0, target_bound=2.0).fit(X, None)


@pytest.mark.parametrize("kind", [bool, int])
def test_a_boolean_or_integer_target_is_released_as_numbers(kind):
    """The same seed, the same release: y read as 0/1 (or integers) is y as
    floats."""
    rng = np.random.default_rng(9)
    X = rng.uniform(-1, 1, (50, 2))
    y = (X[:, 0] + 0.3 * rng.normal(size=50) > 0).astype(kind) * (1 if kind is bool else 3)

    def release(target):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DPCausalRegressor(epsilon=1.0, feature_bound=np.sqrt(2),
                                     target_bound=2.5, random_state=3).fit(X, target)

    given, floats = release(y), release(np.asarray(y, dtype=float))
    assert np.array_equal(given.released_statistics_, floats.released_statistics_)
    assert np.array_equal(given.coef_, floats.coef_)


# --------------------------------------------------------------------------
# Refusals on the way in: a complex column on dask, a 1-D dask array at
# predict, one environment level read from the data for ICP.
# --------------------------------------------------------------------------
def test_a_complex_column_on_dask_is_refused_by_name(dask_sync):
    dd = pytest.importorskip("dask.dataframe")
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(10)
    X = pd.DataFrame({"a": rng.normal(size=40), "c": rng.normal(size=40) + 1j})
    with pytest.raises(ValueError, match=r"^X has non-numeric columns \['c'\] of dtypes "
                                         r"\['complex128'\]"):
        DPCausalRegressor(feature_bound=2.0, target_bound=3.0).fit(
            dd.from_pandas(X, npartitions=2), da.from_array(rng.normal(size=40), chunks=20))


def test_predict_refuses_a_one_dimensional_dask_array(dask_sync):
    da = pytest.importorskip("dask.array")
    X, y = _bool_data()
    reg = _fit(X.to_numpy(dtype=float), y)
    with pytest.raises(ValueError, match=r"^X is a dask Array of shape \(120,\); expected a "
                                         "2-D dask array"):
        reg.predict(da.from_array(np.ones(N), chunks=60))


def test_icp_refuses_a_single_environment_read_from_the_data():
    X, y = _bool_data()
    with pytest.raises(ValueError, match="has a single environment 0; comparing "
                                         "environments needs data from at least two"):
        DPCausalRegressor(feature_bound=2.0, target_bound=3.0, causal_features="icp").fit(
            X.to_numpy(dtype=float), y, environments=np.zeros(N, dtype=int))


def test_tags_refuse_nan_and_declare_the_release_random():
    """scikit-learn's checks read the tags: NaN is refused (it has no
    bound), and two fits of the same data differ (the noise)."""
    from sklearn.utils import get_tags

    tags = get_tags(DPCausalRegressor())
    assert tags.input_tags.allow_nan is False
    assert tags.non_deterministic is True
    X, y = _bool_data()
    first, second = (DPCausalRegressor(feature_bound=2.0, target_bound=3.0).fit(
        X.to_numpy(dtype=float), y) for _ in range(2))
    assert not np.array_equal(first.released_statistics_, second.released_statistics_)
