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
