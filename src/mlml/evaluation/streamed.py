"""Evaluation of data too large for one dense score matrix: the metrics of :func:`~mlml.evaluation.evaluate`
accumulated batch by batch.

:class:`StreamedEvaluation` takes the true labels (dense or CSR) and, one block of consecutive rows at a time,
the model's probabilities of those rows. Per block it adds up, for every class and every threshold asked for,
the true and false positives, the support and the scored negatives, and keeps the top ``k`` labels of every
row; at the end it gives the same micro/macro precision, recall and F1 and the same ranking metrics (P@k, nDCG@k,
PSP@k, PSnDCG@k) as :func:`~mlml.evaluation.evaluate` on the whole matrix. ROC-AUC and average precision need
every score of a class at once; they are NaN here (``micro_auc``, ``macro_auc``, ``map`` and the per-class
lists), and ``n_classes_undefined`` counts the classes they would leave out.

:data:`DENSE_EVALUATION_ENTRIES` is the size (rows x labels) up to which the grid and ``mlml evaluate`` score a
dense matrix with :func:`~mlml.evaluation.evaluate`; beyond it they stream.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml.evaluation.counts import DecisionCounts
from mlml.evaluation.metrics import UndefinedMetricWarning, _check_threshold
from mlml.evaluation.ranking import DEFAULT_KS, ranking_metrics_topk, top_k
from mlml.exceptions import MLMLError
from mlml.labels import LabelMatrix, check_labels

#: Up to this many entries (rows x labels) a dense score matrix is evaluated at once; beyond, it is streamed.
DENSE_EVALUATION_ENTRIES = 1 << 26


def dense_evaluation_fits(n_samples: int, n_labels: int) -> bool:
    """Whether ``n_samples x n_labels`` scores are evaluated as one dense matrix (see the module docstring)."""
    return n_samples * n_labels <= DENSE_EVALUATION_ENTRIES


class StreamedEvaluation:
    """Accumulate the metrics of :func:`~mlml.evaluation.evaluate` over blocks of rows (see the module docstring).

    Args:
        y_true: the true labels ``(n_samples, n_labels)``, int8 dense or CSR, ``1``/``0``/``-1`` (unknown: not
            scored).
        thresholds: named thresholds, each a float, a ``(n_labels,)`` array, or a rule: a callable that maps a
            block's probabilities ``(batch, n_labels)`` to thresholds of shape ``(n_labels,)`` or ``(batch,
            n_labels)`` -- a per-sample decision such as ``Decision.thresholds`` of the ``cardinality`` policy,
            whose thresholds of a row depend on that row only --, e.g. ``{"fixed": 0.5, "model": rule}``.
        ks: the ranking metrics' cut-offs.

    Example:
        >>> import numpy as np
        >>> y = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.int8)
        >>> run = StreamedEvaluation(y, {"fixed": 0.5})
        >>> run.update(np.array([[0.9, 0.2], [0.6, 0.5]]))
        >>> run.update(np.array([[0.4, 0.7]]))
        >>> run.result("fixed")["micro_precision"]  # tp 3, fp 1 (0.6 >= 0.5 on a negative)
        0.75
    """

    def __init__(self, y_true: LabelMatrix, thresholds: Mapping[str, Any], *, ks: tuple[int, ...] = DEFAULT_KS):
        self.y_true = check_labels(y_true, name="y_true", allow_unknown=True)
        n_samples, n_labels = self.y_true.shape
        self.ks = tuple(ks)
        self.thresholds = {name: value if callable(value) else _check_threshold(value, n_labels)
                           for name, value in thresholds.items()}
        self.counts = {name: DecisionCounts.zeros(n_labels) for name in self.thresholds}
        self.top: list[np.ndarray] = []
        self.seen = 0

    def update(self, proba: np.ndarray) -> None:
        """Add the probabilities ``(batch, n_labels)`` of the next ``batch`` rows (in row order)."""
        proba = np.asarray(proba)
        start, stop = self.seen, self.seen + proba.shape[0]
        n_samples, n_labels = self.y_true.shape
        if proba.ndim != 2 or proba.shape[1] != n_labels or stop > n_samples:
            raise MLMLError(f"StreamedEvaluation.update got scores of shape {proba.shape} for rows {start}..{stop} "
                            f"of {n_samples} rows x {n_labels} labels.")
        if not np.isfinite(proba).all():
            raise MLMLError(f"StreamedEvaluation.update got non-finite scores in rows {start}..{stop}.")
        block = self.y_true[start:stop]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        scored = block != -1
        positive = block == 1
        for name, threshold in self.thresholds.items():
            if callable(threshold):
                threshold = _check_threshold(threshold(proba), n_labels, proba.shape[0])
            self.counts[name].update(positive, scored, proba >= threshold)
        self.top.append(top_k(proba, max(self.ks), scored=scored))
        self.seen = stop

    def result(self, name: str, *, propensity: np.ndarray | None = None) -> dict[str, Any]:
        """The metrics at the threshold ``name`` (keys as :func:`~mlml.evaluation.evaluate`'s; AUC and AP NaN).

        Raises:
            MLMLError: rows not yet given, or an unknown threshold name.
        """
        n_samples, n_labels = self.y_true.shape
        if self.seen != n_samples:
            raise MLMLError(f"StreamedEvaluation has scores of {self.seen} of {n_samples} rows.")
        if name not in self.counts:
            raise MLMLError(f"No threshold named {name!r}; this evaluation has {', '.join(self.counts)}.")
        counts = self.counts[name]
        support = counts.support
        has_pos = support > 0
        defined = has_pos & (counts.negatives > 0)
        warnings.warn(f"ROC-AUC and average precision are not computed for {n_samples:,} x {n_labels:,} scores "
                      "(streamed evaluation; they need every score of a class at once): reported as NaN.",
                      UndefinedMetricWarning, stacklevel=2)
        nan_list = [float("nan")] * n_labels
        decisions = counts.compute()
        return {
            **{key: decisions[key] for key in ("micro_precision", "micro_recall", "micro_f1")},
            "micro_auc": float("nan"),
            **{key: decisions[key] for key in ("macro_precision", "macro_recall", "macro_f1")},
            "macro_auc": float("nan"),
            "map": float("nan"),
            "n_scored": int(support.sum() + counts.negatives.sum()),
            "n_classes": int(n_labels),
            "n_classes_undefined": int(n_labels - defined.sum()),
            "n_classes_no_positives": int(n_labels - has_pos.sum()),
            **counts.lists(),
            "per_class_ap": nan_list,
            "per_class_auc": list(nan_list),
            # unknown entries were ranked last (top_k's scored) and are never positives
            **ranking_metrics_topk(np.concatenate(self.top), self.y_true, ks=self.ks, propensity=propensity),
        }
