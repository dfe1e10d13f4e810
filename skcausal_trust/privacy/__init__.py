"""Differential privacy: private causal regression, accounting for many
fits, and empirical audits.

The ``audit`` module checks a privacy claim empirically.
"""

from ._accounting import HashKFold, PrivacyAccountant
from ._regressor import DPCausalRegressor
from ._selection import PrivateSearchResult, private_random_search

__all__ = ["DPCausalRegressor", "HashKFold", "PrivacyAccountant", "PrivateSearchResult",
           "private_random_search"]
