"""Figures of a run: the paper's Fig. 1/2 (metrics vs missing ratio) and Fig. 3 (true positives per class), and the
conventions every figure follows (weight diagnostics and AP vs frequency: :mod:`mlml.reports.diagnostic_figures`).

matplotlib is an optional dependency (``pip install 'mlml[plot]'``), imported inside the functions. Figures
are built as ``matplotlib.figure.Figure`` objects rendered by the Agg canvas: pyplot's global state is never
touched, nothing is shown, and a caller's backend is left alone. Every single-panel function takes
``ax=None`` (a new figure) or an existing Axes and returns ``(fig, ax)``; :func:`save_figure` writes PNG and
PDF.

Every legend entry names its method with :func:`mlml.reports.records.series_label`, so LEAK runs
(``weights_source == "complete"``) and oracle methods are tagged in every figure; LEAK lines are also dashed
and oracle lines dotted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlml._io import atomic_open
from mlml.exceptions import MLMLError
from mlml.record import TrialRecord
from mlml.reports.records import as_float, series_key, series_label, series_rank
from mlml.reports.tables import METRIC_NAMES, RESULT_METRICS

Record = Mapping[str, Any]
_IMAGE_SUFFIXES = frozenset({"png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp"})


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - exercised where matplotlib is absent
        raise MLMLError("Figures need matplotlib: pip install 'mlml[plot]'") from None
    return matplotlib


def new_figure(figsize: tuple[float, float] = (6.4, 4.2), nrows: int = 1, ncols: int = 1) -> tuple[Any, Any]:
    """A new Agg-rendered ``Figure`` with a grid of axes (a single Axes for 1 x 1), outside pyplot."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True)
    return fig, axes


def _figure_and_axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    return new_figure(figsize) if ax is None else (ax.figure, ax)


def _legend(fig: Any, ax: Any, own_figure: bool, *, ncols: int = 2) -> None:
    """On a figure of our own the legend goes below the axes (it never hides data); on a caller's Axes it
    stays inside that Axes."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if own_figure:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=min(ncols, len(handles)),
            fontsize="small",
            frameon=False,
        )
    else:
        ax.legend(handles, labels, fontsize="small")


def bounded_error(mean: Any, std: Any, low: float = 0.0, high: float | None = 1.0) -> np.ndarray:
    """``±std`` error bars as matplotlib's ``(2, n)`` (below, above) array, cut at the bounds the quantity cannot
    leave (a precision of 1.1 or a count of −2 is no value anyone observed); NaN means draw no bar."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.nan_to_num(np.asarray(std, dtype=np.float64))
    below = np.clip(np.minimum(std, mean - low), 0.0, None)
    above = std if high is None else np.clip(np.minimum(std, high - mean), 0.0, None)
    return np.nan_to_num(np.vstack([below, above]))


def missing_legend_entries(fig: Any) -> list[str]:
    """Legend entries of ``fig`` that nothing in its plots shows: an entry whose handle is an artist of one of its
    Axes must hold finite data; a key drawn for the legend only (an artist without data, ``ax.plot([], [])``, or a
    handle of no Axes) needs an artist of the same marker and line style with finite data. Returns their labels
    (empty: every entry is honest)."""
    from matplotlib.lines import Line2D

    def finite(artist: Any) -> bool:
        if isinstance(artist, Line2D):
            x, y = (np.asarray(v, dtype=np.float64) for v in artist.get_data())
            return bool(np.isfinite(x).any() and np.isfinite(y).any())
        return True  # bars, patches and collections: drawn as given

    drawn = [artist for ax in fig.axes for artist in (*ax.lines, *ax.patches, *ax.collections, *ax.containers)]
    lines = [artist for artist in drawn if isinstance(artist, Line2D) and finite(artist)]
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    missing = []
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            label = text.get_text()
            sources = [a for a in drawn if a.get_label() == label]
            if any(finite(a) for a in sources):
                continue
            key_only = all(isinstance(a, Line2D) and len(a.get_xdata()) == 0 for a in sources)  # ax.plot([], [])
            if key_only and isinstance(handle, Line2D) and any(
                    line.get_marker() == handle.get_marker() and line.get_linestyle() == handle.get_linestyle()
                    for line in lines):
                continue  # a stand-in key for markers or lines the plot shows
            missing.append(label)
    return missing


def clipped_texts(fig: Any) -> list[str]:
    """Titles and axis labels of ``fig`` that run past the figure's edges once drawn (cut off in the saved
    image)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    texts = [t for ax in fig.axes if ax.get_visible() for t in (ax.title, ax.xaxis.label, ax.yaxis.label)]
    texts += [fig._suptitle] if getattr(fig, "_suptitle", None) is not None else []
    out = []
    for text in texts:
        if not text.get_text():
            continue
        extent = text.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1 or extent.y1 > box.y1 + 1:
            out.append(text.get_text())
    return out


def legend_texts(fig: Any) -> list[str]:
    """Every legend entry of a figure (figure and axes legends), e.g. to check the LEAK/oracle tags."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def save_figure(
    fig: Any, path: str | os.PathLike[str], *, formats: Sequence[str] = ("png", "pdf"), dpi: int = 120
) -> list[Path]:
    """Save ``fig`` as ``path`` + ``.<format>`` for each of ``formats``.

    A suffix of ``path`` that names an image format (``fig.png``) is replaced; any other dot stays part of
    the name (``weights_r0.5`` gives ``weights_r0.5.png`` and ``weights_r0.5.pdf``).

    Returns:
        The written paths, in the order of ``formats``.
    """
    base = Path(path)
    if base.suffix.lstrip(".").lower() in _IMAGE_SUFFIXES:
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = base.with_name(f"{base.name}.{fmt}")
        with atomic_open(target, "wb") as handle:  # a kill or a full disk leaves no half-written figure
            fig.savefig(handle, dpi=dpi, format=fmt)
        written.append(target)
    return written


def _style(method: str, weights_source: str, oracle: bool, methods: Sequence[str]) -> dict[str, Any]:
    """A colour per method (stable over figures), dashed LEAK lines, dotted oracle lines."""
    _matplotlib()
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    colour = colours[list(methods).index(method) % len(colours)] if method in methods else "black"
    linestyle = "--" if weights_source == "complete" else (":" if oracle else "-")
    marker = "x" if weights_source == "complete" else "o"
    return {"color": colour, "linestyle": linestyle, "marker": marker}


def _sorted_methods(keys: Sequence[tuple[str, str, bool]]) -> list[str]:
    methods: list[str] = []
    for method, _, _ in sorted(keys, key=series_rank):
        if method not in methods:
            methods.append(method)
    return methods


def _single_dataset(items: Sequence[Mapping[str, Any]], dataset: str | None, what: str) -> str:
    datasets = sorted({item["dataset"] for item in items})
    if dataset is None:
        if len(datasets) != 1:
            raise MLMLError(
                f"{what}: the 'dataset' parameter is required when there are several data sets; "
                f"choose one of {datasets}."
            )
        return datasets[0]
    if dataset not in datasets:
        raise MLMLError(
            f"{what}: the 'dataset' parameter must be one of {datasets}. Got {dataset!r} instead."
        )
    return dataset


# ------------------------------------------------------------------------------ Fig. 1/2: metric vs ratio
def plot_metric_vs_ratio(
    rows: Sequence[Mapping[str, Any]],
    metric: str = "micro_f1",
    *,
    dataset: str | None = None,
    threshold: str = "fixed",
    ax: Any = None,
    xlabel: str = "missing ratio",
) -> tuple[Any, Any]:
    """One metric against the missing ratio, one line per method, ±1 std error bars (the paper's Fig. 1/2).

    Args:
        rows: :func:`mlml.reports.summarize` rows.
        metric: a summarised metric, e.g. ``"micro_f1"``.
        dataset: the data set to draw (required when the rows hold several).
        threshold: the threshold policy of the rows to draw (``"fixed"``, 0.5; ``"tuned"``; ...).
        ax: an Axes to draw on, or None for a new figure.
        xlabel: what the ratio is (a partial-label grid's is the known proportion).
    """
    if f"{metric}_mean" not in (rows[0] if rows else {}):
        raise MLMLError(
            f"plot_metric_vs_ratio: the 'metric' parameter {metric!r} is not in the summary rows."
        )
    dataset = _single_dataset(rows, dataset, "plot_metric_vs_ratio")
    chosen = [r for r in rows if r["dataset"] == dataset and r.get("threshold", "fixed") == threshold]
    own = ax is None
    fig, ax = _figure_and_axes(ax, (5.0, 3.6))
    series: dict[tuple[str, str, bool], list[Mapping[str, Any]]] = {}
    for row in chosen:
        key = (row["method"], row.get("weights_source", "observed"), bool(row.get("oracle", False)))
        series.setdefault(key, []).append(row)
    methods = _sorted_methods(list(series))
    for key in sorted(series, key=series_rank):
        points = sorted((r for r in series[key] if r["n_folds"] > 0), key=lambda r: r["ratio"])
        if not points:
            continue
        x = [r["ratio"] for r in points]
        y = [r[f"{metric}_mean"] for r in points]
        err = [0.0 if np.isnan(r[f"{metric}_std"]) else r[f"{metric}_std"] for r in points]
        ax.errorbar(x, y, yerr=bounded_error(y, err), capsize=3, label=series_label(*key), **_style(*key, methods))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(METRIC_NAMES.get(metric, metric))
    ax.set_title(
        f"{METRIC_NAMES.get(metric, metric)} — {dataset}"
        + (f" ({threshold} thresholds)" if threshold != "fixed" else "")
    )
    ax.grid(alpha=0.3)
    _legend(fig, ax, own, ncols=1)
    return fig, ax


def plot_metrics_vs_ratio(
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] = RESULT_METRICS,
    *,
    dataset: str | None = None,
    threshold: str = "fixed",
    ncols: int = 3,
    xlabel: str = "missing ratio",
) -> tuple[Any, Any]:
    """A grid of :func:`plot_metric_vs_ratio` panels, one per metric; returns ``(fig, axes)``."""
    nrows = -(-len(metrics) // ncols)
    fig, axes = new_figure((4.6 * ncols, 3.5 * nrows), nrows, ncols)
    flat = np.atleast_1d(axes).ravel()
    for ax, metric in zip(flat, metrics):
        plot_metric_vs_ratio(rows, metric, dataset=dataset, threshold=threshold, ax=ax, xlabel=xlabel)
        ax.set_title(METRIC_NAMES.get(metric, metric))
    # One legend for all panels, below them.
    _legend(fig, flat[0], True, ncols=4)
    for ax in flat[1 : len(metrics)]:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for ax in flat[len(metrics) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{_single_dataset(rows, dataset, 'plot_metrics_vs_ratio')}: metrics vs {xlabel} "
        f"(mean ± std over folds, {'threshold 0.5' if threshold == 'fixed' else threshold + ' thresholds'})"
    )
    return fig, axes


# ------------------------------------------------------------------------ Fig. 3: true positives per class
def _done(records: Sequence[Record], dataset: str | None, ratio: float | None, what: str) -> list[TrialRecord]:
    """The finished records of one data set (and ratio), as :class:`~mlml.record.TrialRecord` (dicts of its fields
    are taken too)."""
    done = [r for r in map(TrialRecord.from_dict, records) if r.status == "done"]
    if not done:
        raise MLMLError(f"{what}: no finished trial among the {len(records)} records.")
    dataset = _single_dataset(done, dataset, what)
    chosen = [
        r for r in done if r.dataset == dataset and (ratio is None or abs(r.ratio - ratio) < 1e-9)
    ]
    if not chosen:
        ratios = sorted({r.ratio for r in done if r.dataset == dataset})
        raise MLMLError(
            f"{what}: no finished trial of {dataset!r} at ratio {ratio}; ratios present: {ratios}."
        )
    return chosen


def _by_series(records: Sequence[Record]) -> dict[tuple[str, str, bool], list[Record]]:
    series: dict[tuple[str, str, bool], list[Record]] = {}
    for record in records:
        series.setdefault(series_key(record), []).append(record)
    return {key: series[key] for key in sorted(series, key=series_rank)}


def _per_class(records: Sequence[TrialRecord], field: str, what: str) -> tuple[list[str], np.ndarray]:
    """Class names and a ``(n_records, n_classes)`` float array of ``per_class[field]`` (None -> NaN)."""
    with_data = [r for r in records if r.per_class and r.per_class.get(field) is not None]
    if not with_data:
        raise MLMLError(f"{what}: no finished record holds per_class[{field!r}].")
    names = list(with_data[0].per_class.get("names") or range(len(with_data[0].per_class[field])))
    values = []
    for record in with_data:
        row = record.per_class[field]
        if len(row) != len(names):
            raise MLMLError(
                f"{what}: trial {record.trial_id!r} has {len(row)} per_class[{field!r}] values; "
                f"expected {len(names)} (one per class)."
            )
        values.append([as_float(v) for v in row])
    return [str(n) for n in names], np.asarray(values, dtype=np.float64)


def plot_true_positives(
    records: Sequence[Record],
    *,
    dataset: str | None = None,
    ratio: float = 0.5,
    top_k: int = 15,
    ax: Any = None,
) -> tuple[Any, Any]:
    """True positives per class for the ``top_k`` most frequent classes at one ratio (the paper's Fig. 3).

    Classes are ranked by their mean number of test positives (``per_class.support``). One bar per method
    (mean over its finished folds, ±1 std); a grey outline shows the mean number of test positives, the
    most any method can find.
    """
    chosen = _done(records, dataset, ratio, "plot_true_positives")
    names, support = _per_class(chosen, "support", "plot_true_positives")
    top = np.argsort(-np.nanmean(support, axis=0), kind="stable")[:top_k]
    own = ax is None
    fig, ax = _figure_and_axes(ax, (max(6.0, 0.55 * len(top) + 2.5), 4.2))
    x = np.arange(len(top))
    ax.bar(
        x, np.nanmean(support, axis=0)[top], width=0.9, fill=False, edgecolor="0.6", label="test positives"
    )
    series = _by_series(chosen)
    methods = _sorted_methods(list(series))
    width = 0.8 / max(len(series), 1)
    for i, (key, group) in enumerate(series.items()):
        _, tp = _per_class(group, "tp", "plot_true_positives")
        std = np.nanstd(tp, axis=0, ddof=1) if len(tp) > 1 else np.zeros(tp.shape[1])
        style = _style(*key, methods)
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            np.nanmean(tp, axis=0)[top],
            width=width,
            yerr=bounded_error(np.nanmean(tp, axis=0)[top], std[top], high=None),
            capsize=2,
            color=style["color"],
            hatch="//" if key[1] == "complete" else (".." if key[2] else None),
            label=series_label(*key),
        )
    ax.set_xticks(x, [names[j] for j in top], rotation=45, ha="right")
    ax.set_ylabel("true positives per test fold")
    ax.set_title(f"{chosen[0]['dataset']}: true positives, {len(top)} most frequent classes, ratio {ratio:g}")
    _legend(fig, ax, own, ncols=3)
    return fig, ax
