"""Helpers to solve cvxpy problems and map a solver's status to errors."""

import warnings

from ..exceptions import InfeasibleConstraintError, SolverError, SolverFallbackWarning

__all__ = ["solve_problem"]

#: Tight tolerances for Clarabel, the reference solver: scikit-learn's
#: sample-weight check compares fits at rtol 1e-7.
CLARABEL_TOLERANCES = {
    "tol_gap_abs": 1e-10,
    "tol_gap_rel": 1e-10,
    "tol_feas": 1e-10,
    "tol_ktratio": 1e-8,
    "max_iter": 500,
}


def solve_problem(problem, *, solver=None, what="the convex program", **options):
    """Solve ``problem`` and raise a clear error unless it is solved.

    Parameters
    ----------
    problem : cvxpy.Problem
        The problem to solve.
    solver : str or None, default=None
        A cvxpy solver name; ``None`` uses Clarabel with tight tolerances,
        then SCS as a fallback if Clarabel fails numerically.
    what : str, default="the convex program"
        Names the problem in error messages.
    **options
        Passed to :meth:`cvxpy.Problem.solve`.

    Returns
    -------
    solver_name : str
        The solver that produced the solution.

    Raises
    ------
    InfeasibleConstraintError
        If the solver proves the constraints infeasible.
    SolverError
        If every solver tried failed or stopped without an optimal solution.
    """
    import cvxpy as cp  # imported on use: about 2 s
    if solver is None:
        attempts = [("CLARABEL", {**CLARABEL_TOLERANCES, **options})]
        if "SCS" in cp.installed_solvers():
            attempts.append(("SCS", {"eps": 1e-9, "max_iters": 100_000, **options}))
    else:
        attempts = [(solver, options)]
    failures = []
    for name, opts in attempts:
        try:
            with warnings.catch_warnings():
                # An inaccurate solution is not accepted below; cvxpy's own
                # warning about it would only be noise.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate")
                problem.solve(solver=name, **opts)
        except cp.error.SolverError as exc:
            failures.append(f"{name}: {exc}")
            continue
        status = problem.status
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            raise InfeasibleConstraintError(
                f"{what} is infeasible (solver {name} status {status!r})."
            )
        if status == cp.OPTIMAL:
            if failures:
                warnings.warn(
                    f"{what}: " + "; ".join(failures) + f"; solved with {name}.",
                    SolverFallbackWarning,
                    stacklevel=3,
                )
            return name
        failures.append(f"{name}: status {status!r}")
    raise SolverError(f"{what} was not solved: " + "; ".join(failures) + ".")
