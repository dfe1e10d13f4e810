"""The trade-off audit: fairness, invariance and privacy of a tabular task,
section by section.

:func:`invariance_conflicts` reads off a causal graph which invariances each
feature keeps and where they conflict; :class:`SelectiveInvarianceSelector`
keeps the features that satisfy the invariances the user selects;
:func:`pareto_front`, :func:`pareto_refit` and :class:`ParetoFrontDisplay`
choose among a multi-metric search's candidates.

``audit(...)`` (also the ``skcausal-trust audit`` command) validates a task
before fitting anything, runs every registered section that applies (the
fairness grid, the causal fairness decomposition, invariance across
environments, privacy) and returns an :class:`AuditResult` with a table,
JSON, figures and a text report, written atomically with
:meth:`AuditResult.write`. A new analysis is one :class:`AuditSection`
subclass registered with :func:`register_section`.
"""

from ._audit import AuditResult, audit, check_output_folder
from ._conflicts import SelectiveInvarianceSelector, invariance_conflicts
from ._pareto import ParetoFrontDisplay, epsilon_scorer, pareto_front, pareto_refit
from ._sections import (
    SECTIONS,
    AuditContext,
    AuditSection,
    DecompositionSection,
    FairnessGridSection,
    InvarianceSection,
    ParetoSection,
    PrivacySection,
    SectionResult,
    register_section,
)
from ._task import AuditError, AuditTask, PreparedData

__all__ = [
    "AuditContext",
    "AuditError",
    "AuditResult",
    "AuditSection",
    "AuditTask",
    "DecompositionSection",
    "FairnessGridSection",
    "InvarianceSection",
    "ParetoFrontDisplay",
    "ParetoSection",
    "PreparedData",
    "PrivacySection",
    "SECTIONS",
    "SectionResult",
    "SelectiveInvarianceSelector",
    "audit",
    "check_output_folder",
    "epsilon_scorer",
    "invariance_conflicts",
    "pareto_front",
    "pareto_refit",
    "register_section",
]
