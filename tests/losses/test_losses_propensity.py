"""The propensity-scored losses against the papers' formulas (Schultheis et al. 2020; Qaraei et al. WWW 2021)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlml.exceptions import MLMLError
from mlml.losses import LOSSES, propensity_weighted_bce, unbiased_bce
from mlml.methods import METHODS
from mlml.propensity import propensity


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(5, 4, generator=g, dtype=torch.float64) * 3
    targets = (torch.rand(5, 4, generator=g) < 0.4).double()
    p = torch.tensor([0.9, 0.5, 0.2, 0.05], dtype=torch.float64)
    return logits, targets, p


def _literal(z, y, p, kind):
    """Entry by entry, in plain floats: the papers' per-entry losses."""
    out = torch.empty_like(z)
    for i in range(z.shape[0]):
        for c in range(z.shape[1]):
            zi, pc = float(z[i, c]), float(p[c])
            lp = -math.log(1 / (1 + math.exp(-zi)))  # L+ = -log σ(z)
            ln = -math.log(1 - 1 / (1 + math.exp(-zi)))  # L- = -log(1 - σ(z))
            if y[i, c] == 1:
                out[i, c] = (lp / pc + (1 - 1 / pc) * ln) if kind == "unbiased" else (2 / pc - 1) * lp
            else:
                out[i, c] = ln
    return out


@pytest.mark.parametrize(("fn", "kind"), [(unbiased_bce, "unbiased"), (propensity_weighted_bce, "pw")])
def test_matches_the_papers_formula_entry_by_entry(fn, kind):
    logits, targets, p = _batch()
    torch.testing.assert_close(fn(logits, targets, propensity=p, reduction="none"), _literal(logits, targets, p, kind))
    w = torch.rand(5, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(fn(logits, targets, w, propensity=p, reduction="sum"),
                               (w * _literal(logits, targets, p, kind)).sum())


def test_unbiased_bce_is_unbiased_over_the_missing_label_process():
    # a true positive is observed with probability p: E[loss(observed)] = BCE of the complete label
    logits, _, p = _batch(3)
    ones, zeros = torch.ones_like(logits), torch.zeros_like(logits)
    expected = p * unbiased_bce(logits, ones, propensity=p, reduction="none") + (1 - p) * unbiased_bce(
        logits, zeros, propensity=p, reduction="none")
    torch.testing.assert_close(expected, F.binary_cross_entropy_with_logits(logits, ones, reduction="none"))
    # and the surrogate is BCE with positive weights 2/p - 1 (PyTorch's pos_weight, the authors' code)
    logits, targets, p = _batch(4)
    torch.testing.assert_close(propensity_weighted_bce(logits, targets, propensity=p),
                               F.binary_cross_entropy_with_logits(logits, targets, pos_weight=2 / p - 1))


def test_modules_take_propensities_from_the_training_labels():
    observed = np.array([[1, 0, 0], [1, 1, 0], [0, 0, -1], [1, 0, 0]], dtype=np.int8)
    crit = LOSSES.create("pw-bce", a=0.6, b=2.6)
    with pytest.raises(MLMLError, match="setup"):
        crit(torch.zeros(1, 3), torch.zeros(1, 3))
    crit.setup(observed)
    np.testing.assert_allclose(crit.propensity.numpy(), propensity(np.array([3, 1, 0]), 4, a=0.6, b=2.6),
                               rtol=1e-6)
    with pytest.raises(MLMLError, match="'a' parameter"):
        LOSSES.create("unbiased-bce", a=float("nan"))


@pytest.mark.parametrize("name", ["unbiased-bce", "pw-bce"])
def test_registered_methods_train(name):
    from mlml.training import TrainConfig, fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = (rng.random((60, 4)) < 0.3).astype(np.int8)
    method = METHODS.get(name).with_params({"a": 0.5, "b": 0.4})
    assert method.loss_kwargs == {"a": 0.5, "b": 0.4}
    result = fit(x, y, method, TrainConfig(epochs=2, fixed_epochs=True, val_fraction=0.0, head="linear"))
    assert len(result.history) == 2 and math.isfinite(result.history[-1]["train_loss"])


@pytest.mark.parametrize("name", ["unbiased-bce", "pw-bce"])
def test_verified_negatives_take_the_same_negative_term_as_suspect_zeros(name):
    """The propensity corrects the positives only: marking zeros as verified (``suspect`` False) changes nothing,
    value or gradient."""
    crit = LOSSES.create(name)
    crit.setup(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=np.int8))
    logits = torch.linspace(-3, 3, 9).reshape(3, 3).requires_grad_()
    targets = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    suspect = torch.tensor([[False, True, False], [False, False, True], [True, False, False]])
    values, grads = [], []
    for mask in (None, suspect):
        loss = crit(logits, targets, suspect=mask)
        values.append(loss.detach())
        grads.append(torch.autograd.grad(loss, logits)[0])
    torch.testing.assert_close(values[0], values[1], rtol=0, atol=0)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


def ref_missing_labels_tmlr_unbiased(y_pred, y_true, p):
    """xmc-aalto/missing-labels-tmlr, ``train/losses.py``: ``make_unbiased_ova(base_loss, propensities)`` =
    ``ova_base_loss(base_loss, y_true / p, y_pred)`` = ``y (pos − neg) + neg`` with the per-label base loss (their
    Keras BCE on logits; here ``softplus``), written in torch float64."""
    pos = F.softplus(-y_pred)  # base_loss(ones, y_pred)
    neg = F.softplus(y_pred)  # base_loss(zeros, y_pred)
    scaled = y_true / p[None, :]
    return scaled * (pos - neg) + neg


def test_unbiased_bce_is_the_published_code_of_xmc_aalto_missing_labels_tmlr():
    logits, targets, p = _batch(3)
    z = logits.clone().requires_grad_(True)
    zr = logits.clone().requires_grad_(True)
    ours = unbiased_bce(z, targets, propensity=p, reduction="sum")
    theirs = ref_missing_labels_tmlr_unbiased(zr, targets, p).sum()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(ours, z)[0], torch.autograd.grad(theirs, zr)[0], rtol=0,
                               atol=1e-12)


def test_pwxmc_mean_one_rescaling_changes_the_loss_shape_not_only_its_scale():
    """PWXMC rescales the positive weights 2/p − 1 to mean 1 over labels; the negatives keep weight 1, so this is
    not a learning-rate scale: [7, 1] -> [1.75, 0.25] on z = 0, y = [1, 0] gives 2.7726 and 0.9531 (ratio 2.909,
    not the 4 a common scale would give)."""
    z, y = torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    raw = F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.tensor([7.0, 1.0], dtype=torch.float64))
    rescaled = F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.tensor([1.75, 0.25], dtype=torch.float64))
    assert float(raw) == pytest.approx(2.7726, abs=1e-4) and float(rescaled) == pytest.approx(0.9531, abs=1e-4)
    assert float(raw / rescaled) == pytest.approx(2.909, abs=1e-3)
