"""mlml.data: every source as one :class:`Dataset`, filters, k-fold splits and ``data info`` statistics.

>>> from mlml.data import load, describe, format_info
>>> print(format_info(describe(load("yeast"))))
data set        yeast  [yeast]
samples         2,417
features        103 (dense)
labels          14
cardinality     4.237  (positives per sample, min 1, max 11)
...

Sources (:mod:`mlml.data.sources`): ``yeast`` | ``mulan:DIR`` | ``mulan:FILE.arff,FILE.xml`` |
``coco:ANN.json[,IMAGE_DIR]`` | ``nuswide:ROOT`` | ``openclipart[:ROOT]`` | ``csv:LABELS.csv[,FEATURES]`` |
``openimages:LABELS.csv[,DESCRIPTIONS.csv][,IMAGE_DIR]`` (partial annotations).
"""

from mlml.data.dataset import Dataset, apply_filters
from mlml.data.duplicates import DuplicateSamplesWarning
from mlml.data.info import describe, format_info
from mlml.data.sources import SOURCE_HELP, load, parse_source
from mlml.data.splits import kfold_indices

__all__ = [
    "SOURCE_HELP",
    "Dataset",
    "DuplicateSamplesWarning",
    "apply_filters",
    "describe",
    "format_info",
    "kfold_indices",
    "load",
    "parse_source",
]
