"""The Gaussian mechanism: calibration by dp-accounting, noise by OpenDP."""

import warnings
from functools import lru_cache

import numpy as np
from dp_accounting import get_sigma_gaussian

from ..exceptions import PrivacyLeakWarning

__all__ = ["gaussian_noise_scale", "release_gaussian"]


@lru_cache(maxsize=256)
def _unit_sigma(epsilon, delta):
    return float(get_sigma_gaussian(epsilon, delta))


def gaussian_noise_scale(epsilon, delta, sensitivity):
    """Smallest Gaussian noise standard deviation giving (epsilon, delta)-DP.

    The analytic Gaussian mechanism (Balle and Wang 2018), exact for one
    release, computed by ``dp_accounting.get_sigma_gaussian``.

    Parameters
    ----------
    epsilon : float
        Privacy loss, natural-log units, > 0.
    delta : float
        In (0, 1).
    sensitivity : float
        L2 sensitivity of the released vector, > 0.

    Returns
    -------
    sigma : float
        Noise standard deviation.
    """
    return float(sensitivity) * _unit_sigma(float(epsilon), float(delta))


@lru_cache(maxsize=64)
def _opendp_gaussian(sigma):
    import opendp.prelude as dp

    dp.enable_features("contrib")
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
    return dp.m.make_gaussian(*space, scale=sigma)


def release_gaussian(values, sigma, sensitivity, random_state=None):
    """Add Gaussian noise of standard deviation ``sigma`` to ``values``.

    With ``random_state=None`` the noise comes from OpenDP's Gaussian
    mechanism (``opendp.measurements.make_gaussian``), whose sampler is exact
    and resistant to floating-point attacks (Mironov 2012); the mechanism's
    own privacy map is checked against ``sigma`` and ``sensitivity``. A seed
    makes the noise reproducible (for experiments and tests) with NumPy's
    generator, which is neither: a ``PrivacyLeakWarning`` says so.

    Parameters
    ----------
    values : ndarray
        The exact statistic; any shape.
    sigma : float
        Noise standard deviation (per coordinate).
    sensitivity : float
        The L2 sensitivity ``sigma`` was calibrated to.
    random_state : None, int or numpy Generator/RandomState, default=None

    Returns
    -------
    noisy : ndarray
        Same shape as ``values``.
    """
    values = np.asarray(values, dtype=float)
    if random_state is not None:
        warnings.warn(
            "random_state is set: the noise is drawn from a seeded NumPy "
            "generator, reproducible by anyone who knows the seed. Use "
            "random_state=None (OpenDP's sampler) for a private release.",
            PrivacyLeakWarning,
            stacklevel=5,
        )
        rng = (random_state if isinstance(random_state, np.random.Generator)
               else np.random.default_rng(
                   random_state.randint(2**31) if isinstance(random_state, np.random.RandomState)
                   else random_state))
        return values + rng.normal(0.0, sigma, size=values.shape)
    mechanism = _opendp_gaussian(float(sigma))
    # zero-concentrated DP: rho = sensitivity^2 / (2 sigma^2) for this release.
    rho = mechanism.map(float(sensitivity))
    if not rho <= sensitivity**2 / (2 * sigma**2) * (1 + 1e-6):
        raise RuntimeError(
            f"OpenDP's Gaussian mechanism reports rho={rho} for sigma={sigma}, "
            f"sensitivity={sensitivity}: the calibration does not match."
        )
    noisy = np.asarray(mechanism(values.ravel().tolist()), dtype=float)
    return noisy.reshape(values.shape)
