"""NUS-WIDE in its official layout (Chua et al., CIVR 2009), 81 concepts.

::

    ROOT/ImageList/Imagelist.txt                 one line per image, e.g.
                                                 C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg
    ROOT/ImageList/TrainImagelist.txt, TestImagelist.txt     the official train/test split (same line format)
    ROOT/ConceptsList/Concepts81.txt             81 concept names, one per line (or ROOT/Concepts81.txt)
    ROOT/Groundtruth/AllLabels/Labels_<concept>.txt          one 0/1 per line, in Imagelist order
    ROOT/Groundtruth/TrainTestLabels/Labels_<concept>_Train.txt, ..._Test.txt   in Train/TestImagelist order
    ROOT/NUS_WID_Tags/AllTags81.txt              tag-derived: one line of 81 0/1 per image, Imagelist order
    ROOT/Flickr/<concept>/<file>.jpg             the images (optional)

``ground_truth`` picks the label source: ``"all"`` (the manual AllLabels, default), ``"train-test"`` (the
TrainTestLabels files; train rows, then test rows; the provenance records ``n_train``) or ``"tags"`` (the
matrix derived from users' tags, which the seed paper's code used). Sample ids are the image file stems (the
Flickr photo id after the underscore); image paths are ``<image_dir>/<concept>/<file>``. The paper keeps the
images with at least 3 labels: ``min_labels=3``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from mlml._validation import check_option, first_duplicate
from mlml.data.dataset import Dataset
from mlml.exceptions import DataError


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: no such file (NUS-WIDE layout: see mlml.data.nuswide).")
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8-sig", errors="strict").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None


def _read_binary(path: Path, n_rows: int, n_cols: int) -> np.ndarray:
    """A whitespace-separated 0/1 matrix ``(n_rows, n_cols)``; errors name the file and line."""
    if not path.is_file():
        raise DataError(f"{path}: no such file (NUS-WIDE layout: see mlml.data.nuswide).")
    text = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(text, dtype=np.int64, sep=" ")  # fast; validated below
    if values.size == n_rows * n_cols and np.isin(values, (0, 1)).all():
        return values.reshape(n_rows, n_cols).astype(np.int8)
    lines = [line for line in text.decode("utf-8", errors="replace").splitlines()]
    row = 0
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != n_cols:
            raise DataError(f"{path}:{number}: expected {n_cols} value(s), got {len(fields)}.")
        bad = [f for f in fields if f not in ("0", "1")]
        if bad:
            raise DataError(f"{path}:{number}: label value {bad[0]!r}; expected 0 or 1.")
        row += 1
    raise DataError(f"{path}: {row} rows; expected {n_rows} (one per image of the image list).")


def _relative_image(entry: str) -> str:
    """``C:\\ImageData\\Flickr\\actor\\0001_x.jpg`` -> ``actor/0001_x.jpg``."""
    parts = [p for p in entry.replace("\\", "/").split("/") if p]
    if "Flickr" in parts:
        parts = parts[len(parts) - 1 - parts[::-1].index("Flickr") + 1 :]
    return "/".join(parts[-2:])


def _concepts(root: Path) -> list[str]:
    for candidate in (root / "ConceptsList" / "Concepts81.txt", root / "Concepts81.txt"):
        if candidate.is_file():
            names = [n for n in _read_lines(candidate) if n]
            if len(set(names)) != len(names):
                raise DataError(f"{candidate}: a concept is listed twice.")
            return names
    raise DataError(
        f"{root}: no ConceptsList/Concepts81.txt (nor Concepts81.txt); is this a NUS-WIDE folder?"
    )


def load_nuswide(
    root: str | os.PathLike[str],
    *,
    ground_truth: Literal["all", "train-test", "tags"] = "all",
    image_dir: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Read NUS-WIDE from its official folder layout.

    Args:
        root: the NUS-WIDE folder.
        ground_truth: ``"all"``, ``"train-test"`` or ``"tags"`` (see the module docstring).
        image_dir: folder holding ``<concept>/<file>.jpg``; defaults to ``ROOT/Flickr``. Where it does not
            exist, ``image_paths`` is None (labels only) and a note says so.

    Returns:
        Dataset of ``(n_images, 81)`` labels in Concepts81 order.

    Raises:
        DataError: a missing file, a label file whose length differs from its image list, a value other
            than 0/1 (file and line), duplicate images.
    """
    ground_truth = check_option(ground_truth, "ground_truth", "load_nuswide", ["all", "train-test", "tags"])
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such NUS-WIDE folder.")
    concepts = _concepts(root)
    files: list[str] = []
    notes: list[str] = []
    if ground_truth == "train-test":
        parts, columns = [], []
        for part in ("Train", "Test"):
            list_path = root / "ImageList" / f"{part}Imagelist.txt"
            entries = [e for e in _read_lines(list_path) if e]
            files.append(str(list_path))
            block = []
            for concept in concepts:
                path = root / "Groundtruth" / "TrainTestLabels" / f"Labels_{concept}_{part}.txt"
                block.append(_read_binary(path, len(entries), 1)[:, 0])
            parts.append(entries)
            columns.append(np.column_stack(block))
        entries = parts[0] + parts[1]
        labels = np.vstack(columns)
        files.append(str(root / "Groundtruth" / "TrainTestLabels"))
        notes.append(
            f"official split: the first {len(parts[0]):,} rows are train, the other {len(parts[1]):,} test"
        )
        n_train: int | None = len(parts[0])
    else:
        list_path = root / "ImageList" / "Imagelist.txt"
        entries = [e for e in _read_lines(list_path) if e]
        files.append(str(list_path))
        if ground_truth == "all":
            labels = np.column_stack(
                [
                    _read_binary(root / "Groundtruth" / "AllLabels" / f"Labels_{c}.txt", len(entries), 1)[
                        :, 0
                    ]
                    for c in concepts
                ]
            )
            files.append(str(root / "Groundtruth" / "AllLabels"))
            notes.append("manual ground truth (Groundtruth/AllLabels)")
        else:
            tags = root / "NUS_WID_Tags" / "AllTags81.txt"
            labels = _read_binary(tags, len(entries), len(concepts))
            files.append(str(tags))
            notes.append(
                "labels derived from users' tags (NUS_WID_Tags/AllTags81.txt), as the seed code used"
            )
        n_train = None
    relative = [_relative_image(e) for e in entries]
    duplicate = first_duplicate(relative)
    if duplicate is not None:
        raise DataError(f"{files[0]}: the image {duplicate!r} is listed more than once.")
    stems = [Path(r).stem for r in relative]
    ids = stems if len(set(stems)) == len(stems) else [str(Path(r).with_suffix("")) for r in relative]
    images = Path(image_dir) if image_dir is not None else root / "Flickr"
    if images.is_dir():
        image_paths: list[Path] | None = [images / r for r in relative]
        files.append(str(images))
    else:
        image_paths = None
        notes.append(f"no image folder at {images}: labels only")
    provenance = {"loader": "nuswide", "ground_truth": ground_truth, "files": files, "notes": notes}
    if n_train is not None:
        provenance["n_train"] = n_train
    return Dataset(
        name="nuswide",
        labels=labels,
        label_names=concepts,
        ids=np.asarray(ids),
        image_paths=image_paths,
        provenance=provenance,
    )
