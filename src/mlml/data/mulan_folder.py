"""Which ARFF files of a MULAN folder to read, so that every sample is read exactly once.

MULAN ships a data set as the complete file *and* its train/test split, sometimes also as a sparse copy
(``Corel5k.arff``, ``Corel5k-train.arff``, ``Corel5k-test.arff``, ``Corel5k-sparse.arff``,
``Corel5k-train-sparse.arff``, ``Corel5k-test-sparse.arff``), and some folders hold cross-validation folds
(``yeastTrain-6.arff``, ``yeastTest-6.arff``). Merging every file would count each sample two to six times.

**The rule.** A file name is read as ``<base>[-train|-test][-<fold>][-sparse|-dense]`` (separators ``-``, ``_``,
``.`` or a space, markers in any order and case, ``yeastTrain`` as well as ``yeast-train``). Files of one base are
one data set; in it a *full reading* is either a complete file (no train/test marker) or a train file with the
test file of the same fold and copy. The reading used is the first full reading in this order:

1. copies: the file with no ``sparse``/``dense`` marker first (the distributor's main copy), then ``sparse``,
   then ``dense``;
2. within a copy: the complete file, then the train/test pair (``parts="split"`` puts the pair first);
   numbered folds after the unnumbered pair.

Every other file of that base is skipped **only if its rows (features and labels) all occur in the reading**,
counted with multiplicity; otherwise the folder is refused with an error naming the file, because the names say
"copy" and the contents disagree, and guessing would silently change the data. A base without a full reading (a
lone ``X-train.arff``) is read file by file. Files of different bases are different parts: they are concatenated,
and any overlap shows up in the duplicate report (:mod:`mlml.data.duplicates`).

Why the complete file by default: its rows are the data set as published (MULAN's statistics count it), and its
ids (``emotions:0`` ...) are those of a folder holding that file alone, so the same data gives the same folds
whichever way it was downloaded. ``parts="split"`` reads the pair instead, train rows first; ids then name the file
(``emotions-train:0`` ... ``emotions-test:201``) and ``provenance["parts"]`` gives each file's row count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mlml.exceptions import DataError

Parts = Literal["complete", "split"]

_ROLES = {"train": "train", "training": "train", "test": "test", "testing": "test"}
_COPIES = ("sparse", "dense")
_COPY_ORDER = {None: 0, "sparse": 1, "dense": 2}
_CAMEL = re.compile(r"(?<=[A-Za-z0-9])(?=(?:Train|Training|Test|Testing|Sparse|Dense)(?:$|[-_.\s\d]))")
_SEPARATORS = re.compile(r"[-_.\s]+")


@dataclass(frozen=True)
class MulanFileName:
    """What an ARFF file name says: ``base`` (lower case), ``role`` (``complete``/``train``/``test``), the
    cross-validation ``fold`` (``"6"`` for ``yeastTrain-6``) and the ``copy`` marker (``sparse``/``dense``)."""

    path: Path
    base: str
    role: str
    fold: str | None
    copy: str | None

    def describe(self) -> str:
        """``complete file``, ``train part``, ``test part of fold 6``, plus `` (sparse copy)`` where marked."""
        text = "complete file" if self.role == "complete" else f"{self.role} part"
        if self.fold is not None:
            text += f" of fold {self.fold}"
        return text + (f" ({self.copy} copy)" if self.copy else "")


def parse_mulan_file_name(path: str | Path) -> MulanFileName:
    """Split an ARFF file name into base, role, fold and copy marker (see the module docstring).

    >>> name = parse_mulan_file_name("Corel5k-train-sparse.arff")
    >>> (name.base, name.role, name.fold, name.copy)
    ('corel5k', 'train', None, 'sparse')
    >>> name = parse_mulan_file_name("yeastTest-3.arff")
    >>> (name.base, name.role, name.fold, name.copy)
    ('yeast', 'test', '3', None)

    A name that is nothing but a marker (``test.arff``) is a complete file whose base is that word.
    """
    path = Path(path)
    tokens = [t for t in _SEPARATORS.split(_CAMEL.sub("-", path.stem)) if t]
    role, fold, copy = "complete", None, None
    while len(tokens) > 1:
        last = tokens[-1].lower()
        if last in _ROLES and role == "complete":
            role = _ROLES[last]
        elif last in _COPIES and copy is None:
            copy = last
        elif last.isdigit() and fold is None and role == "complete" and tokens[-2].lower() in _ROLES:
            fold = last
        else:
            break
        tokens.pop()
    return MulanFileName(path, "-".join(tokens).lower(), role, fold, copy)


def _fold_key(fold: str | None) -> tuple[int, int]:
    return (0, 0) if fold is None else (1, int(fold))


def full_readings(files: Sequence[MulanFileName], parts: Parts = "complete") -> list[list[MulanFileName]]:
    """The full readings among ``files`` (all of one base), most preferred first (see the module docstring)."""
    readings: list[list[MulanFileName]] = []
    for copy in sorted({f.copy for f in files}, key=lambda c: _COPY_ORDER[c]):
        mine = sorted((f for f in files if f.copy == copy), key=lambda f: f.path.name)
        complete = [[f] for f in mine if f.role == "complete"][:1]
        pairs = []
        for fold in sorted({f.fold for f in mine}, key=_fold_key):
            train = [f for f in mine if f.role == "train" and f.fold == fold]
            test = [f for f in mine if f.role == "test" and f.fold == fold]
            if train and test:
                pairs.append([train[0], test[0]])
        readings += complete + pairs if parts == "complete" else pairs + complete
    return readings


def group_by_base(paths: Sequence[Path]) -> dict[str, list[MulanFileName]]:
    """ARFF files grouped by base name, groups in alphabetical order of their base."""
    groups: dict[str, list[MulanFileName]] = {}
    for path in sorted(paths, key=lambda p: p.name):
        name = parse_mulan_file_name(path)
        groups.setdefault(name.base, []).append(name)
    return dict(sorted(groups.items()))


def rows_not_in(rows: np.ndarray, reference: np.ndarray) -> int:
    """How many of ``rows`` (row hashes) have no match left in ``reference``, counting multiplicity."""
    if reference.size == 0:
        return int(rows.size)
    values, counts = np.unique(rows, return_counts=True)
    ref_values, ref_counts = np.unique(reference, return_counts=True)
    position = np.clip(np.searchsorted(ref_values, values), 0, ref_values.size - 1)
    available = np.where(ref_values[position] == values, ref_counts[position], 0)
    return int(np.maximum(counts - available, 0).sum())


def check_skipped(
    directory: Path, chosen: Sequence[MulanFileName], skipped: MulanFileName, chosen_rows: np.ndarray,
    skipped_rows: np.ndarray,
) -> str:
    """The reason ``skipped`` may be left out, or a DataError when some of its rows are not in ``chosen``.

    Args:
        directory: the folder (for the message).
        chosen: the files of the reading used.
        skipped: a file of the same base that is not read.
        chosen_rows: row hashes of the reading (features and labels), all its files together.
        skipped_rows: row hashes of ``skipped``.
    """
    names = " + ".join(f.path.name for f in chosen)
    extra = rows_not_in(skipped_rows, chosen_rows)
    if extra:
        raise DataError(
            f"{directory}: {skipped.path.name} is named as the {skipped.describe()} of the data set read from "
            f"{names}, but {extra:,} of its {skipped_rows.size:,} rows (features and labels) are not there. "
            "mlml will not guess which files hold the data: name them, e.g. "
            f"mulan:{chosen[0].path},<more .arff>,<the .xml>."
        )
    return f"{skipped.describe()}: its {skipped_rows.size:,} rows all occur in {names}"


__all__ = [
    "MulanFileName",
    "Parts",
    "check_skipped",
    "full_readings",
    "group_by_base",
    "parse_mulan_file_name",
    "rows_not_in",
]
