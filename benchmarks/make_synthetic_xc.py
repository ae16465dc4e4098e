"""Write a synthetic data set in the Extreme Classification Repository's text format, for the scale checks that
name "the 10^5-row XC file" (issue 20's time to a model against LibMultiLabel) where no such file is at hand.

It is not a stand-in for a real XC data set's statistics, only for its shape: ``--rows`` samples (default 100,000),
``--features`` sparse bag-of-words features (5,000), ``--labels`` labels (1,000) whose popularity falls off as a
power law (Zipf, exponent 1), 1-5 labels a sample. Each label owns 20 "words"; a sample's features are 60 % of its
labels' words plus 20 words at random, tf-idf-like positive values, each row L2-normalised: learnable by a linear
model, with noise. Deterministic (``--seed``). Written with :func:`mlml.data.xc.write_xc` and read back with
``xc:FILE`` like any XC file.

Run: ``python benchmarks/make_synthetic_xc.py OUT.txt [--rows 100000]``, then e.g. ``python
benchmarks/bench_peer.py --datasets xc:OUT.txt --peer-path DIR``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

WORDS_PER_LABEL = 20
NOISE_WORDS = 20
KEPT_WORDS = 0.6


def synthetic_xc(rows: int, n_features: int, n_labels: int, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(labels, features)``: int8 and float32 CSR matrices (module docstring)."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_labels + 1)
    popularity /= popularity.sum()
    words = rng.integers(0, n_features, size=(n_labels, WORDS_PER_LABEL))
    counts = rng.integers(1, 6, size=rows)
    label_ptr = np.concatenate([[0], np.cumsum(counts)])
    drawn = rng.choice(n_labels, size=int(label_ptr[-1]), p=popularity)
    label_rows, label_cols, feature_rows, feature_cols = [], [], [], []
    for i in range(rows):
        mine = np.unique(drawn[label_ptr[i]:label_ptr[i + 1]])
        own = words[mine].ravel()
        own = own[rng.random(own.size) < KEPT_WORDS]
        cols = np.unique(np.concatenate([own, rng.integers(0, n_features, NOISE_WORDS)]))
        label_rows.append(np.full(mine.size, i))
        label_cols.append(mine)
        feature_rows.append(np.full(cols.size, i))
        feature_cols.append(cols)
    label_rows, label_cols = np.concatenate(label_rows), np.concatenate(label_cols)
    labels = sp.csr_matrix((np.ones(label_rows.size, dtype=np.int8), (label_rows, label_cols)),
                           shape=(rows, n_labels))
    feature_rows, feature_cols = np.concatenate(feature_rows), np.concatenate(feature_cols)
    values = (1.0 + rng.exponential(1.0, feature_rows.size)).astype(np.float32)
    features = sp.csr_matrix((values, (feature_rows, feature_cols)), shape=(rows, n_features), dtype=np.float32)
    norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
    features = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ features
    return labels, sp.csr_matrix(features, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=5_000)
    parser.add_argument("--labels", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from mlml.data.xc import write_xc

    started = time.perf_counter()
    labels, features = synthetic_xc(args.rows, args.features, args.labels, args.seed)
    write_xc(args.out, labels, features)
    used = int((np.asarray(labels.sum(axis=0)).ravel() > 0).sum())
    print(f"{args.out}: {args.rows:,} rows x {args.features:,} features ({features.nnz / args.rows:.1f} a row) x "
          f"{args.labels:,} labels ({used:,} used, {labels.nnz / args.rows:.2f} a row); "
          f"{args.out.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
