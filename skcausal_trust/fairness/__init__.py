"""Counterfactually fair estimators (classifier, regressor, residualizer) and counterfactual fairness metrics.

Group fairness metrics (demographic parity, equalized odds) come from
:mod:`fairlearn.metrics`.
"""

from ._counterfactual import CounterfactuallyFairClassifier
from ._regressor import CounterfactuallyFairRegressor
from ._decomposition import (
    CausalFairnessDecomposition,
    FairnessDecompositionDisplay,
    causal_fairness_decomposition,
    make_direct_effect_scorer,
)
from ._generative import (
    GenerativeBiasDecomposition,
    StagedSCMSampler,
    generative_bias_decomposition,
)
from ._metrics import (
    counterfactual_unfairness,
    make_counterfactual_unfairness_scorer,
    make_group_fairness_scorer,
)
from ._residualizer import CounterfactualResidualizer

__all__ = [
    "CausalFairnessDecomposition",
    "CounterfactualResidualizer",
    "CounterfactuallyFairClassifier",
    "CounterfactuallyFairRegressor",
    "FairnessDecompositionDisplay",
    "GenerativeBiasDecomposition",
    "StagedSCMSampler",
    "causal_fairness_decomposition",
    "counterfactual_unfairness",
    "generative_bias_decomposition",
    "make_direct_effect_scorer",
    "make_counterfactual_unfairness_scorer",
    "make_group_fairness_scorer",
]
