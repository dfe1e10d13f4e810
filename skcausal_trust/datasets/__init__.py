"""Bundled real data (``load_*``), their default causal graphs, and
simulators with a known causal model (``make_*``)."""

from ._base import load_adult, load_german_credit, load_sachs
from ._graphs import adult_causal_graph
from ._samples_generator import (
    make_counterfactual_classification,
    make_invariant_regression,
)

__all__ = [
    "adult_causal_graph",
    "load_adult",
    "load_german_credit",
    "load_sachs",
    "make_counterfactual_classification",
    "make_invariant_regression",
]
