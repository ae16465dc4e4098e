"""Wall time of the main job's default grid (yeast, 4 ratios x 3 methods x 4 folds = 48 trials).

    python benchmarks/bench_reproduce.py [--jobs 2]

Runs ``mlml reproduce`` exactly as the README's first command does (a fresh process, so imports and worker
start-up count), with ``--jobs N`` and, as the baseline in the same run, with ``--jobs 1``. Target: about a
minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _wall(jobs: int, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlml.cli", "reproduce", "--jobs", str(jobs), "--no-progress",
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        parallel = _wall(args.jobs, Path(tmp) / "parallel")
        serial = _wall(1, Path(tmp) / "serial")
        resumed = _wall(args.jobs, Path(tmp) / "parallel")  # every trial finished: only the report is redone
    print("| run | wall time |\n|---|---|")
    print(f"| default grid, --jobs {args.jobs} | {parallel:.1f} s |")
    print(f"| default grid, --jobs 1 (baseline) | {serial:.1f} s |")
    print(f"| same command again (48 finished trials skipped) | {resumed:.1f} s |")
    print(f"speed-up of --jobs {args.jobs}: {serial / parallel:.2f}x")


if __name__ == "__main__":
    main()
