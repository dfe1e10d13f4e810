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


def weight_total_is_safe(total, peak):
    """Whether weights of ``total`` (their sum) on inputs of largest
    magnitude ``peak`` can be summed with a loss in the data's units: the
    total in :data:`SAFE_MAGNITUDES` and times ``peak**2`` at most
    ``2**1000`` (:func:`refuse_extreme_weight_total`)."""
    low, high = SAFE_MAGNITUDES
    with np.errstate(over="ignore"):
        curvature = float(total) * float(peak) ** 2
    return bool(low <= total <= high and curvature <= 2.0 ** 1000)


def refuse_extreme_weight_total(total, peak, reason):
    """Raise ValueError when the weights' ``total`` (inf when their sum
    overflows) is outside :data:`SAFE_MAGNITUDES`, or when ``total`` times the
    square of the inputs' largest magnitude ``peak`` exceeds ``2**1000``, for
    a weighted loss summed in the data's units beside a penalty (``reason``,
    a clause saying which): its sums, gradients and curvatures then overflow
    or lose their digits. Only the weights' ratios and the penalty's strength
    relative to their total define such a model, so rescaling the weights
    (and the penalty with them) loses nothing."""
    if weight_total_is_safe(total, peak):
        return
    low, high = SAFE_MAGNITUDES
    what = f"sample_weight sums to {float(total):.3g}"
    if low <= total <= high:
        what += f" and X's largest input has magnitude {float(peak):.3g}"
    raise ValueError(
        f"{what}: {reason} against the weighted sum of the rows' losses, whose "
        "sums, gradients and curvatures overflow or lose their digits at such "
        "scales (the weights' total must lie in about 1e-120 to 1e120, and times "
        "the squared largest input stay below about 1e301). Rescale the weights: "
        "only their ratios and C times their total define the model (sample_weight "
        "/ s with C * s gives the same one).")
