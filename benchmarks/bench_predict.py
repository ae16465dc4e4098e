"""``mlml predict`` streams: peak memory of predicting 100,000 rows x 1,000 labels (target: within 2 GB).

A model with 1,000 outputs (the default ``mlp`` head on 64 features; its weights are random -- memory and time do
not depend on them) and 100,000 feature rows in a ``.npy`` with an ids-only labels file. Each measurement is its
own process, its peak resident set size read from ``wait4``:

* ``floor``: import mlml, load the model and the samples (what any prediction needs);
* ``predict wide``: ``mlml predict MODEL csv:ids.csv,X.npy --out p.csv`` (every probability and the decisions);
* ``predict long --top-k 5``;
* ``in memory``: ``mlml.predictions.predict(...)``, the Python call that holds the whole probability and decision
  matrices (the baseline streaming is measured against).

Run: ``python benchmarks/bench_predict.py [--rows 100000] [--labels 1000]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """
import sys
from mlml.data.unlabelled import load_samples
from mlml.training.evaluate import model_inputs
from mlml.training.saved import load_model
model = load_model(sys.argv[1]); samples = load_samples(sys.argv[2]); model_inputs(model, samples)
"""
IN_MEMORY = """
import sys
from mlml.predictions import predict
result = predict(sys.argv[1], sys.argv[2])
print(result.probabilities.shape)
"""


def measure(argv: list[str]) -> tuple[float, float]:
    """``(peak RSS in MiB, wall seconds)`` of one child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({status})")
    return usage.ru_maxrss / 1024, wall  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=1_000)
    parser.add_argument("--features", type=int, default=64)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from mlml.training import TrainConfig
    from mlml.training.model import build_model
    from mlml.training.saved import TrainedModel

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = TrainConfig()
        model = build_model(config, args.features, args.labels, pretrained=False)
        TrainedModel(model, config, args.features, args.labels, method="cb-wce",
                     label_names=[f"label {j}" for j in range(args.labels)]).save(folder / "model")
        rng = np.random.default_rng(0)
        np.save(folder / "X.npy", rng.standard_normal((args.rows, args.features), dtype=np.float32))
        (folder / "ids.csv").write_text("id\n" + "\n".join(f"s{i}" for i in range(args.rows)) + "\n")
        source = f"csv:{folder / 'ids.csv'},{folder / 'X.npy'}"
        model_dir = str(folder / "model")
        python = sys.executable
        runs = {
            "floor (load model + samples)": [python, "-c", FLOOR, model_dir, source],
            "predict wide (streamed)": [python, "-m", "mlml", "predict", model_dir, source, "--out",
                                        str(folder / "wide.csv")],
            "predict long --top-k 5 (streamed)": [python, "-m", "mlml", "predict", model_dir, source, "--format",
                                                  "long", "--top-k", "5", "--out", str(folder / "top.csv")],
            "in memory (mlml.predictions.predict)": [python, "-c", IN_MEMORY, model_dir, source],
        }
        print(f"mlml predict: {args.rows:,} rows x {args.labels:,} labels ({args.features} features), "
              f"{os.cpu_count()} CPUs")
        print(f"{'run':<40} {'peak RSS MiB':>13} {'wall s':>8}")
        figures = {}
        for name, argv in runs.items():
            figures[name] = measure(argv)
            print(f"{name:<40} {figures[name][0]:>13.0f} {figures[name][1]:>8.1f}")
        wide = figures["predict wide (streamed)"][0]
        size = (folder / "wide.csv").stat().st_size / 2**20
        print(f"wide CSV: {size:.0f} MiB; streamed peak {wide:.0f} MiB = {wide / 1024:.2f} GiB "
              f"(target <= 2 GiB: {'met' if wide <= 2048 else 'NOT met'}); "
              f"{figures['in memory (mlml.predictions.predict)'][0] / wide:.2f}x less than in memory; "
              f"{wide - figures['floor (load model + samples)'][0]:.0f} MiB above the floor")


if __name__ == "__main__":
    main()
