"""Invariance across environments: invariant causal prediction, anchor
regression, and model selection for the worst environment."""

from ._anchor import AnchorRegression
from ._icp import InvariantCausalPrediction
from ._model_selection import make_worst_environment_scorer, worst_fold_refit

__all__ = [
    "AnchorRegression",
    "InvariantCausalPrediction",
    "make_worst_environment_scorer",
    "worst_fold_refit",
]
