#!/usr/bin/env python
"""Which calibration errors the privacy audits catch.

``DPCausalRegressor(epsilon=1, delta=1e-6, feature_bound=1, target_bound=1)``
is fitted ``--runs`` times (default 5,000) on D = two zero rows and as many
times on D' = D plus the record ``x = [1.0], y = 1.0``, with its noise scale
multiplied by 1 (correct), 0.95, 0.9 and 0.8 (``gaussian_noise_scale``
patched in this process). Each fit is reduced to the likelihood-ratio
statistic of its release (``release_projection``), and the same statistics
go to

- the parametric audit (``gaussian_epsilon_from_statistics``, one-sided:
  ``alternative="greater"``, the neighbour's statistic is the larger): the
  Gaussian mechanism's epsilon at the estimated standardised shift, with a
  lower confidence bound (noncentral t), at 95% confidence;
- the threshold audit (Jagielski et al. 2020, the assumption-free one):
  threshold chosen on the first 10% of the runs, Clopper-Pearson bound on
  the others, at 95% confidence.

A mechanism is flagged when the lower bound exceeds the claimed epsilon = 1.
The true epsilon of each mechanism (analytic Gaussian, Balle and Wang 2018)
is printed beside. The script prints a table and never asserts; with the
default size it takes about 2 minutes on one core (3 ms per fit).

Run from the repository root::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_parametric_audit.py [--runs N]
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from unittest import mock  # noqa: E402

import dp_accounting  # noqa: E402
import numpy as np  # noqa: E402

from skcausal_trust.privacy import DPCausalRegressor, _regressor  # noqa: E402
from skcausal_trust.privacy.audit import (  # noqa: E402
    _bound_from_statistics,
    gaussian_epsilon_from_statistics,
    release_projection,
)

EPSILON, DELTA, CONFIDENCE = 1.0, 1e-6, 0.95
FACTORS = (1.0, 0.95, 0.9, 0.8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5000, help="fits per data set")
    args = parser.parse_args(argv)
    X, y = np.zeros((2, 1)), np.zeros(2)
    X1, y1 = np.vstack([X, [[1.0]]]), np.append(y, 1.0)
    statistic = release_projection([1.0], 1.0, 1.0, 1.0)
    original = _regressor.gaussian_noise_scale
    unit = dp_accounting.get_sigma_gaussian(EPSILON, DELTA)
    print(f"claimed epsilon {EPSILON:g}, delta {DELTA:g}; {args.runs:,} fits per data set "
          f"per mechanism; confidence {CONFIDENCE:g}")
    print(f"{'sigma x':>8} {'true eps':>9} | {'parametric est':>14} {'lower':>7} "
          f"{'flag':>5} {'normality p':>11} | {'threshold lower':>15} {'flag':>5} | "
          f"{'seconds':>7}")
    for factor in FACTORS:
        t0 = time.perf_counter()
        with mock.patch.object(_regressor, "gaussian_noise_scale",
                               lambda e, d, s, f=factor: f * original(e, d, s)), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg = DPCausalRegressor(epsilon=EPSILON, delta=DELTA, feature_bound=1.0,
                                    target_bound=1.0)
            s0 = np.array([statistic(reg.fit(X, y)) for _ in range(args.runs)])
            s1 = np.array([statistic(reg.fit(X1, y1)) for _ in range(args.runs)])
        seconds = time.perf_counter() - t0
        true = dp_accounting.get_epsilon_gaussian(factor * unit, DELTA)
        parametric = gaussian_epsilon_from_statistics(
            s0, s1, delta=DELTA, confidence=CONFIDENCE, claimed_epsilon=EPSILON,
            alternative="greater")
        k = args.runs // 10
        threshold = _bound_from_statistics(s0[:k], s1[:k], s0[k:], s1[k:], DELTA,
                                           CONFIDENCE)[0]
        print(f"{factor:8.2f} {true:9.3f} | {parametric.epsilon_estimate:14.3f} "
              f"{parametric.epsilon_lower_bound:7.3f} {str(parametric.flagged):>5} "
              f"{parametric.normality_pvalue:11.3f} | {threshold:15.3f} "
              f"{str(threshold > EPSILON):>5} | {seconds:7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
