"""Checkpoints: the whole state of a run after each epoch, written atomically, and the fingerprint that says
which run a checkpoint belongs to (so that a resumed run never continues another's)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mlml.exceptions import MLMLError
from mlml.training.saved import json_default, save_torch

CHECKPOINT_NAME = "checkpoint.pt"


def fingerprint(config: Any, method: Any, world_size: int, parts: Sequence[Any]) -> str:
    """A hash of what determines a run's numbers: the config's semantic fields, the method's definition, the
    number of processes, and the data ``parts`` (feature matrices, label matrices or lists of image paths)."""
    digest = hashlib.sha256(
        json.dumps(
            {"config": config.semantic_dict(), "method": method.definition(), "world": world_size},
            sort_keys=True, default=json_default,
        ).encode()
    )
    for part in parts:
        if part is None:
            digest.update(b"none")
        elif sp.issparse(part):
            for array in (part.data, part.indices, part.indptr):
                digest.update(np.ascontiguousarray(array).tobytes())
        elif isinstance(part, (list, tuple)):
            digest.update("\n".join(map(str, part)).encode())
        else:
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` (atomically; the folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_torch(state, path)


def load_checkpoint(path: Path, expected_fingerprint: str) -> dict[str, Any] | None:
    """The state saved at ``path``, or None when there is none.

    Raises:
        MLMLError: the checkpoint is damaged or belongs to another run (other data, method or configuration).
    """
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 -- a damaged file: say which, and how to go on
        raise MLMLError(f"{path}: not a readable checkpoint ({type(exc).__name__}); delete it to start afresh.") \
            from None
    if not isinstance(state, dict) or state.get("fingerprint") != expected_fingerprint:
        raise MLMLError(
            f"{path} holds a checkpoint of a different run (other data, method or configuration). "
            "Use another 'checkpoint_dir', delete the file, or set resume=False."
        )
    return state
