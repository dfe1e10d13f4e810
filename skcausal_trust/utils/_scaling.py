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
