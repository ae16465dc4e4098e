"""Torch's thread count for ``mlml train`` (issue 20): wall time with 1, 2 and the automatically chosen number of
threads, side by side, and torch's default.

The issue measured 25.7 s with torch's default thread count against 1.1 s with one thread on enron-sized data (a
many-core machine): a feature head's training step is too small to split, so extra threads only synchronise.
``mlml train --num-threads auto`` (the default) asks :func:`mlml._threads.auto_threads` for a count from the model's
size and the batch size. Here: the default method of ``mlml train`` on MULAN enron (1,702 x 1,001 features, 53
labels), r = 0.5, the default recipe, each setting trained in turn, ``--rounds`` times (interleaved: 1, 2, auto,
default, 1, 2, ...; the best of each kept, the machine may be shared). Target: auto <= 1.2 x the best of 1 and 2.

Run: ``python benchmarks/bench_threads.py [--rounds 2] [--source mulan:../shared/data/mulan/enron]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import present, shared_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--source", default=None)
    args = parser.parse_args()
    source = args.source or f"mulan:{shared_data() / 'mulan' / 'enron'}"
    if args.source is None and not present(shared_data() / "mulan" / "enron", "thread benchmark"):
        return
    import warnings

    import torch

    from mlml._threads import auto_threads
    from mlml.data import load
    from mlml.folds import make_fold
    from mlml.methods import METHODS, RECOMMENDED_METHOD
    from mlml.models.heads import count_parameters
    from mlml.training import TrainConfig, fit
    from mlml.training.model import build_model

    warnings.simplefilter("ignore")
    dataset = load(source)
    fold = make_fold(dataset, ratio=0.5, scheme="per-sample", seed=0, val_fraction=0.1, inputs=dataset.features)
    method = METHODS.get(RECOMMENDED_METHOD)
    config = TrainConfig(log=False)
    size = count_parameters(build_model(config, dataset.features.shape[1], dataset.labels.shape[1]))
    chosen = auto_threads(size, config.batch_size)
    default = torch.get_num_threads()
    settings = {"1 thread": 1, "2 threads": 2, f"auto ({chosen})": chosen, f"torch default ({default})": None}
    best: dict[str, float] = {}
    epochs: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, threads in settings.items():
            started = time.perf_counter()
            result = fit(fold.train_inputs, fold.observed_train, method,
                         TrainConfig(log=False, num_threads=threads), validation=fold.validation)
            seconds = time.perf_counter() - started
            best[name] = min(best.get(name, float("inf")), seconds)
            epochs[name] = len(result.history)
    print(f"{method.name} on {dataset.name} ({dataset.labels.shape[0]} x {dataset.features.shape[1]}, "
          f"{dataset.labels.shape[1]} labels): head {size:,} parameters, batch {config.batch_size}; "
          f"{os.cpu_count()} CPUs; best of {args.rounds} rounds")
    for name, seconds in best.items():
        print(f"  {name:<22} {seconds:7.2f} s  ({epochs[name]} epochs)")
    floor = min(best["1 thread"], best["2 threads"])
    ratio = best[f"auto ({chosen})"] / floor
    print(f"auto / best of 1 and 2 threads: {ratio:.2f} (target <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")


if __name__ == "__main__":
    main()
