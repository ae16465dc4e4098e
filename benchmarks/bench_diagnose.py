"""How close ``mlml diagnose``'s estimate of the missing share comes to the truth on simulated hiding.

For each data set, scheme (``per-sample``, the paper's, and ``uniform``), missing ratio r and seed: positives of
the complete labels are hidden with :func:`mlml.simulate.hide_positives`; the truth is the hidden share of the
positives (overall, and per label: hidden / complete positives of that label). :func:`mlml.diagnose.diagnose`
sees the observed labels only (and the features with ``--evidence features``). Per cell (data set, scheme, r) it
prints the mean over seeds of the truth, the estimate, the interval, |error|, whether the interval covers the
truth (share of seeds), and Spearman's ρ of the per-label estimates against the per-label truth (labels with an
estimate and at least ``min_positives`` observed positives); the naive baseline (Σ 1 − ω̄ of pairwise-noisy-or
over the observed zeros) beside it. The summary: cells whose mean |error| ≤ 0.05, coverage over every
(cell, seed), and the time per diagnosis.

Then the speed target: the labels-only diagnosis of the COCO 2017 labels (33,052 x 80, the seed paper's folds
file) with positives hidden at r = 0.5 (both schemes), its time beside the naive baseline's measured in the same
run (``--no-coco`` skips it).

Run: ``python benchmarks/bench_diagnose.py [--sets yeast,scene,emotions,medical,enron,openclipart]
[--ratios 0.25,0.5,0.75] [--schemes per-sample,uniform] [--seeds 0,1,2] [--estimator bbe-tightest|bbe-quantile]
[--evidence auto|features|labels|both] [--bootstrap 100] [--per-seed]`` (``--per-seed``: one line per run too).
openclipart needs the Debian packages ``openclipart-png``/``openclipart-svg`` and its efficientnet_lite0 features
(extracted once into the feature cache, ``$MLML_CACHE_DIR`` or ``~/.cache/mlml``); it is skipped with a message
where ``/usr/share/openclipart`` is absent. Its own labels are already incomplete, so there the positives are
hidden on top of the observed ones and the truth is the share hidden **of the observed positives** (the data set's
own missing positives, unknown, come on top: a correct estimate of the whole missing share lies above that truth);
its row at r = 0 is the estimate of the data set's own missing share. Data: the MULAN sets under
``$MLML_SHARED_DATA`` (default ``../shared/data``); yeast is the built-in one.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np
from _common import present, shared_data
from scipy.stats import spearmanr

from mlml.data import load
from mlml.diagnose import diagnose, naive_missing_share
from mlml.simulate import hide_positives


def _source(name: str, data: Path) -> str | None:
    if name == "yeast":
        return "yeast"
    if name == "openclipart":
        root = Path("/usr/share/openclipart")
        return "openclipart" if present(root, " openclipart") else None
    folder = data / "mulan" / name
    return f"mulan:{folder}" if present(folder, f" {name}") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="yeast,scene,emotions,medical,enron,openclipart")
    parser.add_argument("--ratios", default="0.25,0.5,0.75")
    parser.add_argument("--schemes", default="per-sample,uniform")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--evidence", default="auto", choices=["auto", "features", "labels", "both"])
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--estimator", default="bbe-tightest", choices=["bbe-tightest", "bbe-quantile"])
    parser.add_argument("--quantile", type=float, default=None, help="default: the estimator's")
    parser.add_argument("--delta", type=float, default=None, help="BBE's delta (default: the estimator's)")
    parser.add_argument("--per-seed", action="store_true", help="also print every (cell, seed) run")
    parser.add_argument("--data", type=Path, default=shared_data(), help="folder holding mulan/")
    parser.add_argument("--no-coco", action="store_true", help="skip the COCO speed check")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    ratios = [float(r) for r in args.ratios.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    cells, covered, seconds, rhos = [], [], [], []
    print(f"estimator={args.estimator}, evidence={args.evidence}, quantile={args.quantile}, delta={args.delta}, "
          f"bootstrap={args.bootstrap}, seeds={seeds}")
    print(f"{'data':<9} {'scheme':<10} {'r':>4} {'truth':>6} {'est':>6} {'interval':>13} {'|err|':>6} "
          f"{'cover':>5} {'rho':>5} {'naive':>6} {'s':>5}")
    for name in args.sets.split(","):
        source = _source(name, args.data)
        if source is None:
            continue
        dataset = load(source)
        features = dataset.features
        if features is None and dataset.image_paths is not None and args.evidence != "labels":
            from mlml.models.features import dataset_features

            features = dataset_features(dataset, backbone="efficientnet_lite0")  # the cache, else a backbone pass
        if features is None and args.evidence != "labels":
            print(f" {name}: no precomputed features; diagnosed from the labels")
        complete = np.asarray(dataset.labels.toarray() if hasattr(dataset.labels, "toarray") else dataset.labels)
        complete = np.where(complete == 1, 1, 0).astype(np.int8)  # openclipart's own labels: observed ones only
        for scheme in args.schemes.split(","):
            for ratio in ([0.0] if name == "openclipart" else []) + ratios:
                if ratio == 0 and scheme != args.schemes.split(",")[0]:
                    continue
                rows = []
                for seed in seeds:
                    observed, hidden = hide_positives(complete, ratio, scheme=scheme, random_state=seed)
                    hidden = np.asarray(hidden, dtype=bool)
                    truth = hidden.sum() / max((complete == 1).sum(), 1)
                    started = time.perf_counter()
                    d = diagnose(observed, features=features, evidence=args.evidence, estimator=args.estimator,
                                 quantile=args.quantile, delta=args.delta, n_bootstrap=args.bootstrap,
                                 random_state=seed)
                    seconds.append(time.perf_counter() - started)
                    per_truth = hidden.sum(axis=0) / np.maximum((complete == 1).sum(axis=0), 1)
                    pairs = [(per_truth[j], label.missing_share) for j, label in enumerate(d.per_label)
                             if label.used and math.isfinite(label.missing_share)]
                    rho = (spearmanr(*zip(*pairs))[0] if len(pairs) > 2 else float("nan"))
                    cover = bool(d.low - 1e-12 <= truth <= d.high + 1e-12) if math.isfinite(d.missing_share) else False
                    rows.append((truth, d.missing_share, d.low, d.high, cover, rho, naive_missing_share(observed)))
                    if ratio == 0:  # openclipart as given: its own missing share is unknown; no cell
                        continue
                    covered.append(cover)
                    if args.per_seed:
                        print(f"  seed {seed}: truth {truth:.3f} estimate {d.missing_share:.3f} [{d.low:.3f}, "
                              f"{d.high:.3f}] {'covered' if cover else 'missed'}  rho {rho:5.2f}")
                t, e, lo, hi, cov, rho, naive = (np.nanmean([row[i] for row in rows]) if any(
                    math.isfinite(float(row[i])) for row in rows) else float("nan") for i in range(7))
                err = np.mean([abs(row[1] - row[0]) if math.isfinite(row[1]) else np.inf for row in rows])
                if ratio > 0:
                    cells.append(err)
                    rhos.append(rho)
                print(f"{name:<9} {scheme:<10} {ratio:>4} {t:6.3f} {e:6.3f} [{lo:5.3f}, {hi:5.3f}] {err:6.3f} "
                      f"{cov:5.2f} {rho:5.2f} {naive:6.3f} {np.mean(seconds[-len(seeds):]):5.2f}", flush=True)
    if cells:
        within = sum(err <= 0.05 for err in cells)
        print(f"summary: {within} of {len(cells)} cells within 0.05 of the truth (target: all); interval covers the "
              f"truth in {np.mean(covered):.0%} of {len(covered)} (cell, seed) runs (target >= 90%); mean |error| "
              f"{np.mean([c for c in cells if math.isfinite(c)]):.3f}; {np.median(seconds):.2f} s per diagnosis "
              f"(median, {np.max(seconds):.2f} s the longest)")
        print(f"summary: per-label Spearman rho, mean over cells {np.nanmean(rhos):.2f} (range "
              f"{np.nanmin(rhos):.2f} to {np.nanmax(rhos):.2f}; cells without n/a)")
    if not args.no_coco:
        _coco(args.data)
    return 0


def _coco(data: Path) -> None:
    from mlml.labels import read_labels_csv

    path = data / "coco2017-seed-folds" / "labels.csv.gz"
    if not present(path, "COCO speed check"):
        return
    complete = read_labels_csv(path).values
    for scheme in ("per-sample", "uniform"):
        observed, hidden = hide_positives(complete, 0.5, scheme=scheme, random_state=0)
        started = time.perf_counter()
        d = diagnose(observed, evidence="labels", n_bootstrap=200, random_state=0)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        naive = naive_missing_share(observed)
        naive_seconds = time.perf_counter() - started
        print(f"COCO {complete.shape[0]:,} x {complete.shape[1]} labels only, {scheme} r=0.5: truth "
              f"{hidden.sum() / complete.sum():.3f}, estimate {d.missing_share:.3f} [{d.low:.3f}, {d.high:.3f}] in "
              f"{seconds:.1f} s (200 bootstrap replicates); naive {naive:.3f} in {naive_seconds:.1f} s "
              f"(ratio {seconds / naive_seconds:.0f}x)")


if __name__ == "__main__":
    raise SystemExit(main())
