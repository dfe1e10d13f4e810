"""Path-specific counterfactual fairness (Chiappa 2019; Nabi and Shpitser
2018): only the effect along the unfair paths is constrained.

Ground truth from an SCM with known coefficients: the effect of A (0 -> 1)
along A -> M is 2 on M, along A -> M -> X is 2 * 1.5 = 3 on X, along
A -> X is -1 on X.
"""

import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LinearRegression, LogisticRegression

from skcausal_trust.causal import LinearSCM
from skcausal_trust.decomposition import causal_fairness_decomposition
from skcausal_trust.exceptions import PositivityWarning, SolverFallbackWarning
from skcausal_trust.fairness import (
    CounterfactuallyFairClassifier,
    CounterfactuallyFairRegressor,
)

EDGES = [("A", "M"), ("M", "X"), ("A", "X"), ("Z", "X"), ("Z", "A")]


def _scm():
    return LinearSCM.from_coefficients(
        EDGES,
        {"M": {"A": {1: 2.0}}, "X": {"M": 1.5, "A": {1: -1.0}, "Z": 0.5},
         "A": {"Z": {1: 0.2}}},
        categories={"A": [0, 1]},
        intercepts={"A": {1: 0.5}},
        noise_scales={"A": 0.0},
    )


@pytest.fixture(scope="module")
def task():
    scm = _scm()
    data = scm.sample(3000, random_state=0)
    X = data[["M", "X", "Z"]]
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=len(X)) < expit(0.8 * X["X"] - 0.5 * X["M"] + X["Z"])).astype(int)
    return X, y, data["A"], scm


@pytest.mark.parametrize("paths, expected", [
    (None, [2.0, 2.0, 0.0]),                                  # the total effect
    ({"fair_paths": [["A", "M", "X"]]}, [2.0, -1.0, 0.0]),
    ({"fair_paths": ["A -> M", "A -> M -> X"]}, [0.0, -1.0, 0.0]),
    ({"unfair_paths": ["A -> X"]}, [0.0, -1.0, 0.0]),
    ({"unfair_paths": [("A", "M", "X")]}, [0.0, 3.0, 0.0]),
])
def test_constrained_directions_are_the_known_path_effects(task, paths, expected):
    X, y, a, scm = task
    clf = CounterfactuallyFairClassifier(scm, **(paths or {})).fit(
        X, y, sensitive_features=a)
    assert np.allclose(clf.counterfactual_directions_[0, 0], expected, atol=1e-12)
    # epsilon = 0: the score does not move along the constrained paths.
    assert abs(clf.coef_[0] @ np.array(expected)) < 1e-8


def test_a_fitted_graph_estimates_the_path_effects(task):
    X, y, a, scm = task
    clf = CounterfactuallyFairClassifier(scm.graph_, fair_paths=["A -> M -> X"]).fit(
        X, y, sensitive_features=a)
    assert np.allclose(clf.counterfactual_directions_[0, 0], [2.0, -1.0, 0.0], atol=0.1)


@pytest.mark.parametrize("epsilon", [0.0, 0.3])
def test_fast_path_equals_cvxpy(task, epsilon):
    X, y, a, scm = task
    kw = dict(epsilon=epsilon, fair_paths=["A -> M -> X"], tol=1e-10, max_iter=5000)
    fast = CounterfactuallyFairClassifier(scm, **kw).fit(X, y, sensitive_features=a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverFallbackWarning)
        ref = CounterfactuallyFairClassifier(scm, solver="cvxpy", **kw).fit(
            X, y, sensitive_features=a)
    assert np.allclose(fast.coef_, ref.coef_, atol=1e-5)
    assert fast.counterfactual_gap_ <= epsilon + 1e-7


@pytest.mark.parametrize("epsilon", [0.0, 0.2])
def test_regressor_fast_path_equals_cvxpy(task, epsilon):
    X, _, a, scm = task
    y = X["X"].to_numpy() + 0.5 * X["M"].to_numpy()
    kw = dict(epsilon=epsilon, unfair_paths=["A -> X"])
    fast = CounterfactuallyFairRegressor(scm, **kw).fit(X, y, sensitive_features=a)
    ref = CounterfactuallyFairRegressor(scm, solver="cvxpy", **kw).fit(
        X, y, sensitive_features=a)
    assert np.allclose(fast.coef_, ref.coef_, atol=1e-5)
    assert abs(fast.coef_ @ np.array([0.0, -1.0, 0.0])) <= epsilon + 1e-7


def test_every_path_fair_is_the_unconstrained_model(task):
    X, y, a, scm = task
    paths = ["A -> M", "A -> M -> X", "A -> X"]
    clf = CounterfactuallyFairClassifier(scm, fair_paths=paths, tol=1e-10).fit(
        X, y, sensitive_features=a)
    plain = LogisticRegression(tol=1e-10).fit(X, y)
    assert np.allclose(clf.counterfactual_directions_, 0.0, atol=1e-12)
    assert np.allclose(clf.coef_, plain.coef_, atol=1e-5)


def test_allowed_paths_keep_an_indirect_effect_and_forbidden_ones_do_not(task):
    """The decomposition of the predictions (Plecko and Bareinboim): with
    every path constrained the indirect effect is gone; allowing the mediated
    paths keeps one. A is not an input, so the direct effect is 0 either way."""
    X, y, a, scm = task
    data = X.assign(A=a.astype(int))
    effects = {}
    # M is mostly A (effect 2, noise 1): the decomposition warns about overlap;
    # the estimates below are still far apart in standard errors.
    warnings.simplefilter("ignore", PositivityWarning)
    for name, kw in {"none": {}, "mediated": {"fair_paths": ["A -> M", "A -> M -> X"]}}.items():
        clf = CounterfactuallyFairClassifier(scm, **kw).fit(X, y, sensitive_features=a)
        frame = causal_fairness_decomposition(
            data.assign(pred=clf.predict_proba(X)[:, 1]), "A", ["Z"], ["M", "X"], "pred",
            outcome_model=LinearRegression(), propensity_model=LogisticRegression(),
            random_state=0).to_frame().set_index("measure")
        effects[name] = frame
    for name in effects:
        assert abs(effects[name].loc["DE", "estimate"]) < 3 * effects[name].loc["DE", "std_error"] + 0.01
    assert abs(effects["none"].loc["IE", "estimate"]) < 0.01
    ie = effects["mediated"].loc["IE"]
    assert abs(ie["estimate"]) > 5 * ie["std_error"]


@pytest.mark.parametrize("kw, match", [
    ({"fair_paths": ["A -> Z"]}, "edges"),
    ({"fair_paths": ["M -> X"]}, "sensitive node"),
    ({"fair_paths": ["A"]}, "sensitive node"),
    ({"fair_paths": "A -> M"}, "fair_paths"),
    ({"fair_paths": ["A -> M"], "unfair_paths": ["A -> X"]}, "not both"),
])
def test_bad_paths(task, kw, match):
    X, y, a, scm = task
    clf = CounterfactuallyFairClassifier(scm, **kw)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y, sensitive_features=a)
    assert not hasattr(clf, "coef_")


def test_scm_path_effect_is_the_product_of_the_coefficients(task):
    _, _, _, scm = task
    idx = {v: scm.design_index([v])[0] for v in ("M", "X")}
    assert scm.path_effect(["A", "M"], 0, 1)[idx["M"]] == pytest.approx(2.0)
    assert scm.path_effect(["A", "M", "X"], 0, 1)[idx["X"]] == pytest.approx(3.0)
    assert scm.path_effect(["A", "X"], 1, 0)[idx["X"]] == pytest.approx(1.0)
    total = scm.total_effect("A", 0, 1)
    paths = [["A", "M"], ["A", "M", "X"], ["A", "X"]]
    features = scm.design_index(["M", "X", "Z"])
    assert np.allclose(sum(scm.path_effect(p, 0, 1) for p in paths)[features],
                       total[features])
    with pytest.raises(ValueError, match="not a directed path"):
        scm.path_effect(["A", "Z"], 0, 1)


def test_path_specific_unfairness_of_a_linear_regressor_is_known(task):
    """A linear prediction w . x moves by w_X * (-1) along A -> X, by
    w_M * 2 + w_X * 3 along the mediated paths, and by w_A when it reads A."""
    X, _, a, scm = task
    data = X.assign(A=a.astype(int))
    y = data["X"] + 0.5 * data["M"]
    reg = LinearRegression().fit(data, y)
    w = dict(zip(data.columns, reg.coef_))
    from skcausal_trust.fairness import counterfactual_unfairness

    def unfairness(**kw):
        return counterfactual_unfairness(reg, data, scm=scm, sensitive_feature_ids="A",
                                         **kw)

    assert unfairness(unfair_paths=["A -> X"]) == pytest.approx(abs(w["X"]))
    assert unfairness(unfair_paths=["A -> M", "A -> M -> X"]) == pytest.approx(
        abs(2 * w["M"] + 3 * w["X"]))
    assert unfairness(unfair_paths=["A"]) == pytest.approx(abs(w["A"]), abs=1e-12)
    total = abs(w["A"] + 2 * w["M"] + 2 * w["X"])
    assert unfairness() == pytest.approx(total)
    assert unfairness(fair_paths=[]) == pytest.approx(total)
    assert unfairness(fair_paths=["A", "A -> X"]) == pytest.approx(
        abs(2 * w["M"] + 3 * w["X"]))


def test_a_path_specific_model_is_fair_on_its_unfair_paths_only(task):
    X, y, a, scm = task
    paths = ["A -> M -> X"]
    clf = CounterfactuallyFairClassifier(scm, fair_paths=paths).fit(
        X, y, sensitive_features=a)
    from skcausal_trust.fairness import (
        counterfactual_unfairness,
        make_counterfactual_unfairness_scorer,
    )

    path_specific = counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a,
                                              fair_paths=paths)
    total = counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a)
    assert path_specific < 1e-8 < 0.01 < total
    scorer = make_counterfactual_unfairness_scorer(scm, fair_paths=paths)
    assert scorer(clf, X, y, sensitive_features=a) == pytest.approx(-path_specific)
    assert "fair_paths" in repr(scorer)
    with pytest.raises(ValueError, match="not both"):
        counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a,
                                  fair_paths=paths, unfair_paths=paths)
    with pytest.raises(ValueError, match="must run from a sensitive node"):
        counterfactual_unfairness(clf, X, scm=scm, sensitive_features=a,
                                  unfair_paths=["M -> X"])


def test_a_path_through_a_categorical_node_on_the_raw_and_the_encoded_route():
    """A -> x0 -> x2 runs through the categorical x0: the raw route (x0
    encoded inside) and a OneHotEncoder before the estimator (x0 expanded into
    its columns) constrain the same directions and fit the same model."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from skcausal_trust.datasets import make_counterfactual_classification

    X, y, a, scm = make_counterfactual_classification(400, n_categorical=1,
                                                      random_state=3)
    paths = ["A -> x0 -> x2", "A -> x1"]
    raw = CounterfactuallyFairClassifier(scm.graph_, fair_paths=paths, tol=1e-10).fit(
        X, y, sensitive_features=a)
    encoder = ColumnTransformer([("cat", OneHotEncoder(sparse_output=False), ["x0"])],
                                remainder="passthrough").set_output(transform="pandas")
    pipe = make_pipeline(encoder, CounterfactuallyFairClassifier(
        scm.graph_, fair_paths=paths, tol=1e-10))
    pipe.fit(X, y, counterfactuallyfairclassifier__sensitive_features=a)
    order = [list(pipe[-1].input_features_).index(f"cat__{c}" if c.startswith("x0_")
                                                  else f"remainder__{c}")
             for c in raw.input_features_]
    assert np.allclose(raw.counterfactual_directions_,
                       pipe[-1].counterfactual_directions_[:, :, order], atol=1e-10)
    assert np.allclose(raw.decision_function(X), pipe.decision_function(X), atol=1e-5)
    # The path effect is not the total effect: the allowed paths carry some.
    total = CounterfactuallyFairClassifier(scm.graph_).fit(X, y, sensitive_features=a)
    assert not np.allclose(raw.counterfactual_directions_,
                           total.counterfactual_directions_, atol=1e-3)


def test_paths_from_one_of_two_sensitive_attributes():
    from skcausal_trust.datasets import make_counterfactual_classification

    X, y, a, scm = make_counterfactual_classification(400, n_sensitive=2,
                                                      random_state=3)
    paths = ["A -> x2"]
    fast = CounterfactuallyFairClassifier(scm, fair_paths=paths, epsilon=0.2,
                                          tol=1e-10, max_iter=5000).fit(
        X, y, sensitive_features=a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverFallbackWarning)
        ref = CounterfactuallyFairClassifier(scm, fair_paths=paths, epsilon=0.2,
                                             solver="cvxpy").fit(X, y, sensitive_features=a)
    assert np.allclose(fast.coef_, ref.coef_, atol=1e-5)
    # Every combination's change along the other paths moves the score by at
    # most epsilon; the combinations' directions add the two attributes'.
    assert fast.counterfactual_gap_ <= 0.2 + 1e-7
    idx = scm.design_index(list(X.columns))
    allowed = scm.path_effect(["A", "x2"], 0, 1)[idx]
    full = scm.intervention_effect({"A": 0, "B": 0}, {"A": 1, "B": 0}, list(X.columns))
    k = [tuple(c) for c in fast.sensitive_levels_].index((1, 0))
    assert np.allclose(fast.counterfactual_directions_[0, k - 1], full - allowed,
                       atol=1e-12)
