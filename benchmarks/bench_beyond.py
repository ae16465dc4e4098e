"""The beyond-the-paper methods against the paper's in training: test mAP and training time vs plain BCE.

For each MULAN set and missing ratio: k folds (``kfold_indices``), each made by the fold layer
(``mlml.folds.make_fold``: positives hidden in the training fold only, per-sample scheme, seeded per fold as the
grid seeds them, ``hiding_seed``); every method trained with ``mlml.training.fit`` on the same frozen features,
configuration and seed; mAP on the complete test labels, scored by ``mlml.service.score`` (the grid's scoring).
The time of each method is the wall time of ``fit`` (weight estimation included) divided by plain BCE's on the
same fold, measured in the same run. The lead's grid (``mlml reproduce``) is the reference; this script is the
quick ablation.

Run: ``python benchmarks/bench_beyond.py [--sets emotions,yeast] [--ratios 0.5,0.75] [--folds 2]
[--epochs 20] [--methods bce,cb-wce,knn-cb-wce,pu-wce,knn-pu-wce]``. The defaults are the run of
``benchmarks/README.md``; ``--sets yeast,scene,emotions,medical,enron`` adds the other MULAN sets. Data: the MULAN
sets under ``$MLML_SHARED_DATA`` (default ``../shared/data``); an absent set is skipped with a message.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _common import present, shared_data

from mlml.data import kfold_indices, load
from mlml.experiments.trials import hiding_seed
from mlml.folds import make_fold
from mlml.methods import METHODS
from mlml.service import score
from mlml.training import TrainConfig, fit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="emotions,yeast")
    parser.add_argument("--ratios", default="0.5,0.75")
    parser.add_argument("--methods", default="bce,cb-wce,knn-cb-wce,pu-wce,knn-pu-wce")
    parser.add_argument("--folds", type=int, default=2, help="folds run (of 4)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=shared_data(), help="folder holding mulan/")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    if methods[0] != "bce":
        methods = ["bce"] + [m for m in methods if m != "bce"]
    config = TrainConfig(epochs=args.epochs, head="linear", fixed_epochs=True, val_fraction=0.0, device="cpu",
                         seed=args.seed, log=False, num_threads=1)
    print(f"{args.folds} fold(s) of 4, {args.epochs} epochs, linear head, seed {args.seed}; "
          "mAP mean ± std over folds; time = fit wall time / BCE's on the same fold")
    for name in args.sets.split(","):
        if not present(args.data / "mulan" / name, f" {name}"):
            continue
        ds = load(f"mulan:{args.data / 'mulan' / name}")
        folds = kfold_indices(ds.labels, 4, random_state=args.seed)[: args.folds]
        for ratio in map(float, args.ratios.split(",")):
            maps = {m: [] for m in methods}
            times = {m: [] for m in methods}
            for k, split in enumerate(folds):
                fold = make_fold(ds, split, ratio=ratio, seed=args.seed, val_fraction=config.val_fraction,
                                 hiding=hiding_seed(args.seed, k, ratio))
                for method in methods:
                    t = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = fit(fold.train_inputs, fold.observed_train, METHODS.get(method), config)
                        times[method].append(time.perf_counter() - t)
                        scored = score(result, fold.test_labels, fold.test_inputs, {"fixed": 0.5})
                        maps[method].append(scored.metrics["fixed"]["map"])
            print(f" {name} r={ratio}")
            for method in methods:
                ratio_t = np.mean(np.array(times[method]) / np.array(times["bce"]))
                print(f"  {method:<12} mAP {np.mean(maps[method]):.4f} ± {np.std(maps[method]):.4f}   "
                      f"time {np.mean(times[method]):6.2f}s  ({ratio_t:.2f}x BCE)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
