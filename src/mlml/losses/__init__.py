"""Losses: pure functions (functional), thin modules (modules) and the LOSSES / METHODS registries."""

from mlml.losses import methods as _methods  # noqa: F401  (registers the methods)
from mlml.losses.functional import weighted_bce
from mlml.losses.modules import Criterion, WeightedBCE
from mlml.losses.registry import LOSSES, METHODS, Method, register_method

__all__ = ["LOSSES", "METHODS", "Criterion", "Method", "WeightedBCE", "register_method", "weighted_bce"]
