"""The two training recipes side by side (issue 11): mlml's default trainer and the seed code's recipe.

Runs ``mlml reproduce SOURCE --recipe R`` for R in (default, seed) into ``--out/SOURCE-R`` (a finished grid is
reused) and prints, per method and missing ratio, micro-F1 and mAP (mean ± std over folds, threshold 0.5) under
each recipe, and each grid's wall time.

The default run (``make bench``) is short: yeast, r = 0.5, two folds. The README's tables:
``python benchmarks/bench_recipes.py --sources yeast,openclipart --ratios 0,0.25,0.5,0.75 --folds 4``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from mlml.experiments import ResultStore
from mlml.reports.tables import format_mean_std, summarize


def run(source: str, recipe: str, args: argparse.Namespace) -> tuple[list[dict], float]:
    out = args.out / f"{source.replace(':', '_').replace('/', '_')}-{recipe}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mlml", "reproduce", source, "--recipe", recipe, "--ratios", args.ratios,
                    "--folds", str(args.folds), "--jobs", str(args.jobs), "--no-progress", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return ResultStore(out / "results.sqlite").records(), time.perf_counter() - started


def _mean_trial_seconds(records: list[dict]) -> float:
    """Mean wall time of a trial as its record measured it (weights, training, evaluation and policies), whatever
    invocation ran it."""
    return sum(sum((r.get("timings") or {}).values()) for r in records) / max(len(records), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", default="yeast")
    parser.add_argument("--ratios", default="0.5")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs") / "recipes")
    args = parser.parse_args()
    for source in args.sources.split(","):
        rows, seconds, runs = {}, {}, {}
        for recipe in ("default", "seed"):
            runs[recipe], seconds[recipe] = run(source, recipe, args)
            rows[recipe] = {(r["method"], r["ratio"]): r for r in summarize(runs[recipe], thresholds="fixed")}
        per_trial = {recipe: _mean_trial_seconds(records) for recipe, records in runs.items()}
        print(f"\n### {source}: the default recipe vs the seed code's ({args.folds} folds, threshold 0.5; this "
              f"invocation: default {seconds['default']:.0f} s, seed {seconds['seed']:.0f} s with --jobs "
              f"{args.jobs}, finished trials reused; mean trial: default {per_trial['default']:.1f} s, seed "
              f"{per_trial['seed']:.1f} s)\n")
        print("| method | ratio | micro-F1 default | micro-F1 seed | mAP default | mAP seed |")
        print("|---|---:|---:|---:|---:|---:|")
        for key in sorted(rows["default"], key=lambda k: (k[1], ("bce", "im-wce", "cb-wce").index(k[0]))):
            d, s = rows["default"][key], rows["seed"].get(key)
            if s is None:
                continue
            cells = [format_mean_std(row[f"{m}_mean"], row[f"{m}_std"]) for m in ("micro_f1",) for row in (d, s)]
            cells += [format_mean_std(row[f"{m}_mean"], row[f"{m}_std"]) for m in ("map",) for row in (d, s)]
            print(f"| {key[0]} | {key[1]:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
