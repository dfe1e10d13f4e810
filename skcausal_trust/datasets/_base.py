"""Loaders for the real data sets bundled with skcausal_trust.

The raw files live in ``skcausal_trust/datasets/data`` (compressed, exactly as
distributed, see each loader's ``DESCR`` for provenance and licence) and the
descriptions in ``skcausal_trust/datasets/descr``. Both are read with
:mod:`importlib.resources`, so the loaders also work from a zipped install.

The loaders follow the conventions of :func:`sklearn.datasets.load_iris` and
:func:`sklearn.datasets.fetch_openml`: they return a :class:`~sklearn.utils.Bunch`
(or ``(data, target)`` with ``return_X_y=True``); with ``as_frame=True`` the
data is a :class:`pandas.DataFrame` with ``category`` columns for nominal
attributes, and with ``as_frame=False`` it is a float :class:`numpy.ndarray`
holding the ordinal codes of those columns (``NaN`` for missing values), their
levels being given in the ``categories`` key.
"""

# Authors: skcausal_trust developers
# License: BSD 3 clause

import gzip
import json
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = ["load_adult", "load_german_credit", "load_sachs"]

DATA_MODULE = "skcausal_trust.datasets"
_DATA_DIR = "data"
_DESCR_DIR = "descr"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _data_path(file_name):
    """Traversable pointing at a bundled data file."""
    return resources.files(DATA_MODULE).joinpath(_DATA_DIR, file_name)


def _load_descr(file_name):
    """Read a bundled ``.rst`` description (UTF-8)."""
    path = resources.files(DATA_MODULE).joinpath(_DESCR_DIR, file_name)
    return path.read_text(encoding="utf-8")


def _read_csv(file_name, **kwargs):
    """``pandas.read_csv`` on a bundled file (gzip inferred from the name)."""
    compression = "gzip" if file_name.endswith(".gz") else None
    with _data_path(file_name).open("rb") as f:
        return pd.read_csv(f, compression=compression, engine="c", **kwargs)


def _sorted_categorical(values):
    """Categorical of ``values`` whose categories are the sorted observed levels."""
    levels = sorted(values.dropna().unique())
    return pd.Categorical(values, categories=levels)


def _frame_to_numpy(X):
    """Float array of ``X`` with ordinal codes for the categorical columns.

    Missing values (numeric ``NaN`` or categorical code ``-1``) become ``NaN``.
    Returns the array and ``{column: list of levels}`` for the categorical
    columns, as :func:`sklearn.datasets.fetch_openml` does.
    """
    out = np.empty(X.shape, dtype=np.float64)
    categories = {}
    for j, name in enumerate(X.columns):
        column = X[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
            categories[name] = [str(level) for level in column.cat.categories]
        else:
            out[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return out, categories


def _integer_or_float(column):
    """int64 if ``column`` has no missing value, float64 otherwise."""
    if column.isna().any():
        return column.astype(np.float64)
    return column.astype(np.int64)


# --------------------------------------------------------------------------
# Adult
# --------------------------------------------------------------------------

_ADULT_FEATURES = [
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
_ADULT_NUMERIC = [
    "age",
    "fnlwgt",
    "education-num",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
]
_ADULT_NOMINAL = [c for c in _ADULT_FEATURES if c not in _ADULT_NUMERIC]
#: Levels of the nominal columns as the data dictionary (``adult.names``)
#: declares them: public, whatever the rows hold (``Holand-Netherlands``
#: has one row). The loaded categories are these levels, sorted.
_ADULT_LEVELS = {
    'workclass': [
        'Private', 'Self-emp-not-inc', 'Self-emp-inc', 'Federal-gov', 'Local-gov',
        'State-gov', 'Without-pay', 'Never-worked',
    ],
    'education': [
        'Bachelors', 'Some-college', '11th', 'HS-grad', 'Prof-school', 'Assoc-acdm',
        'Assoc-voc', '9th', '7th-8th', '12th', 'Masters', '1st-4th', '10th',
        'Doctorate', '5th-6th', 'Preschool',
    ],
    'marital-status': [
        'Married-civ-spouse', 'Divorced', 'Never-married', 'Separated', 'Widowed',
        'Married-spouse-absent', 'Married-AF-spouse',
    ],
    'occupation': [
        'Tech-support', 'Craft-repair', 'Other-service', 'Sales', 'Exec-managerial',
        'Prof-specialty', 'Handlers-cleaners', 'Machine-op-inspct', 'Adm-clerical',
        'Farming-fishing', 'Transport-moving', 'Priv-house-serv', 'Protective-serv',
        'Armed-Forces',
    ],
    'relationship': [
        'Wife', 'Own-child', 'Husband', 'Not-in-family', 'Other-relative', 'Unmarried',
    ],
    'race': [
        'White', 'Asian-Pac-Islander', 'Amer-Indian-Eskimo', 'Other', 'Black',
    ],
    'sex': [
        'Female', 'Male',
    ],
    'native-country': [
        'United-States', 'Cambodia', 'England', 'Puerto-Rico', 'Canada', 'Germany',
        'Outlying-US(Guam-USVI-etc)', 'India', 'Japan', 'Greece', 'South', 'China',
        'Cuba', 'Iran', 'Honduras', 'Philippines', 'Italy', 'Poland', 'Jamaica',
        'Vietnam', 'Mexico', 'Portugal', 'Ireland', 'France', 'Dominican-Republic',
        'Laos', 'Ecuador', 'Taiwan', 'Haiti', 'Columbia', 'Hungary', 'Guatemala',
        'Nicaragua', 'Scotland', 'Thailand', 'Yugoslavia', 'El-Salvador',
        'Trinadad&Tobago', 'Peru', 'Hong', 'Holand-Netherlands',
    ],
}
_ADULT_TARGET = "income"
_ADULT_CLASSES = ["<=50K", ">50K"]


def _read_adult_file(file_name, skiprows):
    return _read_csv(
        file_name,
        header=None,
        names=_ADULT_FEATURES + [_ADULT_TARGET],
        sep=",",
        skipinitialspace=True,
        skiprows=skiprows,
        na_values=["?"],
        keep_default_na=False,
        dtype={c: str for c in _ADULT_NOMINAL + [_ADULT_TARGET]},
    )


def load_adult(*, return_X_y=False, as_frame=True):
    """Load the UCI Adult (census income) data set, train and test merged.

    ================= ==================================
    Classes                                            2
    Samples total                                 48,842
    Samples per class       37,155 (<=50K), 11,687 (>50K)
    Features            14 (6 numeric, 8 categorical)
    Missing values      workclass 2,799, occupation 2,809,
                        native-country 857
    ================= ==================================

    The two UCI files (``adult.data``, 32,561 rows, then ``adult.test``,
    16,281 rows, in that order) are merged. The junk first line of the test
    file is skipped, leading and trailing whitespace is stripped, ``'?'``
    becomes a missing value and the trailing ``'.'`` of the test labels is
    removed. No row is dropped: rows with missing values are kept (3,620
    rows have at least one) and so are repeated rows (52 rows repeat an
    earlier one exactly). Read more in the ``DESCR`` key.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=True
        If True, ``data`` is a :class:`pandas.DataFrame` (numeric columns
        ``int64``, nominal columns ``category`` with sorted levels and ``NaN``
        for missing values) and ``target`` a categorical
        :class:`pandas.Series`. If False, ``data`` is a float
        :class:`numpy.ndarray` of shape (48842, 14) where each nominal column
        holds the ordinal code of its level in ``categories`` (``NaN`` when
        missing), and ``target`` an int array with 1 for ``'>50K'``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {DataFrame, ndarray} of shape (48842, 14)
            The features, columns named as in ``adult.names``: ``age``,
            ``workclass``, ``fnlwgt``, ``education``, ``education-num``,
            ``marital-status``, ``occupation``, ``relationship``, ``race``,
            ``sex``, ``capital-gain``, ``capital-loss``, ``hours-per-week``,
            ``native-country``.
        target : {Series, ndarray} of shape (48842,)
            The income class. With ``as_frame=True`` a Series named
            ``'income'`` with categories ``['<=50K', '>50K']``; otherwise an
            int64 array, 0 for ``'<=50K'`` and 1 for ``'>50K'``.
        frame : DataFrame of shape (48842, 15) or None
            ``data`` with the ``income`` column appended; None when
            ``as_frame=False``.
        feature_names : list of str
            The 14 column names of ``data``.
        target_names : list of str
            The class labels ``['<=50K', '>50K']``, indexed by the int target.
        categories : dict
            Maps each nominal column name to the list of its levels, those
            the data dictionary (``adult.names``) declares, sorted: public,
            whatever the rows hold (``native-country`` has a level,
            ``Holand-Netherlands``, with one row), so they can be passed as
            declared ``categories`` to a differentially private fit. With
            ``as_frame=False`` the code ``k`` in ``data`` means level ``k``,
            as in :func:`sklearn.datasets.fetch_openml`; with
            ``as_frame=True`` they are also the columns' ``cat.categories``.
        sensitive_features_names : list of str
            ``['sex', 'race']``, the protected attributes usually studied.
        DESCR : str
            Full description of the data set: provenance, licence (CC BY 4.0),
            citation, columns and cleaning.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    See Also
    --------
    load_german_credit : Another tabular fairness benchmark (sex, age).
    sklearn.datasets.fetch_openml : Downloads Adult and many others.

    References
    ----------
    .. [1] Becker, B. and Kohavi, R. (1996). Adult. UCI Machine Learning
       Repository. https://doi.org/10.24432/C5XW20
    .. [2] Kohavi, R. (1996). Scaling up the accuracy of Naive-Bayes
       classifiers: a decision-tree hybrid. Proceedings of the Second
       International Conference on Knowledge Discovery and Data Mining
       (KDD-96), 202-207.

    Examples
    --------
    >>> from skcausal_trust.datasets import load_adult
    >>> adult = load_adult()
    >>> adult.data.shape
    (48842, 14)
    >>> adult.target.value_counts().sort_index().to_dict()
    {'<=50K': 37155, '>50K': 11687}
    >>> adult.data["sex"].cat.categories.tolist()
    ['Female', 'Male']
    >>> int(adult.data["workclass"].isna().sum())
    2799
    >>> X, y = load_adult(return_X_y=True, as_frame=False)
    >>> X.dtype, y.dtype, int(y.sum())
    (dtype('float64'), dtype('int64'), 11687)
    """
    train = _read_adult_file("adult.data.gz", skiprows=0)
    test = _read_adult_file("adult.test.gz", skiprows=1)
    raw = pd.concat([train, test], ignore_index=True)

    frame = pd.DataFrame(index=raw.index)
    for name in _ADULT_FEATURES:
        column = raw[name]
        if name in _ADULT_NUMERIC:
            frame[name] = _integer_or_float(column)
        else:
            values = column.str.strip()
            undeclared = set(values.dropna().unique()) - set(_ADULT_LEVELS[name])
            if undeclared:  # pragma: no cover - guards the bundled file
                raise RuntimeError(f"Adult's {name!r} has levels {sorted(undeclared)} "
                                   "that adult.names does not declare.")
            frame[name] = pd.Categorical(values, categories=sorted(_ADULT_LEVELS[name]))

    labels = raw[_ADULT_TARGET].str.strip().str.rstrip(".")
    unknown = set(labels.unique()) - set(_ADULT_CLASSES)
    if unknown:  # pragma: no cover - guards the bundled file
        raise RuntimeError(f"Unexpected income labels in the Adult files: {unknown}")
    target = pd.Series(
        pd.Categorical(labels, categories=_ADULT_CLASSES),
        index=frame.index,
        name=_ADULT_TARGET,
    )

    return _finish_classification(
        frame,
        target,
        target_classes=_ADULT_CLASSES,
        descr_file="adult.rst",
        sensitive_features_names=["sex", "race"],
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


def _finish_classification(
    data,
    target,
    *,
    target_classes,
    descr_file,
    sensitive_features_names,
    return_X_y,
    as_frame,
):
    """Build the Bunch (or tuple) of a classification loader."""
    feature_names = list(data.columns)
    if as_frame:
        frame = pd.concat([data, target], axis=1)
        categories = {name: [str(level) for level in data[name].cat.categories]
                      for name in data.columns
                      if isinstance(data[name].dtype, pd.CategoricalDtype)}
    else:
        frame = None
        data, categories = _frame_to_numpy(data)
        target = target.cat.codes.to_numpy().astype(np.int64)

    if return_X_y:
        return data, target

    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=list(target_classes),
        categories=categories,
        sensitive_features_names=list(sensitive_features_names),
        DESCR=_load_descr(descr_file),
    )


# --------------------------------------------------------------------------
# German credit (Statlog)
# --------------------------------------------------------------------------

# (column name in the returned frame, key of german.values_maps.json or None
# for a numeric attribute), in the order of the 20 attributes of german.data.
# Attribute 9 ("status_sex") is split into "personal-status" and "sex".
_GERMAN_ATTRIBUTES = [
    ("checking-status", "status"),
    ("duration", None),
    ("credit-history", "credit_history"),
    ("purpose", "purpose"),
    ("credit-amount", None),
    ("savings", "savings"),
    ("employment-since", "present_employment"),
    ("installment-rate", None),
    ("personal-status", "status_sex"),
    ("other-debtors", "other_debtors"),
    ("residence-since", None),
    ("property", "property"),
    ("age", None),
    ("other-installment-plans", "installment_plans"),
    ("housing", "housing"),
    ("existing-credits", None),
    ("job", "job"),
    ("num-dependents", None),
    ("telephone", "telephone"),
    ("foreign-worker", "foreign_worker"),
]
_GERMAN_TARGET = "credit_risk"
_GERMAN_CLASSES = ["bad", "good"]


def _clean_level(text):
    """Readable level from a code-table text: no stray blanks, '..' -> '...'."""
    if isinstance(text, bool):  # telephone, foreign worker: true/false
        return "yes" if text else "no"
    text = " ".join(str(text).split())
    if text.startswith(".. "):
        text = "." + text
    return text


def _decode(codes, mapping):
    """Categorical of the decoded ``codes``; levels in code-table order.

    Levels of the code table that never occur are dropped (see DESCR);
    true/false attributes get the levels ``['no', 'yes']``.
    """
    decoded = {code: _clean_level(text) for code, text in mapping.items()}
    unknown = set(codes.unique()) - set(decoded)
    if unknown:  # pragma: no cover - guards the bundled file
        raise RuntimeError(f"Codes missing from the German credit map: {unknown}")
    values = codes.map(decoded)
    present = set(values)
    if all(isinstance(text, bool) for text in mapping.values()):
        order = ["no", "yes"]  # true/false attributes: code 1 means "yes"
    else:
        order = list(dict.fromkeys(decoded.values()))
    levels = [lvl for lvl in order if lvl in present]
    return pd.Categorical(values, categories=levels)


def load_german_credit(*, return_X_y=False, as_frame=True):
    """Load the UCI Statlog German credit data set, with decoded values.

    ================= ==============================
    Classes                                        2
    Samples total                              1,000
    Samples per class          700 (good), 300 (bad)
    Features          21 (7 numeric, 14 categorical)
    Missing values                              none
    ================= ==============================

    The coded values of ``german.data`` (``A11``, ``A12``, ...) are decoded
    with the UCI code table into readable categorical levels, and attribute 9
    ("personal status and sex") is split into a ``sex`` column (``'female'``
    / ``'male'``: 310 / 690) and a ``personal-status`` column. Read more in
    the ``DESCR`` key, which also warns that this code table (hence the
    ``sex`` column) has been reported to be partly wrong.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=True
        If True, ``data`` is a :class:`pandas.DataFrame` (numeric columns
        ``int64``, nominal columns ``category``) and ``target`` a categorical
        :class:`pandas.Series`. If False, ``data`` is a float
        :class:`numpy.ndarray` of shape (1000, 21) where each nominal column
        holds the ordinal code of its level in ``categories``, and ``target``
        an int array with 1 for ``'good'`` and 0 for ``'bad'``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {DataFrame, ndarray} of shape (1000, 21)
            The features, in the order of the UCI attributes (attribute 9
            giving two columns):

            - ``checking-status`` (category): status of the existing checking
              account, e.g. ``'... < 0 DM'``, ``'no checking account'``.
            - ``duration`` (int64): duration of the credit in months.
            - ``credit-history`` (category): credit history.
            - ``purpose`` (category): purpose of the credit.
            - ``credit-amount`` (int64): credit amount in Deutsche Mark.
            - ``savings`` (category): savings account / bonds.
            - ``employment-since`` (category): present employment since.
            - ``installment-rate`` (int64): installment rate in percentage
              of disposable income, as a code from 1 to 4.
            - ``personal-status`` (category): ``'divorced/separated'``,
              ``'divorced/separated/married'`` (the only female level),
              ``'single'`` or ``'married/widowed'``.
            - ``sex`` (category): ``'female'`` or ``'male'``.
            - ``other-debtors`` (category): other debtors / guarantors.
            - ``residence-since`` (int64): present residence since, code 1-4.
            - ``property`` (category): most valuable property.
            - ``age`` (int64): age in years.
            - ``other-installment-plans`` (category): bank, stores or none.
            - ``housing`` (category): rent, own or for free.
            - ``existing-credits`` (int64): number of existing credits at
              this bank.
            - ``job`` (category): job.
            - ``num-dependents`` (int64): number of people liable to provide
              maintenance for.
            - ``telephone`` (category): ``'no'`` or ``'yes'`` (registered
              under the customer's name).
            - ``foreign-worker`` (category): ``'no'`` or ``'yes'``.

            Levels are the code-table texts (whitespace normalised), in
            code-table order (``['no', 'yes']`` for ``telephone`` and
            ``foreign-worker``); the two levels that never occur (``purpose``
            "vacation", code A47, and "female : single", code A95) are
            dropped.
        target : {Series, ndarray} of shape (1000,)
            The credit risk. With ``as_frame=True`` a Series named
            ``'credit_risk'`` with categories ``['bad', 'good']`` (in that
            order, so that the codes match the int target); otherwise an
            int64 array, 1 for ``'good'`` and 0 for ``'bad'``.
        frame : DataFrame of shape (1000, 22) or None
            ``data`` with the ``credit_risk`` column appended; None when
            ``as_frame=False``.
        feature_names : list of str
            The 21 column names of ``data``.
        target_names : list of str
            The class labels ``['bad', 'good']``, indexed by the int target.
        categories : dict
            Maps each nominal column name to the list of its levels, those
            the data set's code book (``german.values_maps.json``) declares:
            public, whatever the rows hold. With ``as_frame=False`` the code
            ``k`` in ``data`` means level ``k``; with ``as_frame=True`` they
            are also the columns' ``cat.categories``.
        sensitive_features_names : list of str
            ``['sex', 'age']``, the protected attributes usually studied.
        DESCR : str
            Full description of the data set: provenance, licence (CC BY 4.0),
            citation, code table and caveats.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    See Also
    --------
    load_adult : Another tabular fairness benchmark (sex, race).

    References
    ----------
    .. [1] Hofmann, H. (1994). Statlog (German Credit Data). UCI Machine
       Learning Repository. https://doi.org/10.24432/C5NC77
    .. [2] Groemping, U. (2019). South German credit data: correcting a
       widely used data set. Reports in Mathematics, Physics and Chemistry
       4/2019, Beuth University of Applied Sciences Berlin.

    Examples
    --------
    >>> from skcausal_trust.datasets import load_german_credit
    >>> credit = load_german_credit()
    >>> credit.data.shape
    (1000, 21)
    >>> credit.data["sex"].value_counts().sort_index().to_dict()
    {'female': 310, 'male': 690}
    >>> credit.target.value_counts().sort_index().to_dict()
    {'bad': 300, 'good': 700}
    >>> X, y = load_german_credit(return_X_y=True, as_frame=False)
    >>> X.shape, int(y.sum())
    ((1000, 21), 700)
    """
    with _data_path("german.values_maps.json.gz").open("rb") as f:
        code_table = json.loads(gzip.decompress(f.read()).decode("utf-8"))

    raw = _read_csv(
        "german.data.gz",
        header=None,
        sep=" ",
        keep_default_na=False,
        dtype=str,
    )
    if raw.shape != (1000, 21):  # pragma: no cover - guards the bundled file
        raise RuntimeError(f"Unexpected shape of german.data: {raw.shape}")

    frame = pd.DataFrame(index=raw.index)
    for position, (name, key) in enumerate(_GERMAN_ATTRIBUTES):
        column = raw[position].str.strip()
        if key is None:
            frame[name] = column.astype(np.int64)
        elif key == "status_sex":
            # "male : divorced/separated" -> sex "male", status "divorced/..."
            decoded = _decode(column, code_table[key])
            parts = pd.Series(decoded.astype(str), index=raw.index).str.split(
                " : ", n=1, expand=True
            )
            statuses = [
                str(level).split(" : ", 1)[1] for level in decoded.categories
            ]
            frame[name] = pd.Categorical(
                parts[1].str.strip(), categories=list(dict.fromkeys(statuses))
            )
            frame["sex"] = pd.Categorical(
                parts[0].str.strip(), categories=["female", "male"]
            )
        else:
            frame[name] = _decode(column, code_table[key])

    credit = raw[20].str.strip().map(code_table["credit"])
    target = pd.Series(
        pd.Categorical(credit, categories=_GERMAN_CLASSES),
        index=frame.index,
        name=_GERMAN_TARGET,
    )
    if target.isna().any():  # pragma: no cover - guards the bundled file
        raise RuntimeError("Unexpected class codes in german.data")

    return _finish_classification(
        frame,
        target,
        target_classes=_GERMAN_CLASSES,
        descr_file="german_credit.rst",
        sensitive_features_names=["sex", "age"],
        return_X_y=return_X_y,
        as_frame=as_frame,
    )


# --------------------------------------------------------------------------
# Sachs
# --------------------------------------------------------------------------

_SACHS_PROTEINS = [
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
_SACHS_ENV = "experiment"
_SACHS_EXPERIMENTS = [
    "cd3cd28",
    "cd3cd28icam2",
    "cd3cd28+aktinhib",
    "cd3cd28+g0076",
    "cd3cd28+psitect",
    "cd3cd28+u0126",
    "cd3cd28+ly",
    "pma",
    "b2camp",
]
_SACHS_INTERVENTIONS = {
    "cd3cd28": "anti-CD3/CD28: general stimulation only (observational baseline)",
    "cd3cd28icam2": (
        "anti-CD3/CD28 + ICAM-2: general stimulation only (observational baseline)"
    ),
    "cd3cd28+aktinhib": "Akt inhibitor: inhibits Akt (pakts473) activity",
    "cd3cd28+g0076": "G06976: inhibits PKC",
    "cd3cd28+psitect": "Psitectorigenin: inhibits PIP2",
    "cd3cd28+u0126": "U0126: inhibits Mek (pmek) activity",
    "cd3cd28+ly": "LY294002: inhibits PI3K (unmeasured; acts on PIP3)",
    "pma": "PMA: activates PKC",
    "b2camp": "beta2cAMP: activates PKA",
}
# Spelling fixes from the names of the edge list to the data columns. The
# edge list shipped with cdt was checked to use exactly the data's spelling
# (including case: "plcg", "PIP2", "p44/42", "pakts473", "P38"), so no fix is
# needed; any future mismatch must be fixed here explicitly, and
# _load_sachs_edges raises if an endpoint is not a data column.
_SACHS_EDGE_NAME_FIXES = {}


def _load_sachs_edges():
    edges = _read_csv("sachs_consensus_edges.csv", dtype=str, keep_default_na=False)
    edges = edges.rename(columns={"Cause": "cause", "Effect": "effect"})
    edges = edges[["cause", "effect"]].apply(
        lambda s: s.str.strip().replace(_SACHS_EDGE_NAME_FIXES)
    )
    endpoints = set(edges["cause"]) | set(edges["effect"])
    unknown = endpoints - set(_SACHS_PROTEINS)
    if unknown:  # pragma: no cover - guards the bundled file
        raise RuntimeError(f"Consensus edges name unknown proteins: {unknown}")
    return edges.reset_index(drop=True)


def load_sachs(*, return_X_y=False, as_frame=True, target=None):
    """Load the Sachs et al. (2005) flow cytometry data with its 9 conditions.

    ================= ===============================================
    Samples total     7,466 single cells
    Conditions        9 (853/902/911/723/810/799/848/913/707 cells)
    Variables         11 proteins / phospholipids (float64) and
                      ``experiment`` (categorical, 9 levels)
    Ground truth      18 consensus edges (``consensus_edges``)
    Missing values    none
    ================= ===============================================

    The abundances are **raw, not log-transformed** (all values are >= 1);
    they are heavily right-skewed, so apply :func:`numpy.log` before fitting
    linear Gaussian models or tests. Read more in the ``DESCR`` key.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object. Requires
        ``target`` to be set.

    as_frame : bool, default=True
        If True, ``data`` is a :class:`pandas.DataFrame` (protein columns
        ``float64``, ``experiment`` categorical) and ``target`` a
        :class:`pandas.Series`. If False, ``data`` is a float
        :class:`numpy.ndarray` where the ``experiment`` column holds the
        ordinal code of the condition in ``categories['experiment']``, and
        ``target`` a float array.

    target : str or None, default=None
        Name of a protein column to use as the target, one of ``'praf'``,
        ``'pmek'``, ``'plcg'``, ``'PIP2'``, ``'PIP3'``, ``'p44/42'``,
        ``'pakts473'``, ``'PKA'``, ``'PKC'``, ``'P38'``, ``'pjnk'``. Then
        ``target`` is that column and ``data`` holds the other columns
        (including ``experiment``). If None, ``data`` holds all 12 columns and
        ``target`` is None.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : {DataFrame, ndarray} of shape (7466, 12) or (7466, 11)
            The 11 protein columns (minus ``target``, if given), in the file's
            order ``praf``, ``pmek``, ``plcg``, ``PIP2``, ``PIP3``,
            ``p44/42``, ``pakts473``, ``PKA``, ``PKC``, ``P38``, ``pjnk``,
            followed by ``experiment``.
        target : {Series, ndarray} of shape (7466,) or None
            The ``target`` protein's column, or None if ``target`` is None.
        frame : DataFrame of shape (7466, 12) or None
            All 12 columns; None when ``as_frame=False``.
        feature_names : list of str
            The column names of ``data``.
        target_names : list of str
            ``[target]``, or ``[]`` if ``target`` is None.
        environment : {Series, ndarray} of shape (7466,)
            The experimental condition of each cell: the categorical
            ``experiment`` Series (levels in the file's order: ``'cd3cd28'``,
            ``'cd3cd28icam2'``, ``'cd3cd28+aktinhib'``, ``'cd3cd28+g0076'``,
            ``'cd3cd28+psitect'``, ``'cd3cd28+u0126'``, ``'cd3cd28+ly'``,
            ``'pma'``, ``'b2camp'``), or with ``as_frame=False`` an object
            array of these labels.
        interventions : dict of str to str
            Maps each condition to a short description of what it perturbs.
        consensus_edges : DataFrame of shape (18, 2)
            The consensus signalling network (Sachs et al. 2005, Fig. 2) as
            columns ``'cause'`` and ``'effect'``, named like the data
            columns.
        categories : dict or None
            With ``as_frame=False``, ``{'experiment': list of the 9 levels}``;
            None when ``as_frame=True``.
        DESCR : str
            Full description of the data set: provenance, licence (MIT for
            the copy from cdt), citation, columns and caveats.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    Raises
    ------
    ValueError
        If ``target`` is not one of the 11 protein names, or if
        ``return_X_y=True`` while ``target`` is None.

    See Also
    --------
    make_counterfactual_classification : Simulated data with a known model.

    References
    ----------
    .. [1] Sachs, K., Perez, O., Pe'er, D., Lauffenburger, D. A. and Nolan,
       G. P. (2005). Causal protein-signaling networks derived from
       multiparameter single-cell data. Science, 308(5721), 523-529.
       https://doi.org/10.1126/science.1105809
    .. [2] Kalainathan, D., Goudet, O. and Dutta, R. (2020). Causal Discovery
       Toolbox: uncovering causal relationships in Python. Journal of Machine
       Learning Research, 21(37), 1-5.

    Examples
    --------
    >>> import numpy as np
    >>> from skcausal_trust.datasets import load_sachs
    >>> sachs = load_sachs(target="PKA")
    >>> sachs.data.shape, sachs.target.name
    ((7466, 11), 'PKA')
    >>> sachs.environment.value_counts(sort=False).tolist()
    [853, 902, 911, 723, 810, 799, 848, 913, 707]
    >>> sachs.consensus_edges.shape
    (18, 2)
    >>> log_pka = np.log(sachs.target)
    >>> bool(log_pka.min() >= 0)
    True
    """
    if target is not None and (
        not isinstance(target, str) or target not in _SACHS_PROTEINS
    ):
        raise ValueError(
            f"Unknown target {target!r} for load_sachs; valid values are None "
            f"or one of the protein names {_SACHS_PROTEINS}."
        )
    if return_X_y and target is None:
        raise ValueError(
            "return_X_y=True requires the 'target' argument of load_sachs to "
            "name a protein column (target is None, so there is no target)."
        )

    raw = _read_csv(
        "sachs_with_env.csv.gz",
        dtype={**{p: np.float64 for p in _SACHS_PROTEINS}, _SACHS_ENV: str},
        keep_default_na=False,
    )
    if list(raw.columns) != _SACHS_PROTEINS + [_SACHS_ENV]:  # pragma: no cover
        raise RuntimeError(f"Unexpected Sachs columns: {list(raw.columns)}")
    observed = list(pd.unique(raw[_SACHS_ENV]))
    if observed != _SACHS_EXPERIMENTS:  # pragma: no cover
        raise RuntimeError(f"Unexpected Sachs conditions: {observed}")

    frame = raw[_SACHS_PROTEINS].copy()
    frame[_SACHS_ENV] = pd.Categorical(raw[_SACHS_ENV], categories=_SACHS_EXPERIMENTS)
    environment = frame[_SACHS_ENV].copy()

    if target is None:
        data, y = frame.copy(), None
    else:
        data, y = frame.drop(columns=target), frame[target].copy()
    feature_names = list(data.columns)

    if as_frame:
        categories = None
    else:
        data, categories = _frame_to_numpy(data)
        y = None if y is None else y.to_numpy(dtype=np.float64)
        environment = environment.astype(str).to_numpy(dtype=object)
        frame = None

    if return_X_y:
        return data, y

    return Bunch(
        data=data,
        target=y,
        frame=frame,
        feature_names=feature_names,
        target_names=[] if target is None else [target],
        environment=environment,
        interventions=dict(_SACHS_INTERVENTIONS),
        consensus_edges=_load_sachs_edges(),
        categories=categories,
        DESCR=_load_descr("sachs.rst"),
    )
