"""Causal recourse for linear classifiers under a linear SCM: valid under the
SCM, no cheaper action on a fine grid, the fast path equal to cvxpy, and the
constraints (immutable, monotone, bounds) respected."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skcausal_trust.causal import LinearSCM
from skcausal_trust.exceptions import UncertifiedEstimateWarning
from skcausal_trust.recourse import causal_recourse
from skcausal_trust.recourse._linear import solve_action, solve_action_cvxpy

EDGES = [("sex", "education"), ("sex", "income"), ("education", "income"),
         ("income", "savings"), ("age", "savings")]
COEFFICIENTS = {"education": {"sex": 0.5}, "income": {"sex": 1.0, "education": 2.0},
                "savings": {"income": 0.5, "age": 0.3}}


def recourse_setting():
    """The SCM of COEFFICIENTS, 2,000 of its rows, a logistic model and 40
    rows it denies."""
    scm = LinearSCM.from_coefficients(EDGES, COEFFICIENTS,
                                      noise_scales={"income": 0.5, "savings": 2.0})
    X = scm.sample(2000, random_state=0)[["sex", "age", "education", "income", "savings"]]
    clf = LogisticRegression().fit(X, (X["savings"] + 0.5 * X["income"] > 1.0).astype(int))
    denied = X[clf.predict(X) == 0].head(40)
    return scm, X, clf, denied


@pytest.fixture(scope="module")
def setting():
    return recourse_setting()


def test_every_action_found_is_valid_under_the_scm(setting):
    scm, _, clf, denied = setting
    result = causal_recourse(clf, denied, scm, ["education", "income", "savings"])
    assert (result.table["status"] == "found").all()
    assert (clf.predict(result.counterfactuals) == 1).all()
    for (label, row), action in zip(denied.iterrows(), result.interventions):
        twin = scm.counterfactual(denied.loc[[label]], {v: [x] for v, x in action.items()})
        np.testing.assert_allclose(twin[denied.columns].to_numpy()[0],
                                   result.counterfactuals.loc[label].to_numpy(), atol=1e-9)
    # Immutable features never move; the cost is in noise units.
    np.testing.assert_array_equal(result.counterfactuals["sex"], denied["sex"])
    np.testing.assert_array_equal(result.counterfactuals["age"], denied["age"])


def test_no_cheaper_action_on_a_fine_grid(setting):
    """Brute force over every set of the two actionable features and a grid
    of 0.01 noise units (0.1 for the pair), each action applied through the
    SCM: no valid grid action is cheaper than the one found, and the best
    grid action is within a few grid steps of it."""
    scm, _, clf, denied = setting
    scales = {"education": 1.0, "income": 0.5}
    rows = denied.head(6)
    result = causal_recourse(clf, rows, scm, ["education", "income"])
    single = np.arange(-6.0, 6.0001, 0.01)
    pair = np.arange(-6.0, 6.0001, 0.1)
    for label, found in result.table["cost"].items():
        row = rows.loc[[label]]
        best = np.inf
        for subset in [("education",), ("income",), ("education", "income")]:
            units = [single] if len(subset) == 1 else [g.ravel() for g in
                                                       np.meshgrid(pair, pair)]
            n = units[0].size
            repeated = pd.concat([row] * n, ignore_index=True)
            action = {v: row[v].iloc[0] + u * scales[v] for v, u in zip(subset, units)}
            twins = scm.counterfactual(repeated, action)[rows.columns]
            valid = clf.decision_function(twins) >= 1e-6
            cost = np.sqrt(sum(u**2 for u in units))
            if valid.any():
                best = min(best, cost[valid].min())
        assert best >= found - 1e-9
        assert best <= found + 0.15


def test_the_fast_path_equals_cvxpy():
    rng = np.random.default_rng(3)
    for _ in range(30):
        k = int(rng.integers(1, 5))
        a = rng.normal(size=k)
        costs = rng.uniform(0.5, 2.0, size=k)
        low = np.where(rng.uniform(size=k) < 0.3, 0.0, -rng.uniform(0.5, 5.0, size=k))
        high = np.where(rng.uniform(size=k) < 0.3, np.inf, rng.uniform(0.5, 5.0, size=k))
        r = float(rng.uniform(0.1, 3.0))
        for cost in ("l1", "l2"):
            fast, value = solve_action(a, r, costs, low, high, cost)
            ref, ref_value = solve_action_cvxpy(a, r, costs, low, high, cost)
            if ref is None:
                assert fast is None
                continue
            assert fast is not None
            assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-7)
            if cost == "l2":  # one minimiser: cvxpy's is the fast path's
                assert ref.dtype == np.float64 and ref.shape == (k,)
                np.testing.assert_allclose(ref, fast, atol=1e-4)
            assert a @ fast >= r * (1 - 1e-9)
            assert (fast >= low - 1e-12).all() and (fast <= high + 1e-12).all()


def test_constraints_and_statuses(setting):
    scm, X, clf, denied = setting
    rows = denied.head(5)
    up_only = causal_recourse(clf, rows, scm, ["education", "income"],
                              monotone={"education": "increase", "income": "increase"},
                              cost="l1")
    moved = up_only.counterfactuals[["education", "income"]] - rows[["education", "income"]]
    assert (moved.to_numpy() >= -1e-12).all()
    # Bounds so tight that nothing is reachable: a status, not an exception.
    # Education only helps upwards; at most the rows' smallest value: the
    # other rows are outside the bounds (not acted on), the smallest one can
    # only go down.
    tight = {"education": (-10.0, rows["education"].min())}
    stuck = causal_recourse(clf, rows, scm, ["education"], bounds=tight)
    assert (stuck.table["status"] == "infeasible").all()
    assert np.isinf(stuck.table["cost"]).all() and stuck.interventions == [{}] * 5
    # Rows that already get the desired class.
    approved = X[clf.predict(X) == 1].head(3)
    already = causal_recourse(clf, approved, scm, ["education"])
    assert (already.table["status"] == "already").all()
    # Towards the other class.
    down = causal_recourse(clf, approved, scm, ["education", "income"], desired=0)
    assert (clf.predict(down.counterfactuals) == 0).all()


def test_an_affine_pipeline_is_a_linear_model(setting):
    scm, X, _, denied = setting
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        X, (X["savings"] > 1.0).astype(int))
    rows = X[pipe.predict(X) == 0].head(5)
    result = causal_recourse(pipe, rows, scm, ["education", "income"])
    assert (pipe.predict(result.counterfactuals) == 1).all()
    rbf = SVC().fit(X, (X["savings"] > 1.0).astype(int))
    with pytest.raises(ValueError, match="not affine"):
        causal_recourse(rbf, rows, scm, ["education"], method="exact")


@pytest.mark.parametrize("kwargs,match", [
    (dict(actionable=[]), "actionable is empty"),
    (dict(actionable=["zip"]), r"\['zip'\], which are not columns of X"),
    (dict(desired="yes"), "not a class of the model"),
    (dict(cost="linf"), "cost must be"),
    (dict(monotone={"education": "up"}), r"monotone\['education'\]"),
    (dict(bounds={"education": (2, 1)}), r"bounds\['education'\]"),
    (dict(scales={"education": 0.0}), "give a positive scale"),
    (dict(max_actions=0), "max_actions"),
])
def test_bad_input_is_named(setting, kwargs, match):
    scm, _, clf, denied = setting
    args = dict(actionable=["education"])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        causal_recourse(clf, denied.head(2), scm, args.pop("actionable"), **args)


def test_bad_data_is_named(setting):
    scm, _, clf, denied = setting
    with pytest.raises(ValueError, match="NaN"):
        causal_recourse(clf, denied.head(2).assign(age=np.nan), scm, ["education"])
    with pytest.raises(ValueError, match="not nodes of scm"):
        causal_recourse(clf, denied.head(2).rename(columns={"age": "years"}), scm,
                        ["education"])
    with pytest.raises(ValueError, match="fitted LinearSCM"):
        causal_recourse(clf, denied.head(2), LinearSCM(EDGES), ["education"])
    with pytest.raises(ValueError, match="DataFrame"):
        causal_recourse(clf, denied.head(2).to_numpy(), scm, ["education"])
    assert isinstance(denied, pd.DataFrame)


def _binary_sex_data(n=3000, seed=1):
    """Data of the SCM of COEFFICIENTS with a binary sex, generated here."""
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, n).astype(float)
    age = rng.normal(size=n)
    education = 0.5 * sex + rng.normal(size=n)
    income = sex + 2.0 * education + 0.5 * rng.normal(size=n)
    savings = 0.5 * income + 0.3 * age + 2.0 * rng.normal(size=n)
    return pd.DataFrame({"sex": sex, "age": age, "education": education,
                         "income": income, "savings": savings})


def scaled_gains(w, scale):
    """By hand, for the SCM of COEFFICIENTS and a linear score of weights
    ``w``: for each set S of the features of ``scale``, the score's gain per
    unit of cost (noise units) of acting on each v in S, the intervened
    nodes held fixed (an effect through another intervened node is cut)."""
    unit = {"education": {"education": 1.0, "income": 2.0, "savings": 1.0},
            "income": {"income": 1.0, "savings": 0.5}, "savings": {"savings": 1.0}}
    out = {}
    for subset in itertools.chain.from_iterable(
            itertools.combinations(scale, k) for k in range(1, len(scale) + 1)):
        gains = []
        for v in subset:
            effect = {c: e for c, e in unit[v].items() if c == v or c not in subset}
            if v == "education" and "income" in subset:
                effect = {"education": 1.0}
            gains.append(sum(w[c] * e for c, e in effect.items()) * scale[v])
        out[subset] = np.array(gains)
    return out


def test_recourse_disparity_against_closed_forms():
    """L2 cost, no bounds: the cheapest set S* maximises the gain per unit
    of cost, g* = max_S ||a_S * scale_S||, the same for every row, so a
    denied person's cost is (margin - f(x)) / g*; their twin (sex switched,
    descendants moved by the total effects 0.5, 2 and 1, computed here by
    hand) differs by (f(twin) - f(x)) / g*."""
    from skcausal_trust.recourse import recourse_disparity

    scm = LinearSCM.from_coefficients(EDGES, COEFFICIENTS,
                                      noise_scales={"income": 0.5, "savings": 2.0})
    X = _binary_sex_data()
    clf = LogisticRegression().fit(X, (X["savings"] > 1.5).astype(int))
    w = dict(zip(X.columns, clf.coef_[0]))
    scale = {"education": 1.0, "income": 0.5, "savings": 2.0}
    best = max(float(np.linalg.norm(g)) for g in scaled_gains(w, scale).values())
    result = recourse_disparity(clf, X, scm, list(scale), "sex")
    score = clf.decision_function(X)
    denied = score < 1e-6
    table = result.individual
    np.testing.assert_allclose(table["cost"], (1e-6 - score[denied]) / best, rtol=1e-9)
    shift = w["sex"] + 0.5 * w["education"] + 2.0 * w["income"] + 1.0 * w["savings"]
    twin_score = score[denied] + np.where(X.loc[denied, "sex"] == 0, shift, -shift)
    both = twin_score < 1e-6
    np.testing.assert_allclose(table["gap"][both], (twin_score[both] - score[denied][both])
                               / best, rtol=1e-7, atol=1e-9)
    assert (table["twin_cost"][~both] == 0).all()
    # Groups: the counts and the mean costs of the denied.
    for level in (0.0, 1.0):
        in_group = denied & (X["sex"] == level).to_numpy()
        assert result.groups.loc[level, "n_denied"] == in_group.sum()
        assert result.groups.loc[level, "mean_cost"] == pytest.approx(
            np.mean((1e-6 - score[in_group]) / best), rel=1e-9)
    assert result.gap == pytest.approx(abs(result.groups["mean_cost"].diff().iloc[-1]))
    # Women (sex = 0 here: lower education and income) pay more on average.
    assert result.groups.loc[0.0, "mean_cost"] > result.groups.loc[1.0, "mean_cost"]


def test_recourse_disparity_bad_input(setting):
    from skcausal_trust.recourse import recourse_disparity

    scm, _, clf, denied = setting
    with pytest.raises(ValueError, match="must be a column of X"):
        recourse_disparity(clf, denied, scm, ["education"], "race")
    with pytest.raises(ValueError, match="is actionable"):
        recourse_disparity(clf, denied, scm, ["education", "sex"], "sex")


def test_parallel_chunks_give_the_same_result(setting):
    scm, _, clf, denied = setting
    one = causal_recourse(clf, denied, scm, ["education", "income"], cost="l1")
    from joblib import parallel_config

    with parallel_config(backend="threading"):  # the chunks, without process start-up
        two = causal_recourse(clf, denied, scm, ["education", "income"], cost="l1",
                              n_jobs=2)
    # The same up to the last bits of BLAS's blocking of the scores.
    pd.testing.assert_frame_equal(one.table, two.table, rtol=1e-12)
    pd.testing.assert_frame_equal(one.counterfactuals, two.counterfactuals, rtol=1e-12)
    for a, b in zip(one.interventions, two.interventions):
        assert a.keys() == b.keys()
        np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-12)


def _perturbed(rows, du):
    """The individuals of ``rows`` with their noise moved by ``du`` (per
    node, in the data's units), descendants updated by the SCM's equations
    written out here."""
    d = {}
    d["sex"], d["age"] = du["sex"], du["age"]
    d["education"] = 0.5 * d["sex"] + du["education"]
    d["income"] = 1.0 * d["sex"] + 2.0 * d["education"] + du["income"]
    d["savings"] = 0.5 * d["income"] + 0.3 * d["age"] + du["savings"]
    return rows.assign(**{v: rows[v] + d[v] for v in rows.columns})


def test_robust_recourse_holds_for_every_individual_in_the_ball(setting):
    """Every individual whose noise is within 0.5 noise-scale units of the
    person's gets the desired class after the action (random directions, and
    the worst direction, found here by finite differences through the SCM's
    counterfactuals); the worst one sits on the margin, so the action is no
    costlier than it must be."""
    scm, _, clf, denied = setting
    scales = {"sex": 1.0, "age": 1.0, "education": 1.0, "income": 0.5, "savings": 2.0}
    radius = 0.5
    rows = denied.head(4)
    plain = causal_recourse(clf, rows, scm, ["education", "income"])
    robust = causal_recourse(clf, rows, scm, ["education", "income"], robustness=radius)
    assert (robust.table["status"] == "found").all()
    assert (robust.table["cost"] > plain.table["cost"]).all()
    rng = np.random.default_rng(9)
    for (label, row), action in zip(rows.iterrows(), robust.interventions):
        one = rows.loc[[label]]

        def score_after(du):
            moved = _perturbed(one, du)
            twin = scm.counterfactual(moved, {v: [x] for v, x in action.items()})
            return float(clf.decision_function(twin[rows.columns])[0])

        base = score_after({v: 0.0 for v in scales})
        gradient = np.array([score_after({u: (scales[u] if u == v else 0.0)
                                          for u in scales}) - base for v in scales])
        worst = -radius * gradient / np.linalg.norm(gradient)
        worst_score = score_after({v: worst[j] * scales[v] for j, v in enumerate(scales)})
        assert worst_score == pytest.approx(1e-6, abs=1e-7)
        # 200 random directions on the sphere, as 200 copies of the row.
        directions = rng.normal(size=(200, len(scales)))
        directions *= radius / np.linalg.norm(directions, axis=1, keepdims=True)
        copies = rows.loc[[label] * len(directions)].reset_index(drop=True)
        moved = _perturbed(copies, {v: directions[:, j] * scales[v]
                                    for j, v in enumerate(scales)})
        twins = scm.counterfactual(moved, {v: [x] * len(moved) for v, x in action.items()})
        assert (clf.decision_function(twins[rows.columns]) >= 1e-6 - 1e-9).all()
    with pytest.raises(ValueError, match="robustness"):
        causal_recourse(clf, rows, scm, ["education"], robustness=-1.0)


def test_the_recourse_scorer_in_a_search(setting):
    """The scorer is minus the mean cost of the denied rows of each test fold,
    computed here with causal_recourse on one fold."""
    from sklearn.model_selection import GridSearchCV, KFold

    from skcausal_trust.recourse import make_recourse_scorer

    scm, X, _, _ = setting
    y = (X["savings"] + 0.5 * X["income"] > 1.0).astype(int)
    scorer = make_recourse_scorer(scm, ["education", "income"])
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 1.0]},
                          scoring={"accuracy": "accuracy", "recourse": scorer},
                          refit=False, cv=KFold(2)).fit(X, y)
    train, test = next(KFold(2).split(X))
    model = LogisticRegression(C=0.01).fit(X.iloc[train], y.iloc[train])
    table = causal_recourse(model, X.iloc[test], scm, ["education", "income"]).table
    expected = -table.loc[table["status"] == "found", "cost"].mean()
    assert search.cv_results_["split0_test_recourse"][0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="statistic"):
        make_recourse_scorer(scm, ["education"], statistic="max")


def test_a_non_linear_model_gets_a_valid_searched_action(setting):
    scm, X, _, _ = setting
    target = (X["savings"] > 1.0).astype(int)
    rbf = SVC().fit(X, target)
    rows = X[rbf.predict(X) == 0].head(8)
    with pytest.warns(UncertifiedEstimateWarning, match="random search"):
        result = causal_recourse(rbf, rows, scm, ["education", "income"], random_state=0)
    found = result.table["status"] == "found"
    assert found.sum() >= 6
    # Validity is checked on the model, through the SCM.
    assert (rbf.predict(result.counterfactuals[found.to_numpy()]) == 1).all()
    for (label, row), action in zip(rows.iterrows(), result.interventions):
        if action:
            twin = scm.counterfactual(rows.loc[[label]], {v: [x] for v, x in action.items()})
            np.testing.assert_allclose(twin[rows.columns].to_numpy()[0],
                                       result.counterfactuals.loc[label].to_numpy(),
                                       atol=1e-9)
    with pytest.raises(ValueError, match="robustness"):
        causal_recourse(rbf, rows, scm, ["education"], robustness=0.1)


def test_the_search_is_an_upper_bound_close_to_the_exact_cost(setting):
    scm, _, clf, denied = setting
    rows = denied.head(10)
    exact = causal_recourse(clf, rows, scm, ["education", "income"])
    search = causal_recourse(clf, rows, scm, ["education", "income"], method="search",
                             n_directions=256, random_state=0)
    assert (search.table["status"] == "found").all()
    assert (clf.predict(search.counterfactuals) == 1).all()
    ratio = search.table["cost"] / exact.table["cost"]
    assert (ratio >= 1 - 1e-6).all()
    assert ratio.median() < 1.05


def test_soft_interventions_keep_the_causes_acting(setting):
    scm, _, clf, denied = setting
    rows = denied.head(5)
    # No intervened feature causes another: hard and soft agree.
    hard = causal_recourse(clf, rows, scm, ["income", "age"])
    soft = causal_recourse(clf, rows, scm, ["income", "age"], intervention="soft")
    np.testing.assert_allclose(hard.table["cost"], soft.table["cost"], rtol=1e-9)
    np.testing.assert_allclose(hard.counterfactuals, soft.counterfactuals, atol=1e-9)
    # Education causes income: a soft action on both moves income by its
    # own shift plus 2 x education's (the coefficient), savings by half that.
    soft = causal_recourse(clf, rows, scm, ["education", "income"], intervention="soft",
                           max_actions=2)
    assert (clf.predict(soft.counterfactuals) == 1).all()
    for label, text in soft.table["actions"].items():
        shifts = {part.split(" by ")[0].split()[-1]: float(part.split(" by ")[1])
                  for part in text.split("; ")}
        d_edu, d_inc = shifts.get("education", 0.0), shifts.get("income", 0.0)
        before, after = rows.loc[label], soft.counterfactuals.loc[label]
        assert after["education"] - before["education"] == pytest.approx(d_edu, abs=0.006)
        assert after["income"] - before["income"] == pytest.approx(2 * d_edu + d_inc,
                                                                   abs=0.02)
        assert after["savings"] - before["savings"] == pytest.approx(
            0.5 * (after["income"] - before["income"]), abs=1e-9)


def test_integer_features_match_a_brute_force_search(setting):
    """education's new value must be an integer: the exact enumeration is
    never worse than a grid over integer educations and fine income steps,
    and the grid's best is within a few steps of it."""
    scm, _, clf, denied = setting
    rows = denied.head(5)
    result = causal_recourse(clf, rows, scm, ["education", "income"], integer=["education"])
    assert (result.table["status"] == "found").all()
    assert (clf.decision_function(result.counterfactuals) >= 1e-6 - 1e-9).all()
    for (label, row), action in zip(rows.iterrows(), result.interventions):
        if "education" in action:
            assert action["education"] == pytest.approx(round(action["education"]))
        best = np.inf
        educations = np.arange(np.floor(row["education"]) - 6, np.ceil(row["education"]) + 7)
        income_steps = np.arange(-6.0, 6.0001, 0.005)
        for edu in list(educations) + [None]:
            for use_income in (False, True):
                if edu is None and not use_income:
                    continue
                n = income_steps.size if use_income else 1
                action = {}
                if edu is not None:
                    action["education"] = np.full(n, edu)
                if use_income:
                    action["income"] = row["income"] + income_steps * 0.5
                twins = scm.counterfactual(pd.concat([rows.loc[[label]]] * n,
                                                     ignore_index=True), action)
                valid = clf.decision_function(twins[rows.columns]) >= 1e-6
                d_edu = 0.0 if edu is None else edu - row["education"]
                d_inc = income_steps if use_income else np.zeros(1)
                costs = np.sqrt(d_edu**2 + d_inc**2)
                if valid.any():
                    best = min(best, costs[valid].min())
        found = result.table.loc[label, "cost"]
        assert found <= best + 1e-9
        assert best - found < 0.01
