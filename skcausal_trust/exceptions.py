"""Errors and warnings raised by skcausal_trust.

Errors subclass :class:`ValueError` (bad input, infeasible constraints) or
:class:`RuntimeError` (a solver failed); warnings are classes users can filter
with :func:`warnings.filterwarnings`.
"""

__all__ = [
    "CyclicGraphError",
    "DegenerateConstraintWarning",
    "InfeasibleConstraintError",
    "ModelRejectedWarning",
    "NoCausalModelWarning",
    "NoEnvironmentsWarning",
    "NoSensitiveFeaturesWarning",
    "PositivityWarning",
    "PrivacyBudgetWarning",
    "PrivacyLeakWarning",
    "RoundedCounterfactualWarning",
    "SolverError",
    "SolverFallbackWarning",
    "UncertifiedEstimateWarning",
    "UnknownCategoryWarning",
]


class CyclicGraphError(ValueError):
    """Raised when a causal graph has a directed cycle."""


class InfeasibleConstraintError(ValueError):
    """Raised when the constraints of a convex program cannot be satisfied."""


class SolverError(RuntimeError):
    """Raised when a convex solver fails after its fallbacks."""


class NoSensitiveFeaturesWarning(UserWarning):
    """Warned when a fairness estimator is fitted without sensitive features.

    The estimator then falls back to its documented unconstrained behaviour
    (for example plain L2-regularised logistic regression) and says so.
    """


class RoundedCounterfactualWarning(UserWarning):
    """Warned when a categorical counterfactual is rounded to a level.

    Under a linear structural causal model a categorical descendant of the
    intervened node has real-valued ("soft") counterfactual indicators; turning
    them back into a level is an approximation.
    """


class DegenerateConstraintWarning(UserWarning):
    """Warned when fairness constraints leave the model no free direction.

    With ``epsilon=0`` the weights must be orthogonal to every
    counterfactual direction; when those directions span every input (many
    sensitive levels, few features) only the intercept remains and the
    fitted model is constant. The fitted attribute ``n_free_directions_``
    says how many directions the constraints leave.
    """


class ModelRejectedWarning(UserWarning):
    """Warned when invariant causal prediction rejects every subset.

    Every candidate set of predictors failed the invariance test: the model
    (linear, Gaussian, no hidden confounding of the target, the chosen
    environments) is misspecified, and no set is selected.
    """


class NoCausalModelWarning(UserWarning):
    """Warned when a graph-based selector is fitted without a causal model.

    :class:`~skcausal_trust.tradeoffs.SelectiveInvarianceSelector` then
    keeps every column (it cannot tell which invariance a column keeps) and
    says so.
    """


class NoEnvironmentsWarning(UserWarning):
    """Warned when an invariance estimator is fitted without environments.

    Nothing can be tested for invariance; the estimator falls back to its
    documented behaviour (ICP keeps every feature, anchor regression is
    ordinary least squares) and says so.
    """


class SolverFallbackWarning(UserWarning):
    """Warned when the preferred convex solver failed and a fallback solved
    the problem (the fitted ``solver_`` attribute names the one used)."""


class PositivityWarning(UserWarning):
    """Warned when the groups compared by a causal effect estimate barely
    overlap.

    Effect estimators that weight by propensities (the probability of the
    attribute's level given the confounders) need every kind of person to
    be possible in both groups. When many propensities are clipped, the
    smallest is near 0, or the effective sample size collapses, the estimate
    and its standard error rest on extrapolation; the diagnostics say how
    much.
    """


class PrivacyLeakWarning(UserWarning):
    """Warned when a differentially private estimator leaks beyond its claim.

    For example when clipping bounds, environment levels or the levels of a
    categorical predictor are taken from the data instead of being declared,
    or when the noise is drawn from a seeded (reproducible) generator: the
    stated (epsilon, delta) guarantee then does not hold, and the fitted
    estimator also says so (``epsilon_ = inf``, ``is_private_ = False``).
    """


class PrivacyBudgetWarning(UserWarning):
    """Warned when a private estimator is fitted inside a model search.

    Every fit of a cross-validation or a search is a new release that
    spends ``(epsilon, delta)`` again, and with index-based folds
    (``KFold``) adding one record changes each training set by up to 3
    records: the search's total is not ``epsilon``. Compose it with
    :class:`~skcausal_trust.privacy.PrivacyAccountant` (``charge(search)``),
    preferably with :class:`~skcausal_trust.privacy.HashKFold` folds; the
    search's scores and its choice are not covered either way.
    """


class UnknownCategoryWarning(UserWarning):
    """Warned when a raw categorical column holds a level unseen in fit.

    The estimators of this package one-hot encode raw categorical columns
    themselves; a level they did not see in fit (a rare level missing from a
    cross-validation fold, for example) is encoded as all-zero indicators, so
    it has no effect of its own on the prediction.
    """


class UncertifiedEstimateWarning(UserWarning):
    """Warned when a result is found by sampling or search instead of being
    computed exactly, because the model is not linear.

    :func:`~skcausal_trust.fairness.unfair_area` of a model whose decision
    function is not affine in the causal perturbation (a tree ensemble, a
    kernel machine, a network) is a Monte Carlo estimate: a flip found in a
    sampled point is certain, but a ball without a sampled flip may still
    hold one, so the estimate is a lower bound of the share of unfair
    samples. :func:`~skcausal_trust.recourse.causal_recourse` for such a
    model searches random directions: the action returned is valid (checked
    on the model), but its cost is an upper bound of the minimal cost.
    """
