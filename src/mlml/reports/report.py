"""The run report: ``results.csv``, ``report.md``, ``report.html`` and the figures of a run folder.

:func:`write_report` assembles the page's blocks (headline, status, the results tables per data set, timings) and
renders them (:mod:`mlml.reports.render`); the figures section is :mod:`mlml.reports.report_figures`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mlml._io import write_text
from mlml.evaluation.policies import POLICIES
from mlml.exceptions import MLMLError
from mlml.record import TrialRecord
from mlml.reports.records import (
    LEAK_TAG,
    ORACLE_TAG,
    as_float,
    check_records,
    method_rank,
    series_key,
    series_label,
    series_rank,
)
from mlml.reports.render import _render_html, _render_markdown
from mlml.reports.report_figures import FIGURE_DIR, _figure_blocks, _slugs, _want_figures
from mlml.reports.status import Block, ExpectedKey, status_blocks
from mlml.reports.tables import (
    POLICY_HEADINGS,
    RANKING_SHOWN,
    RESULT_METRICS,
    ThresholdChoice,
    summarize,
    table_cells,
    write_results_csv,
)


class NothingFinished(MLMLError):
    """A report of trials none of which finished, where a run folder already holds a results table: the table and
    the report are kept (a failed rerun must not wipe the results of an earlier one)."""


def write_report(
    records: Iterable[Mapping[str, Any]],
    run_dir: str | os.PathLike[str],
    *,
    expected: Sequence[ExpectedKey] | None = None,
    thresholds: ThresholdChoice = "both",
    figures: bool | None = None,
    title: str | None = None,
) -> Path:
    """Write ``results.csv``, ``report.md``, ``report.html`` and ``figures/`` into ``run_dir``.

    The report holds the results table (mean ± std over folds) per data set, at threshold 0.5 and/or at
    validation-tuned thresholds (``thresholds``); the figures (metrics vs missing ratio, true positives
    per class, weight diagnostics, per-class AP vs frequency); timings; and the state of the run: how many
    trials finished, which failed (with their errors) and -- given ``expected`` -- which are missing. LEAK
    runs and oracle methods are tagged in every table and figure.

    ``report.md`` links the PNG files (relative paths); ``report.html`` embeds them (base64), so it can be
    opened offline or moved on its own. Each figure is also saved as PDF.

    Args:
        records: trial records (see :mod:`mlml.reports`), finished and failed.
        run_dir: the run folder; created if needed.
        expected: the trials the grid intended, as trial ids or as mappings: a mapping with a ``trial_id``
            is matched on it alone, any other on all its fields (e.g. ``{"dataset": "yeast", "method":
            "bce", "ratio": 0.5, "fold": 1, "seed": 0}``); those matched by no record are listed as
            missing. None: missing trials cannot be listed (the report says so).
        thresholds: ``"fixed"`` (0.5), ``"tuned"`` or ``"both"``: which results the CSV, the tables and the
            metric figures show (see :func:`mlml.reports.summarize`).
        figures: True to draw the figures (matplotlib required), False to skip them, None (default) to draw
            them when matplotlib is installed and otherwise say in the report how to get them.
        title: the report's title (default: "mlml report: <run_dir name>").

    Returns:
        The path of ``report.html``.

    Raises:
        DataError: a malformed record.
        NothingFinished: no record finished and ``run_dir`` already holds a ``results.csv`` (left as it was).
        MLMLError: ``figures=True`` without matplotlib.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checked = check_records(records)
    if not any(r.status == "done" for r in checked) and (run_dir / "results.csv").exists():
        raise NothingFinished(f"No trial of this grid finished; {run_dir / 'results.csv'} and the report of the "
                              "earlier run are left as they were (the failed trials are stored).")
    rows = summarize(checked, thresholds=thresholds)
    write_results_csv(rows, run_dir / "results.csv")

    draw = _want_figures(figures)
    title = title or f"mlml report: {run_dir.resolve().name}"
    blocks: list[Block] = [("h", 1, title)]
    blocks += _headline_blocks(checked)
    blocks += [
        (
            "p",
            (
                f"Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {len(checked)} trial records. "
                "Machine-readable table: results.csv (mean and std over folds)."
            ),
        )
    ]
    blocks += status_blocks(checked, expected)
    blocks += _label_blocks(checked)
    blocks += _partial_blocks(checked, rows, run_dir, draw is True)

    datasets = sorted({r.dataset for r in checked})
    slugs = _slugs(datasets)
    for dataset in datasets:
        blocks.append(("h", 2, f"Data set: {dataset}"))
        ds_rows = [row for row in rows if row["dataset"] == dataset]
        if thresholds == "own":
            blocks.append(("h", 3, "Results, each method with threshold 0.5 and with its own policy, side by side "
                                   "(mean ± std over folds)"))
            paired = sorted(ds_rows, key=lambda row: (row["ratio"], method_rank(row["method"]), row["own_policy"]))
            blocks.append(("table", *table_cells(paired, RESULT_METRICS)))
        else:
            for mode in POLICIES:
                mode_rows = [row for row in ds_rows if row["threshold"] == mode]
                if mode_rows:
                    blocks.append(("h", 3, f"Results, {POLICY_HEADINGS[mode]} (mean ± std over folds)"))
                    blocks.append(("table", *table_cells(mode_rows, RESULT_METRICS)))
        simulated = any(r.scheme == "single-positive" for r in checked if r.dataset == dataset)  # ratio 0 unused
        if not simulated and any(row.get("ratio") == 0 for row in ds_rows):
            from mlml.diagnose_text import test_label_note

            blocks.append(("warn", "Rows at ratio 0 train and test on this data set's labels as given (nothing "
                                   f"simulated). {test_label_note()}"))
        if any(row.get("n_collapsed") for row in ds_rows):
            blocks.append(("warn", "⚠ marks groups with a collapsed fold: its micro-F1 is below half the median of "
                                   "the group's folds (the model predicts almost nothing, or almost everything, "
                                   "on that fold alone)."))
        ranked = [row for row in ds_rows if row["threshold"] == "fixed" and _has_ranking(row)]
        if ranked:  # thresholds do not change a ranking: one table
            blocks.append(("h", 3, "Ranking metrics (mean ± std over folds; PS: propensity-scored, Jain et al. 2016)"))
            blocks.append(("table", *table_cells(ranked, RANKING_SHOWN)))
        if draw is True:
            blocks += _figure_blocks(checked, rows, dataset, run_dir, slugs[dataset])
        blocks += _timing_blocks([r for r in checked if r.dataset == dataset])
    if draw is not True:
        blocks.append(("h", 2, "Figures"))
        blocks.append(("p", draw))

    write_text(run_dir / "report.md", _render_markdown(blocks))
    html_path = write_text(run_dir / "report.html", _render_html(blocks, title, run_dir))
    return html_path


def _headline_blocks(records: Sequence[Mapping[str, Any]]) -> list[Block]:
    """The answer first (:mod:`mlml.reports.headline`): one block, which the page shows before anything else."""
    from mlml.reports.headline import headline_table, headlines

    items = headlines(records)
    if not items:
        return [("headline", "No finished trial of a method a user can run: nothing to compare yet.", [], None)]
    note = ("Each method is scored with its own threshold policy; margins are paired differences over the same test "
            "folds (mean, 95% t interval, paired t-test). Oracle and LEAK runs are left out. The tables below "
            "give every policy and metric.")
    return [("headline", note, [h.sentence() for h in items], headline_table(items))]


def _has_ranking(row: dict[str, Any]) -> bool:
    value = row.get(f"{RANKING_SHOWN[0]}_mean")
    return value is not None and not math.isnan(value)


#: What each shipped training recipe is, for the report.
RECIPE_NOTES = {
    "default": "mlml's trainer (MLP head, AdamW with a cosine schedule, early stopping on the validation rows' "
    "observed labels)",
    "seed": "the seed code's recipe: frozen features -> its 2048-1024-256 MLP head, Adadelta lr 0.1, batch 32, "
    "20 epochs, no validation split or early stopping, per-label positive weights clip(round(N / (2 n_c)), 1, 10) "
    "counted on the training fold's observed labels, in every method",
}


def _label_blocks(records: Sequence[TrialRecord]) -> list[Block]:
    blocks: list[Block] = []
    recipes = sorted({r.recipe or "default" for r in records})
    blocks.append(("p", "Training recipe: " + "; ".join(
        f"{name} ({RECIPE_NOTES.get(name, 'see config.yaml')})" for name in recipes) + "."))
    leak = sorted({r.method for r in records if r.weights_source == "complete"})
    oracle = sorted({r.method for r in records if r.oracle})
    if leak:
        blocks.append(
            (
                "warn",
                (
                    f"[{LEAK_TAG}] marks runs of {', '.join(leak)} whose confidence weights were "
                    "computed from the COMPLETE labels of the whole data set (test folds and hidden "
                    "positives included), as the published seed code does. These numbers leak test "
                    "information; compare them with the same method's observed-label rows to see how "
                    "much of the gain survives without the leak."
                ),
            )
        )
    if oracle:
        blocks.append(
            (
                "p",
                (
                    f"[{ORACLE_TAG}] marks {', '.join(oracle)}: it reads which positives were hidden, "
                    "which no real method can; read it as a reference, not a competitor."
                ),
            )
        )
    return blocks


def _partial_blocks(
    records: Sequence[TrialRecord], rows: Sequence[Mapping[str, Any]], run_dir: Path, draw: bool
) -> list[Block]:
    """For a partial-label grid: what its ratio means, and mAP vs known proportion over every data set."""
    partial = sorted({r.dataset for r in records if r.scheme == "partial"})
    if not partial:
        return []
    blocks: list[Block] = [
        ("h", 2, "Partial labels"),
        ("p", f"{', '.join(partial)}: partial-label grid (Durand et al.'s protocol): every label of the training "
              "fold is kept with probability p and made unannotated (-1) otherwise; kept negatives are verified "
              "negatives (2). In these tables and figures the ratio column is the KNOWN proportion p. Test folds "
              "keep their complete labels."),
    ]
    if not draw:
        return blocks
    from mlml.reports import figures as F
    from mlml.reports.partial_figures import plot_metric_vs_known

    chosen = [row for row in rows if row["dataset"] in partial]
    try:
        fig, _ = plot_metric_vs_known(chosen, "map", datasets=partial)
    except MLMLError as exc:
        return blocks + [("p", f"Figure 'map_vs_known' skipped: {exc}")]
    png, pdf = F.save_figure(fig, run_dir / FIGURE_DIR / "map_vs_known")
    caption = "mAP vs proportion of known labels (Durand et al.'s Figure; mean ± std over folds)."
    return blocks + [("figure", png.relative_to(run_dir).as_posix(), pdf.relative_to(run_dir).as_posix(), caption)]


# ------------------------------------------------------------------------------------------------ timings
def _timing_blocks(records: Sequence[TrialRecord]) -> list[Block]:
    done = [r for r in records if r.status == "done" and r.timings]
    if not done:
        return []
    groups: dict[tuple[str, str, bool], list[Mapping[str, Any]]] = {}
    for record in done:
        groups.setdefault(series_key(record), []).append(record)
    header = ["method", "trials", "weights (s)", "training (s)", "evaluation (s)"]
    body = []
    for key in sorted(groups, key=series_rank):
        cells = [series_label(*key), str(len(groups[key]))]
        for field in ("weights_s", "train_s", "eval_s"):
            values = np.array([as_float(r.timings.get(field)) for r in groups[key]])
            values = values[~np.isnan(values)]
            cells.append(f"{values.mean():.2f}" if values.size else "–")
        body.append(cells)
    return [("h", 3, "Mean time per trial"), ("table", header, body)]
