"""Causal, trustworthy machine learning for scikit-learn.

Subpackages
-----------
causal
    Causal graphs and linear structural causal models.
fairness
    Counterfactually fair estimators and counterfactual fairness metrics.
datasets
    Bundled real data (``load_*``) and ground-truth simulators (``make_*``).
"""

__version__ = "0.1.0.dev0"

__all__ = ["causal", "datasets", "exceptions", "fairness", "utils", "__version__"]
