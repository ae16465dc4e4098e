"""The optimiser and the learning-rate schedule a :class:`~mlml.training.TrainConfig` asks for."""

from __future__ import annotations

import math
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
