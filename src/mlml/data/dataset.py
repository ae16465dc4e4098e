"""The one container every loader returns, and the sample/label filters.

A :class:`Dataset` holds the label matrix as loaded (``int8``, dense or CSR): complete labels (``1`` positive,
``0`` negative) for every source but a partially annotated one, which also holds ``2`` (verified negative) and
``-1`` (unannotated; see :mod:`mlml.labels`). Its test folds are scored on the annotated entries only: ``-1`` is
masked, ``2`` is a negative (:func:`mlml.evaluation.evaluate`). The data set also holds the label names, one
string id per sample, and either features (``float32`` ``(n_samples, n_features)``, dense or CSR) or image paths,
plus a ``provenance`` dict that says where the data came from and what the filters removed. The rest of mlml
never needs to know which loader built it.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml._validation import first_duplicate
from mlml.exceptions import MLMLError
from mlml.labels import LabelMatrix, check_labels, label_counts, positives_per_sample

FeatureMatrix = np.ndarray | sp.csr_matrix

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def first_nonfinite(values: np.ndarray | sp.spmatrix) -> tuple[int, int, float] | None:
    """The first entry (row-major) of a feature matrix that cannot be a ``float32`` feature, or None.

    NaN, +-inf and finite values beyond the ``float32`` range (which become inf once stored as ``float32``) are
    refused; loaders call this before converting and name the file, row and column in their error.

    Args:
        values: 2-D ``(n_samples, n_features)`` numbers, dense or sparse, any dtype (integers always pass).

    Returns:
        ``(row, column, value)`` with 0-based positions, or None when every entry is fine.
    """
    if sp.issparse(values):
        matrix = sp.csr_matrix(values)
        data = np.asarray(matrix.data)
        if not np.issubdtype(data.dtype, np.floating):
            return None
        bad = np.flatnonzero(~(np.abs(data) <= _FLOAT32_MAX))  # NaN compares False
        if not bad.size:
            return None
        rows = np.searchsorted(matrix.indptr, bad, side="right") - 1
        columns = matrix.indices[bad]
        first = np.lexsort((columns, rows))[0]
        return int(rows[first]), int(columns[first]), float(data[bad[first]])
    dense = np.asarray(values)
    if not np.issubdtype(dense.dtype, np.floating):
        return None
    bad = ~(np.abs(dense) <= _FLOAT32_MAX)
    if not bad.any():
        return None
    row, column = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return int(row), int(column), float(dense[row, column])


@dataclass
class Dataset:
    """Samples, their complete labels and their features or images.

    Attributes:
        name: short name of the data set (``yeast``, ``scene``, ``coco``, ...).
        labels: ``int8`` matrix of shape ``(n_samples, n_labels)``, dense or CSR: values in ``{0, 1}`` (complete
            labels), or partial annotations in ``{1, 2, -1}`` and possibly ``0`` (``partial`` is then True).
        label_names: ``n_labels`` names, in the column order of ``labels``.
        ids: ``(n_samples,)`` array of unique string ids.
        features: ``float32`` ``(n_samples, n_features)`` matrix, dense or CSR, or None for image data.
        image_paths: ``n_samples`` image paths, or None for feature data.
        provenance: where the data came from: ``source`` (the SOURCE string), ``loader``, ``files``, ``notes``
            and ``filters`` (a list of dicts, each with ``filter``, ``value``, ``removed_samples`` and,
            where it
            removes labels, ``removed_labels``).
    """

    name: str
    labels: LabelMatrix
    label_names: list[str]
    ids: np.ndarray
    features: FeatureMatrix | None = None
    image_paths: list[Path] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = check_labels(self.labels, name=f"the labels of data set {self.name!r}", allow_unknown=True)
        self.label_names = [str(name) for name in self.label_names]
        self.ids = np.asarray(self.ids).astype(str)
        n_samples, n_labels = self.labels.shape
        if len(self.label_names) != n_labels:
            raise MLMLError(
                f"Data set {self.name!r}: {len(self.label_names)} label names for {n_labels} label columns."
            )
        duplicate = first_duplicate(self.label_names)
        if duplicate is not None:
            raise MLMLError(f"Data set {self.name!r}: the label name {duplicate!r} occurs more than once.")
        empty = next((i for i, name in enumerate(self.label_names) if not name.strip()), None)
        if empty is not None:
            raise MLMLError(f"Data set {self.name!r}: label {empty} has an empty name; every class needs a name.")
        if self.ids.shape != (n_samples,):
            raise MLMLError(f"Data set {self.name!r}: {self.ids.shape[0]} ids for {n_samples} samples.")
        if len(np.unique(self.ids)) != n_samples:
            values, counts = np.unique(self.ids, return_counts=True)
            raise MLMLError(
                f"Data set {self.name!r}: the id {str(values[counts > 1][0])!r} occurs more than once."
            )
        if self.features is not None:
            if sp.issparse(self.features):
                self.features = sp.csr_matrix(self.features, dtype=np.float32)
            else:
                self.features = np.asarray(self.features, dtype=np.float32)
            if self.features.ndim != 2 or self.features.shape[0] != n_samples:
                raise MLMLError(
                    f"Data set {self.name!r}: features of shape {self.features.shape} for {n_samples} "
                    "samples; "
                    "expected (n_samples, n_features)."
                )
        if self.image_paths is not None:
            self.image_paths = [Path(p) for p in self.image_paths]
            if len(self.image_paths) != n_samples:
                raise MLMLError(
                    f"Data set {self.name!r}: {len(self.image_paths)} image paths for {n_samples} samples."
                )
        self.provenance.setdefault("filters", [])

    @property
    def partial(self) -> bool:
        """Whether the labels are partial annotations (some entry is unannotated, -1, or a verified negative, 2)."""
        from mlml.labels import is_partial

        return is_partial(self.labels)

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_labels(self) -> int:
        return int(self.labels.shape[1])

    @property
    def n_features(self) -> int | None:
        """Number of feature columns, or None for image data."""
        return None if self.features is None else int(self.features.shape[1])

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """The samples at ``indices`` (integer positions or a boolean mask), in that order.

        Labels, ids, features and image paths are subset together; the provenance is copied.
        """
        index = np.asarray(indices)
        if index.dtype == bool:
            if index.shape != (self.n_samples,):
                raise MLMLError(
                    f"A boolean mask for subset() needs {self.n_samples} entries. Got shape {index.shape}."
                )
            index = np.flatnonzero(index)
        elif index.size and not np.issubdtype(index.dtype, np.integer):
            raise MLMLError(f"subset() takes integer positions or a boolean mask. Got dtype {index.dtype}.")
        index = index.astype(np.intp).ravel()
        if index.size and (index.min() < -self.n_samples or index.max() >= self.n_samples):
            raise MLMLError(
                f"subset() got an index out of range for {self.n_samples} samples: "
                f"{int(index.max()) if index.max() >= self.n_samples else int(index.min())}."
            )
        return Dataset(
            name=self.name,
            labels=self.labels[index],
            label_names=list(self.label_names),
            ids=self.ids[index],
            features=None if self.features is None else self.features[index],
            image_paths=None if self.image_paths is None else [self.image_paths[i] for i in index],
            provenance=copy.deepcopy(self.provenance),
        )

    def select_labels(self, columns: Sequence[int] | np.ndarray) -> Dataset:
        """The same samples with only the label columns at ``columns`` (in that order)."""
        columns = np.asarray(columns, dtype=np.intp)
        return Dataset(
            name=self.name,
            labels=self.labels[:, columns],
            label_names=[self.label_names[c] for c in columns],
            ids=self.ids,
            features=self.features,
            image_paths=self.image_paths,
            provenance=copy.deepcopy(self.provenance),
        )

    def __repr__(self) -> str:
        kind = "images" if self.image_paths is not None else f"{self.n_features} features"
        return f"Dataset({self.name!r}, {self.n_samples} samples, {self.n_labels} labels, {kind})"


def _check_count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise MLMLError(f"The {name!r} parameter of load must be an int >= 0 or None. Got {value!r} instead.")
    return int(value)


def apply_filters(
    dataset: Dataset,
    *,
    min_labels: int | None = None,
    min_label_frequency: int | None = None,
    drop_empty: bool = False,
) -> Dataset:
    """Filter labels and samples, recording in ``provenance["filters"]`` what each step removed.

    The steps run in this order:

    1. ``min_label_frequency``: drop label columns with fewer than this many positives (this defines the
       label set, on all samples as loaded);
    2. ``min_labels``: keep samples with at least this many positives among the remaining labels (the paper's
       COCO subset is ``min_labels=4``, its NUS-WIDE subset ``min_labels=3``);
    3. ``drop_empty``: drop samples with no positive label left.

    Args:
        dataset: the data set to filter (not modified).
        min_labels: minimum number of positives per sample, or None.
        min_label_frequency: minimum number of positives per label, or None.
        drop_empty: whether to drop samples without any positive.

    Raises:
        MLMLError: a negative or non-integer threshold, or a filter that removes every label or sample.
    """
    min_labels = _check_count(min_labels, "min_labels")
    min_label_frequency = _check_count(min_label_frequency, "min_label_frequency")
    result = copy.copy(dataset)  # never modify the caller's provenance
    result.provenance = copy.deepcopy(dataset.provenance)
    if min_label_frequency is not None:
        counts = label_counts(result.labels)
        keep = np.flatnonzero(counts >= min_label_frequency)
        if keep.size == 0:
            raise MLMLError(
                f"min_label_frequency={min_label_frequency} removes every label of {dataset.name!r} "
                f"(the most frequent label has {int(counts.max())} positives)."
            )
        removed = [result.label_names[c] for c in np.flatnonzero(counts < min_label_frequency)]
        result = result.select_labels(keep)
        result.provenance["filters"].append(
            {
                "filter": "min_label_frequency",
                "value": min_label_frequency,
                "removed_samples": 0,
                "removed_labels": len(removed),
                "removed_label_names": removed,
            }
        )
    for name, value, threshold in (
        ("min_labels", min_labels, min_labels),
        ("drop_empty", drop_empty, 1 if drop_empty else None),
    ):
        if threshold is None:
            continue
        keep_mask = positives_per_sample(result.labels) >= threshold
        if not keep_mask.any():
            raise MLMLError(f"{name}={value!r} removes every sample of {dataset.name!r}.")
        removed_samples = int((~keep_mask).sum())
        if removed_samples:
            result = result.subset(keep_mask)
        result.provenance["filters"].append(
            {"filter": name, "value": value, "removed_samples": removed_samples}
        )
    return result
