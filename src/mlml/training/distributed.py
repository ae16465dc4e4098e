"""Distributed data parallel helpers (torch.distributed; launch with ``torchrun``).

Design: every process draws the SAME global batches (same seed, same permutation) and takes a contiguous
share of each; the local loss is rescaled by ``world_size * n_local / n_global`` so that DDP's gradient
averaging gives exactly the gradient of the global batch's mean loss. One process with batch size B and
P processes with global batch size B therefore follow the same trajectory, up to floating-point summation
order (and dropout / batch-norm statistics, which are per process).

Launch: ``torchrun --nproc_per_node=2 -m mlml train ...``; :func:`init_from_env` starts the process group
from torchrun's environment variables (``gloo`` on CPU, ``nccl`` on CUDA).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """``rank`` and ``world_size`` of this process (0 and 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """The current process group's rank and size (a single process when none is initialised)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size())
    return DistInfo()


def init_from_env(backend: str | None = None) -> DistInfo:
    """Initialise the default process group from torchrun's ``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` variables.

    Does nothing (and returns a single-process ``DistInfo``) when ``WORLD_SIZE`` is unset or 1.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return DistInfo()
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend=backend)
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist_info()


def local_share(batch: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This process's contiguous share of a global batch of row indices (``torch.tensor_split``)."""
    if not info.enabled:
        return batch
    return torch.tensor_split(batch, info.world_size)[info.rank]


def average_gradients(parameters: list[torch.nn.Parameter], info: DistInfo) -> None:
    """All-reduce (mean) the gradients of parameters DDP does not manage (e.g. a loss's own parameters)."""
    if not info.enabled:
        return
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= info.world_size


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
