"""Parameters declared once: constraint objects and the one function that checks values against them.

Every registered loss, weight estimator and method declares its constructor parameters in a class attribute, in
the shape of scikit-learn's ``_parameter_constraints`` (``sklearn/utils/_param_validation.py``; this is our own
small version, not an import of sklearn's private module)::

    _parameter_constraints = {
        "gamma": [Interval(Real, 0, None, closed="left")],
        "alpha": [None, Interval(Real, 0, 1, closed="both")],
        "aggregate": [Options("max", "mean", "noisy-or")],
        "detach_focusing": ["boolean"],
    }

A value is valid when it satisfies ANY constraint of its list. A constraint is a :class:`Constraint`, ``None``
(the value None), ``"boolean"`` (a bool), or a type (an instance of it). :func:`validate_params` raises one
:class:`~mlml.exceptions.MLMLError` naming the owner, the parameter, the constraint and the value (STYLE.md,
"Errors a user can act on"), and returns the values converted to the satisfied constraint's type (a real
interval gives a float, an integral one an int, ``"boolean"`` a bool). ``tests/test_parameters.py`` walks every
registry and generates bad values from these declarations.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError

Constraints = Mapping[str, list[Any]]


class Constraint:
    """A rule a parameter value may satisfy; ``str(constraint)`` says it in words."""

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        """The value as stored once it satisfies this constraint (unchanged by default)."""
        return value


class Interval(Constraint):
    """A finite real (``numbers.Real``) or integral (``numbers.Integral``) number in an interval; never a bool,
    NaN or an infinity.

    Args:
        kind: ``numbers.Real`` or ``numbers.Integral``.
        left, right: the bounds (None: unbounded on that side).
        closed: ``"both"``, ``"left"``, ``"right"`` or ``"neither"``: which bounds belong to the interval.

    >>> from numbers import Real
    >>> Interval(Real, 0, 1, closed="both").is_satisfied_by(1.0), str(Interval(Real, 0, None, closed="neither"))
    (True, 'a float in (0, inf)')
    """

    def __init__(self, kind: type, left: float | None, right: float | None, *, closed: str = "both") -> None:
        if kind not in (numbers.Real, numbers.Integral):
            raise ValueError(f"Interval kind must be numbers.Real or numbers.Integral, not {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither', not {closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        if not math.isfinite(float(value)):
            return False
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def convert(self, value: Any) -> Any:
        return int(value) if self.kind is numbers.Integral else float(value)

    def __str__(self) -> str:
        if self.kind is numbers.Integral and self.right is None:
            low = self.left if self.closed in ("both", "left") else self.left + 1  # type: ignore[operator]
            return "an int" if self.left is None else f"an int >= {low}"
        left = "(" if self.left is None or self.closed in ("right", "neither") else "["
        right = ")" if self.right is None or self.closed in ("left", "neither") else "]"
        low = "-inf" if self.left is None else f"{self.left}"
        high = "inf" if self.right is None else f"{self.right}"
        kind = "an int" if self.kind is numbers.Integral else "a float"
        return f"{kind} in {left}{low}, {high}{right}"


class Options(Constraint):
    """One of a fixed set of values (names, usually); ``options`` may be given as one iterable or one by one."""

    def __init__(self, *options: Any) -> None:
        if len(options) == 1 and not isinstance(options[0], str):
            options = tuple(options[0])
        self.options = tuple(options)

    def is_satisfied_by(self, value: Any) -> bool:
        return any(isinstance(value, type(option)) and value == option for option in self.options)

    def __str__(self) -> str:
        return f"one of {', '.join(map(repr, self.options))}"


class Registered(Constraint):
    """A name in a registry, looked up when checked (the registry may still be filling at declaration time)."""

    def __init__(self, registry: Callable[[], Any]) -> None:
        self.registry = registry

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.registry()

    def __str__(self) -> str:
        registry = self.registry()
        return f"the name of a registered {registry.kind} ({', '.join(registry.names())})"


class Sequence(Constraint):
    """A list, tuple or 1-D array of values, each satisfying ``item``; of exactly ``length`` values where given
    (GR's ``[start, end]`` pairs, CSL's per-class prior). Stored as a tuple."""

    def __init__(self, item: Constraint, *, length: int | None = None) -> None:
        self.item, self.length = item, length

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, np.ndarray):
            if value.ndim != 1:
                return False
            value = value.tolist()
        return (isinstance(value, (list, tuple)) and (self.length is None or len(value) == self.length)
                and all(self.item.is_satisfied_by(v) for v in value))

    def convert(self, value: Any) -> Any:
        return tuple(self.item.convert(v) for v in value)

    def __str__(self) -> str:
        size = "a sequence" if self.length is None else f"a sequence of {self.length} values"
        return f"{size}, each {self.item}"


class RandomState(Constraint):
    """A seed: an int >= 0, a numpy ``Generator`` or ``SeedSequence``, or None."""

    def is_satisfied_by(self, value: Any) -> bool:
        if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)):
            return True
        return Interval(numbers.Integral, 0, None, closed="left").is_satisfied_by(value)

    def __str__(self) -> str:
        return "an int >= 0, a numpy Generator, a SeedSequence or None"


#: The constraints most parameters use.
REAL = Interval(numbers.Real, None, None)
FRACTION = Interval(numbers.Real, 0, 1, closed="both")
NON_NEGATIVE = Interval(numbers.Real, 0, None, closed="left")
POSITIVE_REAL = Interval(numbers.Real, 0, None, closed="neither")
POSITIVE_INT = Interval(numbers.Integral, 1, None, closed="left")
COUNT = Interval(numbers.Integral, 0, None, closed="left")


def _satisfied(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if constraint == "boolean":
        return isinstance(value, (bool, np.bool_))
    if isinstance(constraint, type):
        return isinstance(value, constraint) and not (constraint is not bool and isinstance(value, bool))
    return constraint.is_satisfied_by(value)


def describe(constraint: Any) -> str:
    """A constraint in words (``None`` -> ``'None'``, ``'boolean'`` -> ``'a bool'``, a type -> its name)."""
    if constraint is None:
        return "None"
    if constraint == "boolean":
        return "a bool"
    if isinstance(constraint, type):
        return f"an instance of {constraint.__name__}"
    return str(constraint)


def validate_param(value: Any, name: str, constraints: Iterable[Any], owner: str) -> Any:
    """Check one parameter: ``value`` must satisfy one of ``constraints``; returns it converted.

    Raises:
        MLMLError: ``The 'name' parameter of owner must be <constraints>. Got <value> instead.``
    """
    constraints = list(constraints)
    for constraint in constraints:
        if _satisfied(constraint, value):
            return constraint.convert(value) if isinstance(constraint, Constraint) else (
                bool(value) if constraint == "boolean" else value)
    wanted = " or ".join(describe(c) for c in constraints)
    shown = value.item() if isinstance(value, np.generic) else value  # as a user wrote it: nan, not np.float64(nan)
    raise MLMLError(f"The {name!r} parameter of {owner} must be {wanted}. Got {shown!r:.200} instead.")


def validate_params(params: Any, constraints: Constraints, owner: str) -> dict[str, Any]:
    """Check every parameter of ``params`` -- a mapping, or an object whose attributes hold them (a
    scikit-learn estimator's ``get_params``, a loss module's attributes) -- against ``constraints``; returns the
    converted values of the declared parameters.

    A parameter with no declaration is passed through unchecked, as scikit-learn does, so that a user's subclass of
    a registered part may add parameters without declaring them (``tests/test_parameters.py`` makes every
    registered part declare all of its own).

    Raises:
        MLMLError: one line naming ``owner``, the parameter, the constraint and the value.
    """
    if not isinstance(params, Mapping):
        params = {name: getattr(params, name) for name in constraints}
    return {name: validate_param(value, name, constraints[name], owner) if name in constraints else value
            for name, value in params.items()}


def checks_params(constraints: Constraints) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the keyword-only parameters of a function (a loss's pure function): every call checks them
    with :func:`validate_params` (owner: the function's name) and passes them on converted. The declaration is
    kept as the function's ``_parameter_constraints``, for the loss modules that wrap it to reuse.

    >>> @checks_params({"gamma": [NON_NEGATIVE]})
    ... def power(x, *, gamma=2.0):
    ...     return x ** gamma
    >>> power(3, gamma=1)
    3.0
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        parameters = inspect.signature(function).parameters
        for name in constraints:  # a declaration of the code, checked once at import
            if name not in parameters or parameters[name].kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"{function.__qualname__} has no keyword-only parameter {name!r} to declare")
        defaults = {name: parameters[name].default for name in constraints
                    if parameters[name].default is not inspect.Parameter.empty}
        owner = function.__name__

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.get(name, defaults.get(name)) for name in constraints
                     if name in kwargs or name in defaults}
            kwargs.update(validate_params(given, constraints, owner))
            return function(*args, **kwargs)

        checked._parameter_constraints = dict(constraints)  # type: ignore[attr-defined]
        return checked

    return decorate
