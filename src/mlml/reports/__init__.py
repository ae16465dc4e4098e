"""Tables and figures from the experiment runner's trial records.

A trial record is a dict::

    {"trial_id": str, "dataset": str, "method": str, "ratio": float, "fold": int, "seed": int,
     "status": "done" | "failed", "error": str | None,
     "weights_source": "observed" | "complete",   # "complete" = the seed code's leak, labelled everywhere
     "oracle": bool,                              # the method reads the hidden mask (IM-WCE)
     "metrics": {evaluate() scalars at threshold 0.5},
     "metrics_tuned": {evaluate() scalars at validation-tuned thresholds} | None,
     "per_class": {"names", "tp", "ap", "support", "train_frequency"} (lists, one value per class),
     "diagnostics": {"neg_weight_hidden", "neg_weight_negative", "detection_auc", "detection_ap",
                     "roc_fpr", "roc_tpr"} | None,
     "timings": {"weights_s", "train_s", "eval_s"}, "config_hash": str}

:func:`summarize` turns records into the results table (mean ± std over folds), :func:`write_results_csv`
writes its stable CSV contract (``RUN_DIR/results.csv``), :func:`terminal_table` and :func:`markdown_table`
render it, :mod:`mlml.reports.figures` draws the figures (matplotlib, optional) and :func:`write_report`
writes the whole report of a run folder. NaN values may be stored as None (JSON null).
"""

from mlml.reports.records import LEAK_TAG, ORACLE_TAG, check_records, series_label
from mlml.reports.report import NothingFinished, write_report
from mlml.reports.tables import (
    EXTRA_COLUMNS,
    PAPER_METRICS,
    RESULT_COLUMNS,
    RESULT_METRICS,
    THRESHOLD_MODES,
    markdown_table,
    summarize,
    terminal_table,
    write_results_csv,
)

__all__ = [
    "EXTRA_COLUMNS",
    "LEAK_TAG",
    "ORACLE_TAG",
    "PAPER_METRICS",
    "RESULT_COLUMNS",
    "RESULT_METRICS",
    "THRESHOLD_MODES",
    "check_records",
    "markdown_table",
    "series_label",
    "summarize",
    "terminal_table",
    "NothingFinished",
    "write_report",
    "write_results_csv",
]
