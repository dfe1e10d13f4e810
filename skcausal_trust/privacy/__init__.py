"""Differential privacy: private causal regression and empirical audits.

The ``audit`` module checks a privacy claim empirically.
"""

from ._regressor import DPCausalRegressor

__all__ = ["DPCausalRegressor"]
