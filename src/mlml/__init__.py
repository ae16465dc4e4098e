"""mlml: multi-label classification with missing labels.

Hide positives (:mod:`mlml.simulate`), estimate how confident each observed 0 is (:mod:`mlml.weights`),
train with weighted losses (:mod:`mlml.losses`, :mod:`mlml.training`), evaluate with masks
(:mod:`mlml.evaluation`) and run the paper's experiment grid (:mod:`mlml.experiments`).
"""

from mlml.exceptions import DataError, MLMLError
from mlml.labels import LabelTable, check_labels, read_labels_csv, write_labels_csv
from mlml.simulate import hide_positives

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "LabelTable",
    "MLMLError",
    "__version__",
    "check_labels",
    "hide_positives",
    "read_labels_csv",
    "write_labels_csv",
]
