"""Calibrating ``mlml suggest``'s scores to the estimated number of missing positives (a prior shift).

The combination of :mod:`mlml.evidence` is calibrated on the *re-hidden* problem, where the positives that were
already missing count as negatives, so its scores under-state the probability that an observed zero is a missing
positive. What is known, approximately, from the observed labels alone is how *many* positives are missing: with
``m`` the estimated missing share (:func:`mlml.diagnose.diagnose`, which reads the labels and the features), the
``P`` observed positives stand beside about

    T = P · m / (1 − m)

missing ones, all of them among the observed zeros. ``calibration="missing-share"`` adds one constant ``δ`` to
every score's logit so that the scores of the observed zeros sum to ``T``,

    Σ_{(i, c): y_ic = 0} σ(z_ic + δ) = T,

the prior-shift adjustment of a classifier's posteriors to a new class prior (Saerens, Latinne & Decaestecker,
Neural Computation 14, 2002, eq. 2.4, with the prior fixed by ``m`` rather than re-estimated by EM: their EM, tried
here, collapsed to no missing positive on three MULAN sets). One ``δ`` for all labels keeps the ranking exactly;
only the scale of the scores moves. ``δ`` is solved on the zeros of a random sample of rows (every row up to
``SHIFT_ENTRIES`` entries), and ``m`` is estimated on at most ``DIAGNOSE_ROWS`` rows.

How well the calibrated score matches the rate of hidden positives is measured on simulated hiding by
``benchmarks/bench_suggest.py --calibration`` (benchmarks/README.md).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml._validation import check_fraction, check_random_state
from mlml.exceptions import MLMLError
from mlml.labels import POSITIVE, LabelMatrix

CALIBRATIONS: tuple[str, ...] = ("missing-share", "none")
#: Rows given to ``diagnose`` for the missing share (a uniform sample beyond).
DIAGNOSE_ROWS = 20_000
#: Entries (rows x labels) of the row sample on which the shift is solved.
SHIFT_ENTRIES = 1 << 22
logger = logging.getLogger("mlml.suggest.calibration")  # the CLI shows its INFO line


def estimate_missing_share(observed: LabelMatrix, features: Any = None, *, random_state: Any = 0) -> float:
    """The overall missing share of ``observed`` by :func:`mlml.diagnose.diagnose` (features when given, no
    bootstrap), on a uniform sample of ``DIAGNOSE_ROWS`` rows beyond that many; NaN where it cannot be estimated."""
    from mlml.diagnose import diagnose

    rng = check_random_state(random_state)
    n_samples = observed.shape[0]
    if n_samples > DIAGNOSE_ROWS:
        rows = np.sort(rng.choice(n_samples, DIAGNOSE_ROWS, replace=False))
        observed = observed[rows]
        features = None if features is None else features[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # diagnose's notes (few positives, ...) are its own command's business
        try:
            found = diagnose(observed, features=features, n_bootstrap=0, random_state=rng)
        except MLMLError as error:  # too few rows for its folds, ...
            logger.info("suggest: no missing share: %s", error)
            return float("nan")
    return float(found.missing_share)


def solve_shift(logits: np.ndarray, target: float, *, weight: float = 1.0, tol: float = 1e-9) -> float:
    """``δ`` with ``weight · Σ σ(logits + δ) = target`` (bisection on the log-odds scale; the sum is increasing
    in ``δ``).

    Raises:
        MLMLError: ``target`` outside ``(0, weight · len(logits))``.
    """
    z = np.asarray(logits, dtype=np.float64).ravel()
    if not 0.0 < target < weight * z.size:
        raise MLMLError(f"The target count of missing positives must be in (0, {weight * z.size:g}) (the number of "
                        f"observed zeros). Got {target:g}.")

    def total(delta: float) -> float:
        return weight * float(np.sum(0.5 * (1.0 + np.tanh(0.5 * (z + delta)))))

    low, high = -1.0, 1.0
    while total(low) > target:
        low *= 2.0
    while total(high) < target:
        high *= 2.0
    while high - low > tol:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if total(mid) < target else (low, mid)
    return 0.5 * (low + high)


def calibrate(
    scorer: Any,
    *,
    features: Any = None,
    missing_share: float | None = None,
    estimated: float | None = None,
    random_state: Any = 0,
) -> tuple[float, float]:
    """Set ``scorer.shift`` so that its scores of the observed zeros sum to the estimated number of missing
    positives (module docstring); returns ``(missing share used, target count)``. Where the share cannot be
    estimated (too few observed positives), warns and leaves the scores as they are.

    Args:
        scorer: a :class:`mlml.suggest.Scorer`.
        features: the features given to ``diagnose`` (None: the labels alone).
        missing_share: ``m`` in [0, 1), the share of positives missing, when known; None: estimated.
        estimated: ``diagnose``'s estimate of ``m`` when already computed (``suggest``'s re-hiding reads it too);
            None: estimated here.
        random_state: seed of the row samples.
    """
    rng = check_random_state(random_state)
    observed = scorer.evidence.observed
    given = missing_share is not None
    if missing_share is None:
        missing_share = estimated if estimated is not None else estimate_missing_share(observed, features,
                                                                                       random_state=rng)
        if not math.isfinite(missing_share) or missing_share >= 1.0:  # 1: no positive observed (diagnose's floor)
            warnings.warn("suggest: the missing share could not be estimated (too few rows or observed positives); the "
                          "scores are left uncalibrated (calibration='none'); give missing_share if you know it.",
                          stacklevel=3)
            return missing_share, float("nan")
    else:
        missing_share = check_fraction(missing_share, "missing_share", "suggest")
        if missing_share >= 1.0:
            raise MLMLError(f"The 'missing_share' parameter of suggest must be in [0, 1). Got {missing_share}.")
    positives = int((observed.data == POSITIVE).sum()) if sp.issparse(observed) else int(
        (np.asarray(observed) == POSITIVE).sum())
    target = positives * missing_share / (1.0 - missing_share)
    n_samples, n_labels = observed.shape
    take = min(n_samples, max(1, SHIFT_ENTRIES // max(n_labels, 1)))
    rows = np.arange(n_samples) if take == n_samples else np.sort(rng.choice(n_samples, take, replace=False))
    parts = []
    for start in range(0, rows.size, max(1, (1 << 20) // max(n_labels, 1))):
        block = rows[start : start + max(1, (1 << 20) // max(n_labels, 1))]
        values = scorer.evidence.block(block)
        parts.append(scorer.logits(values)[values["labels"] == 0])
    logits = np.concatenate(parts)
    weight = n_samples / rows.size
    if logits.size == 0:
        return missing_share, target
    # at least one missing positive (m = 0 would send every score to 0 and lose the ranking), fewer than the zeros
    target = min(max(target, 1.0), 0.999 * weight * logits.size)
    scorer.shift = solve_shift(logits, target, weight=weight)
    logger.info("suggest: scores calibrated to sum to %s missing positives over the observed zeros (missing share "
                "%.3f%s, %s observed positives; logit shift %+.2f)%s", f"{target:,.0f}", missing_share,
                " given" if given else " estimated by diagnose", f"{positives:,}", scorer.shift,
                "" if given else "; if the share looks wrong, give --missing-share M or --calibration none")
    return missing_share, target
