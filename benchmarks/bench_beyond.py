"""The beyond-the-paper methods against the paper's in training: test mAP and training time vs plain BCE.

For each MULAN set and missing ratio: k folds (``kfold_indices``); positives hidden in the training fold
only (per-sample scheme, seeded per fold); every method trained with ``mlml.training.fit`` on the same
frozen features, configuration and seed; mAP on the complete test labels. The time of each method is the
wall time of ``fit`` (weight estimation included) divided by plain BCE's on the same fold, measured in the
same run. The lead's grid (``mlml reproduce``) is the reference; this script is the quick ablation.

Run: ``python benchmarks/bench_beyond.py [--sets yeast,emotions] [--ratios 0.5,0.75] [--folds 2]
[--epochs 30] [--methods bce,cb-wce,knn-cb-wce,pu-wce,knn-pu-wce]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import mlml.losses.methods_beyond  # noqa: F401  (registers the methods)
import numpy as np
import scipy.sparse as sp

from mlml.data import kfold_indices, load
from mlml.evaluation import evaluate
from mlml.losses import METHODS
from mlml.simulate import hide_positives
from mlml.training import TrainConfig, fit

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="yeast,scene,emotions,medical,enron")
    parser.add_argument("--ratios", default="0.5,0.75")
    parser.add_argument("--methods", default="bce,cb-wce,knn-cb-wce,pu-wce,knn-pu-wce")
    parser.add_argument("--folds", type=int, default=2, help="folds run (of 4)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    if methods[0] != "bce":
        methods = ["bce"] + [m for m in methods if m != "bce"]
    config = TrainConfig(epochs=args.epochs, head="linear", fixed_epochs=True, val_fraction=0.0, device="cpu",
                         seed=args.seed, log=False, num_threads=1)
    print(f"{args.folds} fold(s) of 4, {args.epochs} epochs, linear head, seed {args.seed}; "
          "mAP mean ± std over folds; time = fit wall time / BCE's on the same fold")
    for name in args.sets.split(","):
        ds = load(f"mulan:{args.data / 'mulan' / name}")
        labels = ds.labels.toarray() if sp.issparse(ds.labels) else np.asarray(ds.labels)
        folds = kfold_indices(labels, 4, random_state=args.seed)[: args.folds]
        seeds = np.random.SeedSequence(args.seed).spawn(len(folds))
        for ratio in map(float, args.ratios.split(",")):
            maps = {m: [] for m in methods}
            times = {m: [] for m in methods}
            for (train, test), seed in zip(folds, seeds):
                observed, _ = hide_positives(labels[train], ratio, random_state=np.random.default_rng(seed))
                x_train, x_test = ds.features[train], ds.features[test]
                for method in methods:
                    t = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = fit(x_train, np.asarray(observed), METHODS.get(method), config)
                        times[method].append(time.perf_counter() - t)
                        maps[method].append(evaluate(labels[test], result.predict_proba(x_test))["map"])
            print(f" {name} r={ratio}")
            for method in methods:
                ratio_t = np.mean(np.array(times[method]) / np.array(times["bce"]))
                print(f"  {method:<12} mAP {np.mean(maps[method]):.4f} ± {np.std(maps[method]):.4f}   "
                      f"time {np.mean(times[method]):6.2f}s  ({ratio_t:.2f}x BCE)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
