"""Hidden-positive detection by ``mlml.suggest``: ROC-AUC, AP and precision@k against known hidden positives.

* COCO seed folds, split 1 (by default), r = 0.5: the seed's own hidden positives, labels only.
  Target: ROC-AUC >= 0.93 from labels alone.
* MULAN yeast, scene, emotions, medical, enron: positives hidden with ``hide_positives`` (per-sample scheme,
  r = 0.5, seeded), labels only vs with features (``method="knn"``).

Scores are computed for every observed zero; the baseline row ("class-frequency") ranks each zero by its
class's observed rate. Run: ``python benchmarks/bench_suggest.py [--split 1] [--ratio 0.5] [--seed 0]
[--priors ...]``; ``--priors`` picks the labels-only priors scored on COCO (default: the four co-occurrence ones;
add ``denoising-mlp`` for the figures of benchmarks/README.md: it takes about a minute on a quiet 2-core machine and
several on a loaded one). Data: under ``$MLML_SHARED_DATA`` (default ``../shared/data``); an absent data
set is skipped with a message.

Two other parts, each run alone:

* ``--combination`` (issues 20 and 21): on the five MULAN sets, ``method="auto"`` (sources weighted on re-hidden
  positives) against each of its sources alone, Bayes' unit weights and cross-validated one-vs-rest logistic
  regression (cleanlab's recipe): precision of the top 100 and AP of the hidden positives, and the calibration
  (ECE, reliability table) of auto's scores.
* ``--shares`` (issue 21, third round): auto's re-hidden share, 0.5 against the estimated missing share (the
  default), each over ``--draws`` seeds of the re-hiding, on the hidings of ``--seeds`` (``--cache`` as above).
* ``--calibration`` (issue 20): on the five MULAN sets with positives hidden per sample at r = 0.25, 0.5, 0.75,
  the reliability of ``suggest``'s scores as the probability of a hidden positive before (``calibration="none"``:
  fitted on re-hidden positives) and after the default ``"missing-share"`` shift (and with the true missing share,
  to separate the estimate's error from the method's): ECE over 10 equal-mass bins of the observed zeros, the mean
  score against the share of hidden positives among the top 100, top 1,000 and all zeros; P@100 and AP before
  and after (the ranking is kept); the calibration's added time. Evidence: prior and neighbour vote
  (``--with-model``: out-of-fold model probabilities too, minutes a set). The alternatives measured beside it:
  ``--per-label`` (a shift per label from diagnose's per-label shares) and ``--isotonic`` (isotonic regression on
  re-hidden positives). ``--calibration-rows 100000``: the calibration's added time on synthetic rows.
* ``--scale 100000,1000000`` (issue 24): wall time, CPU time and peak RSS of ``suggest`` on synthetic rows x 100
  dense features x 100 labels (each case in a fresh process), beside the exact brute-force search on
  ``--baseline-rows`` rows measured in the same run. Run the million-row case once, under ``nice -n 10``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import present, shared_data
from sklearn.metrics import average_precision_score, roc_auc_score

from mlml.simulate import hide_positives
from mlml.suggest import missing_scores

MULAN = ("yeast", "scene", "emotions", "medical", "enron")
LABEL_PRIORS = ("pairwise-noisy-or", "pairwise-mean", "pairwise-max", "backoff")  # the default of --priors


def detection(hidden: np.ndarray, observed: np.ndarray, score: np.ndarray) -> dict[str, float]:
    zero = observed == 0
    truth, s = hidden[zero].astype(bool), score[zero]
    order = np.argsort(-s, kind="stable")
    out = {"auc": roc_auc_score(truth, s), "ap": average_precision_score(truth, s)}
    for k in (100, 1000):
        out[f"p@{k}"] = truth[order[:k]].mean()
    out["p@R"] = truth[order[: truth.sum()]].mean()  # R = number of hidden positives
    out["base_rate"] = truth.mean()
    return out


def line(name: str, m: dict[str, float], seconds: float) -> str:
    return (f"  {name:<28} AUC {m['auc']:.4f}  AP {m['ap']:.4f}  P@100 {m['p@100']:.3f}  P@1000 "
            f"{m['p@1000']:.3f}  P@R {m['p@R']:.3f}  ({seconds:.2f}s; base rate {m['base_rate']:.3f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=int, default=1)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=shared_data(), help="folder holding coco2017-seed-folds/, mulan/")
    parser.add_argument("--priors", default=",".join(LABEL_PRIORS),
                        help="labels-only priors scored on COCO (README: also denoising-mlp)")
    parser.add_argument("--combination", action="store_true",
                        help="only the issue-21 table: method auto against its own sources and cross-validated "
                             "one-vs-rest logistic regression, with the calibration (ECE) of its scores")
    parser.add_argument("--calibration", action="store_true",
                        help="only the issue-20 calibration table (r = --ratios, per-sample hiding)")
    parser.add_argument("--ratios", default="0.25,0.5,0.75", help="hiding ratios of the calibration table")
    parser.add_argument("--seeds", default=None, help="combination table: hiding seeds, comma-separated")
    parser.add_argument("--sets", default=None,
                        help="combination and calibration tables: MULAN sets, comma-separated (default all)")
    parser.add_argument("--shares", action="store_true",
                        help="only auto's re-hidden share: 0.5 against the estimated missing share (--seeds, --sets)")
    parser.add_argument("--draws", type=int, default=3, help="--shares: seeds of the re-hiding per fit")
    parser.add_argument("--cache", type=Path, default=None,
                        help="combination table: folder keeping the out-of-fold probabilities between runs")
    parser.add_argument("--with-model", action="store_true",
                        help="calibration table: out-of-fold model probabilities as evidence too (slow)")
    parser.add_argument("--isotonic", action="store_true",
                        help="calibration table: also an isotonic fit on re-hidden positives")
    parser.add_argument("--per-label", action="store_true",
                        help="calibration table: also a shift per label (diagnose's per-label shares, shrunk)")
    parser.add_argument("--calibration-rows", type=int, default=None,
                        help="only the calibration's cost on this many synthetic rows (beside the scorer's fit)")
    parser.add_argument("--scale", default=None,
                        help="only the scale run: comma-separated row counts of synthetic data (e.g. 100000,1000000)")
    parser.add_argument("--algorithm", default="auto", help="neighbour search of the scale run")
    parser.add_argument("--features", type=int, default=100, help="dense features of the scale run's data")
    parser.add_argument("--labels", type=int, default=100, help="labels of the scale run's data")
    parser.add_argument("--baseline-rows", type=int, default=20000,
                        help="rows of the scale run's exact brute-force baseline, measured in the same run")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # N,ALGORITHM: one case, in a child
    args = parser.parse_args(argv)
    if args.shares:
        share_table(args)
        return 0
    if args.combination:
        combination(args)
        return 0
    if args.calibration_rows:
        calibration_cost(args.calibration_rows, args.seed, args.features, args.labels)
        return 0
    if args.calibration:
        calibration_table(args)
        return 0
    if args.one:
        n, algorithm = args.one.split(",")
        return scale_one(int(n), algorithm, args.seed, args.features, args.labels)
    if args.scale:
        scale(args, [int(float(n)) for n in args.scale.split(",")])
        return 0
    priors = [p for p in args.priors.split(",") if p]
    if present(args.data / "coco2017-seed-folds", "COCO seed folds"):
        coco(args, priors)
    mulan(args)
    return 0


def coco(args: argparse.Namespace, priors: list[str]) -> None:
    from mlml.data.seedfolds import load_seed_split

    split = load_seed_split(args.data / "coco2017-seed-folds", args.split, args.ratio)
    observed, hidden = split.observed, split.hidden
    print(f"COCO seed folds, split {args.split}, r = {args.ratio}: {observed.shape[0]} training rows, "
          f"{int(hidden.sum())} hidden positives (labels only)")
    freq = np.broadcast_to(observed.mean(axis=0), observed.shape)
    print(line("class-frequency", detection(hidden, observed, freq), 0.0))
    best = 0.0
    for prior in priors:
        t = time.perf_counter()
        score = missing_scores(observed, method="labels", prior=prior)["score"]
        m = detection(hidden, observed, score)
        best = max(best, m["auc"])
        print(line(f"labels ({prior})", m, time.perf_counter() - t))
    print(f"  best labels-only AUC {best:.4f}; target >= 0.93: {'met' if best >= 0.93 else 'NOT met'}")


def mulan(args: argparse.Namespace) -> None:
    print(f"\nMULAN, per-sample hiding r = {args.ratio}, seed {args.seed}: labels only vs features (knn)")
    from mlml.data import load

    for name in MULAN:
        if not present(args.data / "mulan" / name, f" {name}"):
            continue
        ds = load(f"mulan:{args.data / 'mulan' / name}")
        labels = ds.labels.toarray() if sp.issparse(ds.labels) else np.asarray(ds.labels)
        obs, hid = hide_positives(labels, args.ratio, random_state=args.seed)
        obs, hid = np.asarray(obs), np.asarray(hid).astype(bool)
        print(f" {name} ({obs.shape[0]} x {obs.shape[1]} labels, {int(hid.sum())} hidden)")
        print(line("class-frequency", detection(hid, obs, np.broadcast_to(obs.mean(0), obs.shape)), 0.0))
        for method in ("labels", "knn"):
            t = time.perf_counter()
            score = missing_scores(obs, features=ds.features, method=method)["score"]
            print(line(method, detection(hid, obs, score), time.perf_counter() - t))


def synthetic(n: int, n_features: int = 100, n_labels: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic data with real structure, built a block at a time: 500 clusters in a 10-dimensional latent
    space, seen through a random linear map to ``n_features`` dense float32 features plus noise; each cluster
    carries 2-5 labels at rate 0.7 and every label has a background rate of 0.005, so labels co-occur and follow
    the features. Returns complete labels (int8) and features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(500, 10)) * 2.0
    projection = rng.normal(size=(10, n_features)).astype(np.float32)
    profile = np.full((500, n_labels), 0.005)
    for k in range(500):
        profile[k, rng.choice(n_labels, rng.integers(2, 6), replace=False)] = 0.7
    x = np.empty((n, n_features), dtype=np.float32)
    y = np.empty((n, n_labels), dtype=np.int8)
    for start in range(0, n, 100_000):
        b = min(100_000, n - start)
        cluster = rng.integers(0, 500, b)
        latent = (centres[cluster] + rng.normal(size=(b, 10))).astype(np.float32)
        x[start : start + b] = latent @ projection + rng.normal(size=(b, n_features)).astype(np.float32)
        y[start : start + b] = rng.random((b, n_labels)) < profile[cluster]
    return y, x


def scale_one(n: int, algorithm: str, seed: int, n_features: int = 100, n_labels: int = 100) -> int:
    """One scale case in this (child) process: synthetic data, per-sample hiding r = 0.5, ``suggest`` top 100;
    prints a line of figures (wall time of suggest, this process's peak RSS, detection of the hidden positives)."""
    import json
    import resource

    from mlml.suggest import suggest

    y, x = synthetic(n, n_features, n_labels, seed=seed)
    observed, hidden = hide_positives(y, 0.5, random_state=seed)
    del y
    t, cpu = time.perf_counter(), time.process_time()
    rows = suggest(observed, features=x, top_k=100, algorithm=algorithm, random_state=seed)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    hits = [bool(hidden[int(r["id"]), int(r["label"])]) for r in rows]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(json.dumps({"rows": n, "algorithm": algorithm, "seconds": seconds, "cpu": cpu, "peak_gib": peak,
                      "p@100": float(np.mean(hits)), "base_rate": float(hidden.sum() / (observed == 0).sum())}))
    return 0


def scale(args: argparse.Namespace, sizes: list[int]) -> None:
    """Issue 24: ``suggest`` (method auto, features, no model) on synthetic rows x 100 dense features x 100
    labels, each case in a fresh process; the exact brute-force search (the old behaviour) measured on
    ``--baseline-rows`` rows in the same run and extrapolated (quadratic in the rows) as the baseline."""
    import json
    import os
    import subprocess

    cases = [(args.baseline_rows, "brute")] + [(n, args.algorithm) for n in sizes]
    print(f"suggest on synthetic data x {args.features} features x {args.labels} labels (2 cores; load "
          f"{os.getloadavg()[0]:.1f})")
    results = {}
    for n, algorithm in cases:
        child = [sys.executable, __file__, "--one", f"{n},{algorithm}", "--seed", str(args.seed), "--features",
                 str(args.features), "--labels", str(args.labels)]
        out = subprocess.run(child, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"  {n:>9,} rows  {algorithm:<6} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results[(n, algorithm)] = r
        print(f"  {n:>9,} rows  {r['algorithm']:<6} {r['seconds']:8.1f} s wall ({r['cpu']:.0f} s CPU)  "
              f"peak RSS {r['peak_gib']:.2f} GiB  "
              f"P@100 {r['p@100']:.2f} (base rate {r['base_rate']:.3f})  load {os.getloadavg()[0]:.1f}", flush=True)
    base = results.get((args.baseline_rows, "brute"))
    if base:
        for n in sizes:
            r = results.get((n, args.algorithm))
            if r:
                projected = base["seconds"] * (n / args.baseline_rows) ** 2
                print(f"  {n:>9,} rows: exact brute force projected {projected:,.0f} s; measured {r['seconds']:.0f} "
                      f"s ({projected / r['seconds']:.0f}x faster); target <= 600 s and 4 GiB: "
                      f"{'met' if r['seconds'] <= 600 and r['peak_gib'] <= 4 else 'NOT met'}")


def cleanlab_probabilities(observed: np.ndarray, features, seed: int) -> np.ndarray:
    """The usual label-issue recipe (cleanlab's ``get_cross_validated_multilabel_pred_probs``): out-of-fold
    probabilities of a one-vs-rest logistic regression on standardised features, 5 shuffled folds, observed
    zeros taken as negatives. Written with scikit-learn alone, independently of ``mlml.evidence``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = features.toarray() if sp.issparse(features) else np.asarray(features)
    keep = observed.sum(axis=0) > 0  # a label never observed positive has no classifier: its class rate
    out = np.full(observed.shape, 1e-3)
    clf = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=500)))
    cv = KFold(5, shuffle=True, random_state=seed)
    out[:, keep] = cross_val_predict(clf, x, observed[:, keep], cv=cv, method="predict_proba")
    return out


def calibration(hidden: np.ndarray, score: np.ndarray, bins: int = 10) -> tuple[float, list[tuple]]:
    """Expected calibration error of ``score`` as the probability of a hidden positive (equal-width bins over
    [0, 1]) and the reliability table ``(bin low, bin high, n, mean score, share hidden)``."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
    ece, table = 0.0, []
    for b in range(bins):
        sel = which == b
        if sel.any():
            gap = abs(score[sel].mean() - hidden[sel].mean())
            ece += sel.mean() * gap
            table.append((edges[b], edges[b + 1], int(sel.sum()), score[sel].mean(), hidden[sel].mean()))
    return ece, table


def describe(scorer) -> str:
    return scorer.combination.describe() if scorer.combination is not None else f"fell back to {scorer.method}"


def combination(args: argparse.Namespace) -> None:
    """Issue 21: ``method="auto"`` against each of its sources alone and against cross-validated one-vs-rest
    logistic regression, top-100 precision and AP of the hidden positives at r = args.ratio, for each hiding seed
    of ``--seeds`` (default ``--seed``); beside it auto re-hiding a fixed half of the observed positives (the
    third round's comparison); issue 20: the calibration of auto's scores (ECE, reliability) on the same hiding.
    ``--cache DIR`` keeps the two sets of out-of-fold probabilities (minutes a set) between runs."""
    from mlml.evidence import out_of_fold_probabilities
    from mlml.suggest import fit_scorer

    print(f"MULAN, per-sample hiding r = {args.ratio}, seeds {args.seeds or args.seed}: precision of the top 100 / "
          "AP of hidden positives among observed zeros")
    head = ["prior", "vote", "model (oof)", "knn (Bayes)", "cleanlab LR", "auto (share 0.5)", "auto"]
    print(f"{'data set':<15}" + "".join(f"{h:>18}" for h in head) + "   auto >= each source & LR   ECE")
    reliability, met = {}, []
    for name, seed, ds, obs, hid in _hidden_cells(args):
        t0 = time.perf_counter()
        model, lr = _out_of_fold(args.cache, name, seed, obs, ds.features, out_of_fold_probabilities)
        before = fit_scorer(obs, features=ds.features, probabilities=model, rehide_share=0.5, random_state=seed)
        scorer = fit_scorer(obs, features=ds.features, probabilities=model, random_state=seed)
        values = scorer.evidence.block(np.arange(obs.shape[0]))
        full = {k: values[k] for k in ("prior", "vote", "model")}
        full["score"] = scorer.block(np.arange(obs.shape[0]))["score"]
        full["before"] = before.block(np.arange(obs.shape[0]))["score"]
        knn = missing_scores(obs, features=ds.features, probabilities=model, method="knn")["score"]
        scores = [full["prior"], full["vote"], full["model"], knn, lr, full["before"], full["score"]]
        figures = [detection(hid, obs, s) for s in scores]
        auto, sources = figures[-1], figures[:3] + [figures[4]]
        ok = all(auto["p@100"] >= f["p@100"] and auto["ap"] >= f["ap"] for f in sources)
        short = [f"{head[j]}'s {k}" for j, f in zip((0, 1, 2, 4), sources) for k in ("p@100", "ap")
                 if auto[k] < f[k]]
        met.append(ok)
        zero = obs == 0
        ece, table = calibration(hid[zero], full["score"][zero])
        reliability[f"{name} seed {seed}"] = table
        cells = "".join(f"{f['p@100']:>10.3f} / {f['ap']:.3f}" for f in figures)
        print(f"{name:<9}seed {seed}{cells}   {'yes' if ok else 'NO (' + ', '.join(short) + ')'}   {ece:.4f}"
              f"   [{time.perf_counter() - t0:.0f}s; {describe(scorer)}; before: {describe(before)}]",
              flush=True)
    print(f"\nauto >= each of its sources and cleanlab's recipe on both measures in {sum(met)} of {len(met)} cells")
    print("\nreliability of auto's scores (bins of the score; share of hidden positives in each):")
    for name, table in reliability.items():
        print(f" {name}: " + "  ".join(f"[{lo:.1f},{hi:.1f}) n={n} q={q:.3f} hit={h:.3f}"
                                       for lo, hi, n, q, h in table))


def share_table(args: argparse.Namespace) -> None:
    """Issue 21, third round: the share re-hidden by ``method="auto"`` -- 0.5 (before) against the data's own
    missing share as ``diagnose`` estimates it (the default now) -- each fitted with ``--draws`` seeds of the
    re-hiding, on the hidings of ``--seeds`` (the development cells: 1,2): mean P@100 / AP of the hidden positives
    and the range of AP over the draws. The ranking does not depend on the calibration, which is left off."""
    from mlml.evidence import out_of_fold_probabilities
    from mlml.suggest import fit_scorer, missing_rehide_share
    from mlml.suggest_calibration import estimate_missing_share

    print(f"auto's re-hidden share, per-sample hiding r = {args.ratio}, hiding seeds {args.seeds or args.seed}, "
          f"{args.draws} draws of the re-hiding each: mean P@100 / AP (AP range)")
    for name, seed, ds, obs, hid in _hidden_cells(args):
        model, _ = _out_of_fold(args.cache, name, seed, obs, ds.features, out_of_fold_probabilities)
        estimate = estimate_missing_share(obs, ds.features, random_state=seed)
        cells = []
        for share in (0.5, missing_rehide_share(obs, estimate)):
            found = np.array([[detection(hid, obs, fit_scorer(
                obs, features=ds.features, probabilities=model, rehide_share=share, calibration="none",
                random_state=1000 + draw).block(np.arange(obs.shape[0]))["score"])[k] for k in ("p@100", "ap")]
                for draw in range(args.draws)])
            cells.append(f"share {share:.3f}: {found[:, 0].mean():.3f} / {found[:, 1].mean():.3f} "
                         f"({found[:, 1].min():.3f}-{found[:, 1].max():.3f})")
        print(f"{name:<9}seed {seed}  estimated missing share {estimate:.3f}   " + "   ".join(cells), flush=True)


def _hidden_cells(args: argparse.Namespace):
    """``(name, seed, data set, observed, hidden)`` for each MULAN set of ``--sets`` present and each hiding seed of
    ``--seeds`` (per-sample hiding at ``--ratio``)."""
    from mlml.data import load

    for name in [x for x in (args.sets or ",".join(MULAN)).split(",") if x]:
        if not present(args.data / "mulan" / name, f" {name}"):
            continue
        ds = load(f"mulan:{args.data / 'mulan' / name}")
        labels = ds.labels.toarray() if sp.issparse(ds.labels) else np.asarray(ds.labels)
        for seed in [int(x) for x in (args.seeds or str(args.seed)).split(",")]:
            obs, hid = hide_positives(labels, args.ratio, random_state=seed)
            yield name, seed, ds, np.asarray(obs), np.asarray(hid).astype(bool)


def _out_of_fold(cache, name: str, seed: int, observed: np.ndarray, features, oof) -> tuple[np.ndarray, np.ndarray]:
    """The model evidence (``mlml.evidence.out_of_fold_probabilities``, 4 folds) and cleanlab's recipe (5 folds)
    for one hiding, read from / written to ``cache/{name}_{seed}.npz`` when ``cache`` is given (with the observed
    labels, checked on reading)."""
    path = None if cache is None else Path(cache) / f"{name}_{seed}.npz"
    if path is not None and path.exists():
        kept = np.load(path)
        if np.array_equal(kept["obs"], observed):
            return kept["model"], kept["lr"]
    model = oof(observed, features, random_state=seed)
    lr = cleanlab_probabilities(observed, features, seed)
    if path is not None:
        from mlml._io import atomic_open

        with atomic_open(path, "wb") as handle:  # a killed run leaves no half-written file to read back
            np.savez(handle, obs=observed, model=model, lr=lr)
    return model, lr


def equal_mass_ece(hidden: np.ndarray, score: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` bins of equal size (the entries sorted by score)."""
    order = np.argsort(score, kind="stable")
    return float(sum(part.size / score.size * abs(score[part].mean() - hidden[part].mean())
                     for part in np.array_split(order, bins) if part.size))


def reliability_row(hidden: np.ndarray, score: np.ndarray) -> dict[str, float]:
    order = np.argsort(-score, kind="stable")
    out = {"ece": equal_mass_ece(hidden, score), "q_all": score.mean(), "hit_all": hidden.mean()}
    for k in (100, 1000):
        out[f"q@{k}"], out[f"hit@{k}"] = score[order[:k]].mean(), hidden[order[:k]].mean()
    return out


def calibration_table(args: argparse.Namespace) -> None:
    """Issue 20: the scores of ``suggest`` (method auto) as probabilities of a missing positive, before and after
    the missing-share calibration, on simulated per-sample hiding."""
    import os

    from mlml.data import load
    from mlml.evidence import out_of_fold_probabilities
    from mlml.suggest import fit_scorer
    from mlml.suggest_calibration import calibrate, solve_shift
    from mlml.weights.neighbors import sigmoid

    ratios = [float(r) for r in args.ratios.split(",")]
    print(f"suggest's scores as P(missing positive): per-sample hiding, seed {args.seed}, evidence prior + vote"
          f"{' + out-of-fold model' if args.with_model else ''}; load {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    print("ECE: 10 equal-mass bins of the observed zeros; q/hit: mean score / share of hidden positives among the "
          "top 100, top 1,000 and all zeros")
    head = (f"{'set':<9}{'r':>5}{'m true':>8}{'m est':>7} | {'ECE before':>10}{'after':>7}{'true m':>7} | "
            f"{'top100 q/hit before':>20}{'after':>12} | {'top1000 before':>15}{'after':>12} | "
            f"{'all zeros before':>17}{'after':>12} | {'P@100':>6}{'AP':>7} same | added s / fit s")
    print(head)
    eces: dict[str, list[float]] = {"before": [], "after": [], "true": []}
    per_labels: list[str] = []
    isotonic: list[str] = []
    for name in [x for x in (args.sets or ",".join(MULAN)).split(",") if x]:
        if not present(args.data / "mulan" / name, f" {name}"):
            continue
        ds = load(f"mulan:{args.data / 'mulan' / name}")
        labels = ds.labels.toarray() if sp.issparse(ds.labels) else np.asarray(ds.labels)
        for ratio in ratios:
            obs, hid = hide_positives(labels, ratio, random_state=args.seed)
            obs, hid = np.asarray(obs), np.asarray(hid).astype(bool)
            model = out_of_fold_probabilities(obs, ds.features, random_state=args.seed) if args.with_model else None
            t = time.perf_counter()
            scorer = fit_scorer(obs, features=ds.features, probabilities=model, calibration="none",
                                random_state=args.seed)
            fit_seconds = time.perf_counter() - t
            values = scorer.evidence.block(np.arange(obs.shape[0]))
            zero = obs == 0
            z, truth = scorer.logits(values)[zero], hid[zero]
            t = time.perf_counter()
            m_est, _ = calibrate(scorer, features=ds.features, random_state=args.seed)
            added = time.perf_counter() - t
            before, after = sigmoid(z), sigmoid(z + scorer.shift)
            true_m = hid.sum() / (hid.sum() + (obs == 1).sum())
            oracle = sigmoid(z + solve_shift(z, float(hid.sum())))
            rows = [reliability_row(truth, s) for s in (before, after, oracle)]
            if args.isotonic:
                iso = rehidden_isotonic(scorer, obs, args.seed)(z)
                iso_rank = detection(hid, obs, _full(zero, iso))
                isotonic.append(f"{name:<9}{ratio:>5.2f}  ECE {reliability_row(truth, iso)['ece']:.4f}  mean "
                                f"{iso.mean():.4f} (hidden {truth.mean():.4f})  P@100 {iso_rank['p@100']:.3f}  AP "
                                f"{iso_rank['ap']:.3f}")
            if args.per_label:
                per = per_label_scores(obs, ds.features, scorer.logits(values), scorer.shift, m_est, args.seed)
                per_rank = detection(hid, obs, np.where(zero, per, -np.inf))
                per_labels.append(f"{name:<9}{ratio:>5.2f}  ECE {reliability_row(truth, per[zero])['ece']:.4f}  "
                                  f"P@100 {per_rank['p@100']:.3f}  AP {per_rank['ap']:.3f}")
            ranks = [detection(hid, obs, np.where(zero, s_full, -np.inf)) for s_full in
                     (_full(zero, before), _full(zero, after))]
            same = all(abs(ranks[0][k] - ranks[1][k]) < 1e-12 for k in ("p@100", "ap"))
            for key, row in zip(("before", "after", "true"), rows):
                eces[key].append(row["ece"])
            b, a = rows[0], rows[1]
            print(f"{name:<9}{ratio:>5.2f}{true_m:>8.3f}{m_est:>7.3f} | {b['ece']:>10.4f}{a['ece']:>7.4f}"
                  f"{rows[2]['ece']:>7.4f} | {b['q@100']:>9.3f}/{b['hit@100']:.3f}{a['q@100']:>6.3f}/"
                  f"{a['hit@100']:.3f} | {b['q@1000']:>8.3f}/{b['hit@1000']:.3f}{a['q@1000']:>6.3f}/"
                  f"{a['hit@1000']:.3f} | {b['q_all']:>10.4f}/{b['hit_all']:.4f} {a['q_all']:>6.4f}/"
                  f"{a['hit_all']:.4f} | {ranks[1]['p@100']:>6.3f}{ranks[1]['ap']:>7.3f} {'yes' if same else 'NO'}"
                  f"  | {added:.1f} / {fit_seconds:.1f}", flush=True)
    if eces["before"]:
        print(f"mean ECE over {len(eces['before'])} cells: before {np.mean(eces['before']):.4f}, after "
              f"{np.mean(eces['after']):.4f} (with the true missing share {np.mean(eces['true']):.4f}); after < "
              f"before in {sum(a < b for a, b in zip(eces['after'], eces['before']))} cells")
    if isotonic:
        print("isotonic regression of 'is re-hidden' on the scores' logits (a further half of the observed positives "
              "hidden, uniform scheme), applied to the observed zeros (ties: the ranking changes a little):")
        print("\n".join(isotonic))
    if per_labels:
        print(f"a shift per label instead (diagnose's per-label shares shrunk to the overall one with "
              f"{PSEUDO_POSITIVES} pseudo-positives; the ranking changes):")
        print("\n".join(per_labels))


def calibration_cost(n: int, seed: int, n_features: int, n_labels: int) -> None:
    """The calibration's added time on synthetic data (per-sample hiding r = 0.5): the scorer's fit (prior and
    neighbour vote, weights on re-hidden positives) and then ``calibrate`` (diagnose on at most 20,000 rows, the
    shift solved on a row sample), in the same process."""
    import os

    from mlml.suggest import fit_scorer
    from mlml.suggest_calibration import calibrate

    y, x = synthetic(n, n_features, n_labels, seed=seed)
    observed, hidden = hide_positives(y, 0.5, random_state=seed)
    t = time.perf_counter()
    scorer = fit_scorer(observed, features=x, calibration="none", random_state=seed)
    fit = time.perf_counter() - t
    t = time.perf_counter()
    share, target = calibrate(scorer, features=x, random_state=seed)
    added = time.perf_counter() - t
    truth = hidden.sum() / (hidden.sum() + (observed == 1).sum())
    print(f"{n:,} rows x {n_features} features x {n_labels} labels: scorer fit {fit:.1f} s, calibration +{added:.1f} "
          f"s ({100 * added / fit:.0f} %); missing share {share:.3f} (true {truth:.3f}), target {target:,.0f} "
          f"(hidden {int(hidden.sum()):,}); load {os.getloadavg()[0]:.1f}")


def rehidden_isotonic(scorer, observed: np.ndarray, seed: int):
    """The alternative of calibrating on re-hidden positives by isotonic regression: hide a further half of the
    observed positives (uniform), recompute the sources from those labels, fit "is re-hidden" on the scorer's
    logits over the zeros of that matrix; returns the fitted map of logits to probabilities."""
    from sklearn.isotonic import IsotonicRegression

    from mlml.evidence import build_evidence

    ev = scorer.evidence
    rehidden, mask = hide_positives(observed, 0.5, scheme="uniform", random_state=seed + 1)
    rehidden, mask = np.asarray(rehidden), np.asarray(mask, dtype=bool)
    again = build_evidence(rehidden, prior=ev.prior, prior_smoothing=ev.prior_smoothing, neighbours=ev.neighbours,
                           probabilities=ev.probabilities, vote_smoothing=ev.vote_smoothing)
    z = scorer.logits(again.block(np.arange(observed.shape[0])))
    zero = rehidden == 0
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(z[zero], mask[zero])
    return fitted.predict


PSEUDO_POSITIVES = 20


def per_label_scores(observed: np.ndarray, features, z: np.ndarray, shift: float, share: float,
                     seed: int) -> np.ndarray:
    """The alternative measured beside the default: one shift per label, each label's target count from
    diagnose's per-label share shrunk towards the overall ``share`` (``(P_c m_c + k m) / (P_c + k)``, ``k`` =
    PSEUDO_POSITIVES); labels without a usable estimate (or a target below one positive) keep the overall shift."""
    import warnings

    from mlml.diagnose import diagnose
    from mlml.suggest_calibration import solve_shift
    from mlml.weights.neighbors import sigmoid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = diagnose(observed, features=features, n_bootstrap=0, random_state=seed)
    out = sigmoid(z + shift)
    if not np.isfinite(share):
        return out
    for c, label in enumerate(found.per_label):
        positives, zeros = int((observed[:, c] == 1).sum()), observed[:, c] == 0
        own = label.missing_share if np.isfinite(label.missing_share) else share
        m = min((positives * own + PSEUDO_POSITIVES * share) / (positives + PSEUDO_POSITIVES), 0.95)
        target = positives * m / (1.0 - m)
        if target >= 1.0 and target < zeros.sum():
            out[zeros, c] = sigmoid(z[zeros, c] + solve_shift(z[zeros, c], target))
    return out


def _full(zero: np.ndarray, score: np.ndarray) -> np.ndarray:
    out = np.full(zero.shape, -np.inf)
    out[zero] = score
    return out


if __name__ == "__main__":
    sys.exit(main())
