"""Thread counts for the length of a block: torch's intra-op threads, and the BLAS library's behind numpy."""

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
    return threads_for(int(n_parameters) * int(batch_size), cpu_count=cpu_count, cap=cap)


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most ``n`` threads in the BLAS library numpy and scipy call (None: unchanged).

    Why: OpenBLAS starts one thread per core for every product, however small, and its threads spin while they
    wait; where the products are small (``mlml.diagnose`` on a MULAN set: Gram matrices of a few hundred columns)
    or other processes hold the cores, the spinning threads take the cores from each other (issue 20, third
    round: ``mlml.diagnose`` on medical 0.4-0.6 s with one thread, 2-30 s with two on the shared 2-core machine;
    benchmarks/README.md)."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def threads_for(macs: int, *, cpu_count: int | None = None, cap: int = 8) -> int:
    """Threads for a product of ``macs`` multiply-adds: one per :data:`MACS_PER_THREAD`, at least 1, at most
    ``min(cpu_count, cap)`` (the rule of :func:`auto_threads`, for any library's threads)."""
    import os

    if cpu_count is None:
        cpu_count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(max(1, int(cpu_count)), cap, int(macs) // MACS_PER_THREAD))
