"""Scale (issue 13): a million samples, a thousand labels, sparse from end to end.

Writes synthetic data in the Extreme Classification Repository's format (fixed seed; cached under ``--cache``):
``n`` training samples and ``n / 10`` test samples, 1,000 labels with Zipf-like frequencies (about 5 positives a
sample, drawn from one of 50 topics plus the whole label set, so that labels co-occur), 500 sparse features (about
10 non-zeros a sample: two signature features of each of the sample's labels plus noise, so that a model can
learn). For each size it measures:

1. the full pass of ``pairwise-noisy-or`` weights over all training rows (fit on the observed labels at r = 0.5,
   then ``transform`` in 8,192-row batches, float32 as the trainer asks, and float64);
2. ``mlml train xc:TRAIN --method cb-wce-noisy-or --ratio 0.5 --head linear --epochs 1`` and the same with
   ``--method bce``, each in a subprocess under ``/usr/bin/time -v`` (peak RSS; ``resource`` where that tool
   is missing) with ``OMP_NUM_THREADS=1`` (``--threads``): wall time, peak RSS, the ratio of the two;
3. evaluation of the trained cb-wce-noisy-or model on the test file: top-5 prediction in batches and P@k, nDCG@k,
   PSP@k, PSnDCG@k (propensities from the training labels), without a dense score matrix.

Targets (at 1,000,000 samples): weight pass <= 10 s, training peak RSS <= 4 GB, wall time <= 1.3 x bce,
evaluation of the 100,000-sample test split <= 5 s. Run from the repository root::

    python benchmarks/bench_scale.py                 # 100,000 samples (a few minutes)
    python benchmarks/bench_scale.py --full          # also 1,000,000 samples
    python benchmarks/bench_scale.py --sizes 20000   # any sizes
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

N_LABELS = 1000
N_FEATURES = 500
N_TOPICS = 50
SEED = 13
BATCH_ROWS = 8192


def synthetic(n: int, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(labels, features)``: CSR int8 ``(n, 1000)`` and CSR float32 ``(n, 500)`` (see the module docstring); the
    label popularity, topics and feature signatures are fixed (``SEED``), ``seed`` draws the samples."""
    world = np.random.default_rng(SEED)  # the same labels, topics and signatures for every file
    rank = np.arange(1, N_LABELS + 1)
    popularity = rank**-0.9  # Zipf-like: label 0 the most frequent
    topic_of = world.permutation(N_LABELS) % N_TOPICS
    signature = world.integers(0, N_FEATURES, size=(N_LABELS, 2))
    rng = np.random.default_rng(seed)  # the samples of this file
    topics = rng.integers(0, N_TOPICS, size=n)
    counts = 1 + rng.poisson(4.9, size=n)
    rows = np.repeat(np.arange(n), counts)
    from_topic = rng.random(rows.size) < 0.7
    labels = np.empty(rows.size, dtype=np.int64)
    # labels of the row's topic, by popularity within the topic
    members = [np.flatnonzero(topic_of == t) for t in range(N_TOPICS)]
    for t in range(N_TOPICS):
        pick = from_topic & (topics[rows] == t)
        weights = popularity[members[t]] / popularity[members[t]].sum()
        labels[pick] = rng.choice(members[t], size=int(pick.sum()), p=weights)
    labels[~from_topic] = rng.choice(N_LABELS, size=int((~from_topic).sum()), p=popularity / popularity.sum())
    label_matrix = sp.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, labels)), shape=(n, N_LABELS))
    label_matrix.data[:] = 1  # a label drawn twice is one positive
    f_rows = np.concatenate([rows, rows, np.repeat(np.arange(n), 2)])
    f_cols = np.concatenate([signature[labels, 0], signature[labels, 1], rng.integers(0, N_FEATURES, 2 * n)])
    f_vals = rng.gamma(2.0, 0.5, size=f_cols.size).astype(np.float32).round(3) + np.float32(0.001)
    features = sp.csr_matrix((f_vals, (f_rows, f_cols)), shape=(n, N_FEATURES), dtype=np.float32)
    features.sum_duplicates()
    return label_matrix, features


def data_files(n: int, cache: Path) -> tuple[Path, Path]:
    """The training and test files of size ``n`` (written once, then read from the cache)."""
    from mlml.data.xc import write_xc

    train, test = cache / f"scale{n}_v2_train.txt", cache / f"scale{n}_v2_test.txt"
    for path, rows, seed in ((train, n, SEED + 2 * n), (test, n // 10, SEED + 2 * n + 1)):
        if not path.is_file():
            start = time.perf_counter()
            labels, features = synthetic(rows, seed)
            write_xc(path, labels, features)
            print(f"  wrote {path} ({rows:,} samples) in {time.perf_counter() - start:.1f} s", flush=True)
    return train, test


def weight_pass(train: Path) -> dict[str, float]:
    """Fit pairwise-noisy-or on the observed labels (r = 0.5) and transform every row in 8,192-row batches."""
    from mlml.data.xc import read_xc_file
    from mlml.simulate import hide_positives
    from mlml.weights import ESTIMATORS

    labels = read_xc_file(train).labels
    observed, _ = hide_positives(labels, 0.5, random_state=0)
    start = time.perf_counter()
    estimator = ESTIMATORS.create("pairwise-noisy-or").fit(observed)
    out = {"fit_s": time.perf_counter() - start}
    for dtype in (np.float32, np.float64):
        start = time.perf_counter()
        for first in range(0, observed.shape[0], BATCH_ROWS):
            estimator.transform(observed[first : first + BATCH_ROWS], dtype=dtype)
        out[f"transform_{np.dtype(dtype).name}_s"] = time.perf_counter() - start
    return out


def timed_command(command: list[str], cwd: Path, threads: int | None = None) -> tuple[float, float, str]:
    """``(wall seconds, peak RSS in GB, output)`` of a subprocess (``/usr/bin/time -v`` where it exists);
    ``threads`` sets ``OMP_NUM_THREADS`` (torch's intra-op threads) for it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    time_tool = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    start = time.perf_counter()
    if time_tool:
        done = subprocess.run([time_tool, "-v", *command], cwd=cwd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        peak = int(match.group(1)) / 2**20 if match else float("nan")
    else:  # resource: the largest child's peak RSS (kilobytes on Linux)
        import resource

        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return wall, peak, done.stdout + done.stderr


def train(train_file: Path, method: str, out: Path, threads: int | None) -> tuple[float, float]:
    command = [sys.executable, "-m", "mlml", "train", f"xc:{train_file}", "--method", method, "--ratio", "0.5",
               "--head", "linear", "--epochs", "1", "--out", str(out)]
    wall, peak, _ = timed_command(command, Path.cwd(), threads)
    return wall, peak


def evaluation(model_dir: Path, train_file: Path, test_file: Path) -> dict[str, float]:
    """Top-5 prediction and the ranking metrics of the test file, propensities from the training labels."""
    from mlml.data.xc import read_xc_file
    from mlml.evaluation.ranking import ranking_metrics_topk
    from mlml.propensity import label_propensity
    from mlml.training import load_model

    model = load_model(model_dir)
    test = read_xc_file(test_file)
    propensity = label_propensity(read_xc_file(train_file).labels)
    start = time.perf_counter()
    top = model.predict_topk(test.features, 5)
    predict_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = ranking_metrics_topk(top, test.labels, propensity=propensity)
    metrics_s = time.perf_counter() - start
    return {"n_test": test.labels.shape[0], "predict_s": predict_s, "metrics_s": metrics_s, **metrics}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated training sizes (default 100000)")
    parser.add_argument("--full", action="store_true", help="also 1,000,000 samples")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mlml-bench-scale")
    parser.add_argument("--skip-train", action="store_true", help="weights only")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS of the mlml train runs (default 1: on a shared machine, two spinning "
                             "torch threads per process cost more than they give; 0: leave it unset)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.full else [])
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; mlml train with "
          f"OMP_NUM_THREADS={args.threads or 'unset'}", flush=True)
    rows = []
    for n in sizes:
        print(f"== {n:,} training samples", flush=True)
        train_file, test_file = data_files(n, args.cache)
        weights = weight_pass(train_file)
        print(f"  pairwise-noisy-or: fit {weights['fit_s']:.2f} s, transform of all rows float32 "
              f"{weights['transform_float32_s']:.2f} s, float64 {weights['transform_float64_s']:.2f} s", flush=True)
        row = {"n": n, **weights}
        if not args.skip_train:
            with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
                for method in ("bce", "cb-wce-noisy-or"):
                    wall, peak = train(train_file, method, Path(tmp) / method, args.threads or None)
                    row[f"{method}_s"], row[f"{method}_rss_gb"] = wall, peak
                    print(f"  mlml train --method {method}: {wall:.1f} s, peak RSS {peak:.2f} GB", flush=True)
                row.update(evaluation(Path(tmp) / "cb-wce-noisy-or", train_file, test_file))
            print(f"  train wall ratio cb-wce-noisy-or / bce: {row['cb-wce-noisy-or_s'] / row['bce_s']:.2f}")
            print(f"  evaluation of {row['n_test']:,} test samples: top-5 prediction {row['predict_s']:.2f} s, "
                  f"metrics {row['metrics_s']:.2f} s; P@1 {row['p_at_1']:.3f} P@5 {row['p_at_5']:.3f} "
                  f"PSP@1 {row['psp_at_1']:.3f} PSP@5 {row['psp_at_5']:.3f}", flush=True)
        rows.append(row)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    _table(rows, args.skip_train)
    return 0


def _table(rows: list[dict[str, float]], skip_train: bool) -> None:
    print("\n| samples | weight pass f32 (s) | f64 (s) |" + ("" if skip_train else
          " train bce (s) | train cb-wce-noisy-or (s) | ratio | peak RSS (GB) | eval: predict + metrics (s) |"))
    print("|---:|---:|---:|" + ("" if skip_train else "---:|---:|---:|---:|---:|"))
    for row in rows:
        line = f"| {row['n']:,} | {row['transform_float32_s']:.2f} | {row['transform_float64_s']:.2f} |"
        if not skip_train:
            peak = max(row["bce_rss_gb"], row["cb-wce-noisy-or_rss_gb"])
            line += (f" {row['bce_s']:.1f} | {row['cb-wce-noisy-or_s']:.1f} | "
                     f"{row['cb-wce-noisy-or_s'] / row['bce_s']:.2f} | {peak:.2f} | "
                     f"{row['predict_s']:.2f} + {row['metrics_s']:.2f} |")
        print(line)


if __name__ == "__main__":
    raise SystemExit(main())
