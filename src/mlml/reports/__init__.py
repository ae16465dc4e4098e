"""Tables and figures from the experiment runner's trial records.

A trial record is a :class:`mlml.record.TrialRecord` (a dataclass built by the grid in one place and read by
attribute; its fields are listed in ``docs/trial-record.md``, generated from it); the readers also take plain
dicts of its fields (:func:`check_records` turns them into records).

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
