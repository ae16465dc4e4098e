"""A trained mlml model as an MLflow model (``pip install 'mlml[mlflow]'``): a ``pyfunc`` flavour that MLflow's
``mlflow.pyfunc.load_model``, ``mlflow models serve`` and batch scoring use like any other.

``predict`` takes features, ``(n_samples, n_features)`` as a NumPy array or a pandas DataFrame (frozen mode), or
image paths (a one-column DataFrame, or a list of paths: a finetuned model), and returns a DataFrame of
``n_samples`` rows with, for every label, its probability ``proba:<label>`` (float) and the model's decision
``decision:<label>`` (0/1, under the threshold policy stored with the model: ``mlml train --thresholds``), the
label names those of the training data (``label_<j>`` where unknown). The model folder (``model.pt`` and
``model.json``, as ``mlml train`` writes them) travels inside the MLflow model as its artifact ``mlml-model``;
:func:`mlml.training.load_model` reads it.

Example, after ``mlml train yeast --out models/yeast --track mlflow`` (its run id printed)::

    import mlflow
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    model.predict(X)            # DataFrame: proba:Class1 ... decision:Class14
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mlml.exceptions import MLMLError

try:
    import mlflow.pyfunc
except ImportError:  # the class below needs MLflow's base; say how to install it when it is used
    mlflow = None

#: The files of a model folder the MLflow model carries (not the training labels beside them).
MODEL_FILES = ("model.pt", "model.json")
ARTIFACT = "mlml-model"


class MlmlPyfunc(mlflow.pyfunc.PythonModel if mlflow is not None else object):  # type: ignore[misc]
    """The ``pyfunc`` model: loads the model folder (artifact ``mlml-model``) and predicts named probabilities
    and decisions (see the module docstring)."""

    def load_context(self, context):  # noqa: ANN001 -- untyped: MLflow reads type hints as a schema
        from mlml.training import load_model

        self.model = load_model(context.artifacts[ARTIFACT])

    def predict(self, context, model_input, params=None):  # noqa: ANN001 -- (the signature is the schema)
        return predict_frame(self.model, model_input)


def predict_frame(model: Any, model_input: Any) -> Any:
    """``model``'s probabilities and decisions for ``model_input`` as a DataFrame (see the module docstring)."""
    import pandas as pd

    inputs = _inputs(model, model_input)
    proba = model.predict_proba(inputs)
    decided = (proba >= model.decision_thresholds_for(proba)).astype(np.int8)
    names = model.label_names or [f"label_{j}" for j in range(model.n_labels)]
    columns = {f"proba:{name}": proba[:, j] for j, name in enumerate(names)}
    columns.update({f"decision:{name}": decided[:, j] for j, name in enumerate(names)})
    index = model_input.index if isinstance(model_input, pd.DataFrame) else None
    return pd.DataFrame(columns, index=index)


def _inputs(model: Any, model_input: Any) -> Any:
    """Features as float32 ``(n, n_features)`` (frozen mode) or a list of image paths (finetune mode)."""
    import pandas as pd

    if model.config.mode == "finetune":
        if isinstance(model_input, pd.DataFrame):
            if model_input.shape[1] != 1:
                raise MLMLError(f"A finetuned model predicts from image paths: give one column of paths. Got "
                                f"{model_input.shape[1]} columns.")
            model_input = model_input.iloc[:, 0]
        return [str(p) for p in np.asarray(model_input, dtype=object).ravel()]
    if isinstance(model_input, pd.DataFrame):
        model_input = model_input.to_numpy()
    return np.asarray(model_input, dtype=np.float32)


def save_pyfunc(model_dir: str | Path, path: str | Path, *, example: Any = None) -> Path:
    """Write the model folder ``model_dir`` as an MLflow model at ``path`` (which must not exist) and return it.

    ``example``: a few input rows; with them the model's signature (its input columns, its output columns) is
    recorded, which MLflow's serving checks requests against.

    Raises:
        MLMLError: MLflow is not installed, or ``model_dir`` is not a model folder.
    """
    if mlflow is None:
        raise MLMLError("Logging an MLflow model needs MLflow: pip install 'mlml[mlflow]'")
    import torch
    from mlflow.models import infer_signature

    import mlml
    from mlml.training import load_model

    model_dir, path = Path(model_dir), Path(path)
    model = load_model(model_dir)  # checks the folder, names the missing file
    staged = path.parent / f".{path.name}-staged" / ARTIFACT  # MLflow keeps the folder's name
    staged.mkdir(parents=True)
    try:
        for name in MODEL_FILES:
            shutil.copy2(model_dir / name, staged / name)
        with warnings.catch_warnings():  # MLflow's hints on integer inputs and type hints do not apply here
            warnings.filterwarnings("ignore", message=".*(integer column|type hints|Type hint).*", category=UserWarning)
            signature = None if example is None else infer_signature(example, predict_frame(model, example))
            mlflow.pyfunc.save_model(
                # the model as code (src/mlml/_mlflow_pyfunc.py), not a pickled object, as MLflow 3 advises
                str(path), python_model=str(Path(__file__).with_name("_mlflow_pyfunc.py")),
                artifacts={ARTIFACT: str(staged)}, signature=signature,
                input_example=example,
                # named, so that MLflow does not infer them by importing the model in a subprocess (seconds)
                pip_requirements=[f"mlml=={mlml.__version__}", f"torch=={torch.__version__.split('+')[0]}"],
            )
    finally:
        shutil.rmtree(staged.parent, ignore_errors=True)
    return path
