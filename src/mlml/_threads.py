"""Torch's intra-op thread count for the length of a block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: unchanged); the previous count is restored."""
    import torch  # lazily: modules that only sometimes use torch stay free of its import

    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: Multiply-adds of one training step (batch x per-sample work) that one more intra-op thread is given. Below it,
#: a step's matrix products are too small to split: torch's threads spend the step synchronising (the issue-20
#: measurement: 25.7 s with torch's default thread count, 1.1 s with one thread, enron-sized data). Measured by
#: benchmarks/bench_threads.py (benchmarks/README.md, issue 20).
MACS_PER_THREAD = 1 << 28


def auto_threads(n_parameters: int, batch_size: int, *, cpu_count: int | None = None, cap: int = 8) -> int:
    """Intra-op threads for training a model of ``n_parameters`` (frozen features: about one multiply-add per
    parameter and sample) on batches of ``batch_size``: one per :data:`MACS_PER_THREAD` multiply-adds of a step,
    at least 1, at most ``min(cpu_count, cap)``."""
    import os

    if cpu_count is None:
        cpu_count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cores = max(1, int(cpu_count))
    work = int(n_parameters) * int(batch_size)
    return max(1, min(cores, cap, work // MACS_PER_THREAD))
