"""Model selection and early stopping on the validation rows' OBSERVED labels (the loop's step 4).

Each epoch the validation rows are scored -- mean AP over the classes with an observed positive and negative
(:func:`~mlml.training.metrics.observed_map`), BCE on the known entries (:func:`observed_bce`) --, the best epoch's
weights are kept (the highest mAP, or the lowest loss where no class has both an observed positive and negative,
or where ``config.val_metric`` says ``loss``), and the run stops after ``patience`` epochs without improvement.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np
from torch import nn

from mlml.training.config import TrainConfig
from mlml.training.metrics import defined_classes, observed_bce, observed_map


class ModelSelection:
    """The validation rows and the record of the best epoch so far.

    Args:
        observed: the validation rows' observed labels (None: no validation rows -- the last epoch is kept).
        config: ``val_metric``, ``patience`` and ``fixed_epochs`` are read.
    """

    def __init__(self, observed: Any, config: TrainConfig) -> None:
        self.observed, self.config = observed, config
        self.key = config.val_metric
        if observed is not None and self.key == "map" and not defined_classes(observed).any():
            warnings.warn("No class has both an observed positive and negative among the validation rows; model "
                          "selection uses the validation loss instead of mAP.", stacklevel=4)
            self.key = "loss"
        self.best_key, self.best_epoch, self.bad_epochs, self.best_state = -math.inf, -1, 0, None

    def observe(self, epoch: int, proba: np.ndarray, model: nn.Module) -> dict[str, float]:
        """Score the validation rows' probabilities after ``epoch``, keep ``model``'s weights if it is the best
        epoch so far; returns the epoch's ``val_loss`` and ``val_score``."""
        scores = {"val_loss": observed_bce(proba, self.observed), "val_score": observed_map(proba, self.observed)}
        key = scores["val_score"] if self.key == "map" else -scores["val_loss"]
        if key > self.best_key:
            self.best_key, self.best_epoch, self.bad_epochs = key, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return scores

    @property
    def stop(self) -> bool:
        """Whether early stopping ends the run now."""
        cfg = self.config
        return not cfg.fixed_epochs and cfg.patience is not None and self.bad_epochs >= cfg.patience

    def finish(self, model: nn.Module, n_epochs: int) -> int:
        """Load the best epoch's weights into ``model`` (early stopping), or keep the last epoch's
        (``fixed_epochs``, no validation rows); returns the kept epoch."""
        if not self.config.fixed_epochs and self.best_state is not None:
            model.load_state_dict(self.best_state)
        else:
            self.best_epoch = n_epochs - 1
        return self.best_epoch

    def state(self) -> tuple[float, int, int, Any]:
        return (self.best_key, self.best_epoch, self.bad_epochs, self.best_state)

    def load(self, state: tuple[float, int, int, Any]) -> None:
        self.best_key, self.best_epoch, self.bad_epochs, self.best_state = state
