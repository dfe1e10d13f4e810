"""The audit's sections: one self-contained analysis each, behind one small
interface, and the registry that orders them.

A section says whether it applies to a task (and why not), validates what
it alone needs before anything is fitted, runs, and returns a
:class:`SectionResult`: JSON-able data, an optional table, figures and its
part of the text report. Adding an analysis is writing one section and
registering it.
"""

import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import ModelRejectedWarning, PositivityWarning, UnknownCategoryWarning

__all__ = [
    "AuditContext",
    "AuditSection",
    "DecompositionSection",
    "FairnessGridSection",
    "InvarianceSection",
    "ParetoSection",
    "PrivacySection",
    "SectionResult",
    "SECTIONS",
    "register_section",
]


@dataclass
class SectionResult:
    """What one section found.

    Attributes
    ----------
    name : str
        The section's registry name.
    data : dict
        JSON-able results (the section's part of ``audit.json``).
    frame : DataFrame or None
        Its main table.
    figures : dict
        ``{file name: matplotlib Figure}``.
    text : str
        Its part of the printed report.
    """

    name: str
    data: dict
    frame: pd.DataFrame = None
    figures: dict = field(default_factory=dict)
    text: str = ""


@dataclass
class AuditContext:
    """What the sections share: the prepared rows, the auditor's causal
    model, the fairness grid's search, and the progress callback."""

    prepared: object
    progress: object
    scm: object = None
    search: object = None

    def say(self, message):
        if self.progress is not None:
            self.progress(message)


class AuditSection:
    """One analysis of the audit.

    Subclasses set ``name`` and ``title`` and implement :meth:`run`; they may
    override :meth:`skip_reason` (when the section does not apply to a task)
    and :meth:`validate` (checks that must pass before anything is fitted).
    """

    name = None
    title = None

    def skip_reason(self, task):
        """``None`` if the section runs for ``task``, else why it does not."""
        return None

    def validate(self, task):
        """Raise :class:`~skcausal_trust.tradeoffs.AuditError` before fitting."""

    def run(self, task, context):
        """Run the analysis; return a :class:`SectionResult`."""
        raise NotImplementedError


#: The registry: name -> section class, in the order the audit runs them.
SECTIONS = {}


def register_section(cls):
    """Add a section class to the registry (usable as a decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name.")
    SECTIONS[cls.name] = cls
    return cls


def _records(frame):
    return json.loads(frame.to_json(orient="records", double_precision=15))


@register_section
class FairnessGridSection(AuditSection):
    """A logistic baseline (without the sensitive columns) and the
    counterfactually fair classifier over a grid of epsilon, in one
    GridSearchCV from the raw columns, scored on accuracy, counterfactual
    unfairness and flip rate (under the auditor's SCM on the raw columns),
    and fairlearn's demographic parity and equalized odds differences."""

    name = "fairness"
    title = "Accuracy against fairness"

    def run(self, task, context):
        import sklearn
        from fairlearn.metrics import (
            demographic_parity_difference,
            equalized_odds_difference,
        )
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        from ..causal import LinearSCM
        from ..fairness import (
            CounterfactuallyFairClassifier,
            make_counterfactual_unfairness_scorer,
            make_group_fairness_scorer,
            make_unfair_area_scorer,
        )

        prepared = context.prepared
        sensitive = task.sensitive
        ids = sensitive[0] if len(sensitive) == 1 else list(sensitive)
        # The auditor's model: the linear SCM over the graph on the raw
        # columns, fitted on all rows, makes the twins every candidate is
        # measured on (categorical descendants' twins exact, through each
        # candidate's own encoding).
        context.scm = scm = LinearSCM(task.graph).fit(prepared.raw)
        scale = ColumnTransformer(
            [("scale", StandardScaler(), prepared.numeric)], remainder="passthrough",
            verbose_feature_names_out=False,
        ).set_output(transform="pandas")
        baseline_prep = ColumnTransformer(
            [("scale", StandardScaler(), prepared.numeric),
             ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
              prepared.categorical)],
            remainder="drop",
        )
        fair = CounterfactuallyFairClassifier(task.graph, sensitive_feature_ids=ids,
                                              max_iter=2000)
        grid = [
            {"prep": [baseline_prep], "clf": [LogisticRegression(max_iter=2000)]},
            {"clf": [fair], "clf__epsilon": list(task.epsilons)},
        ]
        scoring = {
            "accuracy": "accuracy",
            "cf_unfairness": make_counterfactual_unfairness_scorer(
                scm, sensitive_feature_ids=ids),
            "cf_flip_rate": make_counterfactual_unfairness_scorer(
                scm, kind="flip", sensitive_feature_ids=ids),
            "dp_difference": make_group_fairness_scorer(
                demographic_parity_difference, sensitive_feature_ids=ids),
            "eo_difference": make_group_fairness_scorer(
                equalized_odds_difference, sensitive_feature_ids=ids),
            "unfair_area": make_unfair_area_scorer(
                scm, UNFAIR_AREA_RADIUS, sensitive_feature_ids=ids, method="exact"),
            "nonrobust_area": make_unfair_area_scorer(
                scm, UNFAIR_AREA_RADIUS, sensitive_feature_ids=ids, twins=False,
                method="exact"),
        }
        search = GridSearchCV(
            Pipeline([("prep", scale), ("clf", fair)]), grid, scoring=scoring,
            refit=False, n_jobs=task.n_jobs, error_score="raise",
            cv=StratifiedKFold(task.cv, shuffle=True, random_state=task.random_state),
            verbose=2 if context.progress is not None else 0,
        )
        context.say(f"GridSearchCV: {1 + len(task.epsilons)} candidates x {task.cv} "
                    f"folds = {task.cv * (1 + len(task.epsilons))} fits")
        with sklearn.config_context(enable_metadata_routing=False), \
                warnings.catch_warnings():
            # A rare level absent from a training fold is all zeros at test.
            warnings.simplefilter("ignore", UnknownCategoryWarning)
            warnings.filterwarnings("ignore", message="Found unknown categories")
            search.fit(prepared.raw, prepared.y)
        context.search = search
        table = _grid_table(search)
        figure = _tradeoff_figure(table)
        text = table.drop(columns=["epsilon"]).to_string(
            index=False, float_format=lambda v: f"{v:.4f}")
        return SectionResult(self.name, {"results": _records(table)}, table,
                             {"tradeoff.png": figure}, text)


@register_section
class ParetoSection(AuditSection):
    """The candidates of the fairness grid that no other candidate beats on
    both cross-validated accuracy and counterfactual unfairness: the choices
    worth considering, with the plot of every candidate."""

    name = "pareto"
    title = "Pareto front"

    def run(self, task, context):
        import matplotlib.pyplot as plt

        from ._pareto import ParetoFrontDisplay, pareto_front

        results = pd.DataFrame(context.search.cv_results_)
        # The scorer returns minus the unfairness; the report shows it as is.
        results["counterfactual_unfairness"] = -results["mean_test_cf_unfairness"]
        objectives = {"counterfactual_unfairness": "min", "accuracy": "max"}
        front = pareto_front(results.to_dict("list"), objectives)
        table = pd.DataFrame({
            "model": [candidate_label(results.loc[i, "params"]) for i in front.index],
            "accuracy": front["accuracy"].to_numpy(),
            "cf_unfairness": front["counterfactual_unfairness"].to_numpy(),
        })
        display = ParetoFrontDisplay.from_cv_results(
            results.to_dict("list"), "counterfactual_unfairness", "accuracy",
            directions=("min", "max"))
        display.ax_.set_title("Candidates of the fairness grid and their Pareto front")
        plt.close(display.figure_)
        dominated = len(results) - len(table)
        text = "\n".join([
            f"Pareto front (accuracy against counterfactual unfairness): {len(table)} of "
            f"{len(results)} candidates; {dominated} "
            f"{'is' if dominated == 1 else 'are'} beaten on both by another",
            table.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ])
        return SectionResult(self.name, {"front": _records(table)}, table,
                             {"pareto.png": display.figure_}, text)


#: Radius of the causal perturbation ball the audit certifies, in noise
#: scales (Ehyaei et al. 2024 report 0.05).
UNFAIR_AREA_RADIUS = 0.05


@register_section
class UnfairAreaSection(AuditSection):
    """The certified unfair area of every candidate of the fairness grid
    (the share of held-out rows whose decision changes in their protected
    causal perturbation ball, Ehyaei et al. 2024), with the counterfactual
    flip rate (radius 0) and the non-robust area (no twins) beside it."""

    name = "unfair_area"
    title = "Unfair area"

    def run(self, task, context):
        res = context.search.cv_results_
        table = pd.DataFrame({
            "model": [candidate_label(p) for p in res["params"]],
            "flip_rate": -np.asarray(res["mean_test_cf_flip_rate"]),
            "unfair_area": -np.asarray(res["mean_test_unfair_area"]),
            "nonrobust_area": -np.asarray(res["mean_test_nonrobust_area"]),
            "accuracy": np.asarray(res["mean_test_accuracy"]),
        })
        text = "\n".join([
            f"Share of held-out rows whose decision changes in the causal ball of "
            f"radius {UNFAIR_AREA_RADIUS} noise scales (certified; flip_rate: radius 0, "
            "twins only; nonrobust_area: no twins)",
            table.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ])
        return SectionResult(self.name, {"radius": UNFAIR_AREA_RADIUS,
                                         "results": _records(table)}, table, {}, text)


def candidate_label(params):
    """A grid candidate's name in the reports."""
    if "clf__epsilon" in params:
        return f"CounterfactuallyFair(eps={params['clf__epsilon']:g})"
    return f"{type(params['clf']).__name__} (baseline)"


def _grid_table(search):
    res = search.cv_results_
    rows = []
    for i, params in enumerate(res["params"]):
        rows.append({
            "model": candidate_label(params),
            "epsilon": float(params["clf__epsilon"]) if "clf__epsilon" in params
            else float("nan"),
            "accuracy": res["mean_test_accuracy"][i],
            "accuracy_std": res["std_test_accuracy"][i],
            # Scorers return minus the unfairness (greater is better).
            "cf_unfairness": -res["mean_test_cf_unfairness"][i],
            "cf_flip_rate": -res["mean_test_cf_flip_rate"][i],
            "dp_difference": -res["mean_test_dp_difference"][i],
            "eo_difference": -res["mean_test_eo_difference"][i],
            "fit_seconds": res["mean_fit_time"][i],
        })
    return pd.DataFrame(rows)


def _tradeoff_figure(table):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, column, label in [
        (axes[0], "cf_unfairness", "counterfactual unfairness (mean |change of P(y=1)|)"),
        (axes[1], "dp_difference", "demographic parity difference"),
    ]:
        fair = table[table["epsilon"].notna()]
        base = table[table["epsilon"].isna()]
        ax.plot(fair[column], fair["accuracy"], "o-", label="counterfactually fair")
        ax.plot(base[column], base["accuracy"], "s", color="C3", label="baseline")
        for _, row in fair.iterrows():
            ax.annotate(f"eps={row['epsilon']:g}", (row[column], row["accuracy"]),
                        textcoords="offset points", xytext=(4, -10), fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy (cross-validated)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle("Accuracy against fairness")
    plt.close(fig)
    return fig


@register_section
class DecompositionSection(AuditSection):
    """The disparity of the outcome and of every grid candidate's
    out-of-fold predictions (every row predicted by a model that did not
    see it), split into direct, indirect and spurious effects (Plecko and
    Bareinboim 2024)."""

    name = "decomposition"
    title = "Causal fairness decomposition"

    def skip_reason(self, task):
        if not task.decomposition:
            return "not requested"
        return task.decomposition_skipped

    def validate(self, task):
        task.roles()

    def run(self, task, context):
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from threadpoolctl import threadpool_limits

        from ..decomposition import FairnessDecompositionDisplay
        from ..decomposition._decomposition import _decompose

        prepared = context.prepared
        attribute = task.sensitive[0]
        Z, W = task.roles()
        raw, y = prepared.raw, prepared.y
        rows = np.ones(len(y), dtype=bool)
        if task.x0 is not None:
            values = raw[attribute].astype(str).to_numpy()
            rows = np.isin(values, [str(task.x0), str(task.x1)])
        data = raw.loc[rows].reset_index(drop=True)
        data[attribute] = data[attribute].astype(object)
        if task.x0 is not None:
            levels = {str(v): v for v in pd.unique(data[attribute])}
            x0, x1 = levels[str(task.x0)], levels[str(task.x1)]
        else:
            x0 = x1 = None
        common = dict(n_folds=3, random_state=task.random_state, x0=x0, x1=x1)
        context.say(f"decomposition: Z={Z}, W={W} on {int(rows.sum())} rows, "
                    "out-of-fold predictions")
        folds = StratifiedKFold(task.cv, shuffle=True, random_state=task.random_state)
        # Gradient boosting's OpenMP threads oversubscribe a busy 2-core
        # machine (measured: 300 s instead of 5 s); one thread is robust.
        with threadpool_limits(limits=1, user_api="openmp"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownCategoryWarning)
            # Overlap is reported in the section (and marked in the figure).
            warnings.simplefilter("ignore", PositivityWarning)
            outcomes = [(None, "outcome")]
            for params in context.search.cv_results_["params"]:
                model = clone(context.search.estimator).set_params(**params)
                proba = cross_val_predict(model, raw, y, cv=folds, method="predict_proba",
                                          n_jobs=task.n_jobs)[:, 1]
                name = (f"CF eps={params['clf__epsilon']:g}" if "clf__epsilon" in params
                        else "baseline")
                outcomes.append((proba[rows], name))
                context.say(f"decomposition: {name} predicted")
            # The propensities P(x1 | Z), P(x1 | Z, W) do not depend on the
            # outcome: fitted once for all of them, each result equals its
            # own causal_fairness_decomposition call.
            results = _decompose(
                data.assign(__y=y[rows]), attribute, Z, W, "__y", outcomes, **common)
        frames = pd.concat([r.to_frame() for r in results], ignore_index=True)
        overlap = pd.concat(
            [r.diagnostics.assign(label=r.label) for r in results], ignore_index=True)
        section = {
            "x0": str(results[0].x0), "x1": str(results[0].x1),
            "confounders": Z, "mediators": W, "rows_used": int(rows.sum()),
            "predictions": "out-of-fold",
            "rows": _records(frames),
            "overlap": _records(overlap),
        }
        display = FairnessDecompositionDisplay.from_decompositions(results)
        display.ax_.set_title(f"Causal fairness decomposition ({attribute}: "
                              f"{section['x0']} -> {section['x1']})")
        display.figure_.tight_layout()
        import matplotlib.pyplot as plt

        plt.close(display.figure_)
        wide = frames.assign(value=frames.apply(
            lambda r: f"{r.estimate:+.4f} ± {r.ci_upper - r.estimate:.4f}", axis=1))
        table = wide.pivot(index="label", columns="measure", values="value")
        order = list(dict.fromkeys(frames["label"]))
        lines = [
            f"Causal fairness decomposition ({section['x0']} -> {section['x1']}; "
            "TV = DE - IE - SE; out-of-fold predictions; 95% intervals)",
            f"  confounders Z: {', '.join(map(str, Z)) or '(none)'}",
            f"  mediators W:   {', '.join(map(str, W)) or '(none)'}",
            table.loc[order, ["TV", "DE", "IE", "SE"]].to_string(),
        ]
        failed = overlap[~overlap["overlap_ok"]]
        if len(failed):
            worst = failed.sort_values("share_clipped_low").iloc[-1]
            lines.append(
                f"  overlap fails for {sorted(set(failed['label']), key=order.index)} "
                f"({worst['propensity']}: up to {worst['share_clipped_low']:.1%} of rows "
                f"clipped, effective sample size down to "
                f"{failed['ess_fraction'].min():.1%}): their "
                f"{', '.join(sorted(set(', '.join(failed['measures']).split(', '))))} "
                "rest on extrapolation (open markers in decomposition.png).")
        text = "\n".join(lines)
        return SectionResult(self.name, section, frames,
                             {"decomposition.png": display.figure_}, text)


@register_section
class InvarianceSection(AuditSection):
    """Invariant causal prediction's selected features and anchor regression
    against OLS on the worst held-out environment, the 0/1 target read as a
    linear probability model."""

    name = "invariance"
    title = "Invariance across environments"

    def skip_reason(self, task):
        return None if task.environment is not None else "no environment column"

    def run(self, task, context):
        from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut

        from ..invariance import AnchorRegression, InvariantCausalPrediction, worst_fold_refit

        prepared = context.prepared
        X, env, environment = prepared.encoded, prepared.environments, task.environment
        env_nodes = {environment} | {
            n for n in prepared.expanded.nodes if str(n).startswith(f"{environment}_")}
        predictors = X.drop(columns=[c for c in X.columns
                                     if c in env_nodes or c in task.sensitive])
        for s in task.sensitive:
            if s != environment:
                predictors = predictors.join(
                    pd.get_dummies(X[s], prefix=s, drop_first=True, dtype=float))
        context.say(f"invariance: {predictors.shape[1]} predictors, environments "
                    f"{environment!r} ({len(set(env))} levels)")
        y = prepared.y.astype(float)
        icp = InvariantCausalPrediction(screening="lasso", max_predictors=10,
                                        target_type="continuous")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ModelRejectedWarning)
            icp.fit(predictors, y, environments=env)
        gammas = [1.0, 2.0, 5.0, 10.0, 100.0]
        search = GridSearchCV(
            AnchorRegression(), {"gamma": gammas}, cv=LeaveOneGroupOut(),
            scoring="neg_mean_squared_error", refit=worst_fold_refit(),
            n_jobs=task.n_jobs)
        search.fit(predictors, y, groups=env, environments=env)
        res = search.cv_results_
        splits = np.column_stack([
            res[k] for k in sorted(res) if k.startswith("split") and k.endswith("_test_score")
        ])
        anchor = pd.DataFrame({
            "gamma": gammas,
            "mean_heldout_mse": -res["mean_test_score"],
            "worst_heldout_mse": -splits.min(axis=1),
        })
        chosen = float(search.best_params_["gamma"])
        ranked = sorted(zip(predictors.columns, icp.pvalues_),
                        key=lambda t: (t[1], str(t[0])))
        section = {
            "environment": environment,
            "n_environments": int(len(set(env))),
            "icp_screened": list(icp.screened_features_),
            "icp_selected": [str(c) for c in icp.get_feature_names_out()],
            "icp_model_rejected": bool(icp.model_rejected_),
            "icp_smallest_pvalues": [[str(c), float(p)] for c, p in ranked[:5]],
            "anchor": _records(anchor),
            "anchor_chosen_gamma": chosen,
        }
        lines = [f"Invariance across {environment!r} ({section['n_environments']} "
                 "environments; target read as a linear probability model)"]
        if section["icp_model_rejected"]:
            lines.append("  ICP: every subset rejected -- the linear invariant model does "
                         "not fit these environments; nothing selected.")
        else:
            selected = ", ".join(section["icp_selected"]) or "(none)"
            lines.append(f"  ICP selected (estimated causal parents, level 0.95): "
                         f"{selected}")
        lines.append("  ICP searched (lasso screening): "
                     + ", ".join(map(str, section["icp_screened"])))
        lines.append("  Anchor regression, leave-one-environment-out "
                     f"(gamma=1 is OLS; chosen gamma={chosen:g}):")
        lines.append(anchor.to_string(index=False, float_format=lambda v: f"{v:.5f}"))
        return SectionResult(self.name, section, anchor, {}, "\n".join(lines))


@register_section
class PrivacySection(AuditSection):
    """The differentially private causal regressor (the 0/1 target as a
    linear probability model) beside its non-private twin, with public
    bounds, and an empirical audit of its privacy claim."""

    name = "privacy"
    title = "Privacy"

    def skip_reason(self, task):
        return None if task.privacy_epsilon is not None else "no privacy epsilon"

    def run(self, task, context):
        from sklearn.linear_model import LinearRegression
        from sklearn.metrics import r2_score
        from sklearn.model_selection import train_test_split

        from ..privacy import DPCausalRegressor
        from ..privacy.audit import empirical_epsilon_lower_bound, release_projection

        prepared = context.prepared
        X, y, numeric = prepared.encoded, prepared.y, prepared.numeric
        epsilon, delta = float(task.privacy_epsilon), 1e-6
        features = X.drop(columns=list(task.sensitive))
        for s in task.sensitive:
            features = features.join(
                pd.get_dummies(X[s], prefix=s, drop_first=True, dtype=float))
        # Public bounds by construction: standardised numeric columns clipped
        # to [-3, 3], indicators in [0, 1] with at most one per group, target
        # 0/1 centred at 1/2.
        for c in numeric:
            features[c] = features[c].clip(-3.0, 3.0)
        indicators = [c for c in features.columns if c not in numeric]
        groups = {str(c).rsplit("_", 1)[0] for c in indicators}
        feature_bound = float(np.sqrt(9.0 * len(numeric) + len(groups)))
        target = y.astype(float) - 0.5
        X_tr, X_te, y_tr, y_te = train_test_split(
            features, target, test_size=0.25, random_state=task.random_state)
        context.say(f"privacy: DPCausalRegressor(epsilon={epsilon:g}, delta={delta:g}), "
                    f"feature_bound={feature_bound:.3g}, target_bound=0.5")
        private = DPCausalRegressor(epsilon=epsilon, delta=delta,
                                    feature_bound=feature_bound,
                                    target_bound=0.5).fit(X_tr, y_tr)
        twin = LinearRegression().fit(X_tr, y_tr)

        def accuracy(model):
            return float(np.mean((model.predict(X_te) > 0) == (y_te > 0)))

        context.say(f"privacy: auditing with {task.audit_runs} fits per data set")
        audit_model = DPCausalRegressor(epsilon=epsilon, delta=delta, feature_bound=1.0,
                                        target_bound=1.0)
        zero = (np.zeros((2, 1)), np.zeros(2))
        neighbour = (np.vstack([zero[0], [[1.0]]]), np.append(zero[1], 1.0))
        audit = empirical_epsilon_lower_bound(
            audit_model, zero, neighbour, n_runs=task.audit_runs,
            statistic=release_projection([1.0], 1.0, 1.0, 1.0))
        section = {
            "epsilon": epsilon, "delta": delta,
            "feature_bound": feature_bound, "target_bound": 0.5,
            "private_test_r2": float(r2_score(y_te, private.predict(X_te))),
            "nonprivate_test_r2": float(r2_score(y_te, twin.predict(X_te))),
            "private_test_accuracy": accuracy(private),
            "nonprivate_test_accuracy": accuracy(twin),
            "audit_epsilon_lower_bound": audit.epsilon_lower_bound,
            "audit_confidence": audit.confidence,
            "audit_runs": audit.n_runs,
            "audit_flagged": bool(audit.flagged),
            # The audit's encoding (standardised numeric columns, one-hot
            # levels) is fitted on the data, without noise: the fit's
            # guarantee covers the release given that encoding only.
            "encoding_from_data": True,
        }
        verdict = "REFUTED" if section["audit_flagged"] else "not refuted"
        text = "\n".join([
            f"Privacy: DPCausalRegressor (epsilon={epsilon:g}, delta={delta:g}; target as "
            "a linear probability model; public bounds "
            f"{feature_bound:.3g} / {section['target_bound']:g})",
            f"  test R^2       private {section['private_test_r2']:.4f}   non-private "
            f"{section['nonprivate_test_r2']:.4f}",
            f"  test accuracy  private {section['private_test_accuracy']:.4f}   "
            f"non-private {section['nonprivate_test_accuracy']:.4f}",
            f"  empirical audit ({section['audit_runs']} fits per data set): epsilon >= "
            f"{section['audit_epsilon_lower_bound']:.3f} at "
            f"{section['audit_confidence']:.0%} confidence -> claim {verdict} "
            "(an audit can refute a claim, never prove it)",
            "  note: the encoding (standardisation, category levels) was learnt from the "
            "data without noise, so the guarantee covers the release given it, not the "
            "encoding; a private fit declares public ranges and levels (see the privacy "
            "guide)",
        ])
        return SectionResult(self.name, section, None, {}, text)


@register_section
class ConflictsSection(AuditSection):
    """Which invariance each feature keeps, read off the graph with the
    target as a node (:func:`~skcausal_trust.tradeoffs.invariance_conflicts`):
    counterfactual fairness, and invariance under shift when the environment
    column is a node of the graph; the conflicts between them."""

    name = "conflicts"
    title = "Invariance conflicts"

    def skip_reason(self, task):
        if task.target_graph is None:
            return ("the graph has no node for the target: add it with its causes to "
                    "see which invariances each feature keeps")
        return None

    def run(self, task, context):
        from ._conflicts import invariance_conflicts

        graph = task.target_graph
        environments = ([task.environment] if task.environment is not None
                        and task.environment in graph else None)
        table = invariance_conflicts(graph, task.target, task.sensitive, environments)
        shown = table.reset_index()
        columns = ["feature", "parent_of_target", "counterfactually_fair"]
        if environments:
            columns.append("shift_invariant")
        summary = list(table.attrs.get("summary", []))
        text = "\n".join([
            f"Invariances each feature keeps (graph with {task.target!r}; "
            f"environments: {environments or 'none'})",
            shown[columns].to_string(index=False),
            *(summary or ["no conflict between the invariances checked"]),
        ])
        data = {"environments": environments, "summary": summary,
                "features": json.loads(shown[columns].to_json(orient="records"))}
        return SectionResult(self.name, data, shown, {}, text)


#: Denied held-out rows the recourse section solves at most (a random
#: sample of them beyond).
MAX_RECOURSE_ROWS = 2000


@register_section
class RecourseSection(AuditSection):
    """Causal recourse (Karimi, Schölkopf and Valera 2021) for the people a
    logistic model on the numeric features denies: the share with recourse
    and its cost by group (von Kügelgen et al. 2022), exact under the linear
    SCM over the graph's numeric and sensitive nodes. The model is the
    section's own (recourse is exact for a linear model on numeric
    features), fitted on 70% of the rows; the denied are from the other
    30%."""

    name = "recourse"
    title = "Recourse"

    def skip_reason(self, task):
        if not task.actionable:
            return "no actionable features (give --actionable)"
        return None

    def run(self, task, context):
        import matplotlib.pyplot as plt
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from ..causal import CausalGraph, LinearSCM
        from ..recourse import causal_recourse

        prepared = context.prepared
        numeric, sensitive = list(prepared.numeric), list(task.sensitive)
        nodes = numeric + sensitive
        graph = CausalGraph([(u, v) for u, v in task.graph.edges
                             if u in nodes and v in nodes], nodes=nodes)
        X = prepared.raw[numeric].astype(float)
        train, test = train_test_split(np.arange(len(X)), test_size=0.3,
                                       stratify=prepared.y, random_state=task.random_state)
        scm = LinearSCM(graph).fit(prepared.raw.iloc[train][nodes])
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
            X.iloc[train], prepared.y[train])
        held = X.iloc[test]
        denied = held[model.predict(held) == 0]
        if len(denied) > MAX_RECOURSE_ROWS:
            denied = denied.sample(MAX_RECOURSE_ROWS, random_state=task.random_state)
        context.say(f"recourse: {len(denied)} denied held-out rows, actionable "
                    f"{task.actionable}")
        result = causal_recourse(model, denied, scm, task.actionable,
                                 monotone={v: "increase" for v in task.increase_only},
                                 n_jobs=task.n_jobs)
        groups = prepared.raw.loc[denied.index, sensitive].astype(str).agg(", ".join,
                                                                           axis=1)
        rows = []
        for level in sorted(groups.unique()):
            costs = result.table.loc[groups == level, "cost"]
            finite = costs[np.isfinite(costs)]
            rows.append({
                "group": level, "n_denied": int(costs.size),
                "share_with_recourse": float(finite.size / costs.size),
                "median_cost": float(finite.median()) if finite.size else float("nan"),
                "mean_cost": float(finite.mean()) if finite.size else float("nan"),
            })
        table = pd.DataFrame(rows)
        means = table["mean_cost"].dropna()
        gap = float(means.max() - means.min()) if means.size >= 2 else float("nan")
        accuracy = float(model.score(held, prepared.y[test]))
        fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
        data = [result.table.loc[groups == g, "cost"].replace(np.inf, np.nan).dropna()
                for g in table["group"]]
        ax.boxplot(data, tick_labels=list(table["group"]), orientation="horizontal")
        ax.set_xlabel("cost of recourse (noise units)")
        ax.set_title("Cheapest action for each denied person, by group")
        plt.close(fig)
        text = "\n".join([
            f"Recourse for the {len(denied)} held-out people a logistic model on "
            f"{numeric} denies (accuracy {accuracy:.4f}); acting on {task.actionable}"
            + (f" ({task.increase_only} increase only)" if task.increase_only else "")
            + f"; cost in noise units of the SCM; gap in mean cost {gap:.4f}",
            table.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ])
        data_out = {"actionable": list(task.actionable), "model_features": numeric,
                    "accuracy": accuracy, "n_denied": int(len(denied)), "gap": gap,
                    "groups": _records(table)}
        return SectionResult(self.name, data_out, table, {"recourse.png": fig}, text)
