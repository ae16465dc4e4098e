"""Wall time of the main job (``make reproduce``) and the table the README quotes from it.

    python benchmarks/bench_reproduce.py [--jobs 2] [--serial]

The main job: yeast x r = 0, 0.25, 0.5, 0.75 x 4 folds x the paper's three methods (bce, im-wce, cb-wce), the
best single baseline of the issue-21 development grid (``wan``) and ``auto``, reported with ``--thresholds own``
(80 trials; :data:`MAIN_JOB` holds the flags the Makefile passes). It runs ``mlml reproduce`` exactly as ``make
reproduce`` does (a fresh process, so imports and worker start-up count) with ``--jobs N``, and, as the baseline
in the same run, the paper's three methods alone (the main job before issue 21: 48 trials); ``--serial`` adds the
main job with ``--jobs 1``. Each run's CPU time (user + system of the child processes) is printed beside its wall
time: on a shared machine the wall time depends on the load, the CPU time much less. Target: about a minute on
a 2-core machine. Then it prints the README's table (r = 0.5) from the main job's run and what ``auto`` chose.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

#: What ``make reproduce`` adds to ``mlml reproduce --jobs N --out runs/yeast-default`` (see the Makefile).
MAIN_JOB = ("--methods", "bce,im-wce,cb-wce,wan,auto", "--thresholds", "own")
#: The paper's three methods: the main job before issue 21 (the baseline here).
PAPER_JOB = ("--methods", "bce,im-wce,cb-wce")


def _run(jobs: int, out: Path, flags: tuple[str, ...]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``mlml reproduce`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlml.cli", "reproduce", "--jobs", str(jobs), "--no-progress",
                    "--out", str(out), *flags], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def readme_table(run_dir: Path, ratio: float = 0.5) -> None:
    """The README's table of the main job: each method at r = ``ratio``, mean ± std over the folds."""
    from mlml.experiments import ResultStore

    records = [r for r in ResultStore(run_dir / "results.sqlite").records()
               if r["status"] == "done" and r["ratio"] == ratio]
    order = MAIN_JOB[1].split(",")
    methods = sorted(dict.fromkeys(r["method"] for r in records), key=lambda m: (m not in order, order.index(m)
                                                                                 if m in order else 0, m))
    print(f"\nThe main job at r = {ratio:g} (4 folds, mean ± std):\n")
    print("| method | micro-F1 at 0.5 | micro-F1, tuned thresholds | micro-F1, its own policy | mAP |")
    print("|---|---:|---:|---:|---:|")
    for method in methods:
        rows = [r for r in records if r["method"] == method]
        own = rows[0]["own_policy"]
        label = own if own != "chosen" else "chosen per fold: " + ", ".join(
            f"{p} x{n}" for p, n in Counter(r["auto_choice"]["policy"] for r in rows).items())
        print(f"| {method} | {_cell([r['metrics']['micro_f1'] for r in rows])} | "
              f"{_cell([r['metrics_tuned']['micro_f1'] for r in rows])} | "
              f"{_cell([r['metrics_policies'][own]['micro_f1'] for r in rows])} ({label}) | "
              f"{_cell([r['metrics']['map'] for r in rows])} |")
    auto = [r for r in ResultStore(run_dir / "results.sqlite").records() if r["method"] == "auto"]
    if auto:
        train = {m: np.mean([r["timings"]["train_s"] for r in ResultStore(run_dir / "results.sqlite").records()
                             if r["method"] == m and r["status"] == "done"]) for m in methods}
        print(f"\nauto chose {Counter(r['auto_choice']['chosen'] for r in auto).most_common()} "
              f"with {Counter(r['auto_choice']['policy'] for r in auto).most_common()}; mean training seconds per "
              "trial: " + ", ".join(f"{m} {s:.1f}" for m, s in train.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--serial", action="store_true", help="also the main job with --jobs 1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        main_run = Path(tmp) / "main"
        wall, cpu = _run(args.jobs, main_run, MAIN_JOB)
        paper_wall, paper_cpu = _run(args.jobs, Path(tmp) / "paper", PAPER_JOB)
        resumed, _ = _run(args.jobs, main_run, MAIN_JOB)  # every trial finished: only the report is redone
        serial = _run(1, Path(tmp) / "serial", MAIN_JOB) if args.serial else None
        print("| run | wall time | CPU time |\n|---|---:|---:|")
        print(f"| the main job (80 trials), --jobs {args.jobs} | {wall:.1f} s | {cpu:.1f} s |")
        print(f"| baseline: the paper's three methods alone (48 trials), --jobs {args.jobs} | {paper_wall:.1f} s | "
              f"{paper_cpu:.1f} s |")
        print(f"| the main job again (every trial finished; report rewritten) | {resumed:.1f} s | |")
        if serial is not None:
            print(f"| the main job, --jobs 1 | {serial[0]:.1f} s | {serial[1]:.1f} s |")
        print(f"main job / paper's three methods: wall {wall / paper_wall:.2f}x, CPU {cpu / paper_cpu:.2f}x; "
              f"CPU time / {args.jobs} cores: {cpu / args.jobs:.1f} s (the wall time on an otherwise idle machine, "
              "roughly)")
        readme_table(main_run)


if __name__ == "__main__":
    main()
