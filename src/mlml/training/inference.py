"""Batched inference of a model: its logits, or ``σ(logits)``, over feature rows or image files, in row order.

Frozen mode reads feature rows (a tensor, an array or CSR) ``batch_size`` at a time; finetune mode decodes image
files through a ``DataLoader``. The model is put in eval mode for the call and left as it was. Used by the training
loop (validation and test scores) and by :class:`mlml.training.TrainedModel` (``predict_proba``, ``predict_topk``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mlml.models.images import ImageFiles, collate_images
from mlml.training.model import rows_tensor, unwrap


@torch.no_grad()
def predict_inputs(
    model: nn.Module,
    inputs: Any,
    mode: str,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
    autocast: Callable[[], AbstractContextManager[Any]] | None = None,
) -> np.ndarray:
    """``σ(model(inputs))`` in batches, as float32 ``(n_samples, n_labels)``; the model is put in eval mode for
    the call and left as it was. Frozen mode reads feature rows (a tensor, an array or CSR), finetune mode decodes
    image files (``num_workers`` processes)."""
    chunks = [torch.sigmoid(logits).cpu()
              for logits in iter_logits(model, inputs, mode, device, batch_size, num_workers, autocast)]
    n_labels = unwrap(model).head.n_labels
    return torch.cat(chunks).numpy() if chunks else np.empty((0, n_labels), dtype=np.float32)


@torch.no_grad()
def iter_logits(
    model: nn.Module,
    inputs: Any,
    mode: str,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
    autocast: Callable[[], AbstractContextManager[Any]] | None = None,
) -> Iterator[Tensor]:
    """The model's float32 logits, one ``(batch, n_labels)`` tensor per batch of ``batch_size`` rows, in row order
    (what :func:`predict_inputs` and :meth:`TrainedModel.predict_topk` read; nothing of size ``n x n_labels``)."""
    net = unwrap(model)
    was_training = net.training
    net.eval()
    context = autocast or nullcontext
    try:
        if mode == "frozen":
            n = inputs.shape[0]
            for start in range(0, n, batch_size):
                part = inputs[start : start + batch_size]
                x = part if isinstance(part, Tensor) else rows_tensor(part)
                with context():
                    yield net(x.to(device)).float()
        else:
            files = ImageFiles(list(inputs), net.backbone.preprocess, target_size=net.backbone.preprocess.resize_to)
            loader = torch.utils.data.DataLoader(
                files, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_images
            )
            for images, _, _ in loader:
                with context():
                    yield net(images.to(device)).float()
    finally:
        net.train(was_training)
