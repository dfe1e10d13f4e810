"""Causal fairness analysis: a disparity split into direct, indirect and
spurious effects (Plecko and Bareinboim 2024), for the data, for a model's
predictions, and across the stages of a data-generating pipeline.

The functions are also available from :mod:`skcausal_trust.fairness`.
"""

from ._decomposition import (
    CausalFairnessDecomposition,
    causal_fairness_decomposition,
    make_direct_effect_scorer,
)
from ._generative import (
    GenerativeBiasDecomposition,
    StagedSCMSampler,
    generative_bias_decomposition,
)
from ._plot import FairnessDecompositionDisplay

__all__ = [
    "CausalFairnessDecomposition",
    "FairnessDecompositionDisplay",
    "GenerativeBiasDecomposition",
    "StagedSCMSampler",
    "causal_fairness_decomposition",
    "generative_bias_decomposition",
    "make_direct_effect_scorer",
]
