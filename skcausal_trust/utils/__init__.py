"""Convex-program helpers, name matching, discovery and the plugin's estimator
checks."""

from ._convex import solve_problem

__all__ = ["solve_problem"]
