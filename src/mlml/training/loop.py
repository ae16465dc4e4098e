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

import logging
import math
import time
from collections.abc import Callable, Sequence
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
from mlml.training.data import EpochBatches, TrainingSet, WeightSource, batches, in_memory
from mlml.training.distributed import barrier, dist_info
from mlml.training.inference import predict_inputs
from mlml.training.lbfgs import LBFGSSolver, check_lbfgs
from mlml.training.model import build_model, check_inputs, resolve_device, rows_tensor
from mlml.training.optim import Optimisation
from mlml.training.prior import ignore_mode_prior
from mlml.training.saved import TrainResult
from mlml.training.selection import ModelSelection

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
    validation, hidden = _checked_validation(validation, observed, config), _checked_hidden(hidden, observed)
    info = dist_info()
    device = resolve_device(config.device, info)
    with torch_threads(config.num_threads), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        run = _Run(inputs, observed, method, config, validation, hidden, estimator, estimator_rows, info, device)
        return run.run(callbacks)


def _checked_validation(validation: tuple[Any, Any] | None, observed: Any, config: TrainConfig) -> Any:
    if validation is not None:
        x_val, y_val = validation
        y_val = check_labels(y_val, name="the validation labels", n_labels=observed.shape[1])
        return (check_inputs(x_val, config, y_val.shape[0], "the validation inputs"), y_val)
    if not config.fixed_epochs:
        raise MLMLError(
            "Early stopping needs validation rows: pass validation=(inputs, observed) (mlml.folds.make_fold "
            "carves them from the training fold) or train TrainConfig(fixed_epochs=True)."
        )
    return None


def _checked_hidden(hidden: Any, observed: Any) -> np.ndarray | None:
    if hidden is None:
        return None
    hidden = check_labels(hidden, name="hidden", allow_unknown=False)
    if hidden.shape != observed.shape:
        raise MLMLError(f"'hidden' has shape {hidden.shape}; 'observed' has shape {observed.shape}.")
    return hidden.toarray().astype(bool) if sp.issparse(hidden) else np.asarray(hidden, dtype=bool)


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
    """One call of :func:`fit`: the objects it builds, one concern each -- the weight estimator, the network, the
    criterion, the data (:class:`TrainingSet` and its :class:`WeightSource`), the optimisation
    (:class:`~mlml.training.optim.Optimisation`), model selection (:class:`~mlml.training.selection.ModelSelection`)
    and the checkpoints -- and the epoch loop over them. They are built in the order below, which is also the
    order in which they draw from the seeded torch RNG."""

    def __init__(self, inputs, observed, method, config, validation, hidden, estimator, estimator_rows, info, device):
        self.config, self.method, self.info, self.device = config, method, info, device
        self.frozen = config.mode == "frozen"
        self.observed = observed
        self.parts = (inputs, observed, *(validation or ()))
        self.estimator = self._estimator(estimator, inputs, hidden)
        self.adaptive = self.estimator.adaptive
        labels = method.training_labels(observed)  # -1 -> suspect zero where the method assumes them negative
        self._network(inputs)
        self.criterion = self._criterion(inputs, labels, validation)
        self.sampler = EpochBatches(labels.shape[0], config.batch_size, config.seed, info)
        lbfgs = config.solver == "lbfgs"  # full-batch rounds instead of minibatch epochs (mlml.training.lbfgs)
        if lbfgs:
            check_lbfgs(config, method, info.enabled)
        else:
            self.optimisation = Optimisation(self.model, self.criterion, config, self.frozen, len(self.sampler),
                                             device)
        self._data(inputs, labels, hidden, estimator_rows)
        self.solver: LBFGSSolver | None = None
        if lbfgs:  # it reads the training set, so it comes after the data
            self.solver = self.optimisation = LBFGSSolver(self.model, self.criterion, self.train_set, config,
                                                          self.adaptive, device, inputs)
        self.x_val, obs_val = validation if validation is not None else (None, None)
        if self.frozen and self.x_val is not None and in_memory(self.x_val):
            self.x_val = rows_tensor(self.x_val).to(device)
        self.selection = ModelSelection(obs_val, config)

    # -- what the run is made of
    def _estimator(self, estimator: Any, inputs: Any, hidden: Any) -> Any:
        """The weight estimator, fitted on the training rows' observed labels only (unless one is given)."""
        if estimator is None:
            method = self.method
            estimator = method.make_estimator()
            if (method.oracle or estimator.needs_hidden) and hidden is None:
                raise MLMLError(f"The method {method.name!r} is an oracle (its estimator {method.estimator!r} reads "
                                "the hidden-entry mask): pass fit(..., hidden=mask).")
            estimator.fit(self.observed, **self._estimator_inputs(estimator, inputs, hidden))
        return estimator

    def _network(self, inputs: Any) -> None:
        """The model (feature standardisation fitted on the training rows + head, or backbone + head), on the
        device, wrapped in DDP under ``torchrun``."""
        config, device = self.config, self.device
        in_features = inputs.shape[1] if self.frozen else None
        self.model = build_model(config, in_features, self.observed.shape[1])
        if config.standardize:
            self.model.standardize.fit(inputs if self.frozen else self._initial_features(inputs))
        self.in_features = in_features if self.frozen else self.model.backbone.features_dim
        self.model.to(device)
        self.net: nn.Module = self.model
        if self.info.enabled:
            if device.type == "cuda" and not self.frozen:  # batch statistics over the global batch
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )

    def _criterion(self, inputs: Any, labels: Any, validation: Any) -> nn.Module:
        """The method's loss, set up on the training labels (CSL: with its class prior, a temporary model's)."""
        criterion = self.method.make_loss().to(self.device)
        criterion.setup(labels)
        if criterion.needs_class_prior:  # CSL's: a temporary "Ignore"-mode model's mean prediction
            criterion.set_class_prior(ignore_mode_prior(inputs, labels, self.config, validation, fit=fit))
        return criterion.to(self.device)

    def _data(self, inputs: Any, labels: Any, hidden: Any, estimator_rows: Any) -> None:
        """The training rows with their weights (:class:`WeightSource`) as a :class:`TrainingSet`."""
        self.weights = WeightSource(self.estimator, labels, pair=self.criterion.needs_pair,
                                    fitted_rows=estimator_rows,
                                    **self._estimator_inputs(self.estimator, inputs, hidden))
        images = None
        if not self.frozen:
            augment = _hflip if self.config.augment == "hflip" else self.config.augment
            preprocess = self.model.backbone.preprocess
            images = (preprocess, augment, preprocess.resize_to)
        dense = self.frozen and in_memory(inputs)
        self.train_set = TrainingSet(rows_tensor(inputs) if dense else inputs, labels, self.weights,
                                     images=images)
        self.epoch_proba = torch.zeros(labels.shape, device=self.device) if self.adaptive else None

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

    # -- one epoch
    def _stream(self, epoch: int) -> Any:
        cfg = self.config
        stream = batches(self.train_set, self.sampler, num_workers=cfg.num_workers, seed=cfg.seed, epoch=epoch)
        if cfg.progress and self.info.is_main:
            from tqdm.auto import tqdm

            stream = tqdm(stream, total=len(self.sampler), desc=f"epoch {epoch}", unit="batch", leave=False)
        return zip(stream, self.sampler.global_sizes, strict=True)

    def _train_epoch(self, epoch: int) -> float:
        device, info = self.device, self.info
        self.net.train()
        self.criterion.start_epoch(epoch)
        loss_sum, count = 0.0, 0
        if self.adaptive:
            self.epoch_proba.zero_()
        for (x, targets, known, weights, rows, suspect), n_global in self._stream(epoch):
            rows = rows.to(device)
            with self.optimisation.autocast():
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
            self.optimisation.step(loss * (len(rows) / n_global * info.world_size) if info.enabled else loss, info)
            loss_sum += float(loss.detach()) * len(rows)
            count += len(rows)
        if info.enabled:
            totals = torch.tensor([loss_sum, float(count)], dtype=torch.float64)
            torch.distributed.all_reduce(totals)
            loss_sum, count = float(totals[0]), int(totals[1])
            if self.adaptive:  # each row was trained on by one rank; the others hold 0 for it
                torch.distributed.all_reduce(self.epoch_proba)
        return loss_sum / max(count, 1)

    def _predict(self, inputs: Any) -> np.ndarray:
        opt = self.optimisation
        return predict_inputs(self.model, inputs, self.config.mode, self.device, max(self.config.batch_size, 256),
                              self.config.num_workers, opt.autocast if opt.use_amp else None)

    # -- checkpoints
    def _state(self, epoch: int, done: bool) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "epoch": epoch, "done": done,
            "model": self.model.state_dict(), **self.optimisation.state_dict(),
            "criterion": self.criterion.state_dict(), "estimator": self.estimator if self.adaptive else None,
            "history": self.history, "best": self.selection.state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimisation.load_state_dict(state)
        self.criterion.load_state_dict(state["criterion"])
        if state["estimator"] is not None:
            self.estimator = self.weights.estimator = state["estimator"]
            self.weights.refresh()
        self.history = state["history"]
        self.selection.load(state["best"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    def _resume(self, path: Path | None) -> tuple[int, bool]:
        """The first epoch to train and whether the run is already done (a checkpoint of this run, if resuming)."""
        self.fingerprint = fingerprint(self.config, self.method, self.info.world_size, self.parts) if path else ""
        state = load_checkpoint(path, self.fingerprint) if path is not None and self.config.resume else None
        if state is None:
            return 0, False
        self._load(state)
        if self.info.is_main and self.config.log:
            logger.info("resumed from %s after epoch %d", path, state["epoch"])
        return state["epoch"] + 1, state["done"]

    def _checkpoint(self, path: Path | None, epoch: int, done: bool) -> None:
        if path is not None:
            if self.info.is_main:
                save_checkpoint(self._state(epoch, done), path)
            barrier(self.info)

    # -- the run
    def _epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch, refresh adaptive weights, score the validation rows: the epoch's history record."""
        t0 = time.perf_counter()
        if self.solver is not None:
            train_loss = self.solver.round(epoch, self.epoch_proba)
        else:
            train_loss = self._train_epoch(epoch)
        if self.adaptive and epoch + 1 >= self.config.adaptive_warmup_epochs:
            self.estimator.update(self.epoch_proba.cpu().numpy())
            self.weights.refresh()
        record = {"epoch": epoch, "train_loss": train_loss, "lr": self.optimisation.lr}
        if self.x_val is not None:
            record.update(self.selection.observe(epoch, self._predict(self.x_val), self.model))
        record["seconds"] = time.perf_counter() - t0
        if self.info.is_main and self.config.log:
            logger.info("epoch %3d  train_loss %.4f  val_loss %.4f  val_map %.4f  lr %.2e  %.2fs%s", epoch,
                        train_loss, record.get("val_loss", math.nan), record.get("val_score", math.nan),
                        record["lr"], record["seconds"], "  (best)" if self.selection.best_epoch == epoch else "")
        return record

    def run(self, callbacks: Sequence[Callable[[dict[str, float]], None]]) -> TrainResult:
        cfg = self.config
        self.history: list[dict[str, float]] = []
        path = Path(cfg.checkpoint_dir) / CHECKPOINT_NAME if cfg.checkpoint_dir else None
        start, done = self._resume(path)
        for epoch in range(start, cfg.epochs):
            if done:
                break
            record = self._epoch(epoch)
            self.history.append(record)
            done = self.selection.stop or epoch + 1 == cfg.epochs or (self.solver is not None and self.solver.finished)
            self._checkpoint(path, epoch, done)
            for callback in callbacks:
                callback(record)
        return self.result()

    def result(self) -> TrainResult:
        """The best epoch's model (early stopping) with its validation probabilities, after the epochs."""
        cfg = self.config
        best_epoch = self.selection.finish(self.model, len(self.history))
        self.model.eval()
        n_labels = self.observed.shape[1]
        val_proba = self._predict(self.x_val) if self.x_val is not None else np.empty((0, n_labels), np.float32)
        return TrainResult(
            model=self.model, config=cfg, in_features=self.in_features, n_labels=n_labels,
            method=self.method.name, history=self.history, best_epoch=best_epoch, val_proba=val_proba,
            val_observed=self.selection.observed, estimator=self.estimator,
            label_counts=label_counts(self.observed).tolist(), n_train=int(self.observed.shape[0]),
        )


def _hflip(image: Any) -> Any:
    if torch.rand(()) < 0.5:
        from PIL import Image

        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image
