"""Counterfactually fair estimators and counterfactual fairness metrics.

Group fairness metrics (demographic parity, equalized odds) come from
:mod:`fairlearn.metrics`.
"""

from ._counterfactual import CounterfactuallyFairClassifier
from ._metrics import (
    counterfactual_unfairness,
    make_counterfactual_unfairness_scorer,
    make_group_fairness_scorer,
)
from ._residualizer import CounterfactualResidualizer

__all__ = [
    "CounterfactualResidualizer",
    "CounterfactuallyFairClassifier",
    "counterfactual_unfairness",
    "make_counterfactual_unfairness_scorer",
    "make_group_fairness_scorer",
]
