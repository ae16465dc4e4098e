"""Several methods' heads on the same frozen features, trained in ONE pass over the same batches.

:func:`fit_heads` gives what :func:`mlml.training.fit` would give for each method separately (same seed, same
config), but reads every batch once: the rows of a step are gathered and standardised once, every method's head
(its own copy, initialised exactly as ``fit`` would: the torch RNG reseeded before each is built) computes its
logits from them and its own loss (its own estimator's weights, its own criterion), the summed loss is
back-propagated once -- the heads' parameters are disjoint, so each receives exactly the gradient of its own loss
--, and one optimiser step updates every head still training (one parameter group; Adam's, AdamW's and SGD's
updates are elementwise, with each parameter's own state, so the step is each head's own step). Each head keeps
its own early stopping and best epoch, its adaptive estimator's per-epoch refresh and its torch RNG stream
(dropout), and stops being updated when its patience runs out; the pass ends when every head has stopped.

It is used by :mod:`mlml.auto` (whose candidates are methods on the same fold) and is bitwise equivalent to
separate training on the CPU (tests/training/test_one_pass.py compares weights, histories and validation probabilities).
Only the frozen-feature mode on one process, without checkpoints and without mixed precision, is trained in one
pass; any other setting, and a method whose loss has parameters of its own (ROLE's label estimates), is trained by
``fit`` one method at a time (:func:`one_pass_supported` says which).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mlml._threads import torch_threads
from mlml.exceptions import MLMLError
from mlml.labels import check_labels
from mlml.training.config import TrainConfig
from mlml.training.data import _groups
from mlml.training.distributed import dist_info
from mlml.training.model import check_inputs, resolve_device
from mlml.training.optim import make_optimizer, make_scheduler
from mlml.training.saved import TrainResult

logger = logging.getLogger("mlml.training")


def one_pass_supported(config: TrainConfig) -> bool:
    """Whether ``config`` trains heads in one pass: minibatches over frozen features, one process, no checkpoints,
    no mixed precision (a skipped float16 step would skip every head's); the L-BFGS solver fits each head alone."""
    if config.mode != "frozen" or config.solver != "minibatch" or config.checkpoint_dir or dist_info().enabled:
        return False
    device = resolve_device(config.device, dist_info())
    return not (config.amp and device.type == "cuda")


def fit_heads(inputs: Any, observed: Any, methods: Mapping[str, Any], config: TrainConfig | None = None, *,
              validation: tuple[Any, Any] | None = None) -> dict[str, TrainResult]:
    """Train every method of ``methods`` (name -> :class:`~mlml.methods.Method` or registered name) on the same
    rows, as :func:`mlml.training.fit` would one by one, in one pass where :func:`one_pass_supported` (see the
    module docstring). Returns ``{name: TrainResult}`` in the order of ``methods``.

    Raises:
        MLMLError: as :func:`~mlml.training.fit` (bad shapes, no validation rows without ``fixed_epochs``), or
            no method given.
    """
    from mlml.methods import METHODS
    from mlml.training.loop import _check_some_known, _checked_validation, _Run, fit

    if not methods:
        raise MLMLError("fit_heads needs at least one method.")
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise MLMLError(f"The 'config' parameter of fit_heads must be a TrainConfig. Got {type(config).__name__}.")
    methods = {name: METHODS.get(m) if isinstance(m, str) else m for name, m in methods.items()}
    if not one_pass_supported(config):
        return {name: fit(inputs, observed, m, config, validation=validation) for name, m in methods.items()}
    observed = check_labels(observed, name="observed")
    _check_some_known(observed)
    inputs = check_inputs(inputs, config, observed.shape[0], "inputs")
    validation = _checked_validation(validation, observed, config)
    info = dist_info()
    device = resolve_device(config.device, info)
    results: dict[str, TrainResult] = {}
    with torch_threads(config.num_threads), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        lanes: dict[str, Any] = {}
        for name, method in methods.items():
            torch.manual_seed(config.seed)  # what fit does before building its run: the same initialisation
            lane = _Run(inputs, observed, method, config, validation, None, None, None, info, device)
            if any(p.requires_grad for p in lane.criterion.parameters()):
                lanes[name] = None  # a loss with parameters of its own: trained by fit below
                continue
            shared = next((other.train_set.inputs for other in lanes.values() if other is not None), None)
            if shared is not None:  # one copy of the feature rows (each run converted the same array): free this one
                lane.train_set.inputs = shared
            lane.history, lane.rng = [], _rng_state(device)
            lanes[name] = lane
        trained = _OnePass({n: lane for n, lane in lanes.items() if lane is not None}, config, device).run()
    for name, method in methods.items():
        results[name] = trained[name] if lanes[name] is not None else \
            fit(inputs, observed, method, config, validation=validation)
    return results


class _OnePass:
    """The epoch loop of :func:`fit_heads` over the lanes (one :class:`~mlml.training.loop._Run` per method, built
    but not run: its estimator, model, criterion, weights, model selection are used; its optimiser is not)."""

    def __init__(self, lanes: dict[str, Any], config: TrainConfig, device: torch.device) -> None:
        self.lanes, self.config, self.device = lanes, config, device
        if not lanes:
            return
        first = next(iter(lanes.values()))
        self.first = first
        heads = nn.ModuleList(lane.model for lane in lanes.values())
        self.optimizer = make_optimizer(heads, nn.Module(), config, True)
        self.scheduler = make_scheduler(self.optimizer, config, len(first.sampler))

    def run(self) -> dict[str, TrainResult]:
        if not self.lanes:
            return {}
        active = dict(self.lanes)
        for epoch in range(self.config.epochs):
            if not active:
                break
            started = time.perf_counter()
            losses = self._train_epoch(epoch, active)
            seconds = time.perf_counter() - started
            for name, lane in list(active.items()):
                lane.history.append(self._close_epoch(name, lane, epoch, losses[name], seconds))
                if lane.selection.stop or epoch + 1 == self.config.epochs:
                    del active[name]
        return {name: lane.result() for name, lane in self.lanes.items()}

    def _train_epoch(self, epoch: int, active: dict[str, Any]) -> dict[str, float]:
        sampler = self.first.sampler
        sampler.set_epoch(epoch)
        sums = dict.fromkeys(active, 0.0)
        count = 0
        for lane in active.values():
            lane.model.train()
            lane.criterion.start_epoch(epoch)
            if lane.adaptive:
                lane.epoch_proba.zero_()
        standardize = self.first.model.standardize  # the same buffers in every lane (fitted on the same rows)
        for group in _groups(iter(sampler.global_batches), self.first.weights.block_rows):
            for lane in active.values():
                if not lane.weights.cached:  # one transform call for the rows of these batches, as fit does
                    lane.weights.prefetch(torch.cat(group).numpy())
            for index in group:
                x = self.first.train_set._inputs(index).to(self.device, non_blocking=True)
                rows = index.to(self.device)
                features = standardize(x)
                total = None
                for name, lane in active.items():
                    loss = self._lane_loss(lane, features, index, rows)
                    sums[name] += float(loss.detach()) * len(index)
                    total = loss if total is None else total + loss
                self._step(total, active)
                count += len(index)
        return {name: value / max(count, 1) for name, value in sums.items()}

    def _lane_loss(self, lane: Any, features: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """One lane's loss on the batch, drawn from its own torch RNG stream (dropout)."""
        device = self.device
        _set_rng_state(lane.rng, device)
        observed = lane.train_set.observed
        labels = torch.from_numpy(observed[index.numpy()].toarray()) if lane.train_set.sparse else observed[index]
        weights = lane.weights.batch(index)
        logits = lane.model.head(features).float()
        if lane.adaptive:
            lane.epoch_proba[rows] = torch.sigmoid(logits.detach())
        weights = tuple(w.to(device) for w in weights) if isinstance(weights, tuple) else weights.to(device)
        loss = lane.criterion(logits, (labels == 1).float().to(device), weights, index=rows,
                              known=(labels != -1).to(device), suspect=(labels == 0).to(device))
        lane.rng = _rng_state(device)
        return loss

    def _step(self, total: torch.Tensor, active: dict[str, Any]) -> None:
        """Backward the summed loss and one step of every active head (stopped heads have no gradient)."""
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if self.config.grad_clip is not None:  # each head's own norm, as fit clips it
            for lane in active.values():
                nn.utils.clip_grad_norm_(lane.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()

    def _close_epoch(self, name: str, lane: Any, epoch: int, train_loss: float, seconds: float) -> dict[str, float]:
        """The adaptive refresh and the validation score of one lane after the epoch: its history record."""
        if lane.adaptive and epoch + 1 >= self.config.adaptive_warmup_epochs:
            lane.estimator.update(lane.epoch_proba.cpu().numpy())
            lane.weights.refresh()
        record = {"epoch": epoch, "train_loss": train_loss, "lr": self.optimizer.param_groups[0]["lr"]}
        if lane.x_val is not None:
            record.update(lane.selection.observe(epoch, lane._predict(lane.x_val), lane.model))
        record["seconds"] = seconds  # the shared pass's epoch
        if self.config.log:
            logger.info("%s epoch %3d  train_loss %.4f  val_map %.4f%s", name, epoch, train_loss,
                        record.get("val_score", math.nan), "  (best)" if lane.selection.best_epoch == epoch else "")
        return record


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The torch RNG state a head draws from (dropout): the CPU generator's, and the device's on CUDA."""
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)
