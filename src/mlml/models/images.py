"""Reading images and turning them into network inputs with Pillow and torch only (no torchvision).

Policy for odd files:

* Every mode becomes RGB. Transparent images (RGBA, LA, palette with transparency) are composited onto a
  WHITE background -- clip art (openclipart) is mostly transparent, and converting it naively would paint
  the transparent area with whatever colour the invisible pixels hold (often black). 16-bit and 32-bit
  grayscale (``I;16``, ``I``) is scaled to 8 bits; float images (``F``) are min-max scaled. EXIF orientation
  is applied.
* Huge images: Pillow refuses images above ``2 * PIL.Image.MAX_IMAGE_PIXELS`` (about 179 megapixels by
  default) as possible decompression bombs. We keep that global limit as the user set it (we never change
  Pillow's global state) and turn its error into a :class:`~mlml.exceptions.DataError` naming the file and
  the setting to raise. Images between the warning and the error limits load silently. Large JPEGs are
  decoded at reduced size (``Image.draft``: DCT scaling), other formats are shrunk with ``reducing_gap``
  (``Image.reduce`` box averaging, then the final resampling), so a 10k x 10k PNG costs one decode and a
  cheap reduction, not a full-resolution bicubic pass.
* A file that cannot be read raises a ``DataError`` with the path and Pillow's reason.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mlml.exceptions import DataError, MLMLError


def _pil():
    try:
        from PIL import Image, ImageOps
    except ImportError:  # pragma: no cover - pillow ships with the vision extra
        raise MLMLError("Reading images needs Pillow: pip install 'mlml[vision]'") from None
    return Image, ImageOps


def to_rgb(image: object, *, background: tuple[int, int, int] = (255, 255, 255)) -> object:
    """Return ``image`` (a ``PIL.Image``) in RGB mode; transparency is composited onto ``background``."""
    Image, _ = _pil()
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


def load_image(path: str | os.PathLike, *, target_size: int | None = None) -> object:
    """Open ``path`` as an RGB ``PIL.Image``; when ``target_size`` is given, decode at reduced size.

    ``target_size`` is the length the shorter side will be resized to afterwards: JPEGs are decoded with
    ``draft`` to the smallest DCT scale whose shorter side is still >= ``target_size``; the image returned
    may still be larger than that (the caller resizes it).

    Raises:
        DataError: the file is missing, unreadable, truncated or larger than Pillow's
            decompression-bomb limit.
    """
    Image, ImageOps = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if target_size is not None and image.format == "JPEG":
                    width, height = image.size
                    scale = target_size / max(1, min(width, height))
                    if scale < 1:
                        image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
                image.load()
                image = ImageOps.exif_transpose(image)
                return to_rgb(image)
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{path}: the image is larger than Pillow's decompression-bomb limit ({exc}). If you trust the "
            "file, raise PIL.Image.MAX_IMAGE_PIXELS before extracting features."
        ) from None
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the image ({type(exc).__name__}: {exc}).") from None


@dataclass(frozen=True)
class ImagePreprocess:
    """PIL RGB image -> float tensor ``(3, size, size)``: resize, centre crop, normalise.

    The shorter side is resized to ``round(size / crop_fraction)`` (``resample``: ``bicubic`` or
    ``bilinear``), the centre ``size x size`` square is cropped, and each channel becomes
    ``(value / 255 - mean) / std``.

    EfficientNet-Lite (TF-Lite conventions): ``crop_fraction = size / (size + 32)``,
    ``mean = 127/255``, ``std = 128/255``, i.e. ``(value - 127) / 128``.
    """

    size: int = 224
    crop_fraction: float = 0.875
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    resample: str = "bicubic"

    @property
    def resize_to(self) -> int:
        return int(round(self.size / self.crop_fraction))

    def identity(self) -> str:
        """A string fixing every parameter, for cache keys."""
        return (
            f"resize{self.resize_to}-crop{self.size}-{self.resample}"
            f"-mean{list(self.mean)}-std{list(self.std)}"
            "-rgb-on-white"
        )

    def resize_crop(self, image: object) -> object:
        """Resize the shorter side and crop the centre square; returns a ``PIL.Image``."""
        Image, _ = _pil()
        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}[self.resample]
        width, height = image.size
        scale = self.resize_to / min(width, height)
        new_w, new_h = max(self.size, round(width * scale)), max(self.size, round(height * scale))
        image = image.resize((new_w, new_h), resample, reducing_gap=3.0)
        left, top = (new_w - self.size) // 2, (new_h - self.size) // 2
        return image.crop((left, top, left + self.size, top + self.size))

    def to_tensor(self, image: object) -> torch.Tensor:
        array = np.asarray(image, dtype=np.float32)
        if array.ndim != 3 or array.shape[2] != 3:
            raise MLMLError(f"Expected an RGB image; got an array of shape {array.shape}.")
        mean = np.asarray(self.mean, dtype=np.float32) * 255.0
        std = np.asarray(self.std, dtype=np.float32) * 255.0
        return torch.from_numpy(np.ascontiguousarray(((array - mean) / std).transpose(2, 0, 1)))

    def __call__(self, image: object) -> torch.Tensor:
        return self.to_tensor(self.resize_crop(to_rgb(image)))


class ImageFiles(torch.utils.data.Dataset):
    """A torch ``Dataset`` over image files: item ``i`` is ``(tensor, i)``, or ``(None, i)`` when skipping.

    Args:
        paths: image files.
        preprocess: ``PIL.Image -> tensor`` (a backbone's ``preprocess``).
        augment: optional ``PIL.Image -> PIL.Image`` applied before ``preprocess`` (training only).
        skip_bad: return ``None`` for unreadable files instead of raising.
        target_size: passed to :func:`load_image` (reduced-size JPEG decoding).
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        preprocess: Callable[[object], torch.Tensor],
        *,
        augment: Callable[[object], object] | None = None,
        skip_bad: bool = False,
        target_size: int | None = None,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.preprocess = preprocess
        self.augment = augment
        self.skip_bad = skip_bad
        self.target_size = target_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, int]:
        try:
            image = load_image(self.paths[i], target_size=self.target_size)
        except DataError:
            if self.skip_bad:
                return None, i
            raise
        if self.augment is not None:
            image = self.augment(image)
        return self.preprocess(image), i


def collate_images(
    items: list[tuple[torch.Tensor | None, int]],
) -> tuple[torch.Tensor | None, torch.Tensor, list[int]]:
    """Stack the readable images; returns ``(images or None, their indices, indices of skipped files)``."""
    good = [(x, i) for x, i in items if x is not None]
    bad = [i for x, i in items if x is None]
    images = torch.stack([x for x, _ in good]) if good else None
    return images, torch.tensor([i for _, i in good], dtype=torch.long), bad
