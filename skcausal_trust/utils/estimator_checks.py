"""The plugin's own estimator checks: per-row attributes on every route.

scikit-learn's :func:`~sklearn.utils.estimator_checks.parametrize_with_checks`
never passes sensitive features or environments. These checks do, for every
estimator that takes one (``_row_attribute``, set by
:class:`~skcausal_trust.base.SensitiveFeaturesMixin` and
:class:`~skcausal_trust.base.EnvironmentsMixin`), with data the estimator
can learn from:

- the routed attribute and the column route (by name and by position) fit
  the same model;
- in a Pipeline, cross_validate and GridSearchCV, each fold's fit gets its
  own rows' values (metadata routing), and the column route works with any
  scorer without routing;
- the attribute is a label whatever its dtype (strings, integers, floats,
  categories give the same model);
- without the attribute the documented fallback warns its class;
- bad attribute values (missing, wrong length, both routes, an unknown or
  out-of-range column, a single level where levels are compared), a date
  or duration column in ``X`` and, where ``y`` is read as numbers, a date
  or duration target raise a ``ValueError`` that names the source, and a
  failed fit leaves the estimator as it was;
- integer sample weights equal repeated rows, the attribute included;
- a fitted estimator pickles.

Use :func:`parametrize_with_plugin_checks` in a test module, as
``tests/test_common.py`` does with :func:`~skcausal_trust.utils.discovery.all_estimators`.
"""

import pickle
import warnings
from functools import partial

import numpy as np
import pandas as pd

__all__ = ["check_plugin_estimator", "parametrize_with_plugin_checks", "plugin_checks"]

#: Parameters that make an estimator use its attribute where its defaults
#: would ignore it (the private regressor pools environments at gamma=1),
#: and make randomised estimators reproducible for comparisons.
CHECK_PARAMS = {
    "DPCausalRegressor": {"gamma": 2.0, "random_state": 0, "feature_bound": 10.0,
                          "target_bound": 10.0},
}
N_ROWS = 90


def _spec(estimator):
    return getattr(estimator, "_row_attribute", None)


def _dataset(estimator):
    """``X`` (DataFrame), ``y`` and the attribute (a Series named ``"A"``
    for sensitive attributes, ``"site"`` for environments)."""
    from sklearn.base import is_classifier

    from ..base import SENSITIVE
    from ..datasets import make_counterfactual_classification, make_invariant_regression

    if _spec(estimator) is SENSITIVE:
        X, y, a, scm = make_counterfactual_classification(N_ROWS, 4, random_state=0)
        if not is_classifier(estimator):
            rng = np.random.default_rng(0)
            y = X.to_numpy() @ np.array([1.0, -0.5, 0.3, 0.8]) + rng.normal(size=N_ROWS)
        attribute = pd.Series(np.asarray(a, dtype=int), name="A")
        return X, y, attribute
    X, y, env, _ = make_invariant_regression(N_ROWS // 3, 3, n_parents=2, random_state=0)
    X = X.iloc[:, :4].reset_index(drop=True)
    return X, np.asarray(y, dtype=float), pd.Series(np.asarray(env), name="site")


def _configured(estimator):
    from sklearn.base import clone

    est = clone(estimator)
    params = {k: v for k, v in CHECK_PARAMS.get(type(est).__name__, {}).items()
              if k in est.get_params()}
    return est.set_params(**params)


def _with_column(X, attribute):
    return pd.concat([X, attribute.rename(attribute.name)], axis=1)


def _output(est, X, **kwargs):
    if hasattr(est, "predict_proba"):
        return np.asarray(est.predict_proba(X))
    if hasattr(est, "predict"):
        return np.asarray(est.predict(X), dtype=float)
    return np.asarray(est.transform(X, **kwargs), dtype=float)


def _fit(est, X, y, spec, attribute=None, **kwargs):
    fit_kwargs = dict(kwargs)
    if attribute is not None:
        fit_kwargs[spec.values] = attribute
    return est.fit(X, y, **fit_kwargs)


def _transform_kwargs(est, spec, attribute):
    """A transformer that needs the attribute again at transform gets it."""
    import inspect

    if hasattr(est, "predict") or attribute is None:
        return {}
    if spec.values not in inspect.signature(est.transform).parameters:
        return {}
    return {spec.values: attribute}


def check_routes_agree(name, estimator):
    """Routed values, a column by name and a column by position give the
    same fitted model."""
    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    routed = _fit(_configured(estimator), X, y, spec, attribute)
    expected = _output(routed, X, **_transform_kwargs(routed, spec, attribute))
    Xa = _with_column(X, attribute)
    for column in [attribute.name, Xa.shape[1] - 1, -1]:
        est = _configured(estimator).set_params(**{spec.ids: column})
        est.fit(Xa, y)
        got = _output(est, Xa)
        np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9,
                                   err_msg=f"{name}: {spec.ids}={column!r}")
        assert est.n_features_in_ == Xa.shape[1]


def check_attribute_is_a_label(name, estimator):
    """Strings, integers, floats and categories of the same labels fit the
    same model, on both routes."""
    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    codes = pd.Series(pd.factorize(attribute, sort=True)[0], name=attribute.name)
    variants = {
        "int": codes,
        "float": codes.astype(float),
        "str": codes.map(lambda c: f"level {c}"),
        "category": codes.map(lambda c: f"level {c}").astype("category"),
    }
    reference = None
    for kind, values in variants.items():
        for route in ("routed", "column"):
            est = _configured(estimator)
            if route == "routed":
                _fit(est, X, y, spec, values)
                out = _output(est, X, **_transform_kwargs(est, spec, values))
            else:
                Xa = _with_column(X, values)
                est.set_params(**{spec.ids: values.name}).fit(Xa, y)
                out = _output(est, Xa)
            if reference is None:
                reference = out
            np.testing.assert_allclose(out, reference, rtol=1e-7, atol=1e-9,
                                       err_msg=f"{name}: {kind} labels, {route}")


def check_pipeline_routing_slices_per_fold(name, estimator):
    """Under metadata routing, cross_validate gives each fold's fit its own
    rows' values (a manual fit on the training rows agrees)."""
    import sklearn
    from sklearn.model_selection import KFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    if not hasattr(estimator, "predict"):
        return  # transformers are checked on the column route below
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler().set_output(transform="pandas"),
                             _configured(estimator))
        result = cross_validate(pipe, X, y, cv=cv, params={spec.values: attribute},
                                return_estimator=True, return_indices=True,
                                error_score="raise")
    for k, train in enumerate(result["indices"]["train"]):
        manual = make_pipeline(StandardScaler().set_output(transform="pandas"),
                               _configured(estimator))
        step = manual.steps[-1][0]
        manual.fit(X.iloc[train], y[train],
                   **{f"{step}__{spec.values}": attribute.iloc[train]})
        np.testing.assert_allclose(
            _output(result["estimator"][k], X), _output(manual, X), rtol=1e-7, atol=1e-9,
            err_msg=f"{name}: fold {k}")


def check_column_route_in_grid_search(name, estimator):
    """The column route works in GridSearchCV without routing, with a
    scorer that calls predict (or transform) with X alone: finite scores."""
    from sklearn.dummy import DummyRegressor
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline

    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    Xa = _with_column(X, attribute)
    est = _configured(estimator).set_params(**{spec.ids: attribute.name})
    if not hasattr(est, "predict"):
        # The scorer calls predict with X alone, so transform runs without
        # any routed value; the pipeline's end needs no particular column.
        est = make_pipeline(est, DummyRegressor())
        y = np.asarray(y, dtype=float)
    param = [k for k in est.get_params() if k.endswith("fit_intercept")][:1]
    grid = {param[0]: [True, False]} if param else {}
    scoring = "accuracy" if hasattr(est, "predict_proba") else "neg_mean_squared_error"
    search = GridSearchCV(est, grid, cv=KFold(3, shuffle=True, random_state=0),
                          scoring=scoring).fit(Xa, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)), f"{name}: scores {scores}"
    search.predict(Xa)


def check_fallback_warns(name, estimator):
    """Without the attribute (as scikit-learn's checks fit), an estimator
    that uses it either falls back to its documented behaviour and warns its
    class, or refuses with a ValueError that names the attribute; it never
    pretends."""
    from ..base import SENSITIVE
    from ..exceptions import NoEnvironmentsWarning, NoSensitiveFeaturesWarning

    spec = _spec(estimator)
    X, y, _ = _dataset(estimator)
    category = NoSensitiveFeaturesWarning if spec is SENSITIVE else NoEnvironmentsWarning
    est = _configured(estimator)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X, y)
        except ValueError as exc:
            assert spec.values in str(exc), (
                f"{name} fitted without {spec.values} raised without naming it: {exc}")
            return
    assert any(issubclass(w.category, category) for w in caught), (
        f"{name} fitted without {spec.values} did not warn {category.__name__}")
    _output(est, X)


def _bad_inputs(estimator):
    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    Xa = _with_column(X, attribute)
    missing = attribute.astype(object).copy()
    missing.iloc[[3, 7]] = np.nan
    column_missing = Xa.copy()
    column_missing[attribute.name] = missing
    single = pd.Series(np.zeros(len(y), dtype=int), name=attribute.name)
    dates = pd.Series(pd.date_range("2020-01-01", periods=len(y), freq="D"), index=X.index)
    cases = {
        "missing": ({}, (X, y), {spec.values: missing},
                    rf"^{spec.values} has 2 missing value"),
        "missing in the column": ({spec.ids: attribute.name}, (column_missing, y), {},
                                  rf"^X\['{attribute.name}'\] \({spec.ids}\) has 2 "
                                  "missing value"),
        "wrong length": ({}, (X, y), {spec.values: attribute.iloc[:-1]},
                         rf"^{spec.values} has {len(y) - 1} rows but X has {len(y)}"),
        "both routes": ({spec.ids: attribute.name}, (Xa, y), {spec.values: attribute},
                        rf"either as {spec.values} or through {spec.ids}, not both"),
        "unknown column": ({spec.ids: "nope"}, (Xa, y), {},
                           rf"^{spec.ids}='nope' is not a column of X; its columns"),
        "position out of range": ({spec.ids: 99}, (Xa, y), {},
                                  rf"^{spec.ids}=99 is out of range"),
        "single level": ({}, (X, y), {spec.values: single},
                         rf"^{spec.values} has a single"),
        "single level in the column": ({spec.ids: attribute.name},
                                       (_with_column(X, single), y), {},
                                       rf"^X\['{attribute.name}'\] \({spec.ids}\) has a "
                                       "single"),
        "no other column": ({spec.ids: attribute.name}, (attribute.to_frame(), y), {},
                            rf"^{spec.ids}='{attribute.name}' names every column of X"),
        # numpy reads dates and durations as nanoseconds: refused by name.
        "a date column": ({}, (X.assign(when=dates), y), {spec.values: attribute},
                          r"^X has date or duration columns \['when'\]"),
        "a duration column": ({}, (X.assign(when=dates - dates[0]), y),
                              {spec.values: attribute},
                              r"^X has date or duration columns \['when'\]"),
    }
    if _reads_target_as_numbers(estimator):
        # The same for a target read as numbers (a regressor's, ICP's).
        cases["a date target"] = ({}, (X, dates), {spec.values: attribute},
                                  r"^y has date or duration values \(dtype datetime64")
        cases["a duration target"] = ({}, (X, (dates - dates[0]).to_numpy()),
                                      {spec.values: attribute},
                                      r"^y has date or duration values \(dtype timedelta64")
    return cases


def _reads_target_as_numbers(estimator):
    """Whether ``fit`` needs ``y`` and reads it as numbers (not class labels)."""
    from sklearn.base import is_classifier

    return (not is_classifier(estimator)
            and estimator.__sklearn_tags__().target_tags.required)


def check_bad_attribute_values(name, estimator):
    """Bad attribute values raise a ValueError naming their source, and the
    failed fit leaves a fresh estimator unfitted and a fitted one as it was."""
    import re

    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    fitted = _fit(_configured(estimator), X, y, spec, attribute)
    before = _output(fitted, X, **_transform_kwargs(fitted, spec, attribute))
    for case, (params, args, kwargs, pattern) in _bad_inputs(estimator).items():
        fresh = _configured(estimator).set_params(**params)
        try:
            fresh.fit(*args, **kwargs)
        except ValueError as exc:
            assert re.search(pattern, str(exc)), (
                f"{name}, {case}: message {str(exc)!r} does not match {pattern!r}")
        else:
            raise AssertionError(f"{name}, {case}: fit did not raise ValueError")
        assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")], (
            f"{name}, {case}: a failed fit left fitted attributes")
        refit = pickle.loads(pickle.dumps(fitted)).set_params(**params)
        try:
            refit.fit(*args, **kwargs)
        except ValueError:
            pass
        if not params:
            np.testing.assert_array_equal(
                _output(refit, X, **_transform_kwargs(refit, spec, attribute)), before,
                err_msg=f"{name}, {case}: a failed refit changed the fitted model")


def check_sample_weight_equals_repeated_rows(name, estimator):
    """Integer weights equal repeated rows, with the attribute given (so
    every component that sees the weights, the causal model included, must
    use them)."""
    import inspect

    if "sample_weight" not in inspect.signature(estimator.fit).parameters:
        return
    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    weights = np.random.default_rng(1).integers(0, 3, size=len(y))
    weights[:4] = [1, 2, 0, 2]
    rows = np.repeat(np.arange(len(y)), weights)
    weighted = _fit(_configured(estimator), X, y, spec, attribute, sample_weight=weights)
    repeated = _fit(_configured(estimator), X.iloc[rows], y[rows], spec,
                    attribute.iloc[rows])
    kwargs = _transform_kwargs(weighted, spec, attribute)
    np.testing.assert_allclose(_output(weighted, X, **kwargs),
                               _output(repeated, X, **kwargs), rtol=1e-6, atol=1e-7,
                               err_msg=f"{name}: weights against repeated rows")


def check_pickle_round_trip(name, estimator):
    """A fitted estimator (with its attribute) pickles and predicts alike."""
    spec = _spec(estimator)
    X, y, attribute = _dataset(estimator)
    est = _fit(_configured(estimator), X, y, spec, attribute)
    restored = pickle.loads(pickle.dumps(est))
    kwargs = _transform_kwargs(est, spec, attribute)
    np.testing.assert_array_equal(_output(restored, X, **kwargs), _output(est, X, **kwargs))


_CHECKS = [
    check_routes_agree,
    check_attribute_is_a_label,
    check_pipeline_routing_slices_per_fold,
    check_column_route_in_grid_search,
    check_fallback_warns,
    check_bad_attribute_values,
    check_sample_weight_equals_repeated_rows,
    check_pickle_round_trip,
]


def plugin_checks(estimator):
    """Yield the plugin's checks for ``estimator`` (none if it takes no
    per-row attribute), each a callable ``check(estimator)``."""
    if _spec(estimator) is None:
        return
    name = type(estimator).__name__
    for check in _CHECKS:
        yield partial(_quietly, check, name)


def _quietly(check, name, estimator):
    from ..exceptions import NoEnvironmentsWarning, NoSensitiveFeaturesWarning, PrivacyLeakWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        if check is not check_fallback_warns:
            warnings.simplefilter("ignore", NoSensitiveFeaturesWarning)
            warnings.simplefilter("ignore", NoEnvironmentsWarning)
        check(name, estimator)


def check_plugin_estimator(estimator):
    """Run every plugin check on ``estimator``; raise on the first failure."""
    for check in plugin_checks(estimator):
        check(estimator)


def parametrize_with_plugin_checks(estimators):
    """A pytest ``parametrize`` decorator over (estimator, check) pairs, with
    ids ``"<Estimator>-<check>"``.

    Parameters
    ----------
    estimators : list of estimator instances

    Returns
    -------
    decorator : callable
    """
    import pytest

    cases, ids = [], []
    for estimator in estimators:
        for check in plugin_checks(estimator):
            cases.append((estimator, check))
            ids.append(f"{type(estimator).__name__}-{check.args[0].__name__}")
    return pytest.mark.parametrize("estimator, check", cases, ids=ids)
