"""Issue 21, fourth session: which candidates ``auto`` averages when each candidate is the bag of its seeds.

Reads the folds that ``bench_auto.py --cache C --dump D`` trained (the pool of single models under the run's seed:
the first of auto's training seeds), trains the pool once more under auto's second training seed
(:func:`mlml.auto.select.training_seeds`; saved in ``--bags``, so a rerun resumes), and, for every probability average
of 2-4 of the pool's two-seed bags decided by ``select`` (fitted on the validation rows' observed labels, the
training rows' diagnosed share), prints the number of cells where it matches or beats the best single baseline (the
pool's single models, each at the policy chosen on its validation rows, picked after the fact on the test folds) and
its mean regret per fold, on mAP and micro-F1. The averages are ordered by the sum of the two regrets, the rule that
chose auto's default set (the cheaper of two within 0.001). ``--subsets "a,b;c,d,e"`` measures only those (the
held-out run of a choice). ``--frontier F`` (``bench_auto_frontier.py``'s folder, fifth session) adds the field's
2022-2025 methods to the pool, as baselines and as members (their second seed trained into ``--bags``); ``--sizes``
the averages' sizes. ``--one-seed`` (sixth session): the members are the cache's single models instead, nothing
trained (six single models cost what three two-seed bags cost). Run: ``python benchmarks/bench_auto_bags.py --cache
dev.jsonl --dump D --bags B`` (without bench_auto.py's cache and dump it says so and skips).
"""

from __future__ import annotations

import argparse
import itertools
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import FRONTIER_METHODS, add_bench_auto_inputs, bench_auto_rows
from bench_auto import dump_name
from bench_auto_frontier import frontier_fold
from bench_auto_rules import fold_parts, scored

from mlml._io import atomic_open
from mlml.auto import resolve_method
from mlml.auto.select import train_candidates, training_seeds
from mlml.evaluation import UndefinedMetricWarning
from mlml.training import TrainConfig


def second_seed(row: dict, fold, selection, names: list[str], path: Path, epochs: int, seed: int = 0) -> dict:
    """The pool's probabilities under auto's second training seed (trained once, then read from ``path``)."""
    if not path.exists():
        method = resolve_method("auto").with_params({"candidates": names, "seeds": 1})
        config = TrainConfig(seed=training_seeds(seed, 2)[1], num_threads=1, epochs=epochs, log=False,
                             progress=False)
        results = train_candidates(fold, config, method, selection)
        with atomic_open(path, "wb") as handle:  # a killed run leaves no half-written file to resume from
            np.savez_compressed(handle, **{f"val/{n}": r.val_proba.astype(np.float32) for n, r in results.items()},
                                **{f"test/{n}": r.predict_proba(fold.test_inputs).astype(np.float32)
                                   for n, r in results.items()})
        print(f"{Path(row['dataset']).name} r={row['ratio']} fold {row['fold']}: second seed trained", flush=True)
    return dict(np.load(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_auto_inputs(parser, trains=True)
    parser.add_argument("--bags", type=Path, default=Path("/tmp/bench_auto_bags"),
                        help="where the second seed's probabilities are kept")
    parser.add_argument("--subsets", help="only these averages, e.g. 'asl,knn-pu-em-balanced;asl,cb-wce,bce'")
    parser.add_argument("--sizes", default="2,3,4", help="the averages' sizes (default 2,3,4)")
    parser.add_argument("--one-seed", action="store_true",
                        help="members are the single models of the cache's seed, not two-seed bags (nothing trained)")
    parser.add_argument("--frontier", type=Path,
                        help="bench_auto_frontier.py's --frontier folder: the field's 2022-2025 methods join the pool "
                             "(as baselines and as members; their second seed trained into --bags)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UndefinedMetricWarning)
    rows = bench_auto_rows(args.cache, args.dump, "bench_auto_bags")
    if rows is None:
        return 0
    folds = []
    for row in rows:
        name = dump_name(Path(row["dataset"]).name, row.get("scheme", "per-sample"), row["ratio"], row["fold"])
        names = list(row["candidates"])
        fold, selection = fold_parts(row, seed=args.seed)
        first = dict(np.load(args.dump / name))
        second = {} if args.one_seed else second_seed(row, fold, selection, names, args.bags / name, args.epochs,
                                                      args.seed)
        extra = [n for n in FRONTIER_METHODS if n not in names] if args.frontier is not None else []
        if extra:  # the frontier joins (a cache of the pool without it): as baselines, and its bags as members
            row["candidates"].update({n: v for n, v in frontier_fold(row, args.frontier / name, args.epochs,
                                                                     args.seed).items() if n in extra})
            first.update(np.load(args.frontier / name))
            if not args.one_seed:
                second.update(second_seed(row, fold, selection, extra, args.bags / f"frontier-{name}",
                                          args.epochs, args.seed))
            names += extra
        seeds = [first] if args.one_seed else [first, second]
        bag = {part: {n: np.mean([s[f"{part}/{n}"].astype(np.float64) for s in seeds], axis=0) for n in names}
               for part in ("val", "test")}
        folds.append((row, fold, selection, bag))
    names = list(rows[0]["candidates"])
    sizes = [int(k) for k in args.sizes.split(",")]
    subsets = ([tuple(s.split(",")) for s in args.subsets.split(";")] if args.subsets else
               [s for k in sizes for s in itertools.combinations(names, k)])
    lines = []
    for subset in subsets:
        cells = defaultdict(lambda: defaultdict(list))
        for row, fold, selection, bag in folds:
            val = np.mean([bag["val"][n] for n in subset], axis=0)
            test = np.mean([bag["test"][n] for n in subset], axis=0)
            got = scored(fold.test_labels, test, val, selection, "select", row["missing_share"])
            cell = cells[(Path(row["dataset"]).name, row["ratio"])]
            for metric in ("map", "micro_f1"):
                cell[metric].append(got[metric])
                cell["fold best " + metric].append(max(c[metric] for c in row["candidates"].values()))
                for n, c in row["candidates"].items():
                    cell[f"{n} {metric}"].append(c[metric])
        wins, regret = {"map": 0, "micro_f1": 0}, {"map": [], "micro_f1": []}
        for cell in cells.values():
            for metric in wins:
                wins[metric] += np.mean(cell[metric]) >= max(np.mean(cell[f"{n} {metric}"]) for n in names)
                regret[metric] += list(np.subtract(cell["fold best " + metric], cell[metric]))
        lines.append((np.mean(regret["map"]) + np.mean(regret["micro_f1"]), len(subset), ",".join(subset), wins,
                      regret))
    kind = "single models" if args.one_seed else "two-seed bags"
    print(f"\n{len(folds)} folds in {len(cells)} cells; every average of the pool's {kind}, decided by select, "
          "against the best single baseline:")
    print("| average of | ≥ best mAP | ≥ best micro-F1 | regret mAP | regret micro-F1 | sum |")
    print("|---|---:|---:|---:|---:|---:|")
    for total, _, label, wins, regret in sorted(lines, key=lambda line: line[:2]):
        print(f"| {label} | {wins['map']} of {len(cells)} | {wins['micro_f1']} of {len(cells)} | "
              f"{np.mean(regret['map']):.4f} | {np.mean(regret['micro_f1']):.4f} | {total:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
