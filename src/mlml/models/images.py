"""Reading images and turning them into network inputs with Pillow and torch only (no torchvision).

Policy for odd files:

* Every mode becomes RGB. Transparent images (RGBA, LA, palette with transparency) are composited onto a
  WHITE background -- clip art (openclipart) is mostly transparent, and converting it naively would paint
  the transparent area with whatever colour the invisible pixels hold (often black). 16-bit and 32-bit
  grayscale (``I;16``, ``I``) is scaled to 8 bits; float images (``F``) are min-max scaled. EXIF orientation
  is applied.
* Huge images: the files of a data set are the user's own, so images above Pillow's decompression-bomb
  limit (openclipart has PNGs of 600 megapixels) are opened anyway, without touching Pillow's global setting
  (:func:`mlml.data.images.open_image`). Large JPEGs are decoded at reduced size (``Image.draft``: DCT
  scaling), other formats are shrunk with ``reducing_gap`` (``Image.reduce`` box averaging, then the final
  resampling), so a 10k x 10k PNG costs one decode and a cheap reduction, not a full-resolution bicubic pass.
* A file that cannot be read raises a ``DataError`` with the path and Pillow's reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mlml.data.images import load_image, to_rgb  # noqa: F401  (re-exported: the models' image reader)
from mlml.exceptions import DataError, MLMLError


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
        from PIL import Image

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
