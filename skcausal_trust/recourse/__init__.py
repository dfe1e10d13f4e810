"""Causal algorithmic recourse: the cheapest actions (interventions in the
causal model) that change a model's decision for a person."""

from ._linear import (
    RecourseDisparity,
    RecourseResult,
    causal_recourse,
    make_recourse_scorer,
    recourse_disparity,
)

__all__ = ["RecourseDisparity", "RecourseResult", "causal_recourse", "make_recourse_scorer",
           "recourse_disparity"]
