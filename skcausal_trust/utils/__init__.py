"""Convex-program helpers and validation of sensitive features."""

from ._convex import solve_problem
from ._validation import check_sensitive_features

__all__ = ["check_sensitive_features", "solve_problem"]
