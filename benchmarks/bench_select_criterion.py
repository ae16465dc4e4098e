"""Issue 21: the ``select`` policy's criterion as a criterion for choosing among auto's candidates.

For each fold that ``bench_auto.py --cache C --dump D`` trained, every candidate is decided by ``select`` on its
validation rows (:func:`mlml.evaluation.policies.select_decision`: the share-corrected, cross-fitted micro-F1
estimate of each policy, from observed labels and the training rows' diagnosed missing share), and its criterion is
the estimate of the policy it chose. Printed: the Kendall τ of that criterion with the candidates' test micro-F1
under ``select``, under the Lee & Liu policy bench_auto.py recorded, and with their test mAP (mean over folds, then
cells); the micro-F1 and mAP regret of choosing the single candidate it ranks first; per cell, that choice's mean
micro-F1 against the best single candidate's (picked on the test folds).

For scale, the same τ for an ORACLE criterion that no user has: the candidates' mAP and micro-F1 (same ``select``
decision) on the validation rows' COMPLETE labels (observed positives plus the positives hidden there). It says
how far the test order can be predicted from validation rows at all: the candidates differ by less than the
noise of a few hundred validation rows, so even complete labels order them imperfectly.

Run: ``python benchmarks/bench_select_criterion.py --cache dev.jsonl --dump dump`` (without bench_auto.py's cache
and dump it says so and skips, as ``make bench`` runs it).
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import add_bench_auto_inputs, bench_auto_rows
from bench_auto import dump_name
from bench_auto_rules import fold_parts

from mlml.auto import kendall_tau
from mlml.evaluation import evaluate
from mlml.evaluation.policies import fit_policy
from mlml.labels import to_dense
from mlml.service import fold_missing_share


def fold_figures(row: dict, dump: Path) -> dict:
    name = Path(row["dataset"]).name
    data = np.load(dump / dump_name(name, row.get("scheme", "per-sample"), row["ratio"], row["fold"]))
    fold, selection = fold_parts(row)
    share = row["missing_share"] if "missing_share" in row else fold_missing_share(fold)
    names = list(row["candidates"])
    complete = ((to_dense(selection.observed) == 1) | to_dense(fold.hidden_val).astype(bool)).astype(np.int8)
    criterion, f1, oracle_map, oracle_f1 = {}, {}, {}, {}
    for n in names:
        val, test = data[f"val/{n}"].astype(np.float64), data[f"test/{n}"].astype(np.float64)
        decision = fit_policy("select", val, selection.observed, q=selection.q_policy, missing_share=share)
        values = decision.info["select"]["criterion"]
        criterion[n] = max(values.values()) if values else np.nan
        f1[n] = float(evaluate(fold.test_labels, test, threshold=decision.thresholds(test), ranking=False)["micro_f1"])
        on_val = evaluate(complete, val, threshold=decision.thresholds(val))
        oracle_map[n], oracle_f1[n] = float(on_val["map"]), float(on_val["micro_f1"])
    c = [criterion[n] for n in names]
    pick = names[int(np.nanargmax(c))] if np.isfinite(c).any() else names[0]
    maps = {n: row["candidates"][n]["map"] for n in names}
    return {"tau_f1": kendall_tau(c, [f1[n] for n in names]),
            "tau_f1_lee_liu": kendall_tau(c, [row["candidates"][n]["micro_f1"] for n in names]),
            "tau_map": kendall_tau(c, [maps[n] for n in names]),
            "oracle_tau_map": kendall_tau([oracle_map[n] for n in names], [maps[n] for n in names]),
            "oracle_tau_f1": kendall_tau([oracle_f1[n] for n in names], [f1[n] for n in names]),
            "regret_f1": max(f1.values()) - f1[pick], "regret_map": max(maps.values()) - maps[pick],
            "pick_f1": f1[pick], "f1": f1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_auto_inputs(parser)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = bench_auto_rows(args.cache, args.dump, "bench_select_criterion")
    if rows is None:
        return 0
    cells = defaultdict(list)
    for row in rows:
        cells[(Path(row["dataset"]).name, row["ratio"])].append(fold_figures(row, args.dump))
    for key in ("tau_f1", "tau_f1_lee_liu", "tau_map", "oracle_tau_map", "oracle_tau_f1"):
        print(f"{key}: {np.nanmean([np.nanmean([f[key] for f in v]) for v in cells.values()]):.3f}")
    every = [f for v in cells.values() for f in v]
    print(f"choosing the first: regret micro-F1 {np.mean([f['regret_f1'] for f in every]):.4f}, "
          f"mAP {np.mean([f['regret_map'] for f in every]):.4f}")
    for (name, ratio), v in cells.items():
        best = max(np.mean([f["f1"][n] for f in v]) for n in v[0]["f1"])
        print(f"{name} {ratio}: chosen {np.mean([f['pick_f1'] for f in v]):.4f}, best single {best:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
