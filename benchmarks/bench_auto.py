"""Issue 21: does ``auto`` choose well from observed labels alone?

For every cell (data set, missing ratio r) and fold it builds the grid's fold (same split, same hidden positives
as ``mlml reproduce``: ``kfold_indices(..., random_state=seed)``, ``hiding_seed(seed, fold, r)``), trains auto's
candidates ONCE (:func:`mlml.auto.select.train_candidates`, early stopping on the re-hidden validation rows), and
prints

* per criterion of :mod:`mlml.auto.criteria`, Kendall's τ between the candidates' order on the validation rows
  and their order on the complete test labels (mAP; micro-F1 at each candidate's policy chosen on its validation
  rows), averaged over folds, then cells (target: τ >= 0.6);
* per criterion, auto's regret (best candidate's test metric in the fold − auto's choice's), mean over folds and
  cells (target <= 0.01), with and without the probability average of the best few;
* per cell, auto (the default criterion) against the best single baseline -- each candidate with the threshold
  policy chosen on ITS validation rows, picked after the fact as the one with the best mean test metric over
  folds (target: auto >= it in >= 8 of 10 MULAN cells, mAP and micro-F1).

The baselines are the pool's candidates (``CANDIDATE_POOL``, trained once; fourteen since the fifth session, the
field's 2022-2025 methods included; auto's default averages three of them).
Results are cached per (cell, fold) in ``--cache`` (JSON lines), so a rerun resumes.

Run: ``nice -n 10 python benchmarks/bench_auto.py`` (development subset: yeast, scene, emotions at r = 0.5, 0.75,
4 folds); ``--datasets medical,enron`` for the held-out sets.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import cache_rows, present, shared_data

from mlml._io import atomic_open
from mlml.auto import CRITERIA, DEFAULT_CRITERION, fit_auto, kendall_tau, resolve_method
from mlml.auto.method import CANDIDATE_POOL, DEFAULT_POLICY, PARTIAL_POOL
from mlml.auto.select import choose, prepare_selection, rank_key, score_entry, train_candidates
from mlml.data import load
from mlml.data.splits import kfold_indices
from mlml.evaluation import UndefinedMetricWarning, evaluate
from mlml.evaluation.policies import BASE_POLICIES, POLICIES, SOFT_POLICIES, fit_policy
from mlml.experiments.trials import hiding_seed
from mlml.folds import make_fold
from mlml.service import fold_missing_share
from mlml.training import TrainConfig


def dump_name(name: str, scheme: str, ratio: float, fold: int) -> str:
    """The ``--dump`` file of one fold (the per-sample scheme's names carry no scheme)."""
    return f"{name}-{ratio:g}-{fold}.npz" if scheme == "per-sample" else f"{name}-{scheme}-{ratio:g}-{fold}.npz"


def decided_f1(truth, scores, val_proba, selection, policy, missing_share) -> float:
    """Test micro-F1 of ``policy`` fitted on all validation rows (observed labels; ``select`` also reads the
    training rows' diagnosed ``missing_share``)."""
    decision = fit_policy(policy, val_proba, selection.observed, missing_share=missing_share,
                          q=selection.q_policy if policy in SOFT_POLICIES else None)
    return float(evaluate(truth, scores, threshold=decision.thresholds(scores), ranking=False)["micro_f1"])


def run_fold(dataset, source: str, ratio: float, fold_id: int, folds: int, seed: int, epochs: int,
             dump: Path | None = None, scheme: str = "per-sample", auto_params: dict | None = None) -> dict:
    pool = list(CANDIDATE_POOL) + (list(PARTIAL_POOL) if scheme == "partial" else [])
    method = resolve_method("auto").with_params({"candidates": pool, "seeds": 1})  # each baseline as trained alone
    split = kfold_indices(dataset.labels, n_splits=folds, stratified=True, random_state=seed)[fold_id]
    fold = make_fold(dataset, split, ratio=ratio, scheme=scheme, seed=seed, hiding=hiding_seed(seed, fold_id, ratio))
    config = TrainConfig(seed=seed, num_threads=1, epochs=epochs, log=False, progress=False)
    started = time.perf_counter()
    selection = prepare_selection(fold, method, seed)
    results = train_candidates(fold, config, method, selection)
    train_s = time.perf_counter() - started
    share = fold_missing_share(fold)
    val = {n: np.asarray(r.val_proba, dtype=np.float64) for n, r in results.items()}
    test = {n: r.predict_proba(fold.test_inputs).astype(np.float64) for n, r in results.items()}
    started = time.perf_counter()
    # auto as shipped (its default candidates, seeds, combination and policy), or with --auto-param changes
    auto = fit_auto(fold, config, resolve_method("auto").with_params(auto_params or {}))
    auto_s = time.perf_counter() - started
    auto_test = auto.predict_proba(fold.test_inputs).astype(np.float64)
    if dump is not None:  # every candidate's validation and test probabilities, for analyses without retraining
        with atomic_open(dump / dump_name(Path(source).name, scheme, ratio, fold_id), "wb") as handle:
            np.savez_compressed(handle, **{f"val/{n}": v.astype(np.float32) for n, v in val.items()},
                                **{f"test/{n}": t.astype(np.float32) for n, t in test.items()},
                                **{"val/auto": auto.val_proba, "test/auto": auto_test.astype(np.float32)})
    scored = {n: score_entry(val[n], selection) for n in results}
    candidates = {}
    for n in results:
        candidates[n] = {"criteria": scored[n]["criteria"], "policy": scored[n]["policy"],
                         "map": float(evaluate(fold.test_labels, test[n])["map"]),
                         "micro_f1": decided_f1(fold.test_labels, test[n], val[n], selection, scored[n]["policy"],
                                                 share),
                         "policy_values": scored[n]["policy_values"],
                         "f1_policies": {p: decided_f1(fold.test_labels, test[n], val[n], selection, p, share)
                                         for p in POLICIES}}
    choices = {}

    def record(key: str, members: list[str], policy: str) -> None:
        scores = np.mean([test[m] for m in members], axis=0)
        val_avg = np.mean([val[m] for m in members], axis=0)
        choices[key] = {"members": members, "policy": policy,
                        "map": float(evaluate(fold.test_labels, scores)["map"]),
                        "micro_f1": decided_f1(fold.test_labels, scores, val_avg, selection, policy, share)}

    for criterion in CRITERIA:
        for combine in (1, 3):
            members, entry = choose(scored, val, criterion, combine, selection)
            record(f"{criterion}|{combine}", members, entry["policy"])
        ranked = sorted(scored, key=lambda n: -rank_key(scored[n]["criteria"][criterion]))
        for k in (2, 3):  # the best k averaged whatever the criterion says of the average
            average = np.mean([val[m] for m in ranked[:k]], axis=0)
            record(f"{criterion}|force{k}", ranked[:k], score_entry(average, selection)["policy"])
    everything = list(scored)
    record("all", everything, score_entry(np.mean([val[m] for m in everything], axis=0), selection)["policy"])
    average_test = np.mean([test[m] for m in everything], axis=0)
    average_val = np.mean([val[m] for m in everything], axis=0)
    choices["all"]["f1_policies"] = {p: decided_f1(fold.test_labels, average_test, average_val, selection, p, share)
                                     for p in POLICIES}
    choices["auto"] = {"members": auto.auto_choice["members"], "policy": auto.auto_choice["policy"],
                       "map": float(evaluate(fold.test_labels, auto_test)["map"]),
                       "micro_f1": float(evaluate(fold.test_labels, auto_test, ranking=False,
                                                  threshold=auto.decision_thresholds_for(auto_test))["micro_f1"]),
                       "seconds": auto_s,
                       "f1_policies": {p: decided_f1(fold.test_labels, auto_test, auto.val_proba.astype(np.float64),
                                                     selection, p, share) for p in POLICIES}}
    return {"dataset": source, "ratio": ratio, "scheme": scheme, "fold": fold_id, "candidates": candidates,
            "choices": choices,
            "train_s": train_s, "rehidden": int(selection.mask.sum()), "missing_share": share}


#: Criteria combined by their mean rank among the candidates (ties averaged), measured beside the single ones.
COMBINED: dict[str, tuple[str, ...]] = {
    "rank(pu-auc,rehide-auc)": ("pu-auc", "rehide-auc"),
    "rank(pu-auc,rehide-ap,lee-liu)": ("pu-auc", "rehide-ap", "lee-liu"),
    "rank(every criterion but observed-map)": ("pu-auc", "soft-map", "lee-liu", "rehide-ap", "rehide-auc"),
}


def combined_values(candidates: dict, parts: tuple[str, ...]) -> list[float]:
    """Mean rank (higher is better) of every candidate over the criteria ``parts``."""
    from scipy.stats import rankdata

    names = list(candidates)
    ranks = [rankdata(np.nan_to_num([candidates[n]["criteria"][p] for n in names], nan=-np.inf)) for p in parts]
    return list(np.mean(ranks, axis=0))


def single_choice(row: dict, values: list[float], metric: str) -> float:
    """Test ``metric`` of the candidate with the best ``values`` (first on ties)."""
    names = list(row["candidates"])
    best = max(range(len(names)), key=lambda i: (np.nan_to_num(values[i], nan=-np.inf), -i))
    return row["candidates"][names[best]][metric]


def combined_table(cells: dict) -> None:
    print("\n| combined criterion | τ mAP | τ micro-F1 | regret mAP | regret micro-F1 |")
    print("|---|---:|---:|---:|---:|")
    for label, parts in COMBINED.items():
        taus = {"map": [], "micro_f1": []}
        regrets = {"map": [], "micro_f1": []}
        for cell_rows in cells.values():
            cell_tau = {"map": [], "micro_f1": []}
            cell_regret = {"map": [], "micro_f1": []}
            for row in cell_rows:
                values = combined_values(row["candidates"], parts)
                for metric in taus:
                    truth = [c[metric] for c in row["candidates"].values()]
                    cell_tau[metric].append(kendall_tau(values, truth))
                    cell_regret[metric].append(max(truth) - single_choice(row, values, metric))
            for metric in taus:
                taus[metric].append(np.nanmean(cell_tau[metric]))
                regrets[metric].append(np.mean(cell_regret[metric]))
        print(f"| {label} | {np.nanmean(taus['map']):.3f} | {np.nanmean(taus['micro_f1']):.3f} | "
              f"{np.mean(regrets['map']):.4f} | {np.mean(regrets['micro_f1']):.4f} |")


def versus_best(cells: dict, key: str, label: str) -> None:
    """``key``'s choice (a key of each row's ``choices``) against the best single baseline, cell by cell."""
    print(f"\n{label} against the best single baseline (picked on the test folds, its policy chosen on its "
          "validation rows), mean over folds:")
    print("| data set | r | best baseline mAP | mAP | best baseline micro-F1 | micro-F1 | choices |")
    print("|---|---:|---|---:|---|---:|---|")
    wins = {"map": 0, "micro_f1": 0}
    regret = {"map": [], "micro_f1": []}
    for (name, ratio), cell_rows in sorted(cells.items()):
        out = [name, f"{ratio:g}"]
        for metric in ("map", "micro_f1"):
            means = {n: np.mean([r["candidates"][n][metric] for r in cell_rows]) for n in cell_rows[0]["candidates"]}
            best = max(means, key=means.get)
            mean = np.mean([r["choices"][key][metric] for r in cell_rows])
            wins[metric] += mean >= means[best]
            regret[metric] += [max(c[metric] for c in r["candidates"].values()) - r["choices"][key][metric]
                               for r in cell_rows]
            out += [f"{best} {means[best]:.4f}", f"{mean:.4f}"]
        chosen = [("+".join(r["choices"][key]["members"]) if len(r["choices"][key]["members"]) < 4 else "all")
                  + "/" + r["choices"][key]["policy"] for r in cell_rows]
        out.append(", ".join(chosen))
        print("| " + " | ".join(out) + " |")
    print(f"{label} >= best single baseline: mAP in {wins['map']} of {len(cells)} cells, micro-F1 in "
          f"{wins['micro_f1']} of {len(cells)}; mean regret per fold (best candidate of the fold − it): mAP "
          f"{np.mean(regret['map']):.4f}, micro-F1 {np.mean(regret['micro_f1']):.4f}")


def policy_table(rows: list[dict]) -> None:
    """How well each rule for a threshold policy does: test micro-F1 of the policy it picks, mean over candidates
    and folds, against the best policy picked on the test folds (per candidate and fold)."""
    if not all("f1_policies" in c for r in rows for c in r["candidates"].values()):
        return
    rules = {"lee-liu (cross-fitted)": None, **{f"always {p}": p for p in POLICIES}}
    print("\n| policy rule | micro-F1 | shortfall vs best policy of each candidate and fold |")
    print("|---|---:|---:|")
    for label, fixed in rules.items():
        got, short = [], []
        for r in rows:
            for c in r["candidates"].values():
                pick = fixed or max(BASE_POLICIES, key=lambda p: (np.nan_to_num(c["policy_values"][p], nan=-np.inf),
                                                                  -BASE_POLICIES.index(p)))
                got.append(c["f1_policies"][pick])
                short.append(max(c["f1_policies"].values()) - c["f1_policies"][pick])
        print(f"| {label} | {np.mean(got):.4f} | {np.mean(short):.4f} |")


def auto_policy_table(cells: dict) -> None:
    """auto's members (its bags, averaged) decided by each policy fitted on its validation rows: the cells where that
    matches or beats the best single baseline's micro-F1, and the mean regret (how auto's policy was chosen)."""
    if not all("f1_policies" in r["choices"]["auto"] for rows in cells.values() for r in rows):
        return
    print("\n| auto's members decided by | micro-F1 >= best single baseline | mean regret micro-F1 |")
    print("|---|---:|---:|")
    for policy in POLICIES:
        wins, regret = 0, []
        for cell_rows in cells.values():
            names = cell_rows[0]["candidates"]
            best = max(np.mean([r["candidates"][n]["micro_f1"] for r in cell_rows]) for n in names)
            got = [r["choices"]["auto"]["f1_policies"][policy] for r in cell_rows]
            wins += np.mean(got) >= best
            regret += [max(c["micro_f1"] for c in r["candidates"].values()) - g for r, g in zip(cell_rows, got)]
        print(f"| {policy} | {wins} of {len(cells)} | {np.mean(regret):.4f} |")


def summarise(rows: list[dict], default: str) -> None:
    cells = defaultdict(list)
    for row in rows:
        cells[(Path(row["dataset"]).name, row["ratio"])].append(row)
    print(f"{len(rows)} folds in {len(cells)} cells; candidates: {', '.join(rows[0]['candidates'])}")
    print("\n| criterion | τ mAP | τ micro-F1 | regret mAP | regret micro-F1 | regret mAP (avg) | "
          "regret micro-F1 (avg) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for criterion in CRITERIA:
        taus = {"map": [], "micro_f1": []}
        regrets = {(m, c): [] for m in ("map", "micro_f1") for c in (1, 3)}
        for cell_rows in cells.values():
            cell_tau = {"map": [], "micro_f1": []}
            cell_regret = {k: [] for k in regrets}
            for row in cell_rows:
                names = list(row["candidates"])
                values = [row["candidates"][n]["criteria"][criterion] for n in names]
                for metric in ("map", "micro_f1"):
                    truth = [row["candidates"][n][metric] for n in names]
                    cell_tau[metric].append(kendall_tau(values, truth))
                    for combine in (1, 3):
                        chosen = row["choices"][f"{criterion}|{combine}"][metric]
                        cell_regret[(metric, combine)].append(max(truth) - chosen)
            for metric in taus:
                taus[metric].append(np.nanmean(cell_tau[metric]) if np.isfinite(cell_tau[metric]).any() else np.nan)
            for key in regrets:
                regrets[key].append(np.mean(cell_regret[key]))
        print(f"| {criterion} | {np.nanmean(taus['map']):.3f} | {np.nanmean(taus['micro_f1']):.3f} | "
              f"{np.mean(regrets[('map', 1)]):.4f} | {np.mean(regrets[('micro_f1', 1)]):.4f} | "
              f"{np.mean(regrets[('map', 3)]):.4f} | {np.mean(regrets[('micro_f1', 3)]):.4f} |")

    combined_table(cells)
    policy_table(rows)
    for row in rows:  # auto's default: every candidate averaged, decided by DEFAULT_POLICY (fitted on all val rows)
        average = row["choices"]["all"]
        row["choices"]["default"] = {**average, "policy": DEFAULT_POLICY,
                                     "micro_f1": average["f1_policies"][DEFAULT_POLICY]}
    versus_best(cells, "default", f"every candidate averaged, policy {DEFAULT_POLICY} (auto's default before the "
                                  "second round; bench_auto_rules.py measures today's)")
    if all("auto" in r["choices"] for r in rows):
        versus_best(cells, "auto", "auto (mlml.auto.fit_auto with its defaults but for --auto-param)")
        print(f"auto's cost: {np.mean([r['choices']['auto']['seconds'] for r in rows]):.1f} s per fold")
        auto_policy_table(cells)
    versus_best(cells, "all", "the average of every candidate, policy chosen by Lee & Liu")
    versus_best(cells, f"{default}|3", f"choosing by {default} (average of up to 3 when the criterion says so), "
                                       "policy chosen by Lee & Liu")
    seconds = [r["train_s"] for r in rows]
    print(f"cost: {np.mean(seconds):.1f} s per fold to train the {len(rows[0]['candidates'])} candidates "
          "(one training each; choosing adds the criteria and policy fits only)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="yeast,scene,emotions")
    parser.add_argument("--ratios", default="0.5,0.75")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--scheme", default="per-sample", help="the simulation scheme (partial: --ratios are the "
                                                                "known proportions p; csl joins the pool)")
    parser.add_argument("--max-folds", type=int, help="run only the first k folds of the --folds split (time)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bench_auto.jsonl"))
    parser.add_argument("--criterion", default=DEFAULT_CRITERION)
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--dump", type=Path, help="save every candidate's validation and test probabilities here "
                                                  "(one .npz per fold) for analyses without retraining")
    parser.add_argument("--auto-param", action="append", default=[], metavar="KEY=VALUE",
                        help="train auto with this parameter changed (seeds=1, policy=calibrated, ...; repeatable; "
                             "use a fresh --cache)")
    args = parser.parse_args(argv)
    auto_params = {key: int(value) if value.isdigit() else value
                   for key, value in (item.split("=", 1) for item in args.auto_param)}
    warnings.simplefilter("ignore", UndefinedMetricWarning)
    rows = []
    if args.cache.exists():
        rows = cache_rows(args.cache)
    done = {(r["dataset"], r["ratio"], r["fold"]) for r in rows}
    wanted = []
    for name in args.datasets.split(","):
        path = shared_data() / "mulan" / name
        if not present(path, f"bench_auto {name}"):
            continue
        source = f"mulan:{path}"
        for ratio in (float(r) for r in args.ratios.split(",")):
            wanted += [(source, ratio, f) for f in range(min(args.folds, args.max_folds or args.folds))]
    if not args.summary_only:
        for source, ratio, f in wanted:
            if (source, ratio, f) in done:
                continue
            row = run_fold(load(source), source, ratio, f, args.folds, args.seed, args.epochs, args.dump, args.scheme,
                           auto_params)
            rows.append(row)
            with args.cache.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"{Path(source).name} r={ratio} fold {f}: {row['train_s']:.0f} s", flush=True)
    keep = {(s, r, f) for s, r, f in wanted}
    rows = [r for r in rows if (r["dataset"], r["ratio"], r["fold"]) in keep]
    if rows:
        summarise(rows, args.criterion)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
