"""The method-comparison grids of issues 6 and 7: run a grid config or read finished runs; print the tables.

Issue 6 (baseline losses): mAP and micro-F1 (mean ± std over folds, threshold 0.5) per data set x ratio x
method; the winner at each ratio by each metric; the rank of the paper's CB-WCE variants among the
competitors. The oracle (a method whose estimator reads the hidden mask, e.g. ``im-wce``) is shown as an upper
reference, tagged, and never ranked.

Issue 7 (beyond the paper): at each data set and ratio, the best baseline (every non-oracle method that is
not a beyond-the-paper method, picked by its mean test mAP -- an optimistic choice in the baselines' favour)
against the beyond-the-paper schemes: the one fixed in advance (``--scheme``) and the best of them. As every
method of a grid sees the same folds and the same hidden positives, the difference is also given paired per
fold (mean ± std of the per-fold differences). Then the training-time overhead of each scheme vs plain BCE in
the same loop and the same run: mean ``timings.train_s`` (estimator fit + every epoch until early stopping)
and mean time per epoch (``train_s / epochs``), both as ratios to BCE's.

Run:
    python benchmarks/bench_grid.py            # the default run: benchmarks/grids/default.yaml, a temporary folder
    python benchmarks/bench_grid.py benchmarks/grids/issue6.yaml --out runs/issue6 --jobs 2
    python benchmarks/bench_grid.py --out runs/issue6 --also runs/issue7      # tables of finished runs only
    python benchmarks/bench_grid.py --out runs/issue7 --also runs/issue6 --paired knn-pu-asl:asl  # ablations
    python benchmarks/bench_grid.py --timing benchmarks/grids/issue7_timing.yaml  # the overhead, one process

With neither a config nor ``--out`` it runs ``benchmarks/grids/default.yaml`` (the built-in yeast, r = 0.5 and
0.75, fourteen methods -- seven before issue 22 added the field's 2022-2025 baselines --, 4 folds, seed 0: 112
trials) in a temporary folder that is deleted afterwards; a config without ``--out`` also runs in a temporary
folder. The built-in yeast is the MULAN yeast of the issue-6 grid (same rows, labels and features) and a trial's
folds and hidden positives depend on its seed, fold and ratio only, so the default run reproduces the yeast rows of
those tables for its methods. The issue-22 baselines count as baselines in the issue-7 table (they are not
``BEYOND_METHODS``).

``--paired A:B [C:D ...]``: per data set and ratio where both ran, the mean mAP of A and of B and the paired
difference mAP(A) − mAP(B) over the same folds (mean ± std), the ablation tables of ``benchmarks/README.md``.

``--timing CONFIG``: the grid's timings come from different processes under whatever else loads the machine,
so the overhead target is measured apart: for each data set of CONFIG, the first fold's training rows with
positives hidden at its first ratio, each method of CONFIG trained with ``mlml.training.fit`` (the config's
``train`` overrides, one thread, a fixed number of epochs so every method runs the same loop), interleaved
``--repeats`` times; the median wall time of ``fit`` (estimator fit included) over BCE's.

A finished run is read from ``RUN_DIR/results.sqlite``; re-running a config skips its finished trials.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import BEYOND_METHODS

from mlml.experiments.config import load_config
from mlml.experiments.runner import STORE_NAME, run_grid
from mlml.experiments.store import ResultStore
from mlml.experiments.trials import grid_trials
from mlml.reports.tables import summarize

#: The paper's method and its two co-occurrence variants, ranked in the issue-6 tables.
CB_METHODS = ("cb-wce", "cb-wce-noisy-or", "cb-wce-backoff")
ISSUE7_RATIOS = (0.5, 0.75)
DEFAULT_CONFIG = Path(__file__).resolve().parent / "grids" / "default.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path, help="YAML grid config to run (omit: read only)")
    parser.add_argument("--out", type=Path, help="run folder (written when a config is given)")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="more finished run folders")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scheme", default="knn-pu-em", help="the beyond-the-paper scheme fixed in advance")
    parser.add_argument("--dev", default="yeast", help="the data set used for choices (tagged in the tables)")
    parser.add_argument("--timing", type=Path, help="YAML config: time its methods against bce (see above)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--paired", nargs="*", default=[], metavar="A:B",
                        help="print the paired mAP difference of method A minus method B")
    args = parser.parse_args(argv)
    pairs = []
    for pair in args.paired:
        if pair.count(":") != 1 or not all(pair.split(":")):
            parser.error(f"--paired takes METHOD:METHOD pairs. Got {pair!r}.")
        pairs.append(tuple(pair.split(":")))
    if args.timing is not None:
        return print_timing(args.timing, repeats=args.repeats)
    if args.config is None and args.out is None:
        args.config = DEFAULT_CONFIG
    if args.out is None:
        with tempfile.TemporaryDirectory(prefix="bench-grid-") as tmp:
            print(f"{args.config}: run in a temporary folder (give --out to keep the run)")
            args.out = Path(tmp)
            return report(args, pairs)
    return report(args, pairs)


def report(args: argparse.Namespace, pairs: Sequence[tuple[str, str]]) -> int:
    """Run ``args.config`` into ``args.out`` when given, then print every table of the stored trials."""
    if args.config is not None:
        config = load_config(args.config)
        new: list[dict[str, Any]] = []
        started = time.perf_counter()
        run_grid(config, args.out, jobs=args.jobs, progress=sys.stderr.isatty(), on_record=new.append)
        print(f"{args.config}: {len(new)} trial(s) run in {time.perf_counter() - started:.1f} s with --jobs "
              f"{args.jobs} ({len(grid_trials(config)) - len(new)} already finished in {args.out})")
    records = []
    for run_dir in [args.out, *args.also]:
        store = run_dir / STORE_NAME
        if not store.is_file():
            print(f"{store}: no results store (run a config into this folder first)", file=sys.stderr)
            return 2
        records.extend(ResultStore(store).records())
    failed = [r for r in records if r["status"] != "done"]
    if failed:
        print(f"WARNING: {len(failed)} failed trial(s) left out, e.g. {_key(failed[0])}")
    records = [r for r in records if r["status"] == "done"]
    if not records:
        print("no finished trial")
        return 1
    rows = summarize(records, thresholds="fixed")
    for row in rows:
        row["dataset"] = short_name(row["dataset"])
    records = [dataclasses.replace(record, dataset=short_name(record.dataset)) for record in records]

    print_results(rows)
    print_winners(rows)
    print_targets(rows, records, scheme=args.scheme, dev=args.dev)
    print_overhead(records)
    for a, b in pairs:
        print_paired(rows, records, a, b)
    return 0


def short_name(source: str) -> str:
    """``mulan:../shared/data/mulan/yeast`` -> ``yeast``."""
    return source.rstrip("/").split("/")[-1].split(":")[-1]


def _key(record: Mapping[str, Any]) -> str:
    return f"{record['dataset']} {record['method']} r={record['ratio']} fold={record['fold']}"


def _cell(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.3f} ± {std:.3f}" if not math.isnan(std) else f"{mean:.3f}"


def _label(row: Mapping[str, Any]) -> str:
    return f"{row['method']} (oracle)" if row["oracle"] else row["method"]


def _by_group(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, float], list[dict[str, Any]]]:
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["ratio"])].append(row)
    return groups


def print_results(rows: Sequence[dict[str, Any]]) -> None:
    """One Markdown table per data set: methods down, ``mAP | micro-F1`` per ratio across."""
    for dataset in sorted({row["dataset"] for row in rows}):
        mine = [row for row in rows if row["dataset"] == dataset]
        ratios = sorted({row["ratio"] for row in mine})
        methods = list(dict.fromkeys(_label(row) for row in mine))
        cells = {(_label(row), row["ratio"]): row for row in mine}
        folds = sorted({row["n_folds"] for row in mine})
        print(f"\n### {dataset}: mAP | micro-F1 (mean ± std over {'/'.join(map(str, folds))} folds)\n")
        print("| method | " + " | ".join(f"mAP r={r:g} | µF1 r={r:g}" for r in ratios) + " |")
        print("|---|" + "---|---|" * len(ratios))
        for method in methods:
            parts = []
            for ratio in ratios:
                row = cells.get((method, ratio))
                if row is None:
                    parts += ["", ""]
                    continue
                parts += [_cell(row["map_mean"], row["map_std"]),
                          _cell(row["micro_f1_mean"], row["micro_f1_std"])]
            print(f"| {method} | " + " | ".join(parts) + " |")


def ranking(rows: Sequence[Mapping[str, Any]], metric: str) -> list[Mapping[str, Any]]:
    """The non-oracle rows with a finite mean, best first (ties keep the table order)."""
    ranked = [r for r in rows if not r["oracle"] and not math.isnan(r[f"{metric}_mean"])]
    return sorted(ranked, key=lambda r: -r[f"{metric}_mean"])


def print_winners(rows: Sequence[dict[str, Any]]) -> None:
    """The winner per data set and ratio by mAP and by micro-F1, and where the CB-WCE variants rank."""
    print("\n### Winners (non-oracle) and the rank of the CB-WCE variants (rank / competitors)\n")
    print("| set | r | competitors | best mAP | best µF1 | "
          + " | ".join(f"{m} rank mAP / µF1" for m in CB_METHODS) + " | oracle mAP |")
    print("|---|---|---|---|---|" + "---|" * len(CB_METHODS) + "---|")
    for (dataset, ratio), group in sorted(_by_group(rows).items()):
        by_map, by_f1 = ranking(group, "map"), ranking(group, "micro_f1")
        if not by_map:
            continue
        names_map = [r["method"] for r in by_map]
        names_f1 = [r["method"] for r in by_f1]
        ranks = []
        for method in CB_METHODS:
            if method in names_map:
                ranks.append(f"{names_map.index(method) + 1} / {names_f1.index(method) + 1}")
            else:
                ranks.append("—")
        oracle = [r for r in group if r["oracle"]]
        oracle_cell = "—"
        if oracle:
            oracle_cell = f"{oracle[0]['method']} {_cell(oracle[0]['map_mean'], oracle[0]['map_std'])}"
        best_map = f"{by_map[0]['method']} {by_map[0]['map_mean']:.3f}"
        best_f1 = f"{by_f1[0]['method']} {by_f1[0]['micro_f1_mean']:.3f}"
        print(f"| {dataset} | {ratio:g} | {len(by_map)} | {best_map} | {best_f1} | " + " | ".join(ranks)
              + f" | {oracle_cell} |")


def _fold_values(
    records: Sequence[Mapping[str, Any]], dataset: str, ratio: float, method: str
) -> dict[Any, float]:
    return {
        (r["seed"], r["fold"]): float(r["metrics"]["map"])
        for r in records
        if r["dataset"] == dataset and r["ratio"] == ratio and r["method"] == method and not r["oracle"]
    }


def _paired(records: Sequence[Mapping[str, Any]], dataset: str, ratio: float, a: str, b: str) -> str:
    """``mean ± std`` over folds of ``mAP(a) − mAP(b)`` on the same folds."""
    va, vb = _fold_values(records, dataset, ratio, a), _fold_values(records, dataset, ratio, b)
    common = sorted(set(va) & set(vb))
    if len(common) < 2:
        return "—"
    diff = np.array([va[k] - vb[k] for k in common])
    return f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f}"


def print_targets(rows: Sequence[dict[str, Any]], records: Sequence[Mapping[str, Any]], *, scheme: str,
                  dev: str) -> None:
    """Issue 7: the fixed scheme and the best beyond scheme vs the best baseline, mAP at r = 0.5, 0.75."""
    print(f"\n### Issue 7 target: mAP, {scheme} (fixed in advance) and the best beyond scheme vs the best "
          f"baseline ('{dev}' = development set)\n")
    print(f"| set | r | best baseline | {scheme} | Δ paired | ≥ best? | best beyond | Δ paired | ≥ best? |")
    print("|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for (dataset, ratio), group in sorted(_by_group(rows).items()):
        if ratio not in ISSUE7_RATIOS:
            continue
        baselines = ranking([r for r in group if r["method"] not in BEYOND_METHODS], "map")
        beyond = ranking([r for r in group if r["method"] in BEYOND_METHODS], "map")
        fixed = [r for r in beyond if r["method"] == scheme]
        if not baselines or not beyond:
            continue
        base = baselines[0]
        cells = [f"{base['method']} {_cell(base['map_mean'], base['map_std'])}"]
        for candidate, named in ((fixed[0] if fixed else None, False), (beyond[0], True)):
            if candidate is None:
                cells += ["—", "—", "—"]
                continue
            value = _cell(candidate["map_mean"], candidate["map_std"])
            cells += [
                f"{candidate['method']} {value}" if named else value,
                _paired(records, dataset, ratio, candidate["method"], base["method"]),
                "yes" if candidate["map_mean"] >= base["map_mean"] else "**no**",
            ]
        if fixed:
            verdicts.append(fixed[0]["map_mean"] >= base["map_mean"])
        tag = f"{dataset} (dev)" if dataset == dev else dataset
        print(f"| {tag} | {ratio:g} | " + " | ".join(cells) + " |")
    if verdicts:
        print(f"\n{scheme} >= best baseline in {sum(verdicts)} of {len(verdicts)} (set, ratio) cells.")


def print_paired(rows: Sequence[dict[str, Any]], records: Sequence[Mapping[str, Any]], a: str, b: str) -> None:
    """mAP of ``a`` and ``b`` and their paired difference per data set and ratio (both must have run)."""
    print(f"\n### Paired: mAP of {a} minus {b} on the same folds (mean ± std over folds)\n")
    print(f"| set | r | {a} | {b} | Δ paired |")
    print("|---|---|---|---|---|")
    means = {(r["dataset"], r["ratio"], r["method"]): r["map_mean"] for r in rows if not r["oracle"]}
    cells = sorted({(d, r) for d, r, m in means if m == a} & {(d, r) for d, r, m in means if m == b})
    if not cells:
        print(f"| (no data set and ratio where both {a} and {b} ran) | | | | |")
    for dataset, ratio in cells:
        print(f"| {dataset} | {ratio:g} | {means[(dataset, ratio, a)]:.3f} | {means[(dataset, ratio, b)]:.3f} | "
              f"{_paired(records, dataset, ratio, a, b)} |")


def print_overhead(records: Sequence[Mapping[str, Any]]) -> None:
    """Training time of each beyond scheme (and CB-WCE) relative to plain BCE's, per data set, same run."""
    methods = ["bce", "cb-wce", *BEYOND_METHODS]
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    per_epoch: dict[tuple[str, str], list[float]] = defaultdict(list)
    epochs: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in records:
        if r["method"] in methods and r.get("timings", {}).get("train_s") is not None:
            key = (r["dataset"], r["method"])
            times[key].append(r["timings"]["train_s"])
            epochs[key].append(r["epochs"])
            per_epoch[key].append(r["timings"]["train_s"] / max(r["epochs"], 1))
    datasets = sorted({d for d, _ in times})
    present = [m for m in methods if any((d, m) in times for d in datasets)]
    print("\n### Training time vs plain BCE (same run): train_s ratio | per-epoch ratio | mean epochs\n")
    print("| set | bce train_s | " + " | ".join(present[1:]) + " |")
    print("|---|---|" + "---|" * (len(present) - 1))
    for dataset in datasets:
        if (dataset, "bce") not in times:
            continue
        base, base_epoch = np.mean(times[(dataset, "bce")]), np.mean(per_epoch[(dataset, "bce")])
        cells = []
        for method in present[1:]:
            key = (dataset, method)
            if key not in times:
                cells.append("—")
                continue
            cells.append(f"{np.mean(times[key]) / base:.2f}x | {np.mean(per_epoch[key]) / base_epoch:.2f}x | "
                         f"{np.mean(epochs[key]):.0f}".replace(" | ", " / "))
        base_epochs = np.mean(epochs[(dataset, "bce")])
        print(f"| {dataset} | {base:.2f} s ({base_epochs:.0f} ep) | " + " | ".join(cells) + " |")


def print_timing(config_path: Path, *, repeats: int) -> int:
    """Median ``fit`` wall time of each method of the config over BCE's, interleaved in this process."""
    import time

    import torch

    from mlml.experiments.trials import trial_fold
    from mlml.methods import METHODS
    from mlml.training import TrainConfig, fit

    config = load_config(config_path)
    methods = ["bce", *[m for m in config.methods if m != "bce"]]
    train = {"num_threads": 1, "log": False, "device": "cpu", "fixed_epochs": True, **config.train}
    train_config = TrainConfig.from_dict(train)
    torch.set_num_threads(1)
    print(f"\n### Training time vs plain BCE, one process, {train_config.epochs} epochs (fixed), median of "
          f"{repeats} interleaved runs\n")
    print("| set | bce | " + " | ".join(methods[1:]) + " |")
    print("|---|---|" + "---|" * (len(methods) - 1))
    for source in config.datasets:
        ratio = config.ratios[0]
        trial = next(t for t in grid_trials(config) if t.dataset == source and t.ratio == ratio and t.fold == 0)
        fold = trial_fold(trial, config)  # the grid's first fold of the set, training rows and validation carve
        seconds: dict[str, list[float]] = defaultdict(list)
        for _ in range(repeats):
            for name in methods:
                started = time.perf_counter()
                fit(fold.train_inputs, fold.observed_train, METHODS.get(name), train_config)
                seconds[name].append(time.perf_counter() - started)
        base = float(np.median(seconds["bce"]))
        cells = [f"{np.median(seconds[m]) / base:.2f}x" for m in methods[1:]]
        print(f"| {short_name(source)} r={ratio:g} | {base:.2f} s | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
