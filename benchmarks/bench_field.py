"""The single-positive field's table (issue 22): each method with model selection on the validation rows' observed
labels beside the same method selected on their complete labels (``METHOD@complete-val``), as the papers report.

Per data set: test mAP and micro-F1 (threshold 0.5) mean ± std over folds for both variants, the mAP the complete
labels buy (paired per fold: the same folds, hidden positives and training; only the kept epoch differs), and the
kept epoch (the best validation score's). Methods are listed by their mAP under observed-label selection.

Run:
    python benchmarks/bench_field.py benchmarks/grids/issue22_field.yaml --out runs/issue22-field   # run, then print
    python benchmarks/bench_field.py --out runs/issue22-field                                        # print only

A run folder is read from ``RUN_DIR/results.sqlite``; re-running a config skips its finished trials.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _common import short_name

from mlml.experiments.config import load_config
from mlml.experiments.runner import STORE_NAME, run_grid
from mlml.experiments.store import ResultStore

SUFFIX = "@complete-val"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path, help="YAML grid config to run (omit: read only)")
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.config is not None:
        started = time.perf_counter()
        run_grid(load_config(args.config), args.out, jobs=args.jobs, progress=False)
        print(f"{args.config}: run in {time.perf_counter() - started:.0f} s with --jobs {args.jobs}")
    store = args.out / STORE_NAME
    if not store.is_file():
        print(f"{store}: absent")
        return 1
    records = [r for r in ResultStore(store).records() if r["status"] == "done"]
    print_table(records)
    return 0


def _stat(values: Sequence[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "–"


def _kept(record: dict) -> float:
    """The kept epoch, 1-based: the best validation score of the trial's history (the trainer's choice)."""
    scores = [h.get("val_score", float("nan")) for h in record["history"]]
    return float(np.nanargmax(scores) + 1) if scores and not np.all(np.isnan(scores)) else float(len(scores))


def print_table(records: Sequence[dict]) -> None:
    """One markdown table per data set (see the module docstring)."""
    cells: dict[tuple[str, str, str], dict[int, dict]] = defaultdict(dict)
    for r in records:
        base, variant = (r["method"][: -len(SUFFIX)], "complete") if r["method"].endswith(SUFFIX) else (
            r["method"], "observed")
        cells[(short_name(r["dataset"]), base, variant)][(r["seed"], r["fold"])] = r
    for dataset in sorted({key[0] for key in cells}):
        methods = sorted({key[1] for key in cells if key[0] == dataset})

        def maps(method: str, variant: str) -> dict:
            return {k: r["metrics"]["map"] for k, r in cells.get((dataset, method, variant), {}).items()}

        methods.sort(key=lambda m: -np.mean(list(maps(m, "observed").values()) or [-1]))
        print(f"\n{dataset}: single positive per training row; test mAP / micro-F1 (0.5), mean ± std over folds")
        print("| method | mAP, observed-label selection | mAP, complete-label selection | paired gain | "
              "micro-F1 (observed) | micro-F1 (complete) | mean kept epoch, 1-based (observed / complete) |")
        print("|---|---|---|---|---|---|---|")
        for method in methods:
            obs, com = cells.get((dataset, method, "observed"), {}), cells.get((dataset, method, "complete"), {})
            both = sorted(set(obs) & set(com))
            gain = [com[k]["metrics"]["map"] - obs[k]["metrics"]["map"] for k in both]
            epochs = [f"{np.mean([_kept(r) for r in part.values()]):.1f}" if part else "–" for part in (obs, com)]
            print(f"| {method} | {_stat([r['metrics']['map'] for r in obs.values()])} | "
                  f"{_stat([r['metrics']['map'] for r in com.values()])} | {_stat(gain) if gain else '–'} | "
                  f"{_stat([r['metrics']['micro_f1'] for r in obs.values()])} | "
                  f"{_stat([r['metrics']['micro_f1'] for r in com.values()])} | {' / '.join(epochs)} |")


if __name__ == "__main__":
    sys.exit(main())
