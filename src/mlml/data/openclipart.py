"""openclipart: public-domain clip art whose user keywords are naturally incomplete labels.

Debian ships the Open Clip Art Library 0.18 as ``openclipart-svg`` and ``openclipart-png``
(``apt-get install openclipart-png openclipart-svg``): ``ROOT/svg/<category>/.../<name>.svg`` and the
rendered ``ROOT/png/<same path>.png``. Both trees hold symbolic links for images filed under several
categories. Each SVG carries Dublin Core metadata: keywords in ``<dc:subject><rdf:Bag><rdf:li>`` and the
author in ``<dc:creator><cc:Agent><dc:title>``.

How the labels are built (each step is counted in the provenance):

1. **Pairs**: every SVG with its PNG (same relative path); a pair with either file missing is skipped and
   counted.
2. **De-duplication**: pairs whose PNG bytes are identical (SHA-256; symbolic links included) are one image;
   its keywords are the union over the copies, its id the first relative path in sorted order.
3. **Normalisation**: Unicode NFKC, lower case, ``_`` and ``-`` as spaces, whitespace collapsed.
4. **Upload noise**, dropped (found by looking at the 0.18 collection):

   * keywords with no letter, and the fixed list :data:`NOISE_KEYWORDS`: tagging artefacts (``hash``
     is attached to 1,795 SVGs of every category, ``unsorted``), file-format and licensing words (``svg``,
     ``png``, ``clip art``, ``public domain``, ``icon``, ``theme``, ...) and the context folders of desktop
     icon themes copied into tags (``action``, ``application``, ``mimetypes``, ``filesystem``, ...);
   * author names: a keyword equal to the image's creator or to one word of the creator's name
     (``architetto francesco rollandin`` tags 58 of his own drawings);
   * blanket tags of bulk uploads: for a creator with at least ``bulk_min_share`` (1 %) of the images, a
     keyword on at least ``blanket_share`` (90 %) of that creator's images says nothing about any one image
     and is dropped from those images (``geometry``/``magick``/``shapes``/``stars`` on all 1,375 generated
     patterns of one author; ``computer``/``icons``/``theme`` on the 886 icons of one theme).

5. **Plurals**: a keyword ``Xs`` is merged into ``X`` when ``X`` is itself a keyword.
6. **Vocabulary**: keywords on at least ``min_keyword_frequency`` images (default 40, which leaves 63 labels
   of the 0.18 collection), in alphabetical order; images with no vocabulary keyword are dropped (counted).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlml.data.dataset import Dataset
from mlml.exceptions import DataError, MLMLError

DEFAULT_ROOT = Path("/usr/share/openclipart")

#: Keywords that describe the upload, the file or the licence rather than the picture.
NOISE_KEYWORDS: frozenset[str] = frozenset(
    {
        # tagging artefacts of the library
        "hash", "unsorted", "untagged", "other", "misc", "miscellaneous", "new",
        # file format, medium and licence
        "svg", "png", "image", "images", "picture", "clip art", "clipart", "clip", "openclipart",
        "open clip art", "ocal", "public domain", "publicdomain", "pd", "cc0", "inkscape", "illustrator",
        "vector", "drawing", "icon", "icons", "theme", "appicon",
        # context folders of freedesktop icon themes, copied into tags by icon-set uploads
        "action", "actions", "application", "applications", "apps", "filesystem", "filesystems",
        "mimetypes", "mime types", "mimetype", "emblems", "places", "status",
    }
)  # fmt: skip

_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "cc": "http://web.resource.org/cc/",
}


def normalise_keyword(keyword: str) -> str:
    """NFKC, lower case, ``_``/``-`` as spaces, collapsed whitespace: ``'Signs_and_Symbols'`` ->
    ``'signs and symbols'``."""
    text = unicodedata.normalize("NFKC", keyword).lower().replace("_", " ").replace("-", " ")
    return " ".join(text.split())


def read_svg_metadata(path: str | os.PathLike[str]) -> tuple[list[str], str]:
    """Normalised keywords (``dc:subject`` bag) and creator (``dc:creator`` title) of an SVG file.

    Parsing stops at the end of the ``<metadata>`` element, so large drawings cost little.

    Raises:
        DataError: the file is not well-formed XML before the end of its metadata (with the line).
    """
    path = Path(path)
    keywords: list[str] = []
    creator = ""
    subject_tag = f"{{{_NS['dc']}}}subject"
    creator_tag = f"{{{_NS['dc']}}}creator"
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            tag = element.tag
            if tag == subject_tag:
                items = element.iter(f"{{{_NS['rdf']}}}li")
                texts = [li.text or "" for li in items] or [element.text or ""]
                for text in texts:
                    keyword = normalise_keyword(text)
                    if keyword:
                        keywords.append(keyword)
            elif tag == creator_tag:
                title = element.find(f".//{{{_NS['dc']}}}title")
                creator = normalise_keyword(title.text or "") if title is not None else creator
            elif tag.rsplit("}", 1)[-1] == "metadata":
                break
    except ET.ParseError as exc:
        raise DataError(f"{path}:{exc.position[0]}: not well-formed SVG/XML: {exc}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    return keywords, creator


@dataclass
class _Image:
    ids: list[str]
    png: Path
    creator: str
    keywords: set[str] = field(default_factory=set)


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_LETTER = re.compile(r"[^\W\d_]")


def load_openclipart(
    root: str | os.PathLike[str] = DEFAULT_ROOT,
    *,
    min_keyword_frequency: int = 40,
    blanket_share: float = 0.9,
    bulk_min_share: float = 0.01,
    noise_keywords: frozenset[str] | set[str] = NOISE_KEYWORDS,
    skip_bad: bool = False,
) -> Dataset:
    """Read the openclipart collection as multi-label image data (see the module docstring for the rules).

    Args:
        root: folder holding ``svg/`` and ``png/`` (Debian: ``/usr/share/openclipart``).
        min_keyword_frequency: minimum number of (de-duplicated) images a keyword needs to become a label.
        blanket_share: share of a bulk uploader's images above which a keyword counts as a blanket tag.
        bulk_min_share: share of the collection a creator needs for the blanket-tag rule to apply.
        noise_keywords: normalised keywords always dropped.
        skip_bad: skip SVGs whose metadata cannot be parsed (reported) instead of raising.

    Returns:
        Dataset with ``image_paths`` (the PNGs), ids = relative paths without extension.

    Raises:
        DataError: the packages are not installed at ``root``, or a bad SVG (unless ``skip_bad``).
    """
    if (
        isinstance(min_keyword_frequency, bool)
        or not isinstance(min_keyword_frequency, int)
        or (min_keyword_frequency < 1)
    ):
        raise MLMLError(
            "The 'min_keyword_frequency' parameter of load_openclipart must be an int >= 1. "
            f"Got {min_keyword_frequency!r} instead."
        )
    for value, name in ((blanket_share, "blanket_share"), (bulk_min_share, "bulk_min_share")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
            raise MLMLError(
                f"The {name!r} parameter of load_openclipart must be a float in (0, 1]. "
                f"Got {value!r} instead."
            )
    root = Path(root)
    svg_root, png_root = root / "svg", root / "png"
    if not svg_root.is_dir() or not png_root.is_dir():
        raise DataError(
            f"openclipart not found at {root} (expected {svg_root} and {png_root}). Install it with "
            "'apt-get install openclipart-png openclipart-svg' (Debian/Ubuntu; ~160 MB download, ~330 MB "
            "installed) or pass the folder as root."
        )

    unpaired, bad_svgs = [], []
    by_hash: dict[str, _Image] = {}
    svg_files = sorted(svg_root.rglob("*.svg"))
    for svg in svg_files:
        relative = svg.relative_to(svg_root).with_suffix("")
        png = png_root / relative.with_suffix(".png")
        if not png.exists():
            unpaired.append(str(relative))
            continue
        try:
            keywords, creator = read_svg_metadata(svg)
        except DataError as exc:
            if not skip_bad:
                raise
            bad_svgs.append(str(exc))
            continue
        digest = _hash(png)
        image = by_hash.get(digest)
        if image is None:
            image = by_hash[digest] = _Image(ids=[], png=png, creator=creator)
        image.ids.append(relative.as_posix())
        image.keywords.update(keywords)
    if not by_hash:
        raise DataError(f"{root}: no SVG/PNG pair found.")
    images = list(by_hash.values())
    n_pairs = sum(len(image.ids) for image in images)

    # upload noise: fixed list, keywords without letters, author names, blanket tags of bulk uploads
    removed: Counter[str] = Counter()
    for image in images:
        author_words = set(image.creator.split()) | {image.creator}
        for keyword in list(image.keywords):
            if keyword in noise_keywords or not _LETTER.search(keyword) or keyword in author_words:
                image.keywords.discard(keyword)
                removed["noise list, no letter or author name"] += 1
    by_creator: dict[str, list[_Image]] = defaultdict(list)
    for image in images:
        by_creator[image.creator].append(image)
    blanket: dict[str, list[str]] = {}
    for creator, own in by_creator.items():
        if not creator or len(own) < bulk_min_share * len(images):
            continue
        counts = Counter(k for image in own for k in image.keywords)
        tags = sorted(k for k, c in counts.items() if c >= blanket_share * len(own))
        if tags:
            blanket[creator] = tags
            for image in own:
                image.keywords.difference_update(tags)
            removed["blanket tags of bulk uploads"] += sum(counts[t] for t in tags)

    # plurals, then the vocabulary
    present = {k for image in images for k in image.keywords}
    for image in images:
        image.keywords = {k[:-1] if k.endswith("s") and k[:-1] in present else k for k in image.keywords}
    frequency = Counter(k for image in images for k in image.keywords)
    vocabulary = sorted(k for k, c in frequency.items() if c >= min_keyword_frequency)
    if not vocabulary:
        raise MLMLError(
            f"min_keyword_frequency={min_keyword_frequency} leaves no label (the most frequent keyword is on "
            f"{max(frequency.values(), default=0)} images)."
        )
    column = {k: j for j, k in enumerate(vocabulary)}
    kept = [image for image in images if image.keywords & column.keys()]
    labels = np.zeros((len(kept), len(vocabulary)), dtype=np.int8)
    for row, image in enumerate(kept):
        labels[row, [column[k] for k in image.keywords if k in column]] = 1
    filters = [
        {
            "filter": "openclipart: no keyword in the vocabulary",
            "value": min_keyword_frequency,
            "removed_samples": len(images) - len(kept),
        }
    ]
    notes = [
        f"{len(svg_files):,} SVG files, {n_pairs:,} SVG/PNG pairs, {len(images):,} distinct images "
        f"({n_pairs - len(images):,} duplicates merged by PNG content)",
        f"vocabulary: {len(vocabulary)} keywords on >= {min_keyword_frequency} images "
        f"(of {len(frequency):,} distinct keywords after noise removal)",
        "blanket tags dropped: "
        + ("; ".join(f"{c}: {', '.join(t)}" for c, t in sorted(blanket.items())) or "none"),
    ]
    if unpaired:
        notes.append(f"{len(unpaired)} SVG files without a PNG skipped (e.g. {unpaired[0]})")
    if bad_svgs:
        notes.append(f"{len(bad_svgs)} unreadable SVG files skipped: {'; '.join(bad_svgs[:3])}")
    return Dataset(
        name="openclipart",
        labels=labels,
        label_names=vocabulary,
        ids=np.asarray([image.ids[0] for image in kept]),
        image_paths=[image.png for image in kept],
        provenance={
            "loader": "openclipart",
            "files": [str(svg_root), str(png_root)],
            "notes": notes,
            "filters": filters,
            "keyword_removals": dict(removed),
            "bad_files": bad_svgs,
        },
    )
