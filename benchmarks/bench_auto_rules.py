"""Issue 21, second round: other rules for auto's choice, measured on the candidates' saved probabilities.

Reads the folds that ``bench_auto.py --cache C --dump D`` trained (every candidate's validation and test
probabilities per fold, saved by ``--dump``), rebuilds each fold and its re-hidden validation labels exactly (same
split, hiding and seed: :func:`mlml.auto.select.prepare_selection`) and compares, per fold, rules that read the
validation rows' OBSERVED (and re-hidden) labels only; the test labels only score them:

* ``average(S)/calibrated``: the probability average of a fixed candidate set ``S`` (the default: all seven; every
  smaller set of 2-4 candidates is measured, so that a smaller, cheaper set can be chosen on the development
  cells), decided by ``calibrated``;
* ``stack``: a logistic regression on the candidates' validation logits, fitted to rank the RE-HIDDEN positives
  above the entries still unlabelled after re-hiding (stacking on re-hidden positives), applied to the test rows;
* ``rank(all criteria)``: the candidate with the best mean rank over every criterion (rank aggregation);
* ``choose by pu-auc-calibrated`` / ``rehide-auc-weighted``: two criteria calibrated by the estimated missing
  share of each class (:func:`calibrated_criteria`), their τ with the test order printed too;
* ``policy on re-hidden labels``: the average of ``S`` with the threshold policy chosen by fitting each policy on
  the RE-HIDDEN validation labels and scoring its decisions by Lee & Liu's ``r² / P(ŷ = 1)`` with ``r`` the recall
  of the re-hidden positives (missing positives of known position), instead of the default ``calibrated``.

Per rule: mean regret (the fold's best candidate at its validation-chosen policy − the rule), and the number of
cells where the rule's mean >= the best single baseline's (the best candidate's mean over folds, picked after the
fact on the test folds, each at the policy chosen on its own validation rows). Run:
``python benchmarks/bench_auto_rules.py --cache /tmp/dev.jsonl --dump /tmp/dump [--choose-on OTHER.jsonl]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import add_bench_auto_inputs, bench_auto_rows
from bench_auto import dump_name
from scipy.stats import rankdata

from mlml.auto import CRITERIA, kendall_tau, resolve_method
from mlml.auto.criteria import lee_liu
from mlml.auto.select import prepare_selection
from mlml.data import load
from mlml.data.splits import kfold_indices
from mlml.evaluation import UndefinedMetricWarning, evaluate
from mlml.evaluation.policies import BASE_POLICIES, SOFT_POLICIES, fit_policies, fit_policy
from mlml.experiments.trials import hiding_seed
from mlml.folds import make_fold
from mlml.service import fold_missing_share

_DATASETS: dict[str, object] = {}


def fold_parts(row: dict, folds: int = 4, seed: int = 0):
    source = row["dataset"]
    if source not in _DATASETS:
        _DATASETS[source] = load(source)
    dataset = _DATASETS[source]
    split = kfold_indices(dataset.labels, n_splits=folds, stratified=True, random_state=seed)[row["fold"]]
    fold = make_fold(dataset, split, ratio=row["ratio"], scheme=row.get("scheme", "per-sample"), seed=seed,
                     hiding=hiding_seed(seed, row["fold"], row["ratio"]))
    return fold, prepare_selection(fold, resolve_method("auto"), seed)


def scored(truth, test, val, selection, policy, missing_share=None) -> dict[str, float]:
    decision = fit_policy(policy, val, selection.observed, q=selection.q_policy if policy in SOFT_POLICIES else None,
                          missing_share=missing_share)
    out = evaluate(truth, test, threshold=decision.thresholds(test))
    return {"map": float(out["map"]), "micro_f1": float(out["micro_f1"])}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def stack(val: dict, test: dict, selection) -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression on the candidates' logits: re-hidden positives (1) against the entries still unlabelled
    after re-hiding that were not positive before it (0); its probabilities on the validation and test rows."""
    from sklearn.linear_model import LogisticRegression

    names = list(val)
    rehidden, mask = selection.rehidden, selection.mask
    rows = mask | (rehidden == 0) | (rehidden == -1)  # unlabelled after re-hiding (-1: partial labels)
    x = np.stack([logit(val[n])[rows] for n in names], axis=1)
    y = mask[rows].astype(int)
    if y.sum() < 2 or y.sum() == len(y):
        mean_val, mean_test = np.mean([val[n] for n in names], axis=0), np.mean([test[n] for n in names], axis=0)
        return mean_val, mean_test
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)

    def apply(probabilities: dict) -> np.ndarray:
        shape = probabilities[names[0]].shape
        z = np.stack([logit(probabilities[n]).ravel() for n in names], axis=1)
        return model.predict_proba(z)[:, 1].reshape(shape)

    return apply(val), apply(test)


def rehidden_policy(val: np.ndarray, selection) -> str:
    """The policy whose decisions, fitted on the RE-HIDDEN labels, best trade the recall of the re-hidden positives
    against the share predicted positive (Lee & Liu's r² / P(ŷ = 1), r measured on the re-hidden positives)."""
    values = {}
    policies = fit_policies(BASE_POLICIES, val, selection.rehidden, q=selection.q_policy)
    for name, decision in policies.items():
        decided = decision.predict(val)
        pseudo = np.where(selection.mask, 1, np.where(selection.observed == 1, 0, selection.observed))
        values[name] = lee_liu(decided, pseudo) if selection.mask.any() else np.nan
    return max(BASE_POLICIES, key=lambda p: (np.nan_to_num(values[p], nan=-np.inf), -BASE_POLICIES.index(p)))


def calibrated_criteria(scores: np.ndarray, selection) -> dict[str, float]:
    """Two criteria calibrated by the estimated missing share of each class, ``π'_c`` = the mean posterior ``q``
    (co-occurrence, fitted on the training rows' observed labels) of the class's observed zeros:

    * ``pu-auc-calibrated``: PU-AUC inverted per class, ``(AUC_PU − π'_c / 2) / (1 − π'_c)`` (Menon et al.'s
      affine map, so that classes with many missing positives are not compressed towards 1/2 in the mean);
    * ``rehide-auc-weighted``: the re-hidden positives' AUC per class weighted by the class's estimated number of
      missing positives (``Σ q`` over its zeros): the classes where positives are really missing count most.
    """
    from mlml.evaluation.metrics import ranking_metrics

    y, q = selection.observed, np.clip(selection.q_soft, 0.0, 1.0)
    zeros = y == 0
    share = np.where(zeros.any(axis=0), (q * zeros).sum(axis=0) / np.maximum(zeros.sum(axis=0), 1), 0.0)
    share = np.minimum(share, 0.9)
    _, auc = ranking_metrics(scores, y == 1, y != -1, ap=False)
    calibrated = (auc - share / 2) / (1 - share)
    mask, rehidden = selection.mask, selection.rehidden
    candidates = (rehidden == 0) | (rehidden == -1) | mask  # unlabelled after re-hiding (-1: partial labels)
    _, rauc = ranking_metrics(scores, mask, candidates, ap=False)
    weight = (q * zeros).sum(axis=0) * (mask.any(axis=0) & (candidates & ~mask).any(axis=0))
    keep = np.isfinite(rauc) & (weight > 0)
    return {"pu-auc-calibrated": float(np.nanmean(calibrated)),
            "rehide-auc-weighted": float(np.sum(rauc[keep] * weight[keep]) / weight[keep].sum()) if keep.any()
            else float("nan")}


NEW_CRITERIA = ("pu-auc-calibrated", "rehide-auc-weighted")


def fold_rules(row: dict, dump: Path, subsets: list[tuple[str, ...]]) -> dict[str, dict[str, float]]:
    name = Path(row["dataset"]).name
    data = np.load(dump / dump_name(name, row.get("scheme", "per-sample"), row["ratio"], row["fold"]))
    names = list(row["candidates"])
    val = {n: data[f"val/{n}"].astype(np.float64) for n in names}
    test = {n: data[f"test/{n}"].astype(np.float64) for n in names}
    fold, selection = fold_parts(row)
    truth = fold.test_labels
    share = fold_missing_share(fold)  # the training rows' diagnosed missing share: what `select` reads
    out = {}
    for subset in subsets:
        v = np.mean([val[n] for n in subset], axis=0)
        t = np.mean([test[n] for n in subset], axis=0)
        out[f"average({','.join(subset)})"] = scored(truth, t, v, selection, "calibrated")
        if len(subset) in (len(names), 3):
            out[f"average({','.join(subset)}) select"] = scored(truth, t, v, selection, "select", share)
            out[f"average({','.join(subset)}) policy on re-hidden"] = scored(truth, t, v, selection,
                                                                             rehidden_policy(v, selection))
    new = {n: calibrated_criteria(val[n], selection) for n in names}
    for criterion in NEW_CRITERIA:
        values = [new[n][criterion] for n in names]
        best = names[int(np.argmax(np.nan_to_num(values, nan=-np.inf)))]
        out[f"choose by {criterion}"] = {m: row["candidates"][best][m] for m in ("map", "micro_f1")}
        for metric in ("map", "micro_f1"):
            out[f"choose by {criterion}"][f"tau_{metric}"] = kendall_tau(
                values, [row["candidates"][n][metric] for n in names])
    v, t = stack(val, test, selection)
    out["stack"] = scored(truth, t, v, selection, "calibrated")
    ranks = np.mean([rankdata(np.nan_to_num([row["candidates"][n]["criteria"][c] for n in names], nan=-np.inf))
                     for c in CRITERIA if c != "observed-map"], axis=0)
    best = names[int(np.argmax(ranks))]
    out["rank(all criteria but observed-map)"] = {m: row["candidates"][best][m] for m in ("map", "micro_f1")}
    return out


def summarise(rows: list[dict], results: list[dict], label: str, only: list[str] | None = None) -> dict[str, tuple]:
    cells = defaultdict(list)
    for row, res in zip(rows, results):
        cells[(Path(row["dataset"]).name, row["ratio"])].append((row, res))
    table = {}
    for rule in results[0]:
        if only is not None and rule not in only:
            continue
        wins, regret = {"map": 0, "micro_f1": 0}, {"map": [], "micro_f1": []}
        for cell in cells.values():
            for metric in wins:
                means = {n: np.mean([r["candidates"][n][metric] for r, _ in cell]) for n in cell[0][0]["candidates"]}
                wins[metric] += np.mean([res[rule][metric] for _, res in cell]) >= max(means.values())
                regret[metric] += [max(c[metric] for c in r["candidates"].values()) - res[rule][metric]
                                   for r, res in cell]
        table[rule] = (wins["map"], wins["micro_f1"], np.mean(regret["map"]), np.mean(regret["micro_f1"]), len(cells))
        if "tau_map" in results[0][rule]:  # a criterion's τ with the test order: mean over folds, then cells
            taus = [np.nanmean([[res[rule][f"tau_{m}"] for _, res in cell] for cell in cells.values()], axis=1)
                    for m in ("map", "micro_f1")]
            print(f"{rule}: τ mAP {np.nanmean(taus[0]):.3f}, τ micro-F1 {np.nanmean(taus[1]):.3f}")
    return table


def cell_table(rows: list[dict], results: list[dict], rule: str) -> None:
    """``rule`` against the best single baseline, cell by cell (means over folds)."""
    cells = defaultdict(list)
    for row, res in zip(rows, results):
        cells[(Path(row["dataset"]).name, row["ratio"])].append((row, res))
    print(f"\n{rule} against the best single baseline (picked on the test folds, its policy chosen on its validation "
          "rows):\n| data set | r | best baseline mAP | mAP | best baseline micro-F1 | micro-F1 |")
    print("|---|---:|---|---:|---|---:|")
    for (name, ratio), cell in sorted(cells.items()):
        out = [name, f"{ratio:g}"]
        for metric in ("map", "micro_f1"):
            means = {n: np.mean([r["candidates"][n][metric] for r, _ in cell]) for n in cell[0][0]["candidates"]}
            best = max(means, key=means.get)
            mine = np.mean([res[rule][metric] for _, res in cell])
            out += [f"{best} {means[best]:.4f}", f"**{mine:.4f}**" if mine >= means[best] else f"{mine:.4f}"]
        print("| " + " | ".join(out) + " |")


def print_table(table: dict, label: str, top: int | None = None) -> None:
    print(f"\n{label}\n| rule | >= best baseline mAP | >= best micro-F1 | regret mAP | regret micro-F1 |")
    print("|---|---:|---:|---:|---:|")
    items = sorted(table.items(), key=lambda kv: kv[1][2] + kv[1][3])
    every = max(table, key=len)  # the average of every candidate (the default before this round)
    if top:  # the best `top` rules, and every rule that is not a smaller average
        items = [kv for i, kv in enumerate(items) if i < top or not kv[0].startswith("average(")
                 or kv[0].startswith(every.split(")")[0])]
    for rule, (wm, wf, rm, rf, n) in items:
        print(f"| {rule} | {wm} of {n} | {wf} of {n} | {rm:.4f} | {rf:.4f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_auto_inputs(parser)
    parser.add_argument("--rules", help="comma-free: report only these rules (a JSON list), e.g. those chosen on "
                                        "the development cells")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cells", help="print this rule against the best single baseline cell by cell")
    parser.add_argument("--baseline-policy", help="score each single baseline with this policy (e.g. select) "
                                                  "instead of the one Lee & Liu's criterion chose on its validation "
                                                  "rows (bench_auto.py's f1_policies)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UndefinedMetricWarning)
    rows = bench_auto_rows(args.cache, args.dump, "bench_auto_rules")
    if rows is None:
        return 0
    if args.baseline_policy:
        for row in rows:
            for candidate in row["candidates"].values():
                candidate["micro_f1"] = candidate["f1_policies"][args.baseline_policy]
    names = list(rows[0]["candidates"])
    subsets = [s for k in (2, 3, 4) for s in itertools.combinations(names, k)] + [tuple(names)]
    only = json.loads(args.rules) if args.rules else None
    if only is not None:
        subsets = [s for s in subsets if any(r.startswith(f"average({','.join(s)})") for r in only)]
    results = [fold_rules(row, args.dump, subsets) for row in rows]
    print(f"{len(rows)} folds; candidates {', '.join(names)}")
    print_table(summarise(rows, results, "", only), "rules (sorted by mAP + micro-F1 regret)",
                None if only else args.top)
    if args.cells:
        cell_table(rows, results, args.cells)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
