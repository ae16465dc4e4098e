"""The figure of a partial-label grid (``scheme: partial``): a metric against the proportion of known labels, one
panel per data set, one line per method -- Durand et al.'s (CVPR 2019) Figure of mAP vs known proportion.

In such a grid a record's ``ratio`` is the KNOWN proportion of the training labels, not a missing ratio; the report
labels the axis so (``RATIO_LABELS``). The conventions of :mod:`mlml.reports.figures` hold: a matplotlib
``Figure`` outside pyplot, ``(fig, axes)`` returned, LEAK and oracle series tagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError
from mlml.reports.figures import _legend, _sorted_methods, _style, new_figure
from mlml.reports.records import series_label, series_rank
from mlml.reports.tables import METRIC_NAMES

#: The x axis of a grid's metric-vs-ratio figures, by simulation scheme.
RATIO_LABELS = {"partial": "known proportion of the training labels"}


def ratio_label(scheme: str | None) -> str:
    """What a record's ``ratio`` is for ``scheme``: a known proportion (``"partial"``) or a missing ratio."""
    return RATIO_LABELS.get(scheme or "", "missing ratio")


def plot_metric_vs_known(
    rows: Sequence[Mapping[str, Any]],
    metric: str = "map",
    *,
    datasets: Sequence[str] | None = None,
    threshold: str = "fixed",
    ncols: int = 3,
) -> tuple[Any, Any]:
    """``metric`` (mean ± std over folds) against the known proportion (in %), one panel per data set.

    Args:
        rows: :func:`mlml.reports.summarize` rows of a partial-label grid.
        metric: a summarised metric (default ``"map"``, Durand et al.'s).
        datasets: the data sets to draw, in order (default: every data set of the rows, sorted).
        threshold: ``"fixed"`` or ``"tuned"`` rows (mAP does not depend on it).
        ncols: panels per row.

    Raises:
        MLMLError: no row of the metric, or a data set without rows.
    """
    chosen = [r for r in rows if r.get("threshold", "fixed") == threshold and r.get("n_folds", 0) > 0]
    if not chosen or f"{metric}_mean" not in chosen[0]:
        raise MLMLError(f"plot_metric_vs_known: no finished row with the metric {metric!r}.")
    names = sorted({r["dataset"] for r in chosen}) if datasets is None else list(datasets)
    missing = [d for d in names if not any(r["dataset"] == d for r in chosen)]
    if missing or not names:
        raise MLMLError(f"plot_metric_vs_known: no finished row for the data set(s) {missing or names}.")
    ncols = max(1, min(ncols, len(names)))
    nrows = -(-len(names) // ncols)
    fig, axes = new_figure((4.4 * ncols, 3.4 * nrows + 0.8), nrows, ncols)
    flat = np.atleast_1d(axes).ravel()
    keys = sorted({(r["method"], r.get("weights_source", "observed"), bool(r.get("oracle", False))) for r in chosen},
                  key=series_rank)
    methods = _sorted_methods(keys)
    for ax, dataset in zip(flat, names):
        for key in keys:
            points = sorted((r for r in chosen if r["dataset"] == dataset
                             and (r["method"], r.get("weights_source", "observed"), bool(r.get("oracle", False)))
                             == key), key=lambda r: r["ratio"])
            if not points:
                continue
            x = [100.0 * r["ratio"] for r in points]
            y = [r[f"{metric}_mean"] for r in points]
            err = [0.0 if np.isnan(r[f"{metric}_std"]) else r[f"{metric}_std"] for r in points]
            ax.errorbar(x, y, yerr=err, capsize=2, markersize=3, label=series_label(*key), **_style(*key, methods))
        ax.set_title(dataset, fontsize="medium")
        ax.set_xlabel("known labels (%)")
        ax.set_ylabel(METRIC_NAMES.get(metric, metric))
        ax.grid(alpha=0.3)
    for ax in flat[len(names):]:
        ax.set_visible(False)
    _legend(fig, flat[0], True, ncols=4)
    fig.suptitle(f"{METRIC_NAMES.get(metric, metric)} vs proportion of known labels (partial labels, Durand et al.; "
                 "mean ± std over folds)")
    return fig, axes
