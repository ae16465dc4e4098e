"""Parameters declared once (:mod:`mlml._params`): every registered loss, weight estimator and method declares its
parameters, and bad values -- generated here from each declaration -- are refused with an MLMLError naming the
owner and the parameter.

A new loss or estimator without a declaration for one of its constructor's parameters fails
``test_every_constructor_parameter_is_declared``; one whose declaration is not enforced fails the generated cases.
"""

from __future__ import annotations

import inspect
import math
import re
import warnings
from numbers import Integral, Real

import numpy as np
import pytest

from mlml._params import (
    Interval,
    Options,
    RandomState,
    Registered,
    Sequence,
    describe,
    validate_param,
    validate_params,
)
from mlml.exceptions import MLMLError
from mlml.losses import LOSSES
from mlml.methods import METHODS
from mlml.methods.method import Method
from mlml.weights import ESTIMATORS

REGISTRIES = {"loss": LOSSES, "estimator": ESTIMATORS}


def _satisfies(constraint, value) -> bool:
    """Whether ``value`` passes the one ``constraint`` (through the library's own single-parameter check)."""
    try:
        validate_param(value, "p", [constraint], "test")
    except MLMLError:
        return False
    return True


def _candidates(constraint) -> list:
    """Values that break ``constraint``: out of its interval, of the wrong type, a bool, NaN, an infinity, an
    unknown option, a sequence of the wrong length or with a bad element."""
    if constraint is None:
        return []
    if constraint == "boolean":
        return ["yes", 2, None]
    if isinstance(constraint, type):
        return [object(), "text", 3.5]
    if isinstance(constraint, Interval):
        out = ["text", True, float("nan"), math.inf, -math.inf, None, [1.0]]
        if constraint.kind is Integral:
            out.append(1.5)
        for bound, step in ((constraint.left, -1), (constraint.right, 1)):
            if bound is not None:
                out += [bound + step, bound]  # the bound itself breaks an open interval only; filtered below
        return out
    if isinstance(constraint, Options):
        return ["no-such-option", 3, None, True]
    if isinstance(constraint, Registered):
        return ["no-such-name", 3]
    if isinstance(constraint, RandomState):
        return [-1, 1.5, "seed", True]
    if isinstance(constraint, Sequence):
        length = constraint.length or 1
        out = ["text", 1.0, [object()] * length, [float("nan")] * length]
        if constraint.length is not None:
            out.append([0.5] * (constraint.length + 1))
        return out
    raise AssertionError(f"no generator of bad values for {constraint!r}: add one here")


def bad_values(constraints) -> list:
    """The generated values that satisfy none of ``constraints`` (what the owner must refuse)."""
    out = []
    for constraint in constraints:
        for value in _candidates(constraint):
            if not any(_satisfies(c, value) for c in constraints) and not any(value is v for v in out):
                out.append(value)
    return out


def _constructor_parameters(cls) -> list[str]:
    return [name for name, p in inspect.signature(cls).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _parts():
    for kind, registry in REGISTRIES.items():
        for name in registry.names():
            yield kind, name, registry.get(name)


def _bad_cases():
    for kind, name, cls in _parts():
        for parameter, constraints in cls._parameter_constraints.items():
            for i, value in enumerate(bad_values(constraints)):
                yield pytest.param(kind, name, parameter, value, id=f"{kind}:{name}:{parameter}:{i}")


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n, _ in _parts()])
def test_every_constructor_parameter_is_declared(kind, name):
    """Every parameter of every registered loss and estimator has a declaration, and every declaration a
    parameter; every declared parameter has bad values to try (so the generated cases cover it)."""
    cls = REGISTRIES[kind].get(name)
    declared = set(cls._parameter_constraints)
    taken = set(_constructor_parameters(cls))
    assert taken - declared == set(), f"{kind} {name!r}: parameters without a declaration"
    assert declared - taken == set(), f"{kind} {name!r}: declarations of parameters it does not take"
    for parameter, constraints in cls._parameter_constraints.items():
        assert bad_values(constraints), f"{kind} {name!r}: no bad value for {parameter!r}"


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, n, _ in _parts()])
def test_defaults_satisfy_the_declarations(kind, name):
    cls = REGISTRIES[kind].get(name)
    defaults = {n: p.default for n, p in inspect.signature(cls).parameters.items() if p.default is not p.empty}
    validate_params(defaults, cls._parameter_constraints, cls.__name__)


@pytest.mark.parametrize(("kind", "name", "parameter", "value"), list(_bad_cases()))
def test_generated_bad_values_are_refused_naming_the_parameter(kind, name, parameter, value):
    """A loss refuses at construction; an estimator at ``fit`` (scikit-learn's contract: ``__init__`` stores the
    parameters as given), before it reads the labels."""
    cls = REGISTRIES[kind].get(name)
    observed = (np.random.default_rng(0).random((20, 4)) < 0.3).astype(np.int8)
    with pytest.raises(MLMLError, match=rf"'{parameter}' parameter of {cls.__name__}") as info, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "loss":
            cls(**{parameter: value})
        else:
            cls(**{parameter: value}).fit(observed)
    assert "Got " in str(info.value) and "\n" not in str(info.value)


def test_every_registered_method_satisfies_its_parts_declarations():
    for name in METHODS.names():
        assert METHODS.get(name).check_params() is METHODS.get(name)


def _method_cases():
    for name in METHODS.names():
        method = METHODS.get(name)
        for part, kwargs in (("loss", method.loss_kwargs), ("estimator", method.estimator_kwargs)):
            cls = REGISTRIES[part].get(getattr(method, part))
            for key in kwargs:
                for i, value in enumerate(bad_values(cls._parameter_constraints[key])[:3]):
                    yield pytest.param(name, part, key, value, id=f"{name}:{part}.{key}:{i}")


@pytest.mark.parametrize(("name", "part", "key", "value"), list(_method_cases()))
def test_a_method_refuses_bad_values_of_its_declared_parameters(name, part, key, value):
    """Each parameter a method sets on its loss or estimator, overridden with a generated bad value, is refused
    when the method is made (``with_params``), naming the method, the part and the parameter."""
    with pytest.raises(MLMLError, match=rf"'{key}' parameter of method '{re.escape(name)}' \({part} "):
        METHODS.get(name).with_params({f"{part}.{key}": value})


@pytest.mark.parametrize("field", sorted(Method._parameter_constraints))
def test_a_methods_own_choices_are_declared(field):
    for value in bad_values(Method._parameter_constraints[field]):
        with pytest.raises(MLMLError, match=rf"'{field}' parameter of method 'm'"):
            Method("m", "weighted-bce", **{field: value})


def test_a_method_with_a_parameter_its_part_does_not_take_is_refused():
    with pytest.raises(MLMLError, match="loss 'focal' of method 'bad' has no parameter 'gama'"):
        Method("bad", "focal", loss_kwargs={"gama": 2.0}).check_params()


# ------------------------------------------------------------------------------------ the constraints themselves


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        (Interval(Real, 0, 1, closed="both"), [0, 1, 0.5, np.float32(0.25), np.int64(1)],
         [-0.1, 1.1, True, np.bool_(False), float("nan"), "0.5", None]),
        (Interval(Real, 0, 1, closed="neither"), [0.5, 1e-9], [0, 1, 0.0, 1.0]),
        (Interval(Real, 0, None, closed="left"), [0, 1e300], [-1e-9, math.inf]),
        (Interval(Real, None, None, closed="both"), [-1e300, 0], [math.inf, -math.inf, float("nan")]),
        (Interval(Integral, 1, None, closed="left"), [1, np.int32(7)], [0, 1.0, 1.5, True]),
        (Options("max", "mean"), ["max", "mean"], ["MAX", 0, None]),
        (Sequence(Interval(Real, 0, 1), length=2), [(0, 1), [0.5, 0.5], np.array([0.0, 1.0])],
         [(0,), (0, 1, 1), "01", [0, 2], np.zeros((2, 1))]),
        (RandomState(), [0, None, np.random.default_rng(0), np.random.SeedSequence(1)], [-1, 0.5, "0", True]),
    ],
)
def test_constraints_accept_and_refuse_literal_values(constraint, good, bad):
    for value in good:
        assert _satisfies(constraint, value), value
    for value in bad:
        assert not _satisfies(constraint, value), value


def test_the_message_names_owner_parameter_constraint_and_value():
    with pytest.raises(MLMLError) as info:
        validate_params({"gamma": -1}, {"gamma": [None, Interval(Real, 0, None, closed="left")]}, "Focal")
    assert str(info.value) == "The 'gamma' parameter of Focal must be None or a float in [0, inf). Got -1 instead."
    with pytest.raises(MLMLError, match=r"Got nan instead"):  # a NumPy scalar shown as written
        validate_param(np.float64("nan"), "x", [Interval(Real, 0, 1)], "f")
    assert describe("boolean") == "a bool" and str(Interval(Integral, 0, None, closed="left")) == "an int >= 0"


def test_values_come_back_converted_to_the_satisfied_constraint():
    out = validate_params({"a": 1, "b": np.int64(3), "c": [1, 2], "d": np.bool_(True)},
                          {"a": [Interval(Real, 0, None)], "b": [Interval(Integral, 0, None)],
                           "c": [Sequence(Interval(Real, None, None))], "d": ["boolean"]}, "f")
    assert out == {"a": 1.0, "b": 3, "c": (1.0, 2.0), "d": True}
    assert type(out["a"]) is float and type(out["b"]) is int and type(out["d"]) is bool


def test_an_undeclared_parameter_passes_unchecked():
    """As in scikit-learn: a user's subclass may add a parameter without declaring it (registered parts may not:
    ``test_every_constructor_parameter_is_declared``)."""
    assert validate_params({"beta": "anything", "alpha": None}, {"alpha": [None]}, "f") == {"beta": "anything",
                                                                                            "alpha": None}


def _functional_cases():
    import mlml.losses.functional as LF

    for name in LF.__all__:
        function = getattr(LF, name)
        for parameter, constraints in getattr(function, "_parameter_constraints", {}).items():
            for i, value in enumerate(bad_values(constraints)):
                yield pytest.param(name, parameter, value, id=f"{name}:{parameter}:{i}")


@pytest.mark.parametrize(("name", "parameter", "value"), list(_functional_cases()))
def test_the_pure_loss_functions_refuse_generated_bad_values(name, parameter, value):
    """The loss functions declare their keyword parameters once (``checks_params``; the modules reuse the
    declarations): a generated bad value is refused before anything is computed."""
    import torch

    import mlml.losses.functional as LF

    logits, targets = torch.zeros(2, 3), torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(MLMLError, match=rf"'{parameter}' parameter of {name}"):
        getattr(LF, name)(logits, targets, **{parameter: value})


def test_every_loss_function_with_a_reduction_declares_it():
    import mlml.losses.functional as LF

    for name in LF.__all__:
        function = getattr(LF, name)
        if callable(function) and "reduction" in inspect.signature(function).parameters:
            assert "reduction" in getattr(function, "_parameter_constraints", {}), name
