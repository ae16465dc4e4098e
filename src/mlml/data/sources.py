"""One SOURCE syntax for every command (``data info``, ``train``, ``reproduce``, ...).

=================================  ==========================================================================
SOURCE                             data
=================================  ==========================================================================
``yeast``                          built-in MULAN yeast from the river wheel (2,417 x 103, 14 labels)
``mulan:DIR``                      a MULAN folder: its .xml and .arff files, every sample once (complete file,
                                   else train + test; see mlml.data.mulan_folder)
``mulan:FILE.arff,FILE.xml``       one ARFF (or several: ``A.arff,B.arff,L.xml``) and the XML label list
``coco:ANN.json,IMAGE_DIR``        COCO instances JSON; IMAGE_DIR optional (labels only without it)
``nuswide:ROOT``                   NUS-WIDE official layout
``openclipart[:ROOT]``             Debian openclipart packages (default ROOT /usr/share/openclipart)
``csv:LABELS.csv[,FEATURES]``      labels CSV joined with .npy/.npz/.parquet/.csv features or an image folder
``xc:FILE[,TEST_FILE]``            the Extreme Classification Repository's text format (sparse labels and
                                   features; train then test rows), see mlml.data.xc
``openimages:LABELS.csv``          Open Images human-verified labels (partial annotations: 1 present, 2
``[,DESCRIPTIONS.csv][,IMAGE_DIR]`` verified absent, -1 unannotated; mlml.data.openimages), classes named by
                                   the descriptions file, images IMAGE_DIR/<ImageID>.jpg
=================================  ==========================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlml.data.dataset import Dataset, apply_filters
from mlml.data.duplicates import check_duplicates
from mlml.exceptions import MLMLError

SOURCE_HELP = (
    "yeast | mulan:DIR | mulan:FILE.arff,FILE.xml | coco:ANN.json[,IMAGE_DIR] | nuswide:ROOT | "
    "openclipart[:ROOT] | csv:LABELS.csv[,FEATURES] | xc:FILE[,TEST_FILE] | "
    "openimages:LABELS.csv[,DESCRIPTIONS.csv][,IMAGE_DIR]"
)

_KINDS = ("yeast", "mulan", "coco", "nuswide", "openclipart", "csv", "xc", "openimages")


def parse_source(source: str) -> tuple[str, list[str]]:
    """Split a SOURCE string into its kind and its comma-separated arguments.

    >>> parse_source("mulan:data/scene")
    ('mulan', ['data/scene'])

    Raises:
        MLMLError: an unknown kind or a wrong number of arguments, with the valid syntax.
    """
    if not isinstance(source, str) or not source.strip():
        raise MLMLError(
            f"A data SOURCE must be a non-empty string. Got {source!r}. Valid forms: {SOURCE_HELP}."
        )
    kind, _, rest = source.strip().partition(":")
    kind = kind.lower()
    args = [a.strip() for a in rest.split(",")] if rest else []
    if kind not in _KINDS:
        raise MLMLError(f"Unknown data SOURCE {source!r}. Valid forms: {SOURCE_HELP}.")
    expected = {
        "yeast": (0, 0),
        "mulan": (1, 64),
        "coco": (1, 2),
        "nuswide": (1, 1),
        "openclipart": (0, 1),
        "csv": (1, 2),
        "xc": (1, 2),
        "openimages": (1, 3),
    }[kind]
    if not expected[0] <= len(args) <= expected[1] or any(not a for a in args):
        raise MLMLError(
            f"Bad data SOURCE {source!r}: '{kind}' takes {_usage(kind)}. Valid forms: {SOURCE_HELP}."
        )
    return kind, args


def _usage(kind: str) -> str:
    return {
        "yeast": "no argument ('yeast')",
        "mulan": "a folder or ARFF file(s) then the XML ('mulan:DIR' or 'mulan:FILE.arff,FILE.xml')",
        "coco": "'coco:ANNOTATIONS.json[,IMAGE_DIR]'",
        "nuswide": "'nuswide:ROOT'",
        "openclipart": "'openclipart' or 'openclipart:ROOT'",
        "csv": "'csv:LABELS.csv[,FEATURES]'",
        "xc": "'xc:FILE' or 'xc:TRAIN_FILE,TEST_FILE'",
        "openimages": "'openimages:HUMAN_LABELS.csv[,CLASS_DESCRIPTIONS.csv][,IMAGE_DIR]'",
    }[kind]


def _load_raw(kind: str, args: list[str], source: str, options: dict[str, Any]) -> Dataset:
    from mlml.data import coco, mulan, nuswide, openclipart, openimages, tabular, xc

    def call(function: Any, *positional: Any) -> Dataset:
        try:
            return function(*positional, **options)
        except TypeError as exc:
            if "unexpected keyword argument" in str(exc):
                raise MLMLError(f"Data SOURCE {source!r}: {exc}.") from None
            raise

    if kind == "yeast":
        return call(mulan.load_river_yeast)
    if kind == "mulan":
        if len(args) == 1:
            return call(mulan.load_mulan_dir, args[0])
        if not args[-1].lower().endswith(".xml"):
            raise MLMLError(
                f"Bad data SOURCE {source!r}: the last file of 'mulan:' must be the .xml label list."
            )
        return call(mulan.load_mulan, args[:-1], args[-1])
    if kind == "coco":
        return call(coco.load_coco, args[0], args[1] if len(args) > 1 else None)
    if kind == "nuswide":
        return call(nuswide.load_nuswide, args[0])
    if kind == "openclipart":
        return call(openclipart.load_openclipart, Path(args[0]) if args else openclipart.DEFAULT_ROOT)
    if kind == "xc":
        return call(xc.load_xc, args[0], args[1] if len(args) > 1 else None)
    if kind == "openimages":
        descriptions, image_dir = _openimages_parts(args[1:])
        return call(openimages.load_openimages, args[0], descriptions, image_dir)
    return call(tabular.load_csv, args[0], args[1] if len(args) > 1 else None)


def _openimages_parts(rest: list[str]) -> tuple[str | None, str | None]:
    """``[DESCRIPTIONS.csv][,IMAGE_DIR]``: a lone second argument is the image folder when it is a folder."""
    if len(rest) == 2:
        return rest[0], rest[1]
    if len(rest) == 1:
        return (None, rest[0]) if Path(rest[0]).is_dir() else (rest[0], None)
    return None, None


def load(
    source: str,
    *,
    min_labels: int | None = None,
    min_label_frequency: int | None = None,
    drop_empty: bool = False,
    drop_duplicates: bool = False,
    skip_bad: bool = False,
    check_images: bool = False,
    **options: Any,
) -> Dataset:
    """Load a data set from a SOURCE string, report duplicates, apply the filters, optionally check images.

    Identical samples (same features, or image file, and same labels; :mod:`mlml.data.duplicates`) are
    counted in ``provenance["duplicates"]`` on the data as loaded, with a
    :class:`~mlml.data.duplicates.DuplicateSamplesWarning` unless ``drop_duplicates`` removes them first.

    Args:
        source: see the module docstring (``yeast``, ``mulan:DIR``, ``coco:ANN.json,IMAGE_DIR``, ...).
        min_labels: keep samples with at least this many positives (COCO paper subset: 4; NUS-WIDE: 3).
        min_label_frequency: drop labels with fewer positives (applied first; see
            :func:`mlml.data.dataset.apply_filters`).
        drop_empty: drop samples with no positive label.
        drop_duplicates: keep only the first of each group of identical samples (before the other filters;
            recorded as the filter step ``drop_duplicates``).
        skip_bad: skip unreadable images (and, for openclipart, unreadable SVGs) and report them in the
            provenance filters (count and names) instead of raising; implies ``check_images`` for image
            data.
        check_images: open and decode every image after filtering; an unreadable one raises a DataError
            naming the file unless ``skip_bad``.
        **options: passed to the loader (e.g. ``parts="split"`` for ``mulan:DIR``, ``ground_truth="tags"`` for
            NUS-WIDE, ``min_keyword_frequency=30`` for openclipart).

    Returns:
        The :class:`Dataset`, with ``provenance["source"]`` set to ``source``.

    Raises:
        MLMLError: a bad SOURCE or option; DataError: a file problem (naming the file and line/record).
    """
    if not isinstance(drop_duplicates, bool):
        raise MLMLError(f"The 'drop_duplicates' parameter of load must be a bool. Got {drop_duplicates!r} instead.")
    kind, args = parse_source(source)
    if kind == "openclipart":
        options.setdefault("skip_bad", skip_bad)
    dataset = _load_raw(kind, args, source, options)
    dataset.provenance["source"] = source
    dataset = check_duplicates(dataset, drop=drop_duplicates, stacklevel=2)
    dataset = apply_filters(
        dataset, min_labels=min_labels, min_label_frequency=min_label_frequency, drop_empty=drop_empty
    )
    if dataset.image_paths is not None and (check_images or skip_bad):
        from mlml.data.images import check_images as check

        good, bad = check(dataset.image_paths, skip_bad=skip_bad)
        if bad:
            dataset = dataset.subset(good)
        if skip_bad:
            dataset.provenance["filters"].append(
                {
                    "filter": "skip_bad",
                    "value": True,
                    "removed_samples": len(bad),
                    "removed_files": [f"{p}: {reason}" for p, reason in bad],
                }
            )
    return dataset
