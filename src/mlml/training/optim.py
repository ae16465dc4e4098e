"""The optimiser and the learning-rate schedule a :class:`~mlml.training.TrainConfig` asks for, and
:class:`Optimisation`, the loop's optimisation step."""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from mlml.training.config import TrainConfig


def make_optimizer(model: nn.Module, criterion: nn.Module, config: TrainConfig, frozen: bool) -> torch.optim.Optimizer:
    """AdamW, Adadelta (Keras' defaults, the seed's) or SGD over the trainable parameters: the head's at ``lr``,
    the backbone's at ``lr * backbone_lr_scale``, a loss's own (ROLE's label estimates) at its ``lr_multiplier``
    times ``lr`` and without weight decay."""
    lr = config.learning_rate
    if frozen:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
    else:
        groups = [{"params": [p for p in model.head.parameters() if p.requires_grad], "lr": lr}]
        backbone = [p for p in model.backbone.parameters() if p.requires_grad]
        if backbone:
            groups.append({"params": backbone, "lr": lr * config.backbone_lr_scale})
    extra = [p for p in criterion.parameters() if p.requires_grad]
    if extra:
        scale = float(getattr(criterion, "lr_multiplier", 1.0))
        groups.append({"params": extra, "lr": lr * scale, "weight_decay": 0.0})
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=config.weight_decay, foreach=True)
    if config.optimizer == "adadelta":  # Keras' defaults (the seed): rho 0.95, epsilon 1e-7
        return torch.optim.Adadelta(groups, lr=lr, rho=0.95, eps=1e-7, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        groups, lr=lr, momentum=config.momentum, nesterov=config.momentum > 0, weight_decay=config.weight_decay
    )


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> Any:
    """Per step: cosine from ``lr`` to 0 over ``epochs`` epochs, or constant."""
    total = config.epochs * steps_per_epoch
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


class Optimisation:
    """One optimisation step of the loop: the optimiser, the per-step schedule, mixed precision (CUDA) and gradient
    clipping, and the all-reduce of a loss's own parameters under DDP (the model's are DDP's).

    Args:
        model: the (unwrapped) model; its parameters are clipped.
        criterion: the loss module (its own trainable parameters, e.g. ROLE's label estimates, are optimised too).
        config: the training settings.
        frozen: frozen-feature mode (one parameter group) or fine-tuning (head and backbone groups).
        steps_per_epoch: batches per epoch, for the schedule.
        device: the training device (mixed precision only on CUDA).
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, config: TrainConfig, frozen: bool,
                 steps_per_epoch: int, device: torch.device) -> None:
        self.model, self.config = model, config
        self.optimizer = make_optimizer(model, criterion, config, frozen)
        self.scheduler = make_scheduler(self.optimizer, config, steps_per_epoch)
        self.use_amp = config.amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.criterion_params = [p for p in criterion.parameters() if p.requires_grad]

    def autocast(self) -> Any:
        """The forward pass's precision context (float16 autocast on CUDA with ``amp``, else a no-op)."""
        return torch.autocast(device_type="cuda", dtype=torch.float16) if self.use_amp else nullcontext()

    def step(self, loss: torch.Tensor, info: Any) -> None:
        """Backward ``loss`` and take one optimiser and schedule step."""
        from mlml.training.distributed import average_gradients

        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        average_gradients(self.criterion_params, info)
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("optimizer", "scheduler", "scaler"):
            getattr(self, name).load_state_dict(state[name])
