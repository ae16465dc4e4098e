"""The registry of losses: ``LOSSES`` maps a name to a :class:`~mlml.losses.modules.Criterion` subclass
(``LOSSES.create(name, **kw)``). Methods -- a loss paired with a weight estimator -- live in :mod:`mlml.methods`.
"""

from __future__ import annotations

from mlml._registry import Registry

LOSSES: Registry[type] = Registry("loss")
