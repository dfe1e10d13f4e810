"""Bundled real data (``load_*``) and simulators with a known causal model
(``make_*``)."""

from ._base import load_adult, load_german_credit, load_sachs
from ._samples_generator import make_counterfactual_classification

__all__ = [
    "load_adult",
    "load_german_credit",
    "load_sachs",
    "make_counterfactual_classification",
]
