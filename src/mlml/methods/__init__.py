"""Methods: a loss paired with a weight estimator (``METHODS``), above :mod:`mlml.losses` and :mod:`mlml.weights`."""

from mlml.methods import catalog as _catalog  # noqa: F401  (the import registers the methods)
from mlml.methods.catalog import EM_ESTIMATOR_KWARGS, METHOD_PRESETS, RECOMMENDED_METHOD, WHEN_TO_USE
from mlml.methods.method import METHODS, VAL_SET_VARIANTS, Method, register_method

__all__ = ["EM_ESTIMATOR_KWARGS", "METHODS", "METHOD_PRESETS", "RECOMMENDED_METHOD", "VAL_SET_VARIANTS", "WHEN_TO_USE",
           "Method", "register_method"]
