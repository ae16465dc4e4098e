"""Training: the configuration, the loop (frozen features or fine-tuning), the saved model, checkpoints and
distributed runs.

``fit`` trains on training rows (validation rows for early stopping come from :mod:`mlml.folds`);
``TrainResult``/``TrainedModel`` predict, save and load; ``evaluate_model`` scores a model on a data set.
"""

from mlml.training.config import DEFAULT_LR, TrainConfig
from mlml.training.distributed import dist_info, init_from_env
from mlml.training.evaluate import evaluate_model, model_inputs, predict
from mlml.training.loop import fit
from mlml.training.metrics import observed_bce, observed_map
from mlml.training.saved import TrainedModel, TrainResult, load_model

__all__ = [
    "DEFAULT_LR",
    "TrainConfig",
    "TrainResult",
    "TrainedModel",
    "dist_info",
    "evaluate_model",
    "fit",
    "init_from_env",
    "load_model",
    "model_inputs",
    "observed_bce",
    "observed_map",
    "predict",
]
