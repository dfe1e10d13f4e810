"""Causal graphs and structural causal models."""

from ._graph import CausalGraph
from ._scm import LinearSCM

__all__ = ["CausalGraph", "LinearSCM"]
