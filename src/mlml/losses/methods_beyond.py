"""Methods beyond the paper: confidence weights that use the features and the model's own evidence.

Importing this module registers the estimators ``knn``, ``pu-adaptive`` and ``knn-pu-adaptive`` (in
:mod:`mlml.weights.neighbors` and :mod:`mlml.weights.adaptive`) and the methods below, all with the paper's
weighted BCE (Eq. 2) as the loss, so that ``mlml reproduce --methods all`` compares them with every baseline.
"""

from mlml.losses.registry import Method, register_method
from mlml.weights import adaptive as _adaptive  # noqa: F401  (registers the estimators)
from mlml.weights import neighbors as _neighbors  # noqa: F401

register_method(
    Method(
        "knn-cb-wce",
        "weighted-bce",
        "knn",
        description="co-occurrence prior refined by a k-NN vote in feature space (Bayes' rule)",
    )
)
register_method(
    Method(
        "pu-wce",
        "weighted-bce",
        "pu-adaptive",
        description="co-occurrence prior moved each epoch towards the model's PU posterior (Elkan & Noto)",
    )
)
register_method(
    Method(
        "knn-pu-wce",
        "weighted-bce",
        "knn-pu-adaptive",
        description="k-NN-refined prior moved each epoch towards the model's PU posterior",
    )
)
