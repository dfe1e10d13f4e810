"""Causal graphs and structural causal models."""

from ._encoding import one_hot_encode
from ._graph import CausalGraph
from ._scm import LinearSCM

__all__ = ["CausalGraph", "LinearSCM", "one_hot_encode"]
