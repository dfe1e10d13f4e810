"""Tests of the bundled real-data loaders (Adult, German credit, Sachs).

The expected figures were measured on the bundled files and checked against
the published ones (UCI ``adult.names``: 48,842 rows, 23.93 % ``>50K``,
45,222 complete rows; UCI Statlog German credit: 1,000 rows, 700 good;
Sachs et al. 2005: 7,466 cells in 9 conditions).
"""


import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from skcausal_trust.datasets import load_adult, load_german_credit, load_sachs

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
]
ADULT_NUMERIC = [
    "age",
    "fnlwgt",
    "education-num",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
]
GERMAN_COLUMNS = [
    "checking-status",
    "duration",
    "credit-history",
    "purpose",
    "credit-amount",
    "savings",
    "employment-since",
    "installment-rate",
    "personal-status",
    "sex",
    "other-debtors",
    "residence-since",
    "property",
    "age",
    "other-installment-plans",
    "housing",
    "existing-credits",
    "job",
    "num-dependents",
    "telephone",
    "foreign-worker",
]
GERMAN_NUMERIC = [
    "duration",
    "credit-amount",
    "installment-rate",
    "residence-since",
    "age",
    "existing-credits",
    "num-dependents",
]
SACHS_PROTEINS = [
    "praf",
    "pmek",
    "plcg",
    "PIP2",
    "PIP3",
    "p44/42",
    "pakts473",
    "PKA",
    "PKC",
    "P38",
    "pjnk",
]
SACHS_CONDITIONS = {
    "cd3cd28": 853,
    "cd3cd28icam2": 902,
    "cd3cd28+aktinhib": 911,
    "cd3cd28+g0076": 723,
    "cd3cd28+psitect": 810,
    "cd3cd28+u0126": 799,
    "cd3cd28+ly": 848,
    "pma": 913,
    "b2camp": 707,
}


@pytest.fixture(scope="module")
def adult():
    return load_adult()


@pytest.fixture(scope="module")
def german():
    return load_german_credit()


@pytest.fixture(scope="module")
def sachs():
    return load_sachs()


# --------------------------------------------------------------------------
# Adult
# --------------------------------------------------------------------------


def test_adult_bunch_keys_and_shapes(adult):
    assert isinstance(adult, Bunch)
    for key in (
        "data",
        "target",
        "frame",
        "feature_names",
        "target_names",
        "DESCR",
        "sensitive_features_names",
        "categories",
    ):
        assert key in adult
    assert adult.data.shape == (48842, 14)
    assert adult.target.shape == (48842,)
    assert adult.frame.shape == (48842, 15)
    assert list(adult.data.columns) == ADULT_COLUMNS
    assert adult.feature_names == ADULT_COLUMNS
    assert list(adult.frame.columns) == ADULT_COLUMNS + ["income"]
    assert adult.target_names == ["<=50K", ">50K"]
    assert adult.sensitive_features_names == ["sex", "race"]
    # The levels the data dictionary declares (public), not the observed ones.
    assert adult.categories == {c: list(adult.data[c].cat.categories)
                                for c in adult.data.columns if c not in ADULT_NUMERIC}
    assert "Holand-Netherlands" in adult.categories["native-country"]
    assert (adult.data["native-country"] == "Holand-Netherlands").sum() == 1
    # train rows first, then test rows, index 0..n-1
    assert adult.data.index.equals(pd.RangeIndex(48842))


def test_adult_target(adult):
    y = adult.target
    assert y.name == "income"
    assert isinstance(y.dtype, pd.CategoricalDtype)
    assert list(y.cat.categories) == ["<=50K", ">50K"]
    assert not y.isna().any()  # the test labels' trailing '.' was removed
    assert y.value_counts().to_dict() == {"<=50K": 37155, ">50K": 11687}
    # original split: 7,841 / 3,846 ">50K" in adult.data / adult.test
    assert (y[:32561] == ">50K").sum() == 7841
    assert (y[32561:] == ">50K").sum() == 3846


def test_adult_missing_values(adult):
    missing = adult.data.isna().sum()
    assert missing.to_dict() == {
        **{c: 0 for c in ADULT_COLUMNS},
        "workclass": 2799,
        "occupation": 2809,
        "native-country": 857,
    }
    # adult.names: 45,222 instances once unknowns are removed
    assert len(adult.data.dropna()) == 45222
    # '?' is never left as a level
    for name in ("workclass", "occupation", "native-country"):
        assert "?" not in adult.data[name].cat.categories


def test_adult_dtypes_and_levels(adult):
    X = adult.data
    for name in ADULT_NUMERIC:
        assert X[name].dtype == np.int64, name
    for name in set(ADULT_COLUMNS) - set(ADULT_NUMERIC):
        dtype = X[name].dtype
        assert isinstance(dtype, pd.CategoricalDtype), name
        levels = list(dtype.categories)
        assert levels == sorted(levels), name
        # whitespace stripped
        assert all(level == level.strip() for level in levels), name
    assert list(X["sex"].cat.categories) == ["Female", "Male"]
    assert X["sex"].value_counts().to_dict() == {"Male": 32650, "Female": 16192}
    assert list(X["race"].cat.categories) == [
        "Amer-Indian-Eskimo",
        "Asian-Pac-Islander",
        "Black",
        "Other",
        "White",
    ]
    assert len(X["native-country"].cat.categories) == 41
    assert len(X["education"].cat.categories) == 16
    # first row of adult.data
    first = X.iloc[0]
    assert first["age"] == 39 and first["workclass"] == "State-gov"
    assert first["capital-gain"] == 2174
    # first row of adult.test (after the junk line)
    row = X.iloc[32561]
    assert row["age"] == 25 and row["occupation"] == "Machine-op-inspct"
    assert adult.target.iloc[32561] == "<=50K"


def test_adult_as_frame_false(adult):
    bunch = load_adult(as_frame=False)
    X, y = bunch.data, bunch.target
    assert isinstance(X, np.ndarray) and X.dtype == np.float64
    assert X.shape == (48842, 14)
    assert isinstance(y, np.ndarray) and y.dtype.kind == "i"
    assert set(np.unique(y)) == {0, 1}
    assert y.sum() == 11687
    assert bunch.frame is None
    assert bunch.target_names == ["<=50K", ">50K"]
    assert bunch.feature_names == ADULT_COLUMNS
    nominal = [c for c in ADULT_COLUMNS if c not in ADULT_NUMERIC]
    assert sorted(bunch.categories) == sorted(nominal)
    # missing values become NaN, per column
    n_missing = dict(zip(ADULT_COLUMNS, np.isnan(X).sum(axis=0)))
    assert n_missing["workclass"] == 2799
    assert n_missing["occupation"] == 2809
    assert n_missing["native-country"] == 857
    assert sum(n_missing.values()) == 2799 + 2809 + 857
    # codes index the levels, consistently with the DataFrame version
    for name in nominal:
        j = ADULT_COLUMNS.index(name)
        levels = bunch.categories[name]
        assert levels == list(adult.data[name].cat.categories)
        codes = X[:, j]
        decoded = pd.Series(
            [levels[int(c)] if not np.isnan(c) else np.nan for c in codes[:500]]
        )
        expected = adult.data[name].iloc[:500].astype(object).reset_index(drop=True)
        pd.testing.assert_series_equal(
            decoded, expected, check_names=False, check_dtype=False
        )
    for name in ADULT_NUMERIC:
        j = ADULT_COLUMNS.index(name)
        np.testing.assert_array_equal(X[:, j], adult.data[name].to_numpy())
    np.testing.assert_array_equal(y, (adult.target == ">50K").to_numpy())


def test_adult_return_X_y(adult):
    X, y = load_adult(return_X_y=True)
    # DataFrame.equals: the same values, missing values and dtypes (5 s
    # faster than assert_frame_equal on these categorical columns).
    assert list(X.columns) == list(adult.data.columns) and X.equals(adult.data)
    assert (X.dtypes == adult.data.dtypes).all()
    assert y.name == adult.target.name and y.dtype == adult.target.dtype
    assert y.equals(adult.target)
    X, y = load_adult(return_X_y=True, as_frame=False)
    assert isinstance(X, np.ndarray) and X.shape == (48842, 14)
    assert isinstance(y, np.ndarray) and y.shape == (48842,)


def test_adult_descr(adult):
    for text in ("CC BY 4.0", "10.24432/C5XW20", "Kohavi", "48,842"):
        assert text in adult.DESCR


# --------------------------------------------------------------------------
# German credit
# --------------------------------------------------------------------------


def test_german_bunch_and_shapes(german):
    assert isinstance(german, Bunch)
    assert german.data.shape == (1000, 21)
    assert german.frame.shape == (1000, 22)
    assert list(german.data.columns) == GERMAN_COLUMNS
    assert german.feature_names == GERMAN_COLUMNS
    assert list(german.frame.columns) == GERMAN_COLUMNS + ["credit_risk"]
    assert german.target_names == ["bad", "good"]
    assert german.sensitive_features_names == ["sex", "age"]
    # The code book's levels (public), the columns' categories.
    assert german.categories == {
        c: [str(v) for v in german.data[c].cat.categories] for c in german.data.columns
        if isinstance(german.data[c].dtype, pd.CategoricalDtype)}
    assert not german.data.isna().any().any()
    for text in ("CC BY 4.0", "10.24432/C5NC77", "Hofmann"):
        assert text in german.DESCR


def test_german_target(german):
    y = german.target
    assert y.name == "credit_risk"
    assert isinstance(y.dtype, pd.CategoricalDtype)
    assert list(y.cat.categories) == ["bad", "good"]
    assert y.value_counts().to_dict() == {"good": 700, "bad": 300}
    # first rows of german.data end with classes 1, 2, 1 (good, bad, good)
    assert y.iloc[:3].tolist() == ["good", "bad", "good"]


def test_german_dtypes_and_decoding(german):
    X = german.data
    for name in GERMAN_NUMERIC:
        assert X[name].dtype == np.int64, name
    for name in set(GERMAN_COLUMNS) - set(GERMAN_NUMERIC):
        assert isinstance(X[name].dtype, pd.CategoricalDtype), name
        # no raw code such as "A11" is left
        assert not any(str(lvl).startswith("A") and str(lvl)[1:].isdigit()
                       for lvl in X[name].cat.categories), name
    # first row: A11 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2
    #            A173 1 A192 A201 1
    first = X.iloc[0]
    assert first["checking-status"] == "... < 0 DM"
    assert first["duration"] == 6
    assert first["purpose"] == "radio/television"
    assert first["credit-amount"] == 1169
    assert first["savings"] == "unknown/ no savings account"
    assert first["employment-since"] == "... >= 7 years"
    assert first["personal-status"] == "single"
    assert first["sex"] == "male"
    assert first["age"] == 67
    assert first["telephone"] == "yes"
    assert first["foreign-worker"] == "yes"
    assert X["age"].between(19, 75).all()
    assert X["purpose"].value_counts()["radio/television"] == 280
    assert X["checking-status"].value_counts()["no checking account"] == 394
    assert X["foreign-worker"].value_counts().to_dict() == {"yes": 963, "no": 37}
    assert list(X["telephone"].cat.categories) == ["no", "yes"]
    assert list(X["foreign-worker"].cat.categories) == ["no", "yes"]
    # levels that never occur are dropped
    assert "vacation" not in " ".join(X["purpose"].cat.categories)


def test_german_sex_split(german):
    X = german.data
    assert list(X["sex"].cat.categories) == ["female", "male"]
    assert X["sex"].value_counts().to_dict() == {"male": 690, "female": 310}
    status = X["personal-status"]
    assert status.value_counts().to_dict() == {
        "single": 548,
        "divorced/separated/married": 310,
        "married/widowed": 92,
        "divorced/separated": 50,
    }
    # the only female level of attribute 9 is A92
    female = X["sex"] == "female"
    assert (status[female] == "divorced/separated/married").all()
    assert (status[~female] != "divorced/separated/married").all()


def test_german_as_frame_false_and_return_X_y(german):
    bunch = load_german_credit(as_frame=False)
    assert bunch.data.shape == (1000, 21) and bunch.data.dtype == np.float64
    assert bunch.target.dtype.kind == "i"
    assert bunch.target.sum() == 700  # 1 = good
    np.testing.assert_array_equal(bunch.target, (german.target == "good").to_numpy())
    assert bunch.frame is None
    assert bunch.categories["sex"] == ["female", "male"]
    j = GERMAN_COLUMNS.index("sex")
    assert (bunch.data[:, j] == 1).sum() == 690
    assert not np.isnan(bunch.data).any()
    X, y = load_german_credit(return_X_y=True)
    pd.testing.assert_frame_equal(X, german.data)
    pd.testing.assert_series_equal(y, german.target)
    X, y = load_german_credit(return_X_y=True, as_frame=False)
    assert X.shape == (1000, 21) and y.shape == (1000,)


# --------------------------------------------------------------------------
# Sachs
# --------------------------------------------------------------------------


def test_sachs_default(sachs):
    assert isinstance(sachs, Bunch)
    assert sachs.data.shape == (7466, 12)
    assert list(sachs.data.columns) == SACHS_PROTEINS + ["experiment"]
    assert sachs.feature_names == SACHS_PROTEINS + ["experiment"]
    assert sachs.target is None
    assert sachs.target_names == []
    assert sachs.frame.shape == (7466, 12)
    for name in SACHS_PROTEINS:
        assert sachs.data[name].dtype == np.float64, name
    assert not sachs.data.isna().any().any()
    # raw abundances, not logged: all >= 1 and strongly skewed
    values = sachs.data[SACHS_PROTEINS].to_numpy()
    assert values.min() == 1.0
    assert values.max() > 1000
    for text in ("MIT", "Sachs", "cdt", "not log-transformed"):
        assert text in sachs.DESCR


def test_sachs_conditions(sachs):
    env = sachs.environment
    assert isinstance(env, pd.Series) and env.name == "experiment"
    assert isinstance(env.dtype, pd.CategoricalDtype)
    assert list(env.cat.categories) == list(SACHS_CONDITIONS)  # file order
    assert env.value_counts(sort=False).to_dict() == SACHS_CONDITIONS
    pd.testing.assert_series_equal(env, sachs.data["experiment"])
    # rows are the condition files concatenated in order
    codes = env.cat.codes.to_numpy()
    assert (np.diff(codes) >= 0).all()
    assert set(sachs.interventions) == set(SACHS_CONDITIONS)
    assert all(isinstance(v, str) and v for v in sachs.interventions.values())
    assert "PKC" in sachs.interventions["pma"]
    assert "PKA" in sachs.interventions["b2camp"]


def test_sachs_consensus_edges(sachs):
    edges = sachs.consensus_edges
    assert isinstance(edges, pd.DataFrame)
    assert list(edges.columns) == ["cause", "effect"]
    assert edges.shape == (18, 2)
    assert not edges.duplicated().any()
    endpoints = set(edges["cause"]) | set(edges["effect"])
    assert endpoints <= set(sachs.data.columns)
    assert endpoints == set(SACHS_PROTEINS)
    assert "experiment" not in endpoints
    pairs = set(map(tuple, edges.to_numpy()))
    assert ("praf", "pmek") in pairs and ("pmek", "p44/42") in pairs
    assert (edges["cause"] != edges["effect"]).all()


def test_sachs_target(sachs):
    bunch = load_sachs(target="PKA")
    assert bunch.target.name == "PKA"
    assert bunch.target.dtype == np.float64
    assert bunch.data.shape == (7466, 11)
    assert "PKA" not in bunch.data.columns
    assert "experiment" in bunch.data.columns
    assert bunch.feature_names == [c for c in SACHS_PROTEINS if c != "PKA"] + [
        "experiment"
    ]
    assert bunch.target_names == ["PKA"]
    assert bunch.frame.shape == (7466, 12)
    pd.testing.assert_series_equal(bunch.target, sachs.data["PKA"])
    X, y = load_sachs(target="p44/42", return_X_y=True)
    assert X.shape == (7466, 11) and y.name == "p44/42"


def test_sachs_as_frame_false(sachs):
    bunch = load_sachs(as_frame=False, target="PKC")
    assert isinstance(bunch.data, np.ndarray) and bunch.data.dtype == np.float64
    assert bunch.data.shape == (7466, 11)
    assert isinstance(bunch.target, np.ndarray) and bunch.target.shape == (7466,)
    np.testing.assert_array_equal(bunch.target, sachs.data["PKC"].to_numpy())
    assert bunch.frame is None
    assert bunch.categories == {"experiment": list(SACHS_CONDITIONS)}
    codes = bunch.data[:, -1]
    assert np.bincount(codes.astype(int)).tolist() == list(SACHS_CONDITIONS.values())
    assert list(bunch.environment[:1]) == ["cd3cd28"]
    assert list(bunch.environment[-1:]) == ["b2camp"]
    X, y = load_sachs(as_frame=False, target="PKC", return_X_y=True)
    assert X.shape == (7466, 11) and y.shape == (7466,)


def test_sachs_return_X_y_without_target_errors():
    with pytest.raises(ValueError, match="target"):
        load_sachs(return_X_y=True)


@pytest.mark.parametrize("bad", ["pkc", "Akt", "experiment", "", 3])
def test_sachs_unknown_target_errors(bad):
    with pytest.raises(ValueError, match="Unknown target") as excinfo:
        load_sachs(target=bad)
    message = str(excinfo.value)
    assert repr(bad) in message
    for name in SACHS_PROTEINS:
        assert name in message
