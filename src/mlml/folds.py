"""The fold layer: one function prepares what a model trains and is tested on, for the CLI, the grid and every
benchmark alike.

A :class:`Fold` is made in the protocol's order -- split first, then hide, then carve:

1. **split**: the data set's rows are divided into a training fold and a test fold (``split``; the test fold is
   empty for ``mlml train``, which trains on every row);
2. **hide**: positives of the training fold only are hidden (:func:`mlml.simulate.hide_positives`, seeded by
   ``hiding``); the test fold keeps its complete labels;
3. **carve**: ``val_fraction`` of the training fold becomes the validation rows (seeded by ``seed``), which keep
   their *observed* labels -- early stopping, model selection and threshold tuning see only what a user has.

Everything label-derived downstream (weights, standardisation, thresholds) is then fitted on the training rows'
observed labels by :func:`mlml.training.fit`. Only an oracle method ever reads ``hidden_train``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml._validation import RandomState
from mlml.exceptions import MLMLError
from mlml.labels import LabelMatrix


@dataclass
class Fold:
    """One fold of the protocol (see the module docstring). Rows are positions in ``dataset``.

    Attributes:
        dataset: the data set the rows index (complete labels as loaded).
        inputs: what the model reads for every row of the data set: features ``(n, d)`` (dense, memory-mapped or
            CSR) or a list of image paths.
        train, val, test: int64 row positions, each sorted.
        observed_train, observed_val: int8 observed labels of those rows (dense or CSR, as the data set's).
        hidden_train, hidden_val: bool masks of their hidden positives (all False at ratio 0); CSR where the data
            set's labels are CSR (nothing of size ``n x n_labels`` is made for sparse data), dense otherwise.
        test_labels: the complete labels of the test rows.
        ratio, scheme: the simulation that made the observed labels.
    """

    dataset: Any
    inputs: Any
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    observed_train: LabelMatrix
    observed_val: LabelMatrix
    hidden_train: LabelMatrix
    hidden_val: LabelMatrix
    test_labels: LabelMatrix
    ratio: float | None
    scheme: str

    def rows(self, rows: np.ndarray) -> Any:
        """The inputs of ``rows``: feature rows, or a list of image paths."""
        if isinstance(self.inputs, list):
            return [self.inputs[i] for i in rows]
        return self.inputs[rows]

    @property
    def train_inputs(self) -> Any:
        return self.rows(self.train)

    @property
    def val_inputs(self) -> Any:
        return self.rows(self.val)

    @property
    def test_inputs(self) -> Any:
        return self.rows(self.test)

    def training_fold(self) -> tuple[np.ndarray, LabelMatrix, LabelMatrix]:
        """The whole training fold (training and validation rows), sorted: ``(rows, observed, hidden)``, dense, or
        CSR where the data set's labels are CSR."""
        rows = np.concatenate([self.train, self.val])
        order = np.argsort(rows, kind="stable")
        if sp.issparse(self.observed_train):
            observed = sp.vstack([self.observed_train, self.observed_val], format="csr")[order]
            hidden = sp.vstack([sp.csr_matrix(self.hidden_train), sp.csr_matrix(self.hidden_val)], format="csr")
            return rows[order], observed, hidden[order]
        from mlml.labels import to_dense

        observed = np.concatenate([to_dense(self.observed_train), to_dense(self.observed_val)])
        hidden = np.concatenate([self.hidden_train, self.hidden_val])
        return rows[order], observed[order], hidden[order]

    @property
    def validation(self) -> tuple[Any, LabelMatrix] | None:
        """``(inputs, observed labels)`` of the validation rows for :func:`mlml.training.fit`; None without any."""
        return (self.val_inputs, self.observed_val) if len(self.val) else None

    def validation_for(self, variant: str = "observed") -> tuple[Any, LabelMatrix] | None:
        """:attr:`validation` (``variant="observed"``), or with the validation rows' COMPLETE labels as loaded
        (``"complete"``: model selection on labels a user of real data would not have -- the single-positive
        repositories' default ``val_set_variant = 'clean'``; :attr:`mlml.methods.Method.val_set_variant`)."""
        if variant == "observed" or not len(self.val):
            return self.validation
        if variant != "complete":
            raise MLMLError(f"The 'variant' parameter of Fold.validation_for must be 'observed' or 'complete'. "
                            f"Got {variant!r} instead.")
        return self.val_inputs, _rows(self.dataset.labels, self.val)


def make_fold(
    dataset: Any,
    split: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    ratio: float | None = 0.0,
    scheme: str = "per-sample",
    seed: int = 0,
    val_fraction: float = 0.1,
    hiding: RandomState = None,
    inputs: Any = None,
) -> Fold:
    """Split, hide and carve one fold of ``dataset`` (see the module docstring).

    Args:
        dataset: an :class:`mlml.data.Dataset` (or anything with ``labels``, ``features``, ``image_paths``).
        split: ``(training rows, test rows)``, e.g. one item of :func:`mlml.data.splits.kfold_indices`; None: every
            row is a training row and there is no test fold.
        ratio: the missing ratio of :func:`~mlml.simulate.hide_positives` (None for ``single-positive``).
        scheme: its simulation scheme.
        seed: seeds the validation carve (``SeedSequence([seed, 0x5EED])``).
        val_fraction: share of the training fold carved out for validation (``round(val_fraction * n)``, at least
            one row when positive).
        hiding: the random state of the hidden positives (default ``seed``); the grid passes one per
            (seed, fold, ratio), so that every method of a grid sees the same observed labels.
        inputs: what the model reads per row (default: the data set's features, else its image paths).

    Raises:
        MLMLError: overlapping or out-of-range rows, a bad ratio, scheme or fraction, a carve that leaves no
            training row.
    """
    from mlml.simulate import hide_positives

    n = dataset.labels.shape[0]
    if split is None:
        train_fold, test = np.arange(n), np.empty(0, dtype=np.int64)
    else:
        train_fold, test = (np.asarray(part, dtype=np.int64).ravel() for part in split)
        everything = np.concatenate([train_fold, test])
        if everything.size and (everything.min() < 0 or everything.max() >= n):
            raise MLMLError(f"The 'split' of make_fold holds rows outside [0, {n}).")
        if len(np.unique(everything)) != len(everything):
            raise MLMLError("The 'split' of make_fold repeats a row (within or across its training and test parts).")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise MLMLError(f"The 'val_fraction' parameter of make_fold must be in [0, 1). Got {val_fraction!r}.")
    if inputs is None:
        inputs = dataset.features if dataset.features is not None else [str(p) for p in dataset.image_paths or ()]
    labels = dataset.labels
    observed, hidden = hide_positives(_rows(labels, train_fold), ratio, scheme=scheme,
                                      random_state=seed if hiding is None else hiding)
    hidden = sp.csr_matrix(hidden, dtype=bool) if sp.issparse(hidden) else np.asarray(hidden, dtype=bool)

    n_fold = len(train_fold)
    n_val = 0 if val_fraction == 0 else max(1, int(round(val_fraction * n_fold)))
    if n_fold - n_val < 1:
        raise MLMLError(f"val_fraction={val_fraction} leaves no training rows out of {n_fold}.")
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED])).permutation(n_fold)
    val_pos, train_pos = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return Fold(
        dataset=dataset, inputs=inputs, train=train_fold[train_pos], val=train_fold[val_pos], test=test,
        observed_train=_rows(observed, train_pos), observed_val=_rows(observed, val_pos),
        hidden_train=hidden[train_pos], hidden_val=hidden[val_pos], test_labels=_rows(labels, test),
        ratio=ratio, scheme=scheme,
    )


def _rows(labels: LabelMatrix, rows: np.ndarray) -> LabelMatrix:
    part = labels[rows]
    return part if sp.issparse(part) else np.ascontiguousarray(part)
