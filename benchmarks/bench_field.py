"""The single-positive field's table (issue 22): each method with model selection on the validation rows' observed
labels beside the same method selected on their complete labels (``METHOD@complete-val``), as the papers report.

Per data set: test mAP and micro-F1 (threshold 0.5) mean ± std over folds for both variants, the mAP the complete
labels buy (paired per fold: the same folds, hidden positives and training; only the kept epoch differs), and the
kept epoch (the best validation score's). Methods are listed by their mAP under observed-label selection.

Run:
    python benchmarks/bench_field.py benchmarks/grids/issue22_field.yaml --out runs/issue22-field   # run, then print
    python benchmarks/bench_field.py --out runs/issue22-field                                        # print only
    python benchmarks/bench_field.py --timing openclipart                          # the field table vs today's grid

A run folder is read from ``RUN_DIR/results.sqlite``; re-running a config skips its finished trials.

``--timing SOURCE`` checks issue 22's target "``mlml reproduce SOURCE --scheme single-positive --methods field``
finishes within the time of today's grid": it runs the default ``mlml reproduce SOURCE`` (bce, im-wce, cb-wce;
r = 0, 0.25, 0.5, 0.75; 4 folds: the grid a user runs today) and the field's command side by side, each a fresh
process on a fresh run folder, after the image features are cached (extraction is counted in neither), and prints
both wall times, their ratio, and each method's mean trial time and epochs (what dominates). ``--reference CONFIG``
takes another grid as today's (e.g. ``benchmarks/grids/issue16_openclipart.yaml``, every method at r = 0.5).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _common import BEYOND_METHODS, short_name

from mlml.experiments.config import load_config
from mlml.experiments.runner import STORE_NAME, run_grid
from mlml.experiments.store import ResultStore

SUFFIX = "@complete-val"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path, help="YAML grid config to run (omit: read only)")
    parser.add_argument("--out", type=Path, help="run folder (--timing: where both runs are kept; default: a "
                                                     "temporary folder)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--timing", metavar="SOURCE", help="time the field's command against the default grid")
    parser.add_argument("--reference", type=Path, metavar="CONFIG",
                        help="--timing: the reference grid is `mlml reproduce --config CONFIG` (e.g. "
                             "benchmarks/grids/issue16_openclipart.yaml) instead of the default grid on SOURCE")
    parser.add_argument("--val-set-variant", default="observed", choices=("observed", "both"),
                        help="--timing: the field command's model-selection variant(s)")
    parser.add_argument("--field-first", action="store_true",
                        help="--timing: run the field's table first (a second measurement in the other order shows "
                             "how much the machine's load drifted)")
    args = parser.parse_args(argv)
    if args.timing is not None:
        return timing(args.timing, args.out, args.jobs, args.val_set_variant, args.field_first, args.reference)
    if args.out is None:
        parser.error("--out is required")
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
        for variant in ("observed", "complete"):
            _print_ours_vs_best(dataset, variant, {m: maps(m, variant) for m in methods if maps(m, variant)})


def _print_ours_vs_best(dataset: str, variant: str, maps: dict[str, dict]) -> None:
    """Our best scheme (``BEYOND_METHODS``, by mean mAP) against the best baseline (every other method), paired
    over the folds both ran: where a baseline beats ours, this line says so. Both sides are the best of their group
    on these test folds (an optimistic choice for each; 14-15 baselines against 1-2 of ours)."""
    ours = {m: v for m, v in maps.items() if m in BEYOND_METHODS}
    others = {m: v for m, v in maps.items() if m not in BEYOND_METHODS}
    if not ours or not others:
        return
    best_ours = max(ours, key=lambda m: np.mean(list(ours[m].values())))
    best_other = max(others, key=lambda m: np.mean(list(others[m].values())))
    folds = sorted(set(ours[best_ours]) & set(others[best_other]))
    delta = [ours[best_ours][k] - others[best_other][k] for k in folds]
    verdict = "ours >= best baseline" if np.mean(delta) >= 0 else "the best baseline beats ours"
    if abs(np.mean(delta)) < np.std(delta):
        verdict += "; |Δ| below its std over folds: a tie"
    print(f"{dataset}, {variant}-label selection: ours {best_ours} {_stat(list(ours[best_ours].values()))} vs best "
          f"baseline {best_other} {_stat(list(others[best_other].values()))}: paired Δ {_stat(delta)} over "
          f"{len(folds)} folds ({verdict})")


def timing(source: str, out: Path | None, jobs: int, variant: str, field_first: bool = False,
           reference: Path | None = None) -> int:
    """The default grid (or the grid of the ``reference`` config) and the field's table on ``source``, one after
    the other on the same machine (see the module docstring); returns 0 when the field's table took no longer."""
    from mlml.data import load
    from mlml.service import dataset_inputs

    started = time.perf_counter()
    dataset = load(source)
    if dataset.image_paths is not None:  # extracted once into the cache (untimed), so neither run pays for it
        dataset_inputs(dataset)
    print(f"{source}: {dataset.n_samples} samples x {dataset.n_labels} labels; data and cached features ready in "
          f"{time.perf_counter() - started:.0f} s (not counted)")
    base = f"grid {reference.name}" if reference else "default grid"
    runs = {base: ["reproduce", "--config", str(reference)] if reference else ["reproduce", source],
            "field table": ["reproduce", source, "--scheme", "single-positive", "--methods", "field",
                            "--val-set-variant", variant]}
    if field_first:
        runs = dict(reversed(runs.items()))
    with tempfile.TemporaryDirectory(prefix="bench-field-") as scratch:
        folder = out or Path(scratch)
        walls, cpus, records = {}, {}, {}
        for name, command in runs.items():
            run_dir = folder / name.replace(" ", "-")
            command = [*command, "--jobs", str(jobs), "--no-progress", "--out", str(run_dir)]
            load_before = os.getloadavg()[0]
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "mlml", *command], capture_output=True, text=True)
            walls[name] = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the process's CPU time: less load-dependent
            cpus[name] = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
            if done.returncode != 0:
                print(f"mlml {' '.join(command)}: exit {done.returncode}\n{done.stderr.strip()}")
                return 1
            records[name] = [r for r in ResultStore(run_dir / STORE_NAME).records() if r["status"] == "done"]
            print(f"mlml {' '.join(command[:-2])}: {len(records[name])} trials in {walls[name]:.0f} s, CPU time "
                  f"{cpus[name]:.0f} s (1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)")
    print(f"\n{short_name(source)}: mean trial time by method (weights + training + evaluation + policies)")
    print("| run | method | trials | mean trial s | mean epochs | s per epoch | share of the run's trial time |")
    print("|---|---|---|---|---|---|---|")
    for name, done_records in records.items():
        total = sum(_trial_seconds(r) for r in done_records)
        by_method: dict[str, list[dict]] = defaultdict(list)
        for r in done_records:
            by_method[r["method"]].append(r)
        for method, rows in sorted(by_method.items(), key=lambda item: -sum(map(_trial_seconds, item[1]))):
            seconds = [_trial_seconds(r) for r in rows]
            epochs = [r.get("epochs") or len(r.get("history") or []) for r in rows]
            print(f"| {name} | {method} | {len(rows)} | {np.mean(seconds):.1f} | {np.mean(epochs):.1f} | "
                  f"{sum(seconds) / max(sum(epochs), 1):.2f} | {sum(seconds) / max(total, 1e-9):.0%} |")
    ratio = walls["field table"] / walls[base]
    verdict = "within" if ratio <= 1 else "NOT within"
    print(f"\nratio field table / {base} = {walls['field table']:.0f} s / {walls[base]:.0f} s = "
          f"{ratio:.2f} ({verdict} the {base}'s time; --jobs {jobs})")
    print(f"CPU-time ratio = {cpus['field table']:.0f} s / {cpus[base]:.0f} s = "
          f"{cpus['field table'] / cpus[base]:.2f} (on a shared machine the steadier figure)")
    return 0 if ratio <= 1 else 1


def _trial_seconds(record: dict) -> float:
    return float(sum((record.get("timings") or {}).values()))


if __name__ == "__main__":
    sys.exit(main())
