"""``mlml train`` with no ``--method`` against the best method-policy pair of the development grid (issue 20).

The target: micro-F1 on the complete test labels within 0.01 of the cell's best method-policy pair in >= 8 of the
10 MULAN cells (yeast, scene, emotions, medical, enron at r = 0.5 and 0.75), and no collapsed fold.

Per cell and fold (4 folds, seed 0): the fold of the issue-16 grid (``benchmarks/grids/issue16.yaml``; the same
split, hidden positives and validation rows as every trial of that grid, from
:func:`mlml.experiments.trials.trial_fold`), then the steps of ``mlml train`` without ``--method`` and with its
other defaults (:mod:`mlml.cli.train`): the recommended method (``RECOMMENDED_METHOD``), the ``default`` recipe,
seed 0, the thread count it chooses, ``fit``, and the method's own policy (``--thresholds own``, fitted on the
validation rows by :func:`mlml.service.decide` as the command does: the decision posterior, and for ``select`` the
training rows' diagnosed missing share). The model's stored decision is scored on the test fold's complete labels.

The best pair of a cell: the highest mean micro-F1 over the folds of any (method, policy) of the issue-16 grid,
read from the stored target table of "Threshold policies: decisions under missing labels (issue 16)" in
``benchmarks/README.md`` (its best baseline with its best policy, and the best of our methods with its own
policy), and the default method under every policy in this run. That stored table does not list our methods
under the other policies, so the best pair read here can be below the grid's true best: a gap printed here is a
lower bound of the real one.

A fold is collapsed when its micro-F1 is below half the median of the cell's folds (the report's rule) or 0 (a
cell whose every fold predicts nothing right has a median of 0, which the report's rule cannot see).

"warned k/4": the folds where ``mlml train`` warns that the decision predicts fewer labels per validation row than
half the positives observed per training row (:func:`mlml.service.decision_shortfall`).

Last, the default method under every policy, per cell: which policy would have served each cell (post hoc on the
test folds: a record, not a choice).

Run: ``python benchmarks/bench_default.py`` (``--cells medical:0.75,...`` for a subset). About 40 trainings.
``--method auto`` trains another method instead, as ``mlml train --method auto`` does (whether ``auto`` should be
the default: benchmarks/README.md, "Fifth session").
Development: ``--grid benchmarks/grids/dev_policies.yaml --cells yeast:0.5,yeast:0.75 --ratios 0.5,0.75 --seed 1``
(other folds and hidden positives than the target grid; there the best pair is the default method's best policy).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, TRAINING_VARIANTS, present, shared_data, short_name  # noqa: E402

GRID = ROOT / "benchmarks" / "grids" / "issue16.yaml"
TABLE_HEADING = "## Threshold policies: decisions under missing labels (issue 16)"
_PAIR = re.compile(r"^(?P<name>\S+) \((?P<policy>[a-z]+)\) (?P<f1>[0-9.]+)")


def stored_best(readme: Path) -> dict[tuple[str, float], tuple[str, float]]:
    """(data set, ratio) -> (``method (policy)``, mean micro-F1) of the best pair of the stored issue-16 table:
    the better of its "best baseline (policy)" and "ours (own policy)" columns."""
    text = readme.read_text(encoding="utf-8")
    start = text.index(TABLE_HEADING)
    best = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(r"0\.\d+", cells[1]):
            continue
        pairs = [_PAIR.match(c) for c in cells[2:4]]
        if not all(pairs):
            continue
        top = max(pairs, key=lambda m: float(m["f1"]))
        best[(cells[0], float(cells[1]))] = (f"{top['name']} ({top['policy']})", float(top["f1"]))
    return best


def train_default(fold: Any, n_features: int, n_labels: int, variant: str = "default",
                  method_name: str | None = None) -> tuple[Any, str, int]:
    """``mlml train``'s default path on ``fold`` (see the module docstring), or ``mlml train --method
    method_name``'s: the trained result, the policy it decides with and the thread count."""
    from mlml._threads import auto_threads
    from mlml.auto import fit_auto, is_auto, resolve_method
    from mlml.methods import RECOMMENDED_METHOD
    from mlml.models.heads import count_parameters
    from mlml.service import apply_recipe, decide, default_setup
    from mlml.training import TrainConfig, fit
    from mlml.training.model import build_model

    method = resolve_method(method_name or RECOMMENDED_METHOD)
    method, settings = apply_recipe("default", method, {"mode": "frozen", "seed": 0, "device": "auto"})
    settings["log"] = False
    settings.update(TRAINING_VARIANTS[variant])
    if not is_auto(method):  # auto trains each candidate with its own set-up
        settings.update(default_setup(method, fold.inputs, settings))  # as `mlml train` does, after its flags
    config = TrainConfig.from_dict(settings)
    config.num_threads = auto_threads(count_parameters(build_model(config, n_features, n_labels)), config.batch_size)
    if is_auto(method):  # its candidates, its choice and its own policy (mlml.auto)
        result = fit_auto(fold, config, method)
        return result, result.decision["policy"], config.num_threads
    policy = method.threshold_policy
    result = fit(fold.train_inputs, fold.observed_train, method, config, validation=fold.validation)
    decide(result, fold, policy)  # what `mlml train` stores (select: the diagnosed missing share too)
    return result, policy, config.num_threads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", help="DATASET:RATIO,... (default: the 10 cells of the grid)")
    parser.add_argument("--folds", type=int, help="only the first N folds (default: the grid's 4)")
    parser.add_argument("--grid", type=Path, default=GRID,
                        help="the grid whose folds are used (default: issue16.yaml, the target cells)")
    parser.add_argument("--ratios", help="R,... instead of the grid's ratios")
    parser.add_argument("--seed", type=int, help="instead of the grid's first seed")
    parser.add_argument("--variant", choices=list(TRAINING_VARIANTS), default="default",
                        help="the training set-up: default (mlml train's), mlp (the MLP head, AdamW, on any inputs), "
                             "linear (linear head, AdamW), lbfgs (linear head, full-batch L-BFGS) or lbfgs-p3 (the "
                             "same, 3 rounds of patience)")
    parser.add_argument("--method", help="instead of the recommended method (e.g. auto, trained as `mlml train "
                                             "--method auto` does)")
    parser.add_argument("--val-rows", type=int,
                        help="keep only N of each fold's validation rows (seeded; the others unused): how the "
                             "policies fare with the validation rows of a small data set")
    parser.add_argument("--select", action="store_true",
                        help="also: the second round's rejected rule, a policy chosen per run by the expected F1 "
                             "under the soft truth (soft_truth_choice; not the select policy)")
    args = parser.parse_args()

    from mlml.evaluation import evaluate
    from mlml.experiments.config import load_config
    from mlml.experiments.measures import policy_metrics
    from mlml.experiments.trials import Trial, trial_fold
    from mlml.methods import RECOMMENDED_METHOD
    from mlml.service import decision_posterior, decision_shortfall, fold_missing_share

    warnings.simplefilter("ignore")
    if not present(shared_data() / "mulan", "MULAN data sets"):
        return
    grid = load_config(args.grid, methods=[RECOMMENDED_METHOD])
    grid.datasets = [s.replace("../shared/data", str(shared_data())) for s in grid.datasets]
    ratios = [float(r) for r in args.ratios.split(",")] if args.ratios else grid.ratios
    seed = grid.seeds[0] if args.seed is None else args.seed
    table: dict[str, dict[str, tuple[float, int]]] = {}  # policy -> cell -> (mean micro-F1, collapsed folds)
    # the stored table holds the target grid's cells only; on another grid (development) the best pair is the
    # default method's best policy in this run
    best = stored_best(ROOT / "benchmarks" / "README.md") if args.grid.resolve() == GRID else {}
    wanted = None if not args.cells else {(c.split(":")[0], float(c.split(":")[1])) for c in args.cells.split(",")}
    trained = args.method or RECOMMENDED_METHOD
    print(f"mlml train's default ({trained}, own policy; training set-up {args.variant}) on the "
          "issue-16 grid's folds; micro-F1 on complete test labels")
    print(f"{'cell':<16} {'default':>15} {'folds':<27} {'best pair (stored / this run)':<40} {'gap':>7}  within")
    within, cells, collapsed = 0, 0, 0
    for source in grid.datasets:
        name = short_name(source)
        for ratio in ratios:
            if wanted is not None and (name, ratio) not in wanted:
                continue
            started = time.perf_counter()
            f1, per_policy, selected, picks, warned, fit_seconds = [], {}, {}, [], 0, []
            for k in range(args.folds or grid.folds):
                fold = trial_fold(Trial(source, RECOMMENDED_METHOD, ratio, k, seed, "observed", ""), grid)
                if args.val_rows:  # development: a small data set's few validation rows, the rest left unused
                    fold = fewer_validation_rows(fold, args.val_rows, seed)
                fit_started = time.perf_counter()
                result, policy, _ = train_default(fold, fold.inputs.shape[1], fold.dataset.n_labels, args.variant,
                                                  args.method)
                fit_seconds.append(time.perf_counter() - fit_started)
                scores = result.predict_proba(fold.test_inputs)
                predicted, observed = decision_shortfall(result)
                warned += predicted < observed / 2  # `mlml train` warns (mlml.cli.train._warn_shortfall)
                f1.append(evaluate(fold.test_labels, scores, threshold=result.decision_thresholds_for(scores),
                                   ranking=False)["micro_f1"])
                fitted = policy_metrics(result, fold, scores, grid.policy_posterior, {},
                                        result.missing_share if result.missing_share is not None
                                        else fold_missing_share(fold))
                for p, d in fitted.items():
                    per_policy.setdefault(p, []).append(d["metrics"]["micro_f1"])
                if args.select:  # development: one policy per run, chosen on the validation rows
                    chosen = soft_truth_choice(result.val_proba, fold.observed_val, decision_posterior(fold))
                    selected.setdefault("selected", []).append(fitted[chosen]["metrics"]["micro_f1"])
                    picks.append(chosen)
            ours = float(np.mean(f1))
            n_collapsed = collapsed_folds(f1)
            for p, values in {**per_policy, **selected}.items():
                table.setdefault(p, {})[f"{name} {ratio}"] = (float(np.mean(values)), collapsed_folds(values))
            if args.select:
                print(f"  {name} {ratio}: selected {', '.join(picks)}")
            collapsed += n_collapsed
            run_best = max(per_policy.items(), key=lambda kv: np.mean(kv[1]))
            stored = best.get((name, ratio), ("-", float("nan")))
            top = max(stored[1] if stored[1] == stored[1] else -1.0, float(np.mean(run_best[1])))
            gap = ours - top
            ok = gap >= -0.01 and not n_collapsed
            within += ok
            cells += 1
            folds_text = " ".join(f"{v:.3f}" for v in f1)
            best_text = f"{stored[0]} {stored[1]:.3f} / {trained} ({run_best[0]}) {np.mean(run_best[1]):.3f}"
            print(f"{name + ' ' + str(ratio):<16} {policy:>7} {ours:.3f}{'' if not n_collapsed else ' C'} "
                  f"{folds_text:<27} {best_text:<40} {gap:>+7.3f}  {'yes' if ok else 'NO'} "
                  f"(warned {warned}/{len(f1)}; {time.perf_counter() - started:.0f} s; fit "
                  f"{np.mean(fit_seconds):.2f} s mean, {np.median(fit_seconds):.2f} median)", flush=True)
    print(f"within 0.01 of the best pair with no collapsed fold: {within} of {cells} cells (target >= 8 of 10); "
          f"collapsed folds: {collapsed}")
    print(f"\n{trained} under every policy (mean micro-F1 of the folds; C: a collapsed fold)")
    columns = list(next(iter(table.values()), {}))
    print(f"{'policy':<12} " + " ".join(f"{c:>15}" for c in columns) + f" {'mean':>7}  collapsed cells")
    for p, row in table.items():
        cells_of = [row[c] for c in columns]
        marks = [f"{m:.3f}{' C' if c else ''}" for m, c in cells_of]
        print(f"{p:<12} " + " ".join(f"{m:>15}" for m in marks)
              + f" {np.mean([m for m, _ in cells_of]):>7.3f}  {sum(c > 0 for _, c in cells_of)}")


def soft_truth_choice(val_proba: np.ndarray, observed: Any, q: np.ndarray, seed: int = 0) -> str:
    """The policy of the highest expected micro-F1 under the soft truth (observed positives 1, an observed zero
    its posterior ``q``) on the validation rows, cross-fitted: each policy fitted on one half of the rows and
    scored on the other, both ways."""
    from mlml.evaluation.policies import BASE_POLICIES, fit_policies, soft_truth
    from mlml.labels import to_dense

    y = to_dense(observed)
    s = np.asarray(val_proba, dtype=np.float64)
    known = y != -1
    truth = np.where(known, soft_truth(y, q), 0.0)
    order = np.random.default_rng(seed).permutation(len(y))
    halves = (order[: len(y) // 2], order[len(y) // 2 :])
    counts = {p: np.zeros(3) for p in BASE_POLICIES}
    for fit_rows, score_rows in (halves, halves[::-1]):
        for p, decision in fit_policies(BASE_POLICIES, s[fit_rows], y[fit_rows], q=q[fit_rows]).items():
            chosen = (s[score_rows] >= decision.thresholds(s[score_rows])) & known[score_rows]
            t = truth[score_rows]
            counts[p] += [(t * chosen).sum(), ((1 - t) * chosen).sum(), (t * ~chosen).sum()]
    f1 = {p: 2 * tp / max(2 * tp + fp + fn, 1e-12) for p, (tp, fp, fn) in counts.items()}
    return max(f1, key=f1.get)


def fewer_validation_rows(fold: Any, n: int, seed: int) -> Any:
    """``fold`` with ``n`` of its validation rows, drawn with ``seed`` (training and test rows unchanged)."""
    import dataclasses

    keep = np.sort(np.random.default_rng(seed).choice(len(fold.val), min(n, len(fold.val)), replace=False))
    return dataclasses.replace(fold, val=fold.val[keep], observed_val=fold.observed_val[keep],
                               hidden_val=fold.hidden_val[keep])


def collapsed_folds(f1: list[float]) -> int:
    """Folds whose micro-F1 is below half the median of the cell's folds (the report's rule), or 0 (nothing
    predicted right: every fold of a cell at 0 is a collapse the median rule cannot see)."""
    median = float(np.median(f1))
    return int(sum(v < median / 2 or v == 0.0 for v in f1))


if __name__ == "__main__":
    main()
