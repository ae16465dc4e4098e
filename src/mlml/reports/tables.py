"""The results table: mean ± std over folds, its CSV contract, and its terminal and Markdown renderings."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlml._csv import write_rows
from mlml._validation import check_option
from mlml.evaluation.policies import POLICIES
from mlml.evaluation.ranking import ranking_keys
from mlml.exceptions import DataError
from mlml.record import TrialRecord
from mlml.reports.records import (
    WEIGHTS_SOURCES,
    as_float,
    check_records,
    method_rank,
    series_label,
)

#: The metrics of ``RUN_DIR/results.csv``, in contract order: the paper's four, then mAP and macro F1.
RESULT_METRICS: tuple[str, ...] = (
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "micro_auc",
    "map",
    "macro_f1",
)
#: The paper's four metrics (its Table and Fig. 1/2).
PAPER_METRICS: tuple[str, ...] = RESULT_METRICS[:4]
#: The ranking metrics of extreme classification (:mod:`mlml.evaluation.ranking`), k = 1, 3, 5.
RANKING_METRICS: tuple[str, ...] = ranking_keys()
#: The ranking metrics the report's ranking table shows.
RANKING_SHOWN: tuple[str, ...] = ("p_at_1", "p_at_3", "p_at_5", "ndcg_at_3", "ndcg_at_5", "psp_at_1", "psp_at_3",
                                  "psp_at_5", "psndcg_at_3", "psndcg_at_5")
#: Headings of the results tables per threshold policy (:mod:`mlml.evaluation.policies`).
POLICY_HEADINGS = {
    "fixed": "threshold 0.5",
    "tuned": "per-class thresholds tuned on the validation rows' observed labels",
    "expected": "per-class thresholds maximising the expected F1 (observed zeros not trusted)",
    "calibrated": "calibrated scores, one shared threshold maximising the expected micro-F1",
    "cardinality": "per-sample decisions from the expected number of positives",
    "pu": "the PU correction of Elkan & Noto, one shared threshold",
    "select": "the policy of highest estimated micro-F1 on held-out validation rows (missing share diagnosed)",
}
#: Further metrics summarised after the contract columns (records without them leave their cells empty).
EXTRA_METRICS: tuple[str, ...] = ("macro_precision", "macro_recall", "macro_auc", *RANKING_METRICS)
#: The stable column contract of ``results.csv``; extra columns only ever come after these.
RESULT_COLUMNS: tuple[str, ...] = ("dataset", "method", "ratio", "n_folds") + tuple(
    f"{metric}_{stat}" for metric in RESULT_METRICS for stat in ("mean", "std")
)
#: The extra columns, in this order, after :data:`RESULT_COLUMNS`.
EXTRA_COLUMNS: tuple[str, ...] = (
    "weights_source",
    "threshold",
    "oracle",
    "label",
    "n_seeds",
    "n_failed",
) + tuple(f"{metric}_{stat}" for metric in EXTRA_METRICS for stat in ("mean", "std")) + ("own_policy", "n_collapsed")

#: Values of the ``threshold`` column: the threshold policies (:data:`mlml.evaluation.policies.POLICIES`:
#: ``"fixed"`` -- 0.5, the paper's --, ``"tuned"`` -- per class on the validation rows' observed labels -- and the
#: policies that do not trust observed zeros).
THRESHOLD_MODES: tuple[str, ...] = POLICIES
#: What :func:`summarize` can be asked for (the experiment config's vocabulary).
ThresholdChoice = str
#: A fold "collapses" when its micro-F1 is below this share of the median of its group's folds.
COLLAPSE_SHARE = 0.5
METRIC_NAMES: dict[str, str] = {
    "micro_precision": "micro precision",
    "micro_recall": "micro recall",
    "micro_f1": "micro F1",
    "micro_auc": "micro ROC-AUC",
    "map": "mAP",
    "macro_f1": "macro F1",
    "macro_precision": "macro precision",
    "macro_recall": "macro recall",
    "macro_auc": "macro ROC-AUC",
    **{f"{family}_at_{k}": f"{label}@{k}" for family, label in
       (("p", "P"), ("ndcg", "nDCG"), ("psp", "PSP"), ("psndcg", "PSnDCG")) for k in (1, 3, 5)},
}


def summarize(
    records: Iterable[Mapping[str, Any]], *, thresholds: ThresholdChoice = "both", ddof: int = 1
) -> list[dict[str, Any]]:
    """Mean and standard deviation over folds, one row per (dataset, method, ratio, weights source,
    threshold policy).

    Finished trials (``status == "done"``) are averaged; failed ones are counted in ``n_failed``.
    ``thresholds`` picks the rows: a policy name (``"fixed"`` -- each record's ``metrics`` at 0.5 --, ``"tuned"``,
    or another of :data:`THRESHOLD_MODES`, read from ``metrics_policies``); ``"both"`` -- the fixed rows, plus tuned
    rows wherever a group's trials stored tuned metrics; ``"own"`` -- the fixed rows plus each method's own policy
    (``own_policy`` of its records) where that is another; ``"all"`` -- every policy the records hold.

    Each row holds, in this order, the contract columns :data:`RESULT_COLUMNS` -- ``dataset``, ``method``,
    ``ratio``, ``n_folds`` (the number of finished trials averaged: folds x seeds), then
    ``<metric>_mean`` and ``<metric>_std`` for ``micro_precision``, ``micro_recall``, ``micro_f1``,
    ``micro_auc``, ``map``, ``macro_f1`` -- then :data:`EXTRA_COLUMNS`: ``weights_source``, ``threshold``,
    ``oracle``, ``label`` (the method with its LEAK/oracle tags), ``n_seeds``, ``n_failed``, the macro
    precision/recall/AUC means and stds, ``own_policy`` (True on the row of the method's own policy when it is not
    ``fixed``) and ``n_collapsed`` (folds whose micro-F1 is below :data:`COLLAPSE_SHARE` of the group's median: a
    collapsed fold, flagged in reports).

    The std is the sample standard deviation (``ddof=1``) over trials; a NaN metric (an undefined case,
    see :mod:`mlml.evaluation.metrics`) is left out of its mean and std; a mean over no values, or a std
    over fewer than ``ddof + 1`` values, is NaN (an empty cell in the CSV). A group with nothing to average
    (every trial failed; or no metrics of the asked policy stored) still gets a row with ``n_folds == 0`` and NaN
    metrics, so that the gap shows.

    Rows are ordered by dataset, threshold policy (fixed first), ratio, method (bce, im-wce, cb-wce, then the
    rest alphabetically) and weights source (observed first).

    Raises:
        MLMLError: a bad ``thresholds`` value.
        DataError: a malformed record, or a finished record without one of the summarised metrics.
    """
    check_option(thresholds, "thresholds", "summarize", (*POLICIES, "both", "own", "all"))
    checked = check_records(records)
    groups: dict[tuple[Any, ...], dict[str, list[TrialRecord]]] = {}
    for record in checked:
        base = (record.dataset, record.method, record.ratio, record.weights_source, record.oracle)
        groups.setdefault(base, {"done": [], "failed": []})[record.status].append(record)

    keys, own = [], set()
    for base, entry in groups.items():
        stored = {name for r in entry["done"] for name in policy_metrics(r)}
        own_policy = next((r.own_policy for r in entry["done"] if r.own_policy), "fixed")
        if thresholds == "both":
            modes = ["fixed"] + (["tuned"] if "tuned" in stored else [])
        elif thresholds == "own":
            modes = ["fixed"] + ([own_policy] if own_policy != "fixed" else [])
            own.add((*base, own_policy))
        elif thresholds == "all":
            modes = [mode for mode in POLICIES if mode == "fixed" or mode in stored]
        else:
            modes = [thresholds]
        keys += [(*base, mode) for mode in modes]

    rows = []
    for key in sorted(keys, key=_group_rank):
        dataset, method, ratio, source, oracle, mode = key
        entry = groups[key[:-1]]
        done = [r for r in entry["done"] if policy_metrics(r).get(mode) is not None]
        values = [policy_metrics(r)[mode] for r in done]
        row: dict[str, Any] = {"dataset": dataset, "method": method, "ratio": ratio, "n_folds": len(done)}
        stats = {metric: _mean_std(values, done, metric, ddof) for metric in RESULT_METRICS + EXTRA_METRICS}
        for metric in RESULT_METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = stats[metric]
        row.update(
            weights_source=source,
            threshold=mode,
            oracle=oracle,
            label=series_label(method, source, oracle),
            n_seeds=len({record.seed for record in done}),
            n_failed=len(entry["failed"]),
        )
        for metric in EXTRA_METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = stats[metric]
        row["own_policy"] = key in own and mode != "fixed"
        row["n_collapsed"] = collapsed_folds([as_float(v.get("micro_f1")) for v in values])
        rows.append(row)
    return rows


def policy_metrics(record: TrialRecord | Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A record's metrics per threshold policy: ``fixed`` (its ``metrics``), ``tuned`` (``metrics_tuned``) and
    whatever ``metrics_policies`` holds."""
    record = TrialRecord.from_dict(record)
    out = dict(record.metrics_policies or {})
    if record.metrics is not None:
        out["fixed"] = record.metrics
    if record.metrics_tuned is not None:
        out["tuned"] = record.metrics_tuned
    return out


def collapsed_folds(values: Sequence[float]) -> int:
    """How many folds' micro-F1 fall below :data:`COLLAPSE_SHARE` of the median of all folds (a collapse: that
    fold's model predicts almost nothing, or almost everything, where the others do not)."""
    finite = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if finite.size < 2:
        return 0
    return int(np.count_nonzero(finite < COLLAPSE_SHARE * np.median(finite)))


def _group_rank(key: tuple[Any, ...]) -> tuple[Any, ...]:
    dataset, method, ratio, source, oracle, mode = key
    return (
        dataset,
        THRESHOLD_MODES.index(mode) if mode in THRESHOLD_MODES else len(THRESHOLD_MODES),  # auto's "chosen" last
        ratio,
        method_rank(method),
        WEIGHTS_SOURCES.index(source),
        oracle,
    )


def _mean_std(
    metrics_list: Sequence[Mapping[str, Any]], records: Sequence[TrialRecord], metric: str, ddof: int
) -> tuple[float, float]:
    values = []
    for metrics, record in zip(metrics_list, records, strict=True):
        if metric not in metrics:
            if metric in EXTRA_METRICS:
                continue
            raise DataError(
                f"trial record {record.trial_id!r}: its metrics lack {metric!r} "
                f"(has {', '.join(sorted(metrics)) or 'nothing'})."
            )
        values.append(as_float(metrics[metric]))
    finite = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std(ddof=ddof)) if finite.size > ddof else math.nan
    return mean, std


def result_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The CSV header for ``rows``: the contract columns, the known extras present, then any others sorted."""
    present = set().union(*(row.keys() for row in rows)) if rows else set()
    extras = [column for column in EXTRA_COLUMNS if column in present]
    others = sorted(present - set(RESULT_COLUMNS) - set(EXTRA_COLUMNS))
    return list(RESULT_COLUMNS) + extras + others


def write_results_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write :func:`summarize` rows to ``path`` (``RUN_DIR/results.csv``) and return the path.

    Columns: :data:`RESULT_COLUMNS` first, exactly in that order, then the extras. Floats are written in full
    precision (``repr``), NaN as an empty cell, booleans as ``true``/``false``.
    """
    return write_rows(path, result_columns(rows), rows)


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``"0.712 ± 0.013"``; ``"–"`` for a NaN mean, the mean alone for a NaN std."""
    if mean is None or math.isnan(mean):
        return "–"
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def threshold_label(row: Mapping[str, Any]) -> str:
    """How a row's threshold policy is shown: ``0.5`` for fixed, the policy's name otherwise, ``(own)`` where it is
    the method's own."""
    mode = row.get("threshold", "fixed")
    return ("0.5" if mode == "fixed" else mode) + (" (own)" if row.get("own_policy") else "")


def table_cells(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = RESULT_METRICS, *, digits: int = 3
) -> tuple[list[str], list[list[str]]]:
    """Header and string cells of the results table (mean ± std), with the LEAK/oracle tags in the method."""
    show_threshold = any(row.get("threshold", "fixed") != "fixed" for row in rows)
    header = ["dataset", "method", "ratio"] + (["threshold"] if show_threshold else []) + ["n"]
    header += [METRIC_NAMES.get(metric, metric) for metric in metrics]
    body = []
    for row in rows:
        label = row.get("label") or series_label(
            row["method"], row.get("weights_source", "observed"), bool(row.get("oracle", False))
        )
        n = str(row["n_folds"]) + (f" ({row['n_failed']} failed)" if row.get("n_failed") else "")
        if row.get("n_collapsed"):
            n += f" ⚠ {row['n_collapsed']} collapsed"
        cells = [str(row["dataset"]), label, f"{row['ratio']:g}"]
        cells += [threshold_label(row)] if show_threshold else []
        cells += [n] + [format_mean_std(row[f"{m}_mean"], row[f"{m}_std"], digits) for m in metrics]
        body.append(cells)
    return header, body


def terminal_table(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = RESULT_METRICS) -> str:
    """The results table as aligned plain text for the terminal."""
    header, body = table_cells(rows, metrics)
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]
    numeric = [i >= header.index("n") or header[i] == "ratio" for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def markdown_table(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = RESULT_METRICS) -> str:
    """The results table as a GitHub-flavoured Markdown table (mean ± std over folds)."""
    header, body = table_cells(rows, metrics)
    numeric = [i >= header.index("n") or header[i] == "ratio" for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    align = "| " + " | ".join("---:" if num else "---" for num in numeric) + " |"
    return "\n".join([line(header), align, *(line(cells) for cells in body)])
