"""Issue 21: what ``auto`` costs, with its candidates trained one by one and in one pass.

For one fold of each data set (the grid's fold 0 of 4, seed 0, per-sample hiding at ``--ratio``) it times, in the
same run and process:

* one training of ``bce`` (:func:`mlml.training.fit`): the unit a trial of the paper's methods costs;
* the candidates of the pool (``CANDIDATE_POOL``: seven until the fourth session, since the fifth fourteen with the
  field's 2022-2025 methods; the seven were auto's default before the second round) trained one by one
  (one ``fit`` each: how ``auto`` trained them before) and in ONE pass (:func:`mlml.training.one_pass.fit_heads`),
  and whether every candidate's weights, history and validation probabilities are bitwise those of its own ``fit``;
* today's default candidates in one pass (one training seed);
* the whole of :func:`mlml.auto.fit_auto` with its defaults (re-hiding, the one pass, every criterion, the policy
  choice, the average): the cost of one ``auto`` trial's training;

and prints the times and their ratios to the unit. Each timing is the best of ``--repeat`` runs, taken round-robin
(the machine is shared); CPU time (one torch thread) is the main figure, wall time beside it. Run:
``nice -n 10 python benchmarks/bench_auto_cost.py [--datasets yeast,scene,...]``; ``yeast`` is the built-in copy,
other names are read from ``../shared/data/mulan``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from _common import present, shared_data

from mlml.auto import fit_auto, resolve_method
from mlml.auto.method import CANDIDATE_POOL, DEFAULT_CANDIDATES
from mlml.auto.select import prepare_selection
from mlml.data import load
from mlml.data.splits import kfold_indices
from mlml.evaluation import UndefinedMetricWarning
from mlml.experiments.trials import hiding_seed
from mlml.folds import make_fold
from mlml.training import TrainConfig, fit
from mlml.training.one_pass import fit_heads


def interleaved(repeat: int, functions: dict) -> tuple[dict, dict, dict]:
    """Each function called ``repeat`` times, round-robin (so that every one sees the same load of a shared
    machine): the shortest wall time and the shortest CPU time (this process's, one torch thread) of each, and the
    last result of each."""
    wall = {k: [] for k in functions}
    cpu = {k: [] for k in functions}
    out = {}
    for _ in range(repeat):
        for key, function in functions.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            out[key] = function()
            wall[key].append(time.perf_counter() - started)
            cpu[key].append(time.process_time() - cpu_started)
    return {k: min(v) for k, v in wall.items()}, {k: min(v) for k, v in cpu.items()}, out


def same(a, b) -> bool:
    """Bitwise the same trained model: weights, history (but its seconds), best epoch, validation probabilities."""
    weights = all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in a.history] == \
              [{k: v for k, v in r.items() if k != "seconds"} for r in b.history]
    return weights and history and a.best_epoch == b.best_epoch and np.array_equal(a.val_proba, b.val_proba)


def measure(source: str, ratio: float, repeat: int) -> dict:
    dataset = load(source)
    split = kfold_indices(dataset.labels, n_splits=4, stratified=True, random_state=0)[0]
    fold = make_fold(dataset, split, ratio=ratio, seed=0, hiding=hiding_seed(0, 0, ratio))
    config = TrainConfig(seed=0, num_threads=1, log=False)
    method = resolve_method("auto")
    selection = prepare_selection(fold, method, config.seed)
    pool = {n: method.candidate(n) for n in CANDIDATE_POOL}
    default = {n: pool[n] for n in DEFAULT_CANDIDATES}
    validation = (fold.val_inputs, selection.rehidden)

    def one(name):
        return fit(fold.train_inputs, fold.observed_train, pool[name], config, validation=validation)

    def together(methods):
        return fit_heads(fold.train_inputs, fold.observed_train, methods, config, validation=validation)

    one("bce")  # warm-up: imports and first-call costs outside every timing
    wall, cpu, out = interleaved(repeat, {
        "unit": lambda: one("bce"), "separate": lambda: {n: one(n) for n in pool},
        "one_pass": lambda: together(pool), "default": lambda: together(default),
        "auto": lambda: fit_auto(fold, config, method)})
    return {"wall": wall, "cpu": cpu, "epochs": sum(len(r.history) for r in out["separate"].values()),
            "same": all(same(out["separate"][n], out["one_pass"][n]) for n in pool), "rows": len(fold.train)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="yeast")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UndefinedMetricWarning)
    print(f"one fold per data set (fold 0 of 4, seed 0, per-sample r = {args.ratio}); best of {args.repeat} runs; "
          "one torch thread")
    print("CPU seconds of this process (wall seconds in brackets): the load of a shared machine inflates the wall "
          "time much more than the CPU time")
    print(f"| data set | training rows | bce (unit) | pool of {len(CANDIDATE_POOL)}, one by one (before) | pool of "
          f"{len(CANDIDATE_POOL)}, one pass | bitwise "
          f"the same | default {len(DEFAULT_CANDIDATES)}, one seed, one pass | whole fit_auto (after) | "
          "before / unit | after / unit | after / before |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for name in args.datasets.split(","):
        if name == "yeast":
            source = "yeast"
        else:
            path = shared_data() / "mulan" / name
            if not present(path, f"bench_auto_cost {name}"):
                continue
            source = f"mulan:{path}"
        m = measure(source, args.ratio, args.repeat)
        c, w = m["cpu"], m["wall"]

        def cell(key: str) -> str:
            return f"{c[key]:.2f} s ({w[key]:.2f} s)"  # noqa: B023 -- used in this iteration only

        print(f"| {name} | {m['rows']} | {cell('unit')} | {cell('separate')}, {m['epochs']} epochs | "
              f"{cell('one_pass')} | {'yes' if m['same'] else 'NO'} | {cell('default')} | {cell('auto')} | "
              f"{c['separate'] / c['unit']:.1f}x | {c['auto'] / c['unit']:.1f}x | {c['auto'] / c['separate']:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
