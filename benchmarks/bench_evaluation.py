"""Speed of mlml.evaluation at COCO scale (33,052 x 80), against scikit-learn in the same run.

Labels: the complete COCO labels of ../shared/data/coco2017-seed-folds (or ``$MLML_SHARED_DATA``; skipped
with a message where absent). Scores: a seeded noisy function of the labels (the metrics' cost does not depend
on how good the scores are). Prints wall times (best of ``--repeat``), the ratio against the baseline, and the
largest difference from the baseline's values.

* evaluate (unmasked and with a random 90 % mask) vs scikit-learn: per-class ``average_precision_score`` and
  ``roc_auc_score`` on each class's scored entries, pooled ``roc_auc_score`` and
  ``precision_recall_fscore_support`` for the micro metrics;
* tune_thresholds (99 candidates) vs a loop over the candidates, vectorised over classes and entries.

Run: ``python benchmarks/bench_evaluation.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from _common import present, shared_data
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from mlml.evaluation import evaluate, threshold_grid, tune_thresholds
from mlml.labels import read_labels_csv


def sklearn_reference(y: np.ndarray, scores: np.ndarray, scored: np.ndarray) -> dict[str, float]:
    ap, auc = [], []
    for c in range(y.shape[1]):
        keep = scored[:, c]
        yc, sc = y[keep, c], scores[keep, c]
        if 0 < yc.sum() < yc.size:
            ap.append(average_precision_score(yc, sc))
            auc.append(roc_auc_score(yc, sc))
    p, r, f, _ = precision_recall_fscore_support(y[scored], scores[scored] >= 0.5, average="binary")
    return {
        "map": float(np.mean(ap)),
        "macro_auc": float(np.mean(auc)),
        "micro_auc": roc_auc_score(y[scored], scores[scored]),
        "micro_precision": p,
        "micro_recall": r,
        "micro_f1": f,
    }


def loop_thresholds(y: np.ndarray, scores: np.ndarray, grid: np.ndarray) -> np.ndarray:
    positive = y == 1
    support = positive.sum(axis=0)
    f1 = np.empty((grid.size, y.shape[1]))
    for k, t in enumerate(grid):
        predicted = scores >= t
        tp = (predicted & positive).sum(axis=0)
        fp = (predicted & ~positive).sum(axis=0)
        f1[k] = np.divide(2 * tp, tp + fp + support, out=np.zeros(y.shape[1]), where=(tp + fp + support) > 0)
    best = f1.max(axis=0)
    distance = np.where(np.isclose(f1, best, rtol=0, atol=1e-12), np.abs(grid - 0.5)[:, None], np.inf)
    out = grid[np.argmin(distance, axis=0)]
    out[best <= 0] = 0.5
    return out


def best_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    coco = shared_data() / "coco2017-seed-folds" / "labels.csv.gz"
    if not present(coco, "masked metrics at COCO scale"):
        return 0
    y = read_labels_csv(coco).values
    rng = np.random.default_rng(0)
    scores = np.clip(0.35 * y + rng.random(y.shape) * 0.65, 0.0, 1.0)
    mask = rng.random(y.shape) < 0.9
    print(
        f"labels {y.shape[0]:,} x {y.shape[1]} (COCO), {int((y == 1).sum()):,} positives; "
        f"best of {args.repeat}"
    )
    warnings.simplefilter("ignore")
    for name, m in (("all entries", None), ("90% mask", mask)):
        scored = np.ones_like(y, dtype=bool) if m is None else m
        t_ours, ours = best_time(lambda m=m: evaluate(y, scores, mask=m), args.repeat)
        t_ref, ref = best_time(lambda scored=scored: sklearn_reference(y, scores, scored), args.repeat)
        diff = max(abs(ours[k] - v) for k, v in ref.items())
        print(
            f"evaluate ({name}): {t_ours:.3f} s   scikit-learn: {t_ref:.3f} s   "
            f"speed-up {t_ref / t_ours:.1f}x   max |diff| {diff:.1e}"
        )
    grid = threshold_grid(99)
    t_ours, tuned = best_time(lambda: tune_thresholds(y, scores), args.repeat)
    t_loop, looped = best_time(lambda: loop_thresholds(y, scores, grid), args.repeat)
    print(
        f"tune_thresholds (99 candidates): {t_ours:.3f} s   loop over candidates: {t_loop:.3f} s   "
        f"speed-up {t_loop / t_ours:.1f}x   identical: {bool(np.array_equal(tuned, looped))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
