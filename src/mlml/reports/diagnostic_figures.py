"""Figures of the weight estimators and of per-class quality: ω̄ of hidden positives vs true negatives, the
detection ROC of 1 − ω̄, and per-class AP against class frequency (conventions of :mod:`mlml.reports.figures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError
from mlml.record import TrialRecord
from mlml.reports.figures import (
    _by_series,
    _done,
    _figure_and_axes,
    _legend,
    _per_class,
    _sorted_methods,
    _style,
    new_figure,
)
from mlml.reports.records import as_float, series_key, series_label

Record = Mapping[str, Any]


# ------------------------------------------------------------------------------------- weight diagnostics
def _diagnostics(records: Sequence[Record]) -> list[TrialRecord]:
    return [r for r in map(TrialRecord.from_dict, records) if r.diagnostics]


def plot_weight_histogram(records: Sequence[Record], *, bins: int = 40, ax: Any = None) -> tuple[Any, Any]:
    """Distribution of ω̄ on hidden positives vs true negatives, pooled over the given records (one series).

    A good estimator puts the hidden positives (which the loss would otherwise push towards 0) at low ω̄ and
    the true negatives near 1.
    """
    with_diag = _diagnostics(records)
    if not with_diag:
        raise MLMLError(
            "plot_weight_histogram: no record holds diagnostics (constant-weight methods have none)."
        )
    keys = {series_key(r) for r in with_diag}
    if len(keys) != 1:
        raise MLMLError(f"plot_weight_histogram: pass the records of one method; got {sorted(keys)}.")
    hidden = np.concatenate([np.asarray(r.diagnostics["neg_weight_hidden"], float) for r in with_diag])
    negative = np.concatenate([np.asarray(r.diagnostics["neg_weight_negative"], float) for r in with_diag])
    fig, ax = _figure_and_axes(ax, (5.0, 3.6))
    edges = np.linspace(0.0, 1.0, bins + 1)
    ax.hist(
        negative,
        bins=edges,
        density=True,
        alpha=0.55,
        color="tab:blue",
        label=f"true negatives (n={negative.size})",
    )
    ax.hist(
        hidden,
        bins=edges,
        density=True,
        alpha=0.55,
        color="tab:red",
        label=f"hidden positives (n={hidden.size})",
    )
    ax.set_xlabel("ω̄ (weight of the negative term)")
    ax.set_ylabel("density")
    ax.set_title(series_label(*next(iter(keys))), fontsize="medium")
    ax.legend(fontsize="small")
    return fig, ax


def plot_detection_roc(records: Sequence[Record], *, ax: Any = None) -> tuple[Any, Any]:
    """ROC of ``1 − ω̄`` for finding the hidden positives among the observed zeros, one curve per method.

    Each curve is the mean over folds of the stored ROC curves (``roc_fpr``/``roc_tpr``) interpolated on a
    common FPR grid; the legend gives the mean detection ROC-AUC ± std over folds.
    """
    with_diag = _diagnostics(records)
    if not with_diag:
        raise MLMLError(
            "plot_detection_roc: no record holds diagnostics (constant-weight methods have none)."
        )
    own = ax is None
    fig, ax = _figure_and_axes(ax, (4.6, 4.2))
    grid = np.linspace(0.0, 1.0, 201)
    series = _by_series(with_diag)
    methods = _sorted_methods(list(series))
    for key, group in series.items():
        curves = []
        for record in group:
            fpr = np.asarray(record.diagnostics.get("roc_fpr") or [], float)
            tpr = np.asarray(record.diagnostics.get("roc_tpr") or [], float)
            if fpr.size >= 2 and fpr.size == tpr.size:
                curves.append(np.interp(grid, fpr, tpr))
        if not curves:
            continue
        aucs = np.array([as_float(r.diagnostics.get("detection_auc")) for r in group])
        aucs = aucs[~np.isnan(aucs)]
        auc_text = ""
        if aucs.size:
            auc_text = f"AUC {aucs.mean():.3f}" + (f" ± {aucs.std(ddof=1):.3f}" if aucs.size > 1 else "")
        style = _style(*key, methods)
        ax.plot(
            grid,
            np.mean(curves, axis=0),
            color=style["color"],
            linestyle=style["linestyle"],
            label=f"{series_label(*key)}: {auc_text}",
        )
    ax.plot([0, 1], [0, 1], color="0.6", linewidth=0.8, linestyle="-", label="chance")
    ax.set_xlabel("false positive rate (true negatives flagged)")
    ax.set_ylabel("true positive rate (hidden positives found)")
    ax.set_title("finding hidden positives with 1 − ω̄", fontsize="medium")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    _legend(fig, ax, own, ncols=1)
    return fig, ax


def plot_weight_diagnostics(
    records: Sequence[Record], *, dataset: str | None = None, ratio: float = 0.5
) -> tuple[Any, Any]:
    """A panel per method with diagnostics (ω̄ histograms), then the detection ROC; returns ``(fig, axes)``."""
    chosen = _diagnostics(_done(records, dataset, ratio, "plot_weight_diagnostics"))
    if not chosen:
        raise MLMLError(f"plot_weight_diagnostics: no finished record at ratio {ratio:g} holds diagnostics.")
    series = _by_series(chosen)
    fig, axes = new_figure((4.4 * (len(series) + 1), 3.8), 1, len(series) + 1)
    axes = np.atleast_1d(axes)
    for ax, group in zip(axes, series.values()):
        plot_weight_histogram(group, ax=ax)
    plot_detection_roc(chosen, ax=axes[-1])
    _legend(fig, axes[-1], True, ncols=3)
    fig.suptitle(f"{chosen[0]['dataset']}: confidence weights on the training fold, ratio {ratio:g}")
    return fig, axes


# ----------------------------------------------------------------------------- per-class AP vs frequency
def plot_ap_vs_frequency(
    records: Sequence[Record], *, dataset: str | None = None, ratio: float = 0.5, ax: Any = None
) -> tuple[Any, Any]:
    """Per-class average precision (mean over folds) against the class's training frequency, per method.

    Shows whether a method's gain (or loss) concentrates on rare or on frequent classes. Classes whose AP is
    undefined in every fold (no test positives) are not drawn.
    """
    chosen = _done(records, dataset, ratio, "plot_ap_vs_frequency")
    own = ax is None
    fig, ax = _figure_and_axes(ax, (5.4, 4.0))
    series = _by_series(chosen)
    methods = _sorted_methods(list(series))
    drawn = False
    log_scale = True
    for key, group in series.items():
        _, ap = _per_class(group, "ap", "plot_ap_vs_frequency")
        _, freq = _per_class(group, "train_frequency", "plot_ap_vs_frequency")
        x, y = np.nanmean(freq, axis=0), _nanmean_columns(ap)
        keep = ~np.isnan(x) & ~np.isnan(y)
        log_scale &= bool(np.all(x[keep] > 0))
        style = _style(*key, methods)
        ax.scatter(
            x[keep],
            y[keep],
            s=16,
            alpha=0.75,
            color=style["color"],
            marker=style["marker"],
            label=series_label(*key),
        )
        drawn = True
    if drawn and log_scale:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("class frequency in the training fold")
    ax.set_ylabel("average precision (test fold)")
    ax.set_title(f"{chosen[0]['dataset']}: per-class AP vs frequency, ratio {ratio:g}", fontsize="medium")
    ax.grid(alpha=0.3)
    _legend(fig, ax, own)
    return fig, ax


def _nanmean_columns(values: np.ndarray) -> np.ndarray:
    """Column means ignoring NaN, NaN (without a warning) where a column is all NaN."""
    counts = np.sum(~np.isnan(values), axis=0)
    sums = np.nansum(values, axis=0)
    return np.divide(sums, counts, out=np.full(values.shape[1], np.nan), where=counts > 0)
