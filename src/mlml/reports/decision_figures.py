"""Figures of decisions: the micro precision-recall trade-off of each method with its policies' operating points,
and predicted vs true cardinality per missing ratio (conventions of :mod:`mlml.reports.figures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError
from mlml.reports.figures import _by_series, _done, _figure_and_axes, _legend, _sorted_methods, _style
from mlml.reports.records import as_float, series_label, series_rank
from mlml.reports.tables import policy_metrics

Record = Mapping[str, Any]
_RECALL_GRID = np.linspace(0.0, 1.0, 101)


def plot_pr_tradeoff(records: Sequence[Record], *, dataset: str | None = None, ratio: float | None = None,
                     ax: Any = None) -> tuple[Any, Any]:
    """Micro precision against micro recall on the test folds, one line per method (interpolated precision,
    averaged over folds), with the operating points of threshold 0.5 (circle) and of the method's own policy
    (star, where it has another)."""
    done = [r for r in _done(records, dataset, ratio, "plot_pr_tradeoff") if r.pr_curve]
    if not done:
        raise MLMLError("plot_pr_tradeoff: no finished record holds a precision-recall curve.")
    own_figure = ax is None
    fig, ax = _figure_and_axes(ax, (5.4, 4.0))
    series = _by_series(done)
    methods = _sorted_methods(list(series))
    drawn = set()
    for key in sorted(series, key=series_rank):
        group = series[key]
        curves = [_interpolated(r.pr_curve) for r in group]
        style = {k: v for k, v in _style(*key, methods).items() if k != "marker"}
        line = ax.plot(_RECALL_GRID, np.mean(curves, axis=0), label=series_label(*key), **style)[0]
        for policy, marker in (("fixed", "o"), (group[0].own_policy or "fixed", "*")):
            points = [policy_metrics(r).get(policy) for r in group]
            points = [p for p in points if p is not None]
            if points and (marker == "o" or policy != "fixed"):
                ax.plot(np.mean([as_float(p["micro_recall"]) for p in points]),
                        np.mean([as_float(p["micro_precision"]) for p in points]), marker=marker,
                        markersize=9 if marker == "*" else 6, color=line.get_color(), linestyle="none")
                drawn.add(marker)
    for marker, label in (("o", "threshold 0.5"), ("*", "own policy")):  # a key for the markers that are drawn
        if marker in drawn:
            ax.plot([], [], marker=marker, color="0.35", linestyle="none", label=label)
    ax.set_xlabel("micro recall")
    ax.set_ylabel("micro precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    shown = {r.ratio for r in done}
    ax.set_title("Precision-recall trade-off" + (f", ratio {next(iter(shown)):g}" if len(shown) == 1 else ""))
    ax.grid(alpha=0.3)
    _legend(fig, ax, own_figure, ncols=1)
    return fig, ax


def plot_cardinality(records: Sequence[Record], *, dataset: str | None = None, ax: Any = None) -> tuple[Any, Any]:
    """Mean labels predicted per test row against the missing ratio: each method at threshold 0.5 (dashed) and
    with its own policy (solid, where it has another), and the true mean cardinality (black)."""
    done = [r for r in _done(records, dataset, None, "plot_cardinality") if r.cardinality]
    if not done:
        raise MLMLError("plot_cardinality: no finished record holds cardinalities.")
    own_figure = ax is None
    fig, ax = _figure_and_axes(ax, (5.4, 4.0))
    ratios = sorted({r.ratio for r in done})
    truth = [np.mean([r.cardinality["true"] for r in done if r.ratio == x]) for x in ratios]
    ax.plot(ratios, truth, color="black", linewidth=2.2, marker="s", label="true cardinality")
    series = _by_series(done)
    methods = _sorted_methods(list(series))
    for key in sorted(series, key=series_rank):
        group = series[key]
        own = group[0].own_policy or "fixed"
        style = _style(*key, methods)
        for policy, linestyle in (("fixed", "--"), (own, "-")):
            if policy == "fixed" and linestyle == "-":
                continue
            values = [np.mean([r.cardinality[policy] for r in group if r.ratio == x
                               and policy in r.cardinality] or [np.nan]) for x in ratios]
            if np.isnan(values).all():  # no record holds this policy's decisions: no line, no legend entry
                continue
            ax.plot(ratios, values, marker=style.get("marker", "o"), color=style.get("color"), linestyle=linestyle,
                    label=series_label(*key) + (" (0.5)" if policy == "fixed" else f" ({policy})"))
    ax.set_xlabel("missing ratio")
    ax.set_ylabel("labels per test row")
    ax.set_title("Predicted vs true cardinality")
    ax.grid(alpha=0.3)
    _legend(fig, ax, own_figure, ncols=1)
    return fig, ax


def _interpolated(curve: Mapping[str, Sequence[float]]) -> np.ndarray:
    """Interpolated precision (the best precision at recall >= r) on the recall grid."""
    recall = np.asarray(curve["recall"], dtype=np.float64)
    precision = np.asarray(curve["precision"], dtype=np.float64)
    out = np.zeros_like(_RECALL_GRID)
    for i, r in enumerate(_RECALL_GRID):
        reached = precision[recall >= r - 1e-12]
        out[i] = reached.max() if reached.size else 0.0
    return out
