"""Causally robust fair classification and the unfair area (Ehyaei et al. 2024).

Every claim is checked against an independent computation: the ball is
rebuilt by regenerating rows from perturbed noise through the structural
equations; the closed-form worst case against a numerical minimisation
over the ball; the fast path against cvxpy; the certificate against dense
sampling; radius 0 against the counterfactual twins.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy.optimize import minimize
from scipy.special import log_expit
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skcausal_trust.causal import LinearSCM
from skcausal_trust.datasets import make_counterfactual_classification
from skcausal_trust.exceptions import SolverFallbackWarning, UncertifiedEstimateWarning
from skcausal_trust.fairness import (
    CausallyRobustFairClassifier,
    counterfactual_unfairness,
    make_unfair_area_scorer,
    unfair_area,
)
from skcausal_trust.fairness._robust import _RobustProblem


@pytest.fixture(scope="module")
def task():
    X, y, a, scm = make_counterfactual_classification(400, random_state=0)
    return X, y, a, scm


def _regenerate(scm, row, sensitive, delta, nodes):
    """Independent of ``noise_effect``: the row's noise abducted, the
    sensitive node set, ``delta`` (in noise scales) added to the noise of
    ``nodes``, every variable recomputed from its structural equation."""
    noise = scm.abduct(row).iloc[0]
    values = {}
    for v in scm.variables_:
        if v in sensitive:
            values[v] = np.array([1.0 if lvl == sensitive[v] else 0.0
                                  for lvl in scm.categories_[v][1:]])
            continue
        shift = 0.0
        if v in nodes:
            shift = delta[nodes.index(v)] * scm.noise_scale(v)
        if v not in scm.equations_:
            values[v] = np.array([float(row[v].iloc[0]) + shift])
            continue
        eq = scm.equations_[v]
        parents = np.concatenate([values[p] for p in eq["parents"]])
        values[v] = eq["intercept"] + eq["coef"] @ parents + noise[v] + shift
    return values


def test_noise_effect_matches_regenerating_the_row(task):
    X, _, a, scm = task
    row = X.iloc[[3]].assign(A=a[3])
    nodes = [v for v in scm.variables_ if v != "A"]
    base = _regenerate(scm, row, {"A": a[3]}, np.zeros(len(nodes)), nodes)
    effect = scm.noise_effect(nodes)
    for r, v in enumerate(nodes):
        delta = np.zeros(len(nodes))
        delta[r] = 1.0
        moved = _regenerate(scm, row, {"A": a[3]}, delta, nodes)
        change = np.array([moved[c][0] - base[c][0] for c in X.columns])
        assert np.allclose(effect[r, scm.design_index(list(X.columns))], change,
                           atol=1e-12)


@pytest.mark.parametrize("radius", [0.0, 0.15])
def test_fast_path_equals_cvxpy(task, radius):
    X, y, a, scm = task
    fast = CausallyRobustFairClassifier(scm, radius=radius).fit(X, y, sensitive_features=a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverFallbackWarning)
        ref = CausallyRobustFairClassifier(scm, radius=radius, solver="cvxpy").fit(
            X, y, sensitive_features=a)
    assert fast.solver_path_ == "fast" and ref.solver_path_ == "cvxpy"
    assert np.allclose(fast.coef_, ref.coef_, atol=1e-5)
    assert np.allclose(fast.intercept_, ref.intercept_, atol=1e-5)
    assert fast.objective_ == pytest.approx(ref.objective_, rel=1e-8)


def test_fast_path_equals_cvxpy_three_levels_two_worlds_weights():
    X, y, a, scm = make_counterfactual_classification(300, n_levels=3, random_state=1)
    other = LinearSCM(scm.graph_).fit(X.assign(A=pd.Categorical(a)).iloc[:150])
    w = np.random.default_rng(0).integers(1, 4, len(y)).astype(float)
    kw = dict(radius=0.1, fit_intercept=False)
    fast = CausallyRobustFairClassifier([scm, other], **kw).fit(
        X, y, sensitive_features=a, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverFallbackWarning)
        ref = CausallyRobustFairClassifier([scm, other], solver="cvxpy", **kw).fit(
            X, y, sensitive_features=a, sample_weight=w)
    assert np.allclose(fast.coef_, ref.coef_, atol=1e-5)
    assert fast.intercept_[0] == 0.0
    assert fast.perturbation_sensitivity_.shape == (2,)


def test_radius_zero_is_the_worst_twin_loss(task):
    X, y, a, scm = task
    clf = CausallyRobustFairClassifier(scm, radius=0.0).fit(X, y, sensitive_features=a)
    w, b = clf.coef_[0], clf.intercept_[0]
    s = np.where(y == clf.classes_[1], 1.0, -1.0)
    data = X.assign(A=a)
    margins = [s * (X.to_numpy() @ w + b)]
    for level in (0, 1):
        twin = scm.counterfactual(data, {"A": level})[list(X.columns)]
        margins.append(s * (twin.to_numpy() @ w + b))
    worst = np.min(margins, axis=0)
    objective = -log_expit(worst).sum() + w @ w / 2.0
    assert clf.objective_ == pytest.approx(objective, rel=1e-10)
    # The worst-twin loss pushes the twins' scores together.
    plain = LogisticRegression().fit(X, y)
    plain_gap = abs(float(clf.counterfactual_directions_[0, 0] @ plain.coef_[0]))
    assert clf.counterfactual_gap_ < 0.5 * plain_gap


def test_certified_area_is_an_upper_envelope_of_dense_sampling(task):
    X, y, a, scm = task
    clf = LogisticRegression().fit(X, y)
    for twins in (True, False):
        exact = unfair_area(clf, X, scm=scm, radius=0.2, sensitive_features=a,
                            twins=twins, return_details=True)
        mc = unfair_area(clf, X, scm=scm, radius=0.2, sensitive_features=a, twins=twins,
                         method="monte-carlo", n_perturbations=2000, random_state=0,
                         return_details=True)
        assert exact.method == "exact" and mc.method == "monte-carlo"
        # Sampling finds flips only where the certificate says there are some,
        # and (dense, in 6 dimensions) nearly all of them.
        assert not np.any(mc.flags & ~exact.flags)
        assert exact.area - mc.area <= 0.03
        assert mc.interval[0] <= mc.area <= mc.interval[1]


def test_certificate_is_tight_at_the_boundary_point(task):
    """A flagged sample's decision really changes at the closed-form worst
    point (regenerated independently), and an unflagged one's never does."""
    X, y, a, scm = task
    clf = LogisticRegression().fit(X, y)
    radius = 0.2
    res = unfair_area(clf, X, scm=scm, radius=radius, sensitive_features=a,
                      twins=False, return_details=True)
    nodes = [v for v in scm.variables_ if v != "A"]
    gradient = (scm.noise_effect(nodes)[:, scm.design_index(list(X.columns))]
                @ clf.coef_[0])
    for i in np.flatnonzero(res.flags)[:3]:
        f = clf.decision_function(X.iloc[[i]])[0]
        direction = -np.sign(f) * gradient / np.linalg.norm(gradient)
        values = _regenerate(scm, X.iloc[[i]].assign(A=a[i]), {"A": a[i]},
                             radius * direction, nodes)
        x = pd.DataFrame([[values[c][0] for c in X.columns]], columns=X.columns)
        assert clf.predict(x)[0] != clf.predict(X.iloc[[i]])[0]
    assert res.sensitivity == pytest.approx(np.linalg.norm(gradient), rel=1e-9)


def test_radius_zero_is_the_counterfactual_flip_rate(task):
    X, y, a, scm = task
    clf = LogisticRegression().fit(X, y)
    assert unfair_area(clf, X, scm=scm, radius=0.0, sensitive_features=a) == (
        pytest.approx(counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a,
                                                kind="flip")))
    assert unfair_area(clf, X, scm=scm, radius=0.0, sensitive_features=a,
                       twins=False) == 0.0


def test_robust_training_lowers_the_unfair_area(task):
    X, y, a, scm = task
    plain = LogisticRegression().fit(X, y)
    robust = CausallyRobustFairClassifier(scm, radius=0.2).fit(X, y, sensitive_features=a)
    before = unfair_area(plain, X, scm=scm, radius=0.2, sensitive_features=a)
    after = unfair_area(robust, X, scm=scm, radius=0.2, sensitive_features=a)
    assert after < 0.75 * before


def _categorical_task():
    X, y, a, scm = make_counterfactual_classification(300, n_categorical=1,
                                                      random_state=3)
    return X, y, a, scm


def test_categorical_nodes_are_held_fixed_on_every_route():
    X, y, a, scm = _categorical_task()
    assert isinstance(X["x0"].dtype, pd.CategoricalDtype) or X["x0"].dtype == object
    raw = CausallyRobustFairClassifier(scm.graph_, radius=0.1).fit(
        X, y, sensitive_features=a)
    assert "x0" not in raw.perturbation_nodes_[0]
    # Numeric columns passed through: the same program as on the raw route
    # (a scaler would change what the L2 penalty means).
    ct = ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["x0"])],
                           remainder="passthrough").set_output(transform="pandas")
    pipe = make_pipeline(ct, CausallyRobustFairClassifier(scm.graph_, radius=0.1))
    pipe.fit(X, y, causallyrobustfairclassifier__sensitive_features=a)
    encoded = pipe[-1]
    assert not any(str(v).startswith("cat__") for v in encoded.perturbation_nodes_[0])
    # The same model on both routes: the same decisions and unfair area.
    assert np.allclose(pipe.decision_function(X), raw.decision_function(X), atol=1e-5)
    ua_raw = unfair_area(raw, X, scm=scm, radius=0.1, sensitive_features=a)
    ua_pipe = unfair_area(pipe, X, scm=scm, radius=0.1, sensitive_features=a)
    assert ua_raw == pytest.approx(ua_pipe, abs=1 / len(y))


def test_unfair_area_routes_agree_for_a_pipeline_with_the_attribute_as_a_column(task):
    X, y, a, scm = task
    data = X.assign(A=pd.Categorical(a))
    pipe = make_pipeline(
        ColumnTransformer([("a", OneHotEncoder(), ["A"])], remainder=StandardScaler()),
        LogisticRegression()).fit(data, y)
    column = unfair_area(pipe, data, scm=scm, radius=0.1, sensitive_feature_ids="A",
                         return_details=True)
    assert column.method == "exact"
    # The same model written out by hand: scores of the twins and the ball.
    lr, ct = pipe[-1], pipe[0]
    ua_mc = unfair_area(pipe, data, scm=scm, radius=0.1, sensitive_feature_ids="A",
                        method="monte-carlo", n_perturbations=500, random_state=0)
    assert ua_mc <= column.area and column.area - ua_mc < 0.05
    assert lr.coef_.shape[1] == ct.transform(data).shape[1]


def test_non_linear_models_get_a_warned_lower_bound(task):
    X, y, a, scm = task
    gb = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    with pytest.warns(UncertifiedEstimateWarning, match="lower bound"):
        area = unfair_area(gb, X, scm=scm, radius=0.1, sensitive_features=a,
                           n_perturbations=20, random_state=0)
    assert 0.0 <= area <= 1.0
    with pytest.raises(ValueError, match="cannot be certified"):
        unfair_area(gb, X, scm=scm, radius=0.1, sensitive_features=a, method="exact")
    again = unfair_area(gb, X, scm=scm, radius=0.1, sensitive_features=a,
                        method="monte-carlo", n_perturbations=20, random_state=0)
    assert again == area


@pytest.mark.parametrize("kwargs, match", [
    ({"radius": -0.1}, "radius"),
    ({"radius": np.inf}, "radius"),
    ({"radius": 0.1, "method": "grid"}, "method"),
    ({"radius": 0.1, "n_perturbations": 0}, "n_perturbations"),
    ({"radius": 0.1, "confidence_level": 1.0}, "confidence_level"),
])
def test_unfair_area_bad_input(task, kwargs, match):
    X, y, a, scm = task
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=match):
        unfair_area(clf, X, scm=scm, sensitive_features=a, **kwargs)


def test_unfair_area_needs_the_attribute_and_a_fitted_scm(task):
    X, y, a, scm = task
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="sensitive attribute"):
        unfair_area(clf, X, scm=scm, radius=0.1)
    with pytest.raises(ValueError, match="fitted LinearSCM"):
        unfair_area(clf, X, scm=LinearSCM(scm.graph_), radius=0.1, sensitive_features=a)


def test_classifier_bad_input(task):
    X, y, a, scm = task
    with pytest.raises(InvalidParameterError, match="radius"):
        CausallyRobustFairClassifier(scm, radius=-1.0).fit(X, y, sensitive_features=a)
    with pytest.raises(ValueError, match="radius"):
        CausallyRobustFairClassifier(scm, radius=np.inf).fit(X, y, sensitive_features=a)
    y3 = np.arange(len(y)) % 3
    with pytest.raises(ValueError, match="Only binary classification"):
        CausallyRobustFairClassifier(scm).fit(X, y3, sensitive_features=a)
    graph_without_a = LinearSCM([("x0", "x1")])
    with pytest.raises(ValueError):
        CausallyRobustFairClassifier(graph_without_a).fit(X, y, sensitive_features=a)
    clf = CausallyRobustFairClassifier(scm)
    with pytest.raises(ValueError):
        clf.fit(X, y, sensitive_features=a[:-1])
    assert not hasattr(clf, "coef_")


def test_scorer_in_a_grid_search_with_routing(task):
    X, y, a, scm = task
    scorer = make_unfair_area_scorer(scm, 0.1)
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            CausallyRobustFairClassifier(scm),
            {"radius": [0.0, 0.3]}, cv=3,
            scoring={"accuracy": "accuracy", "unfair_area": scorer}, refit="accuracy",
        ).fit(X, y, sensitive_features=a)
    scores = search.cv_results_["mean_test_unfair_area"]
    assert np.all(scores <= 0)
    # A larger training radius is at least as fair at 0.1 on held-out rows.
    assert scores[1] >= scores[0]
    with pytest.raises(ValueError, match="radius"):
        make_unfair_area_scorer(scm, -1.0)


def test_semi_latent_and_the_causal_fair_metric(task):
    X, _, a, scm = task
    data = X.assign(A=a)
    latent = scm.semi_latent(data, "A")
    assert list(latent["A"]) == list(a)
    # A twin has the same non-sensitive coordinates: distance 0.
    twin = scm.counterfactual(data, {"A": 1 - np.asarray(a, dtype=int)})
    assert np.allclose(scm.causal_fair_distance(data, twin, "A"), 0.0, atol=1e-10)
    # A row regenerated from noise moved by delta is at distance |delta|.
    nodes = [v for v in scm.variables_ if v != "A"]
    delta = np.random.default_rng(0).normal(size=len(nodes))
    values = _regenerate(scm, data.iloc[[5]], {"A": a[5]}, delta, nodes)
    moved = data.iloc[[5]].copy()
    for c in X.columns:
        moved[c] = values[c][0]
    assert scm.causal_fair_distance(data.iloc[[5]], moved, "A")[0] == pytest.approx(
        np.linalg.norm(delta), rel=1e-9)
    # The noise in units of the noise scale: the roots standardised.
    root = [v for v in nodes if v not in scm.equations_][0]
    assert latent[root].mean() == pytest.approx(
        (X[root].mean() - scm.roots_[root]["mean"]) / scm.noise_scale(root))
    with pytest.raises(ValueError, match="not variables"):
        scm.semi_latent(data, "B")
    with pytest.raises(ValueError, match="pair rows"):
        scm.causal_fair_distance(data, data.iloc[:3], "A")


def test_a_categorical_level_change_is_infinitely_far():
    X, y, a, scm = _categorical_task()
    data = X.assign(A=a)
    other = data.copy()
    levels = list(scm.categories_["x0"])
    other["x0"] = [levels[(levels.index(v) + 1) % len(levels)] for v in data["x0"]]
    assert np.isinf(scm.causal_fair_distance(data, other, "A")).all()
    assert np.allclose(scm.causal_fair_distance(data, data, "A"), 0.0)


def test_worst_case_and_objective_for_any_weights_against_the_ball(task):
    """The closed form for weights that are not the fitted ones (a fitted
    model nearly cancels its twins, which hides sign errors): every level and
    label group, against a numerical minimisation over the regenerated ball,
    and the objective against a direct sum (C != 1)."""
    X, y, a, scm = task
    radius, C = 0.2, 0.37
    clf = CausallyRobustFairClassifier(scm, radius=radius, C=C).fit(
        X, y, sensitive_features=a)
    labels = (y == clf.classes_[1]).astype(int)
    codes = np.searchsorted([0, 1], np.asarray(a, dtype=int))
    problem = _RobustProblem(X.to_numpy(), labels, np.ones(len(y)), codes,
                             [np.vstack([np.zeros((1, X.shape[1])), d])
                              for d in clf.counterfactual_directions_],
                             clf.perturbation_basis_, radius, C, True)
    rng = np.random.default_rng(3)
    w, b = rng.normal(size=X.shape[1]), 0.3
    worst = problem.worst(w)[problem.group]
    nodes = clf.perturbation_nodes_[0]
    # One row of each (level, label) group.
    rows = [int(np.flatnonzero((codes == c) & (labels == lab))[0])
            for c in (0, 1) for lab in (0, 1)]
    for i in rows:
        data = X.iloc[[i]].assign(A=a[i])
        s = 1.0 if labels[i] else -1.0
        best = np.inf
        for level in (0, 1):
            def margin(delta, level=level):
                values = _regenerate(scm, data, {"A": level}, delta, nodes)
                x = np.array([values[c][0] for c in X.columns])
                return s * (x @ w + b)

            res = minimize(margin, np.full(len(nodes), 0.01), method="SLSQP",
                           constraints=[{"type": "ineq",
                                         "fun": lambda d: radius**2 - d @ d}])
            best = min(best, res.fun)
        assert s * (X.iloc[i].to_numpy() @ w + b) + worst[i] == pytest.approx(best, abs=1e-6)
    margins = np.where(labels == 1, 1.0, -1.0) * (X.to_numpy() @ w + b) + worst
    direct = -log_expit(margins).sum() + w @ w / (2 * C)
    assert problem.objective(w, b) == pytest.approx(direct, rel=1e-12)


def test_column_route_defaults_tags_and_convergence_warning(task):
    X, y, a, scm = task
    clf = CausallyRobustFairClassifier()
    assert clf.get_params() == {"causal_model": None, "radius": 0.05, "C": 1.0,
                                "sensitive_feature_ids": None, "fit_intercept": True,
                                "solver": "auto", "max_iter": 1000}
    tags = clf.__sklearn_tags__()
    assert tags.input_tags.allow_nan is False and tags.classifier_tags.multi_class is False
    routed = CausallyRobustFairClassifier(scm, radius=0.1).fit(X, y, sensitive_features=a)
    column = CausallyRobustFairClassifier(scm, radius=0.1, sensitive_feature_ids="A").fit(
        X.assign(A=a), y)
    assert np.allclose(routed.coef_, column.coef_, atol=1e-8)
    assert np.allclose(column.predict_proba(X.assign(A=a)), routed.predict_proba(X))
    with pytest.warns(ConvergenceWarning, match="SLSQP did not converge"):
        CausallyRobustFairClassifier(scm, radius=0.1, max_iter=2).fit(
            X, y, sensitive_features=a)


class _AlmostLinear(LogisticRegression):
    """Logistic regression plus a small square of the first column: not
    affine, by a margin the certificate's checks must see."""

    def decision_function(self, X):
        X = np.asarray(X, dtype=float)
        return super().decision_function(X) + 0.05 * X[:, 0] ** 2

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def test_a_nearly_affine_model_is_not_certified(task):
    X, y, a, scm = task
    model = _AlmostLinear().fit(X.to_numpy(), y)
    with pytest.raises(ValueError, match="cannot be certified"):
        unfair_area(model, X.to_numpy(), scm=_positional(scm), radius=0.1,
                    sensitive_features=a, method="exact")


def _positional(scm):
    """The task's SCM with its feature nodes renamed to positions 0..5."""
    rename = {f"x{i}": i for i in range(6)}
    graph = [(rename.get(u, u), rename.get(v, v)) for u, v in scm.graph_.edges]
    X, _, a, _ = make_counterfactual_classification(400, random_state=0)
    data = X.rename(columns=rename).assign(A=pd.Categorical(a))
    return LinearSCM(graph).fit(data)


def test_details_weights_and_more_bad_input(task):
    X, y, a, scm = task
    clf = LogisticRegression().fit(X, y)
    exact = unfair_area(clf, X, scm=scm, radius=0.1, sensitive_features=a,
                        return_details=True)
    assert exact.interval == (exact.area, exact.area) and exact.n_perturbations == 0
    assert exact.flags.mean() == pytest.approx(exact.area)
    # Integer weights count rows as repeated rows.
    w = np.random.default_rng(0).integers(0, 3, len(y))
    rows = np.repeat(np.arange(len(y)), w)
    weighted = unfair_area(clf, X, scm=scm, radius=0.1, sensitive_features=a,
                           sample_weight=w)
    repeated = unfair_area(clf, X.iloc[rows], scm=scm, radius=0.1,
                           sensitive_features=a.iloc[rows])
    assert weighted == pytest.approx(repeated)
    mc = unfair_area(clf, X, scm=scm, radius=0.1, sensitive_features=a,
                     method="monte-carlo", n_perturbations=1, random_state=0,
                     return_details=True)
    assert mc.n_perturbations == 1
    narrow = unfair_area(clf, X, scm=scm, radius=0.1, sensitive_features=a,
                         method="monte-carlo", n_perturbations=1, random_state=0,
                         confidence_level=0.5, return_details=True)
    assert narrow.interval[1] - narrow.interval[0] < mc.interval[1] - mc.interval[0]
    with_weights = unfair_area(clf, X, scm=scm, radius=0.1, sensitive_features=a,
                               method="monte-carlo", n_perturbations=1, random_state=0,
                               sample_weight=w, return_details=True)
    assert np.isnan(with_weights.interval).all()
    for kwargs, match in [({"radius": "0.1"}, "radius"), ({"radius": True}, "radius"),
                          ({"radius": 0.1, "n_perturbations": 2.5}, "n_perturbations"),
                          ({"radius": 0.1, "n_perturbations": True}, "n_perturbations"),
                          ({"radius": 0.1, "confidence_level": 0.0}, "confidence_level")]:
        with pytest.raises(ValueError, match=match):
            unfair_area(clf, X, scm=scm, sensitive_features=a, **kwargs)
    from sklearn.linear_model import LinearRegression
    with pytest.raises(ValueError, match="not a fitted classifier"):
        unfair_area(LinearRegression().fit(X, y), X, scm=scm, radius=0.1,
                    sensitive_features=a)
    three = LogisticRegression().fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="not a binary classifier"):
        unfair_area(three, X, scm=scm, radius=0.1, sensitive_features=a, method="exact")


def test_two_sensitive_attributes_fast_path_equals_cvxpy():
    X, y, a, scm = make_counterfactual_classification(300, n_sensitive=2, random_state=4)
    fast = CausallyRobustFairClassifier(scm, radius=0.1).fit(X, y, sensitive_features=a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverFallbackWarning)
        ref = CausallyRobustFairClassifier(scm, radius=0.1, solver="cvxpy").fit(
            X, y, sensitive_features=a)
    assert fast.counterfactual_directions_.shape[1] == 3   # 4 combinations
    assert np.allclose(fast.coef_, ref.coef_, atol=1e-5)
    area = unfair_area(fast, X, scm=scm, radius=0.1, sensitive_features=a,
                       return_details=True)
    assert area.method == "exact" and 0.0 <= area.area <= 1.0
