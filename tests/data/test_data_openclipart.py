"""openclipart: SVG keywords, pairing, de-duplication, noise rules; the real packages where installed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mlml.data import describe, format_info, load
from mlml.data.openclipart import DEFAULT_ROOT, load_openclipart, normalise_keyword, read_svg_metadata
from mlml.exceptions import DataError, MLMLError

SVG = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:cc="http://web.resource.org/cc/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
     width="10" height="10">
  <metadata><rdf:RDF><cc:Work rdf:about="">
    <dc:title>{title}</dc:title>
    <dc:subject><rdf:Bag>{keywords}</rdf:Bag></dc:subject>
    <dc:creator><cc:Agent><dc:title>{creator}</dc:title></cc:Agent></dc:creator>
  </cc:Work></rdf:RDF></metadata>
  <rect width="10" height="10"/>
</svg>
"""


def _png(seed: int) -> bytes:
    """Distinct tiny PNG bytes (a valid 1x1 PNG whose pixel depends on ``seed``)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00" + bytes([seed % 256, (seed * 7) % 256, (seed * 13) % 256])
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _add(root: Path, relative: str, keywords: list[str], creator: str, png: bytes | None) -> None:
    svg = root / "svg" / f"{relative}.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    items = "".join(f"<rdf:li>{k}</rdf:li>" for k in keywords)
    svg.write_text(SVG.format(title=relative, keywords=items, creator=creator), encoding="utf-8")
    if png is not None:
        target = root / "png" / f"{relative}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png)


@pytest.fixture()
def clipart(tmp_path: Path) -> Path:
    root = tmp_path / "openclipart"
    # a bulk upload: 6 generated patterns, all tagged 'magick' and 'shapes' (blanket tags), some 'star'
    for i in range(6):
        _add(root, f"shapes/pattern_{i}", ["magick", "Shapes", "star" if i < 3 else "circle"], "Bulk Bob",
             _png(i))  # fmt: skip
    # ordinary drawings by two authors
    _add(root, "animals/cat", ["Cat", "animal", "hash", "Alice Artist"], "Alice Artist", _png(20))
    _add(root, "animals/dog", ["dog", "Animals", "clip_art", "2008"], "Alice Artist", _png(21))
    _add(root, "animals/bird", ["bird", "animal", "alice"], "Alice Artist", _png(22))
    _add(root, "plants/rose", ["flower", "Flowers", "public domain", ""], "Carol", _png(23))
    _add(root, "plants/tulip", ["flower", "plant"], "Carol", _png(24))
    _add(root, "plants/dog_copy", ["dog", "pet", "plant"], "Carol", _png(21))  # same PNG as animals/dog
    _add(root, "animals/puppy", ["dog"], "Carol", _png(26))
    _add(root, "misc/orphan", ["animal"], "Carol", None)  # SVG without PNG
    _add(root, "misc/none", ["svg", "hash"], "Carol", _png(25))  # nothing left after noise removal
    # a symbolic link pair (the same image filed twice, as Debian ships it)
    (root / "svg" / "pets").mkdir()
    (root / "png" / "pets").mkdir()
    os.symlink("../animals/cat.svg", root / "svg" / "pets" / "cat.svg")
    os.symlink("../animals/cat.png", root / "png" / "pets" / "cat.png")
    return root


def test_keywords_are_read_and_normalised(clipart: Path) -> None:
    keywords, creator = read_svg_metadata(clipart / "svg" / "animals" / "dog.svg")
    assert keywords == ["dog", "animals", "clip art", "2008"]
    assert creator == "alice artist"
    assert normalise_keyword("  Signs_and-Symbols ") == "signs and symbols"


def test_labels_dedup_and_noise_rules(clipart: Path) -> None:
    data = load_openclipart(clipart, min_keyword_frequency=2)
    # magick/shapes: blanket tags of Bulk Bob; hash, clip art, public domain, svg: noise list; 2008: no
    # letter; 'alice artist'/'alice': the author; 'animals' -> 'animal', 'flowers' -> 'flower' (plurals);
    # cat + pets/cat (symlink) and dog + dog_copy (same PNG) merged.
    # 'pet' is on one image only: the two copies of the dog count once
    assert data.label_names == ["animal", "circle", "dog", "flower", "plant", "star"]
    rows = dict(zip(data.ids.tolist(), data.labels.tolist()))
    assert rows["animals/cat"] == [1, 0, 0, 0, 0, 0]
    assert rows["animals/dog"] == [1, 0, 1, 0, 1, 0]  # 'plant' comes from the copy plants/dog_copy
    assert "plants/dog_copy" not in rows and "pets/cat" not in rows
    assert rows["shapes/pattern_0"] == [0, 0, 0, 0, 0, 1]
    assert rows["plants/rose"] == [0, 0, 0, 1, 0, 0]
    assert "misc/none" not in rows  # no vocabulary keyword: dropped and counted
    assert data.provenance["filters"][0]["removed_samples"] == 1
    notes = " ".join(data.provenance["notes"])
    assert "1 SVG files without a PNG skipped" in notes
    assert "bulk bob: magick, shapes" in notes
    assert "duplicates merged by PNG content" in notes
    assert all(p.suffix == ".png" and p.exists() for p in data.image_paths)


def test_frequency_threshold_and_errors(clipart: Path) -> None:
    assert load_openclipart(clipart, min_keyword_frequency=3).label_names == ["animal", "circle", "star"]
    with pytest.raises(MLMLError, match="leaves no label"):
        load_openclipart(clipart, min_keyword_frequency=50)
    with pytest.raises(MLMLError, match="'min_keyword_frequency' parameter"):
        load_openclipart(clipart, min_keyword_frequency=0)
    with pytest.raises(DataError, match="apt-get install openclipart-png openclipart-svg"):
        load(f"openclipart:{clipart / 'absent'}")


def test_malformed_svg_is_named_or_skipped(clipart: Path) -> None:
    bad = clipart / "svg" / "animals" / "broken.svg"
    bad.write_text("<svg>\n<metadata>\n<dc:subject>\n</svg>", encoding="utf-8")
    (clipart / "png" / "animals" / "broken.png").write_bytes(_png(99))
    with pytest.raises(DataError, match=r"broken\.svg:\d+: not well-formed"):
        load(f"openclipart:{clipart}")
    data = load(f"openclipart:{clipart}", min_keyword_frequency=2, skip_bad=True)
    assert "broken.svg" in " ".join(data.provenance["notes"])
    assert data.provenance["filters"][-1]["filter"] == "skip_bad"  # the PNGs were checked too


@pytest.mark.slow
def test_real_openclipart_packages() -> None:
    if not (DEFAULT_ROOT / "svg").is_dir() or not (DEFAULT_ROOT / "png").is_dir():
        pytest.skip(
            f"openclipart packages not installed at {DEFAULT_ROOT} "
            "(apt-get install openclipart-png openclipart-svg)"
        )
    data = load("openclipart")
    info = describe(data)
    assert 50 <= data.n_labels <= 80
    assert data.n_samples > 2000
    for noise in ("hash", "magick", "theme", "unsorted", "architetto francesco rollandin", "svg"):
        assert noise not in data.label_names
    for content in ("animal", "flag", "food", "music", "weather"):
        assert content in data.label_names
    assert info["empty_samples"] == 0
    assert len(set(p.resolve() for p in data.image_paths)) == data.n_samples
    assert "images" in format_info(info)
    np.testing.assert_array_equal(np.sort(data.label_names), data.label_names)
