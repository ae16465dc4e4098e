"""Frozen-loop throughput of this checkout, and of an earlier revision measured in the same run (issue 12).

Trains a head on yeast's first training fold (r = 0.5, observed labels; 1,813 rows x 103 features, batch 64,
1 thread, the default MLP head, fixed epochs, no validation pass) with ``bce`` and ``cb-wce`` and prints samples/s
(the median epoch time of each run, best of ``--repeats`` runs). With ``--baseline-rev REV`` the same
measurement runs on that git revision's ``src/`` too -- each side in its own subprocess, interleaved A, B, A, B,
so that machine load hits both alike -- and the ratio new / old is printed (issue 12's target: within 5 %).

Run from the repository root: ``python benchmarks/bench_loop.py [--baseline-rev REV] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = r"""
import json, sys, numpy as np
import mlml.data
from mlml.simulate import hide_positives
from mlml.training import TrainConfig, fit
ds = mlml.data.load("yeast")
train = mlml.data.kfold_indices(ds.labels, 4, random_state=0)[0][0]
x = ds.features[train]
observed, _ = hide_positives(ds.labels[train], 0.5, random_state=0)
cfg = TrainConfig(num_threads=1, log=False, epochs=int(sys.argv[1]), fixed_epochs=True, val_fraction=0.0,
                  device="cpu")
out = {}
for method in ("bce", "cb-wce"):
    history = fit(x, observed, method, cfg).history
    out[method] = float(np.median([h["seconds"] for h in history[1:]]))
out["rows"] = int(x.shape[0])
print(json.dumps(out))
"""


def measure(src: Path, epochs: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", MEASURE, str(epochs)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_src(rev: str, folder: Path) -> Path:
    """``src/`` of git revision ``rev``, extracted into ``folder``."""
    archive = folder / "src.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, stdout=handle, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-rev", help="a git revision to compare with (e.g. the commit before a change)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    sides = {"this checkout": ROOT / "src"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline_rev:
            sides[f"rev {args.baseline_rev}"] = export_src(args.baseline_rev, Path(tmp))
        best: dict[str, dict[str, float]] = {name: {} for name in sides}
        for _ in range(args.repeats):
            for name, src in sides.items():
                for method, seconds in measure(src, args.epochs).items():
                    if method != "rows":
                        best[name][method] = min(best[name].get(method, float("inf")), seconds)
                    else:
                        rows = seconds
    for name, timings in best.items():
        print(f"{name}: frozen loop on yeast ({int(rows)} rows, batch 64, 1 thread): "
              + ", ".join(f"{method} {rows / s:,.0f} samples/s" for method, s in timings.items()))
    if args.baseline_rev:
        new, old = best["this checkout"], best[f"rev {args.baseline_rev}"]
        for method in new:
            print(f"{method}: epoch time this checkout / rev {args.baseline_rev} = {new[method] / old[method]:.3f} "
                  "(target <= 1.05)")


if __name__ == "__main__":
    main()
