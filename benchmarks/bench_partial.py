"""Partial annotations (issue 14): mAP and micro-F1 vs the proportion of known labels, read from grid run folders.

Durand et al.'s protocol (CVPR 2019, "Learning a Deep ConvNet for Multi-label Classification with Partial
Labels"): every label of each training fold -- positives and negatives alike -- is kept with probability p (the
grid's ratio axis) and made unannotated otherwise; kept negatives are verified negatives; test folds keep their
complete labels. For every data set it prints one table: a row per method, a column per known proportion, mAP
(mean ± std over folds; a cell with fewer folds than the others says how many), the best non-oracle method of
each column in bold; then micro-F1 at threshold 0.5 in the same layout; then both as one table of means (a column
per data set and proportion), as in the README.

Run: ``python benchmarks/bench_partial.py RUN_DIR [RUN_DIR ...]`` (run folders of ``mlml reproduce --config
benchmarks/grids/issue14_partial.yaml``). Without arguments it runs a small default grid first (yeast, p = 0.1
and 0.5, four methods, 2 folds) so that ``make bench`` finishes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import short_name

from mlml.experiments import ResultStore
from mlml.reports.tables import format_mean_std, summarize


def tables(records: list[dict], metric: str) -> None:
    rows = summarize(records, thresholds="fixed")
    for dataset in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == dataset]
        ratios = sorted({r["ratio"] for r in mine})
        methods = sorted({r["method"] for r in mine}, key=lambda m: (m not in ("bce", "partial-bce"), m))
        best = {}
        for p in ratios:
            candidates = [r for r in mine if r["ratio"] == p and not r.get("oracle")]
            best[p] = max(candidates, key=lambda r: r[f"{metric}_mean"])["method"] if candidates else None
        n_folds = max(r["n_folds"] for r in mine)
        name = short_name(dataset)
        print(f"\n#### {name}: {metric} vs known proportion (mean ± std over folds)\n")
        print("| method | " + " | ".join(f"p = {p:g}" for p in ratios) + " |")
        print("|---|" + "---:|" * len(ratios))
        for method in methods:
            cells = []
            for p in ratios:
                row = next((r for r in mine if r["method"] == method and r["ratio"] == p), None)
                cell = "—" if row is None else format_mean_std(row[f"{metric}_mean"], row[f"{metric}_std"])
                cell = f"**{cell}**" if best[p] == method else cell
                if row is not None and row["n_folds"] < n_folds:  # an unfinished cell says so
                    cell += f" ({row['n_folds']} of {n_folds} folds)"
                cells.append(cell)
            print(f"| {method} | " + " | ".join(cells) + " |")


def summary(records: list[dict], metric: str) -> None:
    """One table for the README: a row per method, a column per (data set, known proportion), the mean only; the
    best non-oracle method of each column in bold."""
    rows = summarize(records, thresholds="fixed")
    columns = sorted({(r["dataset"], r["ratio"]) for r in rows})
    value = {(r["method"], r["dataset"], r["ratio"]): r[f"{metric}_mean"] for r in rows}
    best = {c: max((m for m, *k in value if tuple(k) == c), key=lambda m: value[(m, *c)]) for c in columns}
    short = [f"{short_name(d)} {p:g}" for d, p in columns]
    print(f"\n#### {metric}, mean over folds: data set and known proportion p\n")
    print("| method | " + " | ".join(short) + " |")
    print("|---|" + "---:|" * len(columns))
    for method in sorted({r["method"] for r in rows}, key=lambda m: (m not in ("bce", "partial-bce"), m)):
        cells = [value.get((method, *c)) for c in columns]
        text = ["—" if v is None else (f"**{v:.3f}**" if best[c] == method else f"{v:.3f}") for v, c in
                zip(cells, columns)]
        print(f"| {method} | " + " | ".join(text) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="*", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dirs = args.run_dirs
        if not run_dirs:
            run_dirs = [Path(tmp) / "run"]
            subprocess.run([sys.executable, "-m", "mlml", "reproduce", "yeast", "--scheme", "partial", "--methods",
                            "bce,partial-bce,csl,neg-cb-wce", "--ratios", "0.1,0.5", "--folds", "2", "--jobs", "2",
                            "--no-progress", "--out", str(run_dirs[0])], check=True, stdout=subprocess.DEVNULL)
        records = [r for d in run_dirs for r in ResultStore(d / "results.sqlite").records() if r["status"] == "done"]
        for metric in ("map", "micro_f1"):
            tables(records, metric)
        for metric in ("map", "micro_f1"):
            summary(records, metric)


if __name__ == "__main__":
    main()
