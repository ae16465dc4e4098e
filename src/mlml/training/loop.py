"""The training loop: frozen features -> head, or images -> backbone + head, with any registered method.

:func:`fit` receives the training rows and, for early stopping and model selection, the validation rows -- both
carved by the fold layer (:mod:`mlml.folds`), never here. It does, in order:

1. fit the method's weight estimator on the training rows' OBSERVED labels (the hidden-entry mask reaches an
   oracle's estimator only); a method that assumes unannotated entries negative then trains on labels whose
   ``-1`` entries are suspect zeros (:meth:`~mlml.methods.Method.training_labels`);
2. build the model (feature standardisation fitted on the training rows + head, or backbone + head), the
   criterion (``method.make_loss()``, ``setup(observed)``) and the optimiser (model parameters and the
   criterion's own, e.g. ROLE's label estimates);
3. train epoch by epoch on the batches of a :class:`~mlml.training.data.TrainingSet` (shuffled by a seeded
   generator per epoch); adaptive estimators are refreshed after each epoch from the probabilities the model
   gave each training row in that epoch's own forward pass (no extra pass);
4. score the validation rows on their OBSERVED labels (mean AP; BCE reported too), keep the best epoch, stop
   after ``patience`` epochs without improvement (or train ``fixed_epochs``), checkpoint every epoch.

Determinism: everything random derives from ``config.seed``. The global torch RNG (initialisation, dropout) is
seeded inside :func:`torch.random.fork_rng`, so the caller's global state is left as it was.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from mlml._threads import torch_threads
from mlml.exceptions import MLMLError
from mlml.labels import check_labels, label_counts
from mlml.training.checkpoint import CHECKPOINT_NAME, fingerprint, load_checkpoint, save_checkpoint
from mlml.training.config import TrainConfig
from mlml.training.data import EpochBatches, TrainingSet, WeightSource, batches
from mlml.training.distributed import average_gradients, barrier, dist_info
from mlml.training.metrics import defined_classes, observed_bce, observed_map
from mlml.training.model import build_model, check_inputs, resolve_device, rows_tensor
from mlml.training.optim import make_optimizer, make_scheduler
from mlml.training.saved import TrainResult, predict_inputs

logger = logging.getLogger("mlml.training")

#: Fine-tuning fits its feature standardisation on at most this many training images.
STANDARDIZE_SAMPLE = 1024


def fit(
    inputs: Any,
    observed: Any,
    method: Any,
    config: TrainConfig | None = None,
    *,
    validation: tuple[Any, Any] | None = None,
    hidden: Any = None,
    estimator: Any = None,
    estimator_rows: np.ndarray | None = None,
    callbacks: Sequence[Callable[[dict[str, float]], None]] = (),
) -> TrainResult:
    """Train a model on the training rows ``inputs`` / ``observed`` with ``method`` (see the module docstring).

    Args:
        inputs: frozen mode: float ``(n_rows, n_features)``, dense, memory-mapped or CSR (densified per batch).
            Finetune mode: a sequence of ``n_rows`` image paths.
        observed: int8 ``(n_rows, n_labels)``, dense or CSR: 1 observed positive, 0 negative/unobserved, -1 unknown.
        method: a :class:`~mlml.methods.Method` or its name in ``METHODS`` (``bce``, ``cb-wce``, ...).
        config: a :class:`TrainConfig` (default: ``TrainConfig()``). Its ``val_fraction`` is the fold layer's.
        validation: ``(inputs, observed)`` of the validation rows: scored each epoch on their observed labels
            for early stopping and model selection, and kept for :meth:`TrainResult.tune_thresholds`. Required
            unless ``config.fixed_epochs``.
        hidden: bool ``(n_rows, n_labels)``: the training rows' hidden entries; passed to the estimator only when
            it is the oracle's (IM-WCE) -- nothing else looks at it.
        estimator: an already fitted weight estimator to use instead of ``method``'s.
        estimator_rows: the training rows' positions among the rows ``estimator`` was fitted on (default: it was
            fitted on exactly the training rows, in order; the grid's leakage audit fits it on the whole data set).
        callbacks: called with each epoch's history record (after the checkpoint is written).

    Raises:
        MLMLError: inconsistent shapes, NaN features, an oracle method without ``hidden``, early stopping without
            validation rows, a checkpoint of another run in ``config.checkpoint_dir``.
    """
    from mlml.methods import METHODS

    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise MLMLError(f"The 'config' parameter of fit must be a TrainConfig. Got {type(config).__name__}.")
    method = METHODS.get(method) if isinstance(method, str) else method
    observed = check_labels(observed, name="observed")
    _check_some_known(observed)
    inputs = check_inputs(inputs, config, observed.shape[0], "inputs")
    if validation is not None:
        x_val, y_val = validation
        y_val = check_labels(y_val, name="the validation labels", n_labels=observed.shape[1])
        validation = (check_inputs(x_val, config, y_val.shape[0], "the validation inputs"), y_val)
    elif not config.fixed_epochs:
        raise MLMLError(
            "Early stopping needs validation rows: pass validation=(inputs, observed) (mlml.folds.make_fold "
            "carves them from the training fold) or train TrainConfig(fixed_epochs=True)."
        )
    if hidden is not None:
        hidden = check_labels(hidden, name="hidden", allow_unknown=False)
        if hidden.shape != observed.shape:
            raise MLMLError(f"'hidden' has shape {hidden.shape}; 'observed' has shape {observed.shape}.")
        hidden = hidden.toarray().astype(bool) if sp.issparse(hidden) else np.asarray(hidden, dtype=bool)
    info = dist_info()
    device = resolve_device(config.device, info)
    with torch_threads(config.num_threads), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        run = _Run(inputs, observed, method, config, validation, hidden, estimator, estimator_rows, info, device)
        return run.run(callbacks)


def _check_some_known(observed: Any) -> None:
    """Refuse training labels with no known entry (every entry -1): the loss would be zero and the model its
    initialisation, reported as trained."""
    n_entries = observed.shape[0] * observed.shape[1]
    if sp.issparse(observed):
        unknown = int((observed.data == -1).sum())
    else:
        unknown = int(np.count_nonzero(observed == -1))
    if n_entries and unknown == n_entries:
        raise MLMLError(f"The training labels ({observed.shape[0]:,} rows x {observed.shape[1]:,} classes) hold no "
                        "known entry: every one is -1 (unannotated), so there is nothing to learn from. Keep more "
                        "labels (a larger known proportion with the partial scheme).")


class _Run:
    """One call of :func:`fit`: the objects it builds, the epoch loop, its checkpoints."""

    def __init__(self, inputs, observed, method, config, validation, hidden, estimator, estimator_rows, info, device):
        self.config, self.method, self.info, self.device = config, method, info, device
        self.frozen = config.mode == "frozen"
        self.n_labels = observed.shape[1]
        self.observed = observed
        self.parts = (inputs, observed, *(validation or ()))

        # 1. the weight estimator, fitted on the training rows' observed labels only
        if estimator is None:
            estimator = method.make_estimator()
            if (method.oracle or estimator.needs_hidden) and hidden is None:
                raise MLMLError(f"The method {method.name!r} is an oracle (its estimator {method.estimator!r} reads "
                                "the hidden-entry mask): pass fit(..., hidden=mask).")
            estimator.fit(observed, **self._estimator_inputs(estimator, inputs, hidden))
        self.estimator = estimator
        self.adaptive = estimator.adaptive
        observed = method.training_labels(observed)  # -1 -> suspect zero where the method assumes them negative

        # 2. model, criterion, optimiser, schedule
        in_features = inputs.shape[1] if self.frozen else None
        self.model = build_model(config, in_features, self.n_labels)
        if config.standardize:
            self.model.standardize.fit(inputs if self.frozen else self._initial_features(inputs))
        self.in_features = in_features if self.frozen else self.model.backbone.features_dim
        self.model.to(device)
        self.net: nn.Module = self.model
        if info.enabled:
            if device.type == "cuda" and not self.frozen:  # batch statistics over the global batch
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.criterion = method.make_loss().to(device)
        self.criterion.setup(observed)
        if self.criterion.needs_class_prior:  # CSL's: a temporary "Ignore"-mode model's mean prediction
            from mlml.training.prior import ignore_mode_prior

            self.criterion.set_class_prior(ignore_mode_prior(inputs, observed, config, validation))
        self.criterion.to(device)
        self.optimizer = make_optimizer(self.model, self.criterion, config, self.frozen)
        self.sampler = EpochBatches(observed.shape[0], config.batch_size, config.seed, info)
        self.scheduler = make_scheduler(self.optimizer, config, len(self.sampler))
        self.use_amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

        # 3. the data: training rows with their weights; validation rows
        self.weights = WeightSource(estimator, observed, pair=self.criterion.needs_pair, fitted_rows=estimator_rows,
                                    **self._estimator_inputs(estimator, inputs, hidden))
        images = None
        if not self.frozen:
            augment = _hflip if config.augment == "hflip" else config.augment
            preprocess = self.model.backbone.preprocess
            images = (preprocess, augment, preprocess.resize_to)
        in_memory = self.frozen and not sp.issparse(inputs) and not isinstance(inputs, np.memmap)
        self.train_set = TrainingSet(rows_tensor(inputs) if in_memory else inputs, observed, self.weights,
                                     images=images)
        self.epoch_proba = torch.zeros(observed.shape, device=device) if self.adaptive else None
        self.x_val, self.obs_val = validation if validation is not None else (None, None)
        if self.frozen and self.x_val is not None and not sp.issparse(self.x_val):
            self.x_val = rows_tensor(self.x_val).to(device)
        self.val_key = config.val_metric
        if self.obs_val is not None and self.val_key == "map" and not defined_classes(self.obs_val).any():
            warnings.warn("No class has both an observed positive and negative among the validation rows; model "
                          "selection uses the validation loss instead of mAP.", stacklevel=4)
            self.val_key = "loss"

    def _estimator_inputs(self, estimator: Any, inputs: Any, hidden: Any) -> dict[str, Any]:
        return {"features": inputs if estimator.uses_features and self.frozen else None,
                "hidden": hidden if self.method.oracle or estimator.needs_hidden else None}

    def _initial_features(self, paths: list[str]) -> np.ndarray:
        """The pretrained backbone's features of up to ``STANDARDIZE_SAMPLE`` training images (a seeded sample,
        the same on every process), to fit the standardisation before fine-tuning."""
        from mlml.models.features import extract_features

        rows = np.arange(len(paths))
        if len(rows) > STANDARDIZE_SAMPLE:
            rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 0x57D]))
            rows = np.sort(rng.choice(rows, STANDARDIZE_SAMPLE, replace=False))
        return extract_features(
            [paths[i] for i in rows], self.model.backbone, use_cache=False, device=self.device,
            batch_size=max(self.config.batch_size, 64), num_workers=self.config.num_workers, progress=False,
        )

    def _autocast(self):
        return torch.autocast(device_type="cuda", dtype=torch.float16) if self.use_amp else nullcontext()

    # -- one epoch
    def _train_epoch(self, epoch: int) -> float:
        cfg, device = self.config, self.device
        self.net.train()
        self.criterion.start_epoch(epoch)
        extra = [p for p in self.criterion.parameters() if p.requires_grad]
        loss_sum, count = 0.0, 0
        if self.adaptive:
            self.epoch_proba.zero_()
        stream = batches(self.train_set, self.sampler, num_workers=cfg.num_workers, seed=cfg.seed, epoch=epoch)
        if cfg.progress and self.info.is_main:
            from tqdm.auto import tqdm

            stream = tqdm(stream, total=len(self.sampler), desc=f"epoch {epoch}", unit="batch", leave=False)
        for (x, targets, known, weights, rows, suspect), n_global in zip(stream, self.sampler.global_sizes,
                                                                           strict=True):
            rows = rows.to(device)
            with self._autocast():
                logits = self.net(x.to(device, non_blocking=True))
            logits = logits.float()
            if len(rows):
                if self.adaptive:
                    self.epoch_proba[rows] = torch.sigmoid(logits.detach())
                weights = tuple(w.to(device) for w in weights) if isinstance(weights, tuple) else weights.to(device)
                loss = self.criterion(logits, targets.to(device), weights, index=rows, known=known.to(device),
                                      suspect=suspect.to(device))
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
        return predict_inputs(self.model, inputs, self.config.mode, self.device, max(self.config.batch_size, 256),
                              self.config.num_workers, self._autocast if self.use_amp else None)

    # -- checkpoints
    def _state(self, epoch: int, done: bool) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "epoch": epoch, "done": done,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "criterion": self.criterion.state_dict(), "estimator": self.estimator if self.adaptive else None,
            "history": self.history, "best": (self.best_key, self.best_epoch, self.bad_epochs, self.best_state),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }

    def _load(self, state: dict[str, Any]) -> None:
        for name in ("model", "optimizer", "scheduler", "scaler", "criterion"):
            getattr(self, name).load_state_dict(state[name])
        if state["estimator"] is not None:
            self.estimator = self.weights.estimator = state["estimator"]
            self.weights.refresh()
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
        path = Path(cfg.checkpoint_dir) / CHECKPOINT_NAME if cfg.checkpoint_dir else None
        self.fingerprint = fingerprint(cfg, self.method, self.info.world_size, self.parts) if path else ""
        if path is not None and cfg.resume:
            state = load_checkpoint(path, self.fingerprint)
            if state is not None:
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
                self.estimator.update(self.epoch_proba.cpu().numpy())
                self.weights.refresh()
            record = {"epoch": epoch, "train_loss": train_loss, "lr": self.optimizer.param_groups[0]["lr"]}
            if self.x_val is not None:
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
                logger.info("epoch %3d  train_loss %.4f  val_loss %.4f  val_map %.4f  lr %.2e  %.2fs%s", epoch,
                            train_loss, record.get("val_loss", math.nan), record.get("val_score", math.nan),
                            record["lr"], record["seconds"], "  (best)" if self.best_epoch == epoch else "")
            if path is not None:
                if self.info.is_main:
                    save_checkpoint(self._state(epoch, done), path)
                barrier(self.info)
            for callback in callbacks:
                callback(record)
        if not cfg.fixed_epochs and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        else:
            self.best_epoch = len(self.history) - 1
        self.model.eval()
        val_proba = self._predict(self.x_val) if self.x_val is not None else np.empty((0, self.n_labels), np.float32)
        return TrainResult(
            model=self.model, config=cfg, in_features=self.in_features, n_labels=self.n_labels,
            method=self.method.name, history=self.history, best_epoch=self.best_epoch, val_proba=val_proba,
            val_observed=self.obs_val, estimator=self.estimator,
            label_counts=label_counts(self.observed).tolist(), n_train=int(self.observed.shape[0]),
        )


def _hflip(image: Any) -> Any:
    if torch.rand(()) < 0.5:
        from PIL import Image

        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image
