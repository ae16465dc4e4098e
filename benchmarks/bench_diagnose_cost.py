"""What ``mlml.diagnose`` adds to a fit, and its BLAS threads (issue 20, third round).

The recommended method decides with the ``select`` policy, which reads the training rows' diagnosed share of
missing positives (:func:`mlml.service.fold_missing_share`: ``diagnose`` without its bootstrap, once per fit).
Per data set, on the fold of ``bench_peer.py`` (75 / 25 split, seed 0, half of the training positives hidden per
sample, a tenth of the training rows kept for validation): the time of that share, and of ``mlml diagnose``'s
whole estimate (200 bootstrap replicates) on the same training rows, with the BLAS library's own thread count
(OpenBLAS: one a core; what ``diagnose`` ran with before) and with the count ``diagnose`` now chooses
(:func:`mlml.diagnose_scores.blas_threads_for`), the two run alternately ``--repeats`` times (best of each compared).
The column "same" says whether the two runs' estimates are equal in every digit (the share; for the whole
estimate every per-label figure and the interval).

Run: ``python benchmarks/bench_diagnose_cost.py [--datasets medical,enron] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import present, shared_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="yeast,scene,emotions,medical,enron")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_info

    import mlml.diagnose as diagnosis
    from mlml.data import load
    from mlml.folds import make_fold
    from mlml.service import fold_missing_share

    warnings.simplefilter("ignore")
    chosen = diagnosis.blas_threads_for
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    own = blas[0]["num_threads"] if blas else "?"
    print(f"diagnose's cost; {os.cpu_count()} CPUs; BLAS {blas[0]['internal_api'] if blas else '?'} with {own} "
          f"threads of its own; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'data set':<9} {'what':<24} {'own threads s':>13} {'chosen s':>9} {'threads':>7} {'ratio':>6}  same  "
          f"estimate")
    for name in args.datasets.split(","):
        root = shared_data() / "mulan" / name
        if not present(root, name):
            continue
        data = load(f"mulan:{root}")
        train, test = train_test_split(np.arange(data.n_samples), test_size=0.25, random_state=0)
        fold = make_fold(data, (train, test), ratio=0.5,
                         scheme="per-sample", seed=0, val_fraction=0.1, inputs=data.features)
        kinds = ("both", "features", "labels")
        threads = chosen(*fold.observed_train.shape, fold.train_inputs, kinds)
        whole = lambda: diagnosis.diagnose(fold.observed_train, features=fold.train_inputs).to_dict()  # noqa: E731
        for what, call in (("select's share", lambda: fold_missing_share(fold)), ("diagnose, 200 replicates", whole)):
            times: dict[str, list[float]] = {"own": [], "chosen": []}
            values = {}
            for _ in range(args.repeats):
                for side in ("own", "chosen"):
                    diagnosis.blas_threads_for = (lambda *a: None) if side == "own" else chosen
                    started = time.perf_counter()
                    values[side] = call()
                    times[side].append(time.perf_counter() - started)
            diagnosis.blas_threads_for = chosen
            a, b = min(times["own"]), min(times["chosen"])
            same = repr(values["own"]) == repr(values["chosen"])
            estimate = values["chosen"] if isinstance(values["chosen"], float) else \
                values["chosen"]["missing_share"]["estimate"]
            print(f"{name:<9} {what:<24} {a:>13.2f} {b:>9.2f} {threads:>7} {a / b:>6.1f}  "
                  f"{'yes' if same else 'NO':<4}  {estimate:.4f}", flush=True)


if __name__ == "__main__":
    main()
