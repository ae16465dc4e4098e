"""The class prior of the class-aware selective loss: a temporary model's mean prediction (Ben-Baruch et al. 2022).

Ben-Baruch et al. estimate the class distribution ``P̂(c)`` with "a dedicated temporary model" trained in
*Ignore* mode -- un-annotated entries left out of the loss -- and average its predicted probabilities over the
training samples (Alibaba-MIIL/PartialLabelingCSL: ``ComputePrior`` accumulates ``σ(logits)`` over the training
batches and ``save_prior`` writes the mean, which a second run reads with ``--prior_path``). The paper shows that
this ranks the classes far better than the naive estimate from the partial annotations, and that a temporary
model trained in *Negative* mode (un-annotated entries assumed negative) ranks them worst.

Here the temporary model is the ``bce`` method trained by :func:`mlml.training.fit` on the same training rows
with the same settings (its own validation rows for early stopping, no checkpoints): unknown entries get weight 0
(Ignore mode); suspect zeros, which cannot all be ignored without leaving no negative at all, are assumed
negative. Its mean probability over the training rows is the prior (one pass of the final model instead of the
authors' running mean over the training batches, which mixes the predictions of every epoch).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from mlml.training.config import TrainConfig


def ignore_mode_prior(inputs: Any, observed: Any, config: TrainConfig, validation: Any = None, *,
                      fit: Callable[..., Any]) -> np.ndarray:
    """``P̂(c)``, ``(n_labels,)``: the mean probability of an Ignore-mode ``bce`` model over the rows ``inputs``.

    Args:
        inputs, observed: the training rows and their labels, as :func:`mlml.training.fit` takes them.
        config: the training settings (checkpoints and logging are turned off for the temporary model).
        validation: the validation rows, for the temporary model's early stopping.
        fit: the trainer (:func:`mlml.training.fit`, which calls this function: passed in, so that this module
            does not import the loop that imports it).
    """
    temporary = dataclasses.replace(config, checkpoint_dir=None, resume=False, log=False, progress=False)
    result = fit(inputs, observed, "bce", temporary, validation=validation)
    return np.asarray(result.predict_proba(inputs), dtype=np.float64).mean(axis=0)
