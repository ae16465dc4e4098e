"""Weights of several estimators multiplied entry by entry (e.g. the seed's class balancing on top of Eq. 3).

For factors ``k = 1..K`` with weights ``(ω^k, ω̄^k)``::

    ω_ic = Π_k ω^k_ic,        ω̄_ic = Π_k ω̄^k_ic.

The seed code trains BCE, IM-WCE and CB-WCE alike with per-label positive weights
``clip(round(N / (2 n_c)), 1, 10)`` (``class-balance``) in ω; ``product`` of ``ignore-missing`` or ``pattern``
with ``class-balance`` gives exactly its weights. The product is an oracle, feature-aware or model-aware when one
of its factors is, and forwards ``fit``, ``transform`` and ``update`` to each factor with the inputs it takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError
from mlml.weights.base import ESTIMATORS, WeightEstimator

Factor = str | Sequence[Any]


def _factor(spec: Factor, owner: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``[name, {params}]`` -> ``(name, params)``."""
    if isinstance(spec, str):
        return spec, {}
    if (
        isinstance(spec, Sequence) and len(spec) == 2 and isinstance(spec[0], str)
        and isinstance(spec[1], Mapping)
    ):
        return spec[0], dict(spec[1])
    raise MLMLError(
        f"Each entry of the 'factors' parameter of {owner} must be an estimator name or a [name, {{params}}] pair. "
        f"Got {spec!r} instead."
    )


@ESTIMATORS.register("product")
class Product(WeightEstimator):
    """ω and ω̄ of several registered estimators, multiplied entry by entry (see the module docstring).

    Args:
        factors: estimator names, or ``[name, params]`` pairs, e.g. ``["pattern", "class-balance"]``.

    Attributes:
        estimators_: the fitted factor estimators, in order.

    Example:
        >>> import numpy as np
        >>> Y = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])
        >>> pos, neg = Product(["pattern", "class-balance"]).fit_transform(Y)
        >>> pos[0].tolist(), neg[0].tolist()  # ω: round(4 / (2 * 3)) = 1, round(4 / 2) = 2; ω̄ of Eq. 3
        ([1.0, 2.0], [0.0, 0.6666666666666667])
    """

    _parameter_constraints = {"factors": [list, tuple]}  # each factor is checked by _specs, against the registry

    def __init__(self, factors: Sequence[Factor] = ("ones",)) -> None:
        self.factors = factors

    def _specs(self) -> list[tuple[str, dict[str, Any]]]:
        owner = type(self).__name__
        if isinstance(self.factors, str) or not isinstance(self.factors, Sequence) or not self.factors:
            raise MLMLError(f"The 'factors' parameter of {owner} must be a non-empty list. Got {self.factors!r}.")
        specs = [_factor(spec, owner) for spec in self.factors]
        for name, _ in specs:
            ESTIMATORS.get(name)  # an unknown name raises, listing the valid ones
        return specs

    def _flag(self, flag: str) -> bool:
        return any(getattr(ESTIMATORS.get(name), flag, False) for name, _ in self._specs())

    @property
    def needs_hidden(self) -> bool:  # type: ignore[override]
        return self._flag("needs_hidden")

    @property
    def uses_features(self) -> bool:  # type: ignore[override]
        return self._flag("uses_features")

    @property
    def adaptive(self) -> bool:  # type: ignore[override]
        return self._flag("adaptive")

    @property
    def detects_missing(self) -> bool:  # type: ignore[override]
        return self._flag("detects_missing")

    @property
    def uses_rows(self) -> bool:  # type: ignore[override]
        return self._flag("uses_rows")

    @staticmethod
    def _inputs(estimator: Any, features: Any, hidden: Any) -> dict[str, Any]:
        return {
            "features": features if estimator.uses_features else None,
            "hidden": hidden if estimator.needs_hidden else None,
        }

    def _fit(self, observed, *, features, hidden):  # type: ignore[override]
        self.estimators_ = [ESTIMATORS.create(name, **params) for name, params in self._specs()]
        for estimator in self.estimators_:
            estimator.fit(observed, **self._inputs(estimator, features, hidden))

    def _weights(self, observed, *, rows, features, hidden):  # type: ignore[override]
        pos, neg = np.ones(observed.shape), np.ones(observed.shape)
        for estimator in self.estimators_:
            p, n = estimator.transform(observed, rows=rows, **self._inputs(estimator, features, hidden))
            pos *= p
            neg *= n
        return pos, neg

    def update(self, probabilities: np.ndarray, *, rows: np.ndarray | None = None) -> None:
        """Forward the model's probabilities to every model-aware factor."""
        self._check_fitted()
        for estimator in self.estimators_:
            if estimator.adaptive:
                estimator.update(probabilities, rows=rows)
