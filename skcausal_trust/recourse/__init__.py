"""Causal algorithmic recourse: the cheapest actions (interventions in the
causal model) that change a model's decision for a person."""

from ._linear import RecourseResult, causal_recourse

__all__ = ["RecourseResult", "causal_recourse"]
