"""Issue 21 against the field's frontier: ``auto`` beside the 2022-2025 single-positive baselines (issue 22).

The brief asks that auto's target be measured against the real frontier. ``bench_auto.py`` compared auto with the
pool of seven single models it chose from until the fourth session (the pool has held the frontier since the fifth,
so its own table covers it for new runs); for such a cache, this script adds the field's 2022-2025 methods
(``_common.FRONTIER_METHODS``: EM and EM + APL, LL-Cp, the GR loss, GPR with our posteriors, SMILE) as further
baselines on the same folds: it reads the folds ``bench_auto.py --cache C --dump D`` trained (the same split,
hidden positives, re-hidden validation rows and training seed), trains each frontier method there exactly as
bench_auto trains the pool (``train_candidates``: early stopping on the re-hidden validation rows, one thread,
saved in ``--frontier``, so that a rerun resumes), picks each one's threshold policy on its validation rows as
bench_auto does for the pool, and prints per cell auto against the best single baseline of the pool, of the
frontier, and of both (each picked after the fact on the test folds), on mAP and micro-F1.

Run: ``python benchmarks/bench_auto_frontier.py --cache dev.jsonl --dump D --frontier F`` (without bench_auto.py's
cache and dump it says so and skips).
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import FRONTIER_METHODS, add_bench_auto_inputs, bench_auto_rows
from bench_auto import decided_f1, dump_name
from bench_auto_rules import fold_parts

from mlml._io import atomic_open
from mlml.auto import resolve_method
from mlml.auto.select import score_entry, train_candidates
from mlml.evaluation import UndefinedMetricWarning, evaluate
from mlml.training import TrainConfig


def frontier_fold(row: dict, path: Path, epochs: int, seed: int) -> dict[str, dict[str, float]]:
    """mAP and micro-F1 (its policy chosen on its validation rows) of every frontier method on ``row``'s fold;
    the probabilities trained once, then read from ``path``."""
    fold, selection = fold_parts(row, seed=seed)
    if not path.exists():
        method = resolve_method("auto").with_params({"candidates": list(FRONTIER_METHODS), "seeds": 1})
        config = TrainConfig(seed=seed, num_threads=1, epochs=epochs, log=False, progress=False)
        results = train_candidates(fold, config, method, selection)
        with atomic_open(path, "wb") as handle:  # a killed run leaves no half-written file to resume from
            np.savez_compressed(handle, **{f"val/{n}": r.val_proba.astype(np.float32) for n, r in results.items()},
                                **{f"test/{n}": r.predict_proba(fold.test_inputs).astype(np.float32)
                                   for n, r in results.items()})
        print(f"{Path(row['dataset']).name} r={row['ratio']} fold {row['fold']}: frontier trained", flush=True)
    saved = np.load(path)
    out = {}
    for name in FRONTIER_METHODS:
        val, test = saved[f"val/{name}"].astype(np.float64), saved[f"test/{name}"].astype(np.float64)
        policy = score_entry(val, selection)["policy"]
        out[name] = {"map": float(evaluate(fold.test_labels, test)["map"]), "policy": policy,
                     "micro_f1": decided_f1(fold.test_labels, test, val, selection, policy, row["missing_share"])}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_auto_inputs(parser, trains=True)
    parser.add_argument("--frontier", type=Path, default=Path("/tmp/bench_auto_frontier"),
                        help="where the frontier methods' probabilities are kept")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UndefinedMetricWarning)
    rows = bench_auto_rows(args.cache, args.dump, "bench_auto_frontier")
    if rows is None:
        return 0
    args.frontier.mkdir(parents=True, exist_ok=True)
    if set(FRONTIER_METHODS) <= set(rows[0]["candidates"]):
        print("bench_auto_frontier: the cache's pool holds the frontier already (auto's pool since the fifth "
              "session): bench_auto.py's own table compares auto with it")
        return 0
    cells: dict[tuple[str, float], list[tuple[dict, dict]]] = defaultdict(list)
    for row in rows:
        name = dump_name(Path(row["dataset"]).name, row.get("scheme", "per-sample"), row["ratio"], row["fold"])
        cells[(Path(row["dataset"]).name, row["ratio"])].append(
            (row, frontier_fold(row, args.frontier / name, args.epochs, args.seed)))
    print(f"\n{len(rows)} folds in {len(cells)} cells; auto against the best single baseline of its pool "
          f"({', '.join(rows[0]['candidates'])}), of the frontier ({', '.join(FRONTIER_METHODS)}) and of both "
          "(each picked on the test folds, its policy chosen on its validation rows):")
    print("| data set | r | metric | best of the pool | best of the frontier | auto | ≥ both |")
    print("|---|---:|---|---|---|---:|---|")
    wins = {"map": [0, 0], "micro_f1": [0, 0]}  # [>= the pool's best, >= the best of both]
    regret: dict[str, list[float]] = {"map": [], "micro_f1": []}
    for (name, ratio), pairs in sorted(cells.items()):
        for metric in ("map", "micro_f1"):
            pool = {n: np.mean([r["candidates"][n][metric] for r, _ in pairs]) for n in pairs[0][0]["candidates"]}
            frontier = {n: np.mean([f[n][metric] for _, f in pairs]) for n in FRONTIER_METHODS}
            auto = float(np.mean([r["choices"]["auto"][metric] for r, _ in pairs]))
            best_pool, best_frontier = max(pool, key=pool.get), max(frontier, key=frontier.get)
            wins[metric][0] += auto >= pool[best_pool]
            wins[metric][1] += auto >= max(pool[best_pool], frontier[best_frontier])
            regret[metric] += [max(*r["candidates"].values(), *f.values(), key=lambda c: c[metric])[metric]
                               - r["choices"]["auto"][metric] for r, f in pairs]
            print(f"| {name} | {ratio:g} | {metric} | {best_pool} {pool[best_pool]:.4f} | {best_frontier} "
                  f"{frontier[best_frontier]:.4f} | {auto:.4f} | "
                  f"{'yes' if auto >= max(pool[best_pool], frontier[best_frontier]) else 'no'} |")
    for metric, label in (("map", "mAP"), ("micro_f1", "micro-F1")):
        print(f"{label}: auto >= the pool's best in {wins[metric][0]} of {len(cells)} cells, >= the best of the "
              f"pool and the frontier in {wins[metric][1]} of {len(cells)}; mean regret per fold against the best "
              f"of both {np.mean(regret[metric]):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
