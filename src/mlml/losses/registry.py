"""Registries of losses and of methods (a loss paired with its weight estimator).

``LOSSES`` maps a name to a :class:`~mlml.losses.modules.Criterion` subclass (``LOSSES.create(name, **kw)``).
``METHODS`` maps a method name -- what ``mlml reproduce --methods`` takes -- to a :class:`Method`: the loss,
the weight estimator and their parameters. ``bce``, ``im-wce`` and ``cb-wce`` are the paper's three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlml._registry import Registry

LOSSES: Registry[type] = Registry("loss")
METHODS: Registry["Method"] = Registry("method")


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
    """

    name: str
    loss: str
    estimator: str = "ones"
    loss_kwargs: Mapping[str, Any] = field(default_factory=dict)
    estimator_kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    oracle: bool = False
    alias_of: str | None = None

    def make_loss(self, **extra: Any) -> Any:
        """A new criterion of this method (``loss_kwargs`` updated with ``extra``)."""
        return LOSSES.create(self.loss, **{**self.loss_kwargs, **extra})

    def make_estimator(self, **extra: Any) -> Any:
        """A new, unfitted weight estimator of this method (``estimator_kwargs`` updated with ``extra``)."""
        from mlml.weights import ESTIMATORS

        return ESTIMATORS.create(self.estimator, **{**self.estimator_kwargs, **extra})


def register_method(method: Method) -> Method:
    """Add ``method`` to ``METHODS`` under its name (a duplicate name raises) and return it."""
    METHODS.register(method.name, method)
    return method
