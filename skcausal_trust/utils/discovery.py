"""Find the public estimators of skcausal_trust (for the common tests)."""

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator

__all__ = ["all_estimators"]


def all_estimators():
    """Every public estimator class of the package.

    Walks the public subpackages (names without a leading underscore) and
    collects the :class:`~sklearn.base.BaseEstimator` subclasses that they
    export in ``__all__``, so a new estimator joins the common tests without
    editing them.

    Returns
    -------
    estimators : list of (name, class) tuples
        Sorted by name.
    """
    import skcausal_trust

    found = {}
    for info in pkgutil.walk_packages(skcausal_trust.__path__, "skcausal_trust."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if info.name.endswith((".tests", ".cli", ".__main__")):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    return sorted(found.items())
