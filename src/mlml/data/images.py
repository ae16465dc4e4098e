"""Checking and opening image files (Pillow, the optional ``vision`` extra, imported lazily).

Policy: an image that cannot be read (missing, not an image, truncated, corrupt) is an error naming the file;
with ``skip_bad=True`` it is skipped and reported (count and names), never silently. Grayscale, palette and
RGBA images are *converted* to RGB (transparency composited over white), never dropped. Very large images
(openclipart has PNGs above 200 megapixels) are legitimate: Pillow's decompression-bomb limit is bypassed for
the files given here, without touching Pillow's global setting.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlml.exceptions import DataError, MLMLError


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise MLMLError("Reading images needs Pillow: pip install 'mlml[vision]'.") from None
    return Image


def open_image(path: str | os.PathLike[str]) -> Any:
    """Open an image lazily (header only) with Pillow, whatever its pixel count.

    Pillow's ``Image.open`` refuses images above twice ``Image.MAX_IMAGE_PIXELS``; this tries the format
    plugins directly instead, so huge but valid files open. The caller closes the image.

    Raises:
        DataError: the file is missing or no Pillow plugin recognises it.
    """
    Image = _pil()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError:
        pass
    except FileNotFoundError:
        raise DataError(f"{path}: no such image file.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: not a readable image: {exc}") from None
    Image.init()
    with open(path, "rb") as handle:
        prefix = handle.read(16)
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(prefix):
            continue
        handle = open(path, "rb")
        try:
            return factory(handle, str(path))
        except (OSError, ValueError, SyntaxError, TypeError):
            handle.close()
    raise DataError(f"{path}: not a readable image (no Pillow format recognises it).")


def to_rgb(image: Any, *, background: tuple[int, int, int] = (255, 255, 255)) -> Any:
    """Return ``image`` (a ``PIL.Image``) in RGB mode; transparency is composited onto ``background``.

    Palette, grayscale, CMYK... are converted; 16/32-bit grayscale is scaled to 8 bits, float images are
    min-max scaled; RGBA, LA and palette or grayscale images with transparency are composited onto
    ``background`` (white: clip art is mostly transparent, and its invisible pixels often hold black).
    """
    Image = _pil()
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
        if mode == "RGB":
            return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        scaled = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def load_image(path: str | os.PathLike[str], *, target_size: int | None = None) -> Any:
    """Decode ``path`` (whatever its pixel count, see :func:`open_image`) as an RGB ``PIL.Image``.

    ``target_size`` is the length the shorter side will be resized to afterwards: JPEGs are then decoded with
    ``draft`` to the smallest DCT scale whose shorter side is still >= ``target_size`` (the image returned may
    still be larger; the caller resizes it). EXIF orientation is applied.

    Raises:
        DataError: the file is missing, unreadable or truncated, naming it.
    """
    from PIL import ImageOps

    image = open_image(path)
    try:
        if target_size is not None and image.format == "JPEG":
            width, height = image.size
            scale = target_size / max(1, min(width, height))
            if scale < 1:
                image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        image.load()
        return to_rgb(ImageOps.exif_transpose(image))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}: cannot decode the image (truncated or corrupt?): {exc}") from None
    finally:
        image.close()


def load_rgb(path: str | os.PathLike[str], *, max_side: int | None = None) -> Any:
    """:func:`load_image`, shrunk so that its longer side is at most ``max_side`` if given."""
    rgb = load_image(path, target_size=max_side)
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side))
    return rgb


def _check_one(path: Path, decode: bool | None) -> str | None:
    """None if the image reads, else the reason."""
    try:
        image = open_image(path)
    except DataError as exc:
        return str(exc).removeprefix(f"{path}: ")
    if decode is None:
        decode = image.format != "PNG"
    try:
        image.verify()  # PNG: every chunk's CRC and the end marker, without decompressing
    except Exception as exc:  # noqa: BLE001 - Pillow plugins raise many types for corrupt data
        return f"failed verification: {type(exc).__name__}: {exc}"
    finally:
        image.close()
    if decode:
        try:
            load_rgb(path, max_side=512)
        except DataError as exc:
            return str(exc).removeprefix(f"{path}: ")
    return None


def check_images(
    paths: Sequence[str | os.PathLike[str]],
    *,
    skip_bad: bool = False,
    decode: bool | None = None,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Check that every image file reads.

    Each file is opened and verified; then decoded (JPEG at a reduced scale, at most 512 pixels a side),
    which catches truncated JPEG streams. PNG is not decoded by default: ``verify`` already checks the CRC of
    every chunk (compressed pixels included) and the end marker, so a truncated or corrupted PNG fails
    without decompressing it -- decoding openclipart's 200-megapixel PNGs would cost minutes.

    Args:
        paths: image files.
        skip_bad: report bad files instead of raising.
        decode: True decodes every file, False none, None (default) every file but PNGs.

    Returns:
        ``(good_indices, bad)``: positions of the readable files (``int64``) and ``(path, reason)`` of each
        bad one (empty unless ``skip_bad``).

    Raises:
        DataError: the first bad file, by name, unless ``skip_bad``.
        MLMLError: Pillow is not installed.
    """
    _pil()
    good, bad = [], []
    for index, path in enumerate(paths):
        reason = _check_one(Path(path), decode)
        if reason is None:
            good.append(index)
        elif skip_bad:
            bad.append((str(path), reason))
        else:
            raise DataError(
                f"{path}: {reason} (skip_bad=True / --skip-bad skips such files and reports them)."
            )
    return np.asarray(good, dtype=np.int64), bad
