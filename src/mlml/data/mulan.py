"""MULAN multi-label data sets (ARFF + XML label list) and the built-in yeast.

A MULAN data set is one or more ARFF files (dense rows ``v1,v2,...`` or sparse rows ``{index value, ...}``)
and an XML file naming the label attributes::

    <labels xmlns="http://mulan.sourceforge.net/labels">
      <label name="Class1"></label> ...
    </labels>

The label attributes are the ARFF attributes the XML names, wherever they sit (not necessarily last). **Label
columns keep the ARFF attribute order**, not the XML order (yeast.xml lists ``Class6`` before ``Class4``;
enron's ARFF and XML orders differ throughout), so a data set read from ARFF lines up with the same data from
any other file that follows the ARFF. Every other attribute is a feature: numeric attributes as they are,
nominal ones as the position of their value in the declaration (for the ``{0,1}`` word indicators of medical
and enron, the value itself). Sparse ARFF gives CSR features. liac-arff is the parser (its errors carry the
line number). Attribute names are matched to the XML with Weka's backslash escapes resolved (``'Example\\'s
Label'`` is the XML's ``Example's Label``). NaN, infinite and out-of-float32-range values are refused with the
file and line.

:func:`load_mulan` reads the files it is given; :func:`load_mulan_dir` reads a folder and chooses among the
complete file, its train/test split and sparse copies so that every sample is read once
(:mod:`mlml.data.mulan_folder` states the rule).

The built-in default data set, :func:`load_river_yeast`, reads the MULAN yeast file shipped inside the
``river`` wheel (``river/datasets/yeast.csv.gz``) without importing river.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from mlml._validation import check_option, first_duplicate
from mlml.data.arff import _Arff, unescape_arff_name
from mlml.data.dataset import Dataset, FeatureMatrix, first_nonfinite
from mlml.data.duplicates import feature_row_hashes, label_row_hashes
from mlml.data.mulan_folder import (
    MulanFileName,
    Parts,
    check_skipped,
    full_readings,
    group_by_base,
    parse_mulan_file_name,
)
from mlml.exceptions import DataError


def read_mulan_xml(path: str | os.PathLike[str]) -> list[str]:
    """Label names from a MULAN XML file, in document order (nested, hierarchical labels included).

    Raises:
        DataError: the file is missing, is not well-formed XML (with line and column), or names no label.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such MULAN label file (.xml).")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, column = exc.position
        raise DataError(f"{path}:{line}: not well-formed XML (column {column}): {exc}") from None
    names = []
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "label":
            name = element.get("name")
            if not name:
                raise DataError(f"{path}: a <label> element has no 'name' attribute.")
            names.append(name)
    if not names:
        raise DataError(f"{path}: the XML file names no <label name=...> element.")
    duplicate = first_duplicate(names)
    if duplicate is not None:
        raise DataError(f"{path}: the label {duplicate!r} is listed more than once.")
    return names


@dataclass
class _Part:
    """One ARFF file read against the XML: its labels, features and (on demand) row hashes."""

    path: Path
    label_names: list[str]
    labels: np.ndarray
    features: FeatureMatrix

    def row_hashes(self) -> np.ndarray:
        return feature_row_hashes(self.features) + label_row_hashes(self.labels)


def _label_attributes(parsed: _Arff, label_set: list[str], xml_path: Path) -> tuple[list[int], bool]:
    """Attribute positions of the XML's labels (ARFF order) and whether the XML lists them in another order.

    An XML name matches the attribute's name with its backslash escapes resolved (``Example's Label`` for
    ``'Example\\'s Label'``) or, for XML files that copied the escapes, the name as written in the ARFF.
    """
    position = {name: i for i, name in enumerate(parsed.raw_names)}
    position.update({name: i for i, name in enumerate(parsed.names)})
    missing = [label for label in label_set if label not in position]
    if missing:
        raise DataError(
            f"{xml_path}: {len(missing)} label(s) named in the XML are not attributes of {parsed.path}: "
            f"{', '.join(map(repr, missing[:5]))}."
        )
    in_xml_order = [position[label] for label in label_set]
    return sorted(set(in_xml_order)), in_xml_order != sorted(in_xml_order)


def _read_parts(paths: Sequence[Path], xml_path: Path) -> tuple[list[_Part], bool]:
    """Read ARFF files that share one header against the XML; also whether the XML order differs."""
    label_set = read_mulan_xml(xml_path)
    parts: list[_Part] = []
    first: _Arff | None = None
    label_attributes: list[int] = []
    reordered = False
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such ARFF file.")
        parsed = _Arff(path)
        if first is None:
            first = parsed
            label_attributes, reordered = _label_attributes(parsed, label_set, xml_path)
        elif parsed.names != first.names or parsed.types != first.types:
            differ = next(
                (i for i, (a, b) in enumerate(zip(parsed.names, first.names)) if a != b), len(first.names)
            )
            raise DataError(
                f"{path}: its attributes differ from those of {first.path} (first difference at attribute "
                f"{differ + 1}); files of one data set must share their header."
            )
        labels = set(label_attributes)
        parts.append(
            _Part(
                path=path,
                label_names=[parsed.names[a] for a in label_attributes],
                labels=np.column_stack([parsed.label_column(a) for a in label_attributes]),
                features=parsed.features([a for a in range(len(parsed.names)) if a not in labels]),
            )
        )
    return parts, reordered


def _assemble(
    parts: Sequence[_Part], xml_path: Path, name: str, reordered: bool, provenance: dict[str, Any]
) -> Dataset:
    """Concatenate the parts' rows (in order) into one Dataset with ids ``<arff stem>:<row>``."""
    features = [p.features for p in parts]
    if any(sp.issparse(f) for f in features):
        all_features = sp.vstack([sp.csr_matrix(f) for f in features], format="csr")
    else:
        all_features = np.vstack(features)
    notes = [
        "label columns follow the ARFF attribute order, which differs from the XML order"
        if reordered
        else "label columns follow the ARFF attribute order (same as the XML)"
    ]
    sizes = [int(p.labels.shape[0]) for p in parts]
    provenance = {
        "loader": "mulan",
        "files": [str(p.path) for p in parts] + [str(xml_path)],
        # which rows came from which file: rows first_row .. first_row + n_rows - 1, with the file's role
        "parts": [
            {"file": str(p.path), "role": parse_mulan_file_name(p.path).role, "first_row": start, "n_rows": n}
            for p, start, n in zip(parts, np.cumsum([0, *sizes[:-1]]).tolist(), sizes)
        ],
        **provenance,
    }
    provenance["notes"] = notes + list(provenance.get("notes", []))
    return Dataset(
        name=name,
        labels=np.vstack([p.labels for p in parts]),
        label_names=parts[0].label_names,
        ids=np.asarray([f"{p.path.stem}:{row}" for p in parts for row in range(p.labels.shape[0])]),
        features=all_features,
        provenance=provenance,
    )


def load_mulan(
    arff_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    xml_path: str | os.PathLike[str],
    *,
    name: str | None = None,
) -> Dataset:
    """Read a MULAN data set: one or more ARFF files (rows concatenated in the order given) and its XML.

    The files named are all read, as they are: to read a folder as MULAN distributes it (complete file, its
    train/test split, sparse copies) use :func:`load_mulan_dir`, which reads every sample once.

    Args:
        arff_paths: one ARFF path or several with identical attributes (e.g. ``scene-train.arff`` and
            ``scene-test.arff``).
        xml_path: the MULAN XML label list.
        name: data set name; defaults to the XML file's stem.

    Returns:
        A :class:`Dataset` with ``features`` ``(n_samples, n_features)`` (CSR for sparse ARFF), labels in ARFF
        attribute order, and ids ``"<arff stem>:<row>"``.

    Raises:
        DataError: unreadable or malformed files (file and line), labels named in the XML but absent from the
            ARFF, files whose attributes differ, label values other than 0/1, missing, NaN or infinite values.
    """
    paths = (
        [Path(arff_paths)] if isinstance(arff_paths, (str, os.PathLike)) else [Path(p) for p in arff_paths]
    )
    if not paths:
        raise DataError("load_mulan needs at least one ARFF file.")
    xml_path = Path(xml_path)
    parts, reordered = _read_parts(paths, xml_path)
    notes = [f"rows of {len(paths)} ARFF files concatenated"] if len(paths) > 1 else []
    return _assemble(parts, xml_path, name or xml_path.stem, reordered, {"notes": notes})


def _read_order(name: MulanFileName) -> tuple[int, str]:
    return {"train": 0, "complete": 1, "test": 2}[name.role], name.path.name


def load_mulan_dir(directory: str | os.PathLike[str], *, parts: Parts = "complete") -> Dataset:
    """Read the MULAN data set in ``directory`` (its one ``.xml`` and ``.arff`` files), every sample once.

    A folder as MULAN distributes it holds the complete file, its train/test split and maybe sparse copies;
    the rule choosing what to read is in :mod:`mlml.data.mulan_folder`: by default the complete file, else
    the train/test pair (``scene-train.arff`` then ``scene-test.arff``). A skipped file must hold only rows of
    the file(s) read, else the folder is refused. ``provenance`` names the files read (``files``; ``parts``
    gives each file's role, ``train``/``test``/``complete``, and its rows) and those skipped, each with its
    reason (``skipped_files``); ``data info`` prints both.

    Args:
        directory: the folder.
        parts: ``"complete"`` (default) reads a complete file where there is one; ``"split"`` prefers the
            train/test pair (MULAN's split: train rows first, ids name their file).

    Raises:
        DataError: the folder is missing, holds no or several XML files, no ARFF file, or a file named as a copy
            or part of the data that holds rows the file(s) read do not.
    """
    directory = Path(directory)
    check_option(parts, "parts", "load_mulan_dir", ("complete", "split"))
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder (expected a MULAN data set: one .xml, .arff files).")
    xml_files = sorted(directory.glob("*.xml"))
    arff_files = sorted(directory.glob("*.arff"))
    if len(xml_files) != 1:
        found = ", ".join(p.name for p in xml_files) or "none"
        raise DataError(f"{directory}: expected exactly one MULAN .xml label file; found {found}.")
    if not arff_files:
        raise DataError(f"{directory}: no .arff file.")
    groups = group_by_base(arff_files)
    chosen: list[MulanFileName] = []
    skipped: list[tuple[MulanFileName, list[MulanFileName]]] = []
    for files in groups.values():
        readings = full_readings(files, parts)
        if not readings:
            chosen += sorted(files, key=_read_order)
            continue
        chosen += readings[0]
        skipped += [(f, readings[0]) for f in files if f not in readings[0]]
    # One read of every file: they must share one header, and the skipped ones are compared by content.
    every, reordered = _read_parts([f.path for f in chosen] + [f.path for f, _ in skipped], xml_files[0])
    read, by_path = every[: len(chosen)], {p.path: p for p in every}
    skipped_files, notes = [], []
    for file, reading in skipped:
        reading_rows = np.concatenate([by_path[f.path].row_hashes() for f in reading])
        reason = check_skipped(directory, reading, file, reading_rows, by_path[file.path].row_hashes())
        skipped_files.append({"file": str(file.path), "reason": reason})
    for reading in dict.fromkeys(tuple(r) for _, r in skipped):
        what = "the complete file" if len(reading) == 1 else "the train/test pair"
        n_skipped = sum(1 for _, r in skipped if tuple(r) == reading)
        notes.append(
            f"read {' + '.join(f.path.name for f in reading)}, {what} (parts={parts!r}); {n_skipped} other "
            "file(s) of the same data set skipped, their rows all occur in it"
        )
    if len(chosen) > 1:
        notes.append(f"rows of {len(chosen)} ARFF files concatenated: " + ", ".join(f.path.name for f in chosen))
    return _assemble(
        read, xml_files[0], directory.name, reordered,
        {"notes": notes, "skipped_files": skipped_files},
    )


def river_yeast_path() -> Path:
    """Path of ``yeast.csv.gz`` inside the installed ``river`` package (not imported).

    Raises:
        DataError: river is not installed or its wheel lacks the file (river >= 0.26 ships it).
    """
    spec = importlib.util.find_spec("river")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "The built-in data set 'yeast' is read from the river package, which is not installed: "
            "pip install 'river>=0.26'."
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / "yeast.csv.gz"
        if path.is_file():
            return path
    raise DataError(
        f"river is installed at {list(spec.submodule_search_locations)} but has no datasets/yeast.csv.gz; "
        "pip install 'river>=0.26'."
    )


def load_river_yeast(path: str | os.PathLike[str] | None = None) -> Dataset:
    """MULAN yeast (2,417 genes x 103 features, 14 functional classes) from river's ``yeast.csv.gz``.

    Columns ``Att1..Att103`` are the features and ``Class1..Class14`` the labels, in file order (the order of
    MULAN's yeast.arff). Ids are ``yeast:<row>``, as :func:`load_mulan` gives for ``yeast.arff``.

    Args:
        path: the CSV (gzip) file; defaults to :func:`river_yeast_path`.

    Raises:
        DataError: the file is unreadable, a row is malformed (with its line) or a label is not 0/1.
    """
    path = Path(path) if path is not None else river_yeast_path()
    try:
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the yeast file: {exc}") from None
    if not rows:
        raise DataError(f"{path}: empty file.")
    header = [h.strip() for h in rows[0]]
    label_columns = [i for i, h in enumerate(header) if h.startswith("Class")]
    feature_columns = [i for i, h in enumerate(header) if not h.startswith("Class")]
    if not label_columns:
        raise DataError(f"{path}:1: no 'Class...' label column in the header.")
    lines = [line for line, row in enumerate(rows[1:], start=2) if row]  # file line of each data row
    body = [rows[line - 1] for line in lines]
    for line, row in zip(lines, body):
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} fields, got {len(row)}.")
    try:
        values = np.asarray(body, dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: a value is not a number: {exc}") from None
    labels = values[:, label_columns]
    bad = np.argwhere((labels != 0) & (labels != 1))
    if bad.size:
        row, column = bad[0]
        raise DataError(
            f"{path}:{lines[row]}: label column {header[label_columns[column]]!r} holds "
            f"{labels[row, column]:g}; labels must be 0 or 1."
        )
    nonfinite = first_nonfinite(values[:, feature_columns])
    if nonfinite is not None:
        row, column, value = nonfinite
        raise DataError(
            f"{path}:{lines[row]}: column {header[feature_columns[column]]!r} holds {value!r}; features must be "
            "finite numbers within the float32 range."
        )
    return Dataset(
        name="yeast",
        labels=labels.astype(np.int8),
        label_names=[header[i] for i in label_columns],
        ids=np.asarray([f"yeast:{i}" for i in range(len(body))]),
        features=values[:, feature_columns].astype(np.float32),
        provenance={
            "loader": "river-yeast",
            "files": [str(path)],
            "notes": ["MULAN yeast as shipped in the river wheel (read directly, river not imported)"],
        },
    )


__all__ = [
    "load_mulan",
    "load_mulan_dir",
    "load_river_yeast",
    "read_mulan_xml",
    "river_yeast_path",
    "unescape_arff_name",
]
