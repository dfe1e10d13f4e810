"""Invariance across environments: invariant causal prediction and anchor
regression."""

from ._icp import InvariantCausalPrediction

__all__ = ["InvariantCausalPrediction"]
