"""Models: image backbones (registry), cached feature extraction, classification heads (registry)."""

from mlml.models.backbones import BACKBONES, Backbone, backbone_names, create_backbone
from mlml.models.features import dataset_features, default_cache_dir, extract_features
from mlml.models.heads import HEADS, Head, create_head

__all__ = [
    "BACKBONES",
    "HEADS",
    "Backbone",
    "Head",
    "backbone_names",
    "create_backbone",
    "create_head",
    "dataset_features",
    "default_cache_dir",
    "extract_features",
]
