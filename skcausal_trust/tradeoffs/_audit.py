"""``audit``: run the registered sections on a task, and the result."""

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ._sections import SECTIONS, AuditContext
from ._task import AuditError, AuditTask

__all__ = ["AuditResult", "audit", "check_output_folder"]

#: Written by :meth:`AuditResult.write`; its presence marks a folder as the
#: audit's own, which a later run may replace.
MANIFEST = "manifest.json"


class AuditResult:
    """The result of :func:`audit`.

    Attributes
    ----------
    meta : dict
        The task: data source, rows, target, sensitive attributes, graph,
        options, columns dropped, seconds.
    sections : dict
        ``{name: SectionResult}`` of the sections that ran, in order.
    skipped : dict
        ``{name: reason}`` of the sections that did not.
    """

    def __init__(self, meta, sections, skipped):
        self.meta = meta
        self.sections = sections
        self.skipped = skipped

    def to_frame(self):
        """The fairness grid: one row per candidate (accuracy, counterfactual
        unfairness and flip rate, demographic parity and equalized odds
        differences, fit seconds)."""
        return self.sections["fairness"].frame.copy()

    def to_dict(self):
        """Everything as JSON-able data (the content of ``audit.json``)."""
        out = dict(self.meta)
        out["results"] = self.sections["fairness"].data["results"]
        for name in SECTIONS:
            if name == "fairness":
                continue
            if name in self.sections:
                out[name] = self.sections[name].data
            elif name in self.skipped:
                out[name] = {"skipped": self.skipped[name]}
        return out

    def to_json(self, indent=2):
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @property
    def figures(self):
        """``{file name: matplotlib Figure}`` of every section."""
        out = {}
        for result in self.sections.values():
            out.update(result.figures)
        return out

    def report(self):
        """The text report: the grid, then each section; skipped sections
        say why."""
        parts = [self.sections["fairness"].text]
        for name, result in self.sections.items():
            if name != "fairness":
                parts.append(result.text)
        for name, reason in self.skipped.items():
            if reason != "not requested" and name == "decomposition":
                parts.append(f"{SECTIONS[name].title}: skipped ({reason}).")
        return "\n\n".join(parts)

    def write(self, directory):
        """Write ``audit.csv``, ``audit.json``, the figures and a manifest
        into ``directory``, atomically.

        Everything is written to a temporary folder beside ``directory`` and
        moved into place at the end: a failure leaves ``directory`` as it
        was, and no file of an earlier run survives beside the new ones. An
        existing ``directory`` must be empty or an earlier audit's output
        (it holds :data:`MANIFEST`).

        Returns
        -------
        paths : list of Path
            The files written.
        """
        target = check_output_folder(directory)
        staging = Path(tempfile.mkdtemp(prefix=".audit-", dir=target.parent))
        try:
            self.to_frame().to_csv(staging / "audit.csv", index=False)
            (staging / "audit.json").write_text(self.to_json())
            for name, figure in self.figures.items():
                figure.savefig(staging / name, dpi=120)
            files = sorted(p.name for p in staging.iterdir())
            manifest = {
                "written_by": "skcausal-trust audit",
                "files": {name: {"bytes": (staging / name).stat().st_size,
                                 "sha256": _sha256(staging / name)} for name in files},
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=".audit-old-", dir=target.parent))
                old.rmdir()
                os.replace(target, old)
                os.replace(staging, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return [target / name for name in files + [MANIFEST]]


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_output_folder(directory, option="output"):
    """Check, before any fitting, that the audit can write ``directory``.

    Raises
    ------
    AuditError
        ``directory`` is a file, holds files an audit did not write, or its
        parent is missing or not writable.
    """
    target = Path(directory).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise AuditError(f"{option}: {str(directory)!r} is a file, not a folder.")
    if target.is_dir():
        entries = [p.name for p in target.iterdir()]
        if entries and MANIFEST not in entries:
            raise AuditError(
                f"{option}: {str(directory)!r} holds files the audit did not write "
                f"({sorted(entries)[:5]!r}); choose an empty or new folder."
            )
    parent = target.parent
    if not parent.is_dir():
        raise AuditError(f"{option}: the folder {str(parent)!r} does not exist.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AuditError(f"{option}: cannot write in {str(parent)!r} (permission denied).")
    return target


def audit(task=None, *, progress=None, output=None, **kwargs):
    """Run the fairness trade-off audit.

    Validates the task and every section's needs before fitting anything,
    then runs the registered sections in order: the fairness grid, the
    causal fairness decomposition, invariance across environments and
    privacy (each when it applies).

    Parameters
    ----------
    task : AuditTask or None, default=None
        The task; or give :class:`AuditTask`'s fields as keyword arguments
        (``data=None`` audits the bundled Adult data).
    progress : callable, default=None
        Called with a message at each step (the command line prints them to
        standard error).
    output : str or path-like, default=None
        Also write the result there (see :meth:`AuditResult.write`); the
        folder is checked before fitting.
    **kwargs
        :class:`AuditTask` fields, when ``task`` is None.

    Returns
    -------
    result : AuditResult

    Raises
    ------
    AuditError
        Bad input, before anything is fitted.

    Examples
    --------
    >>> from skcausal_trust.datasets import make_counterfactual_classification
    >>> from skcausal_trust.tradeoffs import audit
    >>> X, y, a, scm = make_counterfactual_classification(600, random_state=0)
    >>> data = X.assign(group=a.astype(str), label=y)
    >>> graph = scm.graph_.expand({"A": ["group"]})
    >>> result = audit(data=data, target="label", sensitive="group", graph=graph,
    ...                epsilons=[0.0, 1.0], cv=2, decomposition=False)
    >>> list(result.to_frame()["model"])
    ['LogisticRegression (baseline)', 'CounterfactuallyFair(eps=0)', 'CounterfactuallyFair(eps=1)']
    """
    start = time.perf_counter()

    def say(message):
        if progress is not None:
            progress(f"[audit {time.perf_counter() - start:6.1f}s] {message}")

    if task is None:
        if kwargs.get("data") is None:
            kwargs.pop("data", None)
            task = AuditTask.adult(**kwargs)
        else:
            task = AuditTask(**kwargs)
    elif kwargs:
        raise TypeError("pass either a task or its fields, not both.")
    task.validate()
    if output is not None:
        check_output_folder(output, task.name("output"))
    sections, skipped = [], {}
    for name, cls in SECTIONS.items():
        section = cls()
        reason = section.skip_reason(task)
        if reason:
            skipped[name] = reason
            continue
        section.validate(task)
        sections.append(section)
    if task.columns_dropped:
        say(f"columns not in the graph, not used: {task.columns_dropped!r}")
    if "decomposition" in skipped and task.decomposition:
        say(f"decomposition skipped: {skipped['decomposition']}")
    prepared = task.prepare()
    groups = prepared.raw[task.sensitive].astype(str).agg(" & ".join, axis=1).value_counts()
    say(f"{task.source}: {len(prepared.raw)} rows ({prepared.rows_dropped} with missing "
        f"values dropped), {len(prepared.numeric)} numeric and "
        f"{len(prepared.categorical)} categorical features, sensitive "
        f"{', '.join(task.sensitive)} ({', '.join(f'{k}: {v}' for k, v in groups.items())}), "
        f"target {task.target!r} = {prepared.positive!r} for {prepared.y.mean():.1%}")
    context = AuditContext(prepared, say if progress is not None else None)
    results = {}
    for section in sections:
        results[section.name] = section.run(task, context)
    elapsed = time.perf_counter() - start
    say(f"done in {elapsed:.1f}s")
    meta = {
        "data": task.source,
        "n_rows": int(len(prepared.raw)),
        "rows_dropped_missing": int(prepared.rows_dropped),
        "columns_dropped": [str(c) for c in task.columns_dropped],
        "target": task.target,
        "positive_class": str(prepared.positive),
        "sensitive": task.sensitive[0] if len(task.sensitive) == 1 else list(task.sensitive),
        "graph_edges": [[str(u), str(v)] for u, v in task.graph.edges],
        "epsilons": list(task.epsilons),
        "cv_folds": task.cv,
        "options": task.options(),
        "seconds": elapsed,
    }
    result = AuditResult(meta, results, skipped)
    if output is not None:
        result.write(output)
        say(f"wrote {', '.join(sorted(p.name for p in Path(output).iterdir()))} to "
            f"{output}")
    return result
