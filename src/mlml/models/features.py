"""Feature extraction with a disk cache: extract once per (backbone, weights, preprocessing, data content).

The cache lives in ``cache_dir`` (default ``$MLML_CACHE_DIR`` or ``~/.cache/mlml``), under ``features/``:
``<backbone>-<key>.npy`` (float32 ``(n_images, features_dim)``) and ``<backbone>-<key>.json`` (what it
holds). The key is the SHA-256 of the backbone's name, the weights' identity (file hash or hub tag), every
preprocessing parameter and the data's content: each image's resolved path, size and modification time (or,
with ``content_hash=True``, the SHA-256 of each file's bytes, which survives copies and ``touch``).

Writing streams batches into a ``numpy`` memmap in a temporary file in the same folder and renames it into
place at the end (``os.replace`` is atomic), so memory stays flat on large sets and a killed run never leaves
a partial file under the final name. Cached arrays come back memory-mapped read-only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlml.exceptions import MLMLError
from mlml.models.backbones import Backbone, create_backbone, file_sha256
from mlml.models.images import ImageFiles, collate_images

CACHE_FORMAT = 1
DEFAULT_BACKBONE = "efficientnet_lite0"


def default_cache_dir() -> Path:
    """``$MLML_CACHE_DIR`` when set, else ``~/.cache/mlml``."""
    env = os.environ.get("MLML_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlml"


def cache_key(
    image_paths: Sequence[str | os.PathLike], backbone: Backbone, *, content_hash: bool = False
) -> str:
    """The hex SHA-256 naming the cached features of ``image_paths`` under ``backbone``.

    Raises:
        MLMLError: the backbone has random weights (nothing stable to cache).
    """
    identity = backbone.identity()
    if identity is None:
        raise MLMLError(f"The backbone {backbone.name!r} has random weights; its features are not cacheable.")
    digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "backbone": identity}).encode())
    for path in image_paths:
        resolved = Path(path).resolve()
        if content_hash:
            entry = f"{resolved}|{file_sha256(resolved)}"
        else:
            try:
                stat = resolved.stat()
                entry = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"
            except OSError:
                entry = f"{resolved}|missing"
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()


def _cache_paths(cache_dir: Path, backbone: Backbone, key: str) -> tuple[Path, Path]:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in backbone.name)
    folder = cache_dir / "features"
    return folder / f"{stem}-{key[:24]}.npy", folder / f"{stem}-{key[:24]}.json"


def _report_skipped(paths: Sequence[str | os.PathLike], bad: Sequence[int]) -> None:
    if bad:
        shown = ", ".join(str(paths[i]) for i in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        warnings.warn(
            f"Skipped {len(bad)} unreadable image(s); their feature rows are NaN: {shown}{more}.",
            stacklevel=3,
        )


def extract_features(
    image_paths: Sequence[str | os.PathLike],
    backbone: str | Backbone = DEFAULT_BACKBONE,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    content_hash: bool = False,
    batch_size: int = 32,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    skip_bad: bool = False,
    weights: str | os.PathLike | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Features of each image, ``(len(image_paths), backbone.features_dim)`` float32, cached on disk.

    Args:
        image_paths: the image files, in the order of the rows returned.
        backbone: a name for :func:`~mlml.models.backbones.create_backbone` or a built backbone.
        cache_dir: cache folder (default :func:`default_cache_dir`); ``use_cache=False`` skips the cache.
        content_hash: key the cache on file contents instead of paths, sizes and modification times.
        batch_size: images per forward pass.
        num_workers: ``DataLoader`` worker processes decoding images (0: in this process).
        device: where the backbone runs.
        skip_bad: unreadable images give a NaN row and one warning naming them; otherwise the first one
            raises :class:`~mlml.exceptions.DataError` with its path.
        weights: a local weights file for the backbone (when ``backbone`` is a name).
        progress: show a tqdm bar (images/s).

    Returns:
        float32 array; memory-mapped read-only when it comes from (or was written to) the cache.
    """
    if batch_size < 1:
        raise MLMLError(f"The 'batch_size' parameter of extract_features must be >= 1. Got {batch_size!r}.")
    paths = list(image_paths)
    if not paths:
        raise MLMLError("extract_features got no image paths.")
    model = create_backbone(backbone, weights=weights)
    cacheable = use_cache and model.identity() is not None
    final = meta_path = None
    if cacheable:
        key = cache_key(paths, model, content_hash=content_hash)
        final, meta_path = _cache_paths(Path(cache_dir) if cache_dir else default_cache_dir(), model, key)
        if final.is_file():
            bad = json.loads(meta_path.read_text()).get("skipped", []) if meta_path.is_file() else []
            _report_skipped(paths, bad)
            return np.load(final, mmap_mode="r")
        final.parent.mkdir(parents=True, exist_ok=True)
    shape = (len(paths), model.features_dim)
    tmp = None
    if final is not None:
        tmp = final.with_name(f".{final.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
    else:
        out = np.empty(shape, dtype=np.float32)
    try:
        bad = _run_backbone(model, paths, out, batch_size, num_workers, device, skip_bad, progress)
        if final is not None:
            out.flush()
            del out
            meta = {
                "format": CACHE_FORMAT,
                "backbone": model.identity(),
                "n_images": len(paths),
                "features_dim": model.features_dim,
                "content_hash": content_hash,
                "skipped": bad,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            meta_tmp = meta_path.with_name(f".{meta_path.name}.{uuid.uuid4().hex[:8]}.tmp")
            meta_tmp.write_text(json.dumps(meta, indent=1))
            os.replace(meta_tmp, meta_path)
            os.replace(tmp, final)  # the .npy appears complete or not at all
            tmp = None
            out = np.load(final, mmap_mode="r")
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
    _report_skipped(paths, bad)
    return out


def _run_backbone(
    model: Backbone,
    paths: list,
    out: np.ndarray,
    batch_size: int,
    num_workers: int,
    device: str | torch.device,
    skip_bad: bool,
    progress: bool,
) -> list[int]:
    from tqdm.auto import tqdm

    files = ImageFiles(paths, model.preprocess, skip_bad=skip_bad, target_size=model.preprocess.resize_to)
    loader = torch.utils.data.DataLoader(
        files, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_images, shuffle=False
    )
    model = model.to(device).eval()
    bad: list[int] = []
    with (
        torch.inference_mode(),
        tqdm(total=len(paths), unit="img", desc=f"features {model.name}", disable=not progress) as bar,
    ):
        for images, index, skipped in loader:
            for i in skipped:
                out[i] = np.nan
            bad.extend(skipped)
            if images is not None:
                feats = model(images.to(device)).float().cpu().numpy()
                out[index.numpy()] = feats
            bar.update(len(index) + len(skipped))
    return sorted(bad)


def dataset_features(
    dataset: Any,
    backbone: str | Backbone | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """The features a model trains on for ``dataset`` (an :class:`mlml.data.Dataset`).

    Precomputed features (MULAN sets, ``csv:`` with a features file) are returned as they are when no
    ``backbone`` is asked for; image data sets go through :func:`extract_features` (``backbone`` defaults to
    ``efficientnet_lite0``) with ``kwargs`` passed on.

    Raises:
        MLMLError: the data set has neither features nor images, or a backbone is asked for a data set
            without images.
    """
    features = getattr(dataset, "features", None)
    image_paths = getattr(dataset, "image_paths", None)
    name = getattr(dataset, "name", "the data set")
    if backbone is None and features is not None:
        return features
    if image_paths is None:
        if backbone is not None:
            raise MLMLError(f"The backbone {backbone!r} needs images, but {name} has none (features only).")
        raise MLMLError(f"{name} has neither features nor images.")
    return extract_features(image_paths, backbone or DEFAULT_BACKBONE, **kwargs)
