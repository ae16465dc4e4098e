"""Weight estimators on the seed's COCO folds: figure 1 (Eq. 3 speed), figure 2 (finding hidden positives).

Figure 1: ``pattern`` fit + transform on the observed training labels of split 1 at r = 0.5, against a literal
per-row numpy implementation of Eq. 3 measured in the same run; the results must agree to 1e-12.
Figure 2: ROC-AUC and AP of ``1 − ω̄`` as a detector of the seed's hidden positives among the zero entries of
the observed training labels, for every labels-only estimator and the class-frequency prior, at r = 0.5 (the
issue's target ratio; ``--ratios 0.25 0.5 0.75`` for the table of benchmarks/README.md: the two denoising estimators
make each ratio cost about 20 s on a quiet 2-core machine, and far more on a loaded one); with ``--ensemble N`` also
``denoising-mlp`` with ``n_models=N`` (an average of N seeded networks).

Run from the repository root: ``python benchmarks/bench_weights.py [--data DIR] [--split 1] [--repeats 5]
[--ratios 0.5] [--figure 1|2|all] [--ensemble 3]``. Data: ``--data``, else ``$MLML_SEED_FOLDS``, else
``coco2017-seed-folds`` under ``$MLML_SHARED_DATA`` (default ``../shared/data``); skipped with a message where
absent.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _common import present, shared_data

from mlml.data.seedfolds import load_seed_split
from mlml.weights import ESTIMATORS
from mlml.weights.diagnostics import hidden_positive_detection

LABELS_ONLY = [
    "pattern",
    "pairwise-max",
    "pairwise-mean",
    "pairwise-noisy-or",
    "backoff",
    "denoising-logistic",
    "denoising-mlp",
]


def literal_pattern(observed: np.ndarray) -> np.ndarray:
    """Eq. 3 one sample at a time: ω̄_ic = 1 − #{j : P_i ∪ {c} ⊆ P_j} / #{j : P_i ⊆ P_j}."""
    positive = observed == 1
    out = np.empty(observed.shape)
    for i in range(len(positive)):
        superset = positive[:, positive[i]].all(axis=1)
        out[i] = 1.0 - positive[superset].sum(axis=0) / superset.sum()
    return out


def figure_1(data: Path, split: int, repeats: int) -> None:
    observed = load_seed_split(data, split, 0.5).observed
    start = time.perf_counter()
    reference = literal_pattern(observed)
    literal_s = time.perf_counter() - start
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, neg = ESTIMATORS.create("pattern").fit_transform(observed)
        timings.append(time.perf_counter() - start)
    ours_s = min(timings)
    diff = float(np.abs(neg[observed == 0] - reference[observed == 0]).max())
    print(f"## Figure 1: Eq. 3 on split {split}, r = 0.5 ({observed.shape[0]:,} x {observed.shape[1]})\n")
    print("| implementation | seconds (fit + transform) |")
    print("|---|---|")
    print(f"| literal per-row numpy | {literal_s:.3f} |")
    print(f"| `pattern` (best of {repeats}; median {np.median(timings):.3f}) | {ours_s:.4f} |")
    print(
        f"\nspeed-up: {literal_s / ours_s:.1f}x; max |difference| on the zero entries: {diff:.1e} "
        f"({'OK' if diff <= 1e-12 else 'MISMATCH'} at 1e-12); target <= 0.3 s and >= 15x: "
        f"{'met' if ours_s <= 0.3 and literal_s / ours_s >= 15 else 'NOT met'}\n"
    )


def figure_2(data: Path, split: int, ratios: list[float], ensemble: int = 0) -> None:
    rows: dict[str, dict[float, tuple[float, float, float]]] = {}
    estimators = [(name, name, {}) for name in LABELS_ONLY]
    if ensemble:
        estimators.append((f"denoising-mlp (n_models={ensemble})", "denoising-mlp", {"n_models": ensemble}))
    for ratio in ratios:
        seed = load_seed_split(data, split, ratio)
        observed, hidden = seed.observed, seed.hidden
        prior = np.tile(1.0 - (observed == 1).mean(axis=0), (observed.shape[0], 1))
        result = hidden_positive_detection(prior, observed, hidden)
        rows.setdefault("class-frequency prior (reference)", {})[ratio] = (result["auc"], result["ap"], 0.0)
        for label, name, params in estimators:
            start = time.perf_counter()
            _, neg = ESTIMATORS.create(name, **params).fit_transform(observed)
            seconds = time.perf_counter() - start
            result = hidden_positive_detection(neg, observed, hidden)
            rows.setdefault(label, {})[ratio] = (result["auc"], result["ap"], seconds)
    print(f"## Figure 2: finding the seed's hidden positives with 1 − ω̄ (split {split}, training rows)\n")
    header = " | ".join(f"AUC r={r} | AP r={r}" for r in ratios)
    print(f"| estimator | {header} | seconds r={ratios[-1]} |")
    print("|---|" + "---|" * (2 * len(ratios) + 1))
    for name, by_ratio in rows.items():
        cells = " | ".join(f"{by_ratio[r][0]:.4f} | {by_ratio[r][1]:.4f}" for r in ratios)
        print(f"| {name} | {cells} | {by_ratio[ratios[-1]][2]:.2f} |")
    best = max(
        (name for name in rows if name in LABELS_ONLY), key=lambda n: rows[n][0.5][0] if 0.5 in ratios else 0
    )
    if 0.5 in ratios:
        print(
            f"\nbest labels-only estimator at r = 0.5: {best} (AUC {rows[best][0.5][0]:.4f}; target >= 0.93)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get("MLML_SEED_FOLDS", shared_data() / "coco2017-seed-folds")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--split", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5], help="figure 2 (README: 0.25 0.5 0.75)")
    parser.add_argument("--figure", choices=["1", "2", "all"], default="all")
    parser.add_argument("--ensemble", type=int, default=0, help="figure 2: add denoising-mlp with n_models=N")
    args = parser.parse_args(argv)
    if not present(args.data, "weight estimators on the COCO seed folds"):
        return 0
    if args.figure in ("1", "all"):
        figure_1(args.data, args.split, args.repeats)
    if args.figure in ("2", "all"):
        figure_2(args.data, args.split, args.ratios, args.ensemble)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
