"""``skcausal-trust audit``: the fairness trade-off analysis of a tabular task."""

import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import UnknownCategoryWarning

__all__ = ["run_audit", "add_audit_arguments"]

DEFAULT_EPSILONS = (0.0, 0.25, 0.5, 1.0, 2.0)


class AuditError(ValueError):
    """Bad command-line input (an unknown column, a non-binary target...)."""


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
        "--environment", metavar="COLUMN",
        help="environment column (site, period, group...): adds an invariance "
             "section with invariant causal prediction's selected features and "
             "anchor regression against OLS on the worst held-out environment",
    )
    parser.add_argument(
        "--privacy-epsilon", metavar="EPS", type=float, default=None,
        help="adds a privacy section: the differentially private causal "
             "regressor at this epsilon (delta=1e-6) beside its non-private twin, "
             "and an empirical audit's lower bound on its epsilon",
    )
    parser.add_argument(
        "--audit-runs", type=int, default=2000,
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
    parser.add_argument("--cv", type=int, default=3, help="folds (default: 3)")
    parser.add_argument(
        "--n-jobs", type=int, default=1, help="parallel fits (joblib; default 1)"
    )
    parser.add_argument(
        "--max-rows", type=int, default=None,
        help="audit a random subsample of this many rows (default: all)",
    )
    parser.add_argument(
        "--output", metavar="DIR",
        help="write audit.csv, audit.json and tradeoff.png there",
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--quiet", action="store_true", help="print only the table"
    )


def _progress(args, message, start):
    if not args.quiet:
        print(f"[audit {time.perf_counter() - start:6.1f}s] {message}",
              file=sys.stderr, flush=True)


def _load(args):
    """Return (frame, target, sensitive, graph, positive, description)."""
    from ..causal import CausalGraph
    from ..datasets import adult_causal_graph, load_adult

    if args.data is None:
        if args.target is not None and args.target != "income":
            raise AuditError(
                f"--target={args.target!r} needs --data: the bundled Adult audit uses "
                "'income'."
            )
        bunch = load_adult()
        frame = bunch.frame
        graph = CausalGraph.from_csv(args.graph) if args.graph else adult_causal_graph()
        sensitive = _split(args.sensitive) if args.sensitive else ["sex"]
        unknown = [c for c in sensitive if c not in graph]
        if unknown:
            raise AuditError(
                f"--sensitive={args.sensitive!r}: {unknown!r} are not nodes of the "
                f"Adult graph; its nodes are {graph.nodes!r}. Other columns need "
                "--data and --graph."
            )
        return frame, "income", sensitive, graph, args.positive or ">50K", "UCI Adult (bundled)"
    path = Path(args.data)
    if not path.exists():
        raise AuditError(f"--data: no such file {str(path)!r}.")
    frame = pd.read_csv(path)
    for option in ("target", "sensitive"):
        if getattr(args, option) is None:
            raise AuditError(f"--{option} is required with --data.")
    sensitive = _split(args.sensitive)
    for option, values in (("target", [args.target]), ("sensitive", sensitive)):
        for value in values:
            if value not in frame.columns:
                raise AuditError(
                    f"--{option}={value!r} is not a column of {path.name}; its "
                    f"columns are {list(frame.columns)!r}."
                )
    if args.target in sensitive:
        raise AuditError("--target and --sensitive name the same column.")
    if args.graph:
        graph = CausalGraph.from_csv(args.graph)
    else:
        others = [c for c in frame.columns if c != args.target and c not in sensitive]
        graph = CausalGraph([(s_, c) for s_ in sensitive for c in others], nodes=sensitive)
    return frame, args.target, sensitive, graph, args.positive, str(path)


def _split(value):
    return [c.strip() for c in str(value).split(",") if c.strip()]


def _prepare(frame, target, sensitive, graph, positive, environment=None):
    """The raw inputs of the fairness grid (features and sensitive columns as
    they are, the attributes categorical), the target, and a one-hot,
    standardised copy for the invariance and privacy sections."""
    from ..causal import CausalGraph, one_hot_encode

    if target in graph:
        raise AuditError(
            f"--graph: the target {target!r} is a node; the graph is over the "
            "classifier's inputs (features and the sensitive attribute) only."
        )
    absent = [s_ for s_ in sensitive if s_ not in graph]
    if absent:
        raise AuditError(f"--graph: the sensitive attributes {absent!r} are not nodes.")
    missing = [n for n in graph.nodes if n not in frame.columns]
    if missing:
        raise AuditError(f"--graph: nodes {missing!r} are not columns of the data.")
    features = [n for n in graph.nodes if n not in sensitive]
    extra = [environment] if environment is not None and environment not in graph else []
    used = frame[features + sensitive + [target] + extra]
    n_before = len(used)
    used = used.dropna()
    dropped = n_before - len(used)
    labels = sorted(pd.unique(used[target]), key=str)
    if len(labels) != 2:
        raise AuditError(
            f"--target {target!r} has {len(labels)} classes {labels[:10]!r}; the "
            "audit needs a binary target."
        )
    if positive is None:
        positive = labels[-1]
    if str(positive) not in {str(lbl) for lbl in labels}:
        raise AuditError(f"--positive={positive!r} is not a class of {target!r}: {labels!r}.")
    for s_ in sensitive:
        levels = pd.unique(used[s_])
        if len(levels) < 2:
            raise AuditError(
                f"--sensitive {s_!r} has a single level {levels[0]!r} in the rows "
                "audited; counterfactual fairness compares levels."
            )
    y = (used[target].astype(str) == str(positive)).astype(int).to_numpy()
    raw = used[features + sensitive].reset_index(drop=True)
    for s_ in sensitive:
        # A sensitive attribute is categorical whatever its dtype.
        raw[s_] = pd.Categorical(raw[s_])
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(raw[c])]
    categorical = [c for c in features if c not in numeric]
    encoded, expanded = one_hot_encode(raw, graph, exclude=sensitive)
    encoded = encoded.loc[:, [c for c in encoded.columns
                              if encoded[c].nunique() > 1 or c in sensitive]]
    if [n for n in expanded.nodes if n not in encoded.columns]:
        keep = [n for n in expanded.nodes if n in encoded.columns]
        expanded = CausalGraph(
            [(u, v) for u, v in expanded.edges if u in keep and v in keep], nodes=keep
        )
    # Standardise numeric columns once (unsupervised; no label information).
    for c in numeric:
        std = encoded[c].std()
        encoded[c] = (encoded[c] - encoded[c].mean()) / (std if std > 0 else 1.0)
    env = None if environment is None else used[environment].astype(str).to_numpy()
    return raw, encoded, y, expanded, dropped, positive, env, numeric, categorical


def _invariance_section(X, y, sensitive, environment, env, graph, args, start):
    """ICP's selected features and anchor regression against OLS, with the
    0/1 target read as a linear probability model."""
    from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut

    from ..invariance import (
        AnchorRegression,
        InvariantCausalPrediction,
        worst_fold_refit,
    )

    env_nodes = {environment} | {
        n for n in graph.nodes if str(n).startswith(f"{environment}_")
    }
    predictors = X.drop(columns=[c for c in X.columns if c in env_nodes or c in sensitive])
    for s_ in sensitive:
        if s_ != environment:
            predictors = predictors.join(
                pd.get_dummies(X[s_], prefix=s_, drop_first=True, dtype=float))
    _progress(args, f"invariance: {predictors.shape[1]} predictors, environments "
                    f"{environment!r} ({len(set(env))} levels)", start)
    icp = InvariantCausalPrediction(
        screening="lasso", max_predictors=10, target_type="continuous"
    )
    import warnings

    from ..exceptions import ModelRejectedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelRejectedWarning)
        icp.fit(predictors, y.astype(float), environments=env)
    gammas = [1.0, 2.0, 5.0, 10.0, 100.0]
    search = GridSearchCV(
        AnchorRegression(), {"gamma": gammas}, cv=LeaveOneGroupOut(),
        scoring="neg_mean_squared_error", refit=worst_fold_refit(),
        n_jobs=args.n_jobs,
    )
    search.fit(predictors, y.astype(float), groups=env, environments=env)
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
    ranked = sorted(
        zip(predictors.columns, icp.pvalues_), key=lambda t: (t[1], str(t[0]))
    )
    return {
        "environment": environment,
        "n_environments": int(len(set(env))),
        "icp_screened": list(icp.screened_features_),
        "icp_selected": [str(c) for c in icp.get_feature_names_out()],
        "icp_model_rejected": bool(icp.model_rejected_),
        "icp_smallest_pvalues": [[str(c), float(p)] for c, p in ranked[:5]],
        "anchor": json.loads(anchor.to_json(orient="records", double_precision=15)),
        "anchor_chosen_gamma": chosen,
    }, anchor


def _privacy_section(X, y, sensitive, numeric, env, args, start):
    """DPCausalRegressor (the 0/1 target as a linear probability model) beside
    its non-private twin, with public bounds, and an empirical audit."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split

    from ..privacy import DPCausalRegressor
    from ..privacy.audit import empirical_epsilon_lower_bound, release_projection

    epsilon, delta = float(args.privacy_epsilon), 1e-6
    features = X.drop(columns=list(sensitive))
    for s_ in sensitive:
        features = features.join(
            pd.get_dummies(X[s_], prefix=s_, drop_first=True, dtype=float))
    # Public bounds by construction: standardised numeric columns clipped to
    # [-3, 3], indicators in [0, 1] with at most one per group, target 0/1
    # centred at 1/2.
    for c in numeric:
        features[c] = features[c].clip(-3.0, 3.0)
    indicators = [c for c in features.columns if c not in numeric]
    groups = {str(c).rsplit("_", 1)[0] for c in indicators}
    feature_bound = float(np.sqrt(9.0 * len(numeric) + len(groups)))
    target = y.astype(float) - 0.5
    X_tr, X_te, y_tr, y_te = train_test_split(
        features, target, test_size=0.25, random_state=args.random_state)
    _progress(args, f"privacy: DPCausalRegressor(epsilon={epsilon:g}, delta={delta:g}), "
                    f"feature_bound={feature_bound:.3g}, target_bound=0.5", start)
    private = DPCausalRegressor(epsilon=epsilon, delta=delta, feature_bound=feature_bound,
                                target_bound=0.5).fit(X_tr, y_tr)
    twin = LinearRegression().fit(X_tr, y_tr)
    accuracy = lambda m: float(np.mean((m.predict(X_te) > 0) == (y_te > 0)))  # noqa: E731
    _progress(args, f"privacy: auditing with {args.audit_runs} fits per data set", start)
    audit_model = DPCausalRegressor(epsilon=epsilon, delta=delta, feature_bound=1.0,
                                    target_bound=1.0)
    zero = (np.zeros((2, 1)), np.zeros(2))
    neighbour = (np.vstack([zero[0], [[1.0]]]), np.append(zero[1], 1.0))
    audit = empirical_epsilon_lower_bound(
        audit_model, zero, neighbour, n_runs=args.audit_runs,
        statistic=release_projection([1.0], 1.0, 1.0, 1.0))
    return {
        "epsilon": epsilon,
        "delta": delta,
        "feature_bound": feature_bound,
        "target_bound": 0.5,
        "private_test_r2": float(r2_score(y_te, private.predict(X_te))),
        "nonprivate_test_r2": float(r2_score(y_te, twin.predict(X_te))),
        "private_test_accuracy": accuracy(private),
        "nonprivate_test_accuracy": accuracy(twin),
        "audit_epsilon_lower_bound": audit.epsilon_lower_bound,
        "audit_confidence": audit.confidence,
        "audit_runs": audit.n_runs,
        "audit_flagged": bool(audit.flagged),
    }


def _print_privacy(section):
    print()
    print(f"Privacy: DPCausalRegressor (epsilon={section['epsilon']:g}, "
          f"delta={section['delta']:g}; target as a linear probability model; public "
          f"bounds {section['feature_bound']:.3g} / {section['target_bound']:g})")
    print(f"  test R^2       private {section['private_test_r2']:.4f}   non-private "
          f"{section['nonprivate_test_r2']:.4f}")
    print(f"  test accuracy  private {section['private_test_accuracy']:.4f}   "
          f"non-private {section['nonprivate_test_accuracy']:.4f}")
    verdict = "REFUTED" if section["audit_flagged"] else "not refuted"
    print(f"  empirical audit ({section['audit_runs']} fits per data set): epsilon >= "
          f"{section['audit_epsilon_lower_bound']:.3f} at "
          f"{section['audit_confidence']:.0%} confidence -> claim {verdict} "
          "(an audit can refute a claim, never prove it)")


def _roles(graph, sensitive, raw_columns, args):
    def parse(value):
        return [c.strip() for c in value.split(",") if c.strip()]

    descendants = set(graph.descendants(sensitive))
    Z = parse(args.confounders) if args.confounders else [
        c for c in raw_columns if c != sensitive and c not in descendants]
    W = parse(args.mediators) if args.mediators else [
        c for c in raw_columns if c in descendants]
    unknown = [c for c in Z + W if c not in raw_columns]
    if unknown:
        raise AuditError(
            f"--confounders/--mediators name {unknown!r}, which are not features "
            f"of the audit; they are {list(raw_columns)!r}."
        )
    return Z, W


def _decomposition_section(y, raw, sensitive, graph, search, args, start):
    """Decompose the outcome and each candidate's held-out predictions."""
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    from ..fairness import causal_fairness_decomposition

    Z, W = _roles(graph, sensitive, list(raw.columns), args)
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=0.25, stratify=y, random_state=args.random_state)
    test_raw = raw.iloc[idx_test].assign(**{sensitive: raw[sensitive].iloc[idx_test]
                                            .astype(object).to_numpy()})
    _progress(args, f"decomposition: Z={Z}, W={W} on {len(idx_test)} held-out rows",
              start)
    common = dict(n_folds=3, random_state=args.random_state)
    results = [causal_fairness_decomposition(
        test_raw.assign(__y=y[idx_test]), sensitive, Z, W, "__y", label="outcome",
        **common)]
    for params in search.cv_results_["params"]:
        model = clone(search.estimator).set_params(**params)
        model.fit(raw.iloc[idx_train], y[idx_train])
        pred = model.predict_proba(raw.iloc[idx_test])[:, 1]
        name = (f"CF eps={params['clf__epsilon']:g}" if "clf__epsilon" in params
                else "baseline")
        results.append(causal_fairness_decomposition(
            test_raw, sensitive, Z, W, y_pred=pred, label=name, **common))
        _progress(args, f"decomposition: {name} done", start)
    frames = pd.concat([r.to_frame() for r in results], ignore_index=True)
    section = {
        "x0": str(results[0].x0), "x1": str(results[0].x1),
        "confounders": Z, "mediators": W,
        "rows": json.loads(frames.to_json(orient="records", double_precision=15)),
    }
    return section, {"results": results, "frame": frames}


def _print_decomposition(section, frames):
    print()
    print(f"Causal fairness decomposition ({section['x0']} -> {section['x1']}; "
          "TV = DE - IE - SE; held-out rows; 95% intervals)")
    print(f"  confounders Z: {', '.join(section['confounders']) or '(none)'}")
    print(f"  mediators W:   {', '.join(section['mediators']) or '(none)'}")
    wide = frames["frame"].assign(
        value=lambda f: f.apply(lambda r: f"{r.estimate:+.4f} ± {r.ci_upper - r.estimate:.4f}",
                                axis=1))
    table = wide.pivot(index="label", columns="measure", values="value")
    order = list(dict.fromkeys(frames["frame"]["label"]))
    print(table.loc[order, ["TV", "DE", "IE", "SE"]].to_string())


def _print_invariance(section, anchor):
    print()
    print(f"Invariance across {section['environment']!r} "
          f"({section['n_environments']} environments; target read as a linear "
          "probability model)")
    if section["icp_model_rejected"]:
        print("  ICP: every subset rejected -- the linear invariant model does not "
              "fit these environments; nothing selected.")
    else:
        selected = ", ".join(section["icp_selected"]) or "(none)"
        print(f"  ICP selected (estimated causal parents, level 0.95): {selected}")
    print("  ICP searched (lasso screening): " + ", ".join(section["icp_screened"]))
    print("  Anchor regression, leave-one-environment-out "
          f"(gamma=1 is OLS; chosen gamma={section['anchor_chosen_gamma']:g}):")
    print(anchor.to_string(index=False, float_format=lambda v: f"{v:.5f}"))


def _build_search(numeric, categorical, graph, sensitive, epsilons, cv, n_jobs, scm,
                  random_state):
    """One GridSearchCV over the baseline and the counterfactually fair
    classifier, both from the raw columns: the fair model takes the graph on
    raw columns and encodes the categorical ones itself."""
    from fairlearn.metrics import (
        demographic_parity_difference,
        equalized_odds_difference,
    )
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from ..fairness import (
        CounterfactuallyFairClassifier,
        make_counterfactual_unfairness_scorer,
        make_group_fairness_scorer,
    )

    ids = sensitive[0] if len(sensitive) == 1 else list(sensitive)
    # Scale the numeric columns; everything else (categories, the sensitive
    # columns) passes through raw.
    scale = ColumnTransformer(
        [("scale", StandardScaler(), numeric)], remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    # The baseline does not see the sensitive columns.
    baseline_prep = ColumnTransformer(
        [("scale", StandardScaler(), numeric),
         ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
          categorical)],
        remainder="drop",
    )
    fair = CounterfactuallyFairClassifier(graph, sensitive_feature_ids=ids, max_iter=2000)
    pipe = Pipeline([("prep", scale), ("clf", fair)])
    grid = [
        {"prep": [baseline_prep], "clf": [LogisticRegression(max_iter=2000)]},
        {"clf": [fair], "clf__epsilon": list(epsilons)},
    ]
    scoring = {
        "accuracy": "accuracy",
        "cf_unfairness": make_counterfactual_unfairness_scorer(
            scm, sensitive_feature_ids=ids
        ),
        "cf_flip_rate": make_counterfactual_unfairness_scorer(
            scm, kind="flip", sensitive_feature_ids=ids
        ),
        "dp_difference": make_group_fairness_scorer(
            demographic_parity_difference, sensitive_feature_ids=ids
        ),
        "eo_difference": make_group_fairness_scorer(
            equalized_odds_difference, sensitive_feature_ids=ids
        ),
    }
    return GridSearchCV(
        pipe, grid, scoring=scoring, refit=False, n_jobs=n_jobs, error_score="raise",
        cv=StratifiedKFold(cv, shuffle=True, random_state=random_state), verbose=0,
    )


def _table(search):
    res = search.cv_results_
    rows = []
    for i, params in enumerate(res["params"]):
        clf = params["clf"]
        if "clf__epsilon" in params:
            model = f"CounterfactuallyFair(eps={params['clf__epsilon']:g})"
            epsilon = float(params["clf__epsilon"])
        else:
            model = f"{type(clf).__name__} (baseline)"
            epsilon = float("nan")
        rows.append({
            "model": model,
            "epsilon": epsilon,
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


def _plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
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
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_audit(args):
    """Run the audit described by parsed command-line ``args``; return 0."""
    import sklearn

    from ..causal import LinearSCM

    start = time.perf_counter()
    try:
        epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    except ValueError:
        raise AuditError(f"--epsilons={args.epsilons!r}: expected numbers like 0,0.5,1.")
    if not epsilons or min(epsilons) < 0:
        raise AuditError(f"--epsilons={args.epsilons!r}: give one or more values >= 0.")
    if args.cv < 2:
        raise AuditError(f"--cv={args.cv}: need at least 2 folds.")
    if args.privacy_epsilon is not None and not args.privacy_epsilon > 0:
        raise AuditError(f"--privacy-epsilon={args.privacy_epsilon}: must be > 0.")
    if args.audit_runs < 10:
        raise AuditError(f"--audit-runs={args.audit_runs}: need at least 10.")
    _progress(args, "loading data", start)
    frame, target, sensitive, graph, positive, source = _load(args)
    if args.max_rows is not None and args.max_rows < len(frame):
        frame = frame.sample(args.max_rows, random_state=args.random_state)
    if args.environment is not None and args.environment not in frame.columns:
        raise AuditError(
            f"--environment={args.environment!r} is not a column of the data; its "
            f"columns are {list(frame.columns)!r}."
        )
    if args.environment == target or args.environment in sensitive:
        raise AuditError("--environment must differ from --target and --sensitive.")
    raw, X, y, expanded, dropped, positive, env, numeric, categorical = _prepare(
        frame, target, sensitive, graph, positive, args.environment)
    # The decomposition compares two groups of one attribute: say so before
    # fitting anything.
    decomposition_skipped = None
    if not args.no_decomposition:
        levels = pd.unique(raw[sensitive[0]])
        if len(sensitive) > 1 or len(levels) != 2:
            decomposition_skipped = (
                "the causal fairness decomposition compares two groups of one "
                f"attribute; the audit has {len(sensitive)} attribute(s) "
                f"{sensitive!r} with {len(levels)} level(s) in {sensitive[0]!r}"
            )
    groups = raw[sensitive].astype(str).agg(" & ".join, axis=1).value_counts()
    _progress(
        args,
        f"{source}: {len(raw)} rows ({dropped} with missing values dropped), "
        f"{len(numeric)} numeric and {len(categorical)} categorical features, "
        f"sensitive {', '.join(sensitive)} "
        f"({', '.join(f'{k}: {v}' for k, v in groups.items())}), "
        f"target {target!r} = {positive!r} for {y.mean():.1%}",
        start,
    )
    if decomposition_skipped:
        _progress(args, f"decomposition skipped: {decomposition_skipped}", start)
    elif not args.no_decomposition:
        _roles(graph, sensitive[0], list(raw.columns), args)  # fail before fitting
    # The auditor's model: the linear SCM over the graph on the raw columns,
    # fitted on all rows, makes the counterfactual twins every candidate is
    # measured on (categorical descendants' twins exact, through each
    # candidate's own encoding).
    scm = LinearSCM(graph).fit(raw)
    search = _build_search(numeric, categorical, graph, sensitive, epsilons, args.cv,
                           args.n_jobs, scm, args.random_state)
    n_fits = args.cv * (1 + len(epsilons))
    _progress(args, f"GridSearchCV: {1 + len(epsilons)} candidates x {args.cv} folds "
                    f"= {n_fits} fits", start)
    with sklearn.config_context(enable_metadata_routing=False), \
            warnings.catch_warnings():
        # A rare level absent from a training fold is all zeros at test.
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        warnings.filterwarnings("ignore", message="Found unknown categories")
        if not args.quiet:
            search.set_params(verbose=2)
        # Progress (scikit-learn's [CV] lines included) goes to stderr, results
        # to stdout.
        with contextlib.redirect_stdout(sys.stderr):
            search.fit(raw, y)
    table = _table(search)
    invariance = None
    if args.environment is not None:
        invariance, anchor = _invariance_section(
            X, y, sensitive, args.environment, env, expanded, args, start)
    decomposition = None
    if not args.no_decomposition and not decomposition_skipped:
        from threadpoolctl import threadpool_limits

        # Gradient boosting's OpenMP threads oversubscribe a busy 2-core
        # machine (measured: 300 s instead of 5 s); one thread is robust.
        with threadpool_limits(limits=1, user_api="openmp"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownCategoryWarning)
            decomposition, decomposition_frames = _decomposition_section(
                y, raw, sensitive[0], graph, search, args, start)
    privacy = None
    if args.privacy_epsilon is not None:
        privacy = _privacy_section(X, y, sensitive, numeric, env, args, start)
    elapsed = time.perf_counter() - start
    _progress(args, f"done in {elapsed:.1f}s", start)
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(table.drop(columns=["epsilon"]).to_string(
            index=False, float_format=lambda v: f"{v:.4f}"))
    if decomposition is not None:
        _print_decomposition(decomposition, decomposition_frames)
    elif decomposition_skipped:
        print()
        print(f"Causal fairness decomposition: skipped ({decomposition_skipped}).")
    if invariance is not None:
        _print_invariance(invariance, anchor)
    if privacy is not None:
        _print_privacy(privacy)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "audit.csv", index=False)
        meta = {
            "data": source,
            "n_rows": int(len(X)),
            "rows_dropped_missing": int(dropped),
            "target": target,
            "positive_class": str(positive),
            "sensitive": sensitive[0] if len(sensitive) == 1 else sensitive,
            "graph_edges": [[str(u), str(v)] for u, v in graph.edges],
            "epsilons": epsilons,
            "cv_folds": args.cv,
            "seconds": elapsed,
            "results": json.loads(table.to_json(orient="records", double_precision=15)),
            "invariance": invariance,
            "privacy": privacy,
            "decomposition": decomposition if decomposition is not None else (
                {"skipped": decomposition_skipped} if decomposition_skipped else None),
        }
        (out / "audit.json").write_text(json.dumps(meta, indent=2))
        _plot(table, out / "tradeoff.png")
        if decomposition is not None:
            from ..fairness import FairnessDecompositionDisplay
            import matplotlib.pyplot as plt

            display = FairnessDecompositionDisplay.from_decompositions(
                decomposition_frames["results"])
            display.ax_.set_title(f"Causal fairness decomposition ({sensitive[0]}: "
                                  f"{decomposition['x0']} -> {decomposition['x1']})")
            display.figure_.tight_layout()
            display.figure_.savefig(out / "decomposition.png", dpi=120)
            plt.close(display.figure_)
        _progress(args, f"wrote {out / 'audit.csv'}, audit.json, tradeoff.png", start)
    return 0

