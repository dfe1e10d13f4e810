"""The ``skcausal-trust`` command line.

``skcausal-trust audit`` (or ``python -m skcausal_trust audit``) runs the
fairness trade-off analysis: by default on the bundled UCI Adult data.
"""

import argparse
import sys

from ._audit import AuditError, add_audit_arguments, run_audit

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(
        prog="skcausal-trust",
        description="Causal, trustworthy machine learning for scikit-learn.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser(
        "audit",
        help="fit a logistic baseline and counterfactually fair classifiers in one "
             "GridSearchCV and report accuracy against fairness",
        description="Fit a plain logistic baseline and the counterfactually fair "
                    "classifier over a grid of epsilon in one GridSearchCV, and "
                    "report accuracy, counterfactual unfairness, demographic parity "
                    "and equalized odds differences, and fit time.",
    )
    add_audit_arguments(audit)
    return parser


def main(argv=None):
    """Entry point of the ``skcausal-trust`` console script.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments (``sys.argv[1:]`` by default).

    Returns
    -------
    status : int
        0 on success, 2 on bad input (the message names the option).
    """
    args = _parser().parse_args(argv)
    try:
        return run_audit(args)
    except (AuditError, ValueError) as exc:
        print(f"skcausal-trust {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
