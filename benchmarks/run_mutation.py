#!/usr/bin/env python
"""Mutation testing of the core modules with mutmut: the share of planted
one-line bugs that the relevant tests catch, module by module.

Each module is mutated with mutmut (operators, comparisons, constants,
arguments flipped or dropped, one at a time) and only the tests that exercise
it run against each mutant. A mutant is *killed* when a test fails,
*survives* when every test passes; a survivor in a numerical line is a bug
the suite would not see. The project's target: at least 85% of the mutants
of the core modules killed, mutants of messages and docstrings aside: a
surviving mutant that changes only string literals or a warning's
``stacklevel`` is counted apart and left out of the score.

It is too slow for CI (minutes to hours per module on 2 cores): it runs in a
temporary copy of the repository, so the working tree is never touched, and
prints, per module, the counts, the score, and the surviving mutants' diffs
(``--show N`` of them).

Run from the repository root::

    python benchmarks/run_mutation.py --modules mechanisms     # one module
    python benchmarks/run_mutation.py                           # every module
    python benchmarks/run_mutation.py --list                    # the modules
    python benchmarks/run_mutation.py --modules private_regressor \
        --only "*_dask_statistics__mutmut_*"                     # some functions

``--only`` takes mutmut's mutant names with ``*`` wildcards (a mutant of
method ``m`` of class ``C`` in module ``pkg.mod`` is named
``pkg.mod.xǁCǁm__mutmut_<k>``, of function ``f`` ``pkg.mod.x_f__mutmut_<k>``);
the other mutants are generated, not run, and left out of the counts.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
# mutmut forks each mutant's process from one that has already run the
# tests: a thread pool it made there (dask's default scheduler) has no
# threads in the fork, and a computation on it waits forever, until
# mutmut's timeout counts the mutant as killed. Dask's synchronous
# scheduler makes no threads.
os.environ["DASK_SCHEDULER"] = "synchronous"

import argparse  # noqa: E402
import fnmatch  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: Core modules and the test files that check what each computes, chosen
#: among the files that reach the module (coverage.py's per-test contexts);
#: the estimator checks, the README's and the command line's tests are left
#: out: slow, and not about one module's numbers.
MODULES = {
    "scm": ("skcausal_trust/causal/_scm.py",
        ["tests/test_causal.py", "tests/test_causal_catalogue.py",
         "tests/test_counterfactual_fairness.py", "tests/test_scm_mutants.py",
         "tests/test_dask_fairness.py", "tests/test_fairness_base_mutants.py",
         "tests/test_fairness_base_mutants_2.py", "tests/test_path_specific.py",
         "tests/test_robust_fairness.py", "tests/test_raw_columns.py",
         "tests/test_bad_input.py", "tests/test_weights_and_intervals.py",
         "tests/test_recourse_mutants.py", "tests/test_scm_rank_deficient.py",
         "tests/test_scm_mutants_2.py"]),
    "columns": ("skcausal_trust/causal/_columns.py",
        ["tests/test_raw_columns.py", "tests/test_bad_input.py",
         "tests/test_weights_and_intervals.py", "tests/test_fairness_base_mutants.py",
         "tests/test_path_specific.py", "tests/test_classifier_mutants.py",
         "tests/test_fairness_base_mutants_2.py", "tests/test_columns_mutants.py"]),
    "fairness_base": ("skcausal_trust/fairness/_base.py",
        ["tests/test_raw_columns.py", "tests/test_counterfactual_fairness.py",
         "tests/test_bad_input.py", "tests/test_weights_and_intervals.py",
         "tests/test_fairness_base_mutants.py", "tests/test_fairness_base_mutants_2.py",
         "tests/test_fairness_base_mutants_3.py", "tests/test_column_scales.py",
         "tests/test_dask_fairness.py", "tests/test_classifier_mutants.py",
         "tests/test_path_specific.py", "tests/test_robust_fairness.py",
         "tests/test_regressor_mutants.py", "tests/test_fairness_dask_mutants_2.py",
         "tests/test_fairness_base_names.py",
         "tests/test_classifier_weight_scale.py"]),
    "classifier": ("skcausal_trust/fairness/_counterfactual.py",
        ["tests/test_counterfactual_fairness.py", "tests/test_raw_columns.py",
         "tests/test_classifier_mutants.py", "tests/test_dask_fairness.py",
         "tests/test_fairness_dask_mutants.py", "tests/test_fairness_dask_mutants_2.py",
         "tests/test_column_scales.py", "tests/test_weights_and_intervals.py",
         "tests/test_path_specific.py", "tests/test_bad_input.py",
         "tests/test_fairness_base_mutants_3.py",
         "tests/test_classifier_weight_scale.py"]),
    "fairness_dask": ("skcausal_trust/fairness/_dask.py",
        ["tests/test_dask_fairness.py", "tests/test_fairness_base_mutants_2.py",
         "tests/test_classifier_mutants.py", "tests/test_regressor_mutants.py",
         "tests/test_column_scales.py", "tests/test_fairness_dask_mutants.py",
         "tests/test_fairness_dask_mutants_2.py", "tests/test_date_target.py",
         "tests/test_fairness_base_mutants_3.py",
         "tests/test_classifier_weight_scale.py"]),
    "regressor": ("skcausal_trust/fairness/_regressor.py",
        ["tests/test_raw_columns.py", "tests/test_weights_and_intervals.py",
         "tests/test_regressor_mutants.py", "tests/test_column_scales.py",
         "tests/test_dask_fairness.py", "tests/test_fairness_dask_mutants_2.py",
         "tests/test_path_specific.py", "tests/test_fairness_base_mutants.py",
         "tests/test_fairness_base_mutants_2.py", "tests/test_fairness_base_mutants_3.py",
         "tests/test_date_target.py", "tests/test_bad_input.py",
         "tests/test_regressor_overflow.py", "tests/test_regressor_dask_attributes.py"]),
    "metrics": ("skcausal_trust/fairness/_metrics.py",
        ["tests/test_raw_columns.py", "tests/test_routing.py",
         "tests/test_metrics_mutants.py", "tests/test_dask_fairness.py",
         "tests/test_metrics_mutants_2.py", "tests/test_metrics_mutants_3.py",
         "tests/test_metrics_mutants_4.py", "tests/test_metrics_mutants_5.py",
         "tests/test_robust_fairness.py", "tests/test_weights_and_intervals.py",
         "tests/test_path_specific.py", "tests/test_counterfactual_fairness.py"]),
    "mechanisms": ("skcausal_trust/privacy/_mechanisms.py",
        ["tests/test_privacy.py", "tests/test_privacy_enforced.py"]),
    "private_regressor": ("skcausal_trust/privacy/_regressor.py",
        ["tests/test_privacy.py", "tests/test_privacy_enforced.py",
         "tests/test_privacy_periphery.py", "tests/test_privacy_accounting.py",
         "tests/test_private_regressor_mutants.py",
         "tests/test_private_regressor_mutants_2.py",
         "tests/test_private_regressor_mutants_3.py",
         "tests/test_private_regressor_mutants_4.py", "tests/test_dask_privacy.py",
         "tests/test_date_target.py", "tests/test_accounting_mutants.py",
         "tests/test_privacy_selection.py", "tests/test_privacy_audit_parametric.py"]),
    "private_statistics": ("skcausal_trust/privacy/_statistics.py",
        ["tests/test_privacy_periphery.py", "tests/test_privacy_enforced.py",
         "tests/test_private_statistics_mutants.py"]),
    "accounting": ("skcausal_trust/privacy/_accounting.py",
        ["tests/test_privacy_accounting.py", "tests/test_accounting_mutants.py"]),
    "privacy_audit": ("skcausal_trust/privacy/audit.py",
        ["tests/test_privacy_audit_parametric.py", "tests/test_privacy.py",
         "tests/test_privacy_audit_mutants.py"]),
    "conflicts": ("skcausal_trust/tradeoffs/_conflicts.py",
        ["tests/test_invariance_conflicts.py"]),
    "decomposition": ("skcausal_trust/decomposition/_decomposition.py",
        ["tests/test_decomposition.py", "tests/test_decomposition_guarantees.py",
         "tests/test_decomposition_mutants.py", "tests/test_decomposition_catalogue.py",
         "tests/test_weights_and_intervals.py", "tests/test_path_specific.py"]),
    "robust": ("skcausal_trust/fairness/_robust.py",
        ["tests/test_robust_fairness.py", "tests/test_dask_fairness.py",
         "tests/test_column_scales.py", "tests/test_robust_reference.py",
         "tests/test_classifier_weight_scale.py"]),
    "unfair_area": ("skcausal_trust/fairness/_unfair_area.py",
        ["tests/test_robust_fairness.py", "tests/test_unfair_area_certificate.py"]),
    "recourse": ("skcausal_trust/recourse/_linear.py",
        ["tests/test_recourse.py", "tests/test_recourse_mutants.py"]),
    "icp": ("skcausal_trust/invariance/_icp.py",
        ["tests/test_invariance.py", "tests/test_icp_catalogue.py",
         "tests/test_invariance_bad_input.py", "tests/test_dask_invariance.py",
         "tests/test_invariance_mutants.py", "tests/test_dask_invariance_mutants.py",
         "tests/test_date_target.py", "tests/test_weights_and_intervals.py",
         "tests/test_invariance_routing.py"]),
    "invariance_stats": ("skcausal_trust/invariance/_stats.py",
        ["tests/test_invariance.py", "tests/test_icp_catalogue.py",
         "tests/test_dask_invariance.py", "tests/test_privacy.py",
         "tests/test_invariance_mutants.py", "tests/test_compiled.py",
         "tests/test_invariance_stats_mutants.py",
         "tests/test_invariance_stats_mutants_2.py",
         "tests/test_invariance_stats_mutants_3.py",
         "tests/test_dask_invariance_mutants.py", "tests/test_weights_and_intervals.py",
         "tests/test_invariance_routing.py", "tests/test_invariance_bad_input.py",
         "tests/test_date_target.py"]),
    "anchor": ("skcausal_trust/invariance/_anchor.py",
        ["tests/test_invariance.py", "tests/test_column_scales.py",
         "tests/test_invariance_bad_input.py", "tests/test_dask_invariance.py",
         "tests/test_invariance_mutants.py", "tests/test_dask_invariance_mutants.py",
         "tests/test_date_target.py", "tests/test_weights_and_intervals.py",
         "tests/test_invariance_routing.py"]),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", nargs="+", choices=sorted(MODULES),
                        default=sorted(MODULES))
    parser.add_argument("--max-children", type=int, default=1,
                        help="mutants run in parallel (default 1: the other core "
                             "stays free)")
    parser.add_argument("--show", type=int, default=10,
                        help="surviving mutants' diffs to print per module")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary copy (its path is printed)")
    parser.add_argument("--only", nargs="+", default=(), metavar="PATTERN",
                        help="run only the mutants whose names match these patterns "
                             "(fnmatch, as mutmut run takes them)")
    parser.add_argument("--list", action="store_true", help="list the modules")
    return parser.parse_args(argv)


def _copy_repository(destination):
    # Tracked files and new ones not yet committed (not ignored): a new test
    # file listed in MODULES is run before it is committed.
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _configure(copy, module, tests):
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    # Drop an earlier [tool.mutmut] table: its lines up to the next table
    # header (a line starting with "["; its values' lists do not).
    text = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\[).*(?:\n|$))*", "\n", text)
    text += (
        "\n[tool.mutmut]\n"
        'source_paths = ["skcausal_trust"]\n'
        f"only_mutate = [{json.dumps(module)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        # One process, stop at the first failure, no doctests: a mutant is
        # killed by the first test that notices it. The tests marked slow are
        # left out (addopts is replaced): the statistical experiments take
        # seconds each, and a mutant that hangs a LocalCluster would time out
        # and count as killed; each dask test's twin on the synchronous
        # scheduler runs instead.
        'pytest_add_cli_args = ["-p", "no:xdist", "-x", "-q", "-p", "no:cacheprovider", '
        '"-o", "addopts=", "-m", "not slow"]\n'
    )
    pyproject.write_text(text)
    shutil.rmtree(copy / "mutants", ignore_errors=True)


def _results(copy):
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                         cwd=copy, capture_output=True, text=True)
    status = {}
    for line in out.stdout.splitlines():
        if ":" in line:
            name, _, state = line.strip().rpartition(":")
            status[name.strip()] = state.strip()
    return status


def run_module(name, args, workdir):
    module, tests = MODULES[name]
    tests = [t for t in tests if (ROOT / t).exists()]
    _configure(workdir, module, tests)
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children",
                          str(args.max_children), *args.only], cwd=workdir,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    status = _results(workdir)
    if args.only:
        status = {m: s for m, s in status.items()
                  if any(fnmatch.fnmatch(m, pattern) for pattern in args.only)}
    counts = {}
    for state in status.values():
        counts[state] = counts.get(state, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    decided = killed + counts.get("survived", 0)
    score = killed / decided if decided else float("nan")
    print(f"\n== {name}: {module} ({', '.join(tests)}) -- {seconds:.0f} s")
    print("   " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"   killed {killed} of {decided} decided mutants: {score:.1%}"
          + ("" if run.returncode == 0 else f"  (mutmut exit {run.returncode})"))
    survivors = [m for m, s in status.items() if s == "survived"]
    diffs = {m: subprocess.run([sys.executable, "-m", "mutmut", "show", m], cwd=workdir,
                               capture_output=True, text=True).stdout for m in survivors}
    messages = [m for m in survivors if only_messages(diffs[m])]
    numerical = [m for m in survivors if m not in messages]
    decided_code = decided - len(messages)
    code_score = killed / decided_code if decided_code else float("nan")
    print(f"   without the {len(messages)} surviving mutants of messages and warning "
          f"locations: killed {killed} of {decided_code}: {code_score:.1%}")
    for mutant in numerical[:args.show]:
        print(f"   survivor {mutant}:")
        print("\n".join("   | " + line for line in diffs[mutant].strip().splitlines()
                        if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))))
    sys.stdout.flush()
    return name, killed, decided_code, numerical


#: A Python string literal (single, double or triple quoted).
STRING = re.compile(r"[rRbBuUfF]{0,2}('''|\"\"\"|'|\")(?:\\.|(?!\1).)*\1")


def only_messages(diff):
    """A mutant that changes only string literals (messages) or a warning's
    ``stacklevel``: not a change of what the code computes."""
    lines = diff.splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]

    def code(part):
        text = "".join(STRING.sub("S", line) for line in part)
        return re.sub(r"\s+", "", re.sub(r"stacklevel=\d+,?", "", text))

    before, after = code(removed), code(added)
    # An error message (string literals, an f-string) replaced by None.
    return before == after or (after == "None" and set(before) <= set("S,()"))


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for name, (module, tests) in MODULES.items():
            print(f"{name:18s} {module}  <- {', '.join(tests)}")
        return 0
    summary = []
    for name in args.modules:
        # A fresh copy per module: mutmut keeps state in the copy.
        workdir = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-"))
        try:
            _copy_repository(workdir)
            summary.append(run_module(name, args, workdir))
        finally:
            if args.keep:
                print(f"   copy kept in {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
    print("\nmodule              killed / decided   score")
    for name, killed, decided, _ in summary:
        score = killed / decided if decided else float("nan")
        print(f"{name:18s} {killed:7d} / {decided:<7d}   {score:6.1%}")
    total_k = sum(s[1] for s in summary)
    total_d = sum(s[2] for s in summary)
    if total_d:
        print(f"{'all':18s} {total_k:7d} / {total_d:<7d}   {total_k / total_d:6.1%}  "
              "(target >= 85%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
