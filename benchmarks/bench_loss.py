"""Loss overhead: forward + backward of ``weighted_bce`` against PyTorch's BCE, and of every registered loss.

Run from the repository root: ``python benchmarks/bench_loss.py [--threads 1] [--repeats 200]``.

Baselines, measured in the same run and interleaved with the candidates (round robin, so that load from other
processes hits all of them alike):

* ``bce``          -- ``F.binary_cross_entropy_with_logits(z, y)``: plain BCE, no weight (the cost of the loss
  with no confidence weights at all);
* ``bce+weight``   -- the same given a precomputed entry-weight tensor ``w`` (the fairest baseline for
  ``weighted_bce(z, y, w)``, which has the same inputs);

and the candidates ``weighted_bce(z, y, (ω, ω̄))`` (combines the two weight tensors itself, one more input to
read than ``bce+weight``) and ``weighted_bce(z, y, w)`` (the combined weight: what the trainer passes). Each timing
is one forward and backward pass
(``loss.backward()``), median over ``--repeats`` after ``--warmup`` untimed runs; the minimum is printed too.
Target: ``weighted_bce`` within 1.05x of the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mlml.losses import LOSSES
from mlml.losses import functional as LF

SHAPES = [(256, 80), (4096, 1000)]


def make_batch(n: int, c: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=g).mul_(2.0).requires_grad_(True)
    targets = (torch.rand(n, c, generator=g) < 0.1).float()
    pos = torch.rand(n, c, generator=g) + 0.5
    neg = torch.rand(n, c, generator=g)
    return logits, targets, pos, neg


def time_interleaved(
    candidates: dict[str, Callable[[], torch.Tensor]], logits: torch.Tensor, repeats: int, warmup: int
) -> dict[str, tuple[float, float]]:
    """Median and minimum seconds of ``fn().backward()`` per candidate, run round robin."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for i in range(warmup + repeats):
        for name, fn in candidates.items():
            logits.grad = None
            start = time.perf_counter()
            fn().backward()
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times[name].append(elapsed)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def repeats_for(numel: int, repeats: int) -> int:
    """Fewer repeats for the big batch so the script stays short (at least 30)."""
    return max(30, repeats if numel < 1_000_000 else repeats // 5)


def bench_weighted_bce(repeats: int, warmup: int) -> None:
    print("\n## weighted_bce vs F.binary_cross_entropy_with_logits (forward + backward)")
    print(f"(fused autograd path from {LF.FUSED_MIN_NUMEL} entries; below that the composite path)")
    for n, c in SHAPES:
        logits, targets, pos, neg = make_batch(n, c)
        weight = LF.entry_weight(targets, (pos, neg))
        candidates = {
            "bce": lambda: F.binary_cross_entropy_with_logits(logits, targets),
            "bce+weight": lambda: F.binary_cross_entropy_with_logits(logits, targets, weight=weight),
            "weighted_bce(ω, ω̄)": lambda: LF.weighted_bce(logits, targets, (pos, neg)),
            "weighted_bce(w)": lambda: LF.weighted_bce(logits, targets, weight),
            "weighted_bce()": lambda: LF.weighted_bce(logits, targets),
        }
        result = time_interleaved(candidates, logits, repeats_for(n * c, repeats), warmup)
        print(f"\n{n} x {c}  ({repeats_for(n * c, repeats)} repeats)")
        print(f"  {'':26s} {'median':>11s} {'min':>11s}")
        for name, (med, low) in result.items():
            print(f"  {name:26s} {med * 1e6:9.0f}us {low * 1e6:9.0f}us")
        base, base_w = result["bce"][0], result["bce+weight"][0]
        for name, ref_name, ref in [
            ("weighted_bce(ω, ω̄)", "bce", base),
            ("weighted_bce(ω, ω̄)", "bce+weight", base_w),
            ("weighted_bce(w)", "bce+weight", base_w),
            ("weighted_bce(w)", "bce", base),
            ("weighted_bce()", "bce", base),
        ]:
            ratio = result[name][0] / ref
            flag = "ok" if ratio <= 1.05 else "over 1.05"
            print(f"  ratio {name} / {ref_name}: {ratio:.3f} ({flag})")


def bench_registry(repeats: int, warmup: int) -> None:
    n, c = SHAPES[0]
    print(f"\n## every registered loss, {n} x {c}, with (ω, ω̄) weights; ratio to plain BCE (median)")
    logits, targets, pos, neg = make_batch(n, c)
    index = torch.arange(n)
    observed = targets.numpy().astype(np.int8)
    candidates: dict[str, Callable[[], torch.Tensor]] = {
        "bce": lambda: F.binary_cross_entropy_with_logits(logits, targets)
    }
    for name in LOSSES.names():
        crit = LOSSES.create(name)
        crit.setup(observed)
        crit.start_epoch(5)
        candidates[name] = lambda crit=crit: crit(logits, targets, (pos, neg), index=index)
    result = time_interleaved(candidates, logits, repeats, warmup)
    base = result["bce"][0]
    for name, (med, _) in result.items():
        print(f"  {name:14s} {med * 1e6:8.0f}us  x{med / base:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--skip-registry", action="store_true", help="only the weighted_bce comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32, CPU")
    bench_weighted_bce(args.repeats, args.warmup)
    if not args.skip_registry:
        bench_registry(args.repeats, args.warmup)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
