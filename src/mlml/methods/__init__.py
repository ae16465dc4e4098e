"""Methods: a loss paired with a weight estimator (``METHODS``), above :mod:`mlml.losses` and :mod:`mlml.weights`."""

from mlml.methods import catalog as _catalog  # noqa: F401  (the import registers the methods)
from mlml.methods.catalog import EM_ESTIMATOR_KWARGS, RECOMMENDED_METHOD, WHEN_TO_USE
from mlml.methods.method import METHODS, Method, register_method

__all__ = ["EM_ESTIMATOR_KWARGS", "METHODS", "RECOMMENDED_METHOD", "WHEN_TO_USE", "Method", "register_method"]
