"""Hidden-positive detection by ``mlml.suggest``: ROC-AUC, AP and precision@k against known hidden positives.

* COCO seed folds, split 1 (by default), r = 0.5: the seed's own hidden positives, labels only.
  Target: ROC-AUC >= 0.93 from labels alone.
* MULAN yeast, scene, emotions, medical, enron: positives hidden with ``hide_positives`` (per-sample scheme,
  r = 0.5, seeded), labels only vs with features (``method="knn"``).

Scores are computed for every observed zero; the baseline row ("class-frequency") ranks each zero by its
class's observed rate. Run: ``python benchmarks/bench_suggest.py [--split 1] [--ratio 0.5] [--seed 0]
[--priors ...]``; ``--priors`` picks the labels-only priors scored on COCO (default: the four co-occurrence ones;
add ``denoising-mlp`` for the figures of benchmarks/README.md: it takes about a minute on a quiet 2-core machine and
several on a loaded one). Data: under ``$MLML_SHARED_DATA`` (default ``../shared/data``); an absent data
set is skipped with a message.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import present, shared_data
from sklearn.metrics import average_precision_score, roc_auc_score

from mlml.simulate import hide_positives
from mlml.suggest import missing_scores

MULAN = ("yeast", "scene", "emotions", "medical", "enron")
LABEL_PRIORS = ("pairwise-noisy-or", "pairwise-mean", "pairwise-max", "backoff")  # the default of --priors


def detection(hidden: np.ndarray, observed: np.ndarray, score: np.ndarray) -> dict[str, float]:
    zero = observed == 0
    truth, s = hidden[zero].astype(bool), score[zero]
    order = np.argsort(-s, kind="stable")
    out = {"auc": roc_auc_score(truth, s), "ap": average_precision_score(truth, s)}
    for k in (100, 1000):
        out[f"p@{k}"] = truth[order[:k]].mean()
    out["p@R"] = truth[order[: truth.sum()]].mean()  # R = number of hidden positives
    out["base_rate"] = truth.mean()
    return out


def line(name: str, m: dict[str, float], seconds: float) -> str:
    return (f"  {name:<28} AUC {m['auc']:.4f}  AP {m['ap']:.4f}  P@100 {m['p@100']:.3f}  P@1000 "
            f"{m['p@1000']:.3f}  P@R {m['p@R']:.3f}  ({seconds:.2f}s; base rate {m['base_rate']:.3f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=int, default=1)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=shared_data(), help="folder holding coco2017-seed-folds/, mulan/")
    parser.add_argument("--priors", default=",".join(LABEL_PRIORS),
                        help="labels-only priors scored on COCO (README: also denoising-mlp)")
    args = parser.parse_args(argv)
    priors = [p for p in args.priors.split(",") if p]
    if present(args.data / "coco2017-seed-folds", "COCO seed folds"):
        coco(args, priors)
    mulan(args)
    return 0


def coco(args: argparse.Namespace, priors: list[str]) -> None:
    from mlml.data.seedfolds import load_seed_split

    split = load_seed_split(args.data / "coco2017-seed-folds", args.split, args.ratio)
    observed, hidden = split.observed, split.hidden
    print(f"COCO seed folds, split {args.split}, r = {args.ratio}: {observed.shape[0]} training rows, "
          f"{int(hidden.sum())} hidden positives (labels only)")
    freq = np.broadcast_to(observed.mean(axis=0), observed.shape)
    print(line("class-frequency", detection(hidden, observed, freq), 0.0))
    best = 0.0
    for prior in priors:
        t = time.perf_counter()
        score = missing_scores(observed, method="labels", prior=prior)["score"]
        m = detection(hidden, observed, score)
        best = max(best, m["auc"])
        print(line(f"labels ({prior})", m, time.perf_counter() - t))
    print(f"  best labels-only AUC {best:.4f}; target >= 0.93: {'met' if best >= 0.93 else 'NOT met'}")


def mulan(args: argparse.Namespace) -> None:
    print(f"\nMULAN, per-sample hiding r = {args.ratio}, seed {args.seed}: labels only vs features (knn)")
    from mlml.data import load

    for name in MULAN:
        if not present(args.data / "mulan" / name, f" {name}"):
            continue
        ds = load(f"mulan:{args.data / 'mulan' / name}")
        labels = ds.labels.toarray() if sp.issparse(ds.labels) else np.asarray(ds.labels)
        obs, hid = hide_positives(labels, args.ratio, random_state=args.seed)
        obs, hid = np.asarray(obs), np.asarray(hid).astype(bool)
        print(f" {name} ({obs.shape[0]} x {obs.shape[1]} labels, {int(hid.sum())} hidden)")
        print(line("class-frequency", detection(hid, obs, np.broadcast_to(obs.mean(0), obs.shape)), 0.0))
        for method in ("labels", "knn"):
            t = time.perf_counter()
            score = missing_scores(obs, features=ds.features, method=method)["score"]
            print(line(method, detection(hid, obs, score), time.perf_counter() - t))


if __name__ == "__main__":
    sys.exit(main())
