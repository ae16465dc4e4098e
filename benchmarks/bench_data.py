"""Loading time of every real data set here, against a baseline measured in the same run.

Run from the repository root: ``python benchmarks/bench_data.py [--repeat 2] [--check-images]``. Data: under
``$MLML_SHARED_DATA`` (default ``../shared/data``); an absent data set is skipped with a message.

* MULAN sets (../shared/data/mulan): ``load("mulan:DIR")`` vs the bare liac-arff parse of the same files;
* built-in yeast (river wheel): ``load("yeast")`` vs the ARFF yeast;
* COCO seed labels (../shared/data/coco2017-seed-folds/labels.csv.gz, 33,052 x 80) through ``csv:``, vs
  ``numpy.loadtxt`` of the same file; and the same labels written as a COCO instances JSON (one annotation per
  positive), through ``coco:``, vs ``json.load`` alone;
* openclipart (/usr/share/openclipart): ``load("openclipart")`` vs reading every SVG and PNG's bytes;
  with ``--check-images``, ``check_images`` over its PNGs;
* 4-fold splits of the COCO labels: iterative stratification vs plain shuffled k-fold.

Each figure is the best of ``--repeat`` runs (seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import shared_data

SHARED = shared_data()


def best_of(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def row(name: str, seconds: float, baseline_name: str, baseline: float, shape: str) -> None:
    ratio = seconds / baseline if baseline > 0 else float("nan")
    print(f"{name:<28} {seconds:8.3f} s   {baseline_name:<26} {baseline:8.3f} s   x{ratio:5.2f}   {shape}")


def bare_arff(paths: list[Path]) -> None:
    import arff

    for path in paths:
        with open(path, encoding="utf-8") as handle:
            sparse = "{" in handle.read(1 << 16).split("@data", 1)[-1]
        with open(path, encoding="utf-8") as handle:
            arff.load(handle, return_type=arff.COO if sparse else arff.DENSE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--check-images", action="store_true", help="also time check_images on openclipart")
    args = parser.parse_args(argv)

    from mlml.data import load
    from mlml.data.splits import kfold_indices, stratification_error

    print(f"{'data set':<28} {'mlml':>10}     {'baseline':<26} {'':>10}     ratio   shape")
    mulan = SHARED / "mulan"
    for name in ("yeast", "scene", "emotions", "medical", "enron"):
        folder = mulan / name
        if not folder.is_dir():
            print(f"{name:<28} skipped: {folder} absent")
            continue
        seconds, data = best_of(lambda folder=folder: load(f"mulan:{folder}"), args.repeat)
        baseline, _ = best_of(lambda folder=folder: bare_arff(sorted(folder.glob("*.arff"))), args.repeat)
        row(
            f"mulan:{name}",
            seconds,
            "liac-arff parse only",
            baseline,
            f"{data.n_samples}x{data.n_features}x{data.n_labels}",
        )
    if (mulan / "yeast").is_dir():
        seconds, data = best_of(lambda: load("yeast"), args.repeat)
        baseline, _ = best_of(lambda: load(f"mulan:{mulan / 'yeast'}"), args.repeat)
        row(
            "yeast (river wheel)",
            seconds,
            "mulan:yeast (ARFF)",
            baseline,
            f"{data.n_samples}x{data.n_features}x{data.n_labels}",
        )

    coco_labels = SHARED / "coco2017-seed-folds" / "labels.csv.gz"
    if coco_labels.is_file():
        seconds, data = best_of(lambda: load(f"csv:{coco_labels}"), args.repeat)
        baseline, _ = best_of(
            lambda: np.loadtxt(coco_labels, delimiter=",", skiprows=1, usecols=range(1, 81), dtype=np.int8),
            args.repeat,
        )
        row("csv:coco seed labels", seconds, "numpy.loadtxt", baseline, f"{data.n_samples}x{data.n_labels}")
        labels = np.asarray(data.labels)
        with tempfile.TemporaryDirectory() as tmp:
            rows, cols = np.nonzero(labels)
            document = {
                "images": [{"id": int(i), "file_name": f"{int(i):012d}.jpg"} for i in data.ids],
                "annotations": [
                    {"id": k, "image_id": int(data.ids[r]), "category_id": int(c) + 1, "iscrowd": 0}
                    for k, (r, c) in enumerate(zip(rows, cols))
                ],
                "categories": [{"id": j + 1, "name": n} for j, n in enumerate(data.label_names)],
            }
            path = Path(tmp) / "instances.json"
            path.write_text(json.dumps(document), encoding="utf-8")

            def json_only() -> None:
                with open(path, encoding="utf-8") as handle:
                    json.load(handle)

            seconds, coco = best_of(lambda: load(f"coco:{path}"), args.repeat)
            baseline, _ = best_of(json_only, args.repeat)
            row(
                "coco: (same labels as JSON)",
                seconds,
                "json.load only",
                baseline,
                f"{coco.n_samples}x{coco.n_labels}",
            )
            assert np.array_equal(coco.labels, labels)
        seconds, strat = best_of(lambda: kfold_indices(labels, 4, random_state=0), 1)
        baseline, plain = best_of(lambda: kfold_indices(labels, 4, stratified=False, random_state=0), 1)
        row(
            "4-fold stratified (coco)",
            seconds,
            "plain shuffled KFold",
            baseline,
            f"{labels.shape[0]}x{labels.shape[1]}",
        )
        print(
            f"{'':<28} stratification error (mean |p_fold - p_all|): stratified "
            f"{stratification_error(labels, strat):.2e}, plain {stratification_error(labels, plain):.2e}"
        )
    else:
        print(f"coco seed labels skipped: {coco_labels} absent")

    clipart = Path("/usr/share/openclipart")
    if (clipart / "svg").is_dir():

        def read_bytes() -> int:
            total = 0
            for folder in ("svg", "png"):
                for path in (clipart / folder).rglob("*"):
                    if path.is_file():
                        total += len(path.read_bytes())
            return total

        seconds, data = best_of(lambda: load("openclipart"), args.repeat)
        baseline, size = best_of(read_bytes, args.repeat)
        row(
            "openclipart",
            seconds,
            f"read all bytes ({size / 2**20:.0f} MiB)",
            baseline,
            f"{data.n_samples}x{data.n_labels} images",
        )
        if args.check_images:
            from mlml.data.images import check_images

            seconds, (good, bad) = best_of(lambda: check_images(data.image_paths, skip_bad=True), 1)
            full, _ = best_of(lambda: check_images(data.image_paths, skip_bad=True, decode=True), 1)
            row(
                "check_images (default)",
                seconds,
                "decoding every PNG",
                full,
                f"{len(good)} good, {len(bad)} bad",
            )
    else:
        print("openclipart skipped: apt-get install openclipart-png openclipart-svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
