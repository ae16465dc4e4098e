"""A method: a registered loss paired with a registered weight estimator, with their parameters.

``METHODS`` maps a method name -- what ``mlml reproduce --methods`` and ``mlml train --method`` take -- to a
:class:`Method`. The methods layer sits above :mod:`mlml.losses` and :mod:`mlml.weights`, which know nothing of
each other: a method is where a loss meets its confidence weights. Every registered method is in
:mod:`mlml.methods.catalog`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from mlml._params import Options, validate_params
from mlml._registry import Registry
from mlml.exceptions import MLMLError

# mlml.losses (torch) is imported where a loss is made or inspected, not here: listing the methods stays fast.

METHODS: Registry[Method] = Registry("method")
#: What a method may do with unannotated (-1) training entries (:attr:`Method.unannotated`).
UNANNOTATED: tuple[str, ...] = ("ignore", "negative")
#: Which labels of the validation rows select the kept epoch (:attr:`Method.val_set_variant`).
VAL_SET_VARIANTS: tuple[str, ...] = ("observed", "complete")


@dataclass(frozen=True)
class Method:
    """A named training recipe: a registered loss and a registered weight estimator.

    Attributes:
        name: the method's name in ``METHODS``.
        loss: a name in ``LOSSES``; ``loss_kwargs`` its parameters.
        estimator: a name in ``mlml.weights.ESTIMATORS``; ``estimator_kwargs`` its parameters.
        description: one line for ``--help`` and reports.
        oracle: True where the method reads the hidden-entry mask (IM-WCE); reports label it so.
        alias_of: the method this one is another name for (e.g. ``an`` = ``bce``); ``--methods all`` skips
            aliases so that no recipe is trained twice.
        threshold_policy: the decision rule the method is meant to be used with (a name in
            :data:`mlml.evaluation.policies.POLICIES`; ``fixed``, the paper's 0.5, unless its authors say
            otherwise). Every trial measures every policy; reports show each method with its own and with ``fixed``.
        unannotated: what the method does with unannotated (``-1``) training entries: ``"ignore"`` (default:
            weight 0, the estimator contract) or ``"negative"`` (assume them negative: they become suspect zeros,
            weighted by the estimator's ω̄ -- fitted on the observed labels as they are, the unannotated entries
            left out of its statistics -- see :meth:`training_labels`). Verified negatives are certain either way.
        val_set_variant: the labels of the validation rows that early stopping and model selection read:
            ``"observed"`` (default: the hidden positives stay hidden, all a user of real data has) or
            ``"complete"`` (the validation rows' complete labels -- what most single-positive repositories do by
            default, ``val_set_variant = 'clean'``; a simulation-only oracle, labelled as such by the grid's
            ``@complete-val`` method names).
    """

    #: The method's own choices (:mod:`mlml._params`); its loss's and estimator's parameters are declared by
    #: their classes and checked by :meth:`check_params`.
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "unannotated": [Options(UNANNOTATED)], "val_set_variant": [Options(VAL_SET_VARIANTS)],
    }

    name: str
    loss: str
    estimator: str = "ones"
    loss_kwargs: Mapping[str, Any] = field(default_factory=dict)
    estimator_kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    oracle: bool = False
    alias_of: str | None = None
    threshold_policy: str = "fixed"
    unannotated: str = "ignore"
    val_set_variant: str = "observed"

    def __post_init__(self) -> None:
        validate_params(self, self._parameter_constraints, f"method {self.name!r}")

    def check_params(self) -> Method:
        """Check ``loss_kwargs`` and ``estimator_kwargs`` against the loss's and the estimator's declared
        ``_parameter_constraints`` (an unknown key or a bad value raises an MLMLError naming this method, the part,
        the parameter, the constraint and the value); returns ``self``. :meth:`with_params`, :meth:`make_loss` and
        :meth:`make_estimator` call it; ``tests/test_parameters.py`` checks every registered method with it."""
        from mlml.losses import LOSSES
        from mlml.weights import ESTIMATORS

        for part, name, kwargs in (("loss", self.loss, self.loss_kwargs),
                                   ("estimator", self.estimator, self.estimator_kwargs)):
            constraints = LOSSES.get(name)._parameter_constraints if part == "loss" else (
                ESTIMATORS.get(name)._parameter_constraints)
            unknown = [key for key in kwargs if key not in constraints]
            if unknown:
                raise MLMLError(f"The {part} {name!r} of method {self.name!r} has no parameter {unknown[0]!r}. "
                                f"Valid parameters: {', '.join(constraints) or 'none'}.")
            validate_params(kwargs, constraints, f"method {self.name!r} ({part} {name!r})")
        return self

    def definition(self) -> dict[str, Any]:
        """Everything that makes this method what it is, as plain data: its name, the loss and the estimator with
        their parameters, the oracle flag and -- where it is not the default ``"ignore"`` -- what it does with
        unannotated entries (what a trial's identity and a run's records hold)."""
        out = {
            "name": self.name,
            "loss": self.loss,
            "loss_kwargs": _plain(self.loss_kwargs),
            "estimator": self.estimator,
            "estimator_kwargs": _plain(self.estimator_kwargs),
            "oracle": self.oracle,
        }
        if self.unannotated != "ignore":  # absent by default, so that existing trial ids stay as they were
            out["unannotated"] = self.unannotated
        if self.val_set_variant != "observed":  # likewise
            out["val_set_variant"] = self.val_set_variant
        return out

    def training_labels(self, observed: Any) -> Any:
        """The labels the method trains on: ``observed`` itself, or for ``unannotated="negative"`` a copy whose
        unannotated entries (``-1``) are suspect zeros (``0``; :func:`mlml.labels.unannotated_as_negative`). The
        trainer fits the estimator on ``observed`` and computes the weights, the batches and the loss's set-up on
        these labels; the grid's diagnostics read the same labels."""
        if self.unannotated == "ignore":
            return observed
        from mlml.labels import unannotated_as_negative

        return unannotated_as_negative(observed)

    def with_params(self, params: Mapping[str, Any], *, name: str | None = None) -> Method:
        """A copy with parameters of its loss or its estimator overridden (and, given ``name``, renamed).

        Each key of ``params`` is a constructor parameter of the loss or of the estimator; ``loss.KEY`` or
        ``estimator.KEY`` says which where both take it. An unknown key raises, listing the valid ones.

        >>> METHODS.get("epr").with_params({"expected_positives": 2.9}).loss_kwargs
        {'expected_positives': 2.9}
        """
        from mlml.losses import LOSSES
        from mlml.weights import ESTIMATORS

        loss_kwargs, estimator_kwargs = dict(self.loss_kwargs), dict(self.estimator_kwargs)
        loss_params = _parameters(LOSSES.get(self.loss))
        estimator_params = _parameters(ESTIMATORS.get(self.estimator))
        for key, value in params.items():
            part, _, bare = key.rpartition(".")
            in_loss, in_estimator = bare in loss_params, bare in estimator_params
            if part not in ("", "loss", "estimator"):
                in_loss = in_estimator = False
            elif part:
                in_loss, in_estimator = in_loss and part == "loss", in_estimator and part == "estimator"
            if in_loss and in_estimator:
                raise MLMLError(
                    f"The parameter {key!r} of method {self.name!r} is taken by both its loss {self.loss!r} and "
                    f"its estimator {self.estimator!r}: write 'loss.{bare}' or 'estimator.{bare}'."
                )
            if not (in_loss or in_estimator):
                valid = [f"loss.{p}" for p in loss_params] + [f"estimator.{p}" for p in estimator_params]
                raise MLMLError(
                    f"Method {self.name!r} has no parameter {key!r}. Valid parameters: "
                    f"{', '.join(valid) or 'none'}."
                )
            (loss_kwargs if in_loss else estimator_kwargs)[bare] = value
        return replace(
            self, name=name or self.name, loss_kwargs=loss_kwargs, estimator_kwargs=estimator_kwargs, alias_of=None
        ).check_params()

    def with_positive_weights(self, estimator: str, params: Mapping[str, Any] | None = None) -> Method:
        """A copy whose ω is also multiplied by the ω of ``estimator`` (e.g. ``class-balance``, the seed's
        per-label positive weights), through the ``product`` estimator; the name stays."""
        factors = [[self.estimator, _plain(self.estimator_kwargs)], [estimator, _plain(params or {})]]
        return replace(self, estimator="product", estimator_kwargs={"factors": factors}, alias_of=None)

    @property
    def estimator_class(self) -> type:
        """The registered weight estimator's class (its capability flags: ``needs_hidden``, ``uses_features``,
        ``adaptive``, ``detects_missing``)."""
        from mlml.weights import ESTIMATORS

        return ESTIMATORS.get(self.estimator)

    def make_loss(self, **extra: Any) -> Any:
        """A new criterion of this method (``loss_kwargs`` updated with ``extra``)."""
        from mlml.losses import LOSSES

        self.check_params()
        return LOSSES.create(self.loss, **{**self.loss_kwargs, **extra})

    def make_estimator(self, **extra: Any) -> Any:
        """A new, unfitted weight estimator of this method (``estimator_kwargs`` updated with ``extra``)."""
        from mlml.weights import ESTIMATORS

        self.check_params()
        return ESTIMATORS.create(self.estimator, **{**self.estimator_kwargs, **extra})


def _parameters(factory: Any) -> list[str]:
    """The keyword parameters a loss or estimator class takes (``reduction`` is the trainer's, not a method's)."""
    signature = inspect.signature(factory)
    return [
        name for name, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in ("self", "reduction")
    ]


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-friendly copy (tuples become lists, nested mappings dicts), keys sorted."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in sorted(value.items())}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(values)


def register_method(method: Method) -> Method:
    """Add ``method`` to ``METHODS`` under its name (a duplicate name raises) and return it."""
    METHODS.register(method.name, method)
    return method
