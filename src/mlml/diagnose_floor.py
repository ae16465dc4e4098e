"""The floor of empty rows: step 5 of :func:`mlml.diagnose.diagnose`.

Where every sample has at least one true positive (the rule of multi-label data sets: MULAN's, COCO's, a tagging
set's), each of the ``E`` rows with no observed positive (and a suspect zero, no unannotated entry) has lost at least
one positive among its suspect zeros, so the overall missing share is at least ``E / (E + O)``, ``O`` the observed
positives. The floor is a count, not an estimate (it describes this sample's rows), and never above the truth when
the assumption holds; it binds where hiding empties rows -- many positives missing, few labels a row -- which steps
1-3, reading the positives that survive, see least. It is checked against them: steps 1-3 bound the share from above,
so a floor above the interval's upper end contradicts them (samples that truly carry no label) and is then not
applied but said in a note; with ``n_bootstrap=0`` (no interval) the floor therefore only fills a missing estimate.
Measured: benchmarks/README.md, "Fifth session: the floor of empty rows".
"""

from __future__ import annotations

import math

import numpy as np

from mlml.labels import POSITIVE, UNKNOWN, LabelMatrix, to_dense


def _empty_rows(dense: np.ndarray) -> np.ndarray:
    """Rows with no observed positive, at least one suspect zero and no unannotated entry: where a sample that
    carries a label must have lost it among its suspect zeros."""
    return ~(dense == POSITIVE).any(axis=1) & (dense == 0).any(axis=1) & ~(dense == UNKNOWN).any(axis=1)


def empty_row_floor(observed: LabelMatrix) -> float:
    """``E / (E + O)``: the smallest overall missing share the observed labels allow if every sample has at least
    one true positive (module docstring). 0 without such rows, NaN without either."""
    dense = to_dense(observed)
    empty, positives = int(_empty_rows(dense).sum()), int((dense == POSITIVE).sum())
    return empty / (empty + positives) if empty + positives else float("nan")


def apply_floor(estimate: float, low: float, high: float, floor: float, dense: np.ndarray, notes: list[str],
                min_positives: int) -> tuple[float, float, float, list[str]]:
    """The estimate, interval and notes of steps 1-4 with the floor applied (module docstring): raised to it, the
    floor itself with the interval ``[floor, 1]`` where there is no estimate, or left as they are, with a note, where
    the floor lies above the interval's upper end. A NaN or zero floor changes nothing."""
    if not floor > 0:
        return estimate, low, high, notes
    empty = f"{int(_empty_rows(dense).sum()):,} samples without an observed positive"
    if not math.isfinite(estimate):
        return floor, floor, 1.0, [f"no label has {min_positives} observed positives: the figure is the floor of "
                                   f"the {empty} (each misses at least one if every sample carries a label), a "
                                   "lower bound"]
    if floor > high:  # a lower bound above the upper one: the assumption does not hold here
        return estimate, low, high, notes + [
            f"the {empty} are more than the estimate allows (their floor {floor:.3f} lies above the interval's upper "
            f"end {high:.3f}): some samples seem to carry no label at all; the floor is not applied"]
    if estimate < floor:
        return floor, max(low, floor), high, notes + [
            f"the estimate {estimate:.3f} was raised to the floor {floor:.3f} of the {empty} (each misses at least "
            "one if every sample carries a label)"]
    return estimate, low, high, notes
