"""Using a trained model on a data set: probabilities and the metrics of :mod:`mlml.evaluation`.

Thin front ends over :mod:`mlml.service` (inputs from the model's saved settings, scoring with its stored
decision, dense or streamed by size).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from mlml.service import aligned_labels, model_inputs, score, stored_rule
from mlml.training.saved import TrainedModel, load_model

__all__ = ["aligned_labels", "evaluate_model", "model_inputs", "predict"]


def _as_model(model: TrainedModel | str | os.PathLike, device: str) -> TrainedModel:
    return model if isinstance(model, TrainedModel) else load_model(model, device=device)


def predict(
    model: TrainedModel | str | os.PathLike,
    dataset: Any,
    *,
    device: str = "cpu",
    batch_size: int = 1024,
    **extract_kwargs: Any,
) -> np.ndarray:
    """Probabilities ``(n_samples, n_labels)`` of a model (or a model folder) on ``dataset``."""
    trained = _as_model(model, device)
    return trained.predict_proba(model_inputs(trained, dataset, **extract_kwargs), batch_size=batch_size)


def evaluate_model(
    model: TrainedModel | str | os.PathLike,
    dataset: Any,
    *,
    threshold: float | np.ndarray | None = None,
    device: str = "cpu",
    batch_size: int = 1024,
    propensity: np.ndarray | None = None,
    **extract_kwargs: Any,
) -> dict[str, Any]:
    """The metrics of :func:`mlml.evaluation.evaluate` for a model on ``dataset``'s (complete) labels, and
    ``label_names``: the classes the ``per_class_*`` lists follow (the model's order; a data set whose label columns
    are the model's in another order is aligned by name).

    Up to :data:`~mlml.evaluation.streamed.DENSE_EVALUATION_ENTRIES` scores (rows x labels) they are computed on
    the dense probability matrix; beyond, batch by batch (:func:`mlml.service.score`: the same precision, recall,
    F1 and ranking metrics, ROC-AUC and AP reported as NaN), so that no dense ``n x n_labels`` matrix is made.

    Args:
        model: a :class:`TrainedModel` or a folder written by ``save``.
        dataset: an :class:`mlml.data.Dataset` with the model's label set (same number of labels).
        threshold: decision threshold(s); None scores the model's own decision, as ``predict`` applies it
            (:func:`mlml.service.stored_rule`: its stored threshold policy -- per class, or per sample for
            ``cardinality`` --, else its per-class ``thresholds``, else 0.5).
        propensity: label propensities for PSP@k and PSnDCG@k; None: from the model's training labels
            (:meth:`TrainedModel.propensity`), else from ``dataset``'s labels.
        extract_kwargs: passed to feature extraction for image data sets (``cache_dir``, ``num_workers``...).
    """
    trained = _as_model(model, device)
    dataset = aligned_labels(dataset, trained)
    names = [str(n) for n in (getattr(dataset, "label_names", None) or trained.label_names
                              or range(dataset.labels.shape[1]))]
    rule = stored_rule(trained) if threshold is None else threshold
    if propensity is None:
        propensity = trained.propensity()
    inputs = model_inputs(trained, dataset, **extract_kwargs)
    metrics = score(trained, dataset.labels, inputs, {"model": rule}, propensity=propensity, batch_size=batch_size,
                    label_names=names).metrics["model"]
    return {**metrics, "label_names": names}
