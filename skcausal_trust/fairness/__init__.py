"""Counterfactually fair estimators (classifier, regressor, residualizer) and counterfactual fairness metrics.

Group fairness metrics (demographic parity, equalized odds) come from
:mod:`fairlearn.metrics`; :func:`group_contingency` gives them rows of any
size (dask collections) as a small weighted table.
"""

from ._counterfactual import CounterfactuallyFairClassifier
from ._regressor import CounterfactuallyFairRegressor
from ._robust import CausallyRobustFairClassifier
# The causal fairness analysis lives in skcausal_trust.decomposition; its
# names stay importable from here.
from ..decomposition import (
    CausalFairnessDecomposition,
    FairnessDecompositionDisplay,
    GenerativeBiasDecomposition,
    StagedSCMSampler,
    causal_fairness_decomposition,
    generative_bias_decomposition,
    make_direct_effect_scorer,
)
from ._metrics import (
    counterfactual_unfairness,
    make_counterfactual_unfairness_scorer,
    make_group_fairness_scorer,
)
from ._group import group_contingency
from ._residualizer import CounterfactualResidualizer
from ._unfair_area import UnfairAreaResult, make_unfair_area_scorer, unfair_area

__all__ = [
    "CausallyRobustFairClassifier",
    "CausalFairnessDecomposition",
    "CounterfactualResidualizer",
    "CounterfactuallyFairClassifier",
    "CounterfactuallyFairRegressor",
    "FairnessDecompositionDisplay",
    "GenerativeBiasDecomposition",
    "StagedSCMSampler",
    "UnfairAreaResult",
    "causal_fairness_decomposition",
    "counterfactual_unfairness",
    "generative_bias_decomposition",
    "group_contingency",
    "make_direct_effect_scorer",
    "make_counterfactual_unfairness_scorer",
    "make_group_fairness_scorer",
    "make_unfair_area_scorer",
    "unfair_area",
]
