"""Issue 16's targets, read from grid run folders: decisions under missing labels.

For every cell (data set, missing ratio) of the given run folders it prints

* the best baseline with ITS best threshold policy (micro-F1, mean over folds; every policy of
  ``mlml.evaluation.policies`` is a candidate, so a policy is not ours alone),
* each of our methods with its OWN policy (the one it declares, ``Method.threshold_policy``), and whether the best
  of ours matches or beats the baseline (the target: in >= 8 of the 10 MULAN cells),
* mAP of the same two (the target: unchanged -- decisions do not touch the ranking),
* the fold stability check: the std over folds of our method's micro-F1 within 2x the best baseline's,
* the cost of fitting every policy as a share of the trial (target <= 5 %).

"Ours" are the methods beyond the paper (:data:`OURS`); baselines are every other non-oracle method.

``--choose``: the development step instead (see :func:`choose`), e.g. on the run of
``benchmarks/grids/dev_policies.yaml``.

Run: ``python benchmarks/bench_policies.py RUN_DIR [RUN_DIR ...]`` (run folders of ``mlml reproduce``, e.g. of
``benchmarks/grids/issue16.yaml``). Without arguments it runs a small default grid first (yeast, r = 0.5, four
methods, 2 folds) so that ``make bench`` finishes; the issue's figures come from the full grids.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import BEYOND_METHODS as OURS
from _common import short_name

from mlml.evaluation.policies import POLICIES
from mlml.experiments import ResultStore
from mlml.reports.tables import policy_metrics


def cell_table(records: list[dict]) -> None:
    cells: dict[tuple[str, float], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    costs = []
    for r in records:
        if r["status"] != "done" or r["oracle"]:
            continue
        cells[(r["dataset"], r["ratio"])][r["method"]].append(r)
        t = r.get("timings") or {}
        if "policy_s" in t:
            total = sum(t.get(k, 0.0) for k in ("weights_s", "train_s", "eval_s", "policy_s"))
            costs.append(t["policy_s"] / total if total else np.nan)
    wins = n = 0
    print("| data set | ratio | best baseline (policy) micro-F1 | ours (own policy) micro-F1 | Δ | "
          "mAP baseline / ours | std ours / 2x baseline's | met |")
    print("|---|---:|---|---|---:|---|---|---|")
    for (dataset, ratio), methods in sorted(cells.items()):
        best_base = _best(methods, lambda m: m not in OURS, own=False)
        best_ours = _best(methods, lambda m: m in OURS, own=True)
        if best_base is None or best_ours is None:
            continue
        n += 1
        win = best_ours[0] >= best_base[0] - 1e-12
        wins += win
        stable = best_ours[3] <= 2 * best_base[3] + 1e-12
        print(f"| {short_name(dataset)} | {ratio:g} | "
              f"{best_base[1]} ({best_base[2]}) {best_base[0]:.3f} ± {best_base[3]:.3f} | "
              f"{best_ours[1]} ({best_ours[2]}) {best_ours[0]:.3f} ± {best_ours[3]:.3f} | "
              f"{best_ours[0] - best_base[0]:+.3f} | {best_base[4]:.3f} / {best_ours[4]:.3f} | "
              f"{best_ours[3]:.3f} / {2 * best_base[3]:.3f} {'ok' if stable else 'UNSTABLE'} | "
              f"{'yes' if win else 'no'} |")
    print(f"\nours with its own policy matches or beats the best baseline with its best policy in {wins} of {n} "
          "cells")
    policy_gains(cells)
    if costs:
        print(f"policy fitting cost per trial: median {100 * np.nanmedian(costs):.1f} %, "
              f"max {100 * np.nanmax(costs):.1f} % of the trial (target <= 5 %)")


def policy_gains(cells: dict) -> None:
    """What the policies give each side: the best micro-F1 (over methods) at 0.5, with per-class thresholds tuned
    on observed labels, and with the best of the policies that do not trust observed zeros -- all chosen post hoc
    on the test folds, for baselines and ours alike (the table above gives ours its declared policy only)."""
    print("\n| data set | ratio | baselines: fixed / tuned / best new policy | ours: fixed / tuned / best new policy |")
    print("|---|---:|---|---|")
    new_policies = [p for p in POLICIES if p not in ("fixed", "tuned")]
    for (dataset, ratio), methods in sorted(cells.items()):
        sides = []
        for keep in (lambda m: m not in OURS, lambda m: m in OURS):
            best = [_best(methods, keep, own=False, policies=[p]) for p in ("fixed", "tuned")]
            best.append(_best(methods, keep, own=False, policies=new_policies))
            sides.append(" / ".join("—" if b is None else f"{b[0]:.3f}" for b in best))
        print(f"| {short_name(dataset)} | {ratio:g} | {sides[0]} | {sides[1]} |")


def _best(methods: dict[str, list[dict]], keep, *, own: bool, policies: list[str] | None = None):
    """(micro-F1 mean, method, policy, std, mAP mean) of the best (method, policy): own policies only for ours
    (``own``), else the best of ``policies`` (default: every policy a trial measured)."""
    best = None
    wanted = policies
    for method, group in methods.items():
        if not keep(method):
            continue
        if own:
            policies = {group[0].get("own_policy") or "fixed"}
        else:
            policies = set().union(*(policy_metrics(r) for r in group))
            policies = policies if wanted is None else policies & set(wanted)
        for policy in policies:
            values = [policy_metrics(r).get(policy) for r in group]
            if any(v is None for v in values):
                continue
            f1 = np.array([v["micro_f1"] for v in values], dtype=float)
            candidate = (f1.mean(), method, policy, f1.std(ddof=1) if len(f1) > 1 else 0.0,
                         float(np.mean([r["metrics"]["map"] for r in group])))
            if best is None or candidate[0] > best[0]:
                best = candidate
    return best


def choose(records: list[dict]) -> None:
    """The development step: for each of our methods, the mean micro-F1 of every policy over the cells (data set,
    ratio) of the given runs, and the policy with the highest mean -- how ``Method.threshold_policy`` was chosen
    for them (on ``benchmarks/grids/dev_policies.yaml``, before the target grids ran)."""
    scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["status"] == "done" and r["method"] in OURS:
            for policy, metrics in policy_metrics(r).items():
                scores[r["method"]][policy].append(metrics["micro_f1"])
    print("| method | " + " | ".join(POLICIES) + " | highest |")
    print("|---|" + "---:|" * len(POLICIES) + "---|")
    for method, by_policy in sorted(scores.items()):
        means = {p: float(np.mean(by_policy[p])) for p in POLICIES if by_policy.get(p)}
        cells = " | ".join(f"{means[p]:.3f}" if p in means else "—" for p in POLICIES)
        print(f"| {method} | {cells} | {max(means, key=means.get)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="*", type=Path)
    parser.add_argument("--choose", action="store_true",
                        help="the development step: mean micro-F1 of each policy for each of our methods")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dirs = args.run_dirs
        if not run_dirs:
            run_dirs = [Path(tmp) / "run"]
            subprocess.run([sys.executable, "-m", "mlml", "reproduce", "--methods",
                            "bce,wan,knn-pu-em,knn-pu-em-balanced", "--ratios", "0.5", "--folds", "2", "--jobs", "2",
                            "--thresholds", "own", "--no-progress", "--out", str(run_dirs[0])],
                           check=True, stdout=subprocess.DEVNULL)
        records = [r for d in run_dirs for r in ResultStore(d / "results.sqlite").records()]
        if args.choose:
            choose(records)
        else:
            cell_table(records)


if __name__ == "__main__":
    main()
