"""Exact scaling by powers of two."""

import numpy as np


def times_power_of_two(values, exponents):
    """``values * 2**exponents``, exactly (as ``np.ldexp``): a product with
    the power of two when it is a float (several times faster than
    ``np.ldexp`` on large arrays), ``ldexp`` otherwise."""
    exponents = np.asarray(exponents)
    if exponents.size == 0 or np.all(np.abs(exponents) <= 1000):
        return values * np.exp2(exponents.astype(float))
    return np.ldexp(values, exponents)


def exponents_below(magnitudes):
    """Per entry, the exponent ``e`` with ``2**e <= magnitude < 2**(e + 1)``
    (0 for a zero magnitude): dividing by ``2**e`` is exact and brings the
    magnitude into [1, 2)."""
    magnitudes = np.asarray(magnitudes, dtype=float)
    _, exponent = np.frexp(magnitudes)
    return np.where(magnitudes > 0, exponent - 1, 0).astype(int)


#: Largest magnitudes a program stated in the data's units accepts (about
#: 1e-120 to 1e120): products of two such values, summed over many rows,
#: stay normal floats.
SAFE_MAGNITUDES = (2.0 ** -400, 2.0 ** 400)


def refuse_extreme_magnitudes(peaks, names, reason):
    """Raise ValueError naming the inputs whose largest magnitude (``peaks``,
    one per name; 0 for a zero column, accepted) is outside
    :data:`SAFE_MAGNITUDES`, for a computation in the data's units, so that
    the inputs cannot be rescaled for it; ``reason`` is a clause saying
    which (``"the L2 penalty (C=1.0) is stated in the data's units"``)."""
    peaks = np.asarray(peaks, dtype=float)
    low, high = SAFE_MAGNITUDES
    bad = np.flatnonzero((peaks > 0) & ((peaks < low) | (peaks > high)))
    if bad.size:
        raise ValueError(
            f"X's inputs {[names[j] for j in bad]!r} have values of magnitude "
            f"{[float(f'{peaks[j]:.3g}') for j in bad]!r}: {reason}, where products "
            "of such values overflow or lose their digits. Rescale them "
            "(StandardScaler, or a change of units; a penalty then weighs their "
            "coefficients differently).")
