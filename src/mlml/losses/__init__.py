"""Losses: pure functions (functional), thin modules (modules) and the LOSSES / METHODS registries."""

from mlml.losses.modules import Criterion
from mlml.losses.registry import LOSSES, METHODS, Method, register_method

__all__ = ["LOSSES", "METHODS", "Criterion", "Method", "register_method"]
