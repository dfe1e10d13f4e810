"""Generative bias decomposition against known truth from simulated SCMs.

The standard fairness model of every test: z ~ N(0, 1), P(x = 1 | z) =
expit(z), w = x + 0.5 z + u_w, y = x + 2 w + z + u_y, so that DE = 1, IE = -2,
SE = 2 (E[z | x0] - E[z | x1]) (see tests/test_decomposition.py).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from skcausal_trust.fairness import (
    GenerativeBiasDecomposition,
    StagedSCMSampler,
    causal_fairness_decomposition,
    generative_bias_decomposition,
)

LINEAR = dict(outcome_model=LinearRegression(), propensity_model=LogisticRegression(),
              n_folds=2)
MEASURES = ["TV", "DE", "IE", "SE"]
MECHANISMS = ["Y", "W", "X+Z"]


def _quad(f):
    return integrate.quad(lambda z: f(z) * stats.norm.pdf(z), -12, 12)[0]


# E[z | x] for P(x = 1 | z) = expit(z); E[expit'(z)] = Cov(x, z) (Stein).
EZ1 = _quad(lambda z: z * expit(z)) / _quad(expit)
EZ0 = _quad(lambda z: z * (1 - expit(z))) / _quad(lambda z: 1 - expit(z))
COV_XZ = _quad(lambda z: expit(z) * (1 - expit(z)))
TRUTH = {"TV": 3 + 2 * (EZ1 - EZ0), "DE": 1.0, "IE": -2.0, "SE": 2 * (EZ0 - EZ1)}


def _draw_z_x(n, rng):
    z = rng.normal(size=n)
    return z, (rng.uniform(size=n) < expit(z)).astype(int)


def _f_w(x, z, rng):
    return x + 0.5 * z + rng.normal(size=len(z))


def _f_y(x, z, w, rng):
    return x + 2.0 * w + z + rng.normal(size=len(z))


def _staged(n, rng, f_w_model=_f_w, f_y_model=_f_y):
    """Real data and the three stages of a "generative model" whose W and Y
    mechanisms are f_w_model, f_y_model (and whose X, Z mechanisms are exact)."""
    z, x = _draw_z_x(n, rng)
    w = _f_w(x, z, rng)
    real = pd.DataFrame({"x": x, "z": z, "w": w, "y": _f_y(x, z, w, rng)})
    w_model = f_w_model(x, z, rng)
    z2, x2 = _draw_z_x(n, rng)
    w2 = f_w_model(x2, z2, rng)
    stages = {
        "Y": real.assign(y=f_y_model(x, z, w, rng)),
        "WY": real.assign(w=w_model, y=f_y_model(x, z, w_model, rng)),
        "all": pd.DataFrame({"x": x2, "z": z2, "w": w2, "y": f_y_model(x2, z2, w2, rng)}),
    }
    return real, stages


def _decompose(real, stages, **kwargs):
    return generative_bias_decomposition(real, stages, "x", ["z"], ["w"], "y",
                                         **{**LINEAR, **kwargs})


@pytest.mark.slow
def test_an_exact_model_has_zero_contributions_with_calibrated_standard_errors():
    """(a) 25 repetitions, 12 contributions each: z-scores ~ N(0, 1)."""
    rng = np.random.default_rng(0)
    zs, ratio = [], []
    for rep in range(25):
        real, stages = _staged(1500, rng)
        res = _decompose(real, stages, random_state=rep)
        frame = res.to_frame()
        c = frame[frame["mechanism"] != "total"]
        assert list(c["mechanism"].unique()) == MECHANISMS
        zs.append((c["contribution"] / c["std_error"]).to_numpy())
        # What the independent-samples formula would have said for the
        # paired step real -> Y (shared X, Z, W).
        m = res.measures.set_index(["stage", "measure"])["std_error"]
        se_y = c[c["mechanism"] == "Y"].set_index("measure")["std_error"]
        ratio.append([np.hypot(m["real", k], m["Y", k]) / se_y[k] for k in MEASURES])
    zs = np.array(zs)
    coverage = (np.abs(zs) < stats.norm.ppf(0.975)).mean()
    # 300 correlated intervals at nominal 0.95.
    assert 0.88 <= coverage <= 0.995, coverage
    assert 0.8 < zs.std() < 1.25, zs.std()
    assert np.abs(zs.mean(axis=0)).max() < 1.0
    # Pairing matters: the spurious effect is set by the shared X, Z, so the
    # independent formula overstates its SE about threefold.
    ratio = dict(zip(MEASURES, np.mean(ratio, axis=0)))
    assert ratio["SE"] > 2 and ratio["TV"] > 2, ratio
    assert res.to_frame()["se_method"].tolist() == ["paired"] * 8 + ["independent"] * 8


def _doubled_direct_effect(x, z, w, rng):
    return 2.0 * x + 2.0 * w + z + rng.normal(size=len(z))


def _w_ignores_x(x, z, rng):
    return 0.5 * z + rng.normal(size=len(z))


# Known changes: doubling the direct coefficient moves DE (and TV) by +1;
# a W mechanism without x has IE = 2 (0 - 0) = 0 instead of -2 (TV: -2).
SCENARIOS = {
    "Y doubles the direct effect": (
        dict(f_y_model=_doubled_direct_effect),
        {("Y", "DE"): 1.0, ("Y", "TV"): 1.0}),
    "W ignores x": (
        dict(f_w_model=_w_ignores_x),
        {("W", "IE"): 2.0, ("W", "TV"): -2.0}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_biased_mechanism_is_blamed_for_the_known_change(scenario):
    """(b), (c): the replaced mechanism carries the closed-form change; every
    other contribution is ~0."""
    model, changes = SCENARIOS[scenario]
    real, stages = _staged(8000, np.random.default_rng(1), **model)
    res = _decompose(real, stages, random_state=0)
    c = res.contributions.set_index(["mechanism", "measure"])
    for key, row in c.iterrows():
        truth = changes.get(key, 0.0)
        assert abs(row["contribution"] - truth) <= 4 * row["std_error"], (key, row.to_dict())
    for key, truth in changes.items():
        # (The paired SE of a DE or IE change is ~0.1 here: the inverse
        # propensity weights on the outcome noise, which differs between the
        # stages, are large.)
        assert c.loc[key, "std_error"] < 0.15
        assert c.loc[key, "contribution"] == pytest.approx(truth, abs=0.3)
    # The stages' measures themselves: real at the truth, the last stage moved.
    m = res.measures.set_index(["stage", "measure"])["estimate"]
    for k in ("DE", "IE"):
        assert m["real", k] == pytest.approx(TRUTH[k], abs=0.25)
        moved = TRUTH[k] + sum(v for (_, kk), v in changes.items() if kk == k)
        assert m["all", k] == pytest.approx(moved, abs=0.25)


@pytest.mark.parametrize("names,mechanisms,methods", [
    (("Y", "WY", "all"), ["Y", "W", "X+Z"], ["paired", "paired", "independent"]),
    (("WY", "all"), ["W+Y", "X+Z"], ["paired", "independent"]),
    (("Y", "all"), ["Y", "X+Z+W"], ["paired", "independent"]),
    (("all", "Y"), ["Y", "X+Z+W"], ["paired", "independent"]),   # any dict order
    (("WY",), ["W+Y"], ["paired"]),
    (("all",), ["X+Z+W+Y"], ["independent"]),
])
def test_contributions_telescope_exactly_and_missing_stages_merge(names, mechanisms,
                                                                  methods):
    """(d)"""
    real, stages = _staged(800, np.random.default_rng(2), f_y_model=_doubled_direct_effect)
    res = _decompose(real, {s: stages[s] for s in names}, random_state=3)
    assert isinstance(res, GenerativeBiasDecomposition)
    c = res.contributions
    assert list(c["mechanism"].unique()) == mechanisms
    assert list(c.groupby("mechanism", sort=False)["se_method"].first()) == methods
    m = res.measures.set_index(["stage", "measure"])["estimate"]
    last = [s for s in ("Y", "WY", "all") if s in names][-1]
    assert list(res.measures["stage"].unique()) == ["real"] + [
        s for s in ("Y", "WY", "all") if s in names]
    totals = res.totals.set_index("measure")
    for k in MEASURES:
        total = m[last, k] - m["real", k]
        assert c.loc[c["measure"] == k, "contribution"].sum() == pytest.approx(
            total, abs=1e-12)
        assert totals.loc[k, "contribution"] == pytest.approx(total, abs=1e-12)
    # TV = DE - IE - SE at every stage, hence for every contribution too.
    for mech, g in c.groupby("mechanism"):
        v = g.set_index("measure")["contribution"]
        assert v["TV"] == pytest.approx(v["DE"] - v["IE"] - v["SE"], abs=1e-12)
    frame = res.to_frame()
    assert len(frame) == 4 * (len(names) + 1)
    assert (frame["ci_lower"] < frame["contribution"]).all()
    assert (frame["contribution"] < frame["ci_upper"]).all()
    # The stages are decomposed exactly as one decomposition would.
    single = causal_fairness_decomposition(stages[last], "x", ["z"], ["w"], "y",
                                           random_state=3, **LINEAR)
    assert m[last, "DE"] == single.estimates["DE"]


def test_standard_error_choice_follows_the_rows():
    real, stages = _staged(800, np.random.default_rng(4))
    # Stage Y with its rows shuffled no longer pairs with the real rows.
    shuffled = {"Y": stages["Y"].sample(frac=1, random_state=0), "WY": stages["WY"]}
    res = _decompose(real, shuffled, random_state=0)
    assert list(res.contributions["se_method"].unique()) == ["independent"]
    independent = _decompose(real, stages, random_state=0, se_method="independent")
    assert set(independent.to_frame()["se_method"]) == {"independent"}
    m = independent.measures.set_index(["stage", "measure"])["std_error"]
    row = independent.contributions.iloc[0]
    assert row["std_error"] == pytest.approx(np.hypot(m["real", "TV"], m["Y", "TV"]))
    paired = _decompose(real, {"Y": stages["Y"], "WY": stages["WY"]}, random_state=0,
                        se_method="paired")
    assert set(paired.to_frame()["se_method"]) == {"paired"}
    with pytest.raises(ValueError, match="se_method='paired' needs stages 'WY' and 'all'"):
        _decompose(real, stages, random_state=0, se_method="paired")


def _linear_sfm(n, rng):
    z, x = _draw_z_x(n, rng)
    w = _f_w(x, z, rng)
    return pd.DataFrame({"x": x, "z": z, "w": w, "y": _f_y(x, z, w, rng)})


def test_sampler_fitted_on_a_linear_scm_reproduces_the_real_decomposition():
    """(e) Correctly specified mechanisms, n = 20000: nothing changes."""
    real = _linear_sfm(20000, np.random.default_rng(5))
    sampler = StagedSCMSampler(LogisticRegression(), LinearRegression()).fit(
        real, "x", ["z"], ["w"], "y", random_state=0)
    stages = sampler.sample_stages(real, random_state=1)
    assert stages["Y"][["x", "z", "w"]].equals(real[["x", "z", "w"]])
    assert stages["WY"][["x", "z"]].equals(real[["x", "z"]])
    assert stages["all"].index.equals(pd.RangeIndex(20000))
    # Z is a bootstrap of the real rows; X | Z follows expit(z).
    assert np.isin(stages["all"]["z"], real["z"]).all()
    assert stages["all"]["x"].mean() == pytest.approx(0.5, abs=0.02)
    res = _decompose(real, stages, random_state=0)
    frame = res.to_frame()
    assert (frame["contribution"].abs() <= 4 * frame["std_error"]).all(), frame
    assert (frame["contribution"].abs() < 0.15).all(), frame
    m = res.measures.set_index(["stage", "measure"])["estimate"]
    for k, truth in TRUTH.items():
        assert m["all", k] == pytest.approx(truth, abs=0.15)


def test_default_gradient_boosting_sampler_is_close_on_the_linear_scm():
    real = _linear_sfm(4000, np.random.default_rng(6))
    sampler = StagedSCMSampler().fit(real, "x", ["z"], ["w"], "y", random_state=0)
    res = _decompose(real, sampler.sample_stages(real, random_state=0), random_state=0)
    totals = res.totals.set_index("measure")
    for k in MEASURES:
        # Noise (SE 0.05 - 0.2) plus the boosting's approximation of lines.
        row = totals.loc[k]
        assert abs(row["contribution"]) <= 3 * row["std_error"] + 0.1, (k, row.to_dict())
    # Out-of-fold residuals keep the noise of w: sd 1 (not shrunk by overfitting).
    assert sampler.mechanisms_["w"]["residuals"].std() == pytest.approx(1, abs=0.08)


def test_sampler_with_a_mediator_model_that_ignores_x_changes_the_indirect_effect():
    """A deliberately biased estimator: w regressed on z only. Then IE = 0
    (change +2) and, because the slope on z absorbs x (0.5 + Cov(x, z)), the
    spurious effect moves by 2 Cov(x, z) (E[z | x0] - E[z | x1])."""
    real = _linear_sfm(5000, np.random.default_rng(7))
    ignore_x = make_pipeline(ColumnTransformer([("z", "passthrough", ["z"])]),
                             LinearRegression())
    sampler = StagedSCMSampler(LogisticRegression(), LinearRegression(),
                               estimators={"w": ignore_x}).fit(
        real, "x", ["z"], ["w"], "y", random_state=0)
    res = _decompose(real, sampler.sample_stages(real, random_state=0), random_state=0)
    c = res.contributions.set_index(["mechanism", "measure"])
    d_se = 2 * COV_XZ * (EZ0 - EZ1)   # about -0.34
    changes = {("W", "IE"): 2.0, ("W", "SE"): d_se, ("W", "TV"): -2.0 - d_se}
    for key, row in c.iterrows():
        # (SEs 0.03 - 0.13 here.)
        assert abs(row["contribution"] - changes.get(key, 0.0)) <= 4 * row["std_error"], key
    assert c.loc[("W", "IE"), "contribution"] == pytest.approx(2.0, abs=0.4)


def test_sampler_with_categorical_columns_keeps_levels_and_dtypes():
    rng = np.random.default_rng(8)
    n = 2000
    region = rng.choice(["north", "south", "east"], size=n)
    z = rng.normal(size=n)
    x = np.where(rng.uniform(size=n) < expit(z + (region == "north")), "b", "a")
    job = np.where(rng.uniform(size=n) < expit(1.5 * (x == "b") + z), "office", "field")
    hours = 30 + 5 * (x == "b") + 3 * (job == "office") + rng.normal(size=n)
    y = (rng.uniform(size=n) < expit(-1 + (x == "b") + (hours - 33) / 3)).astype(int)
    real = pd.DataFrame({"region": pd.Categorical(region), "z": z, "x": x,
                         "job": job, "hours": hours, "y": y, "note": "unused"})
    # Histogram gradient boosting (native categorical support), kept small.
    clf = HistGradientBoostingClassifier(max_iter=40, categorical_features="from_dtype")
    reg = HistGradientBoostingRegressor(max_iter=40, categorical_features="from_dtype")
    sampler = StagedSCMSampler(clf, reg, residual_cv=3).fit(
        real, "x", ["region", "z"], ["job", "hours"], "y", random_state=0)
    assert sampler.columns_ == ["region", "z", "x", "job", "hours", "y"]
    kinds = {c: sampler.mechanisms_[c]["kind"] for c in ("x", "job", "hours", "y")}
    assert kinds == {"x": "classifier", "job": "classifier", "hours": "regressor",
                     "y": "classifier"}
    stages = sampler.sample_stages(real, random_state=0)
    for s, frame in stages.items():
        assert list(frame.columns) == sampler.columns_
        assert frame.dtypes.drop("hours").equals(real.dtypes[sampler.columns_].drop("hours"))
        assert set(frame["x"]) <= {"a", "b"} and set(frame["job"]) <= {"office", "field"}
        assert set(frame["y"]) <= {0, 1}
    # The model's W mechanism keeps P(job = office | x) and the x gap in hours.
    wy = stages["WY"]
    for level in ("a", "b"):
        real_p = (real.loc[real.x == level, "job"] == "office").mean()
        assert (wy.loc[wy.x == level, "job"] == "office").mean() == pytest.approx(
            real_p, abs=0.06)
    gap = lambda f: f.loc[f.x == "b", "hours"].mean() - f.loc[f.x == "a", "hours"].mean()
    assert gap(wy) == pytest.approx(gap(real), abs=0.3)
    assert stages["all"]["y"].mean() == pytest.approx(real["y"].mean(), abs=0.05)
    res = generative_bias_decomposition(real, stages, "x", ["region", "z"],
                                        ["job", "hours"], "y", outcome_model=clf,
                                        propensity_model=clf, n_folds=2, random_state=0)
    assert (res.x0, res.x1) == ("a", "b")
    assert res.to_frame()["std_error"].between(0, 0.2).all()


BAD_CALLS = [
    (dict(stages={"Z": None}), ValueError, r"unknown stage name\(s\) \['Z'\]"),
    (dict(stages={}), ValueError, "non-empty dict"),
    (dict(stages=[("Y", None)]), ValueError, "non-empty dict"),
    (dict(stages={"Y": "frame"}), ValueError, "stage 'Y' must be a pandas DataFrame"),
    (dict(drop={"WY": ["w"]}), ValueError, r"stage 'WY' lacks the column\(s\) \['w'\]"),
    (dict(add={"all": "extra"}), ValueError, r"stage 'all' has the column\(s\) \['extra'\]"),
    (dict(Z=["nope"]), ValueError, r"\['nope'\] are not in data"),
    (dict(Y=None), ValueError, "give the outcome column Y"),
    (dict(se_method="bootstrap"), ValueError, "se_method must be one of"),
    (dict(y_pred=np.zeros(300)), TypeError, "'y_pred' is not accepted"),
    (dict(label="model"), TypeError, "'label' is not accepted"),
    (dict(flip_all=True), ValueError, "stage 'all': x1=1 is not a level"),
]


@pytest.mark.parametrize("change,error,match", BAD_CALLS)
def test_bad_input_to_the_decomposition_is_named(change, error, match):
    """(f)"""
    change = dict(change)
    real, stages = _staged(300, np.random.default_rng(9))
    stages = change.pop("stages", stages)
    for s, cols in change.pop("drop", {}).items():
        stages[s] = stages[s].drop(columns=cols)
    for s, col in change.pop("add", {}).items():
        stages[s] = stages[s].assign(**{col: 0.0})
    if change.pop("flip_all", False):
        stages["all"] = stages["all"].assign(x=0)
    kwargs = dict(X="x", Z=["z"], W=["w"], Y="y", **LINEAR)
    kwargs.update(change)
    with pytest.raises(error, match=match):
        generative_bias_decomposition(real, stages, **kwargs)


@pytest.mark.parametrize("init,fit,match", [
    (dict(), dict(Y=None), "give the outcome column Y"),
    (dict(), dict(W=["missing"]), r"\['missing'\] are not in data"),
    (dict(estimators={"z": LinearRegression()}), dict(), "bootstrap of the real rows"),
    (dict(categorical=["nope"]), dict(), r"categorical names \['nope'\]"),
    (dict(residual_cv=1), dict(), "residual_cv must be None or an integer >= 2"),
    (dict(estimators={"x": LinearRegression()}), dict(), "has no predict_proba"),
    (dict(estimators={"w": LogisticRegression()}), dict(), "needs a regressor"),
])
def test_bad_input_to_the_sampler_is_named(init, fit, match):
    real = _linear_sfm(200, np.random.default_rng(10))
    kwargs = {"X": "x", "Z": ["z"], "W": ["w"], "Y": "y", **fit}
    with pytest.raises(ValueError, match=match):
        StagedSCMSampler(LogisticRegression(), LinearRegression(), **init).fit(
            real, **kwargs)


def test_bad_sampling_calls_are_named():
    from sklearn.exceptions import NotFittedError

    real = _linear_sfm(200, np.random.default_rng(11))
    sampler = StagedSCMSampler(LogisticRegression(), LinearRegression())
    with pytest.raises(NotFittedError, match="not fitted yet"):
        sampler.sample_stage(real, "Y")
    sampler.fit(real, "x", ["z"], ["w"], "y", random_state=0)
    with pytest.raises(ValueError, match="unknown stage 'XY'"):
        sampler.sample_stage(real, "XY")
    with pytest.raises(ValueError, match=r"\['w'\] are not in data"):
        sampler.sample_stage(real.drop(columns="w"), "Y")
    with pytest.raises(ValueError, match="data must be a pandas DataFrame"):
        sampler.sample_stage(None, "WY")
    with pytest.raises(ValueError, match="n_samples is only for the 'all' stage"):
        sampler.sample_stage(real, "Y", n_samples=10)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        sampler.sample_stage(None, "all", n_samples=0)
    # Needed columns only: W and Y are not inputs of the "WY" stage.
    assert len(sampler.sample_stage(real[["x", "z"]], "WY", random_state=0)) == 200
    assert len(sampler.sample_stage(None, "all", n_samples=50)) == 50
