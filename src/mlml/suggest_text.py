"""The output of ``mlml suggest``: the CSV of suggestions and the terminal table (re-exported by
:mod:`mlml.suggest`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlml._csv import write_rows
from mlml._validation import check_positive_int

COLUMNS: tuple[str, ...] = (
    "rank",
    "id",
    "label",
    "score",
    "prior",
    "neighbour_vote",
    "model_probability",
    "co_occurring",
    "neighbours",
)


def write_suggestions_csv(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` (from :func:`suggest`) to ``path`` with the header ``COLUMNS``; None becomes empty."""
    return write_rows(path, COLUMNS, rows, float_format="{:.6g}")


def format_table(rows: list[dict[str, Any]], n: int = 20) -> str:
    """A plain-text table of the first ``n`` suggestions (rank, id, label, score, evidence)."""
    check_positive_int(n, "n", "format_table")
    if not rows:
        return "No suggestions: every label is observed positive or unknown."
    header = ["rank", "id", "label", "score", "prior", "knn", "model", "evidence"]
    table = [header]
    for row in rows[:n]:
        evidence = row["co_occurring"] or "-"
        if row["neighbours"]:
            evidence += f" | near: {row['neighbours']}"
        table.append([
            str(row["rank"]), _clip(row["id"], 16), _clip(row["label"], 20), f"{row['score']:.3f}",
            f"{row['prior']:.3f}",
            "-" if row["neighbour_vote"] is None else f"{row['neighbour_vote']:.2f}",
            "-" if row["model_probability"] is None else f"{row['model_probability']:.2f}",
            _clip(evidence, 60),
        ])
    widths = [max(len(r[j]) for r in table) for j in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(rows) > n:
        lines.append(f"... {len(rows) - n} more in the CSV")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
