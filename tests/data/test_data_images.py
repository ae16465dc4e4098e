"""check_images / load_rgb: bad files named or skipped and reported; grayscale and RGBA converted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlml.exceptions import DataError

Image = pytest.importorskip("PIL.Image", reason="Pillow (the 'vision' extra) is not installed")

from mlml.data.images import check_images, load_rgb  # noqa: E402


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    rgb = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    paths["rgb"] = tmp_path / "rgb.jpg"
    Image.fromarray(rgb).save(paths["rgb"], quality=90)
    paths["gray"] = tmp_path / "gray.png"
    Image.fromarray(rgb[:, :, 0]).save(paths["gray"])
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[:10, :, :] = (255, 0, 0, 255)  # top half opaque red, bottom half transparent
    paths["rgba"] = tmp_path / "rgba.png"
    Image.fromarray(rgba, mode="RGBA").save(paths["rgba"])
    full = paths["rgb"].read_bytes()
    paths["truncated_jpg"] = tmp_path / "cut.jpg"
    paths["truncated_jpg"].write_bytes(full[: len(full) // 2])
    png = paths["gray"].read_bytes()
    paths["truncated_png"] = tmp_path / "cut.png"
    paths["truncated_png"].write_bytes(png[: len(png) - 30])
    paths["text"] = tmp_path / "notes.png"
    paths["text"].write_text("not an image", encoding="utf-8")
    paths["missing"] = tmp_path / "absent.png"
    return paths


def test_grayscale_and_rgba_are_converted_not_dropped(images: dict[str, Path]) -> None:
    good, bad = check_images([images["rgb"], images["gray"], images["rgba"]])
    np.testing.assert_array_equal(good, [0, 1, 2])
    assert bad == []
    gray = load_rgb(images["gray"])
    assert gray.mode == "RGB" and gray.size == (30, 40)
    rgba = np.asarray(load_rgb(images["rgba"]))
    np.testing.assert_array_equal(rgba[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(rgba[-1, -1], [255, 255, 255])  # transparency over white


@pytest.mark.parametrize("bad_name", ["truncated_jpg", "truncated_png", "text", "missing"])
def test_bad_image_is_an_error_naming_the_file(images: dict[str, Path], bad_name: str) -> None:
    with pytest.raises(DataError, match=images[bad_name].name):
        check_images([images["rgb"], images[bad_name]])


def test_skip_bad_reports_count_and_names(images: dict[str, Path]) -> None:
    paths = [images[k] for k in ("rgb", "truncated_jpg", "gray", "text", "rgba", "missing")]
    good, bad = check_images(paths, skip_bad=True)
    np.testing.assert_array_equal(good, [0, 2, 4])
    assert [Path(p).name for p, _ in bad] == ["cut.jpg", "notes.png", "absent.png"]
    assert all(reason for _, reason in bad)


def test_huge_png_opens_without_touching_the_global_limit(tmp_path: Path) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "huge.png"
    Image.new("1", (400, 300)).save(path)
    try:
        Image.MAX_IMAGE_PIXELS = 1000  # make a small file "huge" for Pillow's bomb check
        with pytest.raises(Image.DecompressionBombError):
            Image.open(path)
        good, bad = check_images([path])
        assert good.tolist() == [0] and bad == []
        assert load_rgb(path, max_side=100).size == (100, 75)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    assert Image.MAX_IMAGE_PIXELS == limit


def test_load_with_skip_bad_drops_and_reports(tmp_path: Path, images: dict[str, Path]) -> None:
    from mlml.data import describe, format_info, load
    from mlml.labels import write_matrix_csv

    folder = tmp_path / "folder"
    folder.mkdir()
    for name in ("a", "b", "c"):
        source = {"a": images["rgb"], "b": images["truncated_jpg"], "c": images["gray"]}[name]
        (folder / f"{name}{source.suffix}").write_bytes(source.read_bytes())
    labels = write_matrix_csv(tmp_path / "l.csv", ["a", "b", "c"], ["x"], np.array([[1], [1], [0]]))
    with pytest.raises(DataError, match="b.jpg"):
        load(f"csv:{labels},{folder}", check_images=True)
    data = load(f"csv:{labels},{folder}", skip_bad=True)
    assert data.ids.tolist() == ["a", "c"]
    step = data.provenance["filters"][-1]
    assert step["filter"] == "skip_bad" and step["removed_samples"] == 1
    assert "b.jpg" in step["removed_files"][0]
    assert "skip_bad=True: removed 1 samples" in format_info(describe(data))
