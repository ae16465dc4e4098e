"""Open Images human-verified image-level labels: partially annotated multi-label data.

The official files (Open Images V4 to V7):

* the labels, e.g. ``oidv6-train-annotations-human-imagelabels.csv``: a header
  ``ImageID,Source,LabelName,Confidence`` and one row per verified (image, class) pair, ``Confidence`` 1 when a
  human verified the class present and 0 when verified absent (``Source`` says who verified it; it is not used);
* the class descriptions, e.g. ``oidv6-class-descriptions.csv`` (header ``LabelName,DisplayName``) or V4/V5's
  ``class-descriptions.csv`` / ``class-descriptions-boxable.csv`` (no header): ``MID,display name`` per line;
  display names may hold commas (quoted).

The label matrix uses the partial encoding of :mod:`mlml.labels`: ``1`` verified present, ``2`` verified absent
(a verified negative, certain), ``-1`` never annotated. Rows are the images in the order of their ImageID
(sorted), columns the classes that occur in the labels file -- in the descriptions file's order when one is given
(named by their display names; a display name shared by two classes is suffixed with the MID), else sorted by MID
(named by the MID). ``IMAGE_DIR`` gives ``image_paths = IMAGE_DIR/<ImageID>.jpg`` (checked only with
``check_images``).

Memory: the unannotated state is by far the commonest (V6 train: 59.9 M verified labels for 9 M images and 19,957
classes, i.e. about 0.03 % of the entries), so it cannot be the implicit value of a sparse matrix (``0``, the suspect
zero) and is stored: the matrix is dense ``int8`` (one byte per entry, smaller than a CSR holding every ``-1``).
Where that does not fit in memory, ``unannotated="negative"`` reads the unannotated entries as suspect zeros --
the "assume negative" reading -- and the labels stay a CSR of the verified entries only.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from mlml._validation import check_memory, check_option
from mlml.data.dataset import Dataset
from mlml.exceptions import DataError
from mlml.labels import POSITIVE, UNKNOWN, VERIFIED_NEGATIVE

LABEL_COLUMNS = ("ImageID", "Source", "LabelName", "Confidence")
_REQUIRED = ("ImageID", "LabelName", "Confidence")
_CONFIDENCE = {"1": POSITIVE, "0": VERIFIED_NEGATIVE, "1.0": POSITIVE, "0.0": VERIFIED_NEGATIVE}


def _open(path: Path) -> io.TextIOWrapper:
    return open(path, encoding="utf-8-sig", newline="")  # a byte-order mark is accepted


def read_descriptions(path: str | os.PathLike[str]) -> dict[str, str]:
    """MID -> display name, in the file's order, from a class-descriptions CSV with or without its header line.

    Raises:
        DataError: a missing file, a line without exactly two fields or with an empty MID, a MID given twice
            (naming the file and the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such class-descriptions file.")
    names: dict[str, str] = {}
    first_line: dict[str, int] = {}
    try:
        with _open(path) as handle:
            for line_no, row in enumerate(csv.reader(handle), start=1):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if line_no == 1 and [c.strip().lower() for c in row] == ["labelname", "displayname"]:
                    continue  # the V6+ header line
                if len(row) != 2 or not row[0].strip():
                    raise DataError(f"{path}:{line_no}: expected 'LabelName,DisplayName' (a MID and a name), got "
                                    f"{len(row)} field(s): {','.join(row)[:80]!r}.")
                mid = row[0].strip()
                if mid in names:
                    raise DataError(f"{path}:{line_no}: the class {mid!r} is described twice (first on line "
                                    f"{first_line[mid]}).")
                names[mid], first_line[mid] = row[1].strip(), line_no
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the class-descriptions file: {exc}") from None
    if not names:
        raise DataError(f"{path}: the class-descriptions file describes no class.")
    return names


def read_human_labels(path: str | os.PathLike[str]) -> tuple[list[str], list[str], np.ndarray, dict[str, int]]:
    """The verified (image, class, verdict) triples of a human image-labels CSV.

    Returns:
        ``image_ids`` and ``mids`` (one per kept row), ``verdict`` (int8, ``1`` present / ``2`` absent) and, per
        class, the line that first names it; exact duplicate rows (same image, class and verdict) are kept once.

    Raises:
        DataError: a missing file or header column, a row with the wrong number of fields, an empty ImageID or
            LabelName, a Confidence other than 0 or 1, or two rows giving one (image, class) pair opposite verdicts
            -- each naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such Open Images labels file.")
    images: list[str] = []
    mids: list[str] = []
    verdicts: list[int] = []
    seen: dict[tuple[str, str], tuple[int, int]] = {}
    first_line: dict[str, int] = {}
    try:
        with _open(path) as handle:
            reader = csv.reader(handle)
            header = [c.strip() for c in next(reader, [])]
            missing = [c for c in _REQUIRED if c not in header]
            if missing:
                raise DataError(f"{path}:1: expected the header {','.join(LABEL_COLUMNS)}; the column(s) "
                                f"{', '.join(missing)} are missing (got {','.join(header)[:80]!r}).")
            at = {c: header.index(c) for c in _REQUIRED}
            width = len(header)
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    raise DataError(f"{path}:{line_no}: expected {width} fields ({','.join(header)}), got "
                                    f"{len(row)}.")
                image, mid, confidence = (row[at[c]].strip() for c in _REQUIRED)
                if not image or not mid:
                    raise DataError(f"{path}:{line_no}: empty {'ImageID' if not image else 'LabelName'}.")
                verdict = _CONFIDENCE.get(confidence)
                if verdict is None:
                    raise DataError(f"{path}:{line_no}: Confidence must be 1 (verified present) or 0 (verified "
                                    f"absent); got {confidence!r} (machine-generated labels are not human "
                                    "verifications).")
                key = (image, mid)
                if key in seen:
                    first_verdict, first_no = seen[key]
                    if first_verdict != verdict:
                        raise DataError(f"{path}:{line_no}: image {image!r}, class {mid!r} is verified "
                                        f"{'present' if verdict == POSITIVE else 'absent'} here and "
                                        f"{'present' if first_verdict == POSITIVE else 'absent'} on line {first_no}.")
                    continue
                seen[key] = (verdict, line_no)
                first_line.setdefault(mid, line_no)
                images.append(image)
                mids.append(mid)
                verdicts.append(verdict)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the Open Images labels file: {exc}") from None
    if not verdicts:
        raise DataError(f"{path}: the labels file has a header but no label.")
    return images, mids, np.asarray(verdicts, dtype=np.int8), first_line


def load_openimages(
    labels: str | os.PathLike[str],
    descriptions: str | os.PathLike[str] | None = None,
    image_dir: str | os.PathLike[str] | None = None,
    *,
    name: str = "openimages",
    unannotated: Literal["unknown", "negative"] = "unknown",
) -> Dataset:
    """Read Open Images human-verified labels as a partially annotated :class:`Dataset` (see the module docstring).

    Args:
        labels: the human image-labels CSV (``ImageID,Source,LabelName,Confidence``).
        descriptions: the class-descriptions CSV (with or without its header line); None names classes by MID.
        image_dir: the folder of the ``<ImageID>.jpg`` images; None gives labels only.
        name: data set name.
        unannotated: ``"unknown"`` (default): never-annotated entries are ``-1`` (dense labels);
            ``"negative"``: they are suspect zeros (``0``, the implicit value of a CSR of the verified entries).

    Raises:
        DataError: a bad file (naming it and the line), a class of the labels file missing from the descriptions,
            a missing image folder. MLMLError: a bad ``unannotated``, or dense labels larger than the memory.
    """
    check_option(unannotated, "unannotated", "load_openimages", ("unknown", "negative"))
    path = Path(labels)
    if image_dir is not None and not Path(image_dir).is_dir():
        raise DataError(f"{image_dir}: no such image folder (the IMAGE_DIR of openimages:...).")
    images, mids, verdicts, first_line = read_human_labels(path)
    described = read_descriptions(descriptions) if descriptions is not None else None
    present = set(mids)
    if described is not None:
        absent = [mid for mid in first_line if mid not in described]
        if absent:
            raise DataError(f"{path}:{first_line[absent[0]]}: the class {absent[0]!r} is not in {descriptions} "
                            f"({len(absent)} class(es) of the labels file are missing from it).")
        classes = [mid for mid in described if mid in present]
    else:
        classes = sorted(present)
    image_ids = sorted(set(images))
    row = {image: i for i, image in enumerate(image_ids)}
    column = {mid: j for j, mid in enumerate(classes)}
    rows = np.fromiter((row[i] for i in images), dtype=np.int64, count=len(images))
    cols = np.fromiter((column[m] for m in mids), dtype=np.int64, count=len(mids))
    shape = (len(image_ids), len(classes))
    if unannotated == "unknown":
        check_memory(shape[0] * shape[1], f"Open Images labels of {shape[0]:,} images x {shape[1]:,} classes with "
                     "their unannotated entries stored (-1); unannotated='negative' keeps only the verified ones,")
        matrix: np.ndarray | sp.csr_matrix = np.full(shape, UNKNOWN, dtype=np.int8)
        matrix[rows, cols] = verdicts
    else:
        matrix = sp.csr_matrix((verdicts, (rows, cols)), shape=shape, dtype=np.int8)
    label_names = _display_names(classes, described)
    n_pos = int((verdicts == POSITIVE).sum())
    notes = [
        f"{len(verdicts):,} human-verified labels: {n_pos:,} present (1), {len(verdicts) - n_pos:,} absent (2); "
        f"{shape[0] * shape[1] - len(verdicts):,} entries never annotated "
        + ("(-1)" if unannotated == "unknown" else "(read as suspect zeros, 0: unannotated='negative')"),
        f"label columns: the {len(classes):,} classes of the labels file"
        + (" in the descriptions file's order" if described is not None else ", sorted by MID"),
    ]
    files = [str(path)] + [str(p) for p in (descriptions, image_dir) if p is not None]
    return Dataset(
        name=name,
        labels=matrix,
        label_names=label_names,
        ids=np.asarray(image_ids),
        image_paths=None if image_dir is None else [Path(image_dir) / f"{i}.jpg" for i in image_ids],
        provenance={"loader": "openimages", "files": files, "notes": notes, "label_mids": list(classes)},
    )


def _display_names(classes: list[str], described: dict[str, str] | None) -> list[str]:
    """The column names: display names (suffixed with the MID where two classes share one), or the MIDs."""
    if described is None:
        return list(classes)
    names = [described[mid] or mid for mid in classes]
    shared = {n for n, count in Counter(names).items() if count > 1}
    return [f"{n} ({mid})" if n in shared else n for n, mid in zip(names, classes)]
