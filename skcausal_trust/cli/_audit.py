"""``skcausal-trust audit``: a thin command line over
:func:`skcausal_trust.tradeoffs.audit`."""

import argparse
import contextlib
import sys

from ..tradeoffs import AuditError, AuditTask, audit

__all__ = ["AuditError", "add_audit_arguments", "run_audit"]

DEFAULT_EPSILONS = (0.0, 0.25, 0.5, 1.0, 2.0)

#: How errors name each option of the task on the command line.
OPTION_NAMES = {
    "data": "--data", "target": "--target", "sensitive": "--sensitive",
    "graph": "--graph", "positive": "--positive", "x0": "--x0", "x1": "--x1",
    "environment": "--environment", "epsilons": "--epsilons", "cv": "--cv",
    "n_jobs": "--n-jobs", "random_state": "--random-state", "max_rows": "--max-rows",
    "confounders": "--confounders", "mediators": "--mediators",
    "privacy_epsilon": "--privacy-epsilon", "audit_runs": "--audit-runs",
    "output": "--output", "actionable": "--actionable", "increase_only": "--increase-only",
}


def _integer(option):
    def parse(text):
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option}={text!r}: expected an integer.")
    return parse


def _number(option):
    def parse(text):
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option}={text!r}: expected a number.")
    return parse


def add_audit_arguments(parser):
    parser.add_argument(
        "--data", metavar="CSV",
        help="a CSV file to audit (default: the bundled UCI Adult data, target "
             "income >50K, sensitive attribute sex, the documented default graph "
             "skcausal_trust.datasets.adult_causal_graph)",
    )
    parser.add_argument("--target", help="target column of --data (binary)")
    parser.add_argument(
        "--positive", metavar="LABEL",
        help="positive class of the target (default: the last in sorted order; "
             "'>50K' for Adult)",
    )
    parser.add_argument(
        "--sensitive",
        help="sensitive attribute column, or several separated by commas (their "
             "combinations are intersected; default for Adult: sex)",
    )
    parser.add_argument(
        "--graph", metavar="EDGES",
        help="causal graph over the features and the sensitive attribute, one "
             "'cause,effect' pair per line (default for a CSV: the sensitive "
             "attribute causes every other column)",
    )
    parser.add_argument(
        "--epsilons", default=",".join(str(e) for e in DEFAULT_EPSILONS),
        help="comma-separated grid of epsilon (log-odds units) for the "
             "counterfactually fair classifier (default: %(default)s)",
    )
    parser.add_argument(
        "--x0", metavar="LEVEL",
        help="reference level of the sensitive attribute in the causal fairness "
             "decomposition (default: the first of its two levels in sorted order; "
             "with more levels give --x0 and --x1)",
    )
    parser.add_argument(
        "--x1", metavar="LEVEL",
        help="comparison level of the sensitive attribute in the decomposition",
    )
    parser.add_argument(
        "--environment", metavar="COLUMN",
        help="environment column (site, period, group...): adds an invariance "
             "section with invariant causal prediction's selected features and "
             "anchor regression against OLS on the worst held-out environment",
    )
    parser.add_argument(
        "--privacy-epsilon", metavar="EPS", type=_number("--privacy-epsilon"),
        default=None,
        help="adds a privacy section: the differentially private causal "
             "regressor at this epsilon (delta=1e-6) beside its non-private twin, "
             "and an empirical audit's lower bound on its epsilon",
    )
    parser.add_argument(
        "--audit-runs", type=_integer("--audit-runs"), default=2000,
        help="fits per data set of the privacy audit (default: 2000)",
    )
    parser.add_argument(
        "--confounders", metavar="COLS",
        help="comma-separated confounders Z for the causal fairness "
             "decomposition (default: the graph's non-descendants of the "
             "sensitive attribute)",
    )
    parser.add_argument(
        "--mediators", metavar="COLS",
        help="comma-separated mediators W (default: the graph's descendants of "
             "the sensitive attribute)",
    )
    parser.add_argument(
        "--no-decomposition", action="store_true",
        help="skip the causal fairness decomposition (direct, indirect, "
             "spurious effects) of the outcome and of each model's predictions",
    )
    parser.add_argument(
        "--actionable", metavar="COLS",
        help="comma-separated numeric features a person can act on: adds the "
             "recourse section (default for Adult: education-num,hours-per-week)",
    )
    parser.add_argument(
        "--increase-only", metavar="COLS",
        help="actionable features that can only increase (default for Adult: "
             "education-num)",
    )
    parser.add_argument("--cv", type=_integer("--cv"), default=3,
                        help="folds (default: 3)")
    parser.add_argument(
        "--n-jobs", type=_integer("--n-jobs"), default=1,
        help="parallel fits (joblib; default 1)"
    )
    parser.add_argument(
        "--max-rows", type=_integer("--max-rows"), default=None,
        help="audit a random subsample of this many rows (default: all)",
    )
    parser.add_argument(
        "--output", metavar="DIR",
        help="write audit.csv, audit.json, tradeoff.png, decomposition.png and "
             "manifest.json there (a new or empty folder, or an earlier audit's "
             "output, which is replaced as a whole)",
    )
    parser.add_argument("--random-state", type=_integer("--random-state"), default=0)
    parser.add_argument(
        "--quiet", action="store_true", help="print only the table"
    )


def _split(value):
    return [c.strip() for c in str(value).split(",") if c.strip()]


def task_from_args(args):
    """The :class:`~skcausal_trust.tradeoffs.AuditTask` the options describe."""
    try:
        epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    except ValueError:
        raise AuditError(f"--epsilons={args.epsilons!r}: expected numbers like 0,0.5,1.")
    options = dict(
        positive=args.positive, x0=args.x0, x1=args.x1, environment=args.environment,
        epsilons=epsilons, cv=args.cv, n_jobs=args.n_jobs,
        random_state=args.random_state, max_rows=args.max_rows,
        confounders=_split(args.confounders) if args.confounders else None,
        mediators=_split(args.mediators) if args.mediators else None,
        decomposition=not args.no_decomposition,
        privacy_epsilon=args.privacy_epsilon, audit_runs=args.audit_runs,
    )
    if args.actionable is not None:
        options["actionable"] = _split(args.actionable)
    if args.increase_only is not None:
        options["increase_only"] = _split(args.increase_only)
    if args.data is None:
        return AuditTask.adult(sensitive=args.sensitive, graph=args.graph,
                               target=args.target, option_names=OPTION_NAMES, **options)
    for option in ("target", "sensitive"):
        if getattr(args, option) is None:
            raise AuditError(f"--{option} is required with --data.")
    return AuditTask.from_csv(args.data, target=args.target,
                              sensitive=_split(args.sensitive), graph=args.graph,
                              option_names=OPTION_NAMES, **options)


def run_audit(args):
    """Run the audit described by parsed command-line ``args``; return 0.

    Results go to standard output; progress (scikit-learn's ``[CV]`` lines
    included) to standard error.
    """
    task = task_from_args(args)

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    with contextlib.redirect_stdout(sys.stderr):
        result = audit(task, progress=None if args.quiet else progress,
                       output=args.output)
    print(result.report())
    return 0
