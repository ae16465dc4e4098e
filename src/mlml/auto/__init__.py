"""``auto``: the best method and decision for a user's data, chosen from observed labels alone.

:mod:`mlml.auto.criteria` holds the selection criteria (observed-label mAP, PU-AUC, soft-truth mAP, Lee & Liu's
``r² / P(ŷ = 1)``, re-hiding); :mod:`mlml.auto.select` trains the candidates of one fold and chooses
(:func:`fit_auto`); :mod:`mlml.auto.method` is what the name ``auto`` resolves to in the front ends. See
docs/auto.md.
"""

from typing import Any

from mlml.auto.criteria import CRITERIA, kendall_tau
from mlml.auto.method import AUTO, DEFAULT_CANDIDATES, DEFAULT_CRITERION, AutoMethod, is_auto, resolve_method


def __getattr__(name: str) -> Any:
    """``fit_auto`` and ``AutoResult`` are imported on first use: they need torch, which ``mlml methods`` does not."""
    if name in ("AutoResult", "fit_auto"):
        from mlml.auto import select

        return getattr(select, name)
    raise AttributeError(f"module 'mlml.auto' has no attribute {name!r}")


__all__ = [
    "AUTO",
    "CRITERIA",
    "DEFAULT_CANDIDATES",
    "DEFAULT_CRITERION",
    "AutoMethod",
    "AutoResult",
    "fit_auto",
    "is_auto",
    "kendall_tau",
    "resolve_method",
]
