"""Building the network a :class:`~mlml.training.TrainConfig` describes, and where it runs."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from mlml.exceptions import MLMLError
from mlml.models.backbones import create_backbone
from mlml.models.classifier import FeatureClassifier, ImageClassifier
from mlml.models.heads import create_head
from mlml.training.config import TrainConfig
from mlml.training.distributed import DistInfo


def build_model(config: TrainConfig, in_features: int | None, n_labels: int, *, pretrained: bool = True) -> nn.Module:
    """Frozen mode: standardisation + ``config.head`` on ``in_features`` features. Finetune mode: ``config.backbone``
    (pretrained weights unless ``pretrained=False``, e.g. when a saved state is loaded next) + standardisation +
    head. Both return logits. Initialisation draws from torch's global RNG."""
    if config.mode == "frozen":
        head = create_head(config.head, in_features, n_labels, **config.head_kwargs)
        return FeatureClassifier(head, standardize=config.standardize)
    backbone = create_backbone(
        config.backbone, weights=config.backbone_weights if pretrained else None, pretrained=pretrained
    )
    head = create_head(config.head, backbone.features_dim, n_labels, **config.head_kwargs)
    return ImageClassifier(
        backbone, head, trainable_blocks=config.finetune_last_k_blocks, standardize=config.standardize
    )


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def resolve_device(
    device: str | torch.device, info: DistInfo, *, name: str = "The 'device' parameter"
) -> torch.device:
    """``auto``: this process's CUDA device when there is one, else the CPU; anything else as given, if this
    machine has it (``name`` is what an error calls the setting, e.g. ``--device``)."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if info.enabled else 0)
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise MLMLError(f"{name} is {device!r}, which is not a device: expected auto, cpu, cuda, "
                        "cuda:N or mps.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MLMLError(f"{name} is {device!r}, but CUDA is not available here.")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise MLMLError(f"{name} is {device!r}, but this machine has {torch.cuda.device_count()} "
                        f"CUDA device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1}).")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise MLMLError(f"{name} is {device!r}, but MPS is not available here.")
    return resolved


def check_features(features: Any, n_features: int | None = None, *, name: str = "features") -> Any:
    """A 2-D numeric feature matrix (dense, memory-mapped or CSR) with finite values; returns it (CSR as CSR).

    Raises:
        MLMLError: another shape or dtype, another width than ``n_features``, or NaN/inf values (naming rows).
    """
    if sp.issparse(features):
        features = sp.csr_matrix(features)
        values = features.data
        bad_rows = np.unique(np.repeat(np.arange(features.shape[0]), np.diff(features.indptr))[~np.isfinite(values)])
    else:
        features = features if isinstance(features, np.ndarray) else np.asarray(features)
        if features.ndim != 2 or not np.issubdtype(features.dtype, np.number):
            raise MLMLError(
                f"'{name}' must be a 2-D numeric array (n_samples, n_features). Got shape {features.shape}, "
                f"dtype {features.dtype}."
            )
        bad_rows = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if n_features is not None and features.shape[1] != n_features:
        raise MLMLError(f"'{name}' has {features.shape[1]} columns; the model was trained on {n_features}.")
    if len(bad_rows):
        raise MLMLError(
            f"'{name}' has {len(bad_rows)} row(s) with NaN/inf values (first: {bad_rows[:5].tolist()}); "
            "images that failed to load give NaN rows: drop those samples first."
        )
    return features


def check_inputs(inputs: Any, config: TrainConfig, n_rows: int, name: str) -> Any:
    """What :func:`mlml.training.fit` trains on, checked: features (frozen mode) or image paths (fine-tuning), one
    per labelled row."""
    if config.mode == "frozen":
        inputs = check_features(inputs, name=name)
        got = inputs.shape[0]
    else:
        if isinstance(inputs, (np.ndarray, Tensor)) and inputs.dtype != object or sp.issparse(inputs):
            raise MLMLError("TrainConfig(mode='finetune') trains on images: pass a sequence of image paths.")
        inputs = [str(p) for p in inputs]
        got = len(inputs)
    if got != n_rows:
        raise MLMLError(f"'{name}' has {got} rows but its labels have {n_rows}.")
    return inputs


def rows_tensor(features: Any, rows: np.ndarray | slice | None = None) -> Tensor:
    """A dense float32 tensor of ``features[rows]`` (CSR rows are densified, memory-mapped rows read)."""
    part = features if rows is None else features[rows]
    if sp.issparse(part):
        part = part.toarray()
    return torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))
