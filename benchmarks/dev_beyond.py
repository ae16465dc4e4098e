"""The development grids of the beyond-the-paper schemes (issue 7): variants that were tried, not registered.

Registers, for this process and its grid workers only, the variants compared on the development grids:

* ``em-lam0``, ``em-lam01``, ``em-lam025``, ``em-lam1``: ``knn-pu-em`` with ``model_weight`` λ = 0, 0.1, 0.25
  (the registered one) and 1; ``em-b05``: λ = 0.5 with half-weight pseudo-positives; ``em-k10``, ``em-k40``:
  λ = 0.5 with 10 / 40 neighbours;
* ``em-wan``, ``em-bal`` ("weak zeros", loss ``weak-soft-bce``): ``knn-pu-em``'s soft pseudo-labels with EVERY
  term of an observed zero weighted γ = 1/(C − 1) (WAN's) or k/(C − k) (balanced; the one registered as
  ``knn-pu-em-balanced``).

then runs a grid config with ``--methods`` (resumable, like ``bench_grid.py``) and prints the mAP table and,
for ``--select A,B``, the mAP of picking per trial the candidate with the best validation mAP on OBSERVED
labels (what a user can do without test labels).

Run: ``python benchmarks/dev_beyond.py benchmarks/grids/dev_yeast.yaml --out runs/dev-yeast --methods
bce,em-lam025,...``; ``python benchmarks/dev_beyond.py benchmarks/grids/dev_weak_zeros.yaml --out runs/dev2
--methods bce,wan,asl,epr,knn-pu-em,em-wan,em-bal --select knn-pu-em,em-bal``.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from mlml.losses.methods_beyond import EM_ESTIMATOR_KWARGS as EM  # knn-pu-em's; registers the losses

from mlml.losses.registry import METHODS, Method, register_method

VARIANTS = {  # name: (loss, loss parameters, estimator parameters); the estimator is knn-pu-adaptive
    "em-lam0": ("soft-bce", {}, {**EM, "model_weight": 0.0}),
    "em-lam01": ("soft-bce", {}, {**EM, "model_weight": 0.1}),
    "em-lam025": ("soft-bce", {}, EM),
    "em-lam1": ("soft-bce", {}, {**EM, "model_weight": 1.0}),
    "em-b05": ("soft-bce", {}, {"pseudo_positive": 0.5}),
    "em-k10": ("soft-bce", {}, {"pseudo_positive": 1.0, "base_params": {"n_neighbors": 10}}),
    "em-k40": ("soft-bce", {}, {"pseudo_positive": 1.0, "base_params": {"n_neighbors": 40}}),
    "em-wan": ("weak-soft-bce", {"zero_weight": "wan"}, EM),
    "em-bal": ("weak-soft-bce", {"zero_weight": "balanced"}, EM),  # = knn-pu-em-balanced, chosen
}


def register() -> None:
    for name, (loss, loss_kwargs, estimator_kwargs) in VARIANTS.items():
        if name not in METHODS:
            register_method(Method(name, loss, "knn-pu-adaptive", loss_kwargs=dict(loss_kwargs),
                                   estimator_kwargs=dict(estimator_kwargs)))


register()  # at import: the grid's worker processes import this module as their __main__


def print_tables(records: list[dict], select: list[str]) -> None:
    by = defaultdict(dict)
    for r in records:
        if r["status"] == "done":
            by[(r["dataset"].rstrip("/").split("/")[-1], r["method"], r["ratio"])][r["fold"]] = r
    cells = sorted({(s, x) for s, _, x in by})
    methods = sorted({m for _, m, _ in by})
    print("| method | " + " | ".join(f"{s} r={x:g}" for s, x in cells) + " |")
    print("|---|" + "---|" * len(cells))
    for m in methods:
        row = []
        for s, x in cells:
            maps = [r["metrics"]["map"] for r in by[(s, m, x)].values()]
            row.append(f"{np.mean(maps):.3f} ± {np.std(maps, ddof=1):.3f}" if len(maps) > 1 else "-")
        print(f"| {m} | " + " | ".join(row) + " |")
    if select:
        row = []
        for s, x in cells:
            folds = set.intersection(*(set(by[(s, m, x)]) for m in select))
            picked = [max((by[(s, m, x)][f] for m in select), key=lambda r: r["val_score"]) for f in sorted(folds)]
            row.append(f"{np.mean([r['metrics']['map'] for r in picked]):.3f} "
                       f"({'/'.join(r['method'] for r in picked)})")
        print(f"| best of {'/'.join(select)} by validation mAP (observed labels) | " + " | ".join(row) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--methods", required=True, help="comma-separated: registered methods and the variants")
    parser.add_argument("--select", default="", help="comma-separated candidates for validation selection")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    from mlml.experiments.config import load_config
    from mlml.experiments.runner import run_grid

    config = load_config(args.config, methods=args.methods.split(","))
    records = run_grid(config, args.out, jobs=args.jobs, progress=False)
    print_tables(records, [m for m in args.select.split(",") if m])
    return 0


if __name__ == "__main__":
    sys.exit(main())
