"""What the training loop reads: a torch ``Dataset`` of training rows and the weights of their labels.

A batch is ``(inputs, targets, known, weights, rows, suspect)`` for a list of training rows (positions ``0..n-1``
among the rows ``fit`` received):

* ``inputs`` -- the rows' features as a float32 tensor (dense, memory-mapped or CSR features, densified per
  batch) or their decoded images;
* ``targets`` -- float32, 1 for an observed positive and 0 otherwise; ``known`` -- bool, False on ``-1``;
* ``weights`` -- the entry weight ``w = y ω + (1 − y) ω̄`` of each entry (float32), or the pair ``(ω, ω̄)`` for a
  loss that reads ω on observed zeros (``Criterion.needs_pair``);
* ``rows`` -- long, the rows themselves (per-row state of losses such as ROLE's, and the adaptive evidence);
* ``suspect`` -- bool, True on the suspect zeros (observed ``0``): the only zeros a loss may reject, correct,
  down-weight or pseudo-label; a verified negative (``2``) has target 0 and ``known`` True but is not suspect.

Nothing of size ``n_rows x n_labels`` is made beyond the observed labels themselves, except the weight table:
:class:`WeightSource` asks the estimator for the weights of all rows at once (per weight refresh, i.e. once, or
once per epoch for adaptive estimators) when the float32 table fits in ``cache_bytes``; beyond it the weights
are computed in float32 for a block of upcoming rows at a time (the rows of the next batches of the epoch, about
``block_rows`` of them, one ``transform`` call) and sliced per batch, so that the estimator's per-call overhead is
paid once per block rather than once per batch. Labels and features (CSR or memory-mapped) are densified per
batch.

Batches: every epoch the rows are shuffled with a ``torch.Generator`` seeded from ``(seed, epoch)`` and cut into
global batches of ``batch_size``; under distributed training each process takes its contiguous share of every
global batch (:class:`EpochBatches`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from mlml.labels import LabelMatrix
from mlml.training.distributed import DistInfo, local_share
from mlml.training.model import rows_tensor

#: Default budget of the host-side weight table; beyond it weights are computed per block of rows.
WEIGHT_CACHE_BYTES = 512 * 2**20
#: Rows weighted at once beyond the cache (at most ``WEIGHT_BLOCK_BYTES`` of float32 weights).
WEIGHT_BLOCK_ROWS = 8192
WEIGHT_BLOCK_BYTES = 64 * 2**20
#: Largest float64 weight output asked for in one call when the table is cached (else it is filled by blocks).
WEIGHT_ONE_PIECE_BYTES = 128 * 2**20


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed for one epoch's stream of randomness (1: the shuffle, 2: image loading)."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


class EpochBatches(torch.utils.data.Sampler[list[int]]):
    """This process's share of each global batch of one epoch, as lists of training rows."""

    def __init__(self, n_rows: int, batch_size: int, seed: int, info: DistInfo) -> None:
        self.n_rows, self.batch_size, self.seed, self.info = n_rows, batch_size, seed, info
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s global batches (the same in every process)."""
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, epoch, 1))
        perm = torch.randperm(self.n_rows, generator=gen)
        self.global_batches = [perm[s : s + self.batch_size] for s in range(0, self.n_rows, self.batch_size)]

    @property
    def global_sizes(self) -> list[int]:
        """The size of each global batch of the epoch (the loss is scaled by its share under DDP)."""
        return [len(batch) for batch in self.global_batches]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches:
            yield local_share(batch, self.info).tolist()

    def __len__(self) -> int:
        return math.ceil(self.n_rows / self.batch_size)


class WeightSource:
    """The estimator's weights of the training rows' labels, in the form the loss takes.

    Args:
        estimator: a fitted weight estimator (fitted on exactly these rows, in this order).
        observed: int8 ``(n_rows, n_labels)``, dense or CSR.
        features: the rows' features, for feature-aware estimators (None otherwise).
        hidden: the rows' hidden-entry mask, for the oracle (None otherwise).
        pair: give ``(ω, ω̄)`` instead of the combined entry weight.
        fitted_rows: the rows' positions among the rows the estimator was fitted on (default ``0..n-1``: fitted on
            exactly these rows, in order).
        cache_bytes: largest weight table kept on the host (default ``WEIGHT_CACHE_BYTES``, read at the call);
            larger sets are weighted a block of rows at a time.
        block_rows: rows per block beyond the cache (default ``WEIGHT_BLOCK_ROWS``; fewer where a block would
            exceed ``WEIGHT_BLOCK_BYTES``).
    """

    def __init__(self, estimator: Any, observed: LabelMatrix, *, features: Any, hidden: Any, pair: bool,
                 fitted_rows: np.ndarray | None = None, cache_bytes: int | None = None,
                 block_rows: int | None = None) -> None:
        self.estimator, self.observed, self.features, self.hidden = estimator, observed, features, hidden
        self.pair = pair
        n_rows, n_labels = observed.shape
        self.fitted_rows = np.arange(n_rows) if fitted_rows is None else np.asarray(fitted_rows, dtype=np.int64)
        row_bytes = n_labels * 4 * (2 if pair else 1)
        self.cached = n_rows * row_bytes <= (WEIGHT_CACHE_BYTES if cache_bytes is None else cache_bytes)
        block_rows = WEIGHT_BLOCK_ROWS if block_rows is None else block_rows
        self.block_rows = max(1, min(int(block_rows), WEIGHT_BLOCK_BYTES // row_bytes))
        self.table: Any = None
        self._slot = None if self.cached else np.full(n_rows, -1, dtype=np.int64)  # row -> position in the block
        self._block_rows = np.empty(0, dtype=np.int64)
        self._block: Any = None
        self.refresh()

    def refresh(self) -> None:
        """Recompute the table (after the estimator was fitted or updated); beyond the cache, drop the block.

        The table is computed in one ``transform`` call, or, where the estimator's float64 output for every row
        would exceed ``WEIGHT_ONE_PIECE_BYTES``, block by block into the float32 table (the same values: the
        weights of a row never depend on the other rows of the call)."""
        if not self.cached:
            self._release()
            return
        n_rows, n_labels = self.observed.shape
        if n_rows * n_labels * 8 <= WEIGHT_ONE_PIECE_BYTES:
            self.table = self._compute(np.arange(n_rows))
            return
        parts = [torch.empty((n_rows, n_labels), dtype=torch.float32) for _ in range(2 if self.pair else 1)]
        for start in range(0, n_rows, self.block_rows):
            block = self._compute(np.arange(start, min(start + self.block_rows, n_rows)))
            for part, values in zip(parts, block if self.pair else (block,)):
                part[start : start + len(values)] = values
        self.table = tuple(parts) if self.pair else parts[0]

    def _release(self) -> None:
        if self._block_rows.size:
            self._slot[self._block_rows] = -1
        self._block_rows, self._block = np.empty(0, dtype=np.int64), None

    def _compute(self, rows: np.ndarray, dtype: Any = np.float64) -> Tensor | tuple[Tensor, Tensor]:
        def part(values: Any) -> Any:
            return None if values is None else values[rows]

        observed = self.observed[rows]
        extra = {} if np.dtype(dtype) == np.float64 else {"dtype": dtype}
        pos, neg = self.estimator.transform(observed, rows=self.fitted_rows[rows], features=part(self.features),
                                            hidden=part(self.hidden), **extra)
        if self.pair:
            return torch.from_numpy(np.array(pos, dtype=np.float32)), torch.from_numpy(np.array(neg, dtype=np.float32))
        if sp.issparse(observed):  # ω̄ everywhere, ω on the positives: no dense mask of the batch
            weight = np.array(neg, dtype=np.float32)
            csr = sp.csr_matrix(observed)
            keep = csr.data == 1
            entries = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))[keep], csr.indices[keep]
            weight[entries] = pos[entries]
            return torch.from_numpy(weight)
        return torch.from_numpy(np.where(observed == 1, pos, neg).astype(np.float32))

    def prefetch(self, rows: np.ndarray) -> None:
        """Weight ``rows`` (the rows of the next few batches) in one ``transform`` call, in float32; the batches
        among them are then sliced from that block. A no-op when the whole table is cached."""
        if self.cached:
            return
        self._release()
        rows = np.asarray(rows, dtype=np.int64)
        self._block = self._compute(rows, np.float32)
        self._block_rows = rows
        self._slot[rows] = np.arange(len(rows))

    def batch(self, rows: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        if self.cached:
            if self.pair:
                return self.table[0][rows], self.table[1][rows]
            return self.table[rows]
        index = rows.numpy()
        if self._block is not None and len(index):
            slot = self._slot[index]
            if (slot >= 0).all():
                where = torch.from_numpy(slot)
                return (self._block[0][where], self._block[1][where]) if self.pair else self._block[where]
        return self._compute(index, np.float32)


class TrainingSet(torch.utils.data.Dataset):
    """The training rows as a torch ``Dataset``: ``__getitems__(rows)`` gives one batch (see the module docstring).

    Args:
        inputs: features ``(n_rows, n_features)`` (a tensor, a dense or memory-mapped array, or CSR), or the image
            paths of the rows (finetune mode).
        observed: int8 ``(n_rows, n_labels)`` observed labels, dense or CSR.
        weights: the :class:`WeightSource` of these rows.
        images: ``(preprocess, augment, target_size)`` to decode image rows; None for features.
    """

    def __init__(self, inputs: Any, observed: LabelMatrix, weights: WeightSource, *,
                 images: tuple[Any, Any, int] | None = None) -> None:
        self.inputs, self.weights = inputs, weights
        self.sparse = sp.issparse(observed)
        self.observed = observed if self.sparse else torch.from_numpy(np.ascontiguousarray(observed))
        self.images = images

    def __len__(self) -> int:
        return self.observed.shape[0]

    def __getitems__(self, rows: Sequence[int] | Tensor) -> tuple[Any, Tensor, Tensor, Any, Tensor, Tensor]:
        index = rows if isinstance(rows, Tensor) else torch.as_tensor(rows, dtype=torch.long)
        if self.sparse:
            labels = torch.from_numpy(self.observed[index.numpy()].toarray())
        else:
            labels = self.observed[index]
        return (self._inputs(index), (labels == 1).float(), labels != -1, self.weights.batch(index), index,
                labels == 0)

    def _inputs(self, index: Tensor) -> Any:
        if self.images is None:
            if isinstance(self.inputs, Tensor):
                return self.inputs[index]
            return rows_tensor(self.inputs, index.numpy())
        from mlml.models.images import ImageFiles, collate_images

        preprocess, augment, target_size = self.images
        files = ImageFiles([self.inputs[i] for i in index.tolist()], preprocess, augment=augment,
                           target_size=target_size)
        images, _, _ = collate_images([files[i] for i in range(len(files))])
        return images if images is not None else torch.empty((0, 3, 1, 1))


def batches(dataset: TrainingSet, sampler: EpochBatches, *, num_workers: int, seed: int,
            epoch: int) -> Iterator[tuple[Any, Tensor, Tensor, Any, Tensor, Tensor]]:
    """One epoch of batches: read in this process, or by ``num_workers`` DataLoader workers (image decoding)."""
    sampler.set_epoch(epoch)
    if num_workers == 0:  # in-process: no DataLoader machinery (nor lists of ints) between the loop and the rows
        shares = (local_share(batch, sampler.info) for batch in sampler.global_batches)
        for group in _groups(shares, dataset.weights.block_rows):
            if not dataset.weights.cached:  # one transform call for the rows of these batches
                dataset.weights.prefetch(torch.cat(group).numpy())
            for rows in group:
                yield dataset.__getitems__(rows)
        return
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=num_workers, collate_fn=_as_is,
        generator=torch.Generator().manual_seed(epoch_seed(seed, epoch, 2)),
    )
    yield from loader


def _groups(batches: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive batches gathered until they hold at least ``size`` rows (the last group may hold fewer)."""
    group: list[Any] = []
    count = 0
    for rows in batches:
        group.append(rows)
        count += len(rows)
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group


def _as_is(batch: Any) -> Any:
    return batch


#: Sparse (CSR) feature matrices of at most this many entries (rows x features; 256 MiB as float32) are densified
#: once before the first epoch instead of batch by batch at every step: the same float32 values reach the model
#: (bit-identical results), without scipy's row indexing and ``toarray`` at every step and validation pass
#: (benchmarks/README.md, "The default method's time to a model").
DENSIFY_ENTRIES = 1 << 26


def in_memory(inputs: Any) -> bool:
    """Whether frozen features are held as one dense tensor: arrays in memory, and CSR matrices of at most
    :data:`DENSIFY_ENTRIES` entries; memory maps and larger CSR matrices are read batch by batch."""
    if sp.issparse(inputs):
        return inputs.shape[0] * inputs.shape[1] <= DENSIFY_ENTRIES
    return not isinstance(inputs, np.memmap)
