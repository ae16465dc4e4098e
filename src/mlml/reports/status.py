"""The report's run-status section: how many trials finished, failed or are missing, with each failure's error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlml.record import TrialRecord
from mlml.reports.records import describe_key, matches, series_key, series_label

ExpectedKey = str | Mapping[str, Any]
Block = tuple[Any, ...]

#: At most this many failed or missing trials are listed.
MAX_LISTED = 200


def status_blocks(
    records: Sequence[TrialRecord], expected: Sequence[ExpectedKey] | None
) -> list[Block]:
    done = [r for r in records if r.status == "done"]
    failed = [r for r in records if r.status == "failed"]
    blocks: list[Block] = [("h", 2, "Run status")]
    missing: list[ExpectedKey] = []
    if expected is not None:
        ids = {r.trial_id for r in records}

        def found(key: ExpectedKey) -> bool:  # a trial id is a set lookup; field mappings need a scan
            trial_id = key if isinstance(key, str) else key.get("trial_id")
            return trial_id in ids if trial_id is not None else any(matches(r, key) for r in records)

        missing = [key for key in expected if not found(key)]
    complete = not failed and expected is not None and not missing
    if expected is None:
        state = "unknown completeness (the intended grid was not given, so missing trials cannot be listed)"
    elif complete:
        state = "COMPLETE"
    else:
        state = "INCOMPLETE"
    summary = f"Run {state}: {len(done)} trials finished, {len(failed)} failed"
    if expected is not None:
        summary += f", {len(missing)} missing of {len(expected)} expected"
    blocks.append(("warn" if state == "INCOMPLETE" else "p", summary + "."))
    if failed:
        blocks.append(("h", 3, f"Failed trials ({len(failed)})"))
        header = ["trial_id", "dataset", "method", "ratio", "fold", "seed", "error"]
        body = [
            [
                str(r.trial_id),
                str(r.dataset),
                series_label(*series_key(r)),
                f"{r.ratio:g}",
                str(r.fold),
                str(r.seed),
                _first_line(r.error),
            ]
            for r in failed[:MAX_LISTED]
        ]
        blocks.append(("table", header, body))
        if len(failed) > MAX_LISTED:
            blocks.append(("p", f"... and {len(failed) - MAX_LISTED} more failed trials."))
        for r in failed[:MAX_LISTED]:
            if r.error:
                blocks.append(("details", f"Error of trial {r.trial_id}", str(r.error)))
    if missing:
        blocks.append(("h", 3, f"Missing trials ({len(missing)}: never ran or not stored)"))
        blocks.append(("list", [describe_key(key) for key in missing[:MAX_LISTED]]))
        if len(missing) > MAX_LISTED:
            blocks.append(("p", f"... and {len(missing) - MAX_LISTED} more missing trials."))
    if failed or missing:
        blocks.append(
            ("p", "Means and stds below use only the finished trials; the column n gives how many.")
        )
    return blocks


def _first_line(error: Any) -> str:
    if not error:
        return "(no error message stored)"
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    # A traceback's last line names the exception; a plain message's first line is the message.
    text = lines[-1] if lines and lines[0].startswith("Traceback") else (lines[0] if lines else "")
    return text if len(text) <= 160 else text[:157] + "..."
