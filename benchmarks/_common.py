"""What the benchmark scripts share: where the real data sets are, and how a script says it skips a part.

The real data sets live in ``../shared/data`` next to the repository (see its README); ``MLML_SHARED_DATA``
points elsewhere (the test suite reads the same variable). A part whose data, package or device is absent is
skipped with a printed reason, so that ``make bench`` runs to the end on any machine; a skipped part prints no
figure.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """``$MLML_SHARED_DATA`` when set, else ``../shared/data`` beside the repository root."""
    return Path(os.environ.get("MLML_SHARED_DATA", ROOT.parent / "shared" / "data"))


def short_name(source: str) -> str:
    """A data set's name in tables: ``mulan:../shared/data/mulan/yeast`` -> ``yeast``."""
    return source.rstrip("/").rsplit("/", 1)[-1].split(":")[-1]


def present(path: Path, what: str) -> bool:
    """True when ``path`` exists; else prints ``WHAT: skipped (PATH absent ...)`` and returns False."""
    if path.exists():
        return True
    print(f"{what}: skipped ({path} is absent; set MLML_SHARED_DATA to the folder holding the real data sets)")
    return False


def add_bench_auto_inputs(parser: argparse.ArgumentParser, *, trains: bool = False) -> None:
    """``--cache`` and ``--dump``: where ``bench_auto.py`` kept the folds it trained, for the scripts that read them;
    with ``trains``, also its ``--epochs`` and ``--seed``, for those that train more models on the same folds."""
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bench_auto.jsonl"), help="bench_auto.py's --cache")
    parser.add_argument("--dump", type=Path, default=Path("/tmp/bench_auto_dump"), help="bench_auto.py's --dump")
    if trains:
        parser.add_argument("--epochs", type=int, default=60, help="bench_auto.py's --epochs")
        parser.add_argument("--seed", type=int, default=0, help="bench_auto.py's --seed")


def cache_rows(cache: Path) -> list[dict]:
    """The rows of a JSON-lines cache (one fold each)."""
    return [json.loads(line) for line in cache.read_text().splitlines() if line.strip()]


def bench_auto_rows(cache: Path, dump: Path, what: str) -> list[dict] | None:
    """``bench_auto.py``'s cached rows where its ``--cache`` file and ``--dump`` folder exist; else None, having
    printed why ``what`` skips."""
    if cache.is_file() and dump.is_dir():
        return cache_rows(cache)
    print(f"{what}: skipped ({cache} or {dump} is absent: run bench_auto.py --cache {cache} --dump {dump} first)")
    return None


#: The training set-ups ``bench_peer.py --variants`` and ``bench_default.py --variant`` name (TrainConfig fields over
#: ``mlml train``'s defaults). ``default`` is ``mlml train``'s whole default path (:func:`mlml.service.default_setup`
#: included: on sparse text the linear head with L-BFGS); ``mlp``: the MLP head with AdamW minibatches whatever the
#: inputs (the default before the third round); ``linear``: the linear head with AdamW; ``lbfgs-p3``: the solver
#: with 3 rounds of patience (what the default path uses on sparse text), ``lbfgs`` with the loop's 10.
TRAINING_VARIANTS: dict[str, dict] = {"default": {}, "mlp": {"head": "mlp"}, "linear": {"head": "linear"},
                                      "lbfgs": {"head": "linear", "solver": "lbfgs"},
                                      "lbfgs-p3": {"head": "linear", "solver": "lbfgs", "patience": 3}}


#: The methods beyond the paper (ours), which the issue-7 and issue-16 comparisons set against every other
#: non-oracle method. Grouping methods is a benchmark's business, so it lives here, not in the library.
BEYOND_METHODS: tuple[str, ...] = (
    "knn-cb-wce", "pu-wce", "knn-pu-wce", "knn-pu-em", "knn-pu-asl", "knn-pu-em-balanced"
)
#: The field's single-positive methods of 2022-2025 (issue 22): published losses with their authors' defaults, the GPR
#: loss with our posteriors as its pseudo-labels (the field's loss, our pseudo-labels), and SMILE. Baselines: the
#: comparisons set ours against them like against every other non-oracle method.
FRONTIER_METHODS: tuple[str, ...] = ("em", "em-apl", "ll-cp", "gr", "gpr-pu", "gpr-knn-pu", "smile")
