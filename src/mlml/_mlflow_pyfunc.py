"""The code of mlml's MLflow model ("models from code", MLflow 3's advice over a pickled object): MLflow copies this
file into the saved model and runs it when the model is loaded; it names :class:`mlml.mlflow_model.MlmlPyfunc` as
the model. Not imported by mlml itself."""

import mlflow.models

from mlml.mlflow_model import MlmlPyfunc

mlflow.models.set_model(MlmlPyfunc())
