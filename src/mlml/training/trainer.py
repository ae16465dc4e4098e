"""The training loop: frozen features -> head, or images -> backbone + head, with any registered method.

:func:`fit` does, in order:

1. carve ``val_fraction`` of the rows out for validation (seeded; the rest are the *training rows*);
2. fit the method's weight estimator on the training rows' OBSERVED labels (never on validation or test
   rows; the hidden-entry mask only reaches an oracle method's estimator), and compute ω, ω̄ per training
   row once (adaptive estimators are refreshed after each epoch from the probabilities the model gave each
   training row when that epoch trained on it -- the logits the loss already computed, so no extra pass);
3. build the model (feature standardisation fitted on the training rows + head, or backbone + head), the
   criterion (``method.make_loss()``, ``setup(observed_train)``) and the optimiser (model parameters and the
   criterion's own, e.g. ROLE's label estimates);
4. train epoch by epoch: shuffled batches (a seeded ``torch.Generator`` per epoch), targets 1 for observed
   positives and 0 otherwise, ``known`` False on ``-1`` entries (which carry zero weight);
5. score the validation rows on their OBSERVED labels (mean AP; BCE reported too), keep the best epoch,
   stop after ``patience`` epochs without improvement (or train ``fixed_epochs``), checkpoint every epoch.

Determinism: everything random derives from ``config.seed``. The global torch RNG (initialisation, dropout)
is seeded inside :func:`torch.random.fork_rng`, so the caller's global state is left as it was.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from mlml._io import atomic_open, write_text
from mlml._threads import torch_threads
from mlml.exceptions import MLMLError
from mlml.labels import check_labels, to_dense
from mlml.methods import METHODS, Method
from mlml.models.backbones import create_backbone
from mlml.models.classifier import FeatureClassifier, ImageClassifier
from mlml.models.heads import create_head
from mlml.models.images import ImageFiles, collate_images
from mlml.training.config import TrainConfig
from mlml.training.distributed import DistInfo, average_gradients, barrier, dist_info, local_share
from mlml.training.metrics import observed_bce, observed_map

logger = logging.getLogger("mlml.training")

CHECKPOINT_NAME = "checkpoint.pt"
#: Fine-tuning fits its feature standardisation on at most this many training images.
STANDARDIZE_SAMPLE = 1024
MODEL_FORMAT = 1


# --------------------------------------------------------------------------------------------- the model
@dataclass
class TrainedModel:
    """A trained model and what is needed to use it: ``predict_proba``, ``save``; see :func:`load_model`.

    Attributes:
        model: the ``nn.Module`` (logits out): :class:`FeatureClassifier` or :class:`ImageClassifier`.
        config: the :class:`TrainConfig` it was trained with.
        in_features: feature width (frozen) or the backbone's ``features_dim`` (finetune).
        n_labels: number of outputs.
        method: the method's name.
        label_names: class names (None when unknown).
        thresholds: per-class decision thresholds (None: 0.5 everywhere), e.g. tuned by the caller.
    """

    model: nn.Module
    config: TrainConfig
    in_features: int
    n_labels: int
    method: str = ""
    label_names: list[str] | None = None
    thresholds: list[float] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def predict_proba(self, inputs: Any, *, batch_size: int = 1024, num_workers: int = 0) -> np.ndarray:
        """Probabilities ``(n_samples, n_labels)`` float32 for features ``(n, in_features)`` (dense or CSR;
        frozen mode) or a sequence of image paths (finetune mode)."""
        if self.config.mode == "frozen":
            if not (isinstance(inputs, np.ndarray) or sp.issparse(inputs)):
                inputs = np.asarray(inputs, dtype=np.float32)
            _check_features(inputs, self.in_features)
        return _predict(self.model, inputs, self.config.mode, self.device, batch_size, num_workers)

    def predict(self, inputs: Any, **kwargs: Any) -> np.ndarray:
        """Binary predictions ``(n_samples, n_labels)`` int8 at ``thresholds`` (0.5 where None)."""
        proba = self.predict_proba(inputs, **kwargs)
        threshold = np.asarray(self.thresholds if self.thresholds is not None else 0.5, dtype=np.float32)
        return (proba >= threshold).astype(np.int8)

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``model.pt`` (weights, incl. the feature standardisation) and ``model.json`` (config,
        label names, thresholds, sizes, versions) to ``out_dir`` (atomically); returns the folder."""
        import mlml

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in _unwrap(self.model).state_dict().items()}
        _atomic_torch_save(state, out / "model.pt")
        meta = {
            "format": MODEL_FORMAT,
            "mode": self.config.mode,
            "in_features": self.in_features,
            "n_labels": self.n_labels,
            "method": self.method,
            "label_names": self.label_names,
            "thresholds": self.thresholds,
            "config": self.config.to_dict(),
            "versions": {"mlml": mlml.__version__, "torch": torch.__version__},
        }
        meta.update(self._extra_meta())
        write_text(out / "model.json", json.dumps(meta, indent=1, default=_json_default))
        return out

    def _extra_meta(self) -> dict[str, Any]:
        return {}


@dataclass
class TrainResult(TrainedModel):
    """What :func:`fit` returns: the trained model plus its training record.

    Attributes:
        history: one dict per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_score`` (mAP on the
            observed validation labels), ``lr``, ``seconds``.
        best_epoch: the epoch whose weights the model holds (0-based).
        val_index: positions (rows of ``features``) of the validation rows, ``(n_val,)``.
        val_proba: the final model's probabilities on them ``(n_val, n_labels)``, for threshold tuning.
        train_index: positions of the training rows.
        estimator: the fitted weight estimator.
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    val_index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    val_proba: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32))
    train_index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    estimator: Any = None

    def _extra_meta(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "history": self.history}


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> TrainedModel:
    """Load a model folder written by :meth:`TrainedModel.save`.

    Raises:
        MLMLError: the folder or one of its files is missing or of another format.
    """
    folder = Path(path)
    meta_file, weights_file = folder / "model.json", folder / "model.pt"
    for f in (meta_file, weights_file):
        if not f.is_file():
            raise MLMLError(f"{f} not found: {folder} is not a model folder written by mlml train.")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise MLMLError(f"{meta_file}: not a readable model description: {reason}") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise MLMLError(f"{meta_file}: model format {found!r}; this mlml reads {MODEL_FORMAT}.")
    missing = [key for key in ("config", "in_features", "n_labels") if key not in meta]
    if missing or not isinstance(meta["config"], dict):
        raise MLMLError(f"{meta_file}: the model description lacks {', '.join(missing) or 'a config mapping'}; "
                        "it was not written by mlml train, or was edited.")
    config = TrainConfig.from_dict({**meta["config"], "augment": None})
    model = _build_model(config, meta["in_features"], meta["n_labels"], pretrained=False)
    try:
        model.load_state_dict(torch.load(weights_file, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 -- truncated or corrupt file (pickle, zip, EOF), wrong architecture
        raise MLMLError(f"{weights_file}: cannot load the model weights ({type(exc).__name__}): "
                        f"{str(exc).splitlines()[0] if str(exc) else 'corrupt file'}") from None
    model.to(_resolve_device(device, DistInfo())).eval()
    return TrainedModel(
        model=model,
        config=config,
        in_features=meta["in_features"],
        n_labels=meta["n_labels"],
        method=meta.get("method", ""),
        label_names=meta.get("label_names"),
        thresholds=meta.get("thresholds"),
    )


def _build_model(
    config: TrainConfig, in_features: int, n_labels: int, *, pretrained: bool = True
) -> nn.Module:
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


# ------------------------------------------------------------------------------------------- helpers
def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def _resolve_device(device: str | torch.device, info: DistInfo) -> torch.device:
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if info.enabled else 0)
        return torch.device("cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MLMLError(f"The 'device' parameter is {device!r}, but CUDA is not available here.")
    return resolved


def _check_features(features: Any, n_features: int | None = None) -> None:
    if sp.issparse(features):
        shape = features.shape
    else:
        arr = np.asarray(features) if not isinstance(features, np.ndarray) else features
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise MLMLError(
                f"'features' must be a 2-D numeric array (n_samples, n_features). Got shape {arr.shape}, "
                f"dtype {arr.dtype}."
            )
        shape = arr.shape
    if n_features is not None and shape[1] != n_features:
        raise MLMLError(f"'features' has {shape[1]} columns; the model was trained on {n_features}.")


def _rows_tensor(features: Any, rows: np.ndarray | None = None) -> Tensor:
    """Dense float32 tensor of ``features[rows]`` (CSR rows are densified)."""
    part = features if rows is None else features[rows]
    if sp.issparse(part):
        part = part.toarray()
    return torch.from_numpy(np.ascontiguousarray(part, dtype=np.float32))


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _hflip(image: Any) -> Any:
    if torch.rand(()) < 0.5:
        from PIL import Image

        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


@torch.no_grad()
def _predict(
    model: nn.Module,
    inputs: Any,
    mode: str,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
    autocast: Any = None,
) -> np.ndarray:
    net = _unwrap(model)
    was_training = net.training
    net.eval()
    chunks = []
    ctx = autocast or nullcontext
    try:
        if mode == "frozen":
            n = inputs.shape[0]
            dense = isinstance(inputs, Tensor)
            for start in range(0, n, batch_size):
                x = (
                    inputs[start : start + batch_size]
                    if dense
                    else _rows_tensor(inputs[start : start + batch_size])
                )
                with ctx():
                    chunks.append(torch.sigmoid(net(x.to(device)).float()).cpu())
        else:
            files = ImageFiles(
                list(inputs), net.backbone.preprocess, target_size=net.backbone.preprocess.resize_to
            )
            loader = torch.utils.data.DataLoader(
                files, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_images
            )
            for images, _, _ in loader:
                with ctx():
                    chunks.append(torch.sigmoid(net(images.to(device)).float()).cpu())
    finally:
        net.train(was_training)
    return torch.cat(chunks).numpy() if chunks else np.empty((0, net.head.n_labels), dtype=np.float32)


def _fingerprint(
    config: TrainConfig, method: Method, features: Any, observed: np.ndarray, info: DistInfo
) -> str:
    digest = hashlib.sha256(
        json.dumps(
            {"config": config.semantic_dict(), "method": method.name, "world": info.world_size},
            sort_keys=True,
            default=_json_default,
        ).encode()
    )
    digest.update(np.ascontiguousarray(observed).tobytes())
    if config.mode == "finetune":
        digest.update("\n".join(map(str, features)).encode())
    elif sp.issparse(features):
        for part in (features.data, features.indices, features.indptr):
            digest.update(np.ascontiguousarray(part).tobytes())
    else:
        digest.update(np.ascontiguousarray(features, dtype=np.float32).tobytes())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ fit
def fit(
    features: Any,
    observed: Any,
    method: Method | str,
    config: TrainConfig | None = None,
    *,
    hidden: Any = None,
    estimator: Any = None,
    index: np.ndarray | None = None,
    callbacks: Sequence[Callable[[dict[str, float]], None]] = (),
) -> TrainResult:
    """Train a model on ``features`` and ``observed`` labels with ``method`` (see the module docstring).

    Args:
        features: frozen mode: float ``(n_samples, n_features)``, dense or CSR (densified per batch).
            Finetune mode: a sequence of ``n_samples`` image paths.
        observed: int8 ``(n_samples, n_labels)``: 1 observed positive, 0 negative/unobserved, -1 unknown.
        method: a :class:`~mlml.methods.Method` or its name in ``METHODS`` (``bce``, ``cb-wce``, ...).
        config: a :class:`TrainConfig` (default: ``TrainConfig()``).
        hidden: bool ``(n_samples, n_labels)``: the hidden entries; passed to the estimator only when
            ``method.oracle`` (IM-WCE) -- nothing else looks at it.
        estimator: an already fitted weight estimator to use instead of fitting ``method``'s estimator.
        index: ``(n_samples,)`` ids of the rows in the caller's numbering; adaptive estimators receive the
            training rows' ids in ``update(probabilities, index=...)`` (default: positions in ``features``).
        callbacks: called with each epoch's history record (after the checkpoint is written).

    Returns:
        A :class:`TrainResult`.

    Raises:
        MLMLError: inconsistent shapes, NaN features, an oracle method without ``hidden``, a checkpoint of
            another run in ``config.checkpoint_dir``.
    """
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise MLMLError(f"The 'config' parameter of fit must be a TrainConfig. Got {type(config).__name__}.")
    if isinstance(method, str):
        method = METHODS.get(method)
    observed = to_dense(check_labels(observed, name="observed")).astype(np.int8, copy=False)
    n, n_labels = observed.shape
    if config.mode == "frozen":
        _check_features(features)
        if not sp.issparse(features):
            features = np.asarray(features)
            if not np.isfinite(features).all():
                bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
                raise MLMLError(
                    f"'features' has {bad.size} row(s) with NaN/inf values (first: {bad[:5].tolist()}); "
                    "images that failed to load give NaN rows: drop those samples first."
                )
        else:
            features = sp.csr_matrix(features)
    else:
        if isinstance(features, (np.ndarray, Tensor)) or sp.issparse(features):
            raise MLMLError("TrainConfig(mode='finetune') trains on images: pass a sequence of image paths.")
        features = [str(p) for p in features]
    got = features.shape[0] if config.mode == "frozen" else len(features)
    if got != n:
        raise MLMLError(f"'features' has {got} rows but 'observed' has {n}.")
    if hidden is not None:
        hidden = to_dense(check_labels(hidden, name="hidden", allow_unknown=False)).astype(bool)
        if hidden.shape != observed.shape:
            raise MLMLError(f"'hidden' has shape {hidden.shape}; 'observed' has shape {observed.shape}.")
    if index is None:
        index = np.arange(n)
    index = np.asarray(index)
    if index.shape != (n,):
        raise MLMLError(f"'index' must have shape ({n},). Got {index.shape}.")
    info = dist_info()
    device = _resolve_device(config.device, info)
    cuda_devices = [device] if device.type == "cuda" else []
    with torch_threads(config.num_threads), torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(config.seed)
        trainer = _Trainer(features, observed, method, config, hidden, estimator, index, info, device)
        return trainer.run(callbacks)


class _Trainer:
    def __init__(self, features, observed, method, config, hidden, estimator, index, info, device):
        self.features, self.observed, self.method, self.config = features, observed, method, config
        self.info, self.device, self.index = info, device, index
        self.frozen = config.mode == "frozen"
        n, self.n_labels = observed.shape

        # 1. the validation carve (seeded, from the training rows)
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5EED]))
        perm = rng.permutation(n)
        n_val = 0 if config.val_fraction == 0 else max(1, int(round(config.val_fraction * n)))
        if n - n_val < 1:
            raise MLMLError(f"val_fraction={config.val_fraction} leaves no training rows out of {n}.")
        self.val_idx = np.sort(perm[:n_val])
        self.train_idx = np.sort(perm[n_val:])
        self.obs_train = np.ascontiguousarray(observed[self.train_idx])
        self.obs_val = np.ascontiguousarray(observed[self.val_idx])
        self.hidden_train = hidden[self.train_idx] if (hidden is not None and method.oracle) else None

        # 2. the weight estimator, fitted on the training rows' observed labels only
        self.x_train_raw = self._rows(self.train_idx)
        if estimator is None:
            estimator = method.make_estimator()
            if (method.oracle or getattr(estimator, "needs_hidden", False)) and self.hidden_train is None:
                raise MLMLError(
                    f"The method {method.name!r} is an oracle (its estimator {method.estimator!r} reads the "
                    "hidden-entry mask): pass fit(..., hidden=mask)."
                )
            estimator.fit(self.obs_train, **self._estimator_inputs(estimator))
        self.estimator = estimator
        self.adaptive = getattr(estimator, "adaptive", False)
        self.targets = torch.from_numpy((self.obs_train == 1).astype(np.float32)).to(device)
        self.known = torch.from_numpy(self.obs_train != -1).to(device)
        self._refresh_weights()
        # an adaptive estimator's evidence: σ(logits) of each training row from the epoch's own forward pass
        self.epoch_proba = torch.zeros(self.targets.shape, device=device) if self.adaptive else None

        # 3. model, criterion, optimiser, schedule
        in_features = features.shape[1] if self.frozen else None
        self.model = _build_model(config, in_features, self.n_labels)
        if config.standardize:
            self.model.standardize.fit(self.x_train_raw if self.frozen else self._initial_features(device))
        self.in_features = in_features if self.frozen else self.model.backbone.features_dim
        self.model.to(device)
        if self.frozen:
            self.x_train = (
                self.x_train_raw
                if sp.issparse(self.x_train_raw)
                else _rows_tensor(self.x_train_raw).to(device)
            )
            self.x_val = self._rows(self.val_idx)
            if not sp.issparse(self.x_val):
                self.x_val = _rows_tensor(self.x_val).to(device)
        else:
            self.x_val = [features[i] for i in self.val_idx]
        self.net: nn.Module = self.model
        if info.enabled:
            if device.type == "cuda" and not self.frozen:  # batch statistics over the global batch
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.criterion = method.make_loss().to(device)
        self.criterion.setup(self.obs_train)
        self.criterion.to(device)
        self.optimizer = self._make_optimizer()
        self.steps_per_epoch = math.ceil(len(self.train_idx) / config.batch_size)
        total = config.epochs * self.steps_per_epoch
        if config.lr_schedule == "cosine":
            lam = lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))  # noqa: E731
        else:
            lam = lambda step: 1.0  # noqa: E731
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lam)
        self.use_amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.augment = _hflip if config.augment == "hflip" else config.augment
        self.val_key = config.val_metric
        if (
            n_val
            and self.val_key == "map"
            and np.isnan(observed_map(np.zeros(self.obs_val.shape), self.obs_val))
        ):
            warnings.warn(
                "No class has both an observed positive and negative among the validation rows; "
                "model selection uses the validation loss instead of mAP.",
                stacklevel=3,
            )
            self.val_key = "loss"

    # -- data
    def _rows(self, rows: np.ndarray) -> Any:
        if self.frozen:
            return self.features[rows]
        return [self.features[i] for i in rows]

    def _estimator_inputs(self, estimator: Any) -> dict[str, Any]:
        return {
            "features": (
                self.x_train_raw if getattr(estimator, "uses_features", False) and self.frozen else None
            ),
            "hidden": self.hidden_train,
        }

    def _refresh_weights(self) -> None:
        pos, neg = self.estimator.transform(self.obs_train, **self._estimator_inputs(self.estimator))
        self.pos = torch.as_tensor(np.asarray(pos, dtype=np.float32)).to(self.device)
        self.neg = torch.as_tensor(np.asarray(neg, dtype=np.float32)).to(self.device)

    def _autocast(self):
        if self.use_amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return nullcontext()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        lr = cfg.learning_rate
        if self.frozen:
            groups = [{"params": [p for p in self.model.parameters() if p.requires_grad], "lr": lr}]
        else:
            groups = [{"params": [p for p in self.model.head.parameters() if p.requires_grad], "lr": lr}]
            backbone = [p for p in self.model.backbone.parameters() if p.requires_grad]
            if backbone:
                groups.append({"params": backbone, "lr": lr * cfg.backbone_lr_scale})
        extra = [p for p in self.criterion.parameters() if p.requires_grad]
        if extra:  # a loss's own parameters (ROLE's label estimates): its lr multiplier, no weight decay
            scale = float(getattr(self.criterion, "lr_multiplier", 1.0))
            groups.append({"params": extra, "lr": lr * scale, "weight_decay": 0.0})
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=lr, weight_decay=cfg.weight_decay, foreach=True)
        if cfg.optimizer == "adadelta":  # Keras' defaults (the seed): rho 0.95, epsilon 1e-7
            return torch.optim.Adadelta(groups, lr=lr, rho=0.95, eps=1e-7, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(
            groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=cfg.weight_decay
        )

    def _initial_features(self, device: torch.device) -> np.ndarray:
        """The pretrained backbone's features of up to ``STANDARDIZE_SAMPLE`` training images (a seeded sample,
        the same on every process), to fit the standardisation before fine-tuning."""
        from mlml.models.features import extract_features

        rows = self.train_idx
        if len(rows) > STANDARDIZE_SAMPLE:
            rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 0x57D]))
            rows = np.sort(rng.choice(rows, STANDARDIZE_SAMPLE, replace=False))
        return extract_features(
            [self.features[i] for i in rows], self.model.backbone, use_cache=False, device=device,
            batch_size=max(self.config.batch_size, 64), num_workers=self.config.num_workers, progress=False,
        )

    def _batches(self, epoch: int) -> Iterator[tuple[Tensor, Tensor, int]]:
        """Yield ``(inputs, local_rows, global_batch_size)`` for one epoch."""
        cfg = self.config
        n_train = len(self.train_idx)
        gen = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, 1))
        perm = torch.randperm(n_train, generator=gen)
        global_batches = [perm[s : s + cfg.batch_size] for s in range(0, n_train, cfg.batch_size)]
        local = [local_share(b, self.info) for b in global_batches]
        if self.frozen:
            for rows, whole in zip(local, global_batches, strict=True):
                if sp.issparse(self.x_train):
                    x = _rows_tensor(self.x_train, rows.numpy()).to(self.device)
                else:
                    x = self.x_train[rows.to(self.device)]
                yield x, rows, len(whole)
            return
        files = ImageFiles(
            [self.features[i] for i in self.train_idx],
            self.model.backbone.preprocess,
            augment=self.augment,
            target_size=self.model.backbone.preprocess.resize_to,
        )
        loader = torch.utils.data.DataLoader(
            files,
            batch_sampler=[b.tolist() for b in local],
            num_workers=cfg.num_workers,
            collate_fn=collate_images,
            generator=torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, 2)),
        )
        for (images, rows, _), whole in zip(loader, global_batches, strict=True):
            if images is None:
                images = torch.empty((0, 3, 1, 1))
            yield images.to(self.device, non_blocking=True), rows, len(whole)

    # -- one epoch
    def _train_epoch(self, epoch: int) -> float:
        cfg = self.config
        self.net.train()
        self.criterion.start_epoch(epoch)
        extra = [p for p in self.criterion.parameters() if p.requires_grad]
        loss_sum, count = 0.0, 0
        if self.adaptive:
            self.epoch_proba.zero_()
        batches = self._batches(epoch)
        if cfg.progress and self.info.is_main:
            from tqdm.auto import tqdm

            batches = tqdm(
                batches, total=self.steps_per_epoch, desc=f"epoch {epoch}", unit="batch", leave=False
            )
        for x, rows, n_global in batches:
            rows_dev = rows.to(self.device)
            with self._autocast():
                logits = self.net(x)
            logits = logits.float()
            if self.adaptive and len(rows):
                self.epoch_proba[rows_dev] = torch.sigmoid(logits.detach())
            if len(rows):
                loss = self.criterion(
                    logits,
                    self.targets[rows_dev],
                    (self.pos[rows_dev], self.neg[rows_dev]),
                    index=rows_dev,
                    known=self.known[rows_dev],
                )
            else:  # a rank with an empty share still joins the gradient all-reduce
                loss = logits.sum() * 0.0
            scaled = loss * (len(rows) / n_global * self.info.world_size) if self.info.enabled else loss
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(scaled).backward()
            average_gradients(extra, self.info)
            if cfg.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            loss_sum += float(loss.detach()) * len(rows)
            count += len(rows)
        if self.info.enabled:
            totals = torch.tensor([loss_sum, float(count)], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, count = float(totals[0]), int(totals[1])
            if self.adaptive:  # each row was trained on by one rank; the others hold 0 for it
                torch.distributed.all_reduce(self.epoch_proba)
        return loss_sum / max(count, 1)

    def _predict(self, inputs: Any) -> np.ndarray:
        return _predict(
            self.model,
            inputs,
            self.config.mode,
            self.device,
            max(self.config.batch_size, 256),
            self.config.num_workers,
            self._autocast if self.use_amp else None,
        )

    # -- checkpoints
    def _checkpoint_path(self) -> Path | None:
        return Path(self.config.checkpoint_dir) / CHECKPOINT_NAME if self.config.checkpoint_dir else None

    def _state(self, epoch: int, done: bool) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "epoch": epoch,
            "done": done,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "criterion": self.criterion.state_dict(),
            "estimator": self.estimator if self.adaptive else None,
            "weights": (self.pos.cpu(), self.neg.cpu()),
            "history": self.history,
            "best": (self.best_key, self.best_epoch, self.bad_epochs, self.best_state),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.criterion.load_state_dict(state["criterion"])
        if state["estimator"] is not None:
            self.estimator = state["estimator"]
        self.pos, self.neg = (w.to(self.device) for w in state["weights"])
        self.history = state["history"]
        self.best_key, self.best_epoch, self.bad_epochs, self.best_state = state["best"]
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    # -- the run
    def run(self, callbacks: Sequence[Callable[[dict[str, float]], None]]) -> TrainResult:
        cfg = self.config
        self.history: list[dict[str, float]] = []
        self.best_key, self.best_epoch, self.bad_epochs, self.best_state = -math.inf, -1, 0, None
        start, done = 0, False
        path = self._checkpoint_path()
        self.fingerprint = (
            _fingerprint(cfg, self.method, self.features, self.observed, self.info) if path else ""
        )
        if path is not None and cfg.resume and path.is_file():
            state = torch.load(path, map_location="cpu", weights_only=False)
            if state.get("fingerprint") != self.fingerprint:
                raise MLMLError(
                    f"{path} holds a checkpoint of a different run (other data, method or configuration). "
                    "Use another 'checkpoint_dir', delete the file, or set resume=False."
                )
            self._load(state)
            start, done = state["epoch"] + 1, state["done"]
            if self.info.is_main and cfg.log:
                logger.info("resumed from %s after epoch %d", path, state["epoch"])
        for epoch in range(start, cfg.epochs):
            if done:
                break
            t0 = time.perf_counter()
            train_loss = self._train_epoch(epoch)
            if self.adaptive and epoch + 1 >= cfg.adaptive_warmup_epochs:
                self.estimator.update(self.epoch_proba.cpu().numpy(), index=self.index[self.train_idx])
                self._refresh_weights()
            record = {"epoch": epoch, "train_loss": train_loss, "lr": self.optimizer.param_groups[0]["lr"]}
            if len(self.val_idx):
                proba = self._predict(self.x_val)
                record["val_loss"] = observed_bce(proba, self.obs_val)
                record["val_score"] = observed_map(proba, self.obs_val)
                key = record["val_score"] if self.val_key == "map" else -record["val_loss"]
                if key > self.best_key:
                    self.best_key, self.best_epoch, self.bad_epochs = key, epoch, 0
                    self.best_state = copy.deepcopy(self.model.state_dict())
                else:
                    self.bad_epochs += 1
            record["seconds"] = time.perf_counter() - t0
            self.history.append(record)
            stop = not cfg.fixed_epochs and cfg.patience is not None and self.bad_epochs >= cfg.patience
            done = stop or epoch + 1 == cfg.epochs
            if self.info.is_main and cfg.log:
                logger.info(
                    "epoch %3d  train_loss %.4f  val_loss %.4f  val_map %.4f  lr %.2e  %.2fs%s",
                    epoch,
                    train_loss,
                    record.get("val_loss", math.nan),
                    record.get("val_score", math.nan),
                    record["lr"],
                    record["seconds"],
                    "  (best)" if self.best_epoch == epoch else "",
                )
            if path is not None:
                if self.info.is_main:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _atomic_torch_save(self._state(epoch, done), path)
                barrier(self.info)
            for callback in callbacks:
                callback(record)
        if not cfg.fixed_epochs and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        else:
            self.best_epoch = len(self.history) - 1
        self.model.eval()
        val_proba = (
            self._predict(self.x_val) if len(self.val_idx) else np.empty((0, self.n_labels), np.float32)
        )
        return TrainResult(
            model=self.model,
            config=cfg,
            in_features=self.in_features,
            n_labels=self.n_labels,
            method=self.method.name,
            history=self.history,
            best_epoch=self.best_epoch,
            val_index=self.val_idx,
            val_proba=val_proba,
            train_index=self.train_idx,
            estimator=self.estimator,
        )
