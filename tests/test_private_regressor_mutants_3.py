"""Tests that kill surviving mutants of ``DPCausalRegressor._dask_statistics``
(issue 17, ``benchmarks/run_mutation.py --modules private_regressor``): the
checks of a dask fit's arguments before any row is read.

One causal model, the same answer on every route: each bad argument that
both routes can express (column labels, the environment column, the
environments a comparison needs) is refused on dask with the in-memory
route's own message; the checks only a dask collection needs (the kind and
dtype of ``y``, the width of ``environments``) name the argument and its
kind. The accepted spellings of one column of environments (a 1-D array, an
(n, 1) array, a Series, a one-column DataFrame) release the same
statistics as the in-memory fit.
"""

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from skcausal_trust.privacy import DPCausalRegressor, _regressor

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

N = 90
CHUNKS = (40, 50)
LEVELS = [0, 1, 2]
BOUNDS = {"feature_bound": 3.0, "target_bound": 4.0}
# dp-accounting's calibration at epsilon = 1e9 takes a log of 0 on the way.
pytestmark = pytest.mark.filterwarnings(
    "ignore:divide by zero encountered in log1p:RuntimeWarning")


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 3, N)
    a = rng.normal(size=N) + 0.5 * codes
    b = rng.normal(size=N)
    return pd.DataFrame({"a": a, "b": b, "e": codes,
                         "t": a - 0.5 * b + 0.3 * rng.normal(size=N)})


def _dask(data):
    """The same rows in two partitions, as dask's counterpart of ``data``."""
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return dd.from_pandas(data, npartitions=2, sort=False)
    data = np.asarray(data)
    return da.from_array(data, chunks=(CHUNKS,) + data.shape[1:])


def _released_without_noise(reg, *args, **kwargs):
    with mock.patch.object(_regressor, "release_gaussian",
                           lambda values, *a, **k: np.array(values, dtype=float)):
        reg.fit(*args, **kwargs)
    return reg.released_statistics_


def _refusal(fit):
    with pytest.raises(ValueError) as error:
        fit()
    return str(error.value)


# --------------------------------------------------------------------------
# Bad arguments both routes can express: the in-memory route's message
# --------------------------------------------------------------------------
#: name: (parameters, X's columns (None: labels 0 and 'a'), environments given)
SAME_REFUSAL = {
    "column labels neither strings nor positions": ({}, None, False),
    "environment column unknown": (
        {"gamma": 2.0, "environment_levels": LEVELS, "environment_column": "zz"},
        ["a", "e"], False),
    "environment column is every column": (
        {"gamma": 2.0, "environment_levels": LEVELS, "environment_column": "e"},
        ["e"], False),
    "environment given twice": (
        {"gamma": 2.0, "environment_levels": LEVELS, "environment_column": "e"},
        ["a", "e"], True),
    "a comparison without environments": (
        {"gamma": 2.0, "environment_levels": LEVELS}, ["a", "b"], False),
    "icp without environments": (
        {"causal_features": "icp", "environment_levels": LEVELS}, ["a", "b"], False),
    "one declared level": ({"gamma": 2.0, "environment_levels": [0]}, ["a", "b"], True),
    "icp over more than 12 predictors": (
        {"causal_features": "icp", "environment_levels": LEVELS},
        [f"x{j}" for j in range(13)], True),
}


@pytest.mark.parametrize("case", list(SAME_REFUSAL))
def test_dask_refuses_bad_arguments_with_the_in_memory_message(dask_sync, frame, case):
    params, columns, with_environments = SAME_REFUSAL[case]
    if columns and columns[0] == "x0":  # thirteen predictors
        X = pd.DataFrame(np.tile(frame[["a", "b"]].to_numpy(), 7)[:, :13], columns=columns)
    else:
        X = frame[columns] if columns else frame[["a", "b"]].set_axis([0, "a"], axis=1)
    messages = []
    for route in (lambda v: v, _dask):
        kwargs = {"environments": route(frame["e"])} if with_environments else {}
        reg = DPCausalRegressor(**BOUNDS, **params)
        messages.append(_refusal(lambda: reg.fit(route(X), route(frame["t"]), **kwargs)))
        assert not hasattr(reg, "coef_") and not hasattr(reg, "released_statistics_")
    assert messages[0] == messages[1]
    expected = {
        "column labels neither strings nor positions": "column labels [0, 'a'] are not "
                                                        "all strings",
        "environment column unknown": "environment_column='zz' is not a column of X",
        "environment column is every column": "environment_column='e' names every column",
        "environment given twice": "either as environments or through environment_column",
        "a comparison without environments": "need environments",
        "icp without environments": "need environments",
        "one declared level": "environment_levels=[0] declares one level",
        "icp over more than 12 predictors": "tests every subset of the 13 predictors",
    }[case]
    assert expected in messages[1]


# --------------------------------------------------------------------------
# Checks only a dask collection needs
# --------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["frame", "2-D array", "string", "complex", "datetime"])
def test_dask_y_must_be_one_column_of_numbers(dask_sync, frame, case):
    X = _dask(frame[["a", "b"]])
    bad = {
        "frame": lambda: _dask(frame[["t"]]),
        "2-D array": lambda: _dask(frame[["t"]].to_numpy()),
        "string": lambda: _dask(frame["t"].astype(str).astype("string")),
        "complex": lambda: _dask(frame["t"].to_numpy().astype(complex)),
        "datetime": lambda: _dask(pd.Series(pd.date_range("2020", periods=N))),
    }[case]()
    if case == "2-D array":
        X = _dask(frame[["a", "b"]].to_numpy())
    reg = DPCausalRegressor(**BOUNDS)
    message = _refusal(lambda: reg.fit(X, bad))
    if case in ("frame", "2-D array"):
        kind = "DataFrame" if case == "frame" else "Array"
        assert message.startswith(f"y is a dask {kind} of shape")
        assert "expected a 1-D dask array or a dask Series" in message
    elif case == "datetime":  # the message of every estimator (tests/test_date_target.py)
        assert message.startswith(f"y has date or duration values (dtype {bad.dtype})")
    else:
        assert message.startswith(f"y has dtype {bad.dtype}; expected numbers")
    assert not hasattr(reg, "coef_")


@pytest.mark.parametrize("dtype", [bool, object, np.int32])
def test_dask_y_of_booleans_objects_or_integers_is_read_as_in_memory(dask_sync, frame,
                                                                       dtype):
    # Arrays: dask stores a Series of objects as strings.
    X = frame[["a", "b"]].to_numpy()
    y = (frame["t"] > 0).to_numpy() if dtype is bool else (
        frame["t"].round().to_numpy().astype(dtype))
    expected = _released_without_noise(DPCausalRegressor(**BOUNDS), X, y)
    got = _released_without_noise(DPCausalRegressor(**BOUNDS), _dask(X), _dask(y))
    assert got.dtype == expected.dtype == np.float64
    assert_array_equal(got, expected)


@pytest.mark.parametrize("spelling", ["2-column array", "2-column frame"])
def test_dask_environments_must_hold_one_column(dask_sync, frame, spelling):
    environments = (_dask(frame[["e", "e"]].to_numpy()) if spelling == "2-column array"
                    else _dask(frame[["e", "a"]]))
    X, y = ((_dask(frame[["a", "b"]].to_numpy()), _dask(frame["t"].to_numpy()))
            if spelling == "2-column array" else (_dask(frame[["a", "b"]]),
                                                  _dask(frame["t"])))
    reg = DPCausalRegressor(**BOUNDS, gamma=2.0, environment_levels=LEVELS)
    message = _refusal(lambda: reg.fit(X, y, environments=environments))
    kind = "Array" if spelling == "2-column array" else "DataFrame"
    assert message == ("environments must hold one column: a 1-D dask array, a dask "
                       f"Series or a one-column dask DataFrame; got a dask {kind}.")
    assert not hasattr(reg, "coef_")


@pytest.mark.parametrize("spelling", ["(n, 1) array", "one-column frame", "series"])
def test_every_spelling_of_one_column_of_environments_releases_the_same(dask_sync, frame,
                                                                        spelling):
    params = {**BOUNDS, "gamma": 2.0, "environment_levels": LEVELS}
    expected = _released_without_noise(DPCausalRegressor(**params), frame[["a", "b"]],
                                       frame["t"], environments=frame["e"])
    if spelling == "(n, 1) array":
        args = (_dask(frame[["a", "b"]].to_numpy()), _dask(frame["t"].to_numpy()))
        environments = _dask(frame[["e"]].to_numpy())
    else:
        args = (_dask(frame[["a", "b"]]), _dask(frame["t"]))
        environments = _dask(frame[["e"]] if spelling == "one-column frame" else frame["e"])
    got = _released_without_noise(DPCausalRegressor(**params), *args,
                                  environments=environments)
    assert got.shape == (len(LEVELS),) + expected.shape[1:]
    assert_array_equal(got, expected)


def test_dask_environment_column_by_name_is_named_in_errors(dask_sync, frame):
    """The environment column of a dask frame is named as in memory, by its
    label, when its rows are refused."""
    bad = frame.assign(e=frame["e"].astype(float))
    bad.loc[7, "e"] = np.nan
    params = {**BOUNDS, "gamma": 2.0, "environment_levels": LEVELS,
              "environment_column": "e"}
    messages = [
        _refusal(lambda: DPCausalRegressor(**params).fit(route(bad[["a", "e", "b"]]),
                                                         route(bad["t"])))
        for route in (lambda v: v, _dask)]
    assert messages[1].startswith("X['e'] (environment_column) has missing values")
    # In memory the count is public to the data holder; on dask it is not read.
    assert messages[0].startswith("X['e'] (environment_column) has 1 missing value(s)")


def test_dask_refit_on_other_columns_starts_afresh_as_in_memory(dask_sync, frame):
    """A second fit reads the new schema (scikit-learn's ``reset=True``): a
    fit on two columns, then on three, gives the three-column fit."""
    reg = DPCausalRegressor(**BOUNDS)
    _released_without_noise(reg, _dask(frame[["a", "b"]]), _dask(frame["t"]))
    got = _released_without_noise(reg, _dask(frame[["a", "b", "e"]]), _dask(frame["t"]))
    assert reg.n_features_in_ == 3
    assert list(reg.feature_names_in_) == ["a", "b", "e"]
    expected = _released_without_noise(DPCausalRegressor(**BOUNDS), frame[["a", "b", "e"]],
                                       frame["t"])
    assert_array_equal(got, expected)


# --------------------------------------------------------------------------
# _encode_fit in memory
# --------------------------------------------------------------------------
def test_an_array_with_a_text_column_is_refused_naming_it(frame):
    X = np.column_stack([frame["a"].to_numpy(), np.where(frame["e"] > 0, "u", "v")])
    reg = DPCausalRegressor(**BOUNDS)
    message = _refusal(lambda: reg.fit(X.astype(object), frame["t"]))
    assert message.startswith("X has non-numeric (categorical or string) columns ['x1']")


def test_undeclared_categorical_levels_come_from_the_dtype_in_its_order(frame):
    """A categorical column's levels, when not declared, are its dtype's
    categories, in their order, unused ones included (a leak, said): not
    the values seen, sorted."""
    from skcausal_trust.exceptions import PrivacyLeakWarning

    job = pd.Categorical(np.array(["x", "y", "z"])[frame["e"].to_numpy()],
                         categories=["z", "w", "x", "y"])
    X = pd.DataFrame({"a": frame["a"], "job": job})
    reg = DPCausalRegressor(**BOUNDS)
    with pytest.warns(PrivacyLeakWarning, match="levels of 'job' were taken from the data"):
        statistics = _released_without_noise(reg, X, frame["t"])
    assert reg.predictors_ == ["a", "job_z", "job_w", "job_x", "job_y", "job_nan"]
    assert reg.categories_ == {"job": ["z", "w", "x", "y"]}
    assert reg.epsilon_ == np.inf
    assert reg.privacy_leaks_ == ["the levels of 'job' were taken from the data "
                                  "(declare them in categories)"]
    # The same release as with those levels declared, in that order.
    declared = DPCausalRegressor(**BOUNDS, categories={"job": ["z", "w", "x", "y"]})
    assert_array_equal(statistics, _released_without_noise(declared, X, frame["t"]))


def test_undeclared_levels_of_mixed_types_are_sorted_as_text(frame):
    """An object column's levels, when not declared, are the values seen,
    sorted by their text (numbers and strings do not compare otherwise)."""
    from skcausal_trust.exceptions import PrivacyLeakWarning

    values = np.array([10, 2, "x"], dtype=object)[frame["e"].to_numpy()]
    X = pd.DataFrame({"a": frame["a"], "job": pd.Series(values, dtype=object)})
    reg = DPCausalRegressor(**BOUNDS)
    with pytest.warns(PrivacyLeakWarning, match="levels of 'job' were taken from the data"):
        _released_without_noise(reg, X, frame["t"])
    assert reg.categories_ == {"job": [10, 2, "x"]}
    assert reg.predictors_ == ["a", "job_10", "job_2", "job_x", "job_nan"]
